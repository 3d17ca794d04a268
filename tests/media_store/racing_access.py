"""The registry's PhotoAccess, with a hook run when the retention cleanup asks about one photo inside
its deleting transaction (the Photo row locked by then): a PostgreSQL race test starts a duplicate
upload there and lets the cleanup go on only once that upload waits for a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from typing import Any, ClassVar

from django.db import connection

from backend.registry.photo_access import registry_photo_access
from media_store import services
from tests.media_store.racing_locks import wait_until_waiting


class HookedPhotoAccess:
    inside_delete: ClassVar[Callable[[], None] | None] = None

    def caller_may_read(self, *, caller: Any, sha256: str) -> bool:
        return registry_photo_access.caller_may_read(caller=caller, sha256=sha256)

    def referenced_sha256s(self, *, sha256s: Collection[str]) -> set[str]:
        referenced = registry_photo_access.referenced_sha256s(sha256s=sha256s)
        hook = type(self).inside_delete
        if hook is not None and connection.in_atomic_block and not referenced:  # the re-check under the lock
            type(self).inside_delete = None
            hook()
        return referenced


hooked_photo_access = HookedPhotoAccess()


def cleanup_with_a_racer_inside(racer: threading.Thread) -> tuple[services.PhotoCleanupResult, bool]:
    """Run the retention cleanup (FIELDSYNC_PHOTO_ACCESS_CHECKER set to `hooked_photo_access`); inside its
    deleting transaction, the Photo locked, start `racer` and go on once it waits for a lock. Returns
    the cleanup's result and whether the racer waited (False: it ended first). Joins the racer."""
    waited: list[bool] = []

    def start_the_racer_and_wait_until_it_waits_for_a_lock() -> None:
        racer.start()
        waited.append(wait_until_waiting(1, threads=[racer]))

    HookedPhotoAccess.inside_delete = start_the_racer_and_wait_until_it_waits_for_a_lock
    try:
        result = services.photos_unreferenced_delete(retention_days=30)
    finally:
        HookedPhotoAccess.inside_delete = None
    racer.join(timeout=60)
    return result, waited == [True]
