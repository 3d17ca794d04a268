"""The push's batch path (SyncedTable.apply_many) against its record-by-record fallback.

A push of distinct records is applied table by table in one pass (a prefetch by id and bulk writes);
if any record fails, the pass is rolled back and the push is applied record by record, so the bad
record is rejected alone. Both paths must store and answer exactly the same thing.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backend.registry import sync_tables as st
from backend.registry.models import Check, Person, PhotoLink
from media_store.models import Photo
from sync.models import DevicePushLog, QuarantinedRecord, ReviewItem, SyncRow
from sync.writer import sync_transaction
from tests.conftest import make_unit
from tests.registry.conftest import COMMUNE_A, check_values, make_person
from tests.registry.test_registry_sync_scenarios import Phone, _server_person

pytestmark = pytest.mark.django_db

NFD_NOTE = unicodedata.normalize("NFD", "Đã kiểm tra giấy tờ, người này khai tên Hòa")
NFC_NOTE = unicodedata.normalize("NFC", NFD_NOTE)


def _patrol_phone(label: str = "p1") -> Phone:
    phone = Phone(username=label, unit=make_unit(code=f"BP-{label}", communes=(COMMUNE_A,)), role="patrol_officer")
    phone.pull()
    return phone


def _new_check(person: Person, index: int, **overrides: Any) -> dict[str, Any]:
    values = check_values(person_id=str(person.id), location_text=f"Chốt {index}", notes=f"Ghi chú {index}")
    return {"id": str(uuid.uuid4()), **values, **overrides, "_status": "created", "_changed": ""}


def _checks(created: list[dict[str, Any]], updated: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"checks": {"created": created, "updated": updated or [], "deleted": []}}


def test_a_batch_mixing_creates_and_updates_of_one_table_is_applied_in_a_constant_number_of_statements() -> None:
    person = make_person()
    phone = _patrol_phone()
    first = [_new_check(person, i) for i in range(200)]
    assert phone.push(_checks(first))["experimentalRejectedIds"] == {}
    phone.pull()
    new = [_new_check(person, 1000 + i, notes=NFD_NOTE if i == 0 else f"Ghi chú {1000 + i}") for i in range(300)]
    edits = [
        {
            **record,
            "location_text": f"Chốt mới {i}",
            "notes": "Bổ sung",
            "_status": "updated",
            "_changed": "location_text,notes",
        }
        for i, record in enumerate(first)
    ]

    with CaptureQueriesContext(connection) as queries:
        result = phone.push(_checks(new, edits))

    assert result == {"experimentalRejectedIds": {}, "rejections": [], "conflicts": []}
    # Per record it was two statements or more; the whole batch of 500 is now a few dozen at most.
    assert len(queries.captured_queries) < 40
    assert Check.objects.count() == 500
    stored = {str(c.id): c for c in Check.objects.all()}
    for i, record in enumerate(first):
        assert (stored[record["id"]].location_text, stored[record["id"]].notes) == (f"Chốt mới {i}", "Bổ sung")
    assert stored[new[0]["id"]].notes == NFC_NOTE
    assert stored[new[1]["id"]].person_id == person.id
    rows = {r.record_id: r for r in SyncRow.objects.filter(table="checks")}
    seq = rows[new[0]["id"]].seq
    assert {rows[r["id"]].seq for r in first + new} == {seq}
    assert {rows[r["id"]].created_seq for r in new} == {seq}
    device = str(DevicePushLog.objects.filter(record_id=first[0]["id"]).get().device_id)
    assert rows[first[0]["id"]].field_versions["location_text"] == [seq, device]
    assert rows[first[0]["id"]].field_versions["notes"] == [seq, device]
    for record in first + new:
        assert orjson.loads(rows[record["id"]].payload_json) == st.serialize_check(stored[record["id"]])
    # The device holds exactly what is stored, except the NFD text: that one comes back as NFC.
    echo = phone.pull()
    assert [r["id"] for r in echo["checks"]["updated"] + echo["checks"]["created"]] == [new[0]["id"]]


def test_record_250_of_500_bad_rejects_it_alone_and_applies_the_other_499_exactly_once() -> None:
    person = make_person()
    phone = _patrol_phone()
    records = [_new_check(person, i, notes=NFD_NOTE) for i in range(500)]
    records[249]["purpose"] = "NOT_A_PURPOSE"
    bad = records[249]["id"]

    result = phone.push(_checks(records))

    assert result["experimentalRejectedIds"] == {"checks": [bad]}
    assert [(r["id"], r["code"]) for r in result["rejections"]] == [(bad, "sync_record_invalid")]
    assert list(QuarantinedRecord.objects.values_list("record_id", flat=True)) == [bad]
    good = {r["id"] for r in records} - {bad}
    assert {str(i) for i in Check.objects.values_list("id", flat=True)} == good
    assert set(Check.objects.values_list("notes", flat=True)) == {NFC_NOTE}
    rows = list(SyncRow.objects.filter(table="checks"))
    assert sorted(r.record_id for r in rows) == sorted(good)
    assert len({r.seq for r in rows}) == 1
    assert set(DevicePushLog.objects.values_list("record_id", flat=True)) == good

    # The lost acknowledgement: the same push again changes nothing and doubles nothing.
    again = phone.push(_checks(records))

    assert again["experimentalRejectedIds"] == {"checks": [bad]}
    assert again["conflicts"] == []
    assert Check.objects.count() == 499
    assert SyncRow.objects.filter(table="checks").count() == 499


@pytest.mark.parametrize("with_bad_record", [False, True], ids=["batch", "record_by_record"])
def test_person_edits_follow_each_fields_policy_and_report_conflicts_on_both_paths(with_bad_record: bool) -> None:
    persons = [make_person(full_name=f"Lê Văn Tám {i}") for i in range(6)]
    phone = _patrol_phone()
    # Another writer edits the notes of persons 0 and 1 after the device's pull.
    with sync_transaction() as writer:
        for person in persons[:2]:
            person.notes = "Ghi chú của trụ sở"
            person.save(update_fields=["notes"])
            writer.stage(
                table="persons",
                record_id=str(person.id),
                payload=st.serialize_person(person),
                scope_key=st.scope_of_person(person),
                changed_fields=["notes"],
            )
    edits = []
    for i, person in enumerate(persons):
        server = _server_person(person)
        server["notes"] = ""  # what the device pulled
        changed = "notes,management_status" if i < 4 else "full_name"
        edits.append(
            {
                **server,
                "notes": NFD_NOTE,
                "management_status": "monitored",
                "full_name": "Tên khác" if i >= 4 else server["full_name"],
                "_status": "updated",
                "_changed": changed,
            }
        )
    if with_bad_record:
        edits.insert(
            3, {**_server_person(persons[3]), "id": str(uuid.uuid4()), "_status": "updated", "_changed": "notes"}
        )

    with CaptureQueriesContext(connection) as queries:
        result = phone.push({"persons": {"created": [], "updated": edits, "deleted": []}})

    pid = [str(p.id) for p in persons]
    assert result["conflicts"] == [
        {"table": "persons", "id": pid[0], "field": "notes", "policy": "append", "outcome": "appended"},
        {"table": "persons", "id": pid[1], "field": "notes", "policy": "append", "outcome": "appended"},
        {
            "table": "persons",
            "id": pid[4],
            "field": "full_name",
            "policy": "authoritative",
            "outcome": "rejected_for_review",
        },
        {
            "table": "persons",
            "id": pid[5],
            "field": "full_name",
            "policy": "authoritative",
            "outcome": "rejected_for_review",
        },
    ]
    assert [r["code"] for r in result["rejections"]] == (["sync_record_read_only"] if with_bad_record else [])
    stored = {str(p.id): p for p in Person.objects.all()}
    # The APPEND join ("\n") survives: notes keep their line breaks (normalize_multiline_text).
    assert [stored[i].notes for i in pid] == [f"Ghi chú của trụ sở\n{NFC_NOTE}"] * 2 + [NFC_NOTE] * 2 + [""] * 2
    assert [stored[i].management_status for i in pid] == ["monitored"] * 4 + ["none"] * 2
    assert [stored[i].full_name for i in pid] == [p.full_name for p in persons]
    assert sorted(ReviewItem.objects.values_list("record_id", "field")) == sorted(
        [(pid[4], "full_name"), (pid[5], "full_name")]
    )
    rows = {r.record_id: r for r in SyncRow.objects.filter(table="persons")}
    for i in pid:
        assert orjson.loads(rows[i].payload_json) == st.serialize_person(stored[i])
    if not with_bad_record:
        assert len(queries.captured_queries) < 30


def test_photos_in_one_batch_take_their_linked_records_scope_and_upload_state() -> None:
    person = make_person()
    phone = _patrol_phone()
    stored_sha, missing_sha = "c" * 64, "d" * 64
    Photo.objects.create(sha256=stored_sha, size_bytes=1, format="jpeg", width=1, height=1, original_key="k")
    check = _new_check(person, 1)
    of_check, of_person, other = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())

    def photo(photo_id: str, table: str, record_id: str, sha: str) -> dict[str, Any]:
        return {"id": photo_id, "record_table": table, "record_id": record_id, "sha256": sha.upper(), "kind": "scene"}

    result = phone.push(
        {
            "photos": {
                "created": [
                    photo(of_check, "checks", check["id"], missing_sha),
                    photo(of_person, "persons", str(person.id), stored_sha),
                    photo(other, "checks", str(uuid.uuid4()), stored_sha),
                ],
                "updated": [],
                "deleted": [],
            },
            "checks": {"created": [check], "updated": [], "deleted": []},
        }
    )

    assert result["experimentalRejectedIds"] == {}
    links = {str(p.id): p for p in PhotoLink.objects.all()}
    assert [links[i].is_uploaded for i in (of_check, of_person, other)] == [False, True, True]
    assert {links[i].sha256 for i in (of_check, of_person)} == {missing_sha, stored_sha}
    rows = {r.record_id: r for r in SyncRow.objects.filter(table="photos")}
    unit_scope = f"unit:{Check.objects.get().unit_id}"
    assert rows[of_check].scope_key == unit_scope  # the check arrived after its photo: the unit's scope
    assert rows[of_person].scope_key == st.scope_of_person(person)
    assert rows[other].scope_key == unit_scope
    for photo_id in (of_check, of_person, other):
        assert rows[photo_id].scope_key == st.scope_of_photo(links[photo_id])
        assert orjson.loads(rows[photo_id].payload_json) == st.serialize_photo(links[photo_id])


@pytest.mark.parametrize("with_bad_record", [False, True], ids=["batch", "record-by-record"])
def test_line_breaks_an_officer_typed_in_notes_are_kept_through_push(with_bad_record: bool) -> None:
    person = make_person()
    phone = _patrol_phone()
    typed = "Gặp ở chợ\r\nĐông Kinh\n\n\nđi xe máy  "
    created = [_new_check(person, 0, notes=typed), _new_check(person, 1, notes="một dòng")]
    if with_bad_record:
        created.append(_new_check(person, 2, purpose="NOT_A_PURPOSE"))
    response = phone.push(_checks(created))

    assert response["experimentalRejectedIds"] == ({"checks": [created[2]["id"]]} if with_bad_record else {})
    stored = Check.objects.get(pk=created[0]["id"])
    assert stored.notes == "Gặp ở chợ\nĐông Kinh\n\nđi xe máy"  # normalize_multiline_text, as for the domain
    row = SyncRow.objects.get(table="checks", record_id=created[0]["id"])
    assert orjson.loads(row.payload_json)["notes"] == stored.notes
