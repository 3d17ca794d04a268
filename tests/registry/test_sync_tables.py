"""Apply, archive and serialize functions of every registry sync table."""

from __future__ import annotations

import uuid
from datetime import date

import orjson
import pytest

from backend.registry import sync_tables as st
from backend.registry.models import Check, DrugUseRecord, Person, PhotoLink, Residence
from sync import registry
from sync.errors import RecordRejected
from sync.models import SyncRow
from sync.writer import sync_transaction
from tests.conftest import make_unit
from tests.registry.conftest import (
    CAPTURED_AT_MS,
    COMMUNE_A,
    COMMUNE_B,
    check_values,
    device_actor,
    make_drug_record,
    make_person,
    make_wanted_notice,
)

pytestmark = pytest.mark.django_db

SHA = "a" * 64


def test_every_registry_table_is_registered_with_its_serializer_columns() -> None:
    tables = registry.registered_tables()

    assert set(st.SERIALIZERS) <= set(tables)
    assert tables["wanted_notices"].apply is None
    assert tables["criminal_records"].apply is None
    assert tables["checks"].archive is not None
    assert tables["photos"].archive is not None
    assert tables["persons"].column_by_name["full_name"].policy == registry.FieldPolicy.AUTHORITATIVE
    assert tables["persons"].column_by_name["notes"].policy == registry.FieldPolicy.APPEND
    assert tables["persons"].column_by_name["management_status"].policy == registry.FieldPolicy.MERGE
    assert tables["photos"].column_by_name["is_uploaded"].policy == registry.FieldPolicy.SERVER


def test_serialized_payloads_have_id_and_exactly_the_registered_columns() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    person = make_person()
    drug = make_drug_record(person=person)
    notice = make_wanted_notice(person=person)
    check = st.apply_check(
        record_id=str(uuid.uuid4()), values=check_values(), is_new=True, actor=device_actor(unit_id=unit.pk)
    )
    photo = st.apply_photo(
        record_id=str(uuid.uuid4()),
        values={"record_table": "checks", "record_id": check.payload["id"], "sha256": SHA, "kind": "subject"},
        is_new=True,
        actor=device_actor(unit_id=unit.pk),
    )
    payloads = {
        "persons": st.serialize_person(person),
        "residences": st.serialize_residence(person.residences.get()),
        "criminal_records": st.serialize_criminal_record(person.criminal_records.get()),
        "drug_use_records": st.serialize_drug_use_record(drug),
        "wanted_notices": st.serialize_wanted_notice(notice),
        "checks": check.payload,
        "photos": photo.payload,
    }

    for name, payload in payloads.items():
        columns = {c.name for c in registry.table_get(name).columns}  # type: ignore[union-attr]
        assert set(payload) == columns | {"id"}, name
        assert orjson.loads(orjson.dumps(payload)) == payload, name


def test_serialize_round_trip_of_a_stored_person_matches_its_sync_row() -> None:
    person = make_person(full_name="Hoàng Thị Thủy", pid="000190123456")

    row = SyncRow.objects.get(table="persons", record_id=str(person.id))
    reloaded = Person.objects.get(pk=person.pk)

    assert orjson.loads(row.payload_json) == st.serialize_person(reloaded)
    assert row.scope_key == f"commune:{COMMUNE_A}"
    assert orjson.loads(row.payload_json)["aliases"] == "[]"


def test_device_creates_a_check_with_officer_unit_and_device_from_the_actor() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    actor = device_actor(unit_id=unit.pk)
    record_id = str(uuid.uuid4())

    applied = st.apply_check(
        record_id=record_id, values=check_values(officer_id=999, unit_id=12345), is_new=True, actor=actor
    )

    check = Check.objects.get(pk=record_id)
    assert applied.scope_key == f"unit:{unit.pk}"
    assert check.unit_id == unit.pk
    assert str(check.device_id) == actor.device_id
    assert applied.payload["captured_at"] == CAPTURED_AT_MS
    assert applied.payload["unit_id"] == unit.pk
    assert applied.payload == st.serialize_check(check)


def test_check_full_name_seen_is_stored_nfc() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    decomposed = "Nguye\u0302\u0303n Va\u0306n Ho\u0300a"

    applied = st.apply_check(
        record_id=str(uuid.uuid4()),
        values=check_values(full_name_seen=decomposed),
        is_new=True,
        actor=device_actor(unit_id=unit.pk),
    )

    assert applied.payload["full_name_seen"] == "Nguyễn Văn Hòa"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"captured_at": None}, "captured_at is required"),
        ({"captured_at": 1_700_000_000}, "captured_at must be epoch milliseconds between 2000 and 2100"),
        ({"commune_code": "99999"}, "commune_code '99999' is not a commune of the province"),
        ({"result": "MAYBE"}, "result must be one of"),
        ({"latitude": 123.0}, "latitude must be a number between -90 and 90"),
        ({"person_id": str(uuid.uuid4())}, "person_id does not name a known person"),
    ],
)
def test_invalid_check_is_rejected_and_nothing_is_written(override: dict[str, object], message: str) -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    values = check_values(**override)

    with pytest.raises(RecordRejected) as caught:
        st.apply_check(record_id=str(uuid.uuid4()), values=values, is_new=True, actor=device_actor(unit_id=unit.pk))

    assert caught.value.message.startswith(message)
    assert Check.objects.count() == 0


