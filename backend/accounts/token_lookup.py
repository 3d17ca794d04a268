"""The access-token lookup every authenticated request makes: one SELECT whose text is built once.

`DeviceToken.objects.select_related("device", "device__unit", "officer", "officer__unit")` is
compiled again on every call, and compiling its four joins and ~60 columns cost the ORM about ten
times what running it does (about half the server's CPU time for a small tus request). The same
statement is built here once per database from the models' own fields, run with the token's hash,
and its row turned into the same model instances with `Model.from_db` (each column through the
converters the ORM would apply). Nothing about the answer is kept between calls: every request reads
the token, device and officer rows as they are now, so a revocation, a wipe or a role change counts
on the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model

from backend.accounts.models import Device, DeviceToken, Officer, TokenKind, Unit


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    # Per model, in the SELECT's order: token, device, the device's unit, officer, the officer's unit.
    spans: tuple[tuple[int, tuple[str, ...]], ...]  # (first column, attnames)
    converted: tuple[tuple[int, Any], ...]  # (column index, Col) of the columns this backend converts


_MODELS: tuple[tuple[type[Model], str], ...] = (
    (DeviceToken, "t"),
    (Device, "d"),
    (Unit, "du"),
    (Officer, "o"),
    (Unit, "ou"),
)
_plans: dict[tuple[str, str], _Plan] = {}


def _column_name(field: Field[Any, Any]) -> str:
    assert field.column is not None  # every concrete field has a column
    return field.column


def _plan(alias: str) -> _Plan:
    connection = connections[alias]
    key = (alias, connection.vendor)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    quote = connection.ops.quote_name
    columns: list[str] = []
    spans: list[tuple[int, tuple[str, ...]]] = []
    converted: list[tuple[int, Any]] = []
    for model, table_alias in _MODELS:
        fields = tuple(model._meta.concrete_fields)
        spans.append((len(columns), tuple(field.attname for field in fields)))
        for field in fields:
            col = field.get_col(table_alias)
            if connection.ops.get_db_converters(col) + col.get_db_converters(connection):
                converted.append((len(columns), col))
            columns.append(f"{table_alias}.{quote(_column_name(field))}")

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    def column(model: type[Model], name: str) -> str:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        assert isinstance(field, Field)
        return quote(_column_name(field))

    # Identifiers only, quoted by the backend, from the models' metadata; the values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM {table(DeviceToken)} t"  # noqa: S608
        f" INNER JOIN {table(Device)} d ON d.{column(Device, 'pk')} = t.{column(DeviceToken, 'device')}"
        f" INNER JOIN {table(Unit)} du ON du.{column(Unit, 'pk')} = d.{column(Device, 'unit')}"
        f" INNER JOIN {table(Officer)} o ON o.{column(Officer, 'pk')} = t.{column(DeviceToken, 'officer')}"
        f" LEFT OUTER JOIN {table(Unit)} ou ON ou.{column(Unit, 'pk')} = o.{column(Officer, 'unit')}"
        f" WHERE t.{column(DeviceToken, 'token_hash')} = %s AND t.{column(DeviceToken, 'kind')} = %s"
    )
    plan = _Plan(sql=sql, spans=tuple(spans), converted=tuple(converted))
    _plans[key] = plan
    return plan


def access_token_get(*, token_hash: str) -> DeviceToken | None:
    """The access token with this hash, its device and officer and both their units loaded (as
    `select_related` loads them), read from the database now; None if there is no such access token."""
    alias = router.db_for_read(DeviceToken)
    connection = connections[alias]
    plan = _plan(alias)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, [token_hash, TokenKind.ACCESS.value])
        row = cursor.fetchone()  # token_hash is unique: at most one row
    if row is None:
        return None
    values = list(row)
    for index, column in plan.converted:
        # Looked up on this connection (a request's own): converters are bound to a connection.
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            values[index] = converter(values[index], column, connection)
    token, device, device_unit, officer, officer_unit = (
        model.from_db(alias, list(names), values[start : start + len(names)])
        for (model, _), (start, names) in zip(_MODELS, plan.spans, strict=True)
    )
    assert isinstance(token, DeviceToken) and isinstance(device, Device) and isinstance(officer, Officer)
    assert isinstance(device_unit, Unit) and isinstance(officer_unit, Unit)
    device.unit = device_unit
    officer.unit = officer_unit if officer.unit_id is not None else None  # the outer join found no unit
    token.device = device
    token.officer = officer
    return token
