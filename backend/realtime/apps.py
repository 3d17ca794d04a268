from __future__ import annotations

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "backend.realtime"
    label = "realtime"

    def ready(self) -> None:
        from backend.realtime import pokes

        pokes.connect_signals()
