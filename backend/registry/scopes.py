"""Scope keys: which devices see which registry rows.

* ``province`` — the wanted handbook (notices and their photos): every field unit carries it.
* ``commune:<code>`` — persons by primary commune, with their residences and convictions.
* ``commune-drug:<code>`` — drug-use records (health data): community officers and province-wide
  units only; a patrol officer at a border post never receives them.
* ``unit:<id>`` — checks recorded by the unit and the photos taken with them.
* ``device:<uuid>`` — reserved for results addressed to one device (face search).
* ``archived`` — closed records; no device has this key, so archiving a record deletes it on devices.

Jurisdictions are effective-dated: the communes are those of the device's unit *today*. An officer
moved to another unit keeps no data of either unit on the old unit's device.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from backend.accounts.models import Role
from backend.registry.communes import commune_codes

PROVINCE = "province"
ARCHIVED = "archived"


def commune_scope(code: str) -> str:
    return f"commune:{code}"


def commune_drug_scope(code: str) -> str:
    return f"commune-drug:{code}"


def unit_scope(unit_id: int | str) -> str:
    return f"unit:{unit_id}"


def device_scope(device_id: Any) -> str:
    return f"device:{device_id}"


def registry_scope_keys(device: Any, officer: Any) -> set[str]:
    """The scope keys of a device with `officer` logged in (registered with sync.registry).

    Province-wide units cover every commune of the province; drug-use scopes go to
    community officers and province-wide units. No officer (not logged in) means no commune data.
    """
    unit = device.unit
    if officer is not None and officer.unit_id != unit.pk:
        # The officer was moved to another unit after logging in on this unit's phone: the phone
        # keeps nothing of either unit (its next pull deletes what it holds; pushes are out of scope).
        return {device_scope(device.pk)}
    keys = {unit_scope(unit.pk), device_scope(device.pk)}
    if officer is None:
        return keys
    keys.add(PROVINCE)
    communes = set(unit.commune_codes_on(timezone.localdate()))
    if unit.is_province_wide:
        communes |= commune_codes()
    keys.update(commune_scope(code) for code in communes)
    if officer.role == Role.COMMUNITY_OFFICER or unit.is_province_wide:
        keys.update(commune_drug_scope(code) for code in communes)
    return keys
