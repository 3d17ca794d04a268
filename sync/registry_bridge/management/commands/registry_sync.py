"""Run the central-registry bridge once, with a progress bar and a summary line.

python manage.py registry_sync [--url URL] [--batch-size 500] [--no-write-back]
python manage.py registry_sync --schedule    # start the periodic run (FIELDSYNC_REGISTRY_SYNC_SECONDS)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from backend.core.progress import progress_bar
from sync.registry_bridge import legacy
from sync.registry_bridge.engine import bridge_sync
from sync.registry_bridge.source import SqlRegistrySource


class Command(BaseCommand):
    help = "Pull central-registry changes by watermark and write accepted field edits back."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: FIELDSYNC_REGISTRY_URL)")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-write-back", action="store_true")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--schedule", action="store_true", help="queue the periodic background run (once) instead of running now"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["schedule"]:
            from sync.registry_bridge.tasks import registry_bridge_schedule

            started = registry_bridge_schedule()
            interval = settings.FIELDSYNC_REGISTRY_SYNC_SECONDS
            if interval <= 0:
                self.stdout.write("periodic registry bridge is off (FIELDSYNC_REGISTRY_SYNC_SECONDS=0)")
            else:
                state = "scheduled" if started else "already scheduled"
                self.stdout.write(f"periodic registry bridge {state}: every {interval}s, run by the task worker")
            return
        engine = legacy.legacy_engine(options["url"] or str(settings.FIELDSYNC_REGISTRY_URL))
        legacy.legacy_schema_create(engine)
        bar = progress_bar(total=0, unit="row", desc="registry", disable=options["no_progress"], file=self.stderr)

        def progress(done: int, known: int) -> None:
            bar.total = known
            bar.update(done - bar.n)  # drawn as the bar decides (in a log: at most every 30 s), not every batch

        try:
            run = bridge_sync(
                source=SqlRegistrySource(engine),
                batch_size=options["batch_size"],
                progress=progress,
                push=not options["no_write_back"],
                trigger="command",
            )
        finally:
            bar.close()
        self.stdout.write(
            f"bridge run {run.pk} {run.status} in {run.duration_seconds or 0:.1f}s: "
            f"watermark {run.watermark_from}->{run.watermark_to}, {run.rows_read} rows read, "
            f"{run.records_created} created, {run.records_updated} updated, {run.rows_unchanged} unchanged, "
            f"{run.communes_remapped} communes remapped, {run.fields_written_back} fields written back, "
            f"{run.conflicts_raised} conflicts raised, {run.rows_quarantined} quarantined"
        )
