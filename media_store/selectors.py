"""Reads: uploads and photos, always through the caller that may see them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from media_store.errors import PhotoNotFound, UploadNotFound
from media_store.models import Photo, Upload, UploadState
from media_store.services import upload_part_path


def upload_get_for_device(*, device_id: Any, upload_id: UUID) -> Upload:
    """The device's own upload. Another device's upload is indistinguishable from a missing one (404)."""
    upload = Upload.objects.select_related("photo").filter(pk=upload_id, device_id=device_id).first()
    if upload is None:
        raise UploadNotFound()
    return upload


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
