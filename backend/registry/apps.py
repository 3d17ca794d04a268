"""registry domain app."""

from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "backend.registry"
    label = "registry"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.registry import sync_tables
        from media_store.signals import photo_stored

        sync_tables.register()
        from backend.registry import bridge_mapping

        bridge_mapping.register()
        # media_store sends it after any photo is stored (tus upload or other ingest); idempotent receiver.
        photo_stored.connect(sync_tables.on_photo_stored, dispatch_uid="registry.photo_stored")
