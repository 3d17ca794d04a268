"""Server-side registry writes (console, registry bridge, tests). Every write goes through
`sync_transaction`, so devices learn of it on their next pull, at one new sequence number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from backend.core.errors import DomainError, NotFound
from backend.core.text import normalize_name, normalize_text
from backend.registry import sync_tables as st
from backend.registry.communes import PROVINCE_CODE, is_known_commune
from backend.registry.models import (
    AdminCodeVersion,
    DrugRecordStatus,
    DrugUseRecord,
    ManagementStatus,
    Person,
    PhotoLink,
    RescissionReason,
    Residence,
    ResidenceKind,
    WantedNotice,
    WantedStatus,
)
from mobile_contract.errors import ErrorCode
from sync.writer import SyncWriter, sync_transaction


class RegistryValueInvalid(DomainError):
    code = ErrorCode.VALIDATION_ERROR
    http_status = 422
    default_message = "The value is not valid."


class PersonNotFound(NotFound):
    code = ErrorCode.PERSON_NOT_FOUND
    default_message = "No such person."


_PERSON_NAME_FIELDS = frozenset({"full_name", "family_name", "middle_name", "given_name", "father_name", "mother_name"})
_PERSON_TEXT_FIELDS = frozenset({"ethnicity", "native_place", "identifying_marks", "notes"})
_PERSON_OTHER_FIELDS = frozenset(
    {
        "aliases",
        "sex",
        "dob_year",
        "dob_month",
        "dob_day",
        "dob_precision",
        "personal_id_number",
        "height_cm",
        "management_status",
    }
)
PERSON_UPDATABLE_FIELDS = _PERSON_NAME_FIELDS | _PERSON_TEXT_FIELDS | _PERSON_OTHER_FIELDS


def stage_person_tree(*, writer: SyncWriter, person: Person) -> None:
    """Restage a person with its residences and convictions (their scope follows the person)."""
    scope = st.scope_of_person(person)
    writer.stage(table=st.PERSONS, record_id=str(person.id), payload=st.serialize_person(person), scope_key=scope)
    for residence in person.residences.all():
        writer.stage(
            table=st.RESIDENCES,
            record_id=str(residence.id),
            payload=st.serialize_residence(residence),
            scope_key=st.scope_of_residence(residence, person=person),
        )
    for record in person.criminal_records.all():
        writer.stage(
            table=st.CRIMINAL_RECORDS,
            record_id=str(record.id),
            payload=st.serialize_criminal_record(record),
            scope_key=st.scope_of_criminal_record(record, person=person),
        )
    for photo in PhotoLink.objects.filter(record_table=st.PERSONS, record_id=str(person.id)):
        writer.stage(table=st.PHOTOS, record_id=str(photo.id), payload=st.serialize_photo(photo), scope_key=scope)


def _person_locked(person_id: uuid.UUID | str) -> Person:
    person = Person.objects.select_for_update().filter(pk=person_id).first()
    if person is None:
        raise PersonNotFound(details={"person_id": str(person_id)})
    return person


def person_update(*, person_id: uuid.UUID | str, changes: dict[str, object], writer_name: str = "server") -> Person:
    """Change person fields (registry or console edit); text NFC-normalised, keys recomputed.

    Raises PersonNotFound, RegistryValueInvalid (unknown field or bad value). Idempotent: the same
    changes twice leave the same row (the second stage changes no field version).
    """
    unknown = set(changes) - PERSON_UPDATABLE_FIELDS
    if unknown:
        raise RegistryValueInvalid("unknown person fields", details={"fields": sorted(unknown)})
    with sync_transaction() as writer:
        person = _person_locked(person_id)
        for name, value in changes.items():
            if name in _PERSON_NAME_FIELDS:
                value = normalize_name(str(value or ""))
            elif name in _PERSON_TEXT_FIELDS:
                value = normalize_text(str(value or ""))
            elif name == "management_status" and value not in ManagementStatus.values:
                raise RegistryValueInvalid("unknown management status", details={"value": value})
            setattr(person, name, value)
        if "full_name" in changes:
            person.exact_key, person.search_key = st.person_keys(person.full_name)
        fields = set(changes) | ({"exact_key", "search_key"} if "full_name" in changes else set())
        person.save(update_fields=sorted(fields | {"updated_at"}))
        writer.stage(
            table=st.PERSONS,
            record_id=str(person.id),
            payload=st.serialize_person(person),
            scope_key=st.scope_of_person(person),
            changed_fields=sorted(fields),
            writer=writer_name,
        )
    return person


def wanted_notice_rescind(
    *, notice_id: uuid.UUID | str, decision_no: str, rescission_date: date, reason: str
) -> WantedNotice:
    """Rescind (đình nã) a wanted notice: it leaves the handbook, so every device gets a delete.

    Raises NotFound, RegistryValueInvalid. Idempotent for an already rescinded notice (no change).
    """
    if reason not in RescissionReason.values or not reason:
        raise RegistryValueInvalid("unknown rescission reason", details={"value": reason})
    with sync_transaction() as writer:
        notice = WantedNotice.objects.select_for_update().filter(pk=notice_id).first()
        if notice is None:
            raise NotFound(details={"notice_id": str(notice_id)})
        if notice.status == WantedStatus.RESCINDED:
            return notice
        notice.status = WantedStatus.RESCINDED
        notice.rescission_decision_no = normalize_text(decision_no)
        notice.rescission_date = rescission_date
        notice.rescission_reason = reason
        fields = ["status", "rescission_decision_no", "rescission_date", "rescission_reason"]
        notice.save(update_fields=[*fields, "updated_at"])
        scope = st.scope_of_wanted_notice(notice)
        writer.stage(
            table=st.WANTED_NOTICES,
            record_id=str(notice.id),
            payload=st.serialize_wanted_notice(notice),
            scope_key=scope,
            changed_fields=fields,
        )
        for photo in PhotoLink.objects.filter(record_table=st.WANTED_NOTICES, record_id=str(notice.id)):
            writer.stage(table=st.PHOTOS, record_id=str(photo.id), payload=st.serialize_photo(photo), scope_key=scope)
    return notice


def drug_record_end(*, record_id: uuid.UUID | str, end_date: date) -> DrugUseRecord:
    """End a management period: the record stays on the server (art. 256a needs the interval) but
    leaves device scope (staged under "archived", so devices get a delete).

    Raises NotFound, RegistryValueInvalid (end before start). Idempotent for an ended record.
    """
    with sync_transaction() as writer:
        record = DrugUseRecord.objects.select_for_update().filter(pk=record_id).first()
        if record is None:
            raise NotFound(details={"record_id": str(record_id)})
        if record.status == DrugRecordStatus.ENDED:
            return record
        if end_date < record.start_date:
            raise RegistryValueInvalid("end_date is before start_date", details={"end_date": end_date.isoformat()})
        record.status = DrugRecordStatus.ENDED
        record.end_date = end_date
        record.save(update_fields=["status", "end_date", "updated_at"])
        writer.stage(
            table=st.DRUG_USE_RECORDS,
            record_id=str(record.id),
            payload=st.serialize_drug_use_record(record),
            scope_key=st.scope_of_drug_use_record(record),
            changed_fields=["status", "end_date"],
        )
    return record


def residence_move(
    *,
    person_id: uuid.UUID | str,
    ward_code: str,
    village_or_street: str = "",
    address_text: str = "",
    moved_on: date,
    kind: str = ResidenceKind.THUONG_TRU,
    residence_id: uuid.UUID | None = None,
) -> Residence:
    """Move a person to another commune: the open residence of `kind` is closed on `moved_on`, a new one
    opens, the primary commune changes, and the person's tree (residences, convictions, photos) and
    active drug-use records follow to the new commune. Devices of the old commune get deletes.

    Raises PersonNotFound, RegistryValueInvalid (unknown commune or kind). Not idempotent (each
    call opens a residence) unless `residence_id` is given: a repeat with the same id is a no-op.
    """
    if not is_known_commune(ward_code):
        raise RegistryValueInvalid("unknown commune code", details={"ward_code": ward_code})
    if kind not in ResidenceKind.values:
        raise RegistryValueInvalid("unknown residence kind", details={"kind": kind})
    with sync_transaction() as writer:
        person = _person_locked(person_id)
        if residence_id is not None:
            existing = Residence.objects.filter(pk=residence_id).first()
            if existing is not None:
                return existing
        open_rows: Iterable[Residence] = person.residences.select_for_update().filter(
            kind=kind, valid_to__isnull=True, is_archived=False
        )
        for old in open_rows:
            old.valid_to = moved_on
            old.save(update_fields=["valid_to", "updated_at"])
        residence = Residence.objects.create(
            id=residence_id or uuid.uuid4(),
            person=person,
            kind=kind,
            province_code=PROVINCE_CODE,
            ward_code=ward_code,
            village_or_street=normalize_text(village_or_street),
            address_text_as_recorded=normalize_text(address_text),
            admin_code_version=AdminCodeVersion.V2025,
            valid_from=moved_on,
            source="registry",
        )
        if person.primary_commune_code != ward_code:
            person.primary_commune_code = ward_code
            person.save(update_fields=["primary_commune_code", "updated_at"])
            for record in person.drug_use_records.select_for_update().filter(status=DrugRecordStatus.ACTIVE):
                record.commune_code = ward_code
                record.save(update_fields=["commune_code", "updated_at"])
                writer.stage(
                    table=st.DRUG_USE_RECORDS,
                    record_id=str(record.id),
                    payload=st.serialize_drug_use_record(record),
                    scope_key=st.scope_of_drug_use_record(record),
                    changed_fields=["commune_code"],
                )
        stage_person_tree(writer=writer, person=person)
    return residence
