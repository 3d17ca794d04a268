"""Registry tables as the sync engine and the phones see them.

Wire conventions (WatermelonDB has only string / number / boolean):
* snake_case columns; foreign keys as `<name>_id` (UUID strings; officer/unit ids as numbers);
* dates as ISO `YYYY-MM-DD` strings, datetimes as integer epoch milliseconds;
* lists (aliases, charges, photo hashes) as JSON-encoded strings.

Policies (DESIGN §3 invariant 4): registry identity fields are AUTHORITATIVE, field observations
(notes, identifying marks) APPEND, field statuses and addresses MERGE, legally significant fields
(convictions, wanted status, drug measures and dates) REVIEW, derived values SERVER.

Device writes: `checks` and `photos` (create, update, delete = archive); `persons` (update notes,
management status, identifying marks); `residences` (create; update address fields);
`drug_use_records` (update: notes, and the REVIEW fields the engine lets through).
`wanted_notices` and `criminal_records` are read-only for devices.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import orjson
from django.db import models, transaction
from django.utils import timezone

from backend.core.bulk import bulk_update_fields, parse_uuid
from backend.core.text import exact_key, normalize_multiline_text, normalize_name, normalize_text, search_key
from backend.registry import scopes
from backend.registry.communes import is_known_commune
from backend.registry.models import (
    AdminCodeVersion,
    Check,
    CheckPurpose,
    CheckResult,
    CriminalRecord,
    DrugMeasure,
    DrugRecordStatus,
    DrugUseRecord,
    ManagementStatus,
    Person,
    PhotoKind,
    PhotoLink,
    Residence,
    ResidenceKind,
    WantedNotice,
    WantedStatus,
)
from mobile_contract.errors import ErrorCode
from sync.bulk import bulk_insert
from sync.errors import RecordRejected
from sync.registry import (
    AppliedRecord,
    ApplyItem,
    Column,
    ColumnType,
    FieldPolicy,
    SyncedTable,
    WriteActor,
    register_scope_resolver,
    register_table,
)
from sync.writer import sync_transaction

S, N, B = ColumnType.STRING, ColumnType.NUMBER, ColumnType.BOOLEAN
AUTH, MERGE, APPEND, REVIEW, SERVER = (
    FieldPolicy.AUTHORITATIVE,
    FieldPolicy.MERGE,
    FieldPolicy.APPEND,
    FieldPolicy.REVIEW,
    FieldPolicy.SERVER,
)

PERSONS, RESIDENCES, CRIMINAL_RECORDS = "persons", "residences", "criminal_records"
WANTED_NOTICES, DRUG_USE_RECORDS, CHECKS, PHOTOS = "wanted_notices", "drug_use_records", "checks", "photos"

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Device clocks are data, but a value outside this window is a broken clock or a unit mistake (s vs ms).
MIN_CAPTURED_AT_MS = 946_684_800_000  # 2000-01-01
MAX_CAPTURED_AT_MS = 4_102_444_800_000  # 2100-01-01


# Free-text columns whose line breaks are the officer's (and the append policy's): kept as LF.
_MULTILINE_COLUMNS = frozenset({"notes"})


def _c(name: str, type_: ColumnType, policy: FieldPolicy, *, indexed: bool = False) -> Column:
    return Column(
        name=name, type=type_, policy=policy, is_indexed=indexed, is_multiline=type_ is S and name in _MULTILINE_COLUMNS
    )


PERSON_COLUMNS = (
    _c("full_name", S, AUTH),
    _c("family_name", S, AUTH),
    _c("middle_name", S, AUTH),
    _c("given_name", S, AUTH),
    _c("aliases", S, AUTH),
    _c("sex", S, AUTH),
    _c("dob_year", N, AUTH),
    _c("dob_month", N, AUTH),
    _c("dob_day", N, AUTH),
    _c("dob_precision", S, AUTH),
    _c("personal_id_number", S, AUTH, indexed=True),
    _c("ethnicity", S, AUTH),
    _c("native_place", S, AUTH),
    _c("father_name", S, AUTH),
    _c("mother_name", S, AUTH),
    _c("height_cm", N, AUTH),
    _c("primary_commune_code", S, AUTH, indexed=True),
    _c("identifying_marks", S, APPEND),
    _c("notes", S, APPEND),
    _c("management_status", S, MERGE),
    _c("exact_key", S, SERVER, indexed=True),
    _c("search_key", S, SERVER, indexed=True),
    _c("is_synthetic", B, SERVER),
    _c("source", S, SERVER),
)

RESIDENCE_COLUMNS = (
    _c("person_id", S, AUTH, indexed=True),
    _c("kind", S, MERGE),
    _c("province_code", S, MERGE),
    _c("ward_code", S, MERGE),
    _c("village_or_street", S, MERGE),
    _c("address_text_as_recorded", S, MERGE),
    _c("admin_code_version", S, MERGE),
    _c("valid_from", S, MERGE),
    _c("valid_to", S, MERGE),
    _c("source", S, SERVER),
)

CRIMINAL_RECORD_COLUMNS = (
    _c("person_id", S, AUTH, indexed=True),
    _c("judgment_no", S, REVIEW),
    _c("judgment_date", S, REVIEW),
    _c("court", S, REVIEW),
    _c("charges", S, REVIEW),
    _c("principal_penalty_type", S, REVIEW),
    _c("principal_penalty_months", N, REVIEW),
    _c("probation_months", N, REVIEW),
    _c("fine_vnd", N, REVIEW),
    _c("additional_penalties", S, REVIEW),
    _c("civil_obligations", S, REVIEW),
    _c("enforcement_status", S, REVIEW),
    _c("completion_date", S, REVIEW),
    _c("expunged", B, REVIEW),
    _c("expunged_date", S, REVIEW),
    _c("expunction_basis", S, REVIEW),
    _c("source", S, SERVER),
)

WANTED_NOTICE_COLUMNS = (
    _c("person_id", S, AUTH, indexed=True),
    _c("decision_no", S, AUTH),
    _c("decision_date", S, AUTH),
    _c("place", S, AUTH),
    _c("issuing_agency", S, AUTH),
    _c("signer_name", S, AUTH),
    _c("signer_position", S, AUTH),
    _c("legal_basis", S, AUTH),
    _c("agency_contact", S, AUTH),
    _c("full_name", S, AUTH),
    _c("sex", S, AUTH),
    _c("dob_year", N, AUTH),
    _c("dob_month", N, AUTH),
    _c("dob_day", N, AUTH),
    _c("aliases", S, AUTH),
    _c("father_name", S, AUTH),
    _c("mother_name", S, AUTH),
    _c("residence_text", S, AUTH),
    _c("identifying_marks", S, AUTH),
    _c("charges", S, REVIEW),
    _c("category", S, REVIEW),
    _c("wanted_type", S, REVIEW),
    _c("status", S, REVIEW),
    _c("rescission_decision_no", S, REVIEW),
    _c("rescission_date", S, REVIEW),
    _c("rescission_reason", S, REVIEW),
    _c("photo_sha256", S, SERVER),
    _c("exact_key", S, SERVER, indexed=True),
    _c("search_key", S, SERVER, indexed=True),
    _c("is_synthetic", B, SERVER),
)

DRUG_USE_RECORD_COLUMNS = (
    _c("person_id", S, AUTH, indexed=True),
    _c("commune_code", S, REVIEW),
    _c("measure", S, REVIEW),
    _c("decision_no", S, REVIEW),
    _c("decision_date", S, REVIEW),
    _c("deciding_authority", S, REVIEW),
    _c("start_date", S, REVIEW),
    _c("end_date", S, REVIEW),
    _c("status", S, REVIEW),
    _c("notes", S, APPEND),
)

CHECK_COLUMNS = (
    _c("person_id", S, MERGE, indexed=True),
    _c("personal_id_number_seen", S, MERGE),
    _c("full_name_seen", S, MERGE),
    _c("commune_code", S, MERGE),
    _c("location_text", S, MERGE),
    _c("latitude", N, MERGE),
    _c("longitude", N, MERGE),
    _c("captured_at", N, MERGE),
    _c("purpose", S, MERGE),
    _c("result", S, MERGE),
    _c("notes", S, APPEND),
    _c("officer_id", N, SERVER),
    _c("device_id", S, SERVER),
    _c("unit_id", N, SERVER),
)

PHOTO_COLUMNS = (
    _c("record_table", S, AUTH),
    _c("record_id", S, AUTH, indexed=True),
    _c("sha256", S, AUTH, indexed=True),
    _c("captured_at", N, MERGE),
    _c("kind", S, MERGE),
    _c("is_uploaded", B, SERVER),
)

# --- wire conversions ------------------------------------------------------------------------


def date_to_wire(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def datetime_to_wire(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def json_to_wire(value: Any) -> str:
    return orjson.dumps(value if value is not None else []).decode()


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


# --- serializers (the exact payload of every SyncRow; reused by seeding and services) ---------


def serialize_person(p: Person) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "full_name": p.full_name,
        "family_name": p.family_name,
        "middle_name": p.middle_name,
        "given_name": p.given_name,
        "aliases": json_to_wire(p.aliases),
        "sex": p.sex,
        "dob_year": p.dob_year,
        "dob_month": p.dob_month,
        "dob_day": p.dob_day,
        "dob_precision": p.dob_precision,
        "personal_id_number": p.personal_id_number,
        "ethnicity": p.ethnicity,
        "native_place": p.native_place,
        "father_name": p.father_name,
        "mother_name": p.mother_name,
        "height_cm": p.height_cm,
        "primary_commune_code": p.primary_commune_code,
        "identifying_marks": p.identifying_marks,
        "notes": p.notes,
        "management_status": p.management_status,
        "exact_key": p.exact_key,
        "search_key": p.search_key,
        "is_synthetic": p.is_synthetic,
        "source": p.source,
    }


def serialize_residence(r: Residence) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "person_id": str(r.person_id),
        "kind": r.kind,
        "province_code": r.province_code,
        "ward_code": r.ward_code,
        "village_or_street": r.village_or_street,
        "address_text_as_recorded": r.address_text_as_recorded,
        "admin_code_version": r.admin_code_version,
        "valid_from": date_to_wire(r.valid_from),
        "valid_to": date_to_wire(r.valid_to),
        "source": r.source,
    }


def serialize_criminal_record(c: CriminalRecord) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "person_id": str(c.person_id),
        "judgment_no": c.judgment_no,
        "judgment_date": date_to_wire(c.judgment_date),
        "court": c.court,
        "charges": json_to_wire(c.charges),
        "principal_penalty_type": c.principal_penalty_type,
        "principal_penalty_months": c.principal_penalty_months,
        "probation_months": c.probation_months,
        "fine_vnd": c.fine_vnd,
        "additional_penalties": json_to_wire(c.additional_penalties),
        "civil_obligations": c.civil_obligations,
        "enforcement_status": c.enforcement_status,
        "completion_date": date_to_wire(c.completion_date),
        "expunged": c.expunged,
        "expunged_date": date_to_wire(c.expunged_date),
        "expunction_basis": c.expunction_basis,
        "source": c.source,
    }


def serialize_wanted_notice(w: WantedNotice) -> dict[str, Any]:
    return {
        "id": str(w.id),
        "person_id": _id(w.person_id),
        "decision_no": w.decision_no,
        "decision_date": date_to_wire(w.decision_date),
        "place": w.place,
        "issuing_agency": w.issuing_agency,
        "signer_name": w.signer_name,
        "signer_position": w.signer_position,
        "legal_basis": w.legal_basis,
        "agency_contact": w.agency_contact,
        "full_name": w.full_name,
        "sex": w.sex,
        "dob_year": w.dob_year,
        "dob_month": w.dob_month,
        "dob_day": w.dob_day,
        "aliases": json_to_wire(w.aliases),
        "father_name": w.father_name,
        "mother_name": w.mother_name,
        "residence_text": w.residence_text,
        "identifying_marks": w.identifying_marks,
        "charges": json_to_wire(w.charges),
        "category": w.category,
        "wanted_type": w.wanted_type,
        "status": w.status,
        "rescission_decision_no": w.rescission_decision_no,
        "rescission_date": date_to_wire(w.rescission_date),
        "rescission_reason": w.rescission_reason,
        "photo_sha256": json_to_wire(w.photo_sha256),
        "exact_key": w.exact_key,
        "search_key": w.search_key,
        "is_synthetic": w.is_synthetic,
    }


def serialize_drug_use_record(d: DrugUseRecord) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "person_id": str(d.person_id),
        "commune_code": d.commune_code,
        "measure": d.measure,
        "decision_no": d.decision_no,
        "decision_date": date_to_wire(d.decision_date),
        "deciding_authority": d.deciding_authority,
        "start_date": date_to_wire(d.start_date),
        "end_date": date_to_wire(d.end_date),
        "status": d.status,
        "notes": d.notes,
    }


def serialize_check(c: Check) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "person_id": _id(c.person_id),
        "personal_id_number_seen": c.personal_id_number_seen,
        "full_name_seen": c.full_name_seen,
        "commune_code": c.commune_code,
        "location_text": c.location_text,
        "latitude": c.latitude,
        "longitude": c.longitude,
        "captured_at": datetime_to_wire(c.captured_at),
        "purpose": c.purpose,
        "result": c.result,
        "notes": c.notes,
        "officer_id": c.officer_id,
        "device_id": _id(c.device_id),
        "unit_id": c.unit_id,
    }


def serialize_photo(p: PhotoLink) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "record_table": p.record_table,
        "record_id": p.record_id,
        "sha256": p.sha256,
        "captured_at": datetime_to_wire(p.captured_at),
        "kind": p.kind,
        "is_uploaded": p.is_uploaded,
    }


# --- scopes ------------------------------------------------------------------------------------


def scope_of_person(p: Person) -> str:
    return _person_scope(primary_commune_code=p.primary_commune_code, is_archived=p.is_archived)


def _person_scope(*, primary_commune_code: str, is_archived: bool) -> str:
    return scopes.ARCHIVED if is_archived else scopes.commune_scope(primary_commune_code)


def scope_of_residence(r: Residence, *, person: Person | None = None) -> str:
    if r.is_archived:
        return scopes.ARCHIVED
    return scope_of_person(person or r.person)


def scope_of_criminal_record(c: CriminalRecord, *, person: Person | None = None) -> str:
    if c.is_archived:
        return scopes.ARCHIVED
    return scope_of_person(person or c.person)


def scope_of_wanted_notice(w: WantedNotice) -> str:
    """Active notices are the province-wide handbook; a rescinded notice leaves every device."""
    if w.is_archived or w.status != WantedStatus.ACTIVE:
        return scopes.ARCHIVED
    return scopes.PROVINCE


def scope_of_drug_use_record(d: DrugUseRecord) -> str:
    """An ended management period leaves device scope; the record stays on the server."""
    if d.status != DrugRecordStatus.ACTIVE:
        return scopes.ARCHIVED
    return scopes.commune_drug_scope(d.commune_code)


def scope_of_check(c: Check) -> str:
    return scopes.ARCHIVED if c.is_archived else scopes.unit_scope(c.unit_id)


def scope_of_photo(p: PhotoLink) -> str:
    """A photo goes where the record it shows goes."""
    if p.is_archived:
        return scopes.ARCHIVED
    return _scope_of_linked_photo(p, _photo_linked_records([p]).get((p.record_table, p.record_id)))


def _photo_linked_records(photos: Sequence[PhotoLink]) -> dict[tuple[str, str], models.Model]:
    """The records photos show, by (record_table, record_id): one query per table linked."""
    models_by_table: dict[str, tuple[type[models.Model], tuple[str, ...]]] = {
        CHECKS: (Check, ("unit_id", "is_archived")),
        PERSONS: (Person, ("primary_commune_code", "is_archived")),
        WANTED_NOTICES: (WantedNotice, ("status", "is_archived")),
    }
    wanted: dict[str, set[uuid.UUID]] = {}
    for p in photos:
        if p.is_archived or p.record_table not in models_by_table:
            continue
        wanted.setdefault(p.record_table, set()).update(_uuid_list(p.record_id))
    found: dict[tuple[str, str], models.Model] = {}
    for table, ids in wanted.items():
        model, fields = models_by_table[table]
        for instance in _in_chunks(model._default_manager.only(*fields), sorted(ids)):
            found[(table, str(instance.pk))] = instance
    # A photo names its record as sent (any UUID spelling): look it up by the canonical form too.
    return {
        (p.record_table, p.record_id): found[(p.record_table, str(parsed))]
        for p in photos
        if (parsed := _uuid_or_none(p.record_id)) is not None and (p.record_table, str(parsed)) in found
    }


def _scope_of_linked_photo(p: PhotoLink, linked: models.Model | None) -> str:
    if p.is_archived:
        return scopes.ARCHIVED
    if p.record_table == CHECKS:
        if isinstance(linked, Check):
            return scope_of_check(linked)
        # The check has not arrived yet (photos may be pushed before their record): the
        # creating unit's scope, which is where the check will live.
        return scopes.unit_scope(p.unit_id) if p.unit_id is not None else scopes.ARCHIVED
    if p.record_table == PERSONS:
        return scope_of_person(linked) if isinstance(linked, Person) else scopes.ARCHIVED
    if p.record_table == WANTED_NOTICES:
        return scope_of_wanted_notice(linked) if isinstance(linked, WantedNotice) else scopes.ARCHIVED
    return scopes.ARCHIVED


# --- validation helpers ----------------------------------------------------------------------


def _reject(message: str, **details: Any) -> RecordRejected:
    return RecordRejected(message, details=details)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return parse_uuid(value) if isinstance(value, str) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _uuid_list(value: Any) -> list[uuid.UUID]:
    """[the UUID] or [] — for lookups that must find nothing when the id is malformed."""
    parsed = _uuid_or_none(value)
    return [parsed] if parsed is not None else []


def _record_uuid(record_id: str) -> uuid.UUID:
    """The UUID a record id spells, in its one canonical spelling (lower case, hyphenated).

    Any other spelling (upper case, no hyphens) would name an existing row under a second SyncRow
    id, and the device would hold the record twice; so it is refused like a malformed id.
    """
    parsed = _uuid_or_none(record_id)
    if parsed is None or str(parsed) != record_id:
        raise RecordRejected(
            "record id must be a UUID in lower case with hyphens",
            code=ErrorCode.SYNC_RECORD_ID_INVALID,
            details={"id": record_id},
        )
    return parsed


def _text(values: Mapping[str, Any], name: str, *, max_length: int) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _reject(f"{name} must be a string", field=name)
    text = normalize_multiline_text(value) if name in _MULTILINE_COLUMNS else normalize_text(value)
    if len(text) > max_length:
        raise _reject(f"{name} is longer than {max_length} characters", field=name)
    return text


@functools.cache
def _allowed(choices: type[models.TextChoices]) -> tuple[frozenset[str], list[str]]:
    allowed = [str(c) for c in choices.values]
    return frozenset(allowed), allowed


def _choice(values: Mapping[str, Any], name: str, choices: type[models.TextChoices]) -> str:
    value = values.get(name)
    allowed, in_order = _allowed(choices)
    if not isinstance(value, str) or value not in allowed:
        raise _reject(f"{name} must be one of {', '.join(a for a in in_order if a)}", field=name, value=value)
    return str(value)


def _wire_date(values: Mapping[str, Any], name: str) -> date | None:
    value = values.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _reject(f"{name} must be a date string YYYY-MM-DD", field=name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _reject(f"{name} must be a date string YYYY-MM-DD", field=name, value=value)


def _wire_datetime(values: Mapping[str, Any], name: str, *, required: bool) -> datetime | None:
    value = values.get(name)
    if value is None:
        if required:
            raise _reject(f"{name} is required (epoch milliseconds)", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject(f"{name} must be epoch milliseconds", field=name)
    if not MIN_CAPTURED_AT_MS <= value < MAX_CAPTURED_AT_MS:
        raise _reject(f"{name} must be epoch milliseconds between 2000 and 2100", field=name, value=value)
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _commune(values: Mapping[str, Any], name: str, *, required: bool) -> str:
    code = _text(values, name, max_length=5)
    if not code:
        if required:
            raise _reject(f"{name} is required", field=name)
        return ""
    if not is_known_commune(code):
        raise _reject(f"{name} {code!r} is not a commune of the province", field=name, value=code)
    return code


def _coordinate(values: Mapping[str, Any], name: str, *, limit: float) -> float | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
        raise _reject(f"{name} must be a number between -{limit:g} and {limit:g}", field=name, value=value)
    return float(value)


def _existing_person(values: Mapping[str, Any], name: str, *, required: bool, actor: WriteActor) -> Person | None:
    raw = values.get(name)
    if raw in (None, ""):
        if required:
            raise _reject(f"{name} is required", field=name)
        return None
    person = _person_in_scope(raw, actor=actor)
    if person is None:
        raise _reject(f"{name} does not name a known person", field=name, value=raw)
    return person


def _existing_person_id(
    values: Mapping[str, Any], name: str, *, required: bool, actor: WriteActor, known: Mapping[uuid.UUID, str]
) -> uuid.UUID | None:
    """`_existing_person` against a batch's prefetch (`_person_scopes_by_id`): the person's id."""
    raw = values.get(name)
    if raw in (None, ""):
        if required:
            raise _reject(f"{name} is required", field=name)
        return None
    person_id = _known_person_in_scope(raw, actor=actor, known=known)
    if person_id is None:
        raise _reject(f"{name} does not name a known person", field=name, value=raw)
    return person_id


def _person_in_scope(raw: Any, *, actor: WriteActor) -> Person | None:
    """The person `raw` names, if the writing device may see it; the server (no device) sees all.

    A person of another scope is answered exactly like a missing one, so that a device cannot
    learn which ids exist outside its scope from how its push is refused.
    """
    person = Person.objects.filter(pk__in=_uuid_list(raw)).first()
    if person is None or (actor.device_id is not None and scope_of_person(person) not in actor.scope_keys):
        return None
    return person


def _known_person_in_scope(raw: Any, *, actor: WriteActor, known: Mapping[uuid.UUID, str]) -> uuid.UUID | None:
    """`_person_in_scope` against a batch's prefetch (scope keys by person id): the person's id."""
    parsed = _uuid_or_none(raw)
    scope_key = known.get(parsed) if parsed is not None else None
    if scope_key is None or (actor.device_id is not None and scope_key not in actor.scope_keys):
        return None
    return parsed


Model = TypeVar("Model", bound=models.Model)


def _load(model: type[Model], record_id: str) -> Model:
    instance = model._default_manager.select_for_update().filter(pk=_record_uuid(record_id)).first()
    if instance is None:
        raise RecordRejected(
            "the record does not exist on the server", code=ErrorCode.NOT_FOUND, details={"id": record_id}
        )
    return instance


def _not_creatable(table: str) -> RecordRejected:
    return RecordRejected(
        f"devices may not create {table} records", code=ErrorCode.SYNC_RECORD_READ_ONLY, details={"table": table}
    )


def _save(instance: models.Model, *, is_new: bool, fields: set[str]) -> None:
    if is_new:
        instance.save(force_insert=True)
    elif fields:
        has_updated_at = any(f.name == "updated_at" for f in instance._meta.get_fields())
        instance.save(update_fields=sorted(fields | ({"updated_at"} if has_updated_at else set())))


def _in_chunks(queryset: models.QuerySet[Model], ids: Sequence[Any], *, size: int = 500) -> Iterator[Model]:
    for start in range(0, len(ids), size):
        yield from queryset.filter(pk__in_list=ids[start : start + size])


def _load_many(model: type[Model], record_ids: Sequence[str]) -> dict[str, Model]:
    """`_load` for a batch: every record locked (in id order), by record id as sent; all must exist."""
    uuids = {record_id: _record_uuid(record_id) for record_id in record_ids}
    queryset = model._default_manager.select_for_update().order_by("pk")
    by_uuid = {instance.pk: instance for instance in _in_chunks(queryset, sorted(set(uuids.values())))}
    loaded: dict[str, Model] = {}
    for record_id, parsed in uuids.items():
        if parsed not in by_uuid:
            raise RecordRejected(
                "the record does not exist on the server", code=ErrorCode.NOT_FOUND, details={"id": record_id}
            )
        loaded[record_id] = by_uuid[parsed]
    return loaded


def _require_distinct(items: Sequence[ApplyItem]) -> list[uuid.UUID]:
    """A batch names each domain row once: two spellings of one UUID go record by record.

    Returns the items' UUIDs (`_record_uuid`), in order."""
    parsed = [_record_uuid(item.record_id) for item in items]
    if len(set(parsed)) != len(parsed):
        raise _reject("the batch names a record twice")
    return parsed


