"""The registry side of the central-registry bridge port (`sync.registry_bridge.port`).

Registered from `RegistryConfig.ready`. Maps bridge values (see sync/registry_bridge/translate.py)
onto Person / Residence / WantedNotice and stages every write with writer "registry", so devices
receive registry changes as authoritative writes and the bridge can tell its own writes apart.

Ids: a registry row's fieldsync id is uuid5 of the same namespace and seed `seed_demo` uses for the
synthetic province ("P000123" for MA_DT 123), so a registry initialised from the synthetic province
links to a fieldsync database seeded from it; any other registry row gets a fresh stable uuid5.

The 2025 merger: a registry commune code is read as a 2025 code unless the address was recorded
before 1 Jul 2025, the code is also a pre-2025 code (codes were reused: xã Đồng Đăng 06184 is the
old thị trấn Đồng Đăng; every one of the province's 65 codes is also an old one) and the address
text is not in the 2025 form. The text decides because the registry's own conversion rewrote code
and text together, keeping the registration date: a text naming a district-level unit (huyện, thị
xã, thành phố) or a thị trấn was written before the merger (neither exists since), one naming
neither was converted; with no text the date alone decides. A pre-2025 code wholly merged maps to
its 2025 commune from the merger date; one split across several 2025 communes is refused (the
bridge quarantines it for a human).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from typing import Any

import orjson
from django.utils import timezone

from backend.core.text import normalize_name
from backend.registry import scopes
from backend.registry import sync_tables as st
from backend.registry.bulk import bulk_insert
from backend.registry.communes import PROVINCE_CODE, commune_codes
from backend.registry.models import (
    AdminCodeVersion,
    CriminalRecord,
    DatePrecision,
    DrugRecordStatus,
    ManagementStatus,
    Person,
    PhotoLink,
    RescissionReason,
    Residence,
    ResidenceKind,
    Sex,
    WantedCategory,
    WantedNotice,
    WantedStatus,
)
from backend.registry.seeding import _NAMESPACE
from backend.registry.synthetic import MERGER_DATE, PRE2025_UNITS
from sync.registry_bridge.codes import BridgeProblem
from sync.registry_bridge.port import (
    CommuneResolution,
    CommuneStatus,
    EntityMapping,
    MappingRejected,
    RegistryMapping,
    register_mapping,
)
from sync.writer import SyncWriter

WRITER = "registry"
SYNTHETIC_SEED = 20250701  # seed_demo's default: registry rows of the synthetic province share its ids


def person_record_id(legacy_id: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{SYNTHETIC_SEED}:P{legacy_id:06d}"))


def notice_record_id(legacy_id: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{SYNTHETIC_SEED}:W{legacy_id:06d}"))


# --- communes ------------------------------------------------------------------------------------


@cache
def _successors() -> dict[str, frozenset[str]]:
    """pre-2025 code -> the 2025 communes that took (part of) it."""
    found: dict[str, set[str]] = defaultdict(set)
    for new_code, units in PRE2025_UNITS.items():
        for unit in units:
            found[unit.code].add(new_code)
    return {code: frozenset(targets) for code, targets in found.items()}


_PRE2025_UNIT_WORDS = re.compile(r"(?:^|[\s,])(?:huyện|thị xã|thành phố|thị trấn)\s", re.IGNORECASE)


def address_is_pre2025_form(text: str) -> bool | None:
    """Whether an address text is in the pre-2025 form (names a level abolished on 1 Jul 2025);
    None when there is no text to tell."""
    text = text.strip()
    if not text:
        return None
    return _PRE2025_UNIT_WORDS.search(text) is not None


def commune_resolve(code: str, recorded_on: date | None, address_text: str = "") -> CommuneResolution:
    """Read a registry commune code (see the module docstring)."""
    is_current = code in commune_codes()
    successors = _successors().get(code)
    recorded_before_merger = (
        recorded_on is not None and recorded_on < MERGER_DATE and address_is_pre2025_form(address_text) is not False
    )
    if is_current and (successors is None or not recorded_before_merger):
        return CommuneResolution(status=CommuneStatus.CURRENT, code=code)
    if successors is None:
        return CommuneResolution(status=CommuneStatus.UNKNOWN, code=None)
    if len(successors) == 1:
        (target,) = successors
        return CommuneResolution(status=CommuneStatus.MERGED, code=target, effective_from=MERGER_DATE)
    return CommuneResolution(status=CommuneStatus.SPLIT, code=None, candidates=tuple(sorted(successors)))


# --- persons -------------------------------------------------------------------------------------


def _open_home(person: Person) -> Residence | None:
    homes = [r for r in person.residences.all() if r.kind == ResidenceKind.THUONG_TRU and r.valid_to is None]
    homes = [r for r in homes if not r.is_archived]
    return max(homes, key=lambda r: (r.valid_from or date.min, str(r.id))) if homes else None


def _person_values(person: Person) -> dict[str, Any]:
    home = _open_home(person)
    return {
        "full_name": person.full_name,
        "sex": person.sex,
        "dob": {
            "year": person.dob_year,
            "month": person.dob_month,
            "day": person.dob_day,
            "precision": person.dob_precision,
        },
        "personal_id_number": person.personal_id_number,
        "ethnicity": person.ethnicity,
        "native_place": person.native_place,
        "father_name": person.father_name,
        "mother_name": person.mother_name,
        "identifying_marks": person.identifying_marks,
        "notes": person.notes,
        "management_status": person.management_status,
        "address": _address_of(home),
        "is_archived": person.is_archived,
    }


def _address_of(home: Residence | None) -> dict[str, Any] | None:
    if home is None:
        return None
    recorded = (home.address_text_as_recorded, home.ward_code)
    return {
        "commune_code": recorded[1],
        "text": recorded[0],
        "code_version": home.admin_code_version,
        "recorded_commune_code": _recorded_code(home),
        "valid_from": home.valid_from.isoformat() if home.valid_from else None,
        "effective_from": MERGER_DATE.isoformat() if home.admin_code_version == AdminCodeVersion.PRE_2025 else None,
    }


def _recorded_code(home: Residence) -> str:
    # The registry's own code is kept in `source` as "registry:<code>" (the residence keeps the
    # address text as recorded; the code as recorded is needed to compare with the registry).
    prefix = "registry:"
    return home.source[len(prefix) :] if home.source.startswith(prefix) else home.ward_code


def persons_current(record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(record_ids), 500):
        chunk = list(record_ids[start : start + 500])
        for person in Person.objects.filter(pk__in=chunk).prefetch_related("residences"):
            found[str(person.id)] = _person_values(person)
    return found


def _split_name(full_name: str) -> tuple[str, str, str]:
    """Family, middle, given. Compound family names cannot be told apart here; the registry does
    not store the parts, so the first syllable is taken as the family name (DOMAIN §4.1.8)."""
    parts = full_name.split()
    if len(parts) == 1:
        return "", "", parts[0]
    return parts[0], " ".join(parts[1:-1]), parts[-1]


def _set_name(person: Person, full_name: str) -> None:
    person.full_name = normalize_name(full_name)
    person.family_name, person.middle_name, person.given_name = _split_name(person.full_name)
    person.exact_key, person.search_key = st.person_keys(person.full_name)


def _set_dob(person: Person, dob: Mapping[str, Any] | None) -> None:
    dob = dob or {}
    person.dob_year, person.dob_month, person.dob_day = dob.get("year"), dob.get("month"), dob.get("day")
    precision = str(dob.get("precision") or "unknown")
    person.dob_precision = precision if precision in DatePrecision.values else DatePrecision.UNKNOWN


def _check_id_number(person: Person, number: str | None) -> None:
    if number and Person.objects.filter(personal_id_number=number).exclude(pk=person.pk).exists():
        raise MappingRejected(
            BridgeProblem.ID_NUMBER_CONFLICT, "Another person already holds this personal ID number.", value=number
        )


def _new_home(person: Person, address: Mapping[str, Any]) -> Residence:
    home = _home_for(person, address)
    home.save(force_insert=True)
    return home


def _home_for(person: Person, address: Mapping[str, Any]) -> Residence:
    valid_from = date.fromisoformat(address["valid_from"]) if address.get("valid_from") else None
    return Residence(
        person=person,
        kind=ResidenceKind.THUONG_TRU,
        province_code=PROVINCE_CODE,
        ward_code=address["commune_code"],
        address_text_as_recorded=str(address.get("text") or ""),
        admin_code_version=str(address.get("code_version") or AdminCodeVersion.V2025),
        valid_from=valid_from,
        source=f"registry:{address.get('recorded_commune_code') or address['commune_code']}",
    )


def _stage_tree(
    writer: SyncWriter,
    person: Person,
    *,
    changed: Sequence[str] | None,
    residences: Iterable[Residence] | None = None,
    criminal_records: Iterable[CriminalRecord] | None = None,
    photos: Iterable[PhotoLink] | None = None,
) -> None:
    """Stage a person and everything synced under it; a bulk caller passes what it already holds."""
    scope = st.scope_of_person(person)
    writer.stage(
        table=st.PERSONS,
        record_id=str(person.id),
        payload=st.serialize_person(person),
        scope_key=scope,
        changed_fields=changed,
        writer=WRITER,
    )
    for residence in person.residences.all() if residences is None else residences:
        writer.stage(
            table=st.RESIDENCES,
            record_id=str(residence.id),
            payload=st.serialize_residence(residence),
            scope_key=st.scope_of_residence(residence, person=person),
            writer=WRITER,
        )
    for record in person.criminal_records.all() if criminal_records is None else criminal_records:
        writer.stage(
            table=st.CRIMINAL_RECORDS,
            record_id=str(record.id),
            payload=st.serialize_criminal_record(record),
            scope_key=st.scope_of_criminal_record(record, person=person),
            writer=WRITER,
        )
    if photos is None:
        photos = PhotoLink.objects.filter(record_table=st.PERSONS, record_id=str(person.id))
    for photo in photos:
        writer.stage(
            table=st.PHOTOS, record_id=str(photo.id), payload=st.serialize_photo(photo), scope_key=scope, writer=WRITER
        )


_SCALAR_TEXT = ("ethnicity", "native_place", "identifying_marks", "notes")
_SCALAR_NAMES = ("father_name", "mother_name")


def _new_person(record_id: str, values: Mapping[str, Any]) -> Person:
    """An unsaved Person from a new registry row (its home: `values["address"]`). Raises MappingRejected."""
    address = values.get("address")
    status = str(values.get("management_status") or ManagementStatus.NONE)
    if status not in ManagementStatus.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown management status.", value=status)
    if values.get("sex") not in Sex.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown sex.", value=values.get("sex"))
    if not address:
        raise MappingRejected(BridgeProblem.COMMUNE_UNKNOWN, "The registry row has no address.")
    person = Person(id=uuid.UUID(record_id), source="registry", data_quality={"bridge": True})
    _set_name(person, str(values["full_name"]))
    _set_dob(person, values.get("dob"))
    person.sex = str(values["sex"])
    person.personal_id_number = values.get("personal_id_number")
    for name in _SCALAR_TEXT:
        setattr(person, name, str(values.get(name) or ""))
    for name in _SCALAR_NAMES:
        setattr(person, name, normalize_name(str(values.get(name) or "")))
    person.management_status = status
    person.primary_commune_code = str(address["commune_code"])
    person.is_archived = bool(values.get("is_archived"))
    return person


def persons_create_many(
    *, writer: SyncWriter, records: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, MappingRejected]:
    """`person_apply(is_new=True)` for a batch: one query for the ID numbers already held, one bulk
    INSERT of the persons and one of their homes, one query for photos already linked to them.
    Returns the rows refused (bad values, an ID number another person holds or an earlier row of
    the batch took)."""
    refused: dict[str, MappingRejected] = {}
    people: list[tuple[Person, Mapping[str, Any]]] = []
    for record_id, values in records:
        try:
            people.append((_new_person(record_id, values), values))
        except MappingRejected as exc:
            refused[record_id] = exc
    numbers = sorted({p.personal_id_number for p, _ in people if p.personal_id_number})
    held: set[str] = set()
    for start in range(0, len(numbers), 500):
        held.update(
            str(n)
            for n in Person.objects.filter(personal_id_number__in=numbers[start : start + 500]).values_list(
                "personal_id_number", flat=True
            )
        )
    accepted: list[tuple[Person, Residence]] = []
    for person, values in people:
        number = person.personal_id_number
        if number and number in held:
            refused[str(person.id)] = MappingRejected(
                BridgeProblem.ID_NUMBER_CONFLICT, "Another person already holds this personal ID number.", value=number
            )
            continue
        if number:
            held.add(number)
        accepted.append((person, _home_for(person, values["address"])))
    bulk_insert(Person, [person for person, _ in accepted])
    bulk_insert(Residence, [home for _, home in accepted])
    ids = [str(person.id) for person, _ in accepted]
    photos: dict[str, list[PhotoLink]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for photo in PhotoLink.objects.filter(record_table=st.PERSONS, record_id__in=ids[start : start + 500]):
            photos[photo.record_id].append(photo)
    for person, home in accepted:  # new persons: their home is their only residence, no records yet
        _stage_tree(
            writer, person, changed=None, residences=[home], criminal_records=[], photos=photos.get(str(person.id), [])
        )
    return refused


def person_apply(
    *, writer: SyncWriter, record_id: str, values: Mapping[str, Any], changed: Sequence[str], is_new: bool
) -> None:
    """Apply registry values to a person (all of them when new). Raises MappingRejected."""
    address = values.get("address")
    status = str(values.get("management_status") or ManagementStatus.NONE)
    if ("management_status" in changed or is_new) and status not in ManagementStatus.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown management status.", value=status)
    if values.get("sex") not in Sex.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown sex.", value=values.get("sex"))
    if is_new:
        person = _new_person(record_id, values)
        _check_id_number(person, person.personal_id_number)
        person.save(force_insert=True)
        _new_home(person, address or {})
        _stage_tree(writer, person, changed=None)
        return
    existing = Person.objects.select_for_update().filter(pk=record_id).first()
    if existing is None:
        raise MappingRejected(BridgeProblem.PERSON_UNKNOWN, "The linked person no longer exists.")
    person = existing
    stored = _person_values(person)
    # Only what really differs is written: a no-op write moves no residence and stages nothing.
    changed = [name for name in changed if _encoded(values.get(name)) != _encoded(stored.get(name))]
    if not changed:
        return
    wire_changed: set[str] = set()
    fields: set[str] = set()
    moved = False
    for name in changed:
        if name == "full_name":
            _set_name(person, str(values["full_name"]))
            fields |= {"full_name", "family_name", "middle_name", "given_name", "exact_key", "search_key"}
        elif name == "dob":
            _set_dob(person, values.get("dob"))
            fields |= {"dob_year", "dob_month", "dob_day", "dob_precision"}
        elif name == "sex":
            person.sex = str(values["sex"])
            fields.add("sex")
        elif name == "personal_id_number":
            _check_id_number(person, values.get("personal_id_number"))
            person.personal_id_number = values.get("personal_id_number")
            fields.add(name)
        elif name in _SCALAR_TEXT:
            setattr(person, name, str(values.get(name) or ""))
            fields.add(name)
        elif name in _SCALAR_NAMES:
            setattr(person, name, normalize_name(str(values.get(name) or "")))
            fields.add(name)
        elif name == "management_status":
            person.management_status = status
            fields.add(name)
        elif name == "is_archived":
            person.is_archived = bool(values.get("is_archived"))
            fields.add(name)
            moved = True  # scope changes: restage the tree
        elif name == "address" and address:
            _move_home(person, address)
            fields.add("primary_commune_code")
            moved = True
    wire_changed = fields & {c.name for c in st.PERSON_COLUMNS}
    person.save(update_fields=sorted(fields | {"updated_at"}))
    if moved:
        _stage_tree(writer, person, changed=None)
    else:
        writer.stage(
            table=st.PERSONS,
            record_id=str(person.id),
            payload=st.serialize_person(person),
            scope_key=st.scope_of_person(person),
            changed_fields=sorted(wire_changed),
            writer=WRITER,
        )


def _move_home(person: Person, address: Mapping[str, Any]) -> None:
    """Close the open permanent residence and open the registry's; drug records follow the commune."""
    starts = date.fromisoformat(address["valid_from"]) if address.get("valid_from") else timezone.localdate()
    for old in person.residences.filter(kind=ResidenceKind.THUONG_TRU, valid_to__isnull=True, is_archived=False):
        old.valid_to = max(starts, old.valid_from or starts)
        old.save(update_fields=["valid_to", "updated_at"])
    _new_home(person, address)
    new_code = str(address["commune_code"])
    if person.primary_commune_code != new_code:
        person.primary_commune_code = new_code
        for record in person.drug_use_records.filter(status=DrugRecordStatus.ACTIVE):
            record.commune_code = new_code
            record.save(update_fields=["commune_code", "updated_at"])
    # The prefetch cache (if any) is stale now.
    if hasattr(person, "_prefetched_objects_cache"):
        person._prefetched_objects_cache.clear()


