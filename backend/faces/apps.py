from __future__ import annotations

from django.apps import AppConfig


class FacesConfig(AppConfig):
    name = "backend.faces"
    label = "faces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.faces import sync_tables

        sync_tables.register()
