"""API feature level: bumped with every wire change; apps that cannot be force-upgraded check it.

CHANGELOG (newest first; written for app developers):
- 5: push may answer 429 `sync_quarantine_full`: this device already has too many records waiting for
  a sync administrator (FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS / _MAX_BYTES). Nothing of that push was
  applied: keep every change pending and push again later (as after any failed push). A rejected record
  pushed again unchanged is no longer quarantined twice. Refresh: presenting a refresh token that was
  already rotated ends the whole session (every token since the login) with 401 `token_invalid`; send
  each refresh token once and log in again after that answer.
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
  Media: a full server disk mid-PATCH is 507 `upload_storage_full` (the bytes received stay; HEAD,
  then resume later); a stored photo that fails its integrity check is 500 `photo_integrity_failed`
  (never served; not worth retrying).
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

FEATURE_LEVEL = 5
