"""Push against hostile batches: every bad record is rejected on its own, with a stable code, and the
rest of the batch applies. Never a 5xx, never database error text in a rejection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import pytest

from backend.accounts.models import Unit
from backend.registry.models import Check
from sync import registry
from sync.models import QuarantinedRecord, SyncRow
from sync.registry import AppliedRecord, Column, ColumnType, SyncedTable, WriteActor
from tests.conftest import make_unit
from tests.registry.conftest import COMMUNE_A, check_values
from tests.sync.devices import EndpointPhone

pytestmark = pytest.mark.django_db


class Phone(EndpointPhone):
    def __init__(self) -> None:
        super().__init__(username="patrol.a", unit=make_unit(code="UA", communes=(COMMUNE_A,)))


def check_record(record_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    return {"id": record_id or str(uuid.uuid4()), **check_values(**overrides), "_status": "created", "_changed": ""}


def test_a_record_sent_twice_in_one_push_is_applied_once_and_the_rest_of_the_batch_applies() -> None:
    phone = Phone()
    twice, other = check_record(notes="lần 1"), check_record()
    again = {**twice, "notes": "lần 2", "_status": "updated", "_changed": "notes"}

    response = phone.push({"checks": {"created": [twice, other, twice], "updated": [again], "deleted": [twice["id"]]}})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["experimentalRejectedIds"] == {"checks": [twice["id"]]}
    assert [(r["id"], r["code"]) for r in body["rejections"]] == [(twice["id"], "sync_record_invalid")] * 3
    assert {r["message"] for r in body["rejections"]} == {"the record appears more than once in this push"}
    assert dict(Check.objects.values_list("id", "notes")) == {
        uuid.UUID(twice["id"]): "lần 1",
        uuid.UUID(other["id"]): "",
    }
    assert SyncRow.objects.filter(table="checks").count() == 2


def test_a_non_canonical_spelling_of_an_existing_uuid_is_rejected_not_a_second_record() -> None:
    phone = Phone()
    first = check_record()
    assert phone.push({"checks": {"created": [first]}}).json()["rejections"] == []
    upper, bare = first["id"].upper(), first["id"].replace("-", "")

    response = phone.push({"checks": {"created": [check_record(upper)], "updated": [check_record(bare)]}})

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {"checks": [upper, bare]}
    assert {r["code"] for r in response.json()["rejections"]} == {"sync_record_id_invalid"}
    assert Check.objects.count() == 1
    assert list(SyncRow.objects.filter(table="checks").values_list("record_id", flat=True)) == [first["id"]]


def test_an_overlong_unknown_table_name_is_rejected_and_quarantined() -> None:
    phone = Phone()
    name = "t" * 300

    response = phone.push({name: {"created": [{"id": "a"}]}, "checks": {"created": [check_record()]}})

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {name: ["a"]}
    assert list(QuarantinedRecord.objects.values_list("table", "code")) == [(name[:64], "sync_table_unknown")]
    assert Check.objects.count() == 1


# A table whose domain write violates a real unique constraint: the database refuses one record.
def _apply_unit_code(*, record_id: str, values: Mapping[str, Any], is_new: bool, actor: WriteActor) -> AppliedRecord:
    Unit.objects.create(code=str(values["code"]), name="from a device")
    return AppliedRecord(payload={"id": record_id, **values}, scope_key=f"unit:{actor.unit_id}")


UNIT_CODES = SyncedTable(name="unit_codes", columns=(Column("code", ColumnType.STRING),), apply=_apply_unit_code)


@pytest.fixture
def unit_codes() -> Iterator[None]:
    registry._TABLES[UNIT_CODES.name] = UNIT_CODES
    yield
    registry._TABLES.pop(UNIT_CODES.name, None)


def test_a_record_the_database_refuses_is_rejected_alone_without_database_text(unit_codes: None) -> None:
    phone = Phone()
    good = check_record()

    response = phone.push(
        {
            "unit_codes": {"created": [{"id": "dup", "code": "UA"}, {"id": "new", "code": "UB"}]},
            "checks": {"created": [good]},
        }
    )

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {"unit_codes": ["dup"]}
    assert response.json()["rejections"] == [
        {
            "table": "unit_codes",
            "id": "dup",
            "code": "sync_record_invalid",
            "message": "the server could not store this record",
        }
    ]
    assert set(Unit.objects.values_list("code", flat=True)) == {"UA", "UB"}
    assert Check.objects.filter(pk=good["id"]).exists()
    assert QuarantinedRecord.objects.get().record_id == "dup"


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("GET", "schema_version=2147483648"),
        ("GET", "last_pulled_at=9223372036854775808"),
        ("GET", "schema_version=99999999999999999999999"),
        ("POST", "last_pulled_at=9223372036854775808"),
    ],
)
def test_an_integer_query_parameter_beyond_what_the_database_holds_is_a_422(method: str, query: str) -> None:
    phone = Phone()
    path = "/api/v1/sync/" + ("pull" if method == "GET" else "push") + "?" + query

    response = phone.client.generic(
        method,
        path,
        data=b'{"changes": {}}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {phone.token}"},
    )

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"]["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize("key", ["k" * 129, "caf\u00e9", "a b", "tab\there"])
def test_an_idempotency_key_that_is_not_1_to_128_visible_ascii_characters_is_a_422(key: str) -> None:
    phone = Phone()

    response = phone.client.post(
        f"/api/v1/sync/push?last_pulled_at={phone.cursor}",
        data=orjson.dumps({"changes": {"checks": {"created": [check_record()]}}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {phone.token}", "Idempotency-Key": key},
    )

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    assert response.json()["details"] == {"header": "Idempotency-Key", "max_length": 128}
    assert Check.objects.count() == 0


@pytest.mark.parametrize("encoding", ["utf-8-raw-surrogates", "utf-16-le", "utf-32"])
def test_unstorable_text_without_a_utf8_escape_is_made_storable_and_rejected_or_applied_alone(encoding: str) -> None:
    """NUL and lone surrogates reach the parser not only as the bytes `\\u0000` / `\\ud800`: a surrogate
    encoded into UTF-8 (json.loads reads bytes with "surrogatepass"), or any escape in a UTF-16/32 body."""
    phone = Phone()
    good, damaged = check_record(notes="bình thường"), check_record(notes="NOTE")
    bad_id = "ID"
    changes = {"checks": {"created": [good, damaged]}, "persons": {"deleted": [bad_id]}}
    text = orjson.dumps({"changes": changes}).decode()
    if encoding == "utf-8-raw-surrogates":
        body = text.encode().replace(b'"NOTE"', b'"6h \xed\xa0\xbd"').replace(b'"ID"', b'"\xed\xb0\x80a"')
    else:
        body = text.replace('"NOTE"', '"6h \\ud83d"').replace('"ID"', '"\\u0000\\udc00a"').encode(encoding)

    response = phone.client.post(
        f"/api/v1/sync/push?last_pulled_at={phone.cursor}",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {phone.token}"},
    )

    assert response.status_code == 200, response.content
    rejected = response.json()["experimentalRejectedIds"]
    assert rejected == {"persons": ["\ufffda"]}
    assert dict(Check.objects.values_list("id", "notes")) == {
        uuid.UUID(good["id"]): "bình thường",
        uuid.UUID(damaged["id"]): "6h \ufffd",
    }
    assert list(QuarantinedRecord.objects.values_list("table", "record_id")) == [("persons", "\ufffda")]
