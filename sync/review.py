"""Review queue and quarantine: what a sync administrator sees and decides.

Reads (`*_list`, `*_get`) and writes (`review_item_resolve`, `quarantined_record_replay`,
`quarantined_record_discard`). Every write runs in `sync_transaction`, so a changed record gets one
new seq and reaches every device in its scope on their next pull (with a poke after commit), and
every decision is appended to the audit chain in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from backend.accounts.models import Device, Officer, Role
from backend.audit.services import audit_record
from sync import registry
from sync.errors import (
    AlreadyResolved,
    QuarantineItemNotFound,
    RecordRejected,
    ResolutionTargetDeleted,
    ReviewItemNotFound,
    SyncAdminRequired,
)
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus, SyncRow
from sync.push import _coerce, _Reject
from sync.registry import FieldPolicy, WriteActor
from sync.writer import SyncWriter, sync_transaction


class ReviewResolution(StrEnum):
    TAKE_SERVER = "take_server"
    TAKE_DEVICE = "take_device"
    EDIT = "edit"


def sync_admin_check(*, actor: Any) -> Officer:
    """The actor, if it is an active sync administrator (or superuser). Raises SyncAdminRequired."""
    if (
        not isinstance(actor, Officer)
        or not actor.is_active
        or not (actor.role == Role.SYNC_ADMIN or actor.is_superuser)
    ):
        raise SyncAdminRequired()
    return actor


# --- reads ---------------------------------------------------------------------------------------


def review_items_list(*, actor: Officer, status: str = ReviewStatus.OPEN, limit: int = 100) -> list[ReviewItem]:
    sync_admin_check(actor=actor)
    queryset: QuerySet[ReviewItem] = ReviewItem.objects.filter(status=status).order_by("created_at", "id")
    return list(queryset[: max(1, min(limit, 500))])


def quarantined_records_list(
    *, actor: Officer, status: str = QuarantineStatus.OPEN, limit: int = 100
) -> list[QuarantinedRecord]:
    sync_admin_check(actor=actor)
    queryset: QuerySet[QuarantinedRecord] = QuarantinedRecord.objects.filter(status=status).order_by("created_at", "id")
    return list(queryset[: max(1, min(limit, 500))])


# --- writes --------------------------------------------------------------------------------------


def _apply_values(
    *,
    writer: SyncWriter,
    table_name: str,
    record_id: str,
    raw: Mapping[str, Any],
    actor: WriteActor,
    only_fields: list[str] | None,
) -> SyncRow | None:
    """Coerce and apply `raw` through the table's apply function; stage the result as a server write.

    Raises RecordRejected (the domain refused the values), ResolutionTargetDeleted.
    Returns the locked SyncRow as it was before (None for a new record).
    """
    table = registry.table_get(table_name)
    if table is None or table.apply is None:
        raise RecordRejected(f"{table_name} cannot be written", code=registry_code_read_only())
    row = writer.lock_rows([(table_name, record_id)]).get((table_name, record_id))
    if row is not None and (row.is_deleted or row.scope_key == registry.ARCHIVED_SCOPE_KEY):
        raise ResolutionTargetDeleted(details={"table": table_name, "record_id": record_id})
    try:
        values = _coerce(table, raw)
    except _Reject as exc:
        raise RecordRejected(exc.message, code=exc.code, details={"table": table_name}) from exc
    values = {k: v for k, v in values.items() if table.column_by_name[k].policy is not FieldPolicy.SERVER}
    if only_fields is not None:
        values = {k: v for k, v in values.items() if k in only_fields}
    applied = table.apply(record_id=record_id, values=values, is_new=row is None, actor=actor)
    writer.stage(
        table=table_name,
        record_id=record_id,
        payload=applied.payload,
        scope_key=applied.scope_key,
        changed_fields=sorted(values) if row is not None else None,
        writer="server",
    )
    return row


def registry_code_read_only() -> Any:
    from mobile_contract.errors import ErrorCode

    return ErrorCode.SYNC_RECORD_READ_ONLY


def _server_actor(*, officer: Officer | None, device: Device | None = None) -> WriteActor:
    return WriteActor(
        device_id=None,
        officer_id=officer.pk if officer is not None else None,
        unit_id=device.unit_id if device is not None else None,
        scope_keys=frozenset(),
    )


def review_item_resolve(
    *, actor: Officer, item_id: uuid.UUID | str, resolution: ReviewResolution, value: Any = None, note: str = ""
) -> ReviewItem:
    """Decide a review item: keep the server value, apply the device's value, or apply an edited value.

    take_device / edit write the field through the table's apply function in a sync transaction, so
    every device in scope receives the outcome. Audited as `sync.review_resolved`.
    Raises SyncAdminRequired, ReviewItemNotFound, AlreadyResolved, ResolutionTargetDeleted,
    RecordRejected (the value is not valid; nothing changes). Not idempotent: a second resolve of
    the same item raises AlreadyResolved.
    """
    sync_admin_check(actor=actor)
    with sync_transaction() as writer:
        item = ReviewItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise ReviewItemNotFound(details={"id": str(item_id)})
        if item.status != ReviewStatus.OPEN:
            raise AlreadyResolved(details={"id": str(item.id), "status": item.status})
        if resolution is ReviewResolution.TAKE_SERVER:
            row = SyncRow.objects.filter(table=item.table, record_id=item.record_id).first()
            item.resolved_value = _current_value(row, item.field) if row is not None else item.server_value
            item.status = ReviewStatus.TOOK_SERVER
        else:
            new_value = item.proposed_value if resolution is ReviewResolution.TAKE_DEVICE else value
            _apply_values(
                writer=writer,
                table_name=item.table,
                record_id=item.record_id,
                raw={item.field: new_value},
                actor=_server_actor(officer=actor),
                only_fields=[item.field],
            )
            item.resolved_value = new_value
            item.status = (
                ReviewStatus.TOOK_DEVICE if resolution is ReviewResolution.TAKE_DEVICE else ReviewStatus.EDITED
            )
        item.resolved_at = timezone.now()
        item.resolved_by = actor
        item.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_value"])
        audit_record(
            action="sync.review_resolved",
            officer_id=actor.pk,
            target_type=f"sync:{item.table}",
            target_id=item.record_id,
            details={"review_item": str(item.id), "field": item.field, "resolution": str(resolution), "note": note},
        )
    return item


def _current_value(row: SyncRow, field: str) -> Any:
    import orjson

    return orjson.loads(row.payload_json).get(field)


def quarantined_record_replay(
    *, actor: Officer, item_id: uuid.UUID | str, payload: Mapping[str, Any] | None = None, note: str = ""
) -> QuarantinedRecord:
    """Re-run a quarantined record through its table's apply, with the administrator's fixed payload.

    The original device's unit and officer stand as the author (a check keeps its unit); the write
    is a server write, so every device in scope — the sender included — receives the result.
    Audited as `sync.quarantine_replayed`. Raises SyncAdminRequired, QuarantineItemNotFound,
    AlreadyResolved, ResolutionTargetDeleted, RecordRejected (still invalid: nothing changes, the
    item stays open).
    """
    sync_admin_check(actor=actor)
    with sync_transaction() as writer:
        item = QuarantinedRecord.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise QuarantineItemNotFound(details={"id": str(item_id)})
        if item.status != QuarantineStatus.OPEN:
            raise AlreadyResolved(details={"id": str(item.id), "status": item.status})
        fixed = dict(payload) if payload is not None else dict(item.payload or {})
        device = Device.objects.filter(pk=item.device_id).first() if item.device_id else None
        author = WriteActor(
            device_id=None,
            officer_id=item.officer_id,
            unit_id=device.unit_id if device is not None else None,
            scope_keys=frozenset(),
        )
        if item.operation == "deleted":
            _replay_delete(writer=writer, table_name=item.table, record_id=item.record_id, actor=author)
        else:
            _apply_values(
                writer=writer,
                table_name=item.table,
                record_id=item.record_id,
                raw=fixed,
                actor=author,
                only_fields=None,
            )
        item.status = QuarantineStatus.REPLAYED
        item.replayed_payload = fixed
        item.resolved_at = timezone.now()
        item.resolved_by = actor
        item.resolution_note = note
        item.save(update_fields=["status", "replayed_payload", "resolved_at", "resolved_by", "resolution_note"])
        audit_record(
            action="sync.quarantine_replayed",
            officer_id=actor.pk,
            target_type=f"sync:{item.table}",
            target_id=item.record_id,
            details={"quarantined_record": str(item.id), "code": item.code, "note": note},
        )
    return item


def _replay_delete(*, writer: SyncWriter, table_name: str, record_id: str, actor: WriteActor) -> None:
    table = registry.table_get(table_name)
    if table is None or table.archive is None:
        raise RecordRejected(f"{table_name} records cannot be deleted", code=registry_code_read_only())
    row = writer.lock_rows([(table_name, record_id)]).get((table_name, record_id))
    if row is None or row.is_deleted or row.scope_key == registry.ARCHIVED_SCOPE_KEY:
        return
    archived = table.archive(record_id=record_id, actor=actor)
    writer.stage(
        table=table_name,
        record_id=record_id,
        payload=None if archived is None else archived.payload,
        scope_key=row.scope_key if archived is None else archived.scope_key,
    )


def quarantined_record_discard(*, actor: Officer, item_id: uuid.UUID | str, note: str = "") -> QuarantinedRecord:
    """Close a quarantined record without applying it (its payload is kept). Audited as
    `sync.quarantine_discarded`. Raises SyncAdminRequired, QuarantineItemNotFound, AlreadyResolved."""
    sync_admin_check(actor=actor)
    with sync_transaction():
        item = QuarantinedRecord.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise QuarantineItemNotFound(details={"id": str(item_id)})
        if item.status != QuarantineStatus.OPEN:
            raise AlreadyResolved(details={"id": str(item.id), "status": item.status})
        item.status = QuarantineStatus.DISCARDED
        item.resolved_at = timezone.now()
        item.resolved_by = actor
        item.resolution_note = note
        item.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
        audit_record(
            action="sync.quarantine_discarded",
            officer_id=actor.pk,
            target_type=f"sync:{item.table}",
            target_id=item.record_id,
            details={"quarantined_record": str(item.id), "code": item.code, "note": note},
        )
    return item
