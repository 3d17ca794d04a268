"""The wanted-handbook gallery: templates in the database, a versioned index in memory.

The in-memory index follows the database's `GalleryState.version`: when it moves, only the
templates added or deactivated since are applied (incremental), and the index is persisted
(`MEDIA_ROOT/faces/gallery-v<version>.npz`) so a restarted server starts warm: `serve` calls
`gallery_warm()` before it accepts requests; the newest persisted file is loaded and only the
difference with the database is applied.

A wanted notice that changes (rescinded, archived, deleted, re-activated, photos added or removed)
updates the gallery through `gallery_notice_changed`, connected to WantedNotice's post_save /
post_delete in `FacesConfig.ready`: templates to retire or re-activate change in the same
transaction as the notice (a rescinded notice is never a candidate after its rescission commits);
photos to encode go to a durable job (`tasks.refresh_gallery_notices`) after commit, because encoding
is slow and must run outside any transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backend.faces.index import GalleryIndex
from backend.faces.models import EnrolmentFailure, GalleryState, GalleryTemplate
from backend.faces.pipeline import EncodeResult, FaceWorkerPool, current_encoder_signature, encoder_signature

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_index: GalleryIndex | None = None
_index_version: int = -1
_index_template_ids: set[str] = set()


def encoding_to_bytes(vector: Any) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(128).tobytes()


def encoding_from_bytes(data: bytes | memoryview) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(bytes(data), dtype="<f4").astype(np.float32)


_shared_pool: FaceWorkerPool | None = None
_shared_pool_lock = threading.Lock()


def face_worker_pool() -> FaceWorkerPool:
    """This process's long-lived face worker (one spawned process, started on first use).

    Searches and small gallery refreshes share it so dlib's models load once per process, never in
    a request or task thread.
    """
    global _shared_pool
    with _shared_pool_lock:
        if _shared_pool is None:
            _shared_pool = FaceWorkerPool(max_workers=1)
        return _shared_pool


def gallery_version() -> int:
    return int(GalleryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0)


def _bump_version() -> None:
    GalleryState.objects.get_or_create(pk=1)
    GalleryState.objects.filter(pk=1).update(version=F("version") + 1)


def _persist_folder() -> Path:
    return Path(settings.MEDIA_ROOT) / "faces"


def _persist_path(version: int) -> Path:
    return _persist_folder() / f"gallery-v{version}.npz"


def _persisted_versions() -> list[int]:
    """Versions with a persisted index file, newest first."""
    versions = []
    for path in _persist_folder().glob("gallery-v*.npz"):
        number = path.stem.removeprefix("gallery-v")
        if number.isdigit():
            versions.append(int(number))
    return sorted(versions, reverse=True)


def _persist(index: GalleryIndex, version: int) -> None:
    """Save the index for `version` and delete older files. A failure is logged, never raised."""
    try:
        index.save(_persist_path(version))
        for older in _persisted_versions():
            if older < version:
                _persist_path(older).unlink(missing_ok=True)
    except OSError:
        logger.warning("could not persist the gallery index", exc_info=True)


@dataclass(frozen=True)
class IndexRefresh:
    """How the in-memory index reached the database's version on its last refresh."""

    version: int
    template_count: int
    loaded_from_file_version: int | None  # the persisted file it started from, if any
    added_count: int  # templates read from the database (encodings) and added
    removed_count: int


_last_refresh: IndexRefresh | None = None


def gallery_index() -> tuple[GalleryIndex, int]:
    """The current index and its version. Thread-safe; catches up incrementally with the database.

    First call in a process: loads the newest persisted index file (if readable) and applies the
    difference with the active templates in the database; later calls apply only what changed since.
    """
    global _index, _index_version, _index_template_ids, _last_refresh
    version = gallery_version()
    with _lock:
        if _index is not None and _index_version == version:
            return _index, version
        loaded_from: int | None = None
        if _index is None:
            ann_min_vectors = settings.FIELDSYNC_FACE_ANN_MIN_VECTORS or None  # 0: exact search only
            _index, _index_template_ids = GalleryIndex(ann_min_vectors=ann_min_vectors), set()
            for persisted_version in _persisted_versions():
                if persisted_version > version:
                    continue  # a file from a database that was reset: not ours
                try:
                    _index = GalleryIndex.load(_persist_path(persisted_version), ann_min_vectors=ann_min_vectors)
                except (OSError, ValueError):
                    logger.warning("persisted gallery index unreadable; rebuilding", exc_info=True)
                    continue
                _index_template_ids = set(_index.template_ids())
                loaded_from = persisted_version
                break
        active_ids = {str(k) for k in GalleryTemplate.objects.filter(is_active=True).values_list("id", flat=True)}
        retired = _index_template_ids - active_ids
        for template_id in retired:
            _index.remove_template(template_id)
        missing = active_ids - _index_template_ids
        if missing:
            rows = GalleryTemplate.objects.filter(id__in=list(missing)).values_list(
                "id", "wanted_notice_id", "encoding"
            )
            for row_id, notice_id, encoding in rows.iterator(chunk_size=2000):
                _index.add(str(notice_id), str(row_id), encoding_from_bytes(encoding))
        _index_template_ids = active_ids
        _index_version = version
        _last_refresh = IndexRefresh(
            version=version,
            template_count=len(_index),
            loaded_from_file_version=loaded_from,
            added_count=len(missing),
            removed_count=len(retired),
        )
        if loaded_from != version or missing or retired:
            _persist(_index, version)
        return _index, version


