"""Fast INSERTs of many new rows (no signals, no save()).

Django's `bulk_create` spends most of its time compiling SQL per field per row (measured ~6,600
rows/s, and on SQLite it must split every INSERT at the 999-variable cap). `bulk_insert` prepares
only the values that need the backend (UUID, JSON, dates) and hands the rows to `insert_rows`:
on PostgreSQL one `COPY ... FROM STDIN` (measured 2-3x less wall and CPU time than one multi-row
INSERT, an `executemany` or Django's `UNNEST` for 500 rows), elsewhere one `executemany` per batch.
Constraints hold as for any INSERT; a violation raises Django's `IntegrityError`. A COPY is not a
statement that `connection.execute_wrapper` sees (nor Django's query log).
Used for seeding (backend.registry.bulk), new SyncRows (sync.writer), checks and photos pushed
(backend.registry.sync_tables) and bridge links.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

from backend.core.bulk import array_element_type, db_prep_save, parse_uuid, server_bound_cursor

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
    if isinstance(target, models.UUIDField):
        if connection.features.has_native_uuid_field:
            return lambda value: (
                value
                if value is None or isinstance(value, uuid.UUID)
                else parse_uuid(value)
                if isinstance(value, str)
                else uuid.UUID(str(value))
            )
        return lambda value: value.hex if isinstance(value, uuid.UUID) else field.get_db_prep_save(value, connection)
    if isinstance(field, models.DateTimeField):
        # Rows of one batch share their timestamps (auto_now): convert each distinct value once.
        cache: dict[Any, Any] = {}

        def convert(value: Any) -> Any:
            if value not in cache:
                cache[value] = field.get_db_prep_save(value, connection)
            return cache[value]

        return convert
    return db_prep_save(field, connection)


def insert_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """The fields `bulk_insert` writes, in order: every concrete field but an auto-increment key."""
    return [f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField))]


def insert_rows(
    model: type[models.Model], fields: Sequence[models.Field[Any, Any]], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT `rows` (tuples of database values, in the order of `fields`) into `model`'s table."""
    if not rows:
        return
    quote = connection.ops.quote_name
    # Identifiers come from model metadata (quoted), values are parameters or COPY data: nothing user-supplied.
    columns = ", ".join(quote(str(f.column)) for f in fields)
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        for start in range(0, len(rows), _BATCH_ROWS):
            cursor.executemany(sql, rows[start : start + _BATCH_ROWS])


def insert_values(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows given as the Python values of the fields `names` (in that order; every field
    without a database default must be named). No model instances are built."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    concrete = [f for f in fields if isinstance(f, models.Field) and f.concrete]
    if len(concrete) != len(fields):
        raise ValueError(f"insert_values: {names} are not all concrete fields of {model.__name__}")
    converters = [_converter(f) for f in concrete]
    plain = [i for i, f in enumerate(concrete) if isinstance(f, _PLAIN_FIELDS) and not isinstance(f, models.AutoField)]
    if len(plain) == len(concrete):
        insert_rows(model, concrete, [tuple(row) for row in rows])
        return
    insert_rows(
        model, concrete, [tuple(convert(v) for convert, v in zip(converters, row, strict=True)) for row in rows]
    )


def bulk_insert(model: type[models.Model], objects: Sequence[models.Model]) -> None:
    """INSERT `objects` as they are (no signals, no save(); auto_now fields are filled in)."""
    if not objects:
        return
    now = timezone.now()
    fields = insert_fields(model)
    auto_now = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    converters = [(f.attname, _converter(f)) for f in fields]
    rows = []
    for obj in objects:
        for name in auto_now:
            if getattr(obj, name) is None:
                setattr(obj, name, now)
        rows.append(tuple(convert(getattr(obj, name)) for name, convert in converters))
    insert_rows(model, fields, rows)


def upsert_push_logs(rows: Sequence[tuple[Any, str, str, str, int, int]]) -> None:
    """Store (device_id, table, record_id, content_sha256, seq, checkpoint_id) as each record's
    DevicePushLog: inserted, or updated where the device already has one for the record.

    `bulk_create(update_conflicts=True)` did the same at several times the CPU cost (SQL compiled
    per field per row, a model instance per row). One INSERT ... ON CONFLICT DO UPDATE of up to 500
    rows per statement; PostgreSQL and SQLite (>= 3.24) share the syntax.
    """
    from sync.models import DevicePushLog

    if not rows:
        return
    opts = DevicePushLog._meta
    quote = connection.ops.quote_name
    names = ["device", "table", "record_id", "content_sha256", "seq", "checkpoint_id"]
    fields = [f for f in (opts.get_field(name) for name in names) if isinstance(f, models.Field)]
    assert len(fields) == len(names)
    columns = [quote(str(f.column)) for f in fields]
    device_field = fields[0]
    assert isinstance(device_field, models.ForeignKey)
    convert_device = _converter(device_field)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[3:])
    conflict = f"ON CONFLICT ({', '.join(columns[:3])}) DO UPDATE SET {updates}"
    table = quote(opts.db_table)
    if connection.vendor == "postgresql":
        # One array per column: six parameters, whatever the number of rows (psycopg parses a
        # statement of more than 50 parameters anew on every execution), sent in binary (`%b`, a
        # server-bound cursor): quoting 3,000 values into array literals cost a regex per value.
        types = ", ".join(f"%b::{array_element_type(f, connection)}[]" for f in fields)
        with server_bound_cursor(connection) as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM UNNEST({types}) {conflict}",  # noqa: S608
                [[convert_device(row[0]) for row in rows], *([row[i] for row in rows] for i in range(1, len(names)))],
            )
        return
    with connection.cursor() as cursor:
        one = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), 500):
            batch = rows[start : start + 500]
            params: list[Any] = []
            for device_id, *rest in batch:
                params.append(convert_device(device_id))
                params.extend(rest)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(batch))} {conflict}",  # noqa: S608
                params,
            )
