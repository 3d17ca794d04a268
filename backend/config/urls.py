from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from backend.config.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("backend.console.urls")),
    path("api/v1/media/", include("media_store.urls")),
    path("api/v1/", api.urls),
]
