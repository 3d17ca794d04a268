from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "backend.registry"
    label = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.registry import sync_tables

        sync_tables.register()
