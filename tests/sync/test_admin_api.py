"""Issue 3 §5 over HTTP: a sync administrator resolves a review (take server / take device / edit)
and fixes and replays a quarantined push; the outcome reaches every device in scope."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from backend.audit.models import AuditEvent
from backend.registry.models import Check, DrugUseRecord
from sync.models import QuarantinedRecord, ReviewItem
from tests.conftest import TEST_PASSWORD, make_officer, make_unit
from tests.registry.conftest import COMMUNE_A, check_values, make_drug_record, make_person
from tests.sync.devices import Device

pytestmark = pytest.mark.django_db(transaction=True)


def _session(username: str, role: str) -> Client:
    officer = make_officer(username=username, unit=None, role=role)
    client = Client()
    response = client.post("/console/login/", {"username": officer.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content
    return client


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, data=body, content_type="application/json")


def _drug_conflict() -> tuple[DrugUseRecord, list[Device]]:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    drug = make_drug_record(person=make_person(commune=COMMUNE_A))
    phones = [Device(username=f"c{i}", unit=unit) for i in range(3)]
    for phone in phones:
        phone.synchronize()
    first, second, _ = phones
    first.store.update("drug_use_records", str(drug.id), {"decision_no": "07/QĐ-UBND"})
    first.synchronize()
    second.store.update("drug_use_records", str(drug.id), {"decision_no": "09/QĐ-UBND"})
    report = second.synchronize()
    assert [(c["field"], c["outcome"]) for c in report.conflicts] == [
        ("decision_no", "server_value_kept_device_value_in_review")
    ]
    return drug, phones


@pytest.mark.parametrize(
    ("resolution", "value", "expected"),
    [
        ("take_server", None, "07/QĐ-UBND"),
        ("take_device", None, "09/QĐ-UBND"),
        ("edit", "08/QĐ-UBND", "08/QĐ-UBND"),
    ],
)
def test_an_admin_resolves_a_review_over_http_and_every_phone_in_scope_gets_the_outcome(
    resolution: str, value: str | None, expected: str
) -> None:
    drug, phones = _drug_conflict()
    admin = _session("admin", "sync_admin")
    listed = admin.get("/api/v1/sync/admin/reviews").json()["items"]
    assert [(i["field"], i["server_value"], i["proposed_value"]) for i in listed] == [
        ("decision_no", "07/QĐ-UBND", "09/QĐ-UBND")
    ]

    response = _post(
        admin,
        f"/api/v1/sync/admin/reviews/{listed[0]['id']}/resolve",
        {"resolution": resolution, "value": value, "note": "đối chiếu quyết định gốc"},
    )

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["resolved_value"]) == (
        {"take_server": "took_server", "take_device": "took_device", "edit": "edited"}[resolution],
        expected,
    )
    assert DrugUseRecord.objects.get(pk=drug.pk).decision_no == expected
    for phone in phones:
        phone.synchronize()
        assert phone.rows("drug_use_records")[str(drug.id)]["decision_no"] == expected
    assert AuditEvent.objects.filter(action="sync.review_resolved").count() == 1
    again = _post(admin, f"/api/v1/sync/admin/reviews/{listed[0]['id']}/resolve", {"resolution": "take_device"})
    assert (again.status_code, again.json()["code"]) == (409, "review_already_resolved")


def test_an_admin_fixes_and_replays_a_quarantined_check_and_the_units_phones_receive_it() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    sender, other = (Device(username=f"p{i}", unit=unit, role="patrol_officer") for i in range(2))
    sender.synchronize()
    other.synchronize()
    check_id = sender.store.create("checks", {"id": str(uuid.uuid4()), **check_values(latitude=123.0)})
    assert sender.synchronize().rejected == {"checks": [check_id]}
    admin = _session("admin", "sync_admin")
    listed = admin.get("/api/v1/sync/admin/quarantine").json()["items"]
    assert [(i["record_id"], i["code"], i["payload"]["latitude"]) for i in listed] == [
        (check_id, "sync_record_invalid", 123.0)
    ]
    fixed = {**listed[0]["payload"], "latitude": 21.85}

    still_bad = _post(
        admin, f"/api/v1/sync/admin/quarantine/{listed[0]['id']}/replay", {"payload": {**fixed, "latitude": 95.0}}
    )
    response = _post(admin, f"/api/v1/sync/admin/quarantine/{listed[0]['id']}/replay", {"payload": fixed})

    assert (still_bad.status_code, still_bad.json()["code"]) == (422, "sync_record_invalid")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["replayed_payload"]["latitude"]) == ("replayed", 21.85)
    check = Check.objects.get(pk=check_id)
    assert (check.latitude, check.unit_id, check.officer_id) == (21.85, unit.pk, sender.officer.pk)
    for phone in (sender, other):
        report = phone.synchronize()
        assert report.rejected == {}
        assert phone.rows("checks")[check_id]["latitude"] == 21.85
    assert QuarantinedRecord.objects.filter(status="open").count() == 0


def test_only_a_sync_administrator_may_use_the_admin_api_and_nothing_changes_otherwise() -> None:
    _drug_conflict()
    item = ReviewItem.objects.get()
    auditor = _session("auditor", "auditor")
    anonymous = Client()

    refused = _post(auditor, f"/api/v1/sync/admin/reviews/{item.id}/resolve", {"resolution": "take_device"})
    unauthenticated = anonymous.get("/api/v1/sync/admin/reviews")
    unknown = _post(_session("admin", "sync_admin"), "/api/v1/sync/admin/reviews/nope/resolve", {"resolution": "edit"})

    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, "auth_required")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "review_item_not_found")
    item.refresh_from_db()
    assert item.status == "open"
