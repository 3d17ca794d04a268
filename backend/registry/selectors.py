"""Registry reads for devices: person search (DOMAIN §4).

A 12-digit query is a personal ID number and matches exactly. Anything else is a name: normalised
(NFC, spaces, case, Đ homoglyphs), compared by `search_key` (accents and đ folded, i/y variant
folded) to find candidates, and labelled by whether the `exact_key` (tones kept) also agrees. A
name match is never an identification and never merges records: every result is a candidate.
Only persons in the device's scope are searched (other units' persons are simply not found).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from backend.audit.services import audit_record
from backend.core.errors import DomainError
from backend.core.text import exact_key, normalize_name, normalize_text, search_key, vietnamese_sort_key
from backend.registry import scopes
from backend.registry.models import DatePrecision, Person
from mobile_contract.errors import ErrorCode

ID_NUMBER_RE = re.compile(r"^\d{12}$")
_DOB_RE = re.compile(r"^(?:(\d{1,2})/(\d{1,2})/)?(\d{4})$")
MAX_NAME_CANDIDATES_SCANNED = 2000


class PersonSearchInvalid(DomainError):
    code = ErrorCode.VALIDATION_ERROR
    http_status = 422
    default_message = "The search is not valid."


@dataclass(frozen=True)
class BirthQuery:
    year: int
    month: int | None = None
    day: int | None = None

    @property
    def has_day(self) -> bool:
        return self.month is not None and self.day is not None


def birth_query_parse(raw: str) -> BirthQuery | None:
    """`yyyy` or `dd/mm/yyyy` (never mm/dd). 01/01/yyyy and 00/00/yyyy are placeholders in legacy
    records and count as the year only. Raises PersonSearchInvalid."""
    text = normalize_text(raw)
    if not text:
        return None
    match = _DOB_RE.match(text)
    if match is None:
        raise PersonSearchInvalid("dob must be yyyy or dd/mm/yyyy.", details={"field": "dob"})
    day, month, year = (int(g) if g else None for g in match.groups())
    assert year is not None
    if day is None or month is None or (day, month) in {(0, 0), (1, 1)}:
        return BirthQuery(year=year)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise PersonSearchInvalid("dob is not a date (dd/mm/yyyy).", details={"field": "dob"})
    return BirthQuery(year=year, month=month, day=day)


def birth_compare(person: Person, query: BirthQuery | None) -> str | None:
    """How a person's date of birth compares with the query; None when incompatible (another year)."""
    if query is None:
        return "not_given"
    if person.dob_year is None or person.dob_precision == DatePrecision.UNKNOWN:
        return "unknown"
    if person.dob_year != query.year:
        return None
    person_has_day = person.dob_precision == DatePrecision.DAY and person.dob_month and person.dob_day
    if not person_has_day or not query.has_day:
        return "year_compatible"
    if (person.dob_day, person.dob_month) == (query.day, query.month):
        return "exact"
    if (person.dob_day, person.dob_month) == (query.month, query.day):
        return "possible_day_month_swap"
    return "same_year_date_differs"


@dataclass(frozen=True)
class PersonCandidate:
    person: Person
    match: str
    birth: str


@dataclass(frozen=True)
class PersonSearchResult:
    query_kind: str
    candidates: list[PersonCandidate]
    is_truncated: bool


_MATCH_RANK = {"id_number": 0, "exact_name": 1, "name_variant": 2, "partial_name": 3}
_BIRTH_RANK = {
    "exact": 0,
    "possible_day_month_swap": 1,
    "year_compatible": 2,
    "not_given": 2,
    "unknown": 3,
    "same_year_date_differs": 4,
    "year_differs": 5,
}


def _in_scope(scope_keys: frozenset[str]) -> QuerySet[Person]:
    prefix = scopes.commune_scope("")
    communes = [key.removeprefix(prefix) for key in scope_keys if key.startswith(prefix)]
    return Person.objects.filter(is_archived=False, primary_commune_code__in=communes)


def person_search_for_device(
    *,
    device: Any,
    officer: Any,
    scope_keys: frozenset[str],
    query: str,
    dob: str = "",
    limit: int = 20,
) -> PersonSearchResult:
    """Search persons in the device's scope. Audited as `persons.searched` (kind and count only: no
    query text, which is personal data). Raises PersonSearchInvalid. Read-only apart from the audit.
    """
    text = normalize_name(query)
    birth = birth_query_parse(dob)
    compact = re.sub(r"[\s.\-]", "", text)
    persons = _in_scope(scope_keys)
    candidates: list[PersonCandidate] = []
    if compact.isdigit():
        if not ID_NUMBER_RE.match(compact):
            raise PersonSearchInvalid("An ID number has 12 digits.", details={"field": "q"})
        kind = "id_number"
        # The ID number decides; a birth date that disagrees is shown (year_differs), not hidden.
        candidates = [
            PersonCandidate(person=person, match="id_number", birth=birth_compare(person, birth) or "year_differs")
            for person in persons.filter(personal_id_number=compact)
        ]
    else:
        kind = "name"
        wanted = search_key(text)
        if sum(c.isalpha() for c in wanted) < 2:
            raise PersonSearchInvalid("Type at least two letters of the name.", details={"field": "q"})
        exact = exact_key(text)
        found = persons.filter(search_key__contains=wanted)
        if birth is not None:
            found = found.filter(Q(dob_year=birth.year) | Q(dob_year__isnull=True))
        for person in found.order_by("id")[:MAX_NAME_CANDIDATES_SCANNED]:
            if f" {wanted} " not in f" {person.search_key} ":  # whole words only: "An" is not in "Lan"
                continue
            if person.search_key == wanted:
                match = "exact_name" if exact_key(person.full_name) == exact else "name_variant"
            else:
                match = "partial_name"
            compared = birth_compare(person, birth)
            if compared is not None:
                candidates.append(PersonCandidate(person=person, match=match, birth=compared))
    candidates.sort(
        key=lambda c: (
            _MATCH_RANK[c.match],
            _BIRTH_RANK[c.birth],
            vietnamese_sort_key(c.person.given_name),  # people are sorted by given name
            vietnamese_sort_key(c.person.full_name),
            str(c.person.id),
        )
    )
    limit = max(1, min(limit, 50))
    audit_record(
        action="persons.searched",
        officer_id=getattr(officer, "pk", None),
        device_id=getattr(device, "pk", None),
        target_type="persons",
        details={"kind": kind, "with_dob": birth is not None, "candidate_count": len(candidates)},
    )
    return PersonSearchResult(query_kind=kind, candidates=candidates[:limit], is_truncated=len(candidates) > limit)


__all__ = [
    "PersonSearchInvalid",
    "birth_compare",
    "birth_query_parse",
    "person_search_for_device",
]
