"""Channel-layer group names (ASCII, < 100 chars) for devices and scope keys."""

from __future__ import annotations

import hashlib


def scope_group(scope_key: str) -> str:
    return "scope." + hashlib.sha256(scope_key.encode()).hexdigest()[:40]


def device_group(device_id: str) -> str:
    return "device." + device_id.replace("-", "")
