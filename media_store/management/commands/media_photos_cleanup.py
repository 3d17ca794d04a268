"""Run periodically (cron / task scheduler): delete photos no record references after the retention time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from media_store.services import photo_retention_days, photos_unreferenced_delete


class Command(BaseCommand):
    help = "Delete photos (rows and stored bytes) that nothing has referenced for the retention time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help="keep unreferenced photos this many days (default: FIELDSYNC_PHOTO_RETENTION_DAYS or 30)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["retention_days"] if options["retention_days"] is not None else photo_retention_days()
        result = photos_unreferenced_delete(retention_days=days)
        self.stdout.write(f"deleted={result.deleted_count} referenced={result.referenced_count} retention_days={days}")
