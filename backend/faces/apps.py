from __future__ import annotations

from django.apps import AppConfig


class FacesConfig(AppConfig):
    name = "backend.faces"
    label = "faces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from backend.faces import signals, sync_tables

        sync_tables.register()
        post_save.connect(
            signals.wanted_notice_saved, sender="registry.WantedNotice", dispatch_uid="faces-notice-saved"
        )
        post_delete.connect(
            signals.wanted_notice_deleted, sender="registry.WantedNotice", dispatch_uid="faces-notice-deleted"
        )
