"""Enrollment, login and tokens against hostile input and stale sessions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backend.accounts import services
from backend.accounts.models import Device
from tests.conftest import make_unit

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
