"""Writes: tus uploads and the Photos they become.

Disk rules (DESIGN §4, "the offset on disk is the truth"):
* the bytes of an upload are appended to MEDIA_ROOT/uploads/<id>.part, read from the request in
  chunks (never the whole body in memory), and fsynced before the new offset is acknowledged (one
  fsync per PATCH: a killed process loses nothing of what it wrote, the page cache keeps it);
* the offset is the size of that file, not the database hint, so a server killed mid-write, or a
  write cut short by a full disk, resumes from what is really there;
* a completed upload becomes a Photo only after the sha256 of the whole file equals the one the
  device declared and the image passed `inspect_and_derive`. That sha256 is computed while the bytes
  are written (kept per upload in this process between PATCHes) or, when this process did not see
  every byte, streamed from the file: completion never holds an upload in memory to hash it;
* bytes that are already a Photo are linked to it without decoding them again (derivatives are made
  once per sha256).

One writer per upload at a time: an exclusive, non-blocking `flock` on the .part file (held across
the body read, so it also serialises server processes on one machine). A second writer gets 423.
Database transactions are short and never span reading the body, hashing or image decoding.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from media_store.access import photo_access
from media_store.errors import (
    ImageRejected,
    MediaError,
    StorageFull,
    UploadChecksumMismatch,
    UploadExpired,
    UploadIncomplete,
    UploadLocked,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadQuotaExceeded,
    UploadRequestInvalid,
    UploadTooLarge,
)
from media_store.imaging import CheckedImage, inspect_and_derive
from media_store.imaging import file_sha256 as imaging_file_sha256
from media_store.models import Photo, PhotoBlobDeletion, Upload, UploadState
from media_store.part_file import Chunks, PartWriter, chunks_bytes
from media_store.signals import photo_stored
from media_store.storage import blob_key, derivative_key, media_storage, uploads_folder
from mobile_contract.errors import ErrorCode

logger = logging.getLogger(__name__)

BODY_CHUNK_BYTES = 256 * 1024
# Body bytes gathered before one write to the .part file (one thread hop under ASGI). They are fsynced
# once, at the end of the PATCH, before its offset is acknowledged. The offset is the file size, so
# bytes written but not yet fsynced still count after a process crash (they are in the page cache);
# after a power loss the file may be shorter or, on some filesystems, end in zeros: never accepted as
# complete, because the final sha256 check runs over the bytes on disk's own running hash or the file.
WRITE_BATCH_BYTES = 2 * 1024 * 1024
# Batches a PATCH may have queued (hashed and written while the next arrive: about this many times
# WRITE_BATCH_BYTES per PATCH in memory, besides the writer's staging buffers). With fewer, the
# receiving thread waits for the disk or the hash more often.
PIPELINE_BATCHES = 4
# The disk lanes of every PATCH in the process share these threads (each session's writes one at a
# time, in order); staging and hashing run on part_file's own pool, beside them.
_write_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-write")


_RUNNING_HASHES_MAX = 256
CHECKSUM_ALGORITHMS = ("sha1", "sha256")  # tus checksum extension; sha1 is what tus clients send


class BodySource(Protocol):
    """What a request body offers: `read(n)` returning at most n bytes, b"" at the end."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class UploadMetadata:
    """The tus Upload-Metadata we keep (decoded). Nothing in it is used as a path or a file type."""

    sha256: str
    filename: str = ""
    record_table: str = ""
    record_id: str = ""

    def as_json(self) -> dict[str, str]:
        fields = {
            "filename": self.filename,
            "record_table": self.record_table,
            "record_id": self.record_id,
        }
        return {key: value for key, value in fields.items() if value}


@dataclass(frozen=True, slots=True)
class DeclaredChecksum:
    """The tus `Upload-Checksum` of one PATCH body."""

    algorithm: str
    digest: bytes

    @classmethod
    def parse(cls, header: str) -> DeclaredChecksum:
        algorithm, _, encoded = header.strip().partition(" ")
        if algorithm not in CHECKSUM_ALGORITHMS:
            raise UploadRequestInvalid(
                "Upload-Checksum algorithm not supported.",
                details={"supported": list(CHECKSUM_ALGORITHMS)},
            )
        try:
            digest = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise UploadRequestInvalid("Upload-Checksum is not base64.")
        if len(digest) != hashlib.new(algorithm).digest_size:
            raise UploadRequestInvalid("Upload-Checksum has the wrong length for its algorithm.")
        return cls(algorithm=algorithm, digest=digest)


@dataclass(frozen=True, slots=True)
class AppendResult:
    upload: Upload
    offset_bytes: int
    photo: Photo | None  # set once the upload is complete


