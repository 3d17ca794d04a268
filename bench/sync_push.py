"""Push apply in batches of 500 records: records per second through POST /api/v1/sync/push.

    uv run python bench/sync_push.py [--persons 2000] [--batches 10] [--batch-size 500] [--database-url postgres://...]

The target is set for PostgreSQL: with FIELDSYNC_DATABASE_URL (or `--database-url`) naming a
PostgreSQL server a fresh database is created next to the one named (and dropped at the end);
without one the bench measures a temporary SQLite file and says so. The database is seeded with
`seed_demo` (`--persons` synthetic persons, every record through the sync engine); the provincial
HQ patrol officer's device makes its initial sync, then pushes, each batch one request through
Django's test Client (auth, ninja's PushIn validation, sync_push: per-record savepoint, field
policies, domain apply, SyncRows at one seq, push log; commit):

checks created:  `--batches` batches of new checks (client UUIDs), each linked to a person;
persons updated: batches of edits of existing persons (`_changed` = notes, identifying_marks:
                 APPEND fields, conflict check against the per-field versions), at most one
                 batch per 500 persons seeded.

Each response is checked (nothing rejected) and the rows are counted afterwards. Target:
>= 5,000 records/s on PostgreSQL. Exit status is non-zero only on an error, never on a missed target.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.throwaway import (
    BenchDevice,
    default_database_url,
    device_for,
    django_ready,
    median,
    throwaway_database,
    verdict,
)

TARGET_RECORDS_PER_SECOND = 5_000


def initial_sync(bench_device: BenchDevice, schema_version: int) -> int:
    import orjson

    from sync import registry
    from sync.pull import sync_pull

    scope_keys = registry.scope_keys_for(device=bench_device.device, officer=bench_device.officer)
    cursor: int | None = None
    while True:
        result = sync_pull(
            device=bench_device.device, scope_keys=scope_keys, last_pulled_at=cursor, schema_version=schema_version
        )
        orjson.loads(result.body)
        cursor = result.timestamp
        if not result.has_more:
            return cursor


def push_batches(
    bench_device: BenchDevice, cursor: int, batches: list[dict[str, Any]]
) -> tuple[list[float], int, int, float]:
    """POST each batch; returns (seconds per batch, records pushed, SQL statements run, CPU seconds).

    CPU seconds are this process' (Django, the engine, the driver), not the database server's: on
    a loaded machine they move far less than the wall-clock time.
    """
    import orjson
    from django.db import connection
    from django.test import Client

    client = Client()
    seconds: list[float] = []
    records = 0
    statements = [0]
    cpu = 0.0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    for changes in batches:
        body = orjson.dumps({"changes": changes})
        started, cpu_started = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(count):
            response = client.post(
                f"/api/v1/sync/push?last_pulled_at={cursor}",
                body,
                content_type="application/json",
                headers=bench_device.headers,
            )
        seconds.append(time.perf_counter() - started)
        cpu += time.process_time() - cpu_started
        if response.status_code != 200:
            raise SystemExit(f"error: push answered {response.status_code}: {response.content[:300]!r}")
        answer = orjson.loads(response.content)
        if answer["rejections"] or any(answer["experimentalRejectedIds"].values()):
            raise SystemExit(f"error: records rejected: {answer['rejections'][:3]}")
        records += sum(len(lists["created"]) + len(lists["updated"]) for lists in changes.values())
    return seconds, records, statements[0], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=10, help="batches of new checks")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--database-url",
        default=default_database_url(),
        help="a PostgreSQL URL (a fresh database is created next to it); default FIELDSYNC_DATABASE_URL "
        "when it is PostgreSQL, else a temporary SQLite file",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the check batches, then the person batches, with cProfile (top 30 each)",
    )
    parser.add_argument(
        "--profile-dump",
        metavar="PREFIX",
        help="with --profile: also write the raw stats to PREFIX.checks.prof and PREFIX.persons.prof (pstats)",
    )
    args = parser.parse_args()

    with throwaway_database(args.database_url) as database:
        django_ready()
        from django.core.management import call_command
        from django.db import connection

        from backend.accounts.management.commands.demo_officers import DEMO_PASSWORD
        from backend.accounts.models import Officer
        from backend.registry.management.commands.seed_demo import HQ_CODE
        from backend.registry.models import Check, Person
        from sync import registry

        if database.vendor == "sqlite":
            print(f"database: {database.description}")
            print("NOTE: measured on SQLite (set FIELDSYNC_DATABASE_URL or --database-url for the PostgreSQL target)")
        else:
            print(f"database: {database.description}")
        started = time.perf_counter()
        call_command("seed_demo", persons=args.persons, no_faces=True, quiet_progress=True, stdout=io.StringIO())
        print(f"seeded {args.persons} persons in {time.perf_counter() - started:.1f}s")
        connection.close()

        officer = Officer.objects.filter(unit__code=HQ_CODE, role="patrol_officer").first()
        assert officer is not None, "seed_demo made no provincial patrol officer"
        bench_device = device_for(officer=officer, label="bench-push", password=DEMO_PASSWORD)
        cursor = initial_sync(bench_device, registry.schema_version())

        persons = list(Person.objects.order_by("id").values_list("id", "primary_commune_code"))
        size = args.batch_size
        captured_at = int(time.time() * 1000)

        def checks(batch: int, count: int) -> dict[str, Any]:
            created = []
            for index in range(count):
                person_id, commune = persons[(batch * size + index) % len(persons)]
                created.append(
                    {
                        "id": str(uuid.uuid4()),
                        "person_id": str(person_id),
                        "personal_id_number_seen": "",
                        "full_name_seen": "",
                        "commune_code": commune,
                        "location_text": "Cửa khẩu Hữu Nghị (bench)",
                        "latitude": 21.97,
                        "longitude": 106.71,
                        "captured_at": captured_at + index,
                        "purpose": "BORDER_CROSSING",
                        "result": "NO_HIT",
                        "notes": f"Kiểm tra số {batch}/{index} (bench)",
                        "_status": "created",
                        "_changed": "",
                    }
                )
            return {"checks": {"created": created, "updated": [], "deleted": []}}

        check_batches = [checks(batch, size) for batch in range(args.batches)]
        person_batches = []
        for batch in range(len(persons) // size):
            updated = [
                {
                    "id": str(person_id),
                    "notes": f"Ghi chú thực địa {batch}/{index} (bench)",
                    "identifying_marks": f"Sẹo nhỏ ở cằm ({batch}/{index})",
                    "_status": "updated",
                    "_changed": "notes,identifying_marks",
                }
                for index, (person_id, _) in enumerate(persons[batch * size : (batch + 1) * size])
            ]
            person_batches.append({"persons": {"created": [], "updated": updated, "deleted": []}})

        push_batches(bench_device, cursor, [checks(args.batches, 5)])  # warm-up (URLconf, API), not counted
        checks_before = Check.objects.count()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        check_seconds, check_records, check_statements, check_cpu = push_batches(bench_device, cursor, check_batches)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            if args.profile_dump:
                profiler.dump_stats(f"{args.profile_dump}.checks.prof")
        if Check.objects.count() - checks_before != check_records:
            raise SystemExit("error: the checks pushed are not all in the database")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        person_seconds, person_records, person_statements, person_cpu = push_batches(
            bench_device, cursor, person_batches
        )
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            if args.profile_dump:
                profiler.dump_stats(f"{args.profile_dump}.persons.prof")
        marked = Person.objects.filter(identifying_marks__contains="Sẹo nhỏ ở cằm").count()
        if marked != person_records:
            raise SystemExit(f"error: {marked} persons carry the pushed edit, {person_records} were pushed")

        # SQL statements per record do not depend on how busy the machine is; the seconds do.
        print(
            f"\n{'scenario':<32} {'batches':>7} {'records':>8} {'SQL/record':>10} {'median batch s':>15} "
            f"{'records/s':>10} {'records/CPU s':>14}"
        )
        rates = {}
        for label, seconds, records, statements, cpu in (
            ("checks created", check_seconds, check_records, check_statements, check_cpu),
            ("persons updated (notes, marks)", person_seconds, person_records, person_statements, person_cpu),
        ):
            if not seconds:
                continue
            rate = records / sum(seconds)
            rates[label] = rate
            print(
                f"{label:<32} {len(seconds):>7} {records:>8} {statements / records:>10.2f} "
                f"{median(seconds):>15.3f} {rate:>10,.0f} {records / cpu if cpu else 0:>14,.0f}"
            )
        where = "PostgreSQL" if database.vendor == "postgresql" else "SQLite (the target is for PostgreSQL)"
        for label, rate in rates.items():
            print(
                f"target >= {TARGET_RECORDS_PER_SECOND:,} records/s on {where}, {label}: {rate:,.0f} "
                f"{verdict(rate >= TARGET_RECORDS_PER_SECOND)}"
            )


if __name__ == "__main__":
    main()
