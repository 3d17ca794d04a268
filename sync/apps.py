from __future__ import annotations

from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"
