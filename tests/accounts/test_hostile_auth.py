"""Enrollment, login and tokens against hostile input and stale sessions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backend.accounts import services
from backend.accounts.models import Device, DeviceToken
from tests.conftest import make_device_session, make_officer, make_unit

pytestmark = pytest.mark.django_db


def post(path: str, body: dict[str, Any]) -> Any:
    return Client().post(path, body, content_type="application/json")


def test_an_enrolled_devices_label_and_app_version_are_stored_nfc_without_invisible_characters() -> None:
    issued = services.enrollment_code_issue(actor=None, unit=make_unit(), label="phone")

    response = post(
        "/api/v1/devices/enroll",
        {
            "enrollment_code": issued.code,
            "label": "\u200bĐie\u0323\u0302n thoa\u0323i\x00  số 3",
            "app_version": " 1.4.0\ufeff",
        },
    )

    assert response.status_code == 200, response.content
    device = Device.objects.get(pk=response.json()["device_id"])
    assert (device.label, device.app_version) == ("Điện thoại số 3", "1.4.0")


def _moved(officer: Any) -> None:
    officer.unit = make_unit(code="OTHER", communes=("20236",))
    officer.save(update_fields=["unit"])


def _made_auditor(officer: Any) -> None:
    officer.role = "auditor"
    officer.save(update_fields=["role"])


def test_an_officer_no_longer_in_a_field_role_loses_its_access_and_refresh_tokens() -> None:
    officer = make_officer(username="patrol.moved", unit=make_unit(code="HN", communes=("20215",)))
    pair = make_device_session(officer=officer)
    _made_auditor(officer)

    pulled = Client().get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {pair.access_token}"})
    refreshed = post("/api/v1/auth/refresh", {"refresh_token": pair.refresh_token})

    assert (pulled.status_code, pulled.json()["code"]) == (401, "token_invalid")
    assert (refreshed.status_code, refreshed.json()["code"]) == (401, "token_invalid")
    assert DeviceToken.objects.filter(officer=officer).count() == 2  # no new pair issued


def test_an_officer_moved_to_another_unit_gets_no_new_tokens_and_the_old_phone_sees_nothing_of_its_unit() -> None:
    unit = make_unit(code="HN", communes=("20215",))
    officer = make_officer(username="patrol.moved", unit=unit)
    pair = make_device_session(officer=officer)
    _moved(officer)

    pulled = Client().get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {pair.access_token}"})
    refreshed = post("/api/v1/auth/refresh", {"refresh_token": pair.refresh_token})

    # the access token in hand pulls (to delete the old unit's records from the phone) until it expires
    assert pulled.status_code == 200
    assert all(not lists["created"] and not lists["updated"] for lists in pulled.json()["changes"].values())
    assert (refreshed.status_code, refreshed.json()["code"]) == (401, "token_invalid")
    assert DeviceToken.objects.filter(officer=officer).count() == 2  # no new pair issued


def test_the_login_rate_limit_counts_every_spelling_of_the_device_id_as_one_device(settings: Any) -> None:
    settings.FIELDSYNC_LOGIN_RATE_PER_MINUTE = 3
    unit = make_unit(code="HN", communes=("20215",))
    make_officer(username="patrol.target", unit=unit)
    enrolled = services.device_enroll(code=services.enrollment_code_issue(actor=None, unit=unit).code)
    device_id = str(enrolled.device.id)
    spellings = [device_id, device_id.upper(), device_id.replace("-", ""), device_id.replace("-", "").upper()]

    answers = [
        post(
            "/api/v1/auth/login",
            {
                "device_id": spelling,
                "device_credential": enrolled.device_credential,
                "username": "patrol.target",
                "password": "guess",
            },
        ).json()["code"]
        for spelling in spellings
    ]

    assert answers == ["login_failed", "login_failed", "login_failed", "rate_limited"]


def test_an_enrollment_field_that_grows_past_its_limit_under_nfc_is_a_422_and_enrolls_nothing() -> None:
    # Limits apply to the stored (NFC) text: U+FB2C is one code point as sent and three after NFC.
    issued = services.enrollment_code_issue(actor=None, unit=make_unit(), label="phone")

    response = post(
        "/api/v1/devices/enroll",
        {"enrollment_code": issued.code, "label": "phone", "app_version": "\ufb2c" * 64},
    )

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["loc"][-1] for e in body["details"]["errors"]] == ["app_version"]
    assert list(Device.objects.values_list("status", "app_version")) == [("pending", "")]
