"""Template filters for the console."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """A value in dispute as the administrator should read it: strings bare, the rest as JSON."""
    if value is None:
        return "∅ (empty)"
    if isinstance(value, str):
        return value if value != "" else "'' (empty)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def as_edit_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
