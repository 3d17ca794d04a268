"""Console views of photos and uploads (read-only: uploads change only through the tus protocol)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from media_store.models import Photo, Upload


class _ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


@admin.register(Upload)
class UploadAdmin(_ReadOnlyAdmin):
    list_display = (
        "id",
        "device",
        "state",
        "length_bytes",
        "offset_hint_bytes",
        "failure_code",
        "created_at",
        "expires_at",
    )
    list_filter = ("state", "failure_code")
    search_fields = ("id", "declared_sha256")
    ordering = ("-created_at",)


@admin.register(Photo)
class PhotoAdmin(_ReadOnlyAdmin):
    list_display = ("sha256", "format", "width", "height", "size_bytes", "captured_at_recorded", "created_at")
    list_filter = ("format",)
    search_fields = ("sha256",)
    ordering = ("-created_at",)
