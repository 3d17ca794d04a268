"""One device cannot fill the quarantine: past its cap (open items or payload bytes) the whole push is
refused with `sync_quarantine_full`, nothing of it is applied (the device keeps every record pending),
and a sync administrator sees it in the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backend.audit.models import AuditEvent
from backend.registry.models import Check
from sync import review
from sync.models import QuarantinedRecord, QuarantineStatus, SyncRow
from tests.conftest import make_officer, make_unit
from tests.sync.test_hostile_push import Phone, check_record

pytestmark = pytest.mark.django_db


def unknown(count: int, *, size: int = 10) -> dict[str, Any]:
    return {"retired_table": {"created": [{"id": str(uuid.uuid4()), "blob": "x" * size} for _ in range(count)]}}


def test_a_push_that_would_take_the_device_past_its_quarantine_cap_is_refused_whole(settings: Any) -> None:
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = 3
    phone = Phone()
    assert phone.push(unknown(2)).status_code == 200  # 2 open items: within the cap
    good = check_record()

    refused = phone.push({**unknown(2), "checks": {"created": [good]}})

    assert refused.status_code == 429, refused.content
    body = refused.json()
    assert body["code"] == "sync_quarantine_full"
    details = body["details"]
    assert (details["open_items"], details["new_items"], details["max_items"]) == (2, 2, 3)
    assert details["max_bytes"] == settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES
    assert not Check.objects.exists() and not SyncRow.objects.filter(table="checks").exists()  # nothing applied
    assert QuarantinedRecord.objects.filter(status=QuarantineStatus.OPEN).count() == 2
    event = AuditEvent.objects.get(action="sync.quarantine_full")
    assert event.details["new_items"] == 2
    # the device retries later: refused again, audited once per hour, not once per retry
    assert phone.push({**unknown(2), "checks": {"created": [good]}}).status_code == 429
    assert AuditEvent.objects.filter(action="sync.quarantine_full").count() == 1

    admin = make_officer(username="sync.admin", unit=make_unit(code="HQ"), role="sync_admin")
    for item in QuarantinedRecord.objects.all():
        review.quarantined_record_discard(actor=admin, item_id=item.id)
    accepted = phone.push({**unknown(2), "checks": {"created": [good]}})

    assert accepted.status_code == 200, accepted.content
    assert Check.objects.count() == 1
    assert QuarantinedRecord.objects.filter(status=QuarantineStatus.OPEN).count() == 2


def test_the_cap_counts_payload_bytes_too(settings: Any) -> None:
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_BYTES = 20_000
    phone = Phone()
    assert phone.push(unknown(1, size=15_000)).status_code == 200

    refused = phone.push(unknown(1, size=15_000))

    assert (refused.status_code, refused.json()["code"]) == (429, "sync_quarantine_full")
    assert QuarantinedRecord.objects.count() == 1


def test_pushes_without_rejections_are_never_refused_by_a_full_quarantine(settings: Any) -> None:
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = 1
    phone = Phone()
    assert phone.push(unknown(1)).status_code == 200  # the cap reached

    response = phone.push({"checks": {"created": [check_record()]}})

    assert response.status_code == 200, response.content
    assert Check.objects.count() == 1


def test_a_rejected_record_pushed_again_unchanged_is_kept_once_and_never_hits_the_cap(settings: Any) -> None:
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = 1
    phone = Phone()
    rejected = unknown(1)

    answers = [phone.push(rejected) for _ in range(3)]  # WatermelonDB pushes a rejected record at every sync

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(
        a.json()["experimentalRejectedIds"] == {"retired_table": [rejected["retired_table"]["created"][0]["id"]]}
        for a in answers
    )
    assert QuarantinedRecord.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_racing_pushes_of_one_device_never_exceed_its_quarantine_cap(settings: Any) -> None:
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = 5
    phone = Phone()
    start = threading.Barrier(6)
    answers: list[int] = []

    def push() -> None:
        try:
            start.wait()
            answers.append(phone.push(unknown(2)).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=push) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers) == [200, 200, 429, 429, 429, 429]
    assert QuarantinedRecord.objects.count() == 4


@pytest.mark.parametrize(
    "value",
    [2**62, -(2**63), 1.7976931348623157e308, -1e300, 1e20, 1e16, 1e-7, 0.30000000000000004, 21.0, 'ư\u0301 \\ "'],
)
def test_a_rejected_record_pushed_again_with_any_json_number_is_kept_once(value: Any) -> None:
    """PostgreSQL's jsonb gives numbers back in its own spelling (1e16 and 1.8e308 as integers): the
    record pushed again must still be recognised as the one held, and never be a 500."""
    phone = Phone()
    rejected = check_record(purpose="NOT_A_PURPOSE", latitude=value, extra={"value": value, "list": [value]})

    answers = [phone.push({"checks": {"created": [rejected]}}) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].content
    assert QuarantinedRecord.objects.count() == 1