def test_check_with_a_non_uuid_id_is_rejected() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))

    with pytest.raises(RecordRejected) as caught:
        st.apply_check(record_id="local-1", values=check_values(), is_new=True, actor=device_actor(unit_id=unit.pk))

    assert caught.value.code == "sync_record_id_invalid"


def test_device_updates_person_notes_and_management_status() -> None:
    person = make_person()

    applied = st.apply_person(
        record_id=str(person.id),
        values={"notes": "Gặp tại chợ Đông Kinh", "management_status": "monitored"},
        is_new=False,
        actor=device_actor(),
    )

    person.refresh_from_db()
    assert (person.notes, person.management_status) == ("Gặp tại chợ Đông Kinh", "monitored")
    assert applied.payload["notes"] == "Gặp tại chợ Đông Kinh"
    assert applied.scope_key == f"commune:{COMMUNE_A}"


def test_a_multi_line_note_keeps_its_line_breaks_while_other_text_is_flattened() -> None:
    person = make_person()

    applied = st.apply_person(
        record_id=str(person.id),
        values={"notes": "Gặp tại chợ\r\nĐông Kinh\n\n\nđi xe máy", "identifying_marks": "sẹo\nở tay"},
        is_new=False,
        actor=device_actor(),
    )

    person.refresh_from_db()
    assert (person.notes, person.identifying_marks) == ("Gặp tại chợ\nĐông Kinh\n\nđi xe máy", "sẹo ở tay")
    assert applied.payload["notes"] == person.notes


def test_device_may_not_create_a_person() -> None:
    with pytest.raises(RecordRejected) as caught:
        st.apply_person(record_id=str(uuid.uuid4()), values={"full_name": "X"}, is_new=True, actor=device_actor())

    assert caught.value.code == "sync_record_read_only"
    assert Person.objects.count() == 0


def test_unknown_management_status_is_rejected_and_the_person_is_unchanged() -> None:
    person = make_person()

    with pytest.raises(RecordRejected):
        st.apply_person(
            record_id=str(person.id), values={"management_status": "jailed"}, is_new=False, actor=device_actor()
        )

    person.refresh_from_db()
    assert person.management_status == "none"


def test_device_creates_a_residence_for_a_known_person() -> None:
    person = make_person()
    record_id = str(uuid.uuid4())

    applied = st.apply_residence(
        record_id=record_id,
        values={
            "person_id": str(person.id),
            "kind": "TAM_TRU",
            "ward_code": COMMUNE_B,
            "village_or_street": "Thôn Nà Lầu",
        },
        is_new=True,
        actor=device_actor(),
    )

    residence = Residence.objects.get(pk=record_id)
    assert (residence.kind, residence.ward_code, residence.province_code) == ("TAM_TRU", COMMUNE_B, "20")
    assert residence.source == "device"
    assert applied.scope_key == f"commune:{COMMUNE_A}"  # follows the person, not the address


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ward_code": "12345"}, "ward_code '12345' is not a commune of the province"),
        ({"kind": "HOTEL"}, "kind must be one of"),
        ({"person_id": str(uuid.uuid4())}, "person_id does not name a known person"),
        ({"valid_from": "2025-13-01"}, "valid_from must be a date string YYYY-MM-DD"),
        ({"valid_from": "2025-05-01", "valid_to": "2025-04-01"}, "valid_to is before valid_from"),
    ],
)
def test_invalid_residence_is_rejected(override: dict[str, object], message: str) -> None:
    person = make_person()
    values = {"person_id": str(person.id), "kind": "TAM_TRU", "ward_code": COMMUNE_B, **override}

    with pytest.raises(RecordRejected) as caught:
        st.apply_residence(record_id=str(uuid.uuid4()), values=values, is_new=True, actor=device_actor())

    assert caught.value.message.startswith(message)
    assert Residence.objects.count() == 1


def test_device_updates_residence_address_fields_only() -> None:
    person = make_person()
    residence = person.residences.get()

    applied = st.apply_residence(
        record_id=str(residence.id),
        values={"address_text_as_recorded": "Số 5, Tổ dân phố 3", "person_id": str(uuid.uuid4())},
        is_new=False,
        actor=device_actor(),
    )

    residence.refresh_from_db()
    assert residence.address_text_as_recorded == "Số 5, Tổ dân phố 3"
    assert residence.person_id == person.id
    assert applied.payload["valid_from"] == "2020-01-01"


