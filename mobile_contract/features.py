"""API feature level: bumped with every wire change; apps that cannot be force-upgraded check it.

CHANGELOG (newest first; written for app developers):
- 4: stricter edges, no new endpoints. Every answer under `/api/` is the `{"code", "message",
  "details"}` envelope (unknown path, wrong method, malformed id included). JSON with `NaN`,
  `Infinity` or numbers beyond a double is a 400; NUL is dropped and lone surrogates become U+FFFD in
  every body and query. Length limits apply to the NFC text (a field that grows past its limit under
  NFC is a 422). Request bodies up to 32 MB; larger ones get 413 `sync_payload_too_large`. Push: a
  record id sent twice in one push is rejected (its first occurrence applies); record ids must be
  lower-case hyphenated UUIDs. Pull: `last_pulled_at=null` (as WatermelonDB sends it) is a first sync;
  cursors and `schema_version` beyond 64/32 bits and an `Idempotency-Key` over 128 visible ASCII
  characters are 422. An officer moved to another unit gets no new tokens on the old unit's device;
  the access token in hand pulls the deletes of the old unit's records until it expires.
- 3: sync administration for tools (session of a sync administrator, not device tokens):
  `GET /api/v1/sync/admin/reviews`, `POST .../reviews/{id}/resolve` (take_server | take_device |
  edit with `value`), `GET /api/v1/sync/admin/quarantine`, `POST .../quarantine/{id}/replay`
  (optional fixed `payload`) and `.../discard`. Outcomes reach devices through pull as usual.
  Push: an `updated` record the server has no trace of, sent with a stale cursor (replacement
  due), is rejected `sync_record_deleted` and quarantined instead of re-created.
  Pull: the delete of a record the device holds and may have edited (moved to another commune,
  scope lost, officer moved, deleted) now comes one page later: the page before says
  `has_more: true`, so the app pushes its pending edits first (they are quarantined, never lost).
  Keep looping while `has_more`, as before.
- 2: `GET /api/v1/persons/search?q=&dob=&limit=`: exact search on a 12-digit ID number, or
  accent-insensitive name search (đ = d) returning *candidates* labelled with how they matched
  and how the date of birth compares; only persons in the device's scope.
- 1: first release: enrollment, login/refresh, WatermelonDB pull/push with has_more paging and
  replacement resets, appSchema export, tus photo uploads, face search, device WebSocket pokes.
"""

from __future__ import annotations

FEATURE_LEVEL = 4
