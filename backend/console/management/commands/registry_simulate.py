"""Initialise and mutate the simulated central registry (settings.FIELDSYNC_REGISTRY_URL).

    python manage.py registry_simulate --init [--persons 35000] [--seed 20250701]
    python manage.py registry_simulate [--changes 50] [--seed 1]

`--init` loads the synthetic province into an empty registry (the same one `seed_demo` loads into
fieldsync, same default seed, so the first bridge run links every row; a registry that already
holds rows is left alone and the command says so); without
it, applies random registry edits: new persons, rescinded notices, address changes, identity edits.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from backend.console.legacy_registry import legacy_registry_init, legacy_registry_simulate
from backend.registry.management.commands.seed_demo import DEFAULT_SEED
from backend.registry.synthetic import generate_province
from sync.registry_bridge import legacy


class Command(BaseCommand):
    help = "Initialise (--init) or mutate the simulated central registry database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--init",
            action="store_true",
            help="load the synthetic province into an empty registry (a registry holding rows is left alone)",
        )
        parser.add_argument(
            "--persons",
            type=int,
            default=35_000,
            help="with --init: how many synthetic persons to load (default 35000, as seed_demo)",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=None,
            help=f"random seed (default: with --init {DEFAULT_SEED}, seed_demo's, so both hold the same "
            "province; without --init 1)",
        )
        parser.add_argument(
            "--changes",
            type=int,
            default=50,
            help="without --init: how many random registry edits to make (default 50)",
        )
        parser.add_argument("--url", default=None, help="SQLAlchemy URL (default: FIELDSYNC_REGISTRY_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or str(settings.FIELDSYNC_REGISTRY_URL)
        engine = legacy.legacy_engine(url)
        legacy.legacy_schema_create(engine)
        started = time.monotonic()
        if options["init"]:
            province = generate_province(person_count=options["persons"], seed=options["seed"] or DEFAULT_SEED)
            summary = legacy_registry_init(engine, province)
            if not summary.loaded:
                self.stdout.write(
                    f"registry already initialised: it holds {summary.persons} persons and {summary.notices} "
                    f"wanted notices, change counter {summary.head}; nothing loaded (--init loads only into an "
                    "empty registry; without --init the command makes random registry edits)"
                )
                return
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
