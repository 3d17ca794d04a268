from __future__ import annotations

from django.apps import AppConfig


class RegistryBridgeConfig(AppConfig):
    name = "sync.registry_bridge"
    label = "registry_bridge"
    verbose_name = "Registry bridge"
    default_auto_field = "django.db.models.BigAutoField"
