"""The registry scope resolver: units, roles and effective-dated jurisdictions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from backend.accounts.models import Device, Jurisdiction
from backend.registry.communes import commune_codes
from sync.registry import scope_keys_for
from tests.conftest import make_officer, make_unit
from tests.registry.conftest import COMMUNE_A, COMMUNE_B

pytestmark = pytest.mark.django_db


def _keys(*, unit: object, role: str) -> frozenset[str]:
    officer = make_officer(username=f"o-{role}-{unit.pk}", unit=unit, role=role)  # type: ignore[attr-defined]
    device = Device.objects.create(unit=unit, label="phone")
    return scope_keys_for(device=device, officer=officer) - {f"device:{device.id}"}


def test_patrol_officer_gets_province_unit_and_communes_but_no_drug_records() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A, COMMUNE_B))

    keys = _keys(unit=unit, role="patrol_officer")

    assert keys == {"province", f"unit:{unit.pk}", f"commune:{COMMUNE_A}", f"commune:{COMMUNE_B}"}


def test_community_officer_also_gets_the_drug_records_of_the_communes() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))

    keys = _keys(unit=unit, role="community_officer")

    assert keys == {"province", f"unit:{unit.pk}", f"commune:{COMMUNE_A}", f"commune-drug:{COMMUNE_A}"}


def test_province_wide_unit_covers_all_65_communes_with_drug_records_whatever_the_role() -> None:
    unit = make_unit(code="HQ", communes=(), province_wide=True)

    keys = _keys(unit=unit, role="patrol_officer")

    assert len(commune_codes()) == 65
    assert {k for k in keys if k.startswith("commune:")} == {f"commune:{c}" for c in commune_codes()}
    assert {k for k in keys if k.startswith("commune-drug:")} == {f"commune-drug:{c}" for c in commune_codes()}


def test_a_jurisdiction_that_ended_or_has_not_started_is_not_in_scope() -> None:
    today = timezone.localdate()
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    Jurisdiction.objects.filter(unit=unit).update(valid_to=today)  # [2025-07-01, today): over
    Jurisdiction.objects.create(unit=unit, commune_code=COMMUNE_B, valid_from=today + timedelta(days=1))

    keys = _keys(unit=unit, role="community_officer")

    assert keys == {"province", f"unit:{unit.pk}"}


def test_the_device_key_is_its_own() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,), province_wide=False)
    officer = make_officer(username="o1", unit=unit)
    device = Device.objects.create(unit=unit)

    keys = scope_keys_for(device=device, officer=officer)

    assert f"device:{device.id}" in keys
    assert "archived" not in keys
    assert date(2025, 7, 1) <= timezone.localdate()
