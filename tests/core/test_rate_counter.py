"""Rate counters survive their key expiring between `add` and `incr` (no 500, no immortal counter)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from backend.accounts import services
from backend.core.rate import rate_counter_incr
from tests.conftest import make_officer, make_unit

EXPIRES_AFTER_ADD = "tests.core.expiring_caches.ExpiresAfterAddCache"
INCR_RECREATES = "tests.core.expiring_caches.IncrRecreatesWithoutTimeoutCache"


def use_cache(settings: Any, backend: str) -> None:
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": backend}}
    cache.clear()


def test_a_counter_that_expires_between_add_and_incr_starts_a_new_window(settings: Any) -> None:
    use_cache(settings, EXPIRES_AFTER_ADD)

    counts = [rate_counter_incr(key="k", timeout_seconds=60) for _ in range(4)]

    # the second call finds the key, which then expires: it counts 1 again in a new window
    assert counts == [1, 1, 2, 3]


def test_a_counter_recreated_by_incr_gets_its_timeout_back(settings: Any) -> None:
    use_cache(settings, INCR_RECREATES)

    counts = [rate_counter_incr(key="k", timeout_seconds=60) for _ in range(3)]

    assert counts == [1, 1, 2]
    assert cache.expires_at("k") is not None  # type: ignore[attr-defined]  # else it never expires


@pytest.mark.django_db
def test_a_login_whose_rate_counter_expires_mid_check_is_answered_not_a_500(settings: Any) -> None:
    settings.FIELDSYNC_LOGIN_RATE_PER_MINUTE = 3
    unit = make_unit(code="RT", communes=("20215",))
    make_officer(username="patrol.rate", unit=unit)
    enrolled = services.device_enroll(code=services.enrollment_code_issue(actor=None, unit=unit).code)
    use_cache(settings, EXPIRES_AFTER_ADD)
    body = {
        "device_id": str(enrolled.device.id),
        "device_credential": enrolled.device_credential,
        "username": "patrol.rate",
        "password": "guess",
    }

    answers = [
        Client(raise_request_exception=False).post("/api/v1/auth/login", body, content_type="application/json")
        for _ in range(5)
    ]

    # attempt 2 lands in the expiry window (a new window: count 1), so the 5th is the 4th of its window
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(401, "login_failed")] * 4 + [(429, "rate_limited")]
