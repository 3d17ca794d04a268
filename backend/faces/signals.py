"""Receivers that keep the face gallery in step with the wanted handbook (connected in FacesConfig.ready).

Registry code (services, the registry bridge, seed_demo) saves WantedNotice rows without knowing about
faces; these receivers turn each save or delete into `gallery_notice_changed` in the same transaction.
Bulk inserts send no signal: whoever bulk-loads notices runs `faces_gallery_sync` afterwards (seed_demo does).
"""

from __future__ import annotations

from typing import Any

from backend.faces.gallery import gallery_notice_changed


def wanted_notice_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    from backend.registry.models import WantedStatus

    if kwargs.get("raw"):
        return  # fixture loading
    gallery_notice_changed(
        notice_id=str(instance.pk),
        is_in_handbook=instance.status == WantedStatus.ACTIVE and not instance.is_archived,
        photo_sha256s=[str(sha) for sha in instance.photo_sha256 or []],
    )


def wanted_notice_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    gallery_notice_changed(notice_id=str(instance.pk), is_in_handbook=False, photo_sha256s=())
