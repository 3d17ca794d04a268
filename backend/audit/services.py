"""Writing and verifying the audit chain."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from backend.audit.models import AuditEvent

GENESIS_HASH = "0" * 64


def _entry_hash(*, previous_hash: str, fields: dict[str, Any]) -> str:
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous_hash.encode() + body).hexdigest()


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "actor_officer_id": event.actor_officer_id,
        "actor_device_id": str(event.actor_device_id) if event.actor_device_id else None,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "purpose": event.purpose,
        "case_reference": event.case_reference,
        "details": event.details,
    }


def audit_record(
    *,
    action: str,
    officer_id: int | None = None,
    device_id: uuid.UUID | None = None,
    target_type: str = "",
    target_id: str = "",
    purpose: str = "",
    case_reference: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain.

    Takes a row lock on the chain tail (PostgreSQL) so concurrent writers chain in a single line;
    on SQLite the write transaction already serialises. Never put personal data in `details`
    beyond ids: the audit log is itself sensitive but must stay minimal.
    """
    with transaction.atomic():
        tail = AuditEvent.objects.select_for_update().order_by("-id").first()
        previous_hash = tail.entry_hash if tail else GENESIS_HASH
        event = AuditEvent(
            occurred_at=timezone.now(),
            action=action,
            actor_officer_id=officer_id,
            actor_device_id=device_id,
            target_type=target_type,
            target_id=target_id,
            purpose=purpose,
            case_reference=case_reference,
            details=orjson.loads(orjson.dumps(details or {})),
            previous_hash=previous_hash,
        )
        event.entry_hash = _entry_hash(previous_hash=previous_hash, fields=_hashed_fields(event))
        event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainVerification:
    checked_count: int
    first_broken_id: int | None

    @property
    def is_intact(self) -> bool:
        return self.first_broken_id is None


def audit_chain_verify() -> ChainVerification:
    """Recompute every hash in id order. Read-only."""
    previous_hash = GENESIS_HASH
    count = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        count += 1
        expected = _entry_hash(previous_hash=previous_hash, fields=_hashed_fields(event))
        if event.previous_hash != previous_hash or event.entry_hash != expected:
            return ChainVerification(checked_count=count, first_broken_id=event.id)
        previous_hash = event.entry_hash
    return ChainVerification(checked_count=count, first_broken_id=None)
