"""enroll_device and demo_officers management commands."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from backend.accounts.models import Device, DeviceStatus
from backend.accounts.services import device_context_for_access_token
from backend.audit.models import AuditEvent
from tests.conftest import make_officer, make_unit

pytestmark = pytest.mark.django_db


def _enroll(*args: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("enroll_device", *args, stdout=out)
    return dict(json.loads(out.getvalue()))


def test_enroll_device_prints_tokens_that_authenticate_the_officer_on_that_device() -> None:
    unit = make_unit(code="BP", communes=("05977",))
    officer = make_officer(username="patrol.test", unit=unit)

    result = _enroll("--officer", "patrol.test", "--json", "--label", "Phone 7")

    context = device_context_for_access_token(token=result["access_token"])
    device = Device.objects.get(pk=result["device_id"])
    assert context.officer == officer and str(context.device.id) == result["device_id"]
    assert (device.status, device.label, device.current_officer) == (DeviceStatus.ACTIVE, "Phone 7", officer)
    assert result["refresh_token"] and result["device_credential"]
    assert AuditEvent.objects.filter(action="auth.ops_token_issued", actor_device_id=device.id).count() == 1


def test_enrolled_token_pulls_over_http() -> None:
    unit = make_unit(code="BP", communes=("05977",))
    make_officer(username="patrol.test", unit=unit)
    result = _enroll("--officer", "patrol.test", "--json")

    response = Client().get(
        "/api/v1/sync/pull?schema_version=1", headers={"Authorization": f"Bearer {result['access_token']}"}
    )

    assert response.status_code == 200
    assert "persons" in response.json()["changes"]


def test_enroll_device_refuses_an_officer_without_a_field_role() -> None:
    unit = make_unit(code="HQ", communes=())
    make_officer(username="admin.test", unit=unit, role="sync_admin")

    with pytest.raises(CommandError):
        _enroll("--officer", "admin.test", "--json")

    assert Device.objects.count() == 0


def test_demo_officers_lists_only_demo_officers_with_unit_and_communes() -> None:
    from django.contrib.auth.models import Group

    unit = make_unit(code="CX-05977", communes=("05977",))
    demo = make_officer(username="community.dongkinh", unit=unit, role="community_officer")
    demo.groups.add(Group.objects.create(name="demo"))
    make_officer(username="real.officer", unit=unit)
    out = io.StringIO()

    call_command("demo_officers", "--json", stdout=out)

    assert json.loads(out.getvalue()) == [
        {
            "username": "community.dongkinh",
            "display_name": "",
            "role": "community_officer",
            "unit_code": "CX-05977",
            "unit_name": "Unit CX-05977",
            "is_province_wide": False,
            "commune_codes": ["05977"],
        }
    ]
