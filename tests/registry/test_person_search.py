"""Person search for devices (DOMAIN §4): exact on the ID number, names as candidates only,
birth-year-compatible, scope-checked. Through the real HTTP endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backend.audit.models import AuditEvent
from backend.core.text import normalize_name
from backend.registry.models import Person
from tests.conftest import make_device_session, make_officer, make_unit
from tests.core.test_text import DOMAIN_ROWS
from tests.registry.conftest import COMMUNE_A, COMMUNE_B, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Argon2 costs ~0.4 s per hash here; search does not depend on the hasher."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def token() -> str:
    officer = make_officer(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)), role="community_officer")
    return str(make_device_session(officer=officer).access_token)


def _search(token: str, status: int = 200, **params: Any) -> dict[str, Any]:
    response = Client().get("/api/v1/persons/search", params, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.content
    return dict(response.json())


def _person(name: str, *, commune: str = COMMUNE_A, pid: str | None = None, **dob: Any) -> Person:
    person = make_person(commune=commune, full_name=normalize_name(name), pid=pid)
    if dob:
        Person.objects.filter(pk=person.pk).update(**dob)
    return person


def _found(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c["full_name"], c["match"], c["birth"]) for c in body["candidates"]]


@pytest.mark.parametrize(
    ("stored", "typed", "exact_equal", "search_equal"),
    [pytest.param(a, b, e, s, id=row_id) for row_id, a, b, e, s in DOMAIN_ROWS]
    + [pytest.param(b, a, e, s, id=f"{row_id}-reversed") for row_id, a, b, e, s in DOMAIN_ROWS],
)
def test_domain_test_strings_find_candidates_by_search_key_and_label_exact_matches(
    token: str, stored: str, typed: str, exact_equal: bool, search_equal: bool
) -> None:
    person = _person(stored)

    body = _search(token, q=typed)

    assert body["query_kind"] == "name"
    if not search_equal:  # row 11: TCVN3 mojibake never matches the real name
        assert body["candidates"] == []
        return
    assert [(c["id"], c["label"]) for c in body["candidates"]] == [(str(person.id), "candidate")]
    assert body["candidates"][0]["match"] == ("exact_name" if exact_equal else "name_variant")


@pytest.mark.parametrize(("stored", "typed"), [("Thủy", "Thủi"), ("Vi Văn Tay", "Vi Văn Tai")])
def test_uy_and_ay_are_never_folded(token: str, stored: str, typed: str) -> None:
    _person(stored)

    assert _search(token, q=typed)["candidates"] == []


def test_homonyms_are_all_returned_as_separate_candidates_never_merged(token: str) -> None:
    first = _person("Nguyễn Văn Hùng", pid="000090000001")
    second = _person("Nguyễn Văn Hùng", pid="000090000002")
    _person("Nguyễn Văn Hưng")

    body = _search(token, q="nguyen van hung")

    assert sorted(c["id"] for c in body["candidates"] if c["full_name"] == "Nguyễn Văn Hùng") == sorted(
        [str(first.id), str(second.id)]
    )
    assert {c["match"] for c in body["candidates"]} == {"name_variant"}
    assert len(body["candidates"]) == 3  # Hưng folds to "hung" too: a candidate, flagged as a variant
    assert Person.objects.count() == 3


def test_id_number_is_exact_and_never_fuzzy(token: str) -> None:
    person = _person("Hoàng Văn Lộc", pid="000088123456")
    _person("Hoàng Văn Lộc", pid="000088123457")

    exact = _search(token, q="0000 8812 3456")
    short = _search(token, 422, q="00008812345")

    assert exact["query_kind"] == "id_number"
    assert [(c["id"], c["match"]) for c in exact["candidates"]] == [(str(person.id), "id_number")]
    assert (short["code"], short["details"]) == ("validation_error", {"field": "q"})


def test_persons_outside_the_device_scope_or_archived_are_not_found(token: str) -> None:
    _person("Lăng Văn Bình", commune=COMMUNE_B, pid="000088000001")
    archived = _person("Lăng Văn Bình", pid="000088000002")
    Person.objects.filter(pk=archived.pk).update(is_archived=True)

    assert _search(token, q="Lăng Văn Bình")["candidates"] == []
    assert _search(token, q="000088000001")["candidates"] == []


def test_whole_words_only_and_partial_names_rank_after_full_matches(token: str) -> None:
    _person("Hoàng Thị Lan")
    _person("Triệu Văn An")
    _person("An")

    body = _search(token, q="An")

    assert _found(body) == [("An", "exact_name", "not_given"), ("Triệu Văn An", "partial_name", "not_given")]


@pytest.mark.parametrize(
    ("stored_dob", "typed_dob", "expected"),
    [
        ({"dob_year": 1985, "dob_precision": "year"}, "15/03/1985", "year_compatible"),
        ({"dob_year": 1985, "dob_month": 3, "dob_day": 15, "dob_precision": "day"}, "1985", "year_compatible"),
        ({"dob_year": 1985, "dob_month": 3, "dob_day": 15, "dob_precision": "day"}, "15/03/1985", "exact"),
        (
            {"dob_year": 1985, "dob_month": 5, "dob_day": 3, "dob_precision": "day"},
            "05/03/1985",
            "possible_day_month_swap",
        ),
        ({"dob_year": 1985, "dob_month": 3, "dob_day": 15, "dob_precision": "day"}, "01/01/1985", "year_compatible"),
        (
            {"dob_year": 1985, "dob_month": 3, "dob_day": 15, "dob_precision": "day"},
            "20/08/1985",
            "same_year_date_differs",
        ),
        ({"dob_year": None, "dob_precision": "unknown"}, "1985", "unknown"),
        ({"dob_year": 1986, "dob_precision": "year"}, "1985", None),
    ],
)
def test_birth_dates_are_matched_by_compatibility(
    token: str, stored_dob: dict[str, Any], typed_dob: str, expected: str | None
) -> None:
    _person("Nông Thị Mai", **stored_dob)

    body = _search(token, q="Nong Thi Mai", dob=typed_dob)

    assert [c["birth"] for c in body["candidates"]] == ([expected] if expected else [])


def test_an_id_number_match_shows_a_disagreeing_birth_year_instead_of_hiding_it(token: str) -> None:
    _person("Nông Thị Mai", pid="000085000001", dob_year=1986, dob_precision="year")

    body = _search(token, q="000085000001", dob="1985")

    assert _found(body) == [("Nông Thị Mai", "id_number", "year_differs")]


@pytest.mark.parametrize(("params", "field"), [({"q": "Mai", "dob": "1985-03-05"}, "dob"), ({"q": "Đ"}, "q")])
def test_bad_search_input_gets_a_stable_code(token: str, params: dict[str, str], field: str) -> None:
    body = _search(token, 422, **params)

    assert body["code"] == "validation_error"
    assert body["details"] == {"field": field}


def test_a_search_is_audited_without_the_query_text(token: str) -> None:
    _person("Đặng Thị Hà")

    _search(token, q="Dang Thi Ha")

    event = AuditEvent.objects.get(action="persons.searched")
    assert event.details == {"kind": "name", "with_dob": False, "candidate_count": 1}
    assert event.actor_device_id is not None
    assert "Dang" not in str(event.details) and "Hà" not in str(event.details)


def test_search_needs_a_device_token() -> None:
    response = Client().get("/api/v1/persons/search", {"q": "Mai"})

    assert response.status_code == 401
    assert response.json()["code"] == "auth_required"
