"""Delete tombstones and scope exits older than FIELDSYNC_MAX_OFFLINE_DAYS and record the watermark.

    python manage.py sync_purge_tombstones [--days N] [--json]

Devices whose cursor is below the watermark get a replacement sync after pushing what they hold.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sync.purge import sync_tombstones_purge


class Command(BaseCommand):
    help = "Purge sync tombstones older than the offline window and raise the purge watermark."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="override FIELDSYNC_MAX_OFFLINE_DAYS")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        result = sync_tombstones_purge(max_offline_days=options["days"])
        summary = {
            "tombstones": result.tombstone_count,
            "exits": result.exit_count,
            "checkpoints": result.checkpoint_count,
            "purged_through_seq": result.purged_through_seq,
            "cutoff_at": result.cutoff_at.isoformat(),
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(" ".join(f"{k}={v}" for k, v in summary.items()))
