from __future__ import annotations

from django.apps import AppConfig


class MediaStoreConfig(AppConfig):
    name = "media_store"
    label = "media_store"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Photos and uploads"
