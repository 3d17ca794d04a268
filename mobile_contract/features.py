"""API feature level: bumped with every wire change; apps that cannot be force-upgraded check it.

CHANGELOG (newest first; written for app developers):
- 1: first release: enrollment, login/refresh, WatermelonDB pull/push with has_more paging and
  replacement resets, appSchema export, tus photo uploads, face search, device WebSocket pokes.
"""

from __future__ import annotations

FEATURE_LEVEL = 1
