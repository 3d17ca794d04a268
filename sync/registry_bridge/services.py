"""Bridge operations for the console and commands (writes; each owns its transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Officer
from backend.audit.services import audit_record
from backend.core.errors import DomainError, NotFound
from mobile_contract.errors import ErrorCode
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus
from sync.registry_bridge import legacy
from sync.registry_bridge.codes import SOURCE
from sync.registry_bridge.engine import DEFAULT_REGISTRY, PERSONS_LEGACY, bridge_sync
from sync.registry_bridge.models import BridgeCursor, BridgeRun, BridgeRunStatus
from sync.registry_bridge.port import MappingRejected, RegistrySource, mapping_get
from sync.registry_bridge.source import TABLES, SqlRegistrySource
from sync.review import sync_admin_check
from sync.writer import sync_transaction


class BridgeItemNotFound(NotFound):
    code = ErrorCode.NOT_FOUND
    default_message = "No such registry-bridge item."


class BridgeItemResolved(DomainError):
    code = ErrorCode.REVIEW_ALREADY_RESOLVED
    http_status = 409
    default_message = "This item was already resolved."


class BridgeReplayRejected(DomainError):
    code = ErrorCode.VALIDATION_ERROR
    http_status = 422
    default_message = "The fixed row still cannot be mapped."


@cache
def _engine_for(url: str) -> Any:
    engine = legacy.legacy_engine(url)
    legacy.legacy_schema_create(engine)
    return engine


def registry_source_default() -> SqlRegistrySource:
    """The registry at settings.FIELDSYNC_REGISTRY_URL (schema created if missing)."""
    return SqlRegistrySource(_engine_for(str(settings.FIELDSYNC_REGISTRY_URL)))


def bridge_run_now(*, trigger: str, source: RegistrySource | None = None) -> BridgeRun:
    """Run the bridge once against `source` (default: FIELDSYNC_REGISTRY_URL).

    A registry that cannot even be opened is recorded as a FAILED BridgeRun (so the console shows
    it like any other failed run) and the error is re-raised.
    """
    if source is None:
        try:
            source = registry_source_default()
        except Exception as exc:
            _bridge_run_failed_to_start(trigger=trigger, error=exc)
            raise
    return bridge_sync(source=source, trigger=trigger)


def _bridge_run_failed_to_start(*, trigger: str, error: BaseException) -> BridgeRun:
    cursor, _ = BridgeCursor.objects.get_or_create(registry_name=DEFAULT_REGISTRY)
    now = timezone.now()
    return BridgeRun.objects.create(
        registry_name=DEFAULT_REGISTRY,
        started_at=now,
        finished_at=now,
        trigger=trigger,
        status=BridgeRunStatus.FAILED,
        watermark_from=cursor.pulled_through,
        watermark_to=cursor.pulled_through,
        error=f"{error.__class__.__name__}: {error}"[:2000],
    )


def bridge_review_apply(
    *, actor: Officer, item_id: uuid.UUID | str, choice: str, edited_value: Any = None
) -> ReviewItem:
    """Resolve a bridge conflict: keep fieldsync's value ("took_server"), take the registry's
    ("took_device" — the proposed value), or an edited value ("edited").

    Side effects: an authoritative write staged for devices when the fieldsync value changes; the
    next bridge run writes the chosen value back to the registry. Audited as
    `registry_bridge.review_resolved`. Raises SyncAdminRequired, BridgeItemNotFound,
    BridgeItemResolved, BridgeReplayRejected. Not idempotent by design: a second call raises.
    """
    sync_admin_check(actor=actor)
    if choice not in {ReviewStatus.TOOK_SERVER, ReviewStatus.TOOK_DEVICE, ReviewStatus.EDITED}:
        raise BridgeReplayRejected("unknown choice", details={"choice": choice})
    mapping = mapping_get()
    with sync_transaction() as writer:
        item = ReviewItem.objects.select_for_update().filter(pk=item_id, source=SOURCE).first()
        if item is None:
            raise BridgeItemNotFound(details={"item_id": str(item_id)})
        if item.status != ReviewStatus.OPEN:
            raise BridgeItemResolved(details={"item_id": str(item.id)})
        entity = mapping.persons if item.table == mapping.persons.record_table else mapping.wanted_notices
        if choice == ReviewStatus.TOOK_SERVER:
            value = item.server_value
        elif choice == ReviewStatus.TOOK_DEVICE:
            value = item.proposed_value
        else:
            value = edited_value
        current = entity.current_values([item.record_id]).get(item.record_id)
        if current is None:
            raise BridgeItemNotFound(details={"record_id": item.record_id})
        if current.get(item.field) != value:
            try:
                entity.apply(
                    writer=writer,
                    record_id=item.record_id,
                    values={**current, item.field: value},
                    changed=[item.field],
                    is_new=False,
                )
            except MappingRejected as exc:
                raise BridgeReplayRejected(exc.message, details={"code": exc.code, **exc.details})
        item.status = choice
        item.resolved_at = timezone.now()
        item.resolved_by = actor
        item.resolved_value = value
        item.save(update_fields=["status", "resolved_at", "resolved_by", "resolved_value"])
        audit_record(
            action="registry_bridge.review_resolved",
            officer_id=actor.pk,
            target_type=f"sync:{item.table}",
            target_id=item.record_id,
            details={"review_item": str(item.id), "field": item.field, "resolution": str(choice)},
        )
    return item


def bridge_quarantine_replay(
    *,
    actor: Officer,
    item_id: uuid.UUID | str,
    fixed_columns: Mapping[str, Any],
    source: RegistrySource | None = None,
) -> QuarantinedRecord:
    """Fix a quarantined registry row at the source, then import it at once.

    `fixed_columns` are legacy columns of the row (e.g. {"HO_TEN": "Nguyễn Văn An"} or
    {"MA_XA": "06184"}). They are written to the registry (taking a change-counter value) and the
    row is pulled through the normal path in its own batch-sized transaction: if it still cannot be
    mapped the item stays open with the new problem. Audited as `registry_bridge.quarantine_replayed`
    (with the column names, not their values). Raises SyncAdminRequired, BridgeItemNotFound,
    BridgeItemResolved, BridgeReplayRejected (unknown column).
    """
    sync_admin_check(actor=actor)
    item = QuarantinedRecord.objects.filter(pk=item_id, source=SOURCE).first()
    if item is None:
        raise BridgeItemNotFound(details={"item_id": str(item_id)})
    if item.status != QuarantineStatus.OPEN:
        raise BridgeItemResolved(details={"item_id": str(item.id)})
    table = TABLES.get(item.table)
    allowed = (
        {c.name for c in table.columns} - {"MA_DT", "MA_QD", legacy.CHANGE_COUNTER} if table is not None else set()
    )
    unknown = set(fixed_columns) - allowed
    if table is None or unknown:
        raise BridgeReplayRejected("unknown registry columns", details={"columns": sorted(unknown)})
    source = source or registry_source_default()
    source.write_back(table=item.table, legacy_id=int(item.record_id), values=dict(fixed_columns))
    bridge_sync(source=source, trigger="console_replay", push=False)
    item.refresh_from_db()
    if item.status == QuarantineStatus.OPEN:
        raise BridgeReplayRejected(item.message, details={"code": item.code})
    with transaction.atomic():
        QuarantinedRecord.objects.filter(pk=item.pk).update(
            resolved_by=actor, resolution_note=f"fixed columns {sorted(fixed_columns)} and replayed"
        )
        audit_record(
            action="registry_bridge.quarantine_replayed",
            officer_id=actor.pk,
            target_type=f"registry:{item.table}",
            target_id=item.record_id,
            details={"quarantined_record": str(item.id), "code": item.code, "columns": sorted(fixed_columns)},
        )
    item.refresh_from_db()
    return item


__all__ = [
    "DEFAULT_REGISTRY",
    "PERSONS_LEGACY",
    "bridge_quarantine_replay",
    "bridge_review_apply",
    "bridge_run_now",
    "registry_source_default",
]
