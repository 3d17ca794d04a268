"""NFC at the API entry point: every text field of every request body is stored NFC, whatever the
phone's keyboard sent (DOMAIN §4.1: decomposed Vietnamese from IMEs, copy-paste, Unikey "tổ hợp")."""

from __future__ import annotations

import inspect
import unicodedata
from typing import Any

import pytest
from django.test import Client

from backend.accounts.models import Device
from backend.audit.models import AuditEvent
from backend.faces.models import FaceSearch
from media_store.models import Upload, UploadState
from media_store.services import photo_ingest_bytes
from mobile_contract import schemas
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import photo_bytes

pytestmark = pytest.mark.django_db

CASE_NFC = "Vụ việc Lộc Bình 12/QĐ"
CASE_NFD = unicodedata.normalize("NFD", CASE_NFC)
LABEL_NFC = "Máy Đồng Đăng Hữu Nghị"
LABEL_NFD = unicodedata.normalize("NFD", LABEL_NFC)
SHORT_NFC = "Lộc Bình"  # fits every length limit (8 characters NFC, 11 NFD)
SHORT_NFD = unicodedata.normalize("NFD", SHORT_NFC)


def _input_schemas() -> list[type[Any]]:
    return [
        cls
        for _, cls in inspect.getmembers(schemas, inspect.isclass)
        if issubclass(cls, schemas._In) and cls is not schemas._In
    ]


def _minimal_valid(schema: type[Any]) -> dict[str, Any]:
    required = {name for name, field in schema.model_fields.items() if field.is_required()}
    examples = {
        "photo_sha256": "a" * 64,
        "changes": {},
        "decision": "reject",
        "resolution": "take_server",
        "q": "x",
        "enrollment_code": "x" * 8,
    }
    return {name: examples.get(name, "x") for name in required}


@pytest.mark.parametrize("schema", _input_schemas(), ids=lambda cls: cls.__name__)
def test_every_text_field_of_every_request_schema_is_normalised_to_nfc(schema: type[Any]) -> None:
    text_fields = [
        name for name, field in schema.model_fields.items() if field.annotation in (str, "str") and "sha256" not in name
    ]

    for name in text_fields:
        parsed = schema.model_validate({**_minimal_valid(schema), name: SHORT_NFD})

        expected = SHORT_NFD if name == "password" else SHORT_NFC  # passwords compare as typed, as in the console
        assert getattr(parsed, name) == expected, (schema.__name__, name)


def test_a_face_search_started_with_a_decomposed_case_reference_stores_and_audits_it_nfc() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    data = photo_bytes()
    photo = photo_ingest_bytes(data=data, source="test")
    Upload.objects.create(
        device=pair.device,
        length_bytes=len(data),
        state=UploadState.COMPLETE,
        photo=photo,
        expires_at="2099-01-01T00:00:00Z",
    )

    response = Client().post(
        "/api/v1/faces/searches",
        {"photo_sha256": photo.sha256, "purpose": "border_check", "case_reference": CASE_NFD},
        content_type="application/json",
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )

    assert response.status_code == 202, response.content
    assert response.json()["case_reference"] == CASE_NFC
    assert FaceSearch.objects.get().case_reference == CASE_NFC
    assert AuditEvent.objects.get(action="face.search_started").case_reference == CASE_NFC


def test_a_device_enrolled_with_a_decomposed_label_stores_it_nfc() -> None:
    from backend.accounts import services

    issued = services.enrollment_code_issue(actor=None, unit=make_unit(), label="")

    response = Client().post(
        "/api/v1/devices/enroll",
        {"enrollment_code": issued.code, "label": LABEL_NFD},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert Device.objects.get(pk=response.json()["device_id"]).label == LABEL_NFC
