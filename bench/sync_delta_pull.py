"""Delta pull of 10 changes with 1,000 vs 1,000,000 rows of history in the change log.

    uv run python bench/sync_delta_pull.py [--small 1000] [--large 1000000] [--pulls 200] [--database-url postgres://...]

One throwaway database (a SQLite file in a temporary folder; with `--database-url` a fresh
PostgreSQL database next to the one named, dropped at the end). A community officer's device
covers one commune of the province. For each size in turn the change log is emptied and refilled:

1. history: `--small` / `--large` SyncRows spread over every commune of the province (and the
   provincial handbook key), 100 rows per sync transaction, one in twenty a tombstone, plus one
   scope exit per hundred rows — written with one INSERT ... SELECT (the bench's only raw SQL; the
   engine never reads how a row was written). On PostgreSQL the tables are then ANALYZEd, as
   autovacuum would have done on a server that grew its log over months;
2. the device makes its initial sync (the real pull, paged) and keeps the cursor;
3. ten server edits of records in its commune, each its own sync transaction (the real writer);
4. the same delta pull (`sync_pull` with that cursor: checkpoint lookup, page, scope exits, new
   checkpoint) is timed `--pulls` times, then also through GET /api/v1/sync/pull (Django's test
   Client: auth, ninja, middleware). Each answer is checked: exactly the ten changed records.

Target: median delta pull with the large log <= 2x the small one (cost follows the changes, not
the history). Exit status is non-zero only on an error, never on a missed target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.throwaway import default_database_url, django_ready, median, throwaway_database, verdict

TARGET_RATIO = 2.0
ROWS_PER_TRANSACTION = 100
CHANGES = 10
PASSWORD = "bench-delta-pull-password"
# About the size of a person's payload on the wire (notes, names, codes).
PADDING = "Ghi chú tổng hợp cho bài đo đồng bộ, không phải dữ liệu thật. " * 6


def history_fill(*, rows: int, scope_keys: list[str]) -> float:
    """Fill the change log with `rows` rows (and rows/100 scope exits). Returns seconds."""
    from django.db import connection
    from django.utils import timezone

    from sync.models import SyncHead

    started = time.perf_counter()
    vendor = connection.vendor
    # The SQL below goes through Django's cursor with parameters: a literal % is written %%.
    if vendor == "postgresql":
        series = "SELECT g.x FROM generate_series(0, %s - 1) AS g(x)"
        versions = "CAST('{\"*\": [' || CAST(x / {per} + 1 AS TEXT) || ', \"server\"]}' AS jsonb)"
    else:
        series = "WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < %s - 1) SELECT x FROM g"
        versions = "'{\"*\": [' || CAST(x / {per} + 1 AS TEXT) || ', \"server\"]}'"
    versions = versions.replace("{per}", str(ROWS_PER_TRANSACTION))
    tables = (
        "CASE x %% 4 WHEN 0 THEN 'persons' WHEN 1 THEN 'residences' "
        "WHEN 2 THEN 'criminal_records' ELSE 'drug_use_records' END"
    )
    key = "(SELECT k.scope_key FROM bench_scope_keys k WHERE k.i = x %% %s)"
    per = ROWS_PER_TRANSACTION
    with connection.cursor() as cursor:
        if vendor == "sqlite":
            # Index inserts over a million rows thrash SQLite's default 2 MB page cache: 256 MB for
            # the fill only (as seed_demo does), back to the default before anything is measured.
            cursor.execute("PRAGMA cache_size = -262144")
        cursor.execute("CREATE TEMPORARY TABLE bench_scope_keys (i INTEGER PRIMARY KEY, scope_key VARCHAR(80))")
        cursor.executemany("INSERT INTO bench_scope_keys (i, scope_key) VALUES (%s, %s)", list(enumerate(scope_keys)))
        # Identifiers and expressions are constants of this file; the values are parameters.
        cursor.execute(
            'INSERT INTO sync_syncrow ("table", record_id, seq, created_seq, changed_at, scope_key, is_deleted, '
            "payload_json, field_versions, last_writer_device_id) "
            f"SELECT {tables}, 'h' || CAST(x AS TEXT), x / {per} + 1, x / {per} + 1, %s, {key}, "
            "CASE WHEN x %% 20 = 19 THEN TRUE ELSE FALSE END, "
            "CASE WHEN x %% 20 = 19 THEN '{}' ELSE "
            '\'{"id":"h\' || CAST(x AS TEXT) || \'","full_name":"Người thứ \' || CAST(x AS TEXT) || '
            '\'","notes":"\' || %s || \'"}\' END, '
            f"{versions}, NULL FROM ({series}) AS series",
            [timezone.now(), len(scope_keys), PADDING, rows],
        )
        cursor.execute(
            'INSERT INTO sync_syncscopeexit (seq, changed_at, "table", record_id, scope_key) '
            f"SELECT x * 100 / {per} + 1, %s, 'persons', 'h' || CAST(x * 100 AS TEXT), {key} FROM ({series}) AS series",
            [timezone.now(), len(scope_keys), rows // 100],
        )
        cursor.execute("DROP TABLE bench_scope_keys")
        if vendor == "sqlite":
            cursor.execute("PRAGMA cache_size = -2000")
        if vendor == "postgresql":
            cursor.execute("ANALYZE sync_syncrow")
            cursor.execute("ANALYZE sync_syncscopeexit")
    SyncHead.objects.update_or_create(pk=1, defaults={"seq": (rows - 1) // per + 1, "purged_through_seq": 0})
    return time.perf_counter() - started


def change_log_empty() -> None:
    from sync.models import SyncCheckpoint, SyncHead, SyncRow, SyncScopeExit

    SyncCheckpoint.objects.all().delete()
    SyncScopeExit.objects.all().delete()
    SyncRow.objects.all().delete()
    SyncHead.objects.all().delete()


def initial_sync(*, device: Any, scope_keys: frozenset[str], schema_version: int) -> tuple[int, int]:
    """The device's paged initial sync. Returns (cursor, rows)."""
    import orjson

    from sync.pull import sync_pull

    cursor: int | None = None
    rows = 0
    while True:
        result = sync_pull(device=device, scope_keys=scope_keys, last_pulled_at=cursor, schema_version=schema_version)
        page = orjson.loads(result.body)
        rows += sum(len(lists["created"]) for lists in page["changes"].values())
        cursor = result.timestamp
        if not result.has_more:
            return cursor, rows


