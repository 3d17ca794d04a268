"""Initial sync of a 35,000-person scope, server side: the real pull endpoint vs the raw limit.

    uv run python bench/sync_initial_pull.py [--persons 35000] [--runs 3] [--database-url postgres://...]

Builds a throwaway database (a SQLite file in a temporary folder, or with `--database-url` a fresh
PostgreSQL database next to the one named, dropped at the end), seeds it with `seed_demo` (the
synthetic province, every record written through the sync engine, one sync transaction per chunk
of 1,000 persons) and enrolls a device for the provincial HQ patrol officer, whose scope is the
whole province: every person with their residences, convictions, drug-use records and the wanted
handbook.

engine: the device's initial sync as it happens on the wire: GET /api/v1/sync/pull through Django's
        test Client (auth, ninja, the whole middleware stack, the JSON bytes sent), page after page
        while `has_more`, each page one REPEATABLE READ snapshot ending on a transaction boundary.
raw:    one plain SELECT of the same rows' stored payloads, serialised with orjson into one body of
        the same shape (payloads spliced as orjson.Fragment: no parsing, no paging, no checkpoint).
parse:  for reference only, the same SELECT with every payload parsed and re-serialised by orjson
        (what a server that does not store pre-serialised rows would at best do).
bytes:  for reference only, the same SELECT reading the payloads as the stored UTF-8 bytes instead
        of str (no decode, no re-encode), as the engine reads an initial sync's rows: the floor of
        the engine's own approach, below `raw`.

Wall-clock seconds and this process' CPU seconds are both measured over exactly the same region:
for the engine the requests only (the device's parsing of each page is outside), for the others
the SELECT and the serialisation. On PostgreSQL the CPU figure leaves out the database server's.

Engine and raw runs alternate (`--runs` each); the best of each is compared (the targets on wall
clock). The engine run checks that every row of the scope arrived exactly once. Targets: >= 100,000
rows/s and <= 2x raw.
Exit status is non-zero only on an error (a wrong row count included), never on a missed target.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
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

TARGET_ROWS_PER_SECOND = 100_000
TARGET_RAW_RATIO = 2.0


def engine_initial_sync(bench_device: BenchDevice, schema_version: int) -> tuple[float, float, int, int, int]:
    """Page through an initial sync as the device does. Returns (seconds, CPU seconds, rows, pages, bytes)."""
    import orjson
    from django.test import Client

    client = Client()
    cursor: int | None = None
    seconds = cpu_seconds = 0.0
    rows = pages = size = 0
    seen: set[tuple[str, str]] = set()
    while True:
        query = {"schema_version": schema_version}
        if cursor is not None:
            query["last_pulled_at"] = cursor
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get("/api/v1/sync/pull", query, headers=bench_device.headers)
        body = response.content
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
        if response.status_code != 200:
            raise RuntimeError(f"pull answered {response.status_code}: {body[:300]!r}")
        # The device's work (parsing, applying) is not the server's: outside the timer.
        page = orjson.loads(body)
        pages += 1
        size += len(body)
        for table, lists in page["changes"].items():
            if lists["deleted"] or lists["updated"]:
                raise RuntimeError(f"an initial sync carried updates or tombstones for {table}")
            for record in lists["created"]:
                key = (table, record["id"])
                if key in seen:
                    raise RuntimeError(f"{key} delivered twice")
                seen.add(key)
        rows += sum(len(lists["created"]) for lists in page["changes"].values())
        cursor = page["timestamp"]
        if not page["has_more"]:
            return seconds, cpu_seconds, rows, pages, size


def raw_select(scope_keys: frozenset[str], *, mode: str) -> tuple[float, float, int, int]:
    """One plain SELECT of the scope's live rows, serialised with orjson.

    mode "raw": payloads read as str (the driver's default) and spliced as orjson.Fragment; "parse":
    each payload parsed and re-serialised; "bytes": payloads read as the stored UTF-8 bytes (SQLite
    `CAST(... AS BLOB)`, PostgreSQL a bytes loader on the cursor) and spliced, as the engine reads
    the snapshot. Returns (seconds, CPU seconds, rows, bytes).
    """
    import orjson
    from django.db import connection

    from sync import registry

    keys = sorted(scope_keys)
    placeholders = ", ".join(["%s"] * len(keys))
    payload = "CAST(payload_json AS BLOB)" if mode == "bytes" and connection.vendor == "sqlite" else "payload_json"
    sql = f'SELECT "table", {payload} FROM sync_syncrow WHERE scope_key IN ({placeholders}) AND NOT is_deleted'
    started, cpu_started = time.perf_counter(), time.process_time()
    changes: dict[str, dict[str, list[Any]]] = {
        name: {"created": [], "updated": [], "deleted": []} for name in sorted(registry.registered_tables())
    }
    with connection.cursor() as cursor:
        if mode == "bytes" and connection.vendor == "postgresql":
            cursor.cursor.adapters.register_loader("text", _text_as_bytes_loader())
        cursor.execute(sql, keys)
        fetched = cursor.fetchall()
    wrap = orjson.loads if mode == "parse" else orjson.Fragment
    for table, payload_json in fetched:
        changes[table]["created"].append(wrap(payload_json))
    body = orjson.dumps({"changes": changes, "timestamp": 1, "has_more": False})
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return seconds, cpu_seconds, len(fetched), len(body)


def _text_as_bytes_loader() -> type:
    from psycopg.adapt import Loader

    class TextAsBytes(Loader):
        def load(self, data: Any) -> bytes:
            return bytes(data)

    return TextAsBytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=35_000)
    parser.add_argument("--runs", type=int, default=3, help="engine and raw runs each (alternating)")
    parser.add_argument(
        "--database-url",
        default=default_database_url(),
        help="a PostgreSQL URL (a fresh database is created next to it); default FIELDSYNC_DATABASE_URL "
        "when it is PostgreSQL, else a temporary SQLite file",
    )
    parser.add_argument("--profile", action="store_true", help="profile one engine run with cProfile (top 25)")
    args = parser.parse_args()

    with throwaway_database(args.database_url) as database:
        django_ready()
        from django.core.management import call_command
        from django.db import connection

        from backend.accounts.management.commands.demo_officers import DEMO_PASSWORD
        from backend.accounts.models import Officer
        from backend.registry.management.commands.seed_demo import HQ_CODE
        from sync import registry
        from sync.models import SyncRow

        print(f"database: {database.description}")
        started = time.perf_counter()
        call_command("seed_demo", persons=args.persons, no_faces=True, quiet_progress=True, stdout=io.StringIO())
        print(f"seeded {args.persons} persons through the sync engine in {time.perf_counter() - started:.1f}s")
        connection.close()  # the pulls start on a fresh connection, as a server process would

        officer = Officer.objects.filter(unit__code=HQ_CODE, role="patrol_officer").first()
        assert officer is not None, "seed_demo made no provincial patrol officer"
        bench_device = device_for(officer=officer, label="bench-initial-pull", password=DEMO_PASSWORD)
        scope_keys = registry.scope_keys_for(device=bench_device.device, officer=officer)
        in_scope = SyncRow.objects.filter(scope_key__in=scope_keys, is_deleted=False).count()
        transactions = (
            SyncRow.objects.filter(scope_key__in=scope_keys, is_deleted=False).values("seq").distinct().count()
        )
        schema_version = registry.schema_version()
        print(f"scope: {len(scope_keys)} keys, {in_scope} rows in {transactions} sync transactions")

        # Warm-up: the first request imports the URLconf and builds the API (once per server process).
        engine_initial_sync(bench_device, schema_version)

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            engine_initial_sync(bench_device, schema_version)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

        modes = ("raw", "parse", "bytes")
        wall: dict[str, list[float]] = {name: [] for name in ("engine", *modes)}
        cpu: dict[str, list[float]] = {name: [] for name in ("engine", *modes)}
        print(
            f"\n{'run':>4} {'engine s':>9} {'cpu s':>6} {'pages':>6} {'MB sent':>8} {'raw s':>8} {'cpu s':>6}"
            f" {'parse s':>8} {'bytes s':>8} {'cpu s':>6}"
        )
        for run in range(1, args.runs + 1):
            seconds, cpu_seconds, rows, pages, size = engine_initial_sync(bench_device, schema_version)
            if rows != in_scope:
                raise SystemExit(f"error: the initial sync delivered {rows} rows, the scope holds {in_scope}")
            wall["engine"].append(seconds)
            cpu["engine"].append(cpu_seconds)
            for mode in modes:
                mode_seconds, mode_cpu, mode_rows, _mode_size = raw_select(scope_keys, mode=mode)
                if mode_rows != in_scope:
                    raise SystemExit(f"error: the {mode} SELECT read {mode_rows} rows, the scope holds {in_scope}")
                wall[mode].append(mode_seconds)
                cpu[mode].append(mode_cpu)
            print(
                f"{run:>4} {seconds:>9.3f} {cpu_seconds:>6.3f} {pages:>6} {size / 1e6:>8.1f}"
                f" {wall['raw'][-1]:>8.3f} {cpu['raw'][-1]:>6.3f} {wall['parse'][-1]:>8.3f}"
                f" {wall['bytes'][-1]:>8.3f} {cpu['bytes'][-1]:>6.3f}"
            )

        best = {name: min(values) for name, values in wall.items()}
        best_cpu = {name: min(values) for name, values in cpu.items()}
        rows_per_second = in_scope / best["engine"]
        ratio = best["engine"] / best["raw"]
        labels = {
            "engine": "engine (pull endpoint)",
            "raw": "raw (SELECT + orjson)",
            "parse": "parse (reference)",
            "bytes": "raw bytes (reference)",
        }
        print(f"\n{'':24} {'best s':>8} {'median s':>9} {'rows/s':>10} {'best cpu s':>11}")
        for name, label in labels.items():
            print(
                f"{label:24} {best[name]:>8.3f} {median(wall[name]):>9.3f} {in_scope / best[name]:>10,.0f}"
                f" {best_cpu[name]:>11.3f}"
            )
        print(
            f"\nengine / raw: {ratio:.2f}x (CPU {best_cpu['engine'] / best_cpu['raw']:.2f}x)"
            f"   engine / parse: {best['engine'] / best['parse']:.2f}x"
            f"   engine / raw bytes: {best['engine'] / best['bytes']:.2f}x"
            f" (CPU {best_cpu['engine'] / best_cpu['bytes']:.2f}x)"
        )
        if database.vendor == "postgresql":
            print("(CPU: this process only — Django, the engine, the driver — not the PostgreSQL server's)")
        print(
            f"target >= {TARGET_ROWS_PER_SECOND:,} rows/s: {rows_per_second:,.0f} rows/s "
            f"{verdict(rows_per_second >= TARGET_ROWS_PER_SECOND)}"
        )
        print(f"target <= {TARGET_RAW_RATIO:.0f}x raw: {ratio:.2f}x {verdict(ratio <= TARGET_RAW_RATIO)}")


if __name__ == "__main__":
    main()
