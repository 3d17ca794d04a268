"""An engine-only table for sync tests: its rows live only in SyncRow (no domain model)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pytest

from sync import registry
from sync.errors import RecordRejected
from sync.models import SyncRow
from sync.registry import AppliedRecord, Column, ColumnType, FieldPolicy, SyncedTable, WriteActor
from tests.conftest import make_device_session, make_officer, make_unit

NOTES = "field_notes"


def _apply(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    row = SyncRow.objects.filter(table=NOTES, record_id=record_id).first()
    payload: dict[str, Any] = {
        "id": record_id,
        "title": "",
        "body": "",
        "status": "open",
        "owner_name": "",
        "commune_code": "",
    }
    if row is not None:
        payload.update(orjson.loads(row.payload_json))
    payload.update(values)
    if payload["title"] == "INVALID":
        raise RecordRejected("title may not be INVALID", details={"field": "title"})
    payload["computed"] = len(payload["body"] or "")
    return AppliedRecord(payload=payload, scope_key=f"commune:{payload['commune_code']}")


def _archive(*, record_id: str, actor: WriteActor) -> AppliedRecord | None:
    return None


NOTES_TABLE = SyncedTable(
    name=NOTES,
    columns=(
        Column("title", ColumnType.STRING, FieldPolicy.MERGE),
        Column("body", ColumnType.STRING, FieldPolicy.APPEND),
        Column("status", ColumnType.STRING, FieldPolicy.REVIEW),
        Column("owner_name", ColumnType.STRING, FieldPolicy.AUTHORITATIVE),
        Column("commune_code", ColumnType.STRING, FieldPolicy.MERGE),
        Column("computed", ColumnType.NUMBER, FieldPolicy.SERVER),
    ),
    apply=_apply,
    archive=_archive,
)


@pytest.fixture
def notes_table() -> Iterator[SyncedTable]:
    registry._TABLES[NOTES] = NOTES_TABLE
    yield NOTES_TABLE
    registry._TABLES.pop(NOTES, None)


class Phone:
    """A simulated device talking to the engine's services directly (no HTTP)."""

    def __init__(self, label: str, communes: tuple[str, ...] = ("20215",), unit: Any = None) -> None:
        self.unit = unit or make_unit(code=f"U-{label}", communes=communes)
        self.officer = make_officer(username=f"officer-{label}", unit=self.unit)
        self.pair = make_device_session(officer=self.officer, label=label)
        self.device = self.pair.device
        self.scope_keys = frozenset(f"commune:{c}" for c in communes)
        self.cursor: int | None = None
        self.local: dict[str, dict[str, Any]] = {}

    def pull(self, **kwargs: Any) -> dict[str, Any]:
        from sync.pull import sync_pull

        result = sync_pull(
            device=self.device,
            scope_keys=self.scope_keys,
            last_pulled_at=kwargs.pop("last_pulled_at", self.cursor),
            schema_version=kwargs.pop("schema_version", 1),
            **kwargs,
        )
        body: dict[str, Any] = orjson.loads(result.body)
        if body.get("experimentalStrategy") == "replacement":
            self.local.clear()
        table = body["changes"].get(NOTES, {"created": [], "updated": [], "deleted": []})
        for row in table["created"] + table["updated"]:
            self.local[row["id"]] = row
        for record_id in table["deleted"]:
            self.local.pop(record_id, None)
        self.cursor = body["timestamp"]
        return body

    def pull_all(self) -> list[dict[str, Any]]:
        pages = [self.pull()]
        while pages[-1]["has_more"]:
            pages.append(self.pull())
        return pages

    def push(self, changes: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        from sync.push import sync_push

        assert self.cursor is not None
        return sync_push(
            device=self.device,
            officer=self.officer,
            scope_keys=self.scope_keys,
            last_pulled_at=self.cursor,
            changes=changes,
            idempotency_key=idempotency_key,
        )


def note(record_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": record_id,
        "title": "t",
        "body": "",
        "status": "open",
        "owner_name": "Nguyễn Văn A",
        "commune_code": "20215",
    }
    base.update(fields)
    return base


def changes(
    created: list[dict[str, Any]] | None = None,
    updated: list[dict[str, Any]] | None = None,
    deleted: list[str] | None = None,
) -> dict[str, Any]:
    return {NOTES: {"created": created or [], "updated": updated or [], "deleted": deleted or []}}


def server_write(record_id: str, **fields: Any) -> None:
    """A server-side edit (registry, admin) of a note, through the engine's writer."""
    from sync.writer import sync_transaction

    row = SyncRow.objects.filter(table=NOTES, record_id=record_id).first()
    payload = orjson.loads(row.payload_json) if row else {"id": record_id, **note(record_id)}
    payload.update(fields)
    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id=record_id, payload=payload, scope_key=f"commune:{payload['commune_code']}")
