from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "backend.core"
    label = "core"

    def ready(self) -> None:
        from backend.core import bulk  # noqa: F401  # registers the `in_list` lookup
