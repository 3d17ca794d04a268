"""Server-side registry writes and what they do to the sync change log."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from backend.registry import services
from backend.registry.models import Person
from sync.models import SyncHead, SyncRow, SyncScopeExit
from tests.registry.conftest import COMMUNE_A, COMMUNE_B, make_drug_record, make_person, make_wanted_notice

pytestmark = pytest.mark.django_db


def _row(table: str, record_id: object) -> SyncRow:
    return SyncRow.objects.get(table=table, record_id=str(record_id))


def test_residence_move_moves_the_person_tree_to_the_new_commune_and_records_exits() -> None:
    person = make_person(commune=COMMUNE_A)
    drug = make_drug_record(person=person)
    old_residence = person.residences.get()

    new = services.residence_move(person_id=person.id, ward_code=COMMUNE_B, moved_on=date(2025, 10, 1))

    seq = SyncHead.objects.get().seq
    assert _row("persons", person.id).scope_key == f"commune:{COMMUNE_B}"
    assert _row("residences", new.id).scope_key == f"commune:{COMMUNE_B}"
    assert _row("residences", old_residence.id).scope_key == f"commune:{COMMUNE_B}"
    assert orjson.loads(_row("residences", old_residence.id).payload_json)["valid_to"] == "2025-10-01"
    assert _row("criminal_records", person.criminal_records.get().id).scope_key == f"commune:{COMMUNE_B}"
    assert _row("drug_use_records", drug.id).scope_key == f"commune-drug:{COMMUNE_B}"
    exits = set(SyncScopeExit.objects.filter(seq=seq).values_list("table", "scope_key"))
    assert exits == {
        ("persons", f"commune:{COMMUNE_A}"),
        ("residences", f"commune:{COMMUNE_A}"),
        ("criminal_records", f"commune:{COMMUNE_A}"),
        ("drug_use_records", f"commune-drug:{COMMUNE_A}"),
    }


def test_residence_move_to_an_unknown_commune_changes_nothing() -> None:
    person = make_person(commune=COMMUNE_A)
    head = SyncHead.objects.get().seq

    with pytest.raises(services.RegistryValueInvalid):
        services.residence_move(person_id=person.id, ward_code="99999", moved_on=date(2025, 10, 1))

    assert SyncHead.objects.get().seq == head
    assert Person.objects.get(pk=person.pk).primary_commune_code == COMMUNE_A


def test_rescinding_a_wanted_notice_takes_it_out_of_the_handbook() -> None:
    notice = make_wanted_notice()
    assert _row("wanted_notices", notice.id).scope_key == "province"

    services.wanted_notice_rescind(
        notice_id=notice.id, decision_no="07/QĐĐN", rescission_date=date(2025, 11, 2), reason="ARRESTED"
    )
    head = SyncHead.objects.get().seq
    services.wanted_notice_rescind(
        notice_id=notice.id, decision_no="07/QĐĐN", rescission_date=date(2025, 11, 2), reason="ARRESTED"
    )

    row = _row("wanted_notices", notice.id)
    assert row.scope_key == "archived"
    assert orjson.loads(row.payload_json)["status"] == "RESCINDED"
    assert SyncHead.objects.get().seq == head  # the repeat is a no-op


def test_ending_a_drug_record_archives_it_for_devices_but_keeps_the_dates() -> None:
    drug = make_drug_record(person=make_person())

    services.drug_record_end(record_id=drug.id, end_date=date(2026, 8, 1))

    row = _row("drug_use_records", drug.id)
    assert row.scope_key == "archived"
    assert orjson.loads(row.payload_json)["end_date"] == "2026-08-01"
    assert SyncScopeExit.objects.filter(record_id=str(drug.id), scope_key=f"commune-drug:{COMMUNE_A}").exists()


def test_person_update_recomputes_keys_and_records_changed_fields() -> None:
    person = make_person(full_name="Nguyễn Văn Hòa")

    services.person_update(person_id=person.id, changes={"full_name": "Nguyễn Văn Hoà Bình"})

    row = _row("persons", person.id)
    payload = orjson.loads(row.payload_json)
    assert payload["search_key"] == "nguyen van hoa binh"
    assert set(row.field_versions) == {"*", "full_name", "exact_key", "search_key"}
