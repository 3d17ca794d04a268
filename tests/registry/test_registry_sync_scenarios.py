"""Registry tables through the real pull/push endpoints, with devices of different units and roles."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from django.test import Client

from backend.registry import services
from backend.registry.models import Check, Person, PhotoLink
from tests.conftest import make_device_session, make_officer, make_unit
from tests.registry.conftest import CAPTURED_AT_MS, COMMUNE_A, COMMUNE_B, check_values, make_drug_record, make_person

pytestmark = pytest.mark.django_db


class Phone:
    def __init__(self, *, username: str, unit: Any, role: str) -> None:
        officer = make_officer(username=username, unit=unit, role=role)
        self.token = make_device_session(officer=officer).access_token
        self.client = Client()
        self.cursor: int | None = None

    def pull(self) -> dict[str, Any]:
        query = "schema_version=1" + (f"&last_pulled_at={self.cursor}" if self.cursor else "")
        response = self.client.get(f"/api/v1/sync/pull?{query}", headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 200, response.content
        body = response.json()
        self.cursor = body["timestamp"]
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


def _ids(changes: dict[str, Any], table: str, kind: str = "created") -> set[str]:
    return {r if isinstance(r, str) else r["id"] for r in changes[table][kind]}


def test_community_phone_gets_drug_records_and_patrol_phone_does_not() -> None:
    person = make_person(commune=COMMUNE_A)
    drug = make_drug_record(person=person)
    community = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)), role="community_officer")
    patrol = Phone(username="p1", unit=make_unit(code="BP", communes=(COMMUNE_A,)), role="patrol_officer")

    community_changes = community.pull()
    patrol_changes = patrol.pull()

    assert _ids(community_changes, "persons") == _ids(patrol_changes, "persons") == {str(person.id)}
    assert _ids(community_changes, "drug_use_records") == {str(drug.id)}
    assert _ids(patrol_changes, "drug_use_records") == set()


def test_phone_pushes_a_check_with_its_photo_and_a_person_note() -> None:
    person = make_person(commune=COMMUNE_A)
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)), role="community_officer")
    phone.pull()
    check_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())

    result = phone.push(
        {
            "photos": {
                "created": [
                    {
                        "id": photo_id,
                        "record_table": "checks",
                        "record_id": check_id,
                        "sha256": "b" * 64,
                        "captured_at": CAPTURED_AT_MS,
                        "kind": "subject",
                        "is_uploaded": True,
                        "_status": "created",
                    }
                ],
                "updated": [],
                "deleted": [],
            },
            "checks": {
                "created": [{"id": check_id, **check_values(person_id=str(person.id)), "_status": "created"}],
                "updated": [],
                "deleted": [],
            },
            "persons": {
                "created": [],
                "updated": [
                    {**_server_person(person), "notes": "Đã gặp ở chợ", "_status": "updated", "_changed": "notes"}
                ],
                "deleted": [],
            },
        }
    )

    assert result["experimentalRejectedIds"] == {}
    assert Check.objects.get(pk=check_id).person_id == person.id
    assert PhotoLink.objects.get(pk=photo_id).is_uploaded is False  # server field: the blob is not here yet
    assert Person.objects.get(pk=person.pk).notes == "Đã gặp ở chợ"
    echo = phone.pull()
    assert _ids(echo, "checks") == set() and _ids(echo, "checks", "updated") == set()


def test_a_new_check_with_empty_text_left_null_is_not_echoed() -> None:
    # A WatermelonDB app leaves the columns it does not fill at null; the server stores "" for no text.
    phone = Phone(username="p1", unit=make_unit(code="BP", communes=(COMMUNE_A,)), role="patrol_officer")
    phone.pull()
    check_id = str(uuid.uuid4())
    sent = {**check_values(), "notes": None, "location_text": None, "officer_id": None, "device_id": None}

    result = phone.push(
        {"checks": {"created": [{"id": check_id, **sent, "_status": "created"}], "updated": [], "deleted": []}}
    )

    assert result["experimentalRejectedIds"] == {}
    check = Check.objects.get(pk=check_id)
    assert (check.notes, check.location_text) == ("", "")
    echo = phone.pull()
    assert _ids(echo, "checks") == set() and _ids(echo, "checks", "updated") == set()


def test_invalid_check_is_rejected_alone_with_a_clear_message() -> None:
    phone = Phone(username="p1", unit=make_unit(code="BP", communes=(COMMUNE_A,)), role="patrol_officer")
    phone.pull()
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())

    result = phone.push(
        {
            "checks": {
                "created": [
                    {"id": good, **check_values(), "_status": "created"},
                    {"id": bad, **check_values(captured_at=None), "_status": "created"},
                ],
                "updated": [],
                "deleted": [],
            }
        }
    )

    assert result["experimentalRejectedIds"] == {"checks": [bad]}
    assert result["rejections"][0]["code"] == "sync_record_invalid"
    assert "captured_at" in result["rejections"][0]["message"]
    assert set(Check.objects.values_list("id", flat=True)) == {uuid.UUID(good)}


def test_person_moving_to_another_commune_is_deleted_on_the_old_communes_phone() -> None:
    person = make_person(commune=COMMUNE_A)
    old = Phone(username="c1", unit=make_unit(code="CXA", communes=(COMMUNE_A,)), role="community_officer")
    new = Phone(username="c2", unit=make_unit(code="CXB", communes=(COMMUNE_B,)), role="community_officer")
    old.pull()
    new.pull()

    services.residence_move(person_id=person.id, ward_code=COMMUNE_B, moved_on=date(2025, 10, 1))

    # the delete waits one page (has_more), so the old phone can push pending edits first
    held_back, old_changes, new_changes = old.pull(), old.pull(), new.pull()
    assert str(person.id) not in held_back["persons"]["deleted"]
    assert str(person.id) in old_changes["persons"]["deleted"]
    # entering a scope arrives as "updated" (WatermelonDB creates a missing record from it) or "created"
    assert str(person.id) in _ids(new_changes, "persons") | _ids(new_changes, "persons", "updated")


def test_device_edit_of_an_authoritative_name_is_not_applied() -> None:
    person = make_person(commune=COMMUNE_A)
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)), role="community_officer")
    phone.pull()

    result = phone.push(
        {
            "persons": {
                "created": [],
                "updated": [
                    {**_server_person(person), "full_name": "Tên Khác", "_status": "updated", "_changed": "full_name"}
                ],
                "deleted": [],
            }
        }
    )

    assert result["conflicts"][0]["field"] == "full_name"
    assert Person.objects.get(pk=person.pk).full_name == "Nguyễn Văn Hòa"


def _server_person(person: Person) -> dict[str, Any]:
    from backend.registry.sync_tables import serialize_person

    return serialize_person(Person.objects.get(pk=person.pk))
