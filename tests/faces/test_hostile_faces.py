"""Face endpoints against hostile text: free text is stored NFC, without invisible or control characters."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import pytest
from django.test import Client

from backend.faces.models import CandidateDecision, FaceCandidate, FaceSearch
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import create_upload, patch, photo_bytes, sha256_hex

pytestmark = pytest.mark.django_db

# "Vụ 12/2025 - Hữu Nghị" (en dash) typed on an IME that sends NFD, with a pasted zero-width space, an NBSP and a NUL.
HOSTILE_CASE = "Vu\u0323 12/2025\u200b\u00a0\u2013 Hu\u031b\u0303u Nghi\u0323\x00"
CLEAN_CASE = "Vụ 12/2025 \u2013 Hữu Nghị"


@pytest.fixture
def session(db: None) -> Any:
    unit = make_unit(code="HN", communes=("20215",))
    return make_device_session(officer=make_officer(username="patrol.hn", unit=unit))


def uploaded_probe(client: Client, session: Any) -> str:
    data = photo_bytes(seed=7)
    location = create_upload(client, session, data)
    assert patch(client, session, location, data, 0).status_code == 204
    return sha256_hex(data)


def start(client: Client, session: Any, sha256: str, case_reference: str) -> Any:
    return client.post(
        "/api/v1/faces/searches",
        {"photo_sha256": sha256, "purpose": "border_check", "case_reference": case_reference},
        content_type="application/json",
        headers={"Authorization": f"Bearer {session.access_token}"},
    )


def test_a_case_reference_is_stored_nfc_without_invisible_or_control_characters(session: Any) -> None:
    client = Client()
    sha256 = uploaded_probe(client, session)

    response = start(client, session, sha256, HOSTILE_CASE)

    assert response.status_code == 202, response.content
    assert response.json()["case_reference"] == CLEAN_CASE
    assert list(FaceSearch.objects.values_list("case_reference", flat=True)) == [CLEAN_CASE]


def test_a_case_reference_of_invisible_characters_only_is_refused_without_a_search(session: Any) -> None:
    client = Client()
    sha256 = uploaded_probe(client, session)

    response = start(client, session, sha256, "\u200b\u00a0\ufeff\x00")

    assert response.status_code == 422
    assert response.json()["code"] == "face_search_purpose_invalid"
    assert FaceSearch.objects.count() == 0


def test_a_decision_note_is_stored_nfc_without_invisible_or_control_characters(session: Any) -> None:
    client = Client()
    search = FaceSearch.objects.create(
        device=session.device,
        officer=session.officer,
        purpose="border_check",
        case_reference="c",
        probe_sha256="0" * 64,
    )
    candidate = FaceCandidate.objects.create(
        search=search,
        probe_face_index=0,
        probe_box=[0, 0, 1, 1],
        rank=1,
        wanted_notice_id=uuid.uuid4(),
        distance=0.4,
        score=0.8,
        is_within_threshold=True,
    )

    response = client.post(
        f"/api/v1/faces/candidates/{candidate.id}/decisions",
        {"decision": "reject", "note": "Kho\u0302ng pha\u0309i\u200b\x00 người này"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {session.access_token}"},
    )

    assert response.status_code == 200, response.content
    assert list(CandidateDecision.objects.values_list("note", flat=True)) == ["Không phải người này"]


def test_a_case_reference_that_grows_past_128_characters_under_nfc_is_refused_without_a_search(session: Any) -> None:
    client = Client()
    sha256 = uploaded_probe(client, session)
    expanding = "\ufb2c" * 128  # a composition exclusion: NFC writes each as 3 code points
    assert len(unicodedata.normalize("NFC", expanding)) == 384

    response = start(client, session, sha256, expanding)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"  # the limit applies to the stored (NFC) text, at the API edge
    assert [(e["loc"][-1], e["type"]) for e in body["details"]["errors"]] == [("case_reference", "string_too_long")]
    assert FaceSearch.objects.count() == 0
