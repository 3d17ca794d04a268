"""The per-device quarantine cap: one device cannot fill the quarantine (DESIGN §3: nothing pushed is
lost, so a bad record is kept whole, which also means a broken or hostile app could keep 32 MB per
push there for ever).

A push whose rejections would take the device past FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS open items
or FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES of open payloads is refused whole (QuarantineFull, 429
`sync_quarantine_full`): its transaction rolls back, nothing of it is applied, and the device keeps
every record pending and pushes again later. Pushes without new rejections are never refused (a
rejected record pushed again unchanged is already kept: not stored twice). Edits of held records a
pull is about to delete from the phone get a higher ceiling (see `quarantine_admit`). A sync
administrator sees it as the audit event `sync.quarantine_full` (once per device and hour, not once
per retry) and clears it by replaying or discarding that device's quarantined records.
"""

from __future__ import annotations

import logging

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Sum

from backend.accounts.models import Device, Officer
from backend.audit.services import audit_record
from mobile_contract.errors import ErrorCode
from sync.errors import QuarantineFull
from sync.models import QuarantinedRecord, QuarantineStatus, SyncRow

logger = logging.getLogger(__name__)

QUARANTINE_FULL_AUDIT_SECONDS = 3600
HELD_EDITS_CAP_FACTOR = 10


def quarantine_admit(*, device: Device, items: list[QuarantinedRecord]) -> list[QuarantinedRecord]:
    """Inside the push transaction: the rejected records of this push to store, or QuarantineFull.

    * A record already open in this device's quarantine with the same content (WatermelonDB pushes a
      rejected record again at every sync) is not stored again, and does not count.
    * The rest count against the cap: open push items of the device plus these, in number and in
      payload bytes (`payload_bytes` set here). Past it the push is refused whole.
    * Except edits of records the device held that a coming pull deletes from the phone (code
      `sync_record_deleted`, or `sync_record_out_of_scope` for a record the server has): WatermelonDB
      applies a remote delete over local edits, so refusing them would lose them. They are admitted up
      to HELD_EDITS_CAP_FACTOR times the cap, a ceiling no real device reaches.
    Locks the device row, so that concurrent pushes of one device are counted one after the other.
    """
    open_items = QuarantinedRecord.objects.filter(device=device, source="push", status=QuarantineStatus.OPEN)
    list(Device.objects.select_for_update().filter(pk=device.pk).values_list("pk", flat=True))
    known = {
        (table, record_id, operation, _canonical(payload))
        for table, record_id, operation, payload in open_items.filter(
            record_id__in={item.record_id for item in items}
        ).values_list("table", "record_id", "operation", "payload")
    }
    admitted: list[QuarantinedRecord] = []
    for item in items:
        content = (item.table, item.record_id, item.operation, _canonical(item.payload))
        if content in known:
            continue
        known.add(content)
        item.payload_bytes = len(content[3])
        admitted.append(item)
    if not admitted:
        return admitted
    totals = open_items.aggregate(items=Count("id"), bytes=Sum("payload_bytes"))
    counts = {
        "open_items": int(totals["items"] or 0),
        "new_items": len(admitted),
        "max_items": int(settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS),
        "open_bytes": int(totals["bytes"] or 0),
        "new_bytes": sum(item.payload_bytes for item in admitted),
        "max_bytes": int(settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES),
    }
    factor = HELD_EDITS_CAP_FACTOR if all(_is_held_edit(item) for item in admitted) else 1
    if (
        counts["open_items"] + counts["new_items"] > counts["max_items"] * factor
        or counts["open_bytes"] + counts["new_bytes"] > counts["max_bytes"] * factor
    ):
        raise QuarantineFull(details=counts)
    return admitted


def _canonical(payload: object) -> bytes:
    """The payload's content, equal for a payload as pushed and as read back from its JSON column.

    PostgreSQL's jsonb stores numbers as numerics and gives back an integral one (1e16, 1.8e308)
    as an integer, beyond 64 bits too (which orjson refuses): numbers are compared by value, an
    integral float within 64 bits as the integer, a larger integer as the double it was pushed as.
    """
    return orjson.dumps(_numbers_by_value(payload), option=orjson.OPT_SORT_KEYS)


_INT64_MIN, _INT64_END = -(2**63), 2**63


def _numbers_by_value(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and _INT64_MIN <= value < _INT64_END else value
    if isinstance(value, int):
        return value if _INT64_MIN <= value < _INT64_END else float(value)
    if isinstance(value, dict):
        return {key: _numbers_by_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_by_value(item) for item in value]
    return value


def _is_held_edit(item: QuarantinedRecord) -> bool:
    if item.code == ErrorCode.SYNC_RECORD_DELETED:
        return True
    return (
        item.code == ErrorCode.SYNC_RECORD_OUT_OF_SCOPE
        and SyncRow.objects.filter(table=item.table, record_id=item.record_id).exists()
    )


def quarantine_refusal_record(*, device: Device, officer: Officer, error: QuarantineFull) -> None:
    """After the refused push rolled back: log it, and audit it once per device and hour."""
    logger.warning("push of device %s refused: quarantine full %s", device.pk, error.details)
    if cache.add(f"quarantine-full-audited:{device.pk}", 1, timeout=QUARANTINE_FULL_AUDIT_SECONDS):
        audit_record(
            action="sync.quarantine_full",
            officer_id=officer.pk,
            device_id=device.pk,
            target_type="device",
            target_id=str(device.pk),
            details=dict(error.details),
        )
