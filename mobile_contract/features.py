"""API feature level: bumped with every wire change; apps that cannot be force-upgraded check it.

CHANGELOG (newest first; written for app developers):
- 2: `GET /api/v1/persons/search?q=&dob=&limit=`: exact search on a 12-digit ID number, or
  accent-insensitive name search (đ = d) returning *candidates* labelled with how they matched
  and how the date of birth compares; only persons in the device's scope.
- 1: first release: enrollment, login/refresh, WatermelonDB pull/push with has_more paging and
  replacement resets, appSchema export, tus photo uploads, face search, device WebSocket pokes.
"""

from __future__ import annotations

FEATURE_LEVEL = 2
