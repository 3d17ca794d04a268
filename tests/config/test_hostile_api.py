"""Hostile input at the HTTP edge: every answer is the error envelope with a stable code, never a 5xx.

The device's bodies are JSON that a WatermelonDB phone (or anyone holding its token) sends. JSON
text that no JSON.stringify produces (NaN, Infinity, numbers overflowing a double) is refused whole;
strings the database cannot store are made storable at the edge (NUL removed; a lone UTF-16
surrogate — half an emoji cut by a substring — becomes U+FFFD), so one such record neither fails
the batch nor the server.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from django.test import Client

from backend.registry.models import Check
from sync.models import QuarantinedRecord
from tests.conftest import make_device_session, make_officer, make_unit
from tests.registry.conftest import COMMUNE_A, check_values

pytestmark = pytest.mark.django_db


class Phone:
    def __init__(self) -> None:
        unit = make_unit(code="UA", communes=(COMMUNE_A,))
        self.token = make_device_session(officer=make_officer(username="patrol.a", unit=unit)).access_token
        self.client = Client(raise_request_exception=False)
        response = self.get("/api/v1/sync/pull")
        assert response.status_code == 200, response.content
        self.cursor = response.json()["timestamp"]

    def get(self, path: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.token}"})

    def push_bytes(self, body: bytes) -> Any:
        return self.client.post(
            f"/api/v1/sync/push?last_pulled_at={self.cursor}",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}"},
        )


def check_record(**overrides: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), **check_values(**overrides), "_status": "created", "_changed": ""}


def push_body(records: list[dict[str, Any]], *, table: str = "checks") -> bytes:
    return orjson.dumps({"changes": {table: {"created": records, "updated": [], "deleted": []}}})


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_push_with_a_number_json_cannot_carry_is_a_400_envelope_and_applies_nothing(number: bytes) -> None:
    phone = Phone()
    good = check_record()
    body = push_body([good]).replace(b'"latitude":21.85', b'"latitude":' + number)
    assert number in body

    response = phone.push_bytes(body)

    assert response.status_code == 400
    assert response.json() == {"code": "validation_error", "message": "Cannot parse request body", "details": {}}
    assert Check.objects.count() == 0


def test_a_lone_surrogate_in_one_record_is_replaced_and_the_whole_batch_applies() -> None:
    phone = Phone()
    cut_emoji, intact = check_record(notes="gặp lúc 6h \\ud83d"), check_record(notes="bình thường")
    body = push_body([cut_emoji, intact]).replace(b"\\\\ud83d", b"\\ud83d")  # JSON.stringify's escape
    assert b'6h \\ud83d"' in body

    response = phone.push_bytes(body)

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {}
    notes = dict(Check.objects.values_list("id", "notes"))
    assert notes == {uuid.UUID(cut_emoji["id"]): "gặp lúc 6h \ufffd", uuid.UUID(intact["id"]): "bình thường"}


def test_nul_in_a_pushed_text_field_is_removed() -> None:
    phone = Phone()
    record = check_record(notes="a\x00b", location_text="Cửa khẩu\x00")

    response = phone.push_bytes(push_body([record]))

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {}
    check = Check.objects.get(pk=record["id"])
    assert (check.notes, check.location_text) == ("ab", "Cửa khẩu")


def test_nul_and_surrogates_in_table_names_ids_and_keys_are_rejected_and_quarantined_storably() -> None:
    phone = Phone()
    record = {**check_record(purpose="NOT_A_PURPOSE"), "bogus\x00": "\x00"}
    body = orjson.dumps({"changes": {"checks": {"created": [record]}, "TABLE\x00": {"deleted": ["ID\x00"]}}})
    body = body.replace(b'"TABLE', b'"\\udc00nope').replace(b'"ID', b'"\\ud800a')  # JSON escapes

    response = phone.push_bytes(body)

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {"checks": [record["id"]], "\ufffdnope": ["\ufffda"]}
    stored = {(q.table, q.record_id, q.code) for q in QuarantinedRecord.objects.all()}
    assert stored == {
        ("checks", record["id"], "sync_record_invalid"),
        ("\ufffdnope", "\ufffda", "sync_table_unknown"),
    }
    payload = QuarantinedRecord.objects.get(table="checks").payload
    assert payload["bogus"] == ""


def test_nul_in_a_query_parameter_is_an_answer_not_a_5xx() -> None:
    phone = Phone()

    by_name = phone.get("/api/v1/persons/search?q=%00Nguy%E1%BB%85n")
    by_number = phone.get("/api/v1/persons/search?q=00009012345%00")

    assert by_name.status_code == 200, by_name.content
    assert by_name.json()["candidates"] == []
    assert by_number.status_code == 422, by_number.content  # the NUL is dropped: 11 digits
    assert by_number.json() == {
        "code": "validation_error",
        "message": "An ID number has 12 digits.",
        "details": {"field": "q"},
    }


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/no-such-thing", 404, "not_found"),
        ("GET", "/api/v1/media/uploads/not-a-uuid", 404, "not_found"),
        ("PATCH", "/api/v1/media/uploads/not-a-uuid", 404, "not_found"),
        ("PUT", "/api/v1/sync/pull", 405, "validation_error"),
        ("DELETE", "/api/v1/auth/login", 405, "validation_error"),
        ("GET", "/api/v1/media/uploads/" + str(uuid.UUID(int=1)), 405, "validation_error"),
    ],
)
def test_answers_django_or_ninja_give_under_api_are_the_envelope_too(
    method: str, path: str, status: int, code: str
) -> None:
    phone = Phone()

    response = phone.client.generic(
        method, path, headers={"Authorization": f"Bearer {phone.token}", "Tus-Resumable": "1.0.0"}
    )

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert set(response.json()) == {"code", "message", "details"}


def test_a_push_over_the_request_size_limit_is_a_413_envelope_and_applies_nothing(settings: Any) -> None:
    phone = Phone()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    body = push_body([check_record(notes="x" * 20_000) for _ in range(3)])

    response = phone.push_bytes(body)

    assert response.status_code == 413
    assert response.json() == {
        "code": "sync_payload_too_large",
        "message": "The request body is too large; split it.",
        "details": {"max_bytes": 50_000},
    }
    assert Check.objects.count() == 0


def test_a_push_of_a_few_megabytes_of_records_is_accepted() -> None:
    phone = Phone()
    records = [check_record(notes="ghi chú dài " * 1_000) for _ in range(300)]
    body = push_body(records)
    assert len(body) > 3 * 1024 * 1024  # above Django's 2.5 MB default

    response = phone.push_bytes(body)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["experimentalRejectedIds"] == {}
    assert Check.objects.count() == 300


def test_an_integer_beyond_64_bits_in_one_record_is_rejected_alone() -> None:
    phone = Phone()
    huge, good = check_record(), check_record()
    body = push_body([huge, good]).replace(b'"captured_at":1756715400000', b'"captured_at":' + b"9" * 30, 1)
    assert b"9" * 30 in body

    response = phone.push_bytes(body)

    assert response.status_code == 200, response.content
    assert response.json()["experimentalRejectedIds"] == {"checks": [huge["id"]]}
    assert list(Check.objects.values_list("id", flat=True)) == [uuid.UUID(good["id"])]
