"""The console's login against password guessing."""

from __future__ import annotations

from typing import Any

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
