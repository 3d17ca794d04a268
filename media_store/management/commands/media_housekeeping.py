"""Media housekeeping by hand (`media_housekeeping`) or as a self-scheduling durable job (`--schedule`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from media_store.services import photos_unreferenced_delete, uploads_sweep
from media_store.tasks import media_housekeeping_schedule


class Command(BaseCommand):
    help = (
        "Sweep uploads (expired deleted, stalled completed) and delete photos unreferenced past the retention; "
        "with --schedule, start the durable job that does it periodically instead (no-op when one is waiting)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schedule", action="store_true", help="enqueue the self-rescheduling job")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["schedule"]:
            is_new = media_housekeeping_schedule()
            self.stdout.write("housekeeping job scheduled" if is_new else "housekeeping job already waiting")
            return
        sweep = uploads_sweep()
        cleanup = photos_unreferenced_delete()
        self.stdout.write(
            f"uploads: completed={sweep.completed_count} refused={sweep.failed_count} expired={sweep.expired_count}; "
            f"photos: deleted={cleanup.deleted_count} referenced={cleanup.referenced_count}"
        )
