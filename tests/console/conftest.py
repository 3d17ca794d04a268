"""Console fixtures: officers of every role, phones that push through the real sync endpoints, and
a real review item / quarantined record made the way production makes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from backend.accounts.models import Officer
from backend.registry.models import DrugUseRecord
from sync.models import QuarantinedRecord, ReviewItem
from tests.conftest import TEST_PASSWORD, make_device_session, make_officer, make_unit
from tests.registry.conftest import COMMUNE_A, make_drug_record, make_person
from tests.registry_bridge.conftest import registry_engine

__all__ = ["registry_engine"]  # the real registry database fixture, for the bridge pages


class Phone:
    """A device with an officer logged in, speaking HTTP to /api/v1/sync like the app."""

    def __init__(self, *, username: str, unit: Any, role: str = "community_officer", label: str = "phone") -> None:
        self.officer = make_officer(username=username, unit=unit, role=role)
        pair = make_device_session(officer=self.officer, label=label)
        self.token = pair.access_token
        self.client = Client()
        self.cursor: int | None = None
        self.local: dict[str, dict[str, dict[str, Any]]] = {}

    def pull(self) -> dict[str, Any]:
        query = "schema_version=1" + (f"&last_pulled_at={self.cursor}" if self.cursor else "")
        response = self.client.get(f"/api/v1/sync/pull?{query}", headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.content
        body = response.json()
        self.cursor = body["timestamp"]
        for table, change in body["changes"].items():
            rows = self.local.setdefault(table, {})
            for record in change["created"] + change["updated"]:
                rows[record["id"]] = record
            for record_id in change["deleted"]:
                rows.pop(record_id, None)
        return dict(body["changes"])

    def push(self, changes: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/sync/push?last_pulled_at={self.cursor}",
            data={"changes": changes},
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code == 200, response.content
        return dict(response.json())

    def push_update(self, table: str, record_id: str, **fields: Any) -> dict[str, Any]:
        raw = {**self.local[table][record_id], **fields, "_status": "updated", "_changed": ",".join(fields)}
        return self.push({table: {"created": [], "updated": [raw], "deleted": []}})


@dataclass
class DrugConflict:
    drug: DrugUseRecord
    first: Phone  # its edit was applied
    second: Phone  # its edit went to review
    item: ReviewItem


def make_drug_conflict(*, person_name: str = "Nông Văn Bắc", prefix: str = "") -> DrugConflict:
    """Two community phones edit the same REVIEW field of a drug-use record: the second goes to review."""
    unit = make_unit(code=f"{prefix}CX", communes=(COMMUNE_A,))
    drug = make_drug_record(person=make_person(commune=COMMUNE_A, full_name=person_name))
    first = Phone(username=f"{prefix}c1", unit=unit, label="Máy Đồng Đăng 1")
    second = Phone(username=f"{prefix}c2", unit=unit, label="Máy Đồng Đăng 2")
    first.pull()
    second.pull()
    first.push_update("drug_use_records", str(drug.id), decision_no="07/QĐ-UBND")
    response = second.push_update("drug_use_records", str(drug.id), decision_no="09/QĐ-UBND")
    assert [(c["field"], c["policy"]) for c in response["conflicts"]] == [("decision_no", "review")]
    item = ReviewItem.objects.get(record_id=str(drug.id), status="open")
    return DrugConflict(drug=drug, first=first, second=second, item=item)


def make_pushed_quarantine(*, phone: Phone, person_id: str) -> QuarantinedRecord:
    """A check the server refuses (unknown result code): rejected alone and quarantined."""
    import uuid

    from tests.registry.conftest import check_values

    check_id = str(uuid.uuid4())
    raw = {"id": check_id, **check_values(person_id=person_id, result="NOT_A_RESULT"), "_status": "created"}
    response = phone.push({"checks": {"created": [raw], "updated": [], "deleted": []}})
    assert response["experimentalRejectedIds"] == {"checks": [check_id]}
    return QuarantinedRecord.objects.get(record_id=check_id)


def console_client(officer: Officer) -> Client:
    client = Client()
    response = client.post("/console/login/", {"username": officer.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.4 s per hash or check on this machine and every console test makes several
    officers and logins; the console code is hasher-agnostic. One test logs in with Argon2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin() -> Officer:
    return make_officer(username="admin", unit=None, role="sync_admin")


@pytest.fixture
def auditor() -> Officer:
    return make_officer(username="auditor", unit=None, role="auditor")


@pytest.fixture
def patrol() -> Officer:
    return make_officer(username="patrol", unit=make_unit(code="BP"), role="patrol_officer")
