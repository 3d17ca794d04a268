"""The registry's PhotoAccess, with a hook run when the retention cleanup asks about one photo inside
its deleting transaction (the Photo row locked by then): a PostgreSQL race test starts a duplicate
upload there and lets the cleanup go on only once that upload waits for a lock."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, ClassVar

from django.db import connection

from backend.registry.photo_access import registry_photo_access


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
