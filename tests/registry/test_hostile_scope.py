"""A device must not learn that a record of another scope exists: a reference to another commune's
person is answered exactly like a reference to a person that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from django.test import Client

from backend.registry.models import Check, PhotoLink, Residence
from tests.conftest import make_device_session, make_officer, make_unit
from tests.registry.conftest import COMMUNE_A, COMMUNE_B, check_values, make_person

pytestmark = pytest.mark.django_db


def push_one(table: str, record: dict[str, Any]) -> dict[str, Any]:
    unit = make_unit(code=f"U{uuid.uuid4().hex[:6]}", communes=(COMMUNE_A,))
    token = make_device_session(officer=make_officer(username=f"p{uuid.uuid4().hex[:6]}", unit=unit)).access_token
    client = Client()
    cursor = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {token}"}).json()["timestamp"]
    response = client.post(
        f"/api/v1/sync/push?last_pulled_at={cursor}",
        data=orjson.dumps({"changes": {table: {"created": [{"id": str(uuid.uuid4()), **record}]}}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    rejections = response.json()["rejections"]
    return {"code": rejections[0]["code"], "message": rejections[0]["message"]} if rejections else {}


RECORDS = {
    "checks": lambda person_id: check_values(person_id=person_id),
    "residences": lambda person_id: {"person_id": person_id, "kind": "THUONG_TRU", "ward_code": COMMUNE_A},
    "photos": lambda person_id: {"record_table": "persons", "record_id": person_id, "sha256": "a" * 64},
}


@pytest.mark.parametrize("table", sorted(RECORDS))
def test_a_reference_to_another_communes_person_is_answered_like_a_missing_person(table: str) -> None:
    other_commune = make_person(commune=COMMUNE_B, full_name="Trần Thị Bích")

    foreign = push_one(table, RECORDS[table](str(other_commune.id)))
    missing = push_one(table, RECORDS[table](str(uuid.uuid4())))

    assert foreign == missing
    assert foreign["code"] == "sync_record_invalid"
    assert "does not name a known person" in foreign["message"]
    assert not Check.objects.filter(person=other_commune).exists()
    assert not Residence.objects.filter(person=other_commune).exclude(source="").filter(source="device").exists()
    assert not PhotoLink.objects.filter(record_id=str(other_commune.id)).exists()


def test_a_reference_to_a_person_of_the_devices_commune_is_accepted() -> None:
    own = make_person(commune=COMMUNE_A)

    assert push_one("checks", RECORDS["checks"](str(own.id))) == {}
    assert push_one("photos", RECORDS["photos"](str(own.id))) == {}
    assert Check.objects.get().person_id == own.id