def test_drug_record_notes_update_and_invalid_measure_rejected() -> None:
    record = make_drug_record(person=make_person())

    applied = st.apply_drug_use_record(
        record_id=str(record.id), values={"notes": "Đã xét nghiệm"}, is_new=False, actor=device_actor()
    )
    with pytest.raises(RecordRejected):
        st.apply_drug_use_record(
            record_id=str(record.id), values={"measure": "PRISON"}, is_new=False, actor=device_actor()
        )

    record.refresh_from_db()
    assert applied.scope_key == f"commune-drug:{COMMUNE_A}"
    assert (record.notes, record.measure) == ("Đã xét nghiệm", "MANAGEMENT")


def test_ending_a_drug_record_from_a_device_moves_it_out_of_device_scope() -> None:
    record = make_drug_record(person=make_person())

    applied = st.apply_drug_use_record(
        record_id=str(record.id),
        values={"status": "ended", "end_date": "2026-08-01"},
        is_new=False,
        actor=device_actor(),
    )

    assert applied.scope_key == "archived"
    assert DrugUseRecord.objects.get(pk=record.pk).end_date == date(2026, 8, 1)


def test_photo_row_may_arrive_before_its_check_and_takes_the_unit_scope() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    check_id = str(uuid.uuid4())

    applied = st.apply_photo(
        record_id=str(uuid.uuid4()),
        values={"record_table": "checks", "record_id": check_id, "sha256": SHA.upper(), "captured_at": CAPTURED_AT_MS},
        is_new=True,
        actor=device_actor(unit_id=unit.pk),
    )

    assert applied.scope_key == f"unit:{unit.pk}"
    assert applied.payload["sha256"] == SHA
    assert applied.payload["is_uploaded"] is False
    assert applied.payload["kind"] == "subject"


def test_photo_of_a_person_takes_the_person_scope() -> None:
    person = make_person(commune=COMMUNE_B)

    applied = st.apply_photo(
        record_id=str(uuid.uuid4()),
        values={"record_table": "persons", "record_id": str(person.id), "sha256": SHA},
        is_new=True,
        actor=device_actor(),
    )

    assert applied.scope_key == f"commune:{COMMUNE_B}"


@pytest.mark.parametrize(
    "override",
    [
        {"sha256": "xyz"},
        {"record_table": "wanted_notices"},
        {"record_id": "not-a-uuid"},
        {"kind": "selfie"},
    ],
)
def test_invalid_photo_row_is_rejected(override: dict[str, object]) -> None:
    values = {"record_table": "checks", "record_id": str(uuid.uuid4()), "sha256": SHA, **override}

    with pytest.raises(RecordRejected):
        st.apply_photo(record_id=str(uuid.uuid4()), values=values, is_new=True, actor=device_actor())

    assert PhotoLink.objects.count() == 0


def test_archiving_a_check_keeps_it_and_moves_it_to_the_archived_scope() -> None:
    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    record_id = str(uuid.uuid4())
    st.apply_check(record_id=record_id, values=check_values(), is_new=True, actor=device_actor(unit_id=unit.pk))

    archived = st.archive_check(record_id=record_id, actor=device_actor(unit_id=unit.pk))

    assert archived is not None and archived.scope_key == "archived"
    assert Check.objects.get(pk=record_id).is_archived is True
    assert st.archive_check(record_id=str(uuid.uuid4()), actor=device_actor()) is None


def test_photo_stored_marks_every_link_with_that_sha256_uploaded_once() -> None:
    from media_store.signals import photo_stored

    unit = make_unit(code="U1", communes=(COMMUNE_A,))
    with sync_transaction() as writer:
        for _ in range(2):
            applied = st.apply_photo(
                record_id=str(uuid.uuid4()),
                values={"record_table": "checks", "record_id": str(uuid.uuid4()), "sha256": SHA},
                is_new=True,
                actor=device_actor(unit_id=unit.pk),
            )
            writer.stage(
                table="photos", record_id=applied.payload["id"], payload=applied.payload, scope_key=applied.scope_key
            )

    photo_stored.send(sender=None, sha256=SHA)
    again = st.photo_links_mark_uploaded(sha256=SHA)

    assert again == 0
    assert set(PhotoLink.objects.values_list("is_uploaded", flat=True)) == {True}
    rows = SyncRow.objects.filter(table="photos")
    assert [orjson.loads(r.payload_json)["is_uploaded"] for r in rows] == [True, True]
    assert all("is_uploaded" in r.field_versions for r in rows)
