"""Run periodically (cron / task scheduler): finish stalled uploads, delete expired ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from media_store.services import uploads_sweep


class Command(BaseCommand):
    help = "Complete uploads whose bytes all arrived but were never completed; delete expired uploads."

    def handle(self, *args: Any, **options: Any) -> None:
        result = uploads_sweep()
        self.stdout.write(
            f"completed={result.completed_count} refused={result.failed_count} expired={result.expired_count}"
        )
