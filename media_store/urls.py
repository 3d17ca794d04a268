"""Mounted at /api/v1/media/ by backend.config.urls."""

from __future__ import annotations

from django.urls import path

from media_store import download_views, tus_views

app_name = "media"

urlpatterns = [
    path("uploads", tus_views.uploads_collection, name="uploads"),
    path("uploads/", tus_views.uploads_collection),
    path("uploads/<uuid:upload_id>", tus_views.upload_resource, name="upload"),
    path("photos/<str:sha256>/<str:kind>", download_views.photo_derivative, name="photo-derivative"),
]
