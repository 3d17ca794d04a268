"""A real file-system storage on which one upload of given bytes completes at the moment the photo
cleanup deletes the first stored blob: the duplicate-upload race of issue "retention vs dedup".

What "completes at that moment" means follows the database's rules: when the cleanup deletes the blob
inside a transaction, the upload's own transactions wait for it (SQLite's write lock, PostgreSQL's row
lock), so it completes right after that commit; outside a transaction it completes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.core.files.storage import FileSystemStorage
from django.db import connection, transaction


class UploadWhileDeletingStorage(FileSystemStorage):
    on_first_delete: ClassVar[Callable[[], None] | None] = None
    # Runs once a save found its key already stored (so skipped it), before the caller goes on.
    after_first_found: ClassVar[Callable[[], None] | None] = None

    def exists(self, name: Any) -> bool:
        found = bool(super().exists(name))
        hook = type(self).after_first_found
        if found and hook is not None and not connection.in_atomic_block:  # completion stores outside
            type(self).after_first_found = None
            hook()
        return found

    def delete(self, name: Any) -> None:
        hook, type(self).on_first_delete = type(self).on_first_delete, None
        if hook is not None:
            if connection.in_atomic_block:
                transaction.on_commit(hook)
            else:
                hook()
        super().delete(name)
