"""Initialise and mutate the simulated central registry (settings.FIELDSYNC_REGISTRY_URL).

    python manage.py registry_simulate --init [--persons 35000] [--seed 20250701]
    python manage.py registry_simulate [--changes 50] [--seed 1]

`--init` loads the synthetic province into an empty registry (a no-op when it holds rows); without
it, applies random registry edits: new persons, rescinded notices, address changes, identity edits.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from backend.console.legacy_registry import legacy_registry_init, legacy_registry_simulate
from backend.registry.synthetic import generate_province
from sync.registry_bridge import legacy


class Command(BaseCommand):
    help = "Initialise (--init) or mutate the simulated central registry database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--init", action="store_true", help="load the synthetic province into an empty registry")
        parser.add_argument("--persons", type=int, default=35_000)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--changes", type=int, default=50)
        parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: FIELDSYNC_REGISTRY_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or str(settings.FIELDSYNC_REGISTRY_URL)
        engine = legacy.legacy_engine(url)
        legacy.legacy_schema_create(engine)
        started = time.monotonic()
        if options["init"]:
            province = generate_province(person_count=options["persons"], seed=options["seed"] or 20250701)
            summary = legacy_registry_init(engine, province)
            self.stdout.write(
                f"registry initialised: {summary.persons} persons, {summary.notices} wanted notices, "
                f"change counter {summary.head} ({time.monotonic() - started:.1f}s)"
            )
            return
        result = legacy_registry_simulate(
            engine, changes=options["changes"], seed=options["seed"] or 1, today=timezone.localdate()
        )
        self.stdout.write(
            f"registry changed: {result.new_persons} new persons, {result.rescinded_notices} notices rescinded, "
            f"{result.address_changes} address changes, {result.identity_edits} identity edits"
        )
