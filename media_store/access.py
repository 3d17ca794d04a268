"""Who may read a photo, and which photos the rest of the system still references: a port.

media_store may not import the registry or the sync engine (import-linter), yet both questions are
answered there (`photos` sync rows and their scopes, wanted notices, face searches). The setting
FIELDSYNC_PHOTO_ACCESS_CHECKER names (dotted path) an object implementing `PhotoAccess`; it is
resolved at call time, like FIELDSYNC_DEVICE_AUTHENTICATOR.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string

from media_store.callers import Caller


class PhotoAccess(Protocol):
    def caller_may_read(self, *, caller: Caller, sha256: str) -> bool:
        """Whether a record the caller's device may see shows the photo `sha256`."""
        ...

    def referenced_sha256s(self, *, sha256s: Collection[str]) -> set[str]:
        """The subset of `sha256s` that some record still references (those photos must be kept)."""
        ...


def photo_access() -> PhotoAccess:
    return cast(PhotoAccess, import_string(settings.FIELDSYNC_PHOTO_ACCESS_CHECKER))