def ten_server_edits(*, scope_keys: frozenset[str]) -> set[tuple[str, str]]:
    """Ten edits of live records in the device's scope, each its own sync transaction."""
    import orjson

    from sync.models import SyncRow
    from sync.writer import sync_transaction

    targets = list(
        SyncRow.objects.filter(scope_key__in=scope_keys, is_deleted=False)
        .order_by("seq", "record_id")
        .values_list("table", "record_id", "payload_json", "scope_key")[:CHANGES]
    )
    if len(targets) < CHANGES:
        raise SystemExit(f"error: only {len(targets)} live rows in the device's scope")
    for index, (table, record_id, payload_json, scope_key) in enumerate(targets):
        payload = orjson.loads(payload_json)
        payload["notes"] = f"Sửa lần {index} ({time.time_ns()})"
        with sync_transaction() as writer:
            writer.stage(table=table, record_id=record_id, payload=payload, scope_key=scope_key)
    return {(table, record_id) for table, record_id, _, _ in targets}


def delta_pulls(
    *,
    device: Any,
    access_token: str,
    scope_keys: frozenset[str],
    cursor: int,
    schema_version: int,
    pulls: int,
    expected: set[tuple[str, str]],
) -> tuple[list[float], list[float]]:
    """Time the same delta pull `pulls` times (service) and `pulls` times (endpoint), checking each answer."""
    import orjson
    from django.test import Client

    from sync.pull import sync_pull

    def check(body: bytes) -> None:
        page = orjson.loads(body)
        got = {(t, r["id"]) for t, lists in page["changes"].items() for r in lists["updated"] + lists["created"]}
        deleted = [d for lists in page["changes"].values() for d in lists["deleted"]]
        if got != expected or deleted or page["has_more"]:
            raise SystemExit(f"error: the delta pull returned {len(got)} records, {len(deleted)} deletes")

    service: list[float] = []
    endpoint: list[float] = []
    client = Client()
    headers = {"Authorization": f"Bearer {access_token}"}
    query = {"last_pulled_at": cursor, "schema_version": schema_version}
    check(client.get("/api/v1/sync/pull", query, headers=headers).content)  # warm-up (URLconf, API)
    for _ in range(pulls):
        started = time.perf_counter()
        result = sync_pull(device=device, scope_keys=scope_keys, last_pulled_at=cursor, schema_version=schema_version)
        service.append(time.perf_counter() - started)
        check(result.body)
        started = time.perf_counter()
        response = client.get("/api/v1/sync/pull", query, headers=headers)
        endpoint.append(time.perf_counter() - started)
        check(response.content)
    return service, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--pulls", type=int, default=200, help="timed delta pulls per size (service and endpoint each)")
    parser.add_argument(
        "--database-url",
        default=default_database_url(),
        help="a PostgreSQL URL (a fresh database is created next to it); default FIELDSYNC_DATABASE_URL "
        "when it is PostgreSQL, else a temporary SQLite file",
    )
    args = parser.parse_args()

    with throwaway_database(args.database_url) as database:
        django_ready()
        from datetime import date

        from backend.accounts import services
        from backend.accounts.models import Jurisdiction, Officer, Role, Unit, UnitKind
        from backend.registry.synthetic import COMMUNES
        from sync import registry

        print(f"database: {database.description}")
        codes = sorted(c.code for c in COMMUNES)
        unit = Unit.objects.create(code="BENCH-CX", name="Công an xã (bench)", kind=UnitKind.COMMUNE_POST)
        Jurisdiction.objects.create(unit=unit, commune_code=codes[0], valid_from=date(2025, 7, 1))
        officer = Officer(username="bench.community", role=Role.COMMUNITY_OFFICER, unit=unit)
        officer.set_password(PASSWORD)
        officer.save()
        issued = services.enrollment_code_issue(actor=None, unit=unit, label="bench-delta")
        enrolled = services.device_enroll(code=issued.code, label="bench-delta")
        pair = services.officer_login(
            device_id=str(enrolled.device.id),
            device_credential=enrolled.device_credential,
            username=officer.username,
            password=PASSWORD,
        )
        device = pair.device
        scope_keys = registry.scope_keys_for(device=device, officer=officer)
        province_keys = ["province"] + [f"commune:{c}" for c in codes] + [f"commune-drug:{c}" for c in codes]
        schema_version = registry.schema_version()
        print(
            f"device scope: {', '.join(sorted(k for k in scope_keys if not k.startswith(('unit:', 'device:'))))} "
            f"(1 commune of {len(codes)}; the log spreads over {len(province_keys)} keys)"
        )

        results: dict[int, tuple[list[float], list[float]]] = {}
        print(
            f"\n{'history rows':>13} {'fill s':>7} {'in scope':>9} {'service p50 ms':>15} {'p90 ms':>7} "
            f"{'endpoint p50 ms':>16}"
        )
        for size in (args.small, args.large):
            change_log_empty()
            fill_seconds = history_fill(rows=size, scope_keys=province_keys)
            cursor, in_scope = initial_sync(device=device, scope_keys=scope_keys, schema_version=schema_version)
            expected = ten_server_edits(scope_keys=scope_keys)
            service, endpoint = delta_pulls(
                device=device,
                access_token=pair.access_token,
                scope_keys=scope_keys,
                cursor=cursor,
                schema_version=schema_version,
                pulls=args.pulls,
                expected=expected,
            )
            results[size] = (service, endpoint)
            p90 = sorted(service)[int(len(service) * 0.9)]
            print(
                f"{size:>13,} {fill_seconds:>7.1f} {in_scope:>9,} {median(service) * 1e3:>15.2f} {p90 * 1e3:>7.2f} "
                f"{median(endpoint) * 1e3:>16.2f}"
            )

        small_service, small_endpoint = results[args.small]
        large_service, large_endpoint = results[args.large]
        ratio = median(large_service) / median(small_service)
        endpoint_ratio = median(large_endpoint) / median(small_endpoint)
        print(f"\n{args.large:,} / {args.small:,} rows of history, median delta pull of {CHANGES} changes:")
        print(f"  service (sync_pull):  {ratio:.2f}x")
        print(f"  endpoint (GET pull):  {endpoint_ratio:.2f}x")
        print(f"target <= {TARGET_RATIO:.0f}x (service): {ratio:.2f}x {verdict(ratio <= TARGET_RATIO)}")


if __name__ == "__main__":
    main()
