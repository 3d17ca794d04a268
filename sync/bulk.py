"""A fast INSERT of many new model rows (no signals, no save()).

Django's `bulk_create` spends most of its time compiling SQL per field per row (measured ~6,600
rows/s, and on SQLite it must split every INSERT at the 999-variable cap). `bulk_insert` prepares
only the values that need the backend (UUID, JSON, dates) and sends one `executemany` per batch.
Used for seeding (backend.registry.bulk), new SyncRows (sync.writer) and bridge links.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

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
