"""Where accepted originals and their derivatives live: a `MediaStorage` port with two adapters.

Keys are content addressed (`blobs/ab/cd/<sha256>`), so a key's bytes never change: saving is
idempotent and a concurrent save of the same key writes the same bytes.

* `LocalFolderStorage` (embedded default): files under MEDIA_ROOT, written to a temporary name,
  fsynced, then renamed into place, so a crash never leaves a partial blob under its final key.
* `DjangoStorageAdapter`: any Django storage, e.g. django-storages' S3 backend for S3-compatible
  object storage. Select it with the setting FIELDSYNC_MEDIA_STORAGE = "<alias in STORAGES>".

In-progress tus uploads are not here: appending needs a local file (MEDIA_ROOT/uploads).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages


class MediaStorage(Protocol):
    def save_file(self, *, key: str, source: Path) -> None:
        """Store `source` under `key` unless the key already exists. Idempotent."""
        ...

    def exists(self, *, key: str) -> bool: ...

    def open(self, *, key: str) -> BinaryIO: ...

    def delete(self, *, key: str) -> None: ...


def blob_key(*, sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def derivative_key(*, sha256: str, kind: str) -> str:
    return f"derivatives/{sha256[:2]}/{sha256[2:4]}/{sha256}_{kind}.jpg"


class LocalFolderStorage:
    def __init__(self, *, root: Path) -> None:
        self.root = root

    def path(self, *, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the media root: {key!r}")
        return path

    def save_file(self, *, key: str, source: Path) -> None:
        target = self.path(key=key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle, source.open("rb") as reader:
                shutil.copyfileobj(reader, handle, length=1024 * 1024)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)

    def exists(self, *, key: str) -> bool:
        return self.path(key=key).exists()

    def open(self, *, key: str) -> BinaryIO:
        return self.path(key=key).open("rb")

    def delete(self, *, key: str) -> None:
        self.path(key=key).unlink(missing_ok=True)


class DjangoStorageAdapter:
    def __init__(self, *, storage: Storage) -> None:
        self.storage = storage

    def save_file(self, *, key: str, source: Path) -> None:
        if self.storage.exists(key):
            return
        with source.open("rb") as reader:
            saved_as = self.storage.save(key, File(reader, name=source.name))
        if saved_as != key:  # a backend that renames on collision: a racing writer stored the same bytes
            self.storage.delete(saved_as)

    def exists(self, *, key: str) -> bool:
        return bool(self.storage.exists(key))

    def open(self, *, key: str) -> BinaryIO:
        return cast(BinaryIO, self.storage.open(key, "rb"))

    def delete(self, *, key: str) -> None:
        self.storage.delete(key)


def media_storage() -> MediaStorage:
    """The configured storage, read from settings at call time."""
    alias = getattr(settings, "FIELDSYNC_MEDIA_STORAGE", "")
    if alias:
        return DjangoStorageAdapter(storage=storages[alias])
    return LocalFolderStorage(root=Path(settings.MEDIA_ROOT))


def uploads_folder() -> Path:
    """Where tus uploads are appended (always a local folder: appends need a real file)."""
    return Path(settings.MEDIA_ROOT) / "uploads"


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
