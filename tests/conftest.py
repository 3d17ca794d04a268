"""Shared fixtures. Factories are plain functions; the database and folders are real."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

IS_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_PASSWORD = "correct horse battery staple"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if IS_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (not allowed): {report.longrepr}"
    return report


def shared_faces_dir() -> Path:
    folder = Path(settings.FIELDSYNC_SHARED_FACES_DIR)
    if not folder.is_dir():
        message = f"shared face photos not found at {folder}"
        if IS_CI:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(autouse=True)
def _media_root(tmp_path: Path, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Empty this test process's cache. On Redis, which parallel test runs on one machine share,
    only this process's keys (its own KEY_PREFIX): cache.clear() is FLUSHDB and wiped the rate-limit
    counters of every other run mid-test."""
    from django.core.cache import cache

    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        cache.clear()
        return
    client = cache._cache.get_client(None, write=True)  # type: ignore[attr-defined]
    for key in client.scan_iter(match=f"{cache.key_prefix}:*"):  # type: ignore[attr-defined]
        client.delete(key)


def pytest_configure(config: pytest.Config) -> None:
    """Parallel test runs on one machine share the Redis server: each process keeps its cache keys
    under its own prefix, in a database other than 0 (where a FLUSHDB of a run without this would
    otherwise wipe its rate-limit counters mid-test). CI runs one process: nothing changes there."""
    cache = settings.CACHES["default"]
    if "redis" in cache["BACKEND"].lower():
        cache["KEY_PREFIX"] = f"test-{os.getpid()}"
        cache["LOCATION"] = re.sub(r"/\d*$", f"/{1 + os.getpid() % 15}", str(cache["LOCATION"]))


def make_unit(*, code: str = "U1", communes: tuple[str, ...] = ("06184",), province_wide: bool = False) -> Any:
    from backend.accounts.models import Jurisdiction, Unit, UnitKind

    unit = Unit.objects.create(
        code=code,
        name=f"Unit {code}",
        kind=UnitKind.PROVINCIAL_HQ if province_wide else UnitKind.COMMUNE_POST,
        is_province_wide=province_wide,
    )
    for commune in communes:
        Jurisdiction.objects.create(unit=unit, commune_code=commune, valid_from=date(2025, 7, 1))
    return unit


def make_officer(*, username: str, unit: Any, role: str = "patrol_officer") -> Any:
    from backend.accounts.models import Officer

    officer = Officer(username=username, role=role, unit=unit)
    officer.set_password(TEST_PASSWORD)
    officer.save()
    return officer


def make_device_session(*, officer: Any, label: str = "phone") -> Any:
    """Enroll a device for the officer's unit and log the officer in: returns the TokenPair."""
    from backend.accounts import services

    issued = services.enrollment_code_issue(actor=None, unit=officer.unit, label=label)
    enrolled = services.device_enroll(code=issued.code, label=label)
    return services.officer_login(
        device_id=str(enrolled.device.id),
        device_credential=enrolled.device_credential,
        username=officer.username,
        password=TEST_PASSWORD,
    )
