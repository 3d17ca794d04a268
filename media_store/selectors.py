"""Reads: uploads and photos, always through the caller that may see them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection

from media_store.access import photo_access
from media_store.callers import Caller
from media_store.errors import PhotoIntegrityError, PhotoNotFound, UploadNotFound
from media_store.models import Photo, Upload, UploadState
from media_store.services import upload_part_path
from media_store.storage import media_storage

logger = logging.getLogger(__name__)

DERIVATIVE_KINDS = ("thumb", "display")
_READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class VerifiedBytes:
    """Bytes read from storage whose sha256 equals the recorded one."""

    data: bytes
    sha256: str


def upload_get_for_device(*, device_id: Any, upload_id: UUID) -> Upload:
    """The device's own upload. Another device's upload is indistinguishable from a missing one (404)."""
    try:  # by primary key: at most one row, so no ORDER BY for the ORM to compile (as .first() adds)
        return Upload.objects.select_related("photo").get(pk=upload_id, device_id=device_id)
    except Upload.DoesNotExist:
        raise UploadNotFound()


def upload_offset_bytes(*, upload: Upload) -> int:
    """The tus offset: the size of the .part file on disk (the database hint is not trusted)."""
    if upload.state == UploadState.COMPLETE:
        return upload.length_bytes
    try:
        return upload_part_path(upload_id=upload.id).stat().st_size
    except FileNotFoundError:
        return 0


def photo_get_by_sha256(*, sha256: str) -> Photo:
    photo = Photo.objects.filter(sha256=sha256.lower()).first()
    if photo is None:
        raise PhotoNotFound()
    return photo


def photo_sha256s_stored(*, sha256s: Sequence[str]) -> set[str]:
    """The digests among `sha256s` (lowercase) whose photo is stored: one query per 500."""
    wanted = sorted({s.lower() for s in sha256s})
    stored: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stored.update(Photo.objects.filter(sha256__in=chunk).values_list("sha256", flat=True))
    return stored


def photo_sha256s_stored_for_link(*, sha256s: Sequence[str]) -> set[str]:
    """Inside the transaction that links them: the digests among `sha256s` (lowercase) whose photo is
    stored, each such Photo row locked FOR KEY SHARE until that transaction ends.

    Whoever makes a photo referenced (a record's link, a notice's photo, a face search's probe) asks
    here, so the retention cleanup - which locks the row FOR UPDATE, re-checks references, then
    deletes it - cannot delete a photo under a link not yet committed: a cleanup that comes later
    waits for the commit and then sees the link; one that got there first has deleted the row when
    this lock is granted, and the digest is not returned (the photo is truthfully not stored).
    KEY SHARE conflicts only with FOR UPDATE and DELETE: linkers never wait for each other, only for
    a cleanup or a completion (both short). Rows are locked in sha256 order, one statement per 500,
    and before the linker locks any link row (a completion locks the Photo, then the links).
    On SQLite (no row locks; writing transactions begin IMMEDIATE, so they never overlap) a plain read.
    """
    if connection.vendor != "postgresql":
        return photo_sha256s_stored(sha256s=sha256s)
    wanted = sorted({s.lower() for s in sha256s})
    table = connection.ops.quote_name(Photo._meta.db_table)
    sql = f"SELECT sha256 FROM {table} WHERE sha256 = ANY(%s) ORDER BY sha256 FOR KEY SHARE"  # noqa: S608  # identifier only
    stored: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), 500):
            cursor.execute(sql, [wanted[start : start + 500]])
            stored.update(row[0] for row in cursor.fetchall())
    return stored


def photo_get_for_caller(*, caller: Caller, sha256: str) -> Photo:
    """A stored photo the caller's device may see (FIELDSYNC_PHOTO_ACCESS_CHECKER decides).

    A photo out of the caller's scope is indistinguishable from a missing one: PhotoNotFound (404).
    """
    sha256 = sha256.lower()
    photo = Photo.objects.filter(sha256=sha256).first()
    if photo is None or not photo_access().caller_may_read(caller=caller, sha256=sha256):
        raise PhotoNotFound()
    return photo


def photo_derivative_sha256(*, photo: Photo, kind: str) -> str:
    """The recorded sha256 of a derivative (its ETag). Raises PhotoNotFound for an unknown kind."""
    entry = (photo.derivatives or {}).get(kind) if kind in DERIVATIVE_KINDS else None
    if not entry:
        raise PhotoNotFound(details={"kind": kind})
    return str(entry["sha256"])


def photo_derivative_read(*, photo: Photo, kind: str) -> VerifiedBytes:
    """The derivative's bytes, verified against their recorded sha256 before anyone sees them.

    Raises PhotoNotFound (unknown kind), PhotoIntegrityError (bytes missing or altered; logged).
    """
    expected = photo_derivative_sha256(photo=photo, kind=kind)
    key = str(photo.derivatives[kind]["key"])
    return _read_verified(key=key, expected_sha256=expected, photo=photo, part=kind)


def photo_original_read(*, photo: Photo) -> VerifiedBytes:
    """The original upload's bytes, verified against the photo's sha256. Raises PhotoIntegrityError."""
    return _read_verified(key=photo.original_key, expected_sha256=photo.sha256, photo=photo, part="original")


def _read_verified(*, key: str, expected_sha256: str, photo: Photo, part: str) -> VerifiedBytes:
    hasher = hashlib.sha256()
    chunks: list[bytes] = []
    try:
        with media_storage().open(key=key) as handle:
            while chunk := handle.read(_READ_CHUNK_BYTES):
                hasher.update(chunk)
                chunks.append(chunk)
    except Exception as error:  # any backend's failure to produce the bytes (missing file, S3 404, I/O)
        logger.error("photo %s %s unreadable at %s: %s", photo.sha256, part, key, error)
        raise PhotoIntegrityError(
            "The stored photo is missing; it cannot be served.", details={"sha256": photo.sha256, "part": part}
        )
    actual = hasher.hexdigest()
    if actual != expected_sha256:
        logger.error(
            "photo %s %s at %s failed its integrity check: expected sha256 %s, stored bytes hash to %s",
            photo.sha256,
            part,
            key,
            expected_sha256,
            actual,
        )
        raise PhotoIntegrityError(details={"sha256": photo.sha256, "part": part})
    return VerifiedBytes(data=b"".join(chunks), sha256=actual)
