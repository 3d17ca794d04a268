"""`bulk_update_fields`: Django's `bulk_update` as one `UPDATE ... FROM (VALUES ...)` per batch.

Django's `bulk_update` builds a `CASE WHEN pk = ... THEN ...` expression per object and field and
resolves each one: for a push of 500 person edits (SyncRows: 8 fields) that was 90 % of the CPU
time of the push (measured with bench/sync_push.py --profile). This writes the same values (each
prepared by its field, as `save` does) joined on the primary key: on PostgreSQL from one array
per column (`UNNEST`), elsewhere from a VALUES list (SQLite >= 3.33).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from django.core.exceptions import EmptyResultSet
from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.backends.utils import CursorWrapper
from django.db.models.sql.compiler import SQLCompiler


@functools.lru_cache(maxsize=4096)
def parse_uuid(text: str) -> uuid.UUID:
    """`uuid.UUID(text)` (raises ValueError as it does), remembered for the last 4,096 texts.

    A pushed record's ids are parsed several times on the way (the record id, a linked person's id
    in the prefetch and again in the check, the writing device's id per SyncRow): 4 `uuid.UUID`
    calls per new check, ~4 us each. UUIDs are immutable, so handing out the same one is safe.
    """
    return uuid.UUID(text)


@models.Field.register_lookup
class InList(models.Lookup):  # type: ignore[type-arg]
    """`field__in_list=[...]`: `field__in`, sent on PostgreSQL as `= ANY(%s)` with one array parameter.

    psycopg parses a statement of more than 50 parameters anew on every execution (its statement
    cache stops there): an `IN` of 500 ids cost more client CPU than the query took on the server.
    The values are prepared by the field, as for `__in`; None is ignored; an empty list matches nothing.
    """

    lookup_name = "in_list"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        # None is dropped, as `__in` drops it: `x IN (NULL, ...)` is never false, so `exclude` of a
        # list with None would keep no row.
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs if value is not None]
        if not values:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, values)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", (*lhs_params, *values)


_TYPE_MODIFIER: Final[re.Pattern[str]] = re.compile(r"\s*\([^)]*\)")


def array_element_type(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """The element type of the array a column's values are sent in: the column's type without its
    modifier (`varchar(300)` -> `varchar`, `numeric(9, 2)` -> `numeric`). An explicit cast to
    varchar(n) truncates silently (and to numeric(p, s) rounds): the values must reach the column as
    they are, so that its assignment refuses an overlong value (DataError) as an UPDATE by `save` does."""
    db_type = field.db_type(connection)
    assert db_type is not None
    return _TYPE_MODIFIER.sub("", db_type)


@contextmanager
def server_bound_cursor(connection: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A PostgreSQL cursor whose parameters the server binds (psycopg's `Cursor`, not the
    `ClientCursor` Django uses), so `%b` sends a value in binary; still a Django cursor (execute
    wrappers, error translation)."""
    import psycopg

    connection.ensure_connection()
    with CursorWrapper(psycopg.Cursor(connection.connection), connection) as cursor:
        yield cursor


# Django field classes (exactly these, not subclasses, which may transform values) whose
# `get_db_prep_save` returns a value of the given Python type as it is.
_STORED_AS_IS: dict[type[models.Field[Any, Any]], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
}
_AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


def db_prep_save(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """`field.get_db_prep_save(value, connection)` as a function of the value, with the same result,
    skipping Django's per-value layers (≈3.7 us a call) for a value of the exact type the field
    stores: `str` for a char or text field, `bool`, `int` for an integer field or a foreign key to
    an integer key (through the backend's `adapt_integerfield_value`, as the field does). Anything
    else (another type, None, a subclass of those fields) goes through the field."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field

    def through_field(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    kind = type(target)
    if kind in _AUTO_FIELDS:
        # AutoFieldMixin: get_prep_value (int() of an int) and the backend's validate_autopk_value.
        if type(connection.ops).validate_autopk_value is not BaseDatabaseOperations.validate_autopk_value:
            return through_field
        return lambda value: value if type(value) is int else through_field(value)
    python_type = _STORED_AS_IS.get(kind)
    if python_type is int:
        adapt, internal_type = connection.ops.adapt_integerfield_value, target.get_internal_type()
        return lambda value: adapt(value, internal_type) if type(value) is int else through_field(value)
    if python_type is None or field is not target:  # a foreign key's "" may be stored as NULL
        return through_field
    return lambda value: value if type(value) is python_type else through_field(value)


def bulk_update_fields(instances: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 500) -> None:
    """Store `fields` of `instances` (all of one model, already saved). No signals, no auto_now."""
    if not instances or not fields:
        return
    model = type(instances[0])
    opts = model._meta
    db = router.db_for_write(model)
    connection = connections[db]
    targets = [opts.get_field(name) for name in fields]
    concrete: list[models.Field[Any, Any]] = []
    for target in targets:
        if not isinstance(target, models.Field) or not target.concrete or target.primary_key:
            raise ValueError(f"bulk_update_fields: {target.name} is not a concrete non-key field")
        concrete.append(target)
    pk = opts.pk
    assert pk is not None
    qn = connection.ops.quote_name
    columns = [pk, *concrete]
    pk_column = pk.column
    assert pk_column is not None
    table = qn(opts.db_table)
    names = ", ".join(qn(f"v_{c.column}") for c in columns)  # identifiers from the model, never data
    assignments = ", ".join(f"{qn(str(c.column))} = v.{qn(f'v_{c.column}')}" for c in concrete)
    join = f"{table}.{qn(pk_column)} = v.{qn(f'v_{pk_column}')}"
    if connection.vendor == "postgresql":
        # One array per column (psycopg parses a statement of more than 50 parameters anew on every
        # execution: for 500 rows of 9 fields that cost more than the UPDATE itself), sent in binary
        # (`%b`, bound by the server): quoting arrays of JSON texts into SQL literals cost as much again.
        arrays = ", ".join(f"%b::{array_element_type(c, connection)}[]" for c in columns)
        sql = f"UPDATE {table} SET {assignments} FROM UNNEST({arrays}) AS v({names}) WHERE {join}"  # noqa: S608
        prep_pk = db_prep_save(pk, connection)
        preps = [(target.attname, db_prep_save(target, connection)) for target in concrete]
        with server_bound_cursor(connection) as cursor:
            for start in range(0, len(instances), batch_size):
                batch = instances[start : start + batch_size]
                arrays_params = [[prep_pk(instance.pk) for instance in batch]]
                for attname, prep in preps:
                    arrays_params.append([prep(getattr(instance, attname)) for instance in batch])
                cursor.execute(sql, arrays_params)
        return
    row = "(" + ", ".join("%s" for _ in columns) + ")"
    size = max(1, min(batch_size, connection.ops.bulk_batch_size([pk, *concrete], list(instances)) or batch_size))
    with connection.cursor() as cursor:
        for start in range(0, len(instances), size):
            batch = instances[start : start + size]
            params: list[Any] = []
            for instance in batch:
                params.append(pk.get_db_prep_save(instance.pk, connection))
                for target in concrete:
                    params.append(target.get_db_prep_save(getattr(instance, target.attname), connection))
            values = ", ".join([row] * len(batch))
            sql = (
                f"WITH v({names}) AS (VALUES {values}) "  # noqa: S608  # identifiers only; values are parameters
                f"UPDATE {table} SET {assignments} FROM v WHERE {join}"
            )
            cursor.execute(sql, params)
