"""tus headers against hostile values: numbers are ASCII digits only, answers are envelopes, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from media_store.models import Upload
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import UPLOADS_URL, photo_bytes, sha256_hex, tus_headers, tus_metadata


@pytest.fixture
def session(db: None) -> Any:
    unit = make_unit(code="TT", communes=("20215",))
    return make_device_session(officer=make_officer(username="hanh.tt", unit=unit), label="phone-1")


# Unicode digits that str.isdigit() accepts: superscript two (int() refuses it), Arabic-Indic and
# full-width digits (int() reads them as 12).
@pytest.mark.parametrize("length", ["\u00b2", "\u0661\u0662", "\uff11\uff12", "+12", "1_2"])
def test_an_upload_length_that_is_not_ascii_digits_is_a_400_envelope_and_creates_nothing(
    session: Any, length: str
) -> None:
    data = photo_bytes()

    response = Client(raise_request_exception=False).generic(
        "POST",
        UPLOADS_URL,
        data=b"",
        headers=tus_headers(
            session, **{"Upload-Length": length, "Upload-Metadata": tus_metadata(sha256=sha256_hex(data))}
        ),
    )

    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": "validation_error",
        "message": "Upload-Length must be a non-negative integer.",
        "details": {"header": "Upload-Length"},
    }
    assert Upload.objects.count() == 0