def gallery_warm() -> IndexRefresh:
    """Load the index now (server start) rather than on the first search. Returns how it was loaded."""
    gallery_index()
    with _lock:
        assert _last_refresh is not None
        return _last_refresh


def gallery_reset_memory() -> None:
    """Forget the in-memory index (tests; a worker that must reload)."""
    global _index, _index_version, _index_template_ids, _last_refresh
    with _lock:
        _index, _index_version, _index_template_ids, _last_refresh = None, -1, set(), None


@dataclass(frozen=True)
class EnrolmentOutcome:
    enrolled_count: int
    failed_count: int
    deactivated_count: int
    version: int


PhotoReader = Callable[[str], bytes]
Progress = Callable[[int], object]


def gallery_enrol(
    *,
    wanted_photos: dict[str, list[str]],
    read_photo: PhotoReader,
    pool: FaceWorkerPool | None = None,
    progress: Progress | None = None,
    notice_ids: Collection[str] | None = None,
) -> EnrolmentOutcome:
    """Make the gallery match `wanted_photos` ({active notice id: [photo sha256]}).

    Encodes photos without a template (in worker processes), deactivates templates of notices no
    longer active or photos removed. With `notice_ids`, only those notices are considered (the
    others are left alone); `wanted_photos` must then name only notices among them.
    Idempotent: a second run with the same input changes nothing.
    Encoding happens outside any transaction; each photo's result is written in its own.
    """
    templates = GalleryTemplate.objects.all()
    failures_so_far = EnrolmentFailure.objects.all()
    if notice_ids is not None:
        scope = {str(notice_id) for notice_id in notice_ids}
        if not set(wanted_photos) <= scope:
            raise ValueError("wanted_photos names notices outside notice_ids")
        templates = templates.filter(wanted_notice_id__in=list(scope))
        failures_so_far = failures_so_far.filter(wanted_notice_id__in=list(scope))
    current = current_encoder_signature()
    existing: dict[tuple[str, str], tuple[str, bool]] = {}
    stale: set[tuple[str, str]] = set()  # made by another library version or pipeline: not comparable
    for t, n, s, active, meta in templates.values_list(
        "id", "wanted_notice_id", "photo_sha256", "is_active", "template_meta"
    ):
        existing[(str(n), s)] = (str(t), active)
        if encoder_signature(meta) != current:
            stale.add((str(n), s))
    failed = {(str(n), s) for n, s in failures_so_far.values_list("wanted_notice_id", "photo_sha256")}
    wanted_pairs = {(notice, sha) for notice, shas in wanted_photos.items() for sha in shas}
    to_encode = [p for p in sorted(wanted_pairs) if (p not in existing and p not in failed) or p in stale]
    to_reactivate = [existing[p][0] for p in wanted_pairs if p in existing and not existing[p][1]]
    to_deactivate = [tid for p, (tid, active) in existing.items() if active and p not in wanted_pairs]
    enrolled = failures = deactivated_stale = 0
    own_pool = pool is None and len(to_encode) > 1
    worker_pool = pool or (FaceWorkerPool(max_workers=2) if own_pool else face_worker_pool())
    try:
        futures = [(pair, worker_pool.submit(read_photo(pair[1]), "enrol")) for pair in to_encode]
        for (notice_id, sha256), future in futures:
            result: EncodeResult = future.result()
            with transaction.atomic():  # a stale template is replaced in one step
                if (notice_id, sha256) in stale:
                    # Replaced under a new id, so every process's index drops the old vector and adds the new.
                    GalleryTemplate.objects.filter(wanted_notice_id=notice_id, photo_sha256=sha256).delete()
                    to_reactivate = [t for t in to_reactivate if t != existing[(notice_id, sha256)][0]]
                    if result.primary is None:
                        deactivated_stale += 1
                if result.primary is None:
                    error = result.error
                    EnrolmentFailure.objects.get_or_create(
                        wanted_notice_id=notice_id,
                        photo_sha256=sha256,
                        defaults={
                            "code": error.code if error else "face_not_found",
                            "message": error.message if error else "",
                        },
                    )
                    failures += 1
                else:
                    template = result.primary
                    GalleryTemplate.objects.get_or_create(
                        wanted_notice_id=notice_id,
                        photo_sha256=sha256,
                        defaults={
                            "encoding": encoding_to_bytes(template.encoding),
                            "box": template.box.as_dict(),
                            "face_size_px": template.face_size_px,
                            "blur_variance": float(template.blur_variance),
                            "quality_flags": [str(f) for f in template.quality_flags],
                            "template_meta": template.template_meta.as_dict(),
                        },
                    )
                    enrolled += 1
            if progress:
                progress(1)
    finally:
        if own_pool:
            worker_pool.shutdown()
    with transaction.atomic():
        if to_deactivate:
            GalleryTemplate.objects.filter(id__in=to_deactivate).update(is_active=False, deactivated_at=timezone.now())
        if to_reactivate:
            GalleryTemplate.objects.filter(id__in=to_reactivate).update(is_active=True, deactivated_at=None)
        if enrolled or to_deactivate or to_reactivate or deactivated_stale:
            _bump_version()
    return EnrolmentOutcome(
        enrolled_count=enrolled,
        failed_count=failures,
        deactivated_count=len(to_deactivate) + deactivated_stale,
        version=gallery_version(),
    )


