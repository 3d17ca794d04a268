"""Enrol the photos of active wanted notices into the face gallery (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from backend.core.progress import progress_bar
from backend.faces.gallery import gallery_sync_from_registry


class Command(BaseCommand):
    help = "Bring the face gallery in line with the active wanted notices."

    def handle(self, *args: Any, **options: Any) -> None:
        with progress_bar(desc="face gallery", unit="photo", file=self.stderr) as bar:
            outcome = gallery_sync_from_registry(progress=bar.update)
        self.stdout.write(
            f"gallery v{outcome.version}: {outcome.enrolled_count} enrolled, {outcome.failed_count} failed to enrol, "
            f"{outcome.deactivated_count} retired"
        )