def _person_scopes_by_id(raw_ids: Iterable[Any]) -> dict[uuid.UUID, str]:
    """The scope key (scope_of_person) of each person named, by id: what a batch needs of them."""
    ids = sorted({parsed for raw in raw_ids if (parsed := _uuid_or_none(raw)) is not None})
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(ids), 500):
        rows = Person.objects.filter(pk__in_list=ids[start : start + 500]).values_list(
            "id", "primary_commune_code", "is_archived"
        )
        for pk, commune, archived in rows:
            found[pk] = _person_scope(primary_commune_code=commune, is_archived=archived)
    return found


def _save_many(model: type[Model], *, created: Sequence[Model], changed: Sequence[tuple[Model, set[str]]]) -> None:
    """`_save` for a batch: one bulk_create, one bulk_update per set of changed fields."""
    if created:
        bulk_insert(model, created)
    has_updated_at = any(f.name == "updated_at" for f in model._meta.get_fields())
    now = timezone.now()
    groups: dict[tuple[str, ...], list[Model]] = {}
    for instance, fields in changed:
        if not fields:
            continue
        if has_updated_at:  # bulk_update does not run auto_now
            instance.updated_at = now  # type: ignore[attr-defined]
            fields = fields | {"updated_at"}
        groups.setdefault(tuple(sorted(fields)), []).append(instance)
    for fields_key, instances in groups.items():
        bulk_update_fields(instances, fields_key, batch_size=500)


