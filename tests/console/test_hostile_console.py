"""The console's login against password guessing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client

from backend.audit.models import AuditEvent
from tests.conftest import TEST_PASSWORD, make_officer, make_unit

pytestmark = pytest.mark.django_db


def test_console_logins_beyond_the_per_minute_limit_are_refused_even_with_the_right_password(settings: Any) -> None:
    settings.FIELDSYNC_LOGIN_RATE_PER_MINUTE = 3
    make_officer(username="admin.central", unit=make_unit(code="HQ", province_wide=True), role="sync_admin")
    client = Client()

    names = ["admin.central", "Admin.Central", "ADMIN.CENTRAL"]  # one account, however it is typed
    guesses = [client.post("/console/login/", {"username": name, "password": "guess"}) for name in names]
    right = client.post("/console/login/", {"username": "admin.central", "password": TEST_PASSWORD})

    assert [g.status_code for g in guesses] == [200, 200, 200]  # the form again, with its error
    assert right.status_code == 200
    assert "Too many login attempts" in right.content.decode()
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="console.login").exists()


def _quarantined(admin_name: str) -> tuple[Client, Any]:
    from tests.console.conftest import Phone, console_client, make_pushed_quarantine
    from tests.registry.conftest import COMMUNE_A, make_person

    admin = make_officer(username=admin_name, unit=None, role="sync_admin")
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)))
    phone.pull()
    item = make_pushed_quarantine(phone=phone, person_id=str(make_person(commune=COMMUNE_A).id))
    return console_client(admin), item


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_a_replayed_payload_with_a_number_json_cannot_carry_is_refused_and_the_item_stays_open(number: str) -> None:
    from sync.models import QuarantinedRecord

    client, item = _quarantined("admin.nan")
    fixed = {k: v for k, v in item.payload.items() if not k.startswith("_")}
    text = orjson.dumps({**fixed, "result": "NO_HIT", "latitude": 1.5}).decode().replace("1.5", number)

    response = client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": text}, follow=True)

    assert response.status_code == 200
    assert "not valid JSON" in response.content.decode()
    assert QuarantinedRecord.objects.get(pk=item.pk).status == "open"


def test_a_replayed_payload_with_nul_in_a_key_is_stored(settings: Any) -> None:
    from sync.models import QuarantinedRecord

    client, item = _quarantined("admin.nul")
    fixed = {k: v for k, v in item.payload.items() if not k.startswith("_")}
    text = orjson.dumps({**fixed, "result": "NO_HIT", "extra\x00": {"deep": "a\x00b"}}).decode()
    assert "\\u0000" in text

    response = client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": text}, follow=True)

    assert response.status_code == 200
    stored = QuarantinedRecord.objects.get(pk=item.pk)
    assert stored.status == "replayed"
    assert stored.replayed_payload["extra"] == {"deep": "ab"}
