"""media_store's `PhotoAccess` port, answered from the registry and the sync engine.

Named by the setting FIELDSYNC_PHOTO_ACCESS_CHECKER ("backend.registry.photo_access.registry_photo_access").
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.apps import apps

from backend.registry.models import PhotoLink, WantedNotice
from backend.registry.sync_tables import PHOTOS
from sync.models import SyncRow
from sync.registry import scope_keys_for


class RegistryPhotoAccess:
    def caller_may_read(self, *, caller: Any, sha256: str) -> bool:
        """True when a live `photos` sync row linking `sha256` lies in one of the caller's scope keys.

        The same rule as pull: a device may see a photo exactly when it may pull a row showing it.
        """
        link_ids = [str(pk) for pk in PhotoLink.objects.filter(sha256=sha256.lower()).values_list("id", flat=True)]
        if not link_ids:
            return False
        keys = scope_keys_for(device=caller.device, officer=getattr(caller, "officer", None))
        return SyncRow.objects.filter(
            table=PHOTOS, record_id__in=link_ids, scope_key__in=keys, is_deleted=False
        ).exists()

    def referenced_sha256s(self, *, sha256s: Collection[str]) -> set[str]:
        """Photos still in use: linked to any record (archived ones too: they are evidence), shown on a
        wanted notice, or the probe of a face search (an audited search keeps its probe)."""
        wanted = {sha256.lower() for sha256 in sha256s}
        if not wanted:
            return set()
        referenced = set(PhotoLink.objects.filter(sha256__in=wanted).values_list("sha256", flat=True))
        for hashes in WantedNotice.objects.exclude(photo_sha256=[]).values_list("photo_sha256", flat=True).iterator():
            referenced |= wanted.intersection(hashes or [])
        # By app label, not by import: the registry does not depend on the face pipeline.
        face_search = apps.get_model("faces", "FaceSearch")
        referenced |= set(face_search.objects.filter(probe_sha256__in=wanted).values_list("probe_sha256", flat=True))
        return referenced


registry_photo_access = RegistryPhotoAccess()
