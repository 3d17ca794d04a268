from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from backend.config.api import api

urlpatterns = [
    # The address `make run` prints: a person opening it lands on the sync administrators' console.
    path("", RedirectView.as_view(url="/console/", permanent=False)),
    path("admin/", admin.site.urls),
    path("console/", include("backend.console.urls")),
    path("api/v1/media/", include("media_store.urls")),
    path("api/v1/", api.urls),
]