# --- apply functions -------------------------------------------------------------------------


def apply_person(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    """Devices update notes, identifying marks and management status; persons come from the registry."""
    if is_new:
        raise _not_creatable(PERSONS)
    person = _load(Person, record_id)
    changed = _person_edit(person, values)
    _save(person, is_new=False, fields=changed)
    return AppliedRecord(payload=serialize_person(person), scope_key=scope_of_person(person))


def apply_persons(*, items: Sequence[ApplyItem], actor: WriteActor) -> list[AppliedRecord]:
    """`apply_person` for a batch (see sync.registry.ApplyManyFunction)."""
    _require_distinct(items)
    if any(item.is_new for item in items):
        raise _not_creatable(PERSONS)
    persons = _load_many(Person, [item.record_id for item in items])
    edits = [(persons[item.record_id], _person_edit(persons[item.record_id], item.values)) for item in items]
    _save_many(Person, created=[], changed=edits)
    return [AppliedRecord(payload=serialize_person(p), scope_key=scope_of_person(p)) for p, _ in edits]


def _person_edit(person: Person, values: Mapping[str, Any]) -> set[str]:
    changed: set[str] = set()
    if "notes" in values:
        person.notes = _text(values, "notes", max_length=20_000)
        changed.add("notes")
    if "identifying_marks" in values:
        person.identifying_marks = _text(values, "identifying_marks", max_length=4_000)
        changed.add("identifying_marks")
    if "management_status" in values:
        person.management_status = _choice(values, "management_status", ManagementStatus)
        changed.add("management_status")
    return changed


_RESIDENCE_TEXT_LIMITS = {"village_or_street": 200, "address_text_as_recorded": 400}


def apply_residence(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    """Create a residence for a known person, or update its address fields."""
    changed: set[str] = set()
    if is_new:
        person = _existing_person(values, "person_id", required=True, actor=actor)
        assert person is not None
        residence = Residence(id=_record_uuid(record_id), person=person, source="device")
        names = {c.name for c in RESIDENCE_COLUMNS if c.policy is not SERVER} - {"person_id"}
        if "kind" not in values:
            raise _reject("kind is required", field="kind")
        if not values.get("ward_code"):
            raise _reject("ward_code is required", field="ward_code")
    else:
        residence = _load(Residence, record_id)
        person = residence.person
        names = set(values) & {c.name for c in RESIDENCE_COLUMNS if c.policy in (MERGE, APPEND, REVIEW)}
    for name in names:
        if name == "kind":
            residence.kind = _choice(values, "kind", ResidenceKind)
        elif name == "admin_code_version":
            residence.admin_code_version = (
                _choice(values, name, AdminCodeVersion) if values.get(name) else AdminCodeVersion.V2025
            )
        elif name == "ward_code":
            residence.ward_code = _commune(values, name, required=True)
        elif name == "province_code":
            code = _text(values, name, max_length=2)
            if code and not code.isdigit():
                raise _reject("province_code must be 2 digits", field=name, value=code)
            residence.province_code = code
        elif name in _RESIDENCE_TEXT_LIMITS:
            setattr(residence, name, _text(values, name, max_length=_RESIDENCE_TEXT_LIMITS[name]))
        elif name in ("valid_from", "valid_to"):
            setattr(residence, name, _wire_date(values, name))
        else:
            continue
        changed.add(name)
    if is_new and not residence.province_code:
        residence.province_code = "20"
    if residence.valid_from and residence.valid_to and residence.valid_to < residence.valid_from:
        raise _reject("valid_to is before valid_from", field="valid_to")
    _save(residence, is_new=is_new, fields=changed)
    return AppliedRecord(payload=serialize_residence(residence), scope_key=scope_of_residence(residence, person=person))


def apply_drug_use_record(
    *, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor
) -> AppliedRecord:
    """Update notes (append) and, when no one else changed them, the REVIEW fields. No creates."""
    if is_new:
        raise _not_creatable(DRUG_USE_RECORDS)
    record = _load(DrugUseRecord, record_id)
    changed: set[str] = set()
    for name in values:
        if name == "notes":
            record.notes = _text(values, name, max_length=20_000)
        elif name == "commune_code":
            record.commune_code = _commune(values, name, required=True)
        elif name == "measure":
            record.measure = _choice(values, name, DrugMeasure)
        elif name == "status":
            record.status = _choice(values, name, DrugRecordStatus)
        elif name in ("decision_no", "deciding_authority"):
            setattr(record, name, _text(values, name, max_length=200 if name == "deciding_authority" else 60))
        elif name in ("decision_date", "end_date"):
            setattr(record, name, _wire_date(values, name))
        elif name == "start_date":
            start = _wire_date(values, name)
            if start is None:
                raise _reject("start_date is required", field=name)
            record.start_date = start
        else:
            continue
        changed.add(name)
    if record.end_date and record.end_date < record.start_date:
        raise _reject("end_date is before start_date", field="end_date")
    _save(record, is_new=False, fields=changed)
    return AppliedRecord(payload=serialize_drug_use_record(record), scope_key=scope_of_drug_use_record(record))


_CHECK_DEVICE_COLUMNS = frozenset(c.name for c in CHECK_COLUMNS if c.policy is not SERVER)
_CHECK_TEXT_LIMITS = {"personal_id_number_seen": 20, "full_name_seen": 200, "location_text": 300, "notes": 20_000}


def apply_check(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    """Record or correct a field check. The officer, device and unit come from the actor, never the payload."""
    check = _new_check(_record_uuid(record_id), actor) if is_new else _load(Check, record_id)
    changed = _check_edit(check, values, is_new=is_new, actor=actor, persons=None)
    _save(check, is_new=is_new, fields=changed)
    return AppliedRecord(payload=serialize_check(check), scope_key=scope_of_check(check))


def apply_checks(*, items: Sequence[ApplyItem], actor: WriteActor) -> list[AppliedRecord]:
    """`apply_check` for a batch (see sync.registry.ApplyManyFunction)."""
    parsed = _require_distinct(items)
    existing = _load_many(Check, [item.record_id for item in items if not item.is_new])
    persons = _person_scopes_by_id(
        item.values.get("person_id") for item in items if item.is_new or "person_id" in item.values
    )
    created: list[Check] = []
    edits: list[tuple[Check, set[str]]] = []
    for item, record_uuid in zip(items, parsed, strict=True):
        check = _new_check(record_uuid, actor) if item.is_new else existing[item.record_id]
        changed = _check_edit(check, item.values, is_new=item.is_new, actor=actor, persons=persons)
        if item.is_new:
            created.append(check)
        else:
            edits.append((check, changed))
    _save_many(Check, created=created, changed=edits)
    new = iter(created)
    checks = [next(new) if item.is_new else existing[item.record_id] for item in items]
    return [AppliedRecord(payload=serialize_check(c), scope_key=scope_of_check(c)) for c in checks]


def _new_check(record_uuid: uuid.UUID, actor: WriteActor) -> Check:
    if actor.unit_id is None:
        raise _reject("checks are recorded by a unit's device")
    return _new_instance(
        Check,
        {
            "id": record_uuid,
            "unit_id": actor.unit_id,
            "officer_id": actor.officer_id,
            "device_id": _actor_device(actor),
        },
    )


@functools.lru_cache(maxsize=64)
def _actor_device(actor: WriteActor) -> uuid.UUID | None:
    return _uuid_or_none(actor.device_id)


@functools.cache
def _attnames(model: type[Model]) -> frozenset[str]:
    return frozenset(f.attname for f in model._meta.concrete_fields)


def _new_instance(model: type[Model], values: Mapping[str, Any]) -> Model:
    """`model(**values)` (by attname; every other field its default), through Django's positional
    constructor: 5x less CPU than keyword arguments (measured for a Check: 29 vs 5.6 us)."""
    fields = model._meta.concrete_fields
    unknown = values.keys() - _attnames(model)
    if unknown:
        raise TypeError(f"{model.__name__} has no fields {sorted(unknown)}")
    return model(*[values[f.attname] if f.attname in values else f.get_default() for f in fields])


def _check_edit(
    check: Check,
    values: Mapping[str, Any],
    *,
    is_new: bool,
    actor: WriteActor,
    persons: Mapping[uuid.UUID, str] | None,
) -> set[str]:
    names = _CHECK_DEVICE_COLUMNS if is_new else _CHECK_DEVICE_COLUMNS.intersection(values)
    changed: set[str] = set()
    for name in names:
        if name == "person_id":
            if persons is None:
                check.person = _existing_person(values, name, required=False, actor=actor)
            else:
                check.person_id = _existing_person_id(values, name, required=False, actor=actor, known=persons)
            changed.add("person")
            continue
        if name == "full_name_seen":
            check.full_name_seen = normalize_name(_text(values, name, max_length=200))
        elif name in _CHECK_TEXT_LIMITS:
            setattr(check, name, _text(values, name, max_length=_CHECK_TEXT_LIMITS[name]))
        elif name == "commune_code":
            check.commune_code = _commune(values, name, required=False)
        elif name == "latitude":
            check.latitude = _coordinate(values, name, limit=90)
        elif name == "longitude":
            check.longitude = _coordinate(values, name, limit=180)
        elif name == "captured_at":
            captured_at = _wire_datetime(values, name, required=True)
            assert captured_at is not None
            check.captured_at = captured_at
        elif name == "purpose":
            check.purpose = _choice(values, name, CheckPurpose)
        elif name == "result":
            check.result = _choice(values, name, CheckResult)
        changed.add(name)
    return changed


DEVICE_PHOTO_TABLES = frozenset({CHECKS, PERSONS})


def apply_photo(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    """Link a photo (by sha256) to a check or a person. The blob may arrive before or after the row."""
    photo = _new_photo(record_id, values, actor, prefetched=None) if is_new else _load(PhotoLink, record_id)
    changed = _photo_edit(photo, values, is_new=is_new)
    _save(photo, is_new=is_new, fields=changed)
    if is_new:
        photo_links_recheck_after_commit(links=[photo])
    return AppliedRecord(payload=serialize_photo(photo), scope_key=scope_of_photo(photo))


def apply_photos(*, items: Sequence[ApplyItem], actor: WriteActor) -> list[AppliedRecord]:
    """`apply_photo` for a batch (see sync.registry.ApplyManyFunction)."""
    _require_distinct(items)
    new_values = [item.values for item in items if item.is_new]
    digests = [v["sha256"].lower() for v in new_values if isinstance(v.get("sha256"), str)]
    # The Photos first (locked until commit, in one statement ordered by sha256), then the links:
    # the lock order of an upload's completion.
    stored = photo_blobs_stored(sha256s=digests) if digests else set()
    existing = _load_many(PhotoLink, [item.record_id for item in items if not item.is_new])
    persons = _person_scopes_by_id(values.get("record_id") for values in new_values)
    prefetched = (persons, stored)
    created: list[PhotoLink] = []
    edits: list[tuple[PhotoLink, set[str]]] = []
    photos: list[PhotoLink] = []
    for item in items:
        photo = (
            _new_photo(item.record_id, item.values, actor, prefetched=prefetched)
            if item.is_new
            else existing[item.record_id]
        )
        changed = _photo_edit(photo, item.values, is_new=item.is_new)
        (created.append(photo) if item.is_new else edits.append((photo, changed)))
        photos.append(photo)
    _save_many(PhotoLink, created=created, changed=edits)
    photo_links_recheck_after_commit(links=created)
    linked = _photo_linked_records(photos)
    return [
        AppliedRecord(
            payload=serialize_photo(p), scope_key=_scope_of_linked_photo(p, linked.get((p.record_table, p.record_id)))
        )
        for p in photos
    ]


def _new_photo(
    record_id: str,
    values: Mapping[str, Any],
    actor: WriteActor,
    *,
    prefetched: tuple[Mapping[uuid.UUID, str], set[str]] | None,
) -> PhotoLink:
    """A new photo row; `prefetched` (a batch's persons by id, blobs stored) replaces the lookups."""
    record_table = _text(values, "record_table", max_length=32)
    if record_table not in DEVICE_PHOTO_TABLES:
        raise _reject(
            f"record_table must be one of {', '.join(sorted(DEVICE_PHOTO_TABLES))}",
            field="record_table",
            value=record_table,
        )
    linked_id = _uuid_or_none(values.get("record_id"))
    if linked_id is None:
        raise _reject("record_id must be a UUID", field="record_id")
    if (
        record_table == PERSONS
        and (
            _person_in_scope(linked_id, actor=actor)
            if prefetched is None
            else _known_person_in_scope(linked_id, actor=actor, known=prefetched[0])
        )
        is None
    ):
        raise _reject("record_id does not name a known person", field="record_id")
    digest = _text(values, "sha256", max_length=64).lower()
    if not SHA256_RE.match(digest):
        raise _reject("sha256 must be 64 hexadecimal characters", field="sha256")
    return PhotoLink(
        id=_record_uuid(record_id),
        record_table=record_table,
        record_id=str(linked_id),
        sha256=digest,
        unit_id=actor.unit_id,
        officer_id=actor.officer_id,
        device_id=_uuid_or_none(actor.device_id),
        is_uploaded=photo_blob_is_stored(sha256=digest) if prefetched is None else digest in prefetched[1],
    )


def _photo_edit(photo: PhotoLink, values: Mapping[str, Any], *, is_new: bool) -> set[str]:
    changed: set[str] = set()
    if "captured_at" in values or is_new:
        photo.captured_at = _wire_datetime(values, "captured_at", required=False)
        changed.add("captured_at")
    if "kind" in values or is_new:
        photo.kind = _choice(values, "kind", PhotoKind) if values.get("kind") else PhotoKind.SUBJECT
        changed.add("kind")
    return changed


def archive_check(*, record_id: str, actor: WriteActor) -> AppliedRecord | None:
    check = Check.objects.select_for_update().filter(pk__in=_uuid_list(record_id)).first()
    if check is None:
        return None
    if not check.is_archived:
        check.is_archived = True
        check.save(update_fields=["is_archived", "updated_at"])
    return AppliedRecord(payload=serialize_check(check), scope_key=scopes.ARCHIVED)


def archive_photo(*, record_id: str, actor: WriteActor) -> AppliedRecord | None:
    photo = PhotoLink.objects.select_for_update().filter(pk__in=_uuid_list(record_id)).first()
    if photo is None:
        return None
    if not photo.is_archived:
        photo.is_archived = True
        photo.save(update_fields=["is_archived"])
    return AppliedRecord(payload=serialize_photo(photo), scope_key=scopes.ARCHIVED)


# --- photos arriving -------------------------------------------------------------------------


def photo_blob_is_stored(*, sha256: str) -> bool:
    """Inside the transaction that links it: whether media_store holds the blob (a row pushed after
    its upload). A stored Photo stays locked until that transaction ends, so the retention cleanup
    cannot delete it under the link (see media_store.selectors.photo_sha256s_stored_for_link)."""
    return sha256.lower() in photo_blobs_stored(sha256s=[sha256])


def photo_blobs_stored(*, sha256s: Sequence[str]) -> set[str]:
    """`photo_blob_is_stored` for many digests, locked in one statement per 500: those media_store holds."""
    from media_store.selectors import photo_sha256s_stored_for_link

    return photo_sha256s_stored_for_link(sha256s=sha256s)


def photo_links_mark_uploaded(*, sha256: str) -> int:
    """Flip `is_uploaded` on every photo row linking `sha256`; devices learn it through pull.

    Locks in a push's order: the links' SyncRows first, then the links (a push editing a link has
    locked its SyncRow before it locks the link; the other order deadlocks with it on PostgreSQL).
    A link committed after the first read below is left to its linker, which re-checks once it has
    committed (`photo_links_recheck_after_commit`).
    Idempotent (rows already flagged are left alone). Returns how many rows changed.
    """
    with sync_transaction() as writer:
        ids = sorted(PhotoLink.objects.filter(sha256=sha256, is_uploaded=False).values_list("id", flat=True))
        if not ids:
            return 0
        writer.lock_rows([(PHOTOS, str(pk)) for pk in ids])
        # Re-read under the lock: a concurrent marking may have flipped some already.
        links = list(_in_chunks(PhotoLink.objects.select_for_update().filter(is_uploaded=False).order_by("id"), ids))
        for link in links:
            link.is_uploaded = True
            link.save(update_fields=["is_uploaded"])
            writer.stage(
                table=PHOTOS,
                record_id=str(link.id),
                payload=serialize_photo(link),
                scope_key=scope_of_photo(link),
                changed_fields=["is_uploaded"],
            )
    return len(links)


def photo_links_recheck_after_commit(*, links: Iterable[PhotoLink]) -> None:
    """Inside the transaction that creates `links`: once it commits, mark uploaded those not flagged
    whose photo is stored by then.

    An upload completing meanwhile marks only the links committed when it looks (after its own
    commit), and the linker could not see that upload's Photo before it was committed: whichever
    commits last must see the other, so the linker looks again after its commit. Both may mark the
    same link; the second finds nothing left to do. Registered in the current savepoint: a record
    rolled back schedules nothing. After commit, robust: a failure is logged, the push stands.
    """
    digests = sorted({link.sha256 for link in links if not link.is_uploaded})
    if digests:
        transaction.on_commit(functools.partial(photo_links_mark_stored, sha256s=digests), robust=True)


def photo_links_mark_stored(*, sha256s: Sequence[str]) -> int:
    """`photo_links_mark_uploaded` for each of `sha256s` whose photo media_store holds. Idempotent;
    returns how many rows changed."""
    from media_store.selectors import photo_sha256s_stored

    return sum(photo_links_mark_uploaded(sha256=sha256) for sha256 in sorted(photo_sha256s_stored(sha256s=sha256s)))


def on_photo_stored(sender: Any, **kwargs: Any) -> None:
    """Receiver for media_store's `photo_stored(photo=...)` (tests may send `sha256=` alone)."""
    sha256 = kwargs.get("sha256")
    if sha256 is None and kwargs.get("photo") is not None:
        sha256 = kwargs["photo"].sha256
    if isinstance(sha256, str) and sha256:
        photo_links_mark_uploaded(sha256=sha256.lower())


# --- registration ----------------------------------------------------------------------------

TABLES: tuple[SyncedTable, ...] = (
    SyncedTable(name=PERSONS, columns=PERSON_COLUMNS, apply=apply_person, apply_many=apply_persons),
    SyncedTable(name=RESIDENCES, columns=RESIDENCE_COLUMNS, apply=apply_residence),
    SyncedTable(name=CRIMINAL_RECORDS, columns=CRIMINAL_RECORD_COLUMNS),
    SyncedTable(name=WANTED_NOTICES, columns=WANTED_NOTICE_COLUMNS),
    SyncedTable(name=DRUG_USE_RECORDS, columns=DRUG_USE_RECORD_COLUMNS, apply=apply_drug_use_record),
    SyncedTable(name=CHECKS, columns=CHECK_COLUMNS, apply=apply_check, archive=archive_check, apply_many=apply_checks),
    SyncedTable(name=PHOTOS, columns=PHOTO_COLUMNS, apply=apply_photo, archive=archive_photo, apply_many=apply_photos),
)

SERIALIZERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    PERSONS: serialize_person,
    RESIDENCES: serialize_residence,
    CRIMINAL_RECORDS: serialize_criminal_record,
    WANTED_NOTICES: serialize_wanted_notice,
    DRUG_USE_RECORDS: serialize_drug_use_record,
    CHECKS: serialize_check,
    PHOTOS: serialize_photo,
}


def person_keys(full_name: str) -> tuple[str, str]:
    """(exact_key, search_key) of a name."""
    return exact_key(full_name), search_key(full_name)


def register() -> None:
    for table in TABLES:
        register_table(table)
    register_scope_resolver(scopes.registry_scope_keys)
