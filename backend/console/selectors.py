"""Reads for the console pages. Pure reads: no writes, no audit (the pages that act audit through
the owning services).

Names shown in lists (units, officers, persons) are sorted with `vietnamese_sort_key`, never by
code point ("Bắc" before "Bình").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from backend.accounts.models import Device, DeviceStatus, Officer, Role, Unit
from backend.audit.models import AuditEvent
from backend.core.text import vietnamese_sort_key
from backend.registry.synthetic import COMMUNES
from media_store.models import Upload, UploadState
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus, SyncCheckpoint, SyncRow
from sync.registry_bridge.codes import SOURCE as BRIDGE_SOURCE
from sync.registry_bridge.models import BridgeLink, BridgeRun
from sync.writer import head_seq

CONSOLE_ROLES = frozenset({Role.SYNC_ADMIN, Role.AUDITOR})


def officer_label(officer: Officer | None) -> str:
    if officer is None:
        return ""
    return officer.display_name or officer.get_full_name() or officer.username


# --- device fleet ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetRow:
    device: Device
    unit_name: str
    officer_name: str
    last_pull_at: datetime | None
    last_push_at: datetime | None
    lag_seconds: int | None  # since the last pull; None: never pulled
    changes_behind: int | None  # server head seq minus the seq its latest cursor delivered
    pending_upload_count: int
    is_revoked: bool
    is_wiped: bool


def fleet_list(*, status: str = "") -> list[FleetRow]:
    """Every device with its sync health, sorted by unit then officer then label (Vietnamese order)."""
    devices: QuerySet[Device] = Device.objects.select_related("unit", "current_officer")
    if status:
        devices = devices.filter(status=status)
    pending = dict(
        Upload.objects.filter(state=UploadState.RECEIVING)
        .values_list("device_id")
        .annotate(count=Count("id"))
        .values_list("device_id", "count")
    )
    delivered = dict(
        SyncCheckpoint.objects.values_list("device_id").annotate(seq=Max("seq")).values_list("device_id", "seq")
    )
    head = head_seq()
    now = timezone.now()
    rows = [
        FleetRow(
            device=device,
            unit_name=device.unit.name,
            officer_name=officer_label(device.current_officer),
            last_pull_at=device.last_pull_at,
            last_push_at=device.last_push_at,
            lag_seconds=int((now - device.last_pull_at).total_seconds()) if device.last_pull_at else None,
            changes_behind=max(0, head - delivered[device.pk]) if device.pk in delivered else None,
            pending_upload_count=int(pending.get(device.pk, 0)),
            is_revoked=device.status in {DeviceStatus.REVOKED, DeviceStatus.WIPED},
            is_wiped=device.status == DeviceStatus.WIPED,
        )
        for device in devices
    ]
    rows.sort(
        key=lambda r: (
            vietnamese_sort_key(r.unit_name),
            vietnamese_sort_key(r.officer_name),
            vietnamese_sort_key(r.device.label),
            str(r.device.pk),
        )
    )
    return rows


def units_sorted() -> list[Unit]:
    return sorted(Unit.objects.all(), key=lambda u: (vietnamese_sort_key(u.name), u.code))


# --- records as the sync engine holds them --------------------------------------------------------


def _payloads(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    wanted = set(keys)
    if not wanted:
        return {}
    condition = Q()
    for table, record_id in wanted:
        condition |= Q(table=table, record_id=record_id)
    return {
        (table, record_id): orjson.loads(payload)
        for table, record_id, payload in SyncRow.objects.filter(condition).values_list(
            "table", "record_id", "payload_json"
        )
    }


def record_labels(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """A human label per record: its `full_name`, or the name of the person it belongs to."""
    payloads = _payloads(keys)
    person_keys = {
        ("persons", str(p["person_id"])) for p in payloads.values() if p.get("person_id") and not p.get("full_name")
    }
    persons = _payloads(person_keys)
    labels: dict[tuple[str, str], str] = {}
    for key in keys:
        payload = payloads.get(key, {})
        name = payload.get("full_name") or persons.get(("persons", str(payload.get("person_id"))), {}).get("full_name")
        labels[key] = str(name or "")
    return labels


# --- review queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRow:
    item: ReviewItem
    record_label: str
    base_value: Any  # the value both sides last agreed on, when the source keeps it
    has_base_value: bool
    current_value: Any  # what fieldsync holds now
    is_bridge: bool
    device_label: str
    officer_name: str


def _current(payloads: Mapping[tuple[str, str], dict[str, Any]], item: ReviewItem) -> Any:
    return payloads.get((item.table, item.record_id), {}).get(item.field)


def review_list(*, status: str = ReviewStatus.OPEN, sort: str = "name", limit: int = 200) -> list[ReviewRow]:
    """Review items side by side: base, server (fieldsync) value, device/registry value, current."""
    items = list(
        ReviewItem.objects.filter(status=status)
        .select_related("device", "officer")
        .order_by("created_at", "id")[: max(1, min(limit, 500))]
    )
    keys = [(i.table, i.record_id) for i in items]
    labels = record_labels(keys)
    payloads = _payloads(keys)
    bridge_ids = [i.record_id for i in items if i.source == BRIDGE_SOURCE]
    bases = {
        (link.record_table, link.record_id): link.base_values
        for link in BridgeLink.objects.filter(record_id__in=bridge_ids)
    }
    rows: list[ReviewRow] = []
    for item in items:
        base = bases.get((item.table, item.record_id))
        rows.append(
            ReviewRow(
                item=item,
                record_label=labels.get((item.table, item.record_id), ""),
                base_value=base.get(item.field) if base is not None else None,
                has_base_value=base is not None and item.field in base,
                current_value=_current(payloads, item),
                is_bridge=item.source == BRIDGE_SOURCE,
                device_label=str(item.device) if item.device else "",
                officer_name=officer_label(item.officer),
            )
        )
    if sort == "name":
        rows.sort(key=lambda r: (vietnamese_sort_key(r.record_label), r.item.created_at))
    return rows


def review_item_get(*, item_id: str) -> ReviewItem | None:
    return ReviewItem.objects.filter(pk=item_id).first()


# --- quarantine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantineRow:
    item: QuarantinedRecord
    record_label: str
    is_bridge: bool
    fix_template: dict[str, Any]  # what the fix-and-replay form starts from
    hint: str  # what the administrator must decide, e.g. the 2025 communes a split commune went to


def _fix_template(item: QuarantinedRecord) -> dict[str, Any]:
    if item.source != BRIDGE_SOURCE:
        return dict(item.payload or {})
    # The bridge replays legacy columns: start from the suggested conversion or the column at fault.
    details = item.payload.get("details", {}) if isinstance(item.payload, dict) else {}
    if isinstance(details, dict) and isinstance(details.get("suggested"), dict):
        return dict(details["suggested"])
    if isinstance(details, dict) and "MA_XA" in details:
        return {"MA_XA": ""}
    return {}


def _commune_names() -> dict[str, str]:
    return {c.code: c.label for c in COMMUNES}


def _hint(item: QuarantinedRecord) -> str:
    details = item.payload.get("details", {}) if isinstance(item.payload, dict) else {}
    candidates = details.get("candidates") if isinstance(details, dict) else None
    if not isinstance(candidates, list) or not candidates:
        return ""
    names = _commune_names()
    choices = ", ".join(f"{code} ({names.get(str(code), '?')})" for code in candidates)
    return f"Split in the 2025 merger: set MA_XA to one of {choices}."


def quarantine_list(
    *, status: str = QuarantineStatus.OPEN, sort: str = "name", limit: int = 200
) -> list[QuarantineRow]:
    items = list(
        QuarantinedRecord.objects.filter(status=status)
        .select_related("device", "officer")
        .order_by("created_at", "id")[: max(1, min(limit, 500))]
    )
    labels = record_labels([(i.table, i.record_id) for i in items])
    rows = []
    for item in items:
        label = labels.get((item.table, item.record_id)) or _payload_name(item.payload)
        rows.append(
            QuarantineRow(
                item=item,
                record_label=label,
                is_bridge=item.source == BRIDGE_SOURCE,
                fix_template=_fix_template(item),
                hint=_hint(item),
            )
        )
    if sort == "name":
        rows.sort(key=lambda r: (vietnamese_sort_key(r.record_label), r.item.created_at))
    return rows


def _payload_name(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    details: dict[str, Any] = payload["details"] if isinstance(payload.get("details"), dict) else {}
    suggested: dict[str, Any] = details["suggested"] if isinstance(details.get("suggested"), dict) else {}
    if suggested.get("HO_TEN"):  # TCVN3: show the suggested conversion, not the mojibake
        return str(suggested["HO_TEN"])
    row: dict[str, Any] = payload["row"] if isinstance(payload.get("row"), dict) else payload
    return str(row.get("full_name") or row.get("HO_TEN") or row.get("full_name_seen") or "")


def quarantine_item_get(*, item_id: str) -> QuarantinedRecord | None:
    return QuarantinedRecord.objects.filter(pk=item_id).first()


# --- bridge runs ----------------------------------------------------------------------------------


def bridge_runs_list(*, limit: int = 50) -> list[BridgeRun]:
    return list(BridgeRun.objects.order_by("-started_at", "-id")[:limit])


# --- audit ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    officer: str = ""  # username
    target_type: str = ""
    target_id: str = ""
    day_from: date | None = None
    day_to: date | None = None


def audit_events_list(*, filters: AuditFilters, limit: int = 200) -> tuple[list[AuditEvent], dict[int, str]]:
    """The newest events matching `filters`, and the officers' usernames by id."""
    events: QuerySet[AuditEvent] = AuditEvent.objects.all()
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    if filters.officer:
        ids = list(Officer.objects.filter(username=filters.officer).values_list("pk", flat=True))
        events = events.filter(actor_officer_id__in=ids)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    zone = timezone.get_current_timezone()
    if filters.day_from:
        events = events.filter(occurred_at__gte=datetime.combine(filters.day_from, time.min, tzinfo=zone))
    if filters.day_to:
        end = datetime.combine(filters.day_to + timedelta(days=1), time.min, tzinfo=zone)
        events = events.filter(occurred_at__lt=end)
    found = list(events.order_by("-id")[: max(1, min(limit, 1000))])
    officer_ids = {e.actor_officer_id for e in found if e.actor_officer_id is not None}
    names = dict(Officer.objects.filter(pk__in=officer_ids).values_list("pk", "username"))
    return found, {int(k): str(v) for k, v in names.items()}


def audit_actions() -> list[str]:
    return sorted(set(AuditEvent.objects.values_list("action", flat=True).distinct()))


__all__ = [
    "CONSOLE_ROLES",
    "AuditFilters",
    "FleetRow",
    "QuarantineRow",
    "ReviewRow",
    "audit_actions",
    "audit_events_list",
    "bridge_runs_list",
    "fleet_list",
    "quarantine_item_get",
    "quarantine_list",
    "record_labels",
    "review_item_get",
    "review_list",
    "units_sorted",
]
