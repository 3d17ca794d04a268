"""Fast bulk inserts for seeding (35,000 persons ≈ 240,000 rows plus as many SyncRows).

`bulk_insert` (now `sync.bulk.bulk_insert`, re-exported here) prepares only the values that need
the backend and sends one `executemany` per batch.

`sync_rows_insert_new` is `SyncWriter.stage` + `flush` for records that were never synced, with the
same rules as `sync.writer.SyncWriter.flush`: existing rows are locked (stable order) and the head
is locked last, bumped once, and every row gets that seq; `changes_committed` is sent after commit.
If any of the records already has a SyncRow (a `--force` rebuild resurrecting tombstoned ids) it
falls back to the SyncWriter. It exists only until sync offers a bulk staging API (asked of the lead).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from sync.bulk import bulk_insert
from sync.models import SyncHead, SyncRow
from sync.writer import SyncWriter, changes_committed, dumps_payload, sync_rows_written

__all__ = ["bulk_insert", "sync_rows_insert_new"]


def sync_rows_insert_new(staged: Sequence[tuple[str, str, dict[str, Any], str]]) -> int | None:
    """Record (table, record_id, payload, scope_key) as new SyncRows at one new seq. Returns the seq.

    Must run inside the transaction that wrote the records. Equivalent to staging every row on a
    SyncWriter and flushing it, for records that were never synced.
    """
    if not staged:
        return None
    if not connection.in_atomic_block:
        raise RuntimeError("sync_rows_insert_new must run inside the records' transaction")
    writer = SyncWriter()
    existing = writer.lock_rows([(table, record_id) for table, record_id, _, _ in staged])
    if existing:
        for table, record_id, payload, scope_key in staged:
            writer.stage(table=table, record_id=record_id, payload=payload, scope_key=scope_key)
        return writer.flush()
    head, _ = SyncHead.objects.select_for_update().get_or_create(pk=1)
    head.seq += 1
    head.save(update_fields=["seq"])
    seq = head.seq
    now = timezone.now()
    rows = [
        SyncRow(
            table=table,
            record_id=record_id,
            seq=seq,
            created_seq=seq,
            changed_at=now,
            scope_key=scope_key,
            is_deleted=False,
            payload_json=dumps_payload(payload),
            field_versions={"*": [seq, "server"]},
            last_writer_device_id=None,
        )
        for table, record_id, payload, scope_key in staged
    ]
    sync_rows_written()
    bulk_insert(SyncRow, rows)
    keys = frozenset(scope_key for _, _, _, scope_key in staged)
    transaction.on_commit(lambda: changes_committed.send(sender=SyncWriter, seq=seq, scope_keys=keys))
    return seq