class _RunningHashes:
    """sha256 state of the bytes this process wrote to each unfinished upload, keyed by upload id.

    An entry is valid only for the exact offset it was saved at: a PATCH starting anywhere else (bytes
    written by another process, a file cut back) finds nothing and completion re-reads the file. Taken
    out while a PATCH runs (one writer per upload holds the flock), put back when it ends well.
    Bounded: the oldest entries are dropped (their uploads then hash from disk at completion).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[UUID, tuple[int, Any]] = OrderedDict()

    def take(self, *, upload_id: UUID, offset_bytes: int) -> Any | None:
        if offset_bytes == 0:
            with self._lock:
                self._entries.pop(upload_id, None)
            return hashlib.sha256()
        with self._lock:
            entry = self._entries.pop(upload_id, None)
        return entry[1] if entry is not None and entry[0] == offset_bytes else None

    def put(self, *, upload_id: UUID, offset_bytes: int, hasher: Any) -> None:
        with self._lock:
            self._entries[upload_id] = (offset_bytes, hasher)
            while len(self._entries) > _RUNNING_HASHES_MAX:
                self._entries.popitem(last=False)

    def forget(self, *, upload_id: UUID) -> None:
        with self._lock:
            self._entries.pop(upload_id, None)

    def forget_missing(self, *, upload_ids: set[UUID]) -> None:
        """Drop entries of uploads that are no longer receiving (expired, terminated elsewhere)."""
        with self._lock:
            for upload_id in [key for key in self._entries if key not in upload_ids]:
                del self._entries[upload_id]


_running_hashes = _RunningHashes()


def upload_part_path(*, upload_id: UUID) -> Path:
    return uploads_folder() / f"{upload_id}.part"


def upload_expiry_from(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.FIELDSYNC_UPLOAD_EXPIRY_SECONDS)


def upload_create(*, device_id: UUID, length_bytes: int, metadata: UploadMetadata) -> Upload:
    """Start a tus upload for a device.

    The per-device quota (FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES: bytes of unfinished, unexpired uploads)
    is a hard limit: the device row is locked while it is counted.
    Side effects: an Upload row and an empty .part file. Not idempotent (each call is a new upload).
    Raises UploadRequestInvalid (length 0), UploadTooLarge, UploadQuotaExceeded.
    """
    max_bytes = settings.FIELDSYNC_UPLOAD_MAX_BYTES
    if length_bytes <= 0:
        raise UploadRequestInvalid("Upload-Length must be at least 1.", details={"header": "Upload-Length"})
    if length_bytes > max_bytes:
        raise UploadTooLarge(details={"length_bytes": length_bytes, "max_bytes": max_bytes})
    now = timezone.now()
    quota_bytes = settings.FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES
    with transaction.atomic():
        # The device row is locked so that racing creations of one device are counted one after the
        # other (a hard limit). By app label through the foreign key: media_store imports no accounts code.
        device_model = Upload._meta.get_field("device").related_model
        assert isinstance(device_model, type)
        list(device_model._default_manager.select_for_update().filter(pk=device_id).values_list("pk", flat=True))
        pending_bytes = (
            Upload.objects.filter(device_id=device_id, state=UploadState.RECEIVING, expires_at__gt=now).aggregate(
                total=Sum("length_bytes")
            )["total"]
            or 0
        )
        if pending_bytes + length_bytes > quota_bytes:
            raise UploadQuotaExceeded(details={"pending_bytes": pending_bytes, "quota_bytes": quota_bytes})
        upload = Upload.objects.create(
            device_id=device_id,
            length_bytes=length_bytes,
            declared_sha256=metadata.sha256,
            metadata=metadata.as_json(),
            expires_at=upload_expiry_from(now),
        )
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    # Not fsynced: a crash that loses the empty file loses nothing (a missing .part is offset 0 and the
    # first PATCH creates it), and a journal commit here cost every creation a few milliseconds.
    os.close(os.open(upload_part_path(upload_id=upload.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return upload


def upload_append(
    *,
    upload: Upload,
    offset_bytes: int,
    body: BodySource,
    content_length: int | None,
    checksum: DeclaredChecksum | None = None,
) -> AppendResult:
    """Append a PATCH body at `offset_bytes`; complete the upload when its last byte arrives.

    For a body readable with blocking `read(n)` (WSGI, Django's test client). The ASGI route in
    `media_store.tus_asgi` drives the same `upload_append_begin` / `AppendSession` / `upload_append_finish`
    steps with the body chunks as they arrive, so both paths share every rule below.
    Side effects: bytes appended and fsynced; the offset hint and expiry updated; at completion see
    `upload_complete`. A body cut short (client gone) keeps the bytes that arrived. A checksum
    mismatch or an oversize body removes this request's bytes again.
    Safe to retry as tus does: a stale offset gets UploadOffsetMismatch (409), and a repeated final
    empty PATCH of a completed upload returns the same Photo.
    Raises UploadExpired, UploadLocked, UploadOffsetMismatch, UploadTooLarge, UploadChecksumMismatch,
    StorageFull, the stored error of a failed upload, and whatever `upload_complete` raises.
    """
    started = upload_append_begin(
        upload=upload, offset_bytes=offset_bytes, content_length=content_length, checksum=checksum
    )
    if isinstance(started, AppendResult):
        return started
    return upload_append_read(session=started, body=body)


def upload_append_read(*, session: AppendSession, body: BodySource) -> AppendResult:
    """Read a blocking body into a begun AppendSession, then finish it (see `upload_append`).

    Always closes the session.
    """
    try:
        is_body_cut = False
        batch: list[bytes] = []
        batch_bytes = 0
        while session.remaining_bytes - batch_bytes > 0:
            try:
                chunk = body.read(min(BODY_CHUNK_BYTES, session.remaining_bytes - batch_bytes))
            except OSError:
                is_body_cut = True  # the client went away: keep what arrived, it resumes from there
                break
            if not chunk:
                break
            batch.append(chunk)
            batch_bytes += len(chunk)
            if batch_bytes >= WRITE_BATCH_BYTES:
                session.write(batch)
                batch, batch_bytes = [], 0
        if batch:
            session.write(batch)
        if session.remaining_bytes == 0 and _has_more(body):
            session.reject_oversize()
        return upload_append_finish(session=session, is_body_cut=is_body_cut)
    finally:
        session.close()


class AppendSession:
    """One PATCH writing to an upload's .part file, holding its exclusive lock until `close()`.

    The file descriptor carries the `flock`; every exit path must call `close()` (it is idempotent and
    waits for the writes still queued). `submit` queues a batch of body chunks: it is written at the
    next offset (`part_file.PartWriter`) and hashed, in order, on worker threads, while the caller goes
    on receiving; `write` is the same, waiting for it. `upload_append_finish` waits for every batch and
    fsyncs them before the offset is acknowledged. On a full disk the file is cut back to the bytes
    written and StorageFull is raised; the bytes before that stay (they are a correct prefix of the
    upload), except those of a PATCH with an Upload-Checksum, which cannot be verified. Besides the
    PATCH's own Upload-Checksum it keeps the running sha256 of the whole file when this process saw
    every byte before (see `_RunningHashes`).
    """

    def __init__(
        self, *, upload: Upload, descriptor: int, path: Path, start_bytes: int, checksum: DeclaredChecksum | None
    ) -> None:
        self.upload = upload
        self.descriptor: int | None = descriptor
        self.start_bytes = start_bytes
        self.limit_bytes = upload.length_bytes - start_bytes
        self.checksum = checksum
        self._hasher = hashlib.new(checksum.algorithm) if checksum else None
        self._file_hasher: Any | None = _running_hashes.take(upload_id=upload.id, offset_bytes=start_bytes)
        self._writer = PartWriter(descriptor=descriptor, path=path, start_bytes=start_bytes, pool=_write_pool)
        self.discarded: list[Path] = []  # the .part renamed away by completion: deleted after close

    @property
    def written_bytes(self) -> int:
        """Bytes of this PATCH in the file so far."""
        return self._writer.written_bytes

    @property
    def remaining_bytes(self) -> int:
        """Bytes the upload can still take after the batches submitted so far."""
        return self.limit_bytes - self._writer.submitted_bytes

    @property
    def offset_bytes(self) -> int:
        return self.start_bytes + self.written_bytes

    def _fd(self) -> int:
        if self.descriptor is None:
            raise RuntimeError("append session already closed")
        return self.descriptor

    def next_offset(self) -> int:
        """The file offset the next submitted batch is written at."""
        return self.start_bytes + self._writer.submitted_bytes

    def submit(self, chunks: Chunks) -> Future[None]:
        """Queue `chunks` (in order) to be hashed and written; returns the Future to wait for.

        It raises StorageFull (the file cut back to the bytes written before the failure; every later
        batch is dropped). The caller checks `remaining_bytes` first: a batch past the upload's length
        is `reject_oversize`d once every earlier one has ended. One caller at a time.
        """
        self._fd()
        hashers = [hasher for hasher in (self._hasher, self._file_hasher) if hasher is not None]
        return self._writer.submit(chunks, on_error=self._write_failed, hashers=hashers)

    def write(self, chunks: Chunks) -> None:
        """Append `chunks` and wait for them. Raises UploadTooLarge past the upload's length, StorageFull."""
        if chunks_bytes(chunks) > self.remaining_bytes:
            self.wait()
            self.reject_oversize()
        self.submit(chunks).result()

    def wait(self) -> None:
        """Block until every submitted batch has been hashed and written (or failed)."""
        self._writer.wait()

    def _write_failed(self, error: BaseException) -> BaseException:
        """On the writing thread, at the first failed write (or batch that could not be staged for one):
        keep the bytes that reached the file.

        Unless the PATCH carries an Upload-Checksum: its body cannot be verified now, so none of it stays
        (damaged bytes kept would fail the whole upload's sha256 at completion)."""
        self._file_hasher = None  # it no longer matches the file: completion hashes from disk
        if self.checksum is not None:
            self._writer.written_bytes = 0  # only this (the writing) thread changes it meanwhile
        _truncate(self._fd(), self.offset_bytes)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return StorageFull(details={"offset_bytes": self.offset_bytes})
        return error

    def raise_if_failed(self) -> None:
        """After `wait`: the write error that ended this PATCH's writes, if any."""
        if self._writer.failure is not None:
            raise self._writer.failure

    def reject_oversize(self) -> None:
        """The body is longer than the rest of the upload: drop this request's bytes. Raises UploadTooLarge.

        Only once every submitted batch has ended (`wait`)."""
        self._file_hasher = None
        _truncate(self._fd(), self.start_bytes)
        self._writer.written_bytes = 0
        raise UploadTooLarge(
            "The body is longer than the rest of the upload.", details={"remaining_bytes": self.limit_bytes}
        )

    def close(self) -> None:
        if self.descriptor is not None:
            self._writer.close()  # waits for the queued batches
            os.close(self.descriptor)  # releases the flock
            self.descriptor = None
            part_discards_delete(self.discarded)
            self.discarded = []


def upload_append_begin(
    *, upload: Upload, offset_bytes: int, content_length: int | None, checksum: DeclaredChecksum | None
) -> AppendSession | AppendResult:
    """Take the upload's write lock and check the PATCH against the bytes on disk.

    Returns an AppendSession (the caller writes the body, then calls `upload_append_finish`; it
    always closes the session) or, for a replayed final PATCH of a completed upload, its AppendResult.
    Raises UploadExpired, UploadLocked, UploadOffsetMismatch, UploadTooLarge, the stored error of a
    failed upload. No side effect when it raises.
    """
    now = timezone.now()
    upload_raise_if_unusable(upload=upload, now=now)
    if upload.state == UploadState.COMPLETE:
        return _append_to_complete(upload=upload, offset_bytes=offset_bytes, content_length=content_length)

    path = upload_part_path(upload_id=upload.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadLocked()
        upload = _reload(upload)  # whoever held the lock before us may have completed or failed it
        if upload.state != UploadState.RECEIVING:
            _part_recreated_delete(path=path, descriptor=descriptor)
        upload_raise_if_unusable(upload=upload, now=now)
        if upload.state == UploadState.COMPLETE:
            return _append_to_complete(upload=upload, offset_bytes=offset_bytes, content_length=content_length)
        on_disk_bytes = os.fstat(descriptor).st_size
        if offset_bytes != on_disk_bytes:
            raise UploadOffsetMismatch(details={"offset_bytes": on_disk_bytes})
        remaining_bytes = upload.length_bytes - on_disk_bytes
        if content_length is not None and content_length > remaining_bytes:
            raise UploadTooLarge(
                "The body is longer than the rest of the upload.", details={"remaining_bytes": remaining_bytes}
            )
        os.lseek(descriptor, on_disk_bytes, os.SEEK_SET)
    except BaseException:
        os.close(descriptor)
        raise
    return AppendSession(upload=upload, descriptor=descriptor, path=path, start_bytes=on_disk_bytes, checksum=checksum)


def _part_recreated_delete(*, path: Path, descriptor: int) -> None:
    """Delete the .part file `descriptor` (locked) holds, if it is still at `path`: of an upload that is
    finished, so its file was re-created by our open after completion had renamed the real one away."""
    held = os.fstat(descriptor)
    try:
        current = path.stat()
    except FileNotFoundError:
        return
    if (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
        path.unlink(missing_ok=True)


def upload_append_finish(*, session: AppendSession, is_body_cut: bool = False) -> AppendResult:
    """End a PATCH: verify its Upload-Checksum, record the offset hint, complete the upload if whole.

    `is_body_cut`: the client went away before the end of its body. Without a checksum its bytes are
    kept (tus resumes from them); with one they cannot be verified and are dropped.
    Always closes the session (releasing the lock) on the way out; completion runs before that, with
    the lock still held, so that one request at a time completes an upload.
    Raises UploadChecksumMismatch (this request's bytes removed) and whatever `upload_complete` raises.
    """
    try:
        descriptor = session._fd()
        session.wait()
        session.raise_if_failed()
        checksum = session.checksum
        hasher = session._hasher
        if checksum is not None and hasher is not None and hasher.digest() != checksum.digest:
            _truncate(descriptor, session.start_bytes)
            raise UploadChecksumMismatch(
                "The PATCH body does not match its Upload-Checksum.",
                details={"algorithm": checksum.algorithm, "is_body_cut": is_body_cut},
            )
        os.fsync(descriptor)
        now = timezone.now()
        new_offset = session.offset_bytes
        upload = session.upload
        expires_at = upload_expiry_from(now)
        if not Upload.objects.filter(pk=upload.pk).update(
            offset_hint_bytes=new_offset, expires_at=expires_at, updated_at=now
        ):
            raise UploadNotFound()  # terminated meanwhile (its row deleted without the lock)
        # Not read again: `upload` was read under the lock we still hold (upload_append_begin), and
        # every writer of a receiving upload's row takes that lock, so the row is `upload` plus this update.
        upload.offset_hint_bytes, upload.expires_at, upload.updated_at = new_offset, expires_at, now
        file_hasher, session._file_hasher = session._file_hasher, None
        if new_offset == upload.length_bytes:
            # Still under the lock: one completion at a time.
            photo = upload_complete(
                upload_id=upload.id,
                file_sha256=file_hasher.hexdigest() if file_hasher is not None else None,
                upload_read_locked=upload,
                discarded=session.discarded,
            )
            return AppendResult(upload=_reload(upload), offset_bytes=new_offset, photo=photo)
        if file_hasher is not None:
            _running_hashes.put(upload_id=upload.id, offset_bytes=new_offset, hasher=file_hasher)
        return AppendResult(upload=upload, offset_bytes=new_offset, photo=None)
    finally:
        session.close()


def _append_to_complete(*, upload: Upload, offset_bytes: int, content_length: int | None) -> AppendResult:
    if offset_bytes == upload.length_bytes and not content_length:
        return AppendResult(upload=upload, offset_bytes=upload.length_bytes, photo=upload.photo)
    raise UploadOffsetMismatch(details={"offset_bytes": upload.length_bytes})


def _reload(upload: Upload) -> Upload:
    try:
        return Upload.objects.select_related("photo").get(pk=upload.pk)
    except Upload.DoesNotExist:
        raise UploadNotFound()  # terminated meanwhile


def _has_more(body: BodySource) -> bool:
    try:
        return bool(body.read(1))
    except OSError:
        return False


def _truncate(descriptor: int, size: int) -> None:
    os.ftruncate(descriptor, size)
    os.fsync(descriptor)


def upload_raise_if_unusable(*, upload: Upload, now: datetime) -> None:
    """Raise the stored error of a failed upload, or UploadExpired for an expired one."""
    if upload.state == UploadState.FAILED:
        raise upload_failure_error(upload=upload)
    if upload.state == UploadState.RECEIVING and upload.expires_at <= now:
        raise UploadExpired()


def upload_failure_error(*, upload: Upload) -> MediaError:
    """The error that failed this upload, rebuilt with the same code, status and details."""
    try:
        code = ErrorCode(upload.failure_code)
    except ValueError:
        code = ErrorCode.IMAGE_UNREADABLE
    return MediaError(
        "This upload was refused; start a new one with different bytes.",
        code=code,
        http_status=upload.failure_http_status or 422,
        details=dict(upload.failure_details or {}),
    )


def upload_complete(
    *,
    upload_id: UUID,
    file_sha256: str | None = None,
    upload_read_locked: Upload | None = None,
    discarded: list[Path] | None = None,
) -> Photo:
    """Turn a fully received upload into a Photo: verify sha256, sanitise, store, deduplicate.

    `file_sha256`: the sha256 of the .part file as its writer computed it while writing (the caller
    holds the upload's lock); without it the file is hashed from disk, in chunks.
    `upload_read_locked`: the upload's row as the caller read it while holding the upload's lock (and
    holds it still), so it is not read again; by default it is read here.
    `discarded`: where a caller holding the .part file open collects it once it is renamed away, to
    delete it after closing (see `_part_discard`); without it the file is deleted in the background.
    Idempotent: a completed upload returns its Photo; identical bytes from any upload share one Photo,
    one stored blob and one set of derivatives (bytes already stored are not decoded again).
    Side effects: original and derivatives saved to media storage (outside any transaction), the
    Photo created if new, the upload marked complete, its .part file deleted, and the `photo_stored`
    signal sent after commit.
    Raises UploadNotFound, UploadIncomplete, and - after marking the upload failed and deleting its
    bytes, since re-sending them cannot help - UploadChecksumMismatch or an ImageRejected subclass.
    """
    if upload_read_locked is not None and upload_read_locked.pk == upload_id:
        upload = upload_read_locked
    else:
        try:
            upload = Upload.objects.select_related("photo").get(pk=upload_id)
        except Upload.DoesNotExist:
            raise UploadNotFound()
    if upload.state == UploadState.COMPLETE and upload.photo is not None:
        return upload.photo
    if upload.state == UploadState.FAILED:
        raise upload_failure_error(upload=upload)
    part = upload_part_path(upload_id=upload.id)
    on_disk_bytes = part.stat().st_size if part.exists() else 0
    if on_disk_bytes != upload.length_bytes:
        raise UploadIncomplete(details={"offset_bytes": on_disk_bytes, "length_bytes": upload.length_bytes})

    # Hashing and decoding are slow: no transaction or lock on the database while they run.
    _running_hashes.forget(upload_id=upload.id)
    sha256 = file_sha256 or imaging_file_sha256(part)
    if sha256 != upload.declared_sha256:
        error = UploadChecksumMismatch(details={"expected_sha256": upload.declared_sha256, "actual_sha256": sha256})
        _upload_fail(upload=upload, error=error, discarded=discarded)
        raise error
    storage = media_storage()
    found = list(Photo.objects.filter(sha256=sha256)[:1])  # sha256 is unique: no ORDER BY (as .first() adds)
    existing = found[0] if found else None
    checked: CheckedImage | None = None
    if existing is not None:
        # The same bytes were accepted before: same checks, same derivatives. Store the original again
        # only if it went missing (a no-op otherwise: content-addressed keys never change).
        storage.save_file(key=existing.original_key, source=part)
    else:
        work_dir = Path(tempfile.mkdtemp(dir=uploads_folder(), prefix=f".derive-{upload.id}-"))
        try:
            try:
                checked = inspect_and_derive(part, out_dir=work_dir, max_bytes=settings.FIELDSYNC_UPLOAD_MAX_BYTES)
                if checked.sha256 != sha256:  # the file changed under the lock: never store unverified bytes
                    raise UploadChecksumMismatch(
                        details={"expected_sha256": upload.declared_sha256, "actual_sha256": checked.sha256}
                    )
            except (UploadChecksumMismatch, ImageRejected) as error:
                _upload_fail(upload=upload, error=error, discarded=discarded)
                raise
            _store_checked(checked, original=part, storage=storage)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    try:
        with transaction.atomic():
            locked = Upload.objects.select_for_update(of=("self",)).select_related("photo").get(pk=upload.pk)
            if locked.state == UploadState.COMPLETE and locked.photo is not None:  # a concurrent retry won
                return locked.photo
            photo, created = _photo_lock_for_link(sha256=sha256, checked=checked, device_id=locked.device_id)
            if photo is not None:
                _upload_mark_complete(upload=locked, photo=photo, is_new_photo=created)
    except _PhotoBytesGone:
        photo = None  # rolled back: the cleanup deleted these bytes after we stored them
    if photo is None:
        # The cleanup removed that Photo (or its bytes) after we looked: nothing was written; derive and
        # store afresh (outside the transaction, like the first pass). Idempotent, so the retry is safe.
        return upload_complete(upload_id=upload.id, file_sha256=sha256, discarded=discarded)
    _part_discard(part, discarded=discarded)
    return photo


class _PhotoBytesGone(Exception):
    """The bytes of a Photo being created were deleted by the cleanup after they were stored."""


def _photo_lock_for_link(*, sha256: str, checked: CheckedImage | None, device_id: Any) -> tuple[Photo | None, bool]:
    """Inside a transaction: the Photo of `sha256`, row-locked until commit, and whether it is new.

    The lock makes linking and the retention cleanup (which locks the row to delete it) mutually
    exclusive: a cleanup that got there first has deleted the row when the lock is granted (None is
    returned, or the row is created afresh from `checked`); one that comes later finds the link.
    A new row also cancels a pending deletion of these bytes and checks that they are all still in
    storage (the cleanup may have deleted them after this caller stored them): raises _PhotoBytesGone
    (roll back, store again) if not. None only when `checked` is None and the row is gone.
    """
    photo = Photo.objects.select_for_update().filter(sha256=sha256).first()
    if photo is not None:
        return photo, False
    if checked is None:
        return None, False
    try:
        with transaction.atomic():
            photo = Photo.objects.create(sha256=sha256, **_photo_fields(checked, device_id=device_id))
    except IntegrityError:  # created concurrently (and committed): that one is complete
        return Photo.objects.select_for_update().get(sha256=sha256), False
    # Waits for a cleanup deleting these bytes right now (it holds this row), then cancels any later one.
    PhotoBlobDeletion.objects.filter(sha256=sha256).delete()
    storage = media_storage()
    if not all(storage.exists(key=key) for key in _photo_keys(photo)):
        raise _PhotoBytesGone(sha256)
    return photo, True


def _store_checked(checked: CheckedImage, *, original: Path, storage: Any | None = None) -> None:
    """Save a checked image's original bytes and its derivatives under their content-addressed keys."""
    storage = storage or media_storage()
    storage.save_file(key=blob_key(sha256=checked.sha256), source=original)
    for derivative in checked.derivatives:
        storage.save_file(key=derivative_key(sha256=checked.sha256, kind=derivative.kind), source=derivative.path)


def _photo_keys(photo: Photo) -> list[str]:
    return [photo.original_key, *(str(entry["key"]) for entry in (photo.derivatives or {}).values())]


def _upload_mark_complete(*, upload: Upload, photo: Photo, is_new_photo: bool) -> None:
    """Inside the completing transaction, `upload` locked: link it and announce it after commit."""
    upload.state = UploadState.COMPLETE
    upload.photo = photo
    upload.offset_hint_bytes = upload.length_bytes
    upload.completed_at = timezone.now()
    upload.save(update_fields=["state", "photo", "offset_hint_bytes", "completed_at", "updated_at"])
    transaction.on_commit(
        lambda: photo_stored.send(sender=Photo, photo=photo, upload=upload, is_new_photo=is_new_photo)
    )


def _photo_fields(checked: CheckedImage, *, device_id: Any) -> dict[str, Any]:
    recorded = checked.captured_at or ""
    captured_at = None
    if recorded:
        parsed = datetime.fromisoformat(recorded)
        captured_at = parsed if parsed.tzinfo is not None else None  # a naive reading is never guessed into UTC
    return {
        "size_bytes": checked.size_bytes,
        "format": str(checked.format),
        "width": checked.width,
        "height": checked.height,
        "captured_at_recorded": recorded,
        "captured_at": captured_at,
        "gps_latitude": checked.gps.latitude if checked.gps else None,
        "gps_longitude": checked.gps.longitude if checked.gps else None,
        "flags": sorted(str(flag) for flag in checked.flags),
        "derivatives": {
            str(derivative.kind): {
                "key": derivative_key(sha256=checked.sha256, kind=derivative.kind),
                "sha256": derivative.sha256,
                "size_bytes": derivative.size_bytes,
                "width": derivative.width,
                "height": derivative.height,
            }
            for derivative in checked.derivatives
        },
        "original_key": blob_key(sha256=checked.sha256),
        "uploaded_by_device_id": device_id,
    }


def _upload_fail(*, upload: Upload, error: MediaError, discarded: list[Path] | None = None) -> None:
    Upload.objects.filter(pk=upload.pk, state=UploadState.RECEIVING).update(
        state=UploadState.FAILED,
        failure_code=str(error.code),
        failure_http_status=error.http_status,
        failure_details=error.details,
        updated_at=timezone.now(),
    )
    _part_discard(upload_part_path(upload_id=upload.id), discarded=discarded)


DISCARD_PREFIX = ".discard-"
_discard_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-discard")


def _part_discard(path: Path, *, discarded: list[Path] | None = None) -> None:
    """Delete a finished upload's .part file without making its request wait for the filesystem.

    Renamed at once (the upload no longer has a .part), unlinked on a worker thread: freeing the blocks
    of a 50 MB file takes ext4 about 10 ms, paid by whoever drops the last reference to it. So a caller
    that has the file open passes `discarded`, closes the file, then hands the list to
    `part_discards_delete`. A process that dies first leaves a `.discard-*` file that the next sweep
    removes. `part_discards_wait` waits for the pending deletions.
    """
    target = path.with_name(f"{DISCARD_PREFIX}{uuid4().hex}{path.suffix}")
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return
    if discarded is None:
        part_discards_delete([target])
    else:
        discarded.append(target)


def part_discards_delete(paths: list[Path]) -> None:
    """Delete discarded .part files on the worker thread (their holders have closed them)."""
    for path in paths:
        _discard_pool.submit(path.unlink, missing_ok=True)


def part_discards_wait() -> None:
    """Block until every .part file discarded so far is deleted."""
    _discard_pool.submit(lambda: None).result()


def upload_terminate(*, upload: Upload) -> None:
    """tus termination: forget an unfinished upload and its bytes.

    Idempotent. A completed upload is kept (it records who uploaded the Photo); terminating it is a
    no-op. Raises UploadLocked while a PATCH is writing to it.
    """
    if upload.state == UploadState.COMPLETE:
        return
    _running_hashes.forget(upload_id=upload.id)
    path = upload_part_path(upload_id=upload.id)
    if not path.exists():
        Upload.objects.filter(pk=upload.pk).exclude(state=UploadState.COMPLETE).delete()
        return
    descriptor = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadLocked()
        Upload.objects.filter(pk=upload.pk).exclude(state=UploadState.COMPLETE).delete()
        path.unlink(missing_ok=True)
    finally:
        os.close(descriptor)


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired_count: int
    completed_count: int
    failed_count: int
    busy_count: int = 0  # skipped: a request held the upload's lock
    orphaned_count: int = 0  # .part files without an upload, work folders of dead completions


WORK_FOLDER_STALE_SECONDS = 3600


def upload_complete_if_whole(*, upload: Upload) -> Photo | None:
    """Complete an upload whose bytes all arrived but which has no Photo (its completing request died).

    Takes the upload's write lock without waiting, so it never races a PATCH that is finishing it.
    Returns the Photo, or None when the bytes are not all there or the lock is held (UploadLocked is
    not raised: the holder completes it). Raises what `upload_complete` raises.
    """
    path = upload_part_path(upload_id=upload.id)
    discarded: list[Path] = []
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if os.fstat(descriptor).st_size != upload.length_bytes:
            return None
        return upload_complete(upload_id=upload.id, discarded=discarded)
    finally:
        os.close(descriptor)
        part_discards_delete(discarded)


def uploads_sweep(*, now: datetime | None = None) -> SweepResult:
    """Housekeeping (run periodically): finish stalled uploads, delete expired ones and their bytes, and
    remove what crashes leave behind.

    A stalled upload has all its bytes on disk but no Photo (the server died during completion). An
    upload a request holds (its flock) is left alone this time. Orphans are .part files without an
    upload row and `.derive-*`/`.ingest-*` work folders, once untouched for WORK_FOLDER_STALE_SECONDS.
    Idempotent. Side effects: Photos created, rows, .part files and work folders deleted.
    """
    now = now or timezone.now()
    completed = failed = busy = 0
    for upload in Upload.objects.filter(state=UploadState.RECEIVING, expires_at__gt=now):
        path = upload_part_path(upload_id=upload.id)
        if not path.exists() or path.stat().st_size != upload.length_bytes:
            continue
        try:
            if upload_complete_if_whole(upload=upload) is None:
                busy += 1
            else:
                completed += 1
        except MediaError:
            failed += 1
    expired_count = 0
    for upload in Upload.objects.filter(state__in=[UploadState.RECEIVING, UploadState.FAILED], expires_at__lte=now):
        try:
            upload_terminate(upload=upload)
            expired_count += 1
        except UploadLocked:
            busy += 1
    _running_hashes.forget_missing(
        upload_ids=set(Upload.objects.filter(state=UploadState.RECEIVING).values_list("id", flat=True))
    )
    return SweepResult(
        expired_count=expired_count,
        completed_count=completed,
        failed_count=failed,
        busy_count=busy,
        orphaned_count=_orphans_delete(now=now),
    )


def _orphans_delete(*, now: datetime) -> int:
    folder = uploads_folder()
    if not folder.is_dir():
        return 0
    part_discards_wait()  # this process' own discards are not orphans
    cutoff = now.timestamp() - WORK_FOLDER_STALE_SECONDS
    known = {str(pk) for pk in Upload.objects.values_list("id", flat=True)}
    removed = 0
    for entry in folder.iterdir():
        if entry.name.startswith(DISCARD_PREFIX):  # its deletion was cut short by the process' end
            entry.unlink(missing_ok=True)
            removed += 1
            continue
        try:
            if entry.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        if entry.is_dir() and entry.name.startswith((".derive-", ".ingest-")):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        elif entry.is_file() and entry.suffix == ".part" and entry.stem not in known:
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def photo_ingest_bytes(*, data: bytes, source: str) -> Photo:
    """Store photo bytes that arrive by another path than tus (demo handbook, registry import).

    Same checks as an upload: allow-list by content, bomb and truncation guards, EXIF stripped from
    derivatives, content-addressed and deduplicated. Idempotent. Sends `photo_stored` after commit.
    Raises an ImageRejected subclass for bytes that are not a safe image.
    """
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        work_dir = Path(tempfile.mkdtemp(dir=folder, prefix=f".ingest-{source}-"))
        try:
            original = work_dir / "original"
            original.write_bytes(data)
            checked = inspect_and_derive(original, out_dir=work_dir, max_bytes=settings.FIELDSYNC_UPLOAD_MAX_BYTES)
            _store_checked(checked, original=original)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        try:
            with transaction.atomic():
                photo, created = _photo_lock_for_link(sha256=checked.sha256, checked=checked, device_id=None)
                assert photo is not None  # `checked` given: created when absent
                transaction.on_commit(
                    partial(photo_stored.send, sender=Photo, photo=photo, upload=None, is_new_photo=created)
                )
            return photo
        except _PhotoBytesGone:
            continue  # the cleanup deleted the bytes just stored: store them again


PHOTO_RETENTION_DAYS_DEFAULT = 30
_CLEANUP_BATCH = 500


@dataclass(frozen=True, slots=True)
class PhotoCleanupResult:
    deleted_count: int
    referenced_count: int


def photo_retention_days() -> int:
    """Days an unreferenced photo is kept (setting FIELDSYNC_PHOTO_RETENTION_DAYS, read at call time)."""
    return int(getattr(settings, "FIELDSYNC_PHOTO_RETENTION_DAYS", PHOTO_RETENTION_DAYS_DEFAULT))


def photos_unreferenced_delete(*, retention_days: int | None = None, now: datetime | None = None) -> PhotoCleanupResult:
    """Delete photos nothing references, once they (and their latest upload) are older than the retention.

    "Referenced" is answered by the FIELDSYNC_PHOTO_ACCESS_CHECKER port (record links, wanted notices,
    face searches). A photo whose record has not arrived yet is kept for the retention time, so a
    record arriving late still finds it.
    Nothing accepted is lost to an upload of the same bytes completing meanwhile (content addressing:
    it links to this very row): per photo, in one short transaction, the row is locked (completion
    locks it too before linking), age, recent completions and references are checked again, its
    completed Upload rows and the Photo row are deleted and the deletion of its bytes is queued
    (PhotoBlobDeletion). After commit `photo_blobs_delete_pending` deletes the bytes, unless the same
    bytes became a Photo again. Idempotent. Raises nothing for a photo that went away.
    """
    now = now or timezone.now()
    days = photo_retention_days() if retention_days is None else retention_days
    cutoff = now - timedelta(days=days)
    access = photo_access()
    deleted = referenced_count = 0
    candidates = list(
        Photo.objects.filter(created_at__lte=cutoff)
        .exclude(uploads__completed_at__gt=cutoff)
        .order_by("sha256")
        .values_list("sha256", flat=True)
        .distinct()
    )
    for start in range(0, len(candidates), _CLEANUP_BATCH):
        batch = candidates[start : start + _CLEANUP_BATCH]
        referenced = access.referenced_sha256s(sha256s=batch)
        referenced_count += len(referenced)
        for sha256 in batch:
            if sha256 in referenced:
                continue
            try:
                with transaction.atomic():
                    photo = Photo.objects.select_for_update().filter(sha256=sha256, created_at__lte=cutoff).first()
                    if photo is None or Upload.objects.filter(photo=photo, completed_at__gt=cutoff).exists():
                        continue  # gone, or uploaded again meanwhile
                    if access.referenced_sha256s(sha256s=[sha256]):  # a record linked it meanwhile
                        referenced_count += 1
                        continue
                    PhotoBlobDeletion.objects.update_or_create(sha256=sha256, defaults={"keys": _photo_keys(photo)})
                    Upload.objects.filter(photo=photo).delete()
                    photo.delete()
            except IntegrityError:
                # An upload of the same bytes completed concurrently and now points at the row: keep it.
                logger.warning("photo %s not deleted: an upload completed while it was being removed", sha256)
                continue
            deleted += 1
    photo_blobs_delete_pending()
    return PhotoCleanupResult(deleted_count=deleted, referenced_count=referenced_count)


def photo_blobs_delete_pending() -> int:
    """Delete from media storage the bytes of deleted Photos (queued in PhotoBlobDeletion).

    Storage is not transactional, so the bytes go only after the Photo row's deletion committed, and
    only while no Photo of those bytes exists again: per queued photo, one transaction deletes the
    queue row (locking it: a completion re-creating the Photo waits for it, then finds its bytes gone
    and stores them again), checks that no Photo row has that sha256, and deletes the keys before
    committing. A storage error rolls back: the row stays queued for the next run. Idempotent.
    Returns how many photos' bytes were deleted.
    """
    storage = media_storage()
    deleted = 0
    for sha256 in list(PhotoBlobDeletion.objects.order_by("sha256").values_list("sha256", flat=True)):
        with transaction.atomic():
            pending = PhotoBlobDeletion.objects.select_for_update().filter(sha256=sha256).first()
            if pending is None:
                continue  # cancelled: the same bytes were uploaded again
            pending.delete()
            if Photo.objects.filter(sha256=sha256).exists():
                continue  # a Photo of these bytes exists again: its bytes stay
            for key in pending.keys:
                storage.delete(key=str(key))
            deleted += 1
    return deleted
