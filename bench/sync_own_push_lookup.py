"""What the "did this device push it itself?" lookup costs in a delta pull.

    uv run python bench/sync_own_push_lookup.py [--data-dir /tmp/fieldsync-pull-bench] [--rows 5000] [--runs 5]

A delta pull of `--rows` records new to the device (written by the server in batches of 500) while
the device has pushed 4 x `--rows` records of its own before. Every one of those new rows is a
candidate for the DevicePushLog lookup that decides `created` vs `updated` (sync.pull). Prints the
median time of the whole pull and of the lookup alone on the same rows, and their ratio (one
process, side by side), on SQLite (or FIELDSYNC_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/tmp/fieldsync-pull-bench")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FIELDSYNC_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    import uuid

    from django.core.management import call_command

    from backend.accounts.models import Device, Unit
    from sync.models import DevicePushLog, SyncRow
    from sync.pull import _records_the_device_pushed, sync_pull
    from sync.writer import sync_transaction

    call_command("migrate", verbosity=0)
    unit = Unit.objects.create(code=f"B{uuid.uuid4().hex[:6]}", name="bench unit")
    device = Device.objects.create(unit=unit, label="bench phone")
    scope = f"unit:{unit.pk}"
    keys = frozenset({scope})
    cursor = sync_pull(device=device, scope_keys=keys, last_pulled_at=None, schema_version=1).timestamp
    DevicePushLog.objects.bulk_create(
        [
            DevicePushLog(device=device, table="checks", record_id=str(uuid.uuid4()), content_sha256="0" * 64, seq=1)
            for _ in range(4 * args.rows)
        ],
        batch_size=2000,
    )
    for start in range(0, args.rows, 500):
        with sync_transaction() as writer:
            for _ in range(min(500, args.rows - start)):
                record_id = str(uuid.uuid4())
                payload = {"id": record_id, "result": "NO_HIT", "notes": "bench", "unit_id": unit.pk}
                writer.stage(table="checks", record_id=record_id, payload=payload, scope_key=scope)
    candidates = list(
        SyncRow.objects.filter(scope_key=scope, table="checks").values_list("table", "record_id", "created_seq")
    )
    print(f"database: {django.db.connection.vendor}, {len(candidates)} new rows, {4 * args.rows} push logs")

    pull_seconds, lookup_seconds = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        result = sync_pull(device=device, scope_keys=keys, last_pulled_at=cursor, schema_version=1, page_rows=args.rows)
        pull_seconds.append(time.perf_counter() - started)
        assert result.change_count == args.rows and not result.has_more
        started = time.perf_counter()
        held = _records_the_device_pushed(device_id=device.id, since=0, candidates=candidates)
        lookup_seconds.append(time.perf_counter() - started)
        assert held == set()
    pull, lookup = statistics.median(pull_seconds), statistics.median(lookup_seconds)
    print(f"delta pull of {args.rows} rows: {pull * 1000:.1f} ms (median of {args.runs})")
    print(f"DevicePushLog lookup alone:   {lookup * 1000:.1f} ms")
    print(f"lookup / pull ratio: {lookup / pull:.3f}")


if __name__ == "__main__":
    main()
