"""Fast bulk inserts for seeding (35,000 persons ≈ 240,000 rows plus as many SyncRows).

Django's `bulk_create` spends ~85% of its time compiling SQL per field per row (measured: ~6,600
rows/s here). `bulk_insert` prepares only the values that need the backend (UUID, JSON, dates)
and sends one `executemany` per batch.

`sync_rows_insert_new` is `SyncWriter.stage` + `flush` for records that were never synced, with the
same rules as `sync.writer.SyncWriter.flush`: existing rows are locked (stable order) and the head
is locked last, bumped once, and every row gets that seq; `changes_committed` is sent after commit.
If any of the records already has a SyncRow (a `--force` rebuild resurrecting tombstoned ids) it
falls back to the SyncWriter. It exists only until sync offers a bulk staging API (asked of the lead).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from sync.models import SyncHead, SyncRow
from sync.writer import SyncWriter, changes_committed, dumps_payload

_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.FloatField,
)
_BATCH_ROWS = 2000


def _converter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    """A value -> database value function; the common cases skip Django's per-value machinery."""
    if isinstance(field, _PLAIN_FIELDS) and not isinstance(field, models.AutoField):
        return lambda value: value
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.UUIDField) and not connection.features.has_native_uuid_field:
        return lambda value: value.hex if isinstance(value, uuid.UUID) else field.get_db_prep_save(value, connection)
    if isinstance(field, models.DateTimeField):
        # Rows of one batch share their timestamps (auto_now): convert each distinct value once.
        cache: dict[Any, Any] = {}

        def convert(value: Any) -> Any:
            if value not in cache:
                cache[value] = field.get_db_prep_save(value, connection)
            return cache[value]

        return convert
    return lambda value: field.get_db_prep_save(value, connection)


def bulk_insert(model: type[models.Model], objects: Sequence[models.Model]) -> None:
    """INSERT `objects` as they are (no signals, no save(); auto_now fields are filled in)."""
    if not objects:
        return
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))]
    auto_now = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    converters = [(f.attname, _converter(f)) for f in fields]
    quote = connection.ops.quote_name
    # Identifiers come from model metadata (quoted), values are parameters: nothing user-supplied.
    columns = ", ".join(quote(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    rows = []
    for obj in objects:
        for name in auto_now:
            if getattr(obj, name) is None:
                setattr(obj, name, now)
        rows.append(tuple(convert(getattr(obj, name)) for name, convert in converters))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _BATCH_ROWS):
            cursor.executemany(sql, rows[start : start + _BATCH_ROWS])


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
    bulk_insert(SyncRow, rows)
    keys = frozenset(scope_key for _, _, _, scope_key in staged)
    transaction.on_commit(lambda: changes_committed.send(sender=SyncWriter, seq=seq, scope_keys=keys))
    return seq
