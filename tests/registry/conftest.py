"""Registry factories: plain functions writing through the sync engine like the real code does."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from backend.core.text import exact_key, search_key
from backend.registry import sync_tables as st
from backend.registry.models import (
    CriminalRecord,
    DrugMeasure,
    DrugUseRecord,
    PenaltyType,
    Person,
    Residence,
    ResidenceKind,
    WantedCategory,
    WantedNotice,
)
from backend.registry.synthetic import COMMUNES
from sync.registry import WriteActor
from sync.writer import sync_transaction

COMMUNE_CODES = sorted(c.code for c in COMMUNES)
COMMUNE_A, COMMUNE_B = COMMUNE_CODES[0], COMMUNE_CODES[1]
CAPTURED_AT_MS = int(datetime(2025, 9, 1, 8, 30, tzinfo=UTC).timestamp() * 1000)


def device_actor(*, unit_id: int | None = None, scope_keys: frozenset[str] = frozenset()) -> WriteActor:
    """A device of `unit_id` (a real Device row), or the server when unit_id is None."""
    if unit_id is None:
        return WriteActor(device_id=None, officer_id=None, unit_id=None, scope_keys=scope_keys)
    from backend.accounts.models import Device

    device = Device.objects.create(unit_id=unit_id, label="test phone")
    return WriteActor(device_id=str(device.id), officer_id=None, unit_id=unit_id, scope_keys=scope_keys)


def make_person(*, commune: str = COMMUNE_A, full_name: str = "Nguyễn Văn Hòa", pid: str | None = None) -> Person:
    """A person with one permanent residence and one conviction, staged in SyncRows."""
    with sync_transaction() as writer:
        person = Person.objects.create(
            full_name=full_name,
            family_name=full_name.split()[0],
            given_name=full_name.split()[-1],
            sex="M",
            dob_year=1990,
            dob_precision="year",
            personal_id_number=pid,
            primary_commune_code=commune,
            exact_key=exact_key(full_name),
            search_key=search_key(full_name),
            is_synthetic=True,
        )
        residence = Residence.objects.create(
            person=person,
            kind=ResidenceKind.THUONG_TRU,
            province_code="20",
            ward_code=commune,
            valid_from=date(2020, 1, 1),
        )
        record = CriminalRecord.objects.create(
            person=person,
            judgment_no="12/2019/HS-ST",
            judgment_date=date(2019, 5, 2),
            court="TAND tỉnh Lạng Sơn",
            charges=["BLHS2015:249.1"],
            principal_penalty_type=PenaltyType.FIXED_TERM_PRISON,
            principal_penalty_months=24,
        )
        scope = st.scope_of_person(person)
        writer.stage(table=st.PERSONS, record_id=str(person.id), payload=st.serialize_person(person), scope_key=scope)
        writer.stage(
            table=st.RESIDENCES, record_id=str(residence.id), payload=st.serialize_residence(residence), scope_key=scope
        )
        writer.stage(
            table=st.CRIMINAL_RECORDS,
            record_id=str(record.id),
            payload=st.serialize_criminal_record(record),
            scope_key=scope,
        )
    return person


def make_drug_record(*, person: Person, commune: str | None = None) -> DrugUseRecord:
    with sync_transaction() as writer:
        record = DrugUseRecord.objects.create(
            person=person,
            commune_code=commune or person.primary_commune_code,
            measure=DrugMeasure.MANAGEMENT,
            decision_no="05/QĐ-UBND",
            start_date=date(2025, 8, 1),
        )
        writer.stage(
            table=st.DRUG_USE_RECORDS,
            record_id=str(record.id),
            payload=st.serialize_drug_use_record(record),
            scope_key=st.scope_of_drug_use_record(record),
        )
    return record


def make_wanted_notice(*, person: Person | None = None) -> WantedNotice:
    with sync_transaction() as writer:
        notice = WantedNotice.objects.create(
            person=person,
            decision_no="01/QĐ-TN",
            decision_date=date(2025, 3, 3),
            issuing_agency="Cơ quan CSĐT Công an tỉnh Lạng Sơn",
            full_name=person.full_name if person else "Hoàng Văn Lộc",
            charges=["BLHS2015:251"],
            category=WantedCategory.SUSPECT,
            exact_key=exact_key("Hoàng Văn Lộc"),
            search_key=search_key("Hoàng Văn Lộc"),
        )
        writer.stage(
            table=st.WANTED_NOTICES,
            record_id=str(notice.id),
            payload=st.serialize_wanted_notice(notice),
            scope_key=st.scope_of_wanted_notice(notice),
        )
    return notice


def check_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "person_id": None,
        "personal_id_number_seen": "000090123456",
        "full_name_seen": "Nguyễn Văn Hòa",
        "commune_code": COMMUNE_A,
        "location_text": "Cửa khẩu",
        "latitude": 21.85,
        "longitude": 106.76,
        "captured_at": CAPTURED_AT_MS,
        "purpose": "BORDER_CROSSING",
        "result": "NO_HIT",
        "notes": "",
    }
    values.update(overrides)
    return values