def _photo_reader() -> tuple[Callable[[str], bool], PhotoReader]:
    from media_store.storage import blob_key, media_storage

    storage = media_storage()

    def exists(sha256: str) -> bool:
        return bool(storage.exists(key=blob_key(sha256=sha256)))

    def read_photo(sha256: str) -> bytes:
        with storage.open(key=blob_key(sha256=sha256)) as handle:
            return handle.read()

    return exists, read_photo


def _active_notice_photos(notice_ids: Collection[str] | None, exists: Callable[[str], bool]) -> dict[str, list[str]]:
    from backend.registry.models import WantedNotice, WantedStatus

    rows = WantedNotice.objects.filter(status=WantedStatus.ACTIVE, is_archived=False)
    if notice_ids is not None:
        rows = rows.filter(pk__in=list(notice_ids))
    wanted: dict[str, list[str]] = {}
    for notice_id, photos in rows.values_list("id", "photo_sha256"):
        present = [sha for sha in photos or [] if exists(sha)]
        if present:
            wanted[str(notice_id)] = present
    return wanted


def gallery_sync_from_registry(*, progress: Progress | None = None) -> EnrolmentOutcome:
    """Enrol the photos of every ACTIVE wanted notice; retire templates of the others."""
    exists, read_photo = _photo_reader()
    return gallery_enrol(wanted_photos=_active_notice_photos(None, exists), read_photo=read_photo, progress=progress)


def gallery_sync_notices(*, notice_ids: Collection[str], pool: FaceWorkerPool | None = None) -> EnrolmentOutcome:
    """`gallery_sync_from_registry` for a few notices only (the durable job after a notice changed).

    Idempotent. Encodes in worker processes unless given a pool; touches no other notice's templates.
    """
    scope = [str(notice_id) for notice_id in notice_ids]
    exists, read_photo = _photo_reader()
    wanted = _active_notice_photos(scope, exists)
    return gallery_enrol(wanted_photos=wanted, read_photo=read_photo, pool=pool, notice_ids=scope)


def gallery_notice_changed(*, notice_id: str, is_in_handbook: bool, photo_sha256s: Collection[str]) -> bool:
    """Bring one notice's templates in line with its new state, inside the caller's transaction.

    Retires the templates of a notice that left the handbook (rescinded, archived, deleted) and of
    photos no longer on it; re-activates templates of photos back on an active notice; bumps the
    gallery version when anything changed (every process's index catches up on its next search).
    Schedules the durable encoding job after commit when a photo of an active notice has neither a
    template nor a recorded enrolment failure, and returns whether it did. Idempotent.
    """
    photos = set(photo_sha256s) if is_in_handbook else set()
    templates = list(
        GalleryTemplate.objects.filter(wanted_notice_id=notice_id).values_list("id", "photo_sha256", "is_active")
    )
    retire = [template_id for template_id, sha, active in templates if active and sha not in photos]
    revive = [template_id for template_id, sha, active in templates if not active and sha in photos]
    with transaction.atomic():
        if retire:
            GalleryTemplate.objects.filter(id__in=retire).update(is_active=False, deactivated_at=timezone.now())
        if revive:
            GalleryTemplate.objects.filter(id__in=revive).update(is_active=True, deactivated_at=None)
        if retire or revive:
            _bump_version()
    known = {sha for _, sha, _ in templates}
    known |= set(EnrolmentFailure.objects.filter(wanted_notice_id=notice_id).values_list("photo_sha256", flat=True))
    if not photos - known:
        return False
    transaction.on_commit(lambda: _enqueue_refresh(notice_id))
    return True


def _enqueue_refresh(notice_id: str) -> None:
    from backend.faces.tasks import refresh_gallery_notices

    refresh_gallery_notices.enqueue([notice_id])
