"""The wanted-handbook gallery: templates in the database, a versioned index in memory.

The in-memory index follows the database's `GalleryState.version`: when it moves, only the
templates added or deactivated since are applied (incremental), and the index is persisted so a
restarted server starts warm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
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
from backend.faces.pipeline import EncodeResult, FaceWorkerPool

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_index: GalleryIndex | None = None
_index_version: int = -1
_index_template_ids: set[str] = set()


def encoding_to_bytes(vector: Any) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(128).tobytes()


def encoding_from_bytes(data: bytes | memoryview) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(bytes(data), dtype="<f4").astype(np.float32)


def gallery_version() -> int:
    return int(GalleryState.objects.filter(pk=1).values_list("version", flat=True).first() or 0)


def _bump_version() -> None:
    GalleryState.objects.get_or_create(pk=1)
    GalleryState.objects.filter(pk=1).update(version=F("version") + 1)


def _persist_path(version: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "faces" / f"gallery-v{version}.npz"


def gallery_index() -> tuple[GalleryIndex, int]:
    """The current index and its version. Thread-safe; catches up incrementally with the database."""
    global _index, _index_version, _index_template_ids
    version = gallery_version()
    with _lock:
        if _index is not None and _index_version == version:
            return _index, version
        if _index is None:
            persisted = _persist_path(version)
            if persisted.exists():
                try:
                    _index = GalleryIndex.load(persisted)
                    _index_version = version
                    _index_template_ids = set(_index_template_ids_of(_index))
                    return _index, version
                except (OSError, ValueError):
                    logger.warning("persisted gallery index unreadable; rebuilding", exc_info=True)
            _index = GalleryIndex()
            _index_template_ids = set()
        active_ids = {str(k) for k in GalleryTemplate.objects.filter(is_active=True).values_list("id", flat=True)}
        for template_id in _index_template_ids - active_ids:
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
        try:
            path = _persist_path(version)
            path.parent.mkdir(parents=True, exist_ok=True)
            _index.save(path)
        except OSError:
            logger.warning("could not persist the gallery index", exc_info=True)
        return _index, version


def _index_template_ids_of(index: GalleryIndex) -> Iterable[str]:
    return list(index.template_ids())


def gallery_reset_memory() -> None:
    """Forget the in-memory index (tests; a worker that must reload)."""
    global _index, _index_version, _index_template_ids
    with _lock:
        _index, _index_version, _index_template_ids = None, -1, set()


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
) -> EnrolmentOutcome:
    """Make the gallery match `wanted_photos` ({active notice id: [photo sha256]}).

    Encodes photos without a template (in worker processes), deactivates templates of notices no
    longer active or photos removed. Idempotent: a second run with the same input changes nothing.
    Encoding happens outside any transaction; each photo's result is written in its own.
    """
    existing = {
        (str(n), s): (str(t), active)
        for t, n, s, active in GalleryTemplate.objects.values_list(
            "id", "wanted_notice_id", "photo_sha256", "is_active"
        )
    }
    failed = {(str(n), s) for n, s in EnrolmentFailure.objects.values_list("wanted_notice_id", "photo_sha256")}
    wanted_pairs = {(notice, sha) for notice, shas in wanted_photos.items() for sha in shas}
    to_encode = [p for p in sorted(wanted_pairs) if p not in existing and p not in failed]
    to_reactivate = [existing[p][0] for p in wanted_pairs if p in existing and not existing[p][1]]
    to_deactivate = [tid for p, (tid, active) in existing.items() if active and p not in wanted_pairs]
    enrolled = failures = 0
    own_pool = pool is None
    worker_pool = pool or FaceWorkerPool(max_workers=2)
    try:
        futures = [(pair, worker_pool.submit(read_photo(pair[1]), "enrol")) for pair in to_encode]
        for (notice_id, sha256), future in futures:
            result: EncodeResult = future.result()
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
        if enrolled or to_deactivate or to_reactivate:
            _bump_version()
    return EnrolmentOutcome(
        enrolled_count=enrolled,
        failed_count=failures,
        deactivated_count=len(to_deactivate),
        version=gallery_version(),
    )


def gallery_sync_from_registry(*, progress: Progress | None = None) -> EnrolmentOutcome:
    """Enrol the photos of every ACTIVE wanted notice; retire templates of the others."""
    from backend.registry.models import WantedNotice, WantedStatus
    from media_store.storage import blob_key, media_storage

    storage = media_storage()

    def read_photo(sha256: str) -> bytes:
        with storage.open(key=blob_key(sha256=sha256)) as handle:
            return handle.read()

    wanted: dict[str, list[str]] = {}
    rows = WantedNotice.objects.filter(status=WantedStatus.ACTIVE, is_archived=False).values_list("id", "photo_sha256")
    for notice_id, photos in rows:
        present = [sha for sha in photos or [] if storage.exists(key=blob_key(sha256=sha))]
        if present:
            wanted[str(notice_id)] = present
    return gallery_enrol(wanted_photos=wanted, read_photo=read_photo, progress=progress)
