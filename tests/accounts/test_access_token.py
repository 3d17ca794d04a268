"""Resolving a bearer access token: what it loads, and that every rule is checked on every request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backend.accounts import services
from backend.accounts.errors import DeviceWipeRequired, TokenExpired, TokenInvalid
from backend.accounts.models import Device, DeviceStatus, DeviceToken, Officer, Unit
from tests.conftest import make_device_session, make_officer, make_unit

pytestmark = pytest.mark.django_db


def _columns(instance: Model) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def _session() -> Any:
    officer = make_officer(username="patrol.token", unit=make_unit(code="HN", communes=("20215",)))
    return make_device_session(officer=officer, label="phone 7")


def test_the_context_holds_every_column_of_the_device_the_officer_and_both_units_as_the_orm_reads_them() -> None:
    pair = _session()
    Device.objects.filter(pk=pair.device.pk).update(schema_version=12, app_version="1.4.0", last_pull_at=timezone.now())
    Unit.objects.filter(pk=pair.device.unit_id).update(is_province_wide=True)
    expected = DeviceToken.objects.select_related("device__unit", "officer__unit").get(
        token_hash=services.secret_hash(pair.access_token)
    )

    with CaptureQueriesContext(connection) as queries:
        context = services.device_context_for_access_token(token=pair.access_token)
        loaded = (context.device.unit, context.officer.unit)

    assert len(queries) == 1
    assert _columns(context.device) == _columns(expected.device)
    assert _columns(context.officer) == _columns(expected.officer)
    assert _columns(loaded[0]) == _columns(expected.device.unit)
    assert _columns(loaded[1]) == _columns(expected.officer.unit)
    assert loaded[0].is_province_wide is True
    assert context.device.last_pull_at is not None and context.device.last_pull_at.tzinfo is not None
    assert context.officer.is_active is True
    assert context.device._state.db == "default" and not context.device._state.adding


def test_an_officer_moved_out_of_every_unit_keeps_the_access_token_in_hand_with_no_unit() -> None:
    pair = _session()
    Officer.objects.filter(pk=pair.officer.pk).update(unit=None)

    with CaptureQueriesContext(connection) as queries:
        context = services.device_context_for_access_token(token=pair.access_token)
        unit = context.officer.unit

    assert unit is None
    assert context.officer.unit_id is None
    assert len(queries) == 1


def test_a_revoked_token_is_refused_on_the_next_call() -> None:
    pair = _session()
    services.device_context_for_access_token(token=pair.access_token)

    services.officer_revoke_tokens(actor=None, officer=pair.officer)

    with pytest.raises(TokenInvalid):
        services.device_context_for_access_token(token=pair.access_token)


@pytest.mark.parametrize("status", [DeviceStatus.REVOKED, DeviceStatus.WIPED])
def test_a_revoked_or_wiped_device_gets_the_wipe_instruction_on_the_next_call(status: str) -> None:
    pair = _session()
    services.device_context_for_access_token(token=pair.access_token)

    Device.objects.filter(pk=pair.device.pk).update(status=status)

    with pytest.raises(DeviceWipeRequired):
        services.device_context_for_access_token(token=pair.access_token)


def test_an_expired_token_is_refused_as_expired() -> None:
    pair = _session()
    services.device_context_for_access_token(token=pair.access_token)

    DeviceToken.objects.filter(token_hash=services.secret_hash(pair.access_token)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(TokenExpired):
        services.device_context_for_access_token(token=pair.access_token)


@pytest.mark.parametrize(("column", "value"), [("is_active", False), ("role", "auditor")])
def test_an_officer_deactivated_or_out_of_a_field_role_is_refused_on_the_next_call(column: str, value: Any) -> None:
    pair = _session()
    services.device_context_for_access_token(token=pair.access_token)

    Officer.objects.filter(pk=pair.officer.pk).update(**{column: value})

    with pytest.raises(TokenInvalid):
        services.device_context_for_access_token(token=pair.access_token)


def test_a_refresh_token_or_an_unknown_token_is_not_an_access_token() -> None:
    pair = _session()

    with pytest.raises(TokenInvalid):
        services.device_context_for_access_token(token=pair.refresh_token)
    with pytest.raises(TokenInvalid):
        services.device_context_for_access_token(token="no-such-token")


def test_a_revoked_device_is_told_to_wipe_even_with_an_expired_token() -> None:
    """The order of the checks is part of the answer: the wipe instruction wins over expiry."""
    pair = _session()
    DeviceToken.objects.filter(token_hash=services.secret_hash(pair.access_token)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    services.device_revoke(actor=None, device=pair.device, reason="lost")

    with pytest.raises(DeviceWipeRequired):
        services.device_context_for_access_token(token=pair.access_token)