def _encoded(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def person_id_number_owner(number: str) -> str | None:
    found = Person.objects.filter(personal_id_number=number).values_list("id", flat=True).first()
    return str(found) if found else None


# --- wanted notices ------------------------------------------------------------------------------


def _notice_values(notice: WantedNotice) -> dict[str, Any]:
    return {
        "decision_no": notice.decision_no,
        "decision_date": notice.decision_date.isoformat(),
        "issuing_agency": notice.issuing_agency,
        "full_name": notice.full_name,
        "charges": list(notice.charges),
        "category": notice.category,
        "status": notice.status,
        "rescission_decision_no": notice.rescission_decision_no,
        "rescission_date": notice.rescission_date.isoformat() if notice.rescission_date else None,
        "rescission_reason": notice.rescission_reason,
    }


def notices_current(record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {str(n.id): _notice_values(n) for n in WantedNotice.objects.filter(pk__in=list(record_ids))}


def _notice_check(values: Mapping[str, Any]) -> None:
    category = str(values.get("category") or "")
    if category not in WantedCategory.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown wanted category.", value=category)
    reason = str(values.get("rescission_reason") or "")
    if reason not in RescissionReason.values:
        raise MappingRejected(BridgeProblem.ROW_INVALID, "Unknown rescission reason.", value=reason)


def _notice_fill(notice: WantedNotice, values: Mapping[str, Any], names: Sequence[str]) -> None:
    for name in names:
        value = values.get(name)
        if name in ("decision_date", "rescission_date"):
            setattr(notice, name, date.fromisoformat(value) if value else None)
        elif name == "full_name":
            notice.full_name = normalize_name(str(value or ""))
            notice.exact_key, notice.search_key = st.person_keys(notice.full_name)
        elif name == "charges":
            notice.charges = list(value or [])
        elif name == "status":
            notice.status = WantedStatus.RESCINDED if value == "RESCINDED" else WantedStatus.ACTIVE
        elif name in ("decision_no", "issuing_agency", "category", "rescission_decision_no", "rescission_reason"):
            setattr(notice, name, str(value or ""))


def _new_notice(record_id: str, values: Mapping[str, Any], persons: Mapping[str, Person]) -> WantedNotice:
    """An unsaved notice for a new registry row; `persons` holds the persons it may name."""
    _notice_check(values)
    person: Person | None = None
    legacy_person = values.get("person_legacy_id")
    if legacy_person is not None:
        person = persons.get(person_record_id(int(legacy_person)))
        if person is None:
            raise MappingRejected(BridgeProblem.PERSON_UNKNOWN, "The notice's person is not in fieldsync (yet).")
    notice = WantedNotice(id=uuid.UUID(record_id), person=person)
    _notice_fill(notice, values, list(values))
    if person is not None:
        notice.sex, notice.dob_year = person.sex, person.dob_year
    return notice


def _stage_notice(writer: SyncWriter, notice: WantedNotice, photos: Sequence[PhotoLink]) -> None:
    scope = st.scope_of_wanted_notice(notice)
    writer.stage(
        table=st.WANTED_NOTICES,
        record_id=str(notice.id),
        payload=st.serialize_wanted_notice(notice),
        scope_key=scope,
        writer=WRITER,
    )
    for photo in photos:
        writer.stage(
            table=st.PHOTOS, record_id=str(photo.id), payload=st.serialize_photo(photo), scope_key=scope, writer=WRITER
        )
    assert scope in (scopes.PROVINCE, scopes.ARCHIVED)


def _persons_by_id(ids: Sequence[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    for start in range(0, len(ids), 500):
        for person in Person.objects.filter(pk__in=list(ids[start : start + 500])):
            found[str(person.id)] = person
    return found


def _photos_of(table: str, ids: Sequence[str]) -> dict[str, list[PhotoLink]]:
    found: dict[str, list[PhotoLink]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for photo in PhotoLink.objects.filter(record_table=table, record_id__in=list(ids[start : start + 500])):
            found[photo.record_id].append(photo)
    return found


def notice_apply(
    *, writer: SyncWriter, record_id: str, values: Mapping[str, Any], changed: Sequence[str], is_new: bool
) -> None:
    """Create a notice or apply registry changes to it; a rescinded notice leaves every device."""
    _notice_check(values)
    if is_new:
        legacy_person = values.get("person_legacy_id")
        persons = _persons_by_id([person_record_id(int(legacy_person))]) if legacy_person is not None else {}
        notice = _new_notice(record_id, values, persons)
    else:
        found = WantedNotice.objects.select_for_update().filter(pk=record_id).first()
        if found is None:
            raise MappingRejected(BridgeProblem.ROW_INVALID, "The linked notice no longer exists.")
        notice = found
        _notice_fill(notice, values, list(changed))
    notice.save()
    _stage_notice(writer, notice, _photos_of(st.WANTED_NOTICES, [str(notice.id)]).get(str(notice.id), []))


def notices_create_many(
    *, writer: SyncWriter, records: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, MappingRejected]:
    """`notice_apply(is_new=True)` for a batch: one query for the persons named, one bulk INSERT,
    one query for photos already linked. A bulk INSERT sends no post_save, and the face gallery's
    receiver would have nothing to do: the bridge never sets a notice's photos (`photo_sha256`)."""
    named = sorted(
        {
            person_record_id(int(values["person_legacy_id"]))
            for _, values in records
            if values.get("person_legacy_id") is not None
        }
    )
    persons = _persons_by_id(named)
    refused: dict[str, MappingRejected] = {}
    notices: list[WantedNotice] = []
    for record_id, values in records:
        try:
            notices.append(_new_notice(record_id, values, persons))
        except MappingRejected as exc:
            refused[record_id] = exc
    bulk_insert(WantedNotice, notices)
    photos = _photos_of(st.WANTED_NOTICES, [str(n.id) for n in notices])
    for notice in notices:
        _stage_notice(writer, notice, photos.get(str(notice.id), []))
    return refused


def register() -> None:
    register_mapping(
        RegistryMapping(
            persons=EntityMapping(
                legacy_table="DOI_TUONG",
                record_table=st.PERSONS,
                record_id_for=person_record_id,
                current_values=persons_current,
                apply=person_apply,
                create_many=persons_create_many,
            ),
            wanted_notices=EntityMapping(
                legacy_table="QD_TRUY_NA",
                record_table=st.WANTED_NOTICES,
                record_id_for=notice_record_id,
                current_values=notices_current,
                apply=notice_apply,
                create_many=notices_create_many,
            ),
            commune_resolve=commune_resolve,
            person_id_number_owner=person_id_number_owner,
        )
    )
