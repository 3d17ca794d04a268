"""Turn `synthetic.SyntheticProvince` rows into registry models and SyncRows, chunk by chunk.

Ids are uuid5 of (seed, synthetic key): the same seed always gives the same ids, so a rebuild with
`--force` resurrects the same records on devices instead of piling up new ones.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import transaction

from backend.core.text import normalize_name, normalize_text
from backend.registry import sync_tables as st
from backend.registry.bulk import bulk_insert, sync_rows_insert_new
from backend.registry.models import (
    CriminalRecord,
    DatePrecision,
    DrugRecordStatus,
    DrugUseRecord,
    ManagementStatus,
    Person,
    Residence,
    WantedNotice,
)
from backend.registry.synthetic import (
    SOURCE_REGISTRY,
    SyntheticConviction,
    SyntheticDrugRecord,
    SyntheticPerson,
    SyntheticProvince,
    SyntheticResidence,
    SyntheticWantedNotice,
)

_NAMESPACE = uuid.UUID("6f1c7d7e-2b1e-4c55-9a61-0f5a3e8d2c10")
_BATCH = 1000


class SeedMapper:
    """Holds a generated province grouped by person, and writes it one chunk of persons at a time."""

    def __init__(self, province: SyntheticProvince) -> None:
        self.seed = province.seed
        self.persons: Sequence[SyntheticPerson] = province.persons
        self.residences: dict[str, list[SyntheticResidence]] = defaultdict(list)
        self.convictions: dict[str, list[SyntheticConviction]] = defaultdict(list)
        self.drug_records: dict[str, list[SyntheticDrugRecord]] = defaultdict(list)
        self.wanted: dict[str, list[SyntheticWantedNotice]] = defaultdict(list)
        for residence in province.residences:
            self.residences[residence.person_key].append(residence)
        for conviction in province.convictions:
            self.convictions[conviction.person_key].append(conviction)
        for drug in province.drug_records:
            self.drug_records[drug.person_key].append(drug)
        for notice in province.wanted_notices:
            self.wanted[notice.person_key].append(notice)

    def id_for(self, key: str) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{self.seed}:{key}")

    def write_chunk(self, chunk: Sequence[SyntheticPerson]) -> dict[str, int]:
        """Insert the chunk's persons and everything hanging off them, and their SyncRows at one seq.

        Runs in its own atomic block (one sync transaction per chunk, so pulls page between chunks).
        """
        persons = [self._person(p) for p in chunk]
        by_key = {p.key: person for p, person in zip(chunk, persons, strict=True)}
        residences = [self._residence(r, by_key[r.person_key]) for p in chunk for r in self.residences[p.key]]
        convictions = [self._conviction(c, by_key[c.person_key]) for p in chunk for c in self.convictions[p.key]]
        drugs = [self._drug(d, by_key[d.person_key]) for p in chunk for d in self.drug_records[p.key]]
        notices = [self._notice(w, by_key[w.person_key]) for p in chunk for w in self.wanted[p.key]]
        person_scope = {person.id: st.scope_of_person(person) for person in persons}
        staged: list[tuple[str, str, dict[str, Any], str]] = []
        staged += [(st.PERSONS, str(p.id), st.serialize_person(p), person_scope[p.id]) for p in persons]
        staged += [(st.RESIDENCES, str(r.id), st.serialize_residence(r), person_scope[r.person_id]) for r in residences]
        staged += [
            (st.CRIMINAL_RECORDS, str(c.id), st.serialize_criminal_record(c), person_scope[c.person_id])
            for c in convictions
        ]
        staged += [
            (st.DRUG_USE_RECORDS, str(d.id), st.serialize_drug_use_record(d), st.scope_of_drug_use_record(d))
            for d in drugs
        ]
        staged += [
            (st.WANTED_NOTICES, str(w.id), st.serialize_wanted_notice(w), st.scope_of_wanted_notice(w)) for w in notices
        ]
        with transaction.atomic():
            bulk_insert(Person, persons)
            bulk_insert(Residence, residences)
            bulk_insert(CriminalRecord, convictions)
            bulk_insert(DrugUseRecord, drugs)
            bulk_insert(WantedNotice, notices)
            sync_rows_insert_new(staged)
        return {
            st.PERSONS: len(persons),
            st.RESIDENCES: len(residences),
            st.CRIMINAL_RECORDS: len(convictions),
            st.DRUG_USE_RECORDS: len(drugs),
            st.WANTED_NOTICES: len(notices),
        }

    # --- row builders ---------------------------------------------------------------------------

    def _person(self, p: SyntheticPerson) -> Person:
        full_name = normalize_name(p.full_name)
        exact, search = st.person_keys(full_name)
        has_active_drug_record = any(d.status == "active" for d in self.drug_records[p.key])
        return Person(
            id=self.id_for(p.key),
            full_name=full_name,
            family_name=normalize_name(p.family_name),
            middle_name=normalize_name(p.middle_name),
            given_name=normalize_name(p.given_name),
            aliases=[normalize_name(a) for a in p.aliases],
            sex=p.sex,
            dob_year=p.dob_year,
            dob_month=p.dob_month,
            dob_day=p.dob_day,
            dob_precision=DatePrecision(p.dob_precision),
            personal_id_number=p.personal_id_number,
            ethnicity=p.ethnicity,
            native_place=normalize_text(p.native_place),
            father_name=normalize_name(p.father_name),
            mother_name=normalize_name(p.mother_name),
            identifying_marks=normalize_text(p.identifying_marks),
            height_cm=p.height_cm,
            primary_commune_code=p.primary_commune_code,
            exact_key=exact,
            search_key=search,
            is_synthetic=True,
            source=p.source_system,
            data_quality={"flags": list(p.data_quality), "synthetic_key": p.key},
            management_status=ManagementStatus.DRUG_MANAGEMENT if has_active_drug_record else ManagementStatus.NONE,
        )

    def _residence(self, r: SyntheticResidence, person: Person) -> Residence:
        return Residence(
            id=self.id_for(r.key),
            person=person,
            kind=r.kind,
            province_code=r.province_code,
            ward_code=r.ward_code,
            village_or_street=normalize_text(r.village_or_street),
            address_text_as_recorded=normalize_text(r.address_text_as_recorded),
            admin_code_version=r.admin_code_version,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            # An address still in its pre-2025 form keeps the old code as the registry records it
            # ("registry:<code>", as the bridge stores it), so a bridge run compares like with like.
            source=f"registry:{r.pre2025_ward_code}"
            if r.admin_code_version == "pre2025" and r.source == SOURCE_REGISTRY
            else r.source,
        )

    def _conviction(self, c: SyntheticConviction, person: Person) -> CriminalRecord:
        return CriminalRecord(
            id=self.id_for(c.key),
            person=person,
            judgment_no=c.judgment_no,
            judgment_date=c.judgment_date,
            court=c.court,
            charges=list(c.charges),
            principal_penalty_type=c.principal_penalty_type,
            principal_penalty_months=c.principal_penalty_months,
            probation_months=c.probation_months,
            fine_vnd=c.fine_vnd,
            additional_penalties=list(c.additional_penalties),
            civil_obligations=c.civil_obligations,
            enforcement_status=c.enforcement_status,
            completion_date=c.completion_date,
            expunged=c.expunged,
            expunged_date=c.expunged_date,
            expunction_basis=c.expunction_basis,
            source=c.source,
        )

    def _drug(self, d: SyntheticDrugRecord, person: Person) -> DrugUseRecord:
        return DrugUseRecord(
            id=self.id_for(d.key),
            person=person,
            commune_code=d.commune_code,
            measure=d.measure,
            decision_no=d.decision_no,
            decision_date=d.decision_date,
            deciding_authority=d.deciding_authority,
            start_date=d.start_date,
            end_date=d.end_date,
            status=DrugRecordStatus(d.status),
            is_synthetic=True,
        )

    def _notice(self, w: SyntheticWantedNotice, person: Person) -> WantedNotice:
        full_name = normalize_name(w.full_name)
        exact, search = st.person_keys(full_name)
        return WantedNotice(
            id=self.id_for(w.key),
            person=person,
            decision_no=w.decision_no,
            decision_date=w.decision_date,
            place=w.place,
            issuing_agency=w.issuing_agency,
            signer_name=w.signer_name,
            signer_position=w.signer_position,
            legal_basis=w.legal_basis,
            agency_contact=w.agency_contact,
            full_name=full_name,
            sex=w.sex,
            dob_year=w.dob_year,
            dob_month=w.dob_month,
            dob_day=w.dob_day,
            aliases=[normalize_name(a) for a in w.aliases],
            father_name=normalize_name(w.father_name),
            mother_name=normalize_name(w.mother_name),
            residence_text=normalize_text(w.residence_text),
            identifying_marks=normalize_text(w.identifying_marks),
            charges=list(w.charges),
            category=w.category,
            wanted_type=w.wanted_type,
            status=w.status,
            rescission_decision_no=w.rescission_decision_no,
            rescission_date=w.rescission_date,
            rescission_reason=w.rescission_reason,
            exact_key=exact,
            search_key=search,
            is_synthetic=True,
        )


_HANDBOOK_CHARGES = ("BLHS2015:251.1", "BLHS2015:250.2", "BLHS2015:150.1", "BLHS2015:188.3", "BLHS2015:348.1")


def wanted_notice_for_person(person: Person, *, rng: random.Random, category: str, wanted_type: str) -> WantedNotice:
    """A new (unsaved) wanted notice whose identity snapshot is `person`'s (demo handbook)."""
    residence = person.residences.filter(valid_to__isnull=True).order_by("kind").first()
    charges = [c for record in person.criminal_records.all() for c in record.charges][:2] or [
        rng.choice(_HANDBOOK_CHARGES)
    ]
    decided = date(2019, 1, 1).toordinal() + rng.randrange(0, 6 * 365)
    number = rng.randrange(1, 400)
    decision_date = date.fromordinal(decided)
    return WantedNotice(
        person=person,
        decision_no=f"{number}/QĐTN-CSĐT",
        decision_date=decision_date,
        place="Lạng Sơn",
        issuing_agency="Cơ quan Cảnh sát điều tra Công an tỉnh Lạng Sơn",
        signer_name="(dữ liệu tổng hợp)",
        signer_position="Thủ trưởng Cơ quan Cảnh sát điều tra",
        legal_basis=f"Quyết định khởi tố bị can số {number}/QĐ-CSĐT ngày {decision_date:%d/%m/%Y} (dữ liệu tổng hợp)",
        agency_contact="Cơ quan Cảnh sát điều tra Công an tỉnh Lạng Sơn (dữ liệu tổng hợp)",
        full_name=person.full_name,
        sex=person.sex,
        dob_year=person.dob_year,
        dob_month=person.dob_month,
        dob_day=person.dob_day,
        aliases=list(person.aliases),
        father_name=person.father_name,
        mother_name=person.mother_name,
        residence_text=residence.address_text_as_recorded if residence else "",
        identifying_marks=person.identifying_marks,
        charges=charges,
        category=category,
        wanted_type=wanted_type,
        exact_key=person.exact_key,
        search_key=person.search_key,
        is_synthetic=True,
    )
