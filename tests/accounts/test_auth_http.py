"""Enrollment, login, refresh and revocation through the HTTP API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from backend.accounts import services
from backend.accounts.models import DeviceStatus, DeviceToken
from backend.audit.models import AuditEvent
from backend.audit.services import audit_chain_verify
from tests.conftest import TEST_PASSWORD, make_device_session, make_officer, make_unit

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path, body, content_type="application/json", headers=headers)


def test_enroll_then_login_gives_tokens_bound_to_the_device_and_stored_hashed() -> None:
    unit = make_unit()
    officer = make_officer(username="patrol1", unit=unit)
    issued = services.enrollment_code_issue(actor=None, unit=unit, label="phone")
    client = Client()

    enrolled = post(client, "/api/v1/devices/enroll", {"enrollment_code": issued.code, "label": "phone"})
    login = post(
        client,
        "/api/v1/auth/login",
        {
            "device_id": enrolled.json()["device_id"],
            "device_credential": enrolled.json()["device_credential"],
            "username": "patrol1",
            "password": TEST_PASSWORD,
        },
    )

    assert enrolled.status_code == 200 and login.status_code == 200
    body = login.json()
    assert body["device_id"] == enrolled.json()["device_id"]
    assert body["officer_role"] == "patrol_officer"
    stored = set(DeviceToken.objects.filter(officer=officer).values_list("token_hash", flat=True))
    assert body["access_token"] not in stored and services.secret_hash(body["access_token"]) in stored
    pull = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert pull.status_code == 200


def test_an_enrollment_code_works_once() -> None:
    unit = make_unit()
    issued = services.enrollment_code_issue(actor=None, unit=unit)
    client = Client()
    post(client, "/api/v1/devices/enroll", {"enrollment_code": issued.code})

    again = post(client, "/api/v1/devices/enroll", {"enrollment_code": issued.code})

    assert again.status_code == 400
    assert again.json()["code"] == "enrollment_code_invalid"


def test_wrong_password_is_refused_and_audited_without_the_password() -> None:
    unit = make_unit()
    make_officer(username="patrol1", unit=unit)
    issued = services.enrollment_code_issue(actor=None, unit=unit)
    enrolled = services.device_enroll(code=issued.code)

    response = post(
        Client(),
        "/api/v1/auth/login",
        {
            "device_id": str(enrolled.device.id),
            "device_credential": enrolled.device_credential,
            "username": "patrol1",
            "password": "wrong",
        },
    )

    assert response.status_code == 401 and response.json()["code"] == "login_failed"
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert "wrong" not in str(event.details)


def test_officer_of_another_unit_cannot_log_in_on_the_device() -> None:
    unit, other = make_unit(code="A"), make_unit(code="B")
    make_officer(username="stranger", unit=other)
    issued = services.enrollment_code_issue(actor=None, unit=unit)
    enrolled = services.device_enroll(code=issued.code)

    with pytest.raises(services.OfficerNotAllowedOnDevice):
        services.officer_login(
            device_id=str(enrolled.device.id),
            device_credential=enrolled.device_credential,
            username="stranger",
            password=TEST_PASSWORD,
        )


def test_revoking_a_device_kills_its_tokens_at_once_and_asks_for_a_wipe() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    client = Client()
    auth = {"Authorization": f"Bearer {pair.access_token}"}
    assert client.get("/api/v1/sync/pull", headers=auth).status_code == 200

    services.device_revoke(actor=None, device=pair.device, reason="lost at checkpoint")

    response = client.get("/api/v1/sync/pull", headers=auth)
    assert response.status_code == 403
    assert response.json()["code"] == "device_wipe_required"
    assert post(client, "/api/v1/auth/refresh", {"refresh_token": pair.refresh_token}).json()["code"] == (
        "device_wipe_required"
    )
    pair.device.refresh_from_db()
    assert pair.device.status == DeviceStatus.REVOKED
    assert DeviceToken.objects.filter(device=pair.device, revoked_at__isnull=True).count() == 0


def test_revoking_an_officer_kills_their_tokens() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)

    services.officer_revoke_tokens(actor=None, officer=officer)

    response = Client().get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {pair.access_token}"})
    assert response.status_code == 401 and response.json()["code"] == "token_invalid"


def test_refresh_rotates_the_pair() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    client = Client()

    first = post(client, "/api/v1/auth/refresh", {"refresh_token": pair.refresh_token})
    reused = post(client, "/api/v1/auth/refresh", {"refresh_token": pair.refresh_token})

    assert first.status_code == 200 and first.json()["access_token"] != pair.access_token
    assert reused.status_code == 401 and reused.json()["code"] == "token_invalid"


def test_missing_token_and_bad_input_get_the_error_envelope() -> None:
    client = Client()

    unauthenticated = client.get("/api/v1/sync/pull")
    invalid = post(client, "/api/v1/devices/enroll", {"enrollment_code": "x", "unexpected": 1})

    assert unauthenticated.status_code == 401
    assert set(unauthenticated.json()) == {"code", "message", "details"}
    assert invalid.status_code == 422 and invalid.json()["code"] == "validation_error"


def test_audit_chain_verifies_and_detects_tampering() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    make_device_session(officer=officer)
    assert audit_chain_verify().is_intact

    event = AuditEvent.objects.order_by("id")[1]
    AuditEvent.objects.filter(pk=event.pk).update(action="tampered")

    assert audit_chain_verify().first_broken_id == event.pk


def test_a_replayed_rotated_refresh_token_revokes_its_whole_session_family_and_is_audited() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    stolen = make_device_session(officer=officer)
    other_login = make_device_session(officer=officer, label="second phone")  # another family: untouched
    client = Client()
    second = post(client, "/api/v1/auth/refresh", {"refresh_token": stolen.refresh_token}).json()
    third = post(client, "/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}).json()

    replayed = post(client, "/api/v1/auth/refresh", {"refresh_token": stolen.refresh_token})

    assert (replayed.status_code, replayed.json()["code"]) == (401, "token_invalid")
    for access in (stolen.access_token, second["access_token"], third["access_token"]):
        pulled = client.get("/api/v1/sync/pull", headers={"Authorization": f"Bearer {access}"})
        assert (pulled.status_code, pulled.json()["code"]) == (401, "token_invalid")
    newest = post(client, "/api/v1/auth/refresh", {"refresh_token": third["refresh_token"]})
    assert (newest.status_code, newest.json()["code"]) == (401, "token_invalid")
    assert not DeviceToken.objects.filter(device=stolen.device, revoked_at__isnull=True).exists()
    assert DeviceToken.objects.filter(device=other_login.device, revoked_at__isnull=True).count() == 2
    event = AuditEvent.objects.get(action="auth.refresh_token_reused")
    assert (event.actor_officer_id, event.actor_device_id) == (officer.pk, stolen.device.id)
    assert event.details["revoked_count"] == 4  # the three access tokens and the newest refresh token
    assert audit_chain_verify().is_intact


def test_a_refresh_token_revoked_by_an_administrator_is_refused_without_a_reuse_alarm() -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    services.officer_revoke_tokens(actor=None, officer=officer)

    refused = post(Client(), "/api/v1/auth/refresh", {"refresh_token": pair.refresh_token})

    assert (refused.status_code, refused.json()["code"]) == (401, "token_invalid")
    assert not AuditEvent.objects.filter(action="auth.refresh_token_reused").exists()
