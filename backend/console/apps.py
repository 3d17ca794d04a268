from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "backend.console"
    label = "console"
    verbose_name = "Sync administrator console"
    default_auto_field = "django.db.models.BigAutoField"
