"""Tombstone purge: forget deletes older than the longest allowed offline period.

Deleted SyncRows and SyncScopeExits are what tells a returning device to drop records. They are
kept for FIELDSYNC_MAX_OFFLINE_DAYS (default 180). The purge deletes older ones and raises
`SyncHead.purged_through_seq` to the highest seq it removed, in the same transaction: from then on
a checkpoint below that watermark (a device that might have missed one of those deletes) gets the
replacement flow — an empty page with `has_more`, the device pushes, then a replacement sync — and
so never keeps a record the server deleted. Old checkpoints (already too old to be honoured) go too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from sync.models import SyncCheckpoint, SyncHead, SyncRow, SyncScopeExit


@dataclass(frozen=True)
class PurgeResult:
    tombstone_count: int
    exit_count: int
    checkpoint_count: int
    purged_through_seq: int
    cutoff_at: datetime


def sync_tombstones_purge(*, now: datetime | None = None, max_offline_days: int | None = None) -> PurgeResult:
    """Delete tombstones, scope exits and checkpoints older than the offline window; raise the watermark.

    Side effects: deletes rows; updates SyncHead.purged_through_seq (never lowers it). Takes the
    head lock last, like every writer, so it serialises with pushes. Idempotent: a second run with
    the same `now` deletes nothing and leaves the watermark.
    """
    days = settings.FIELDSYNC_MAX_OFFLINE_DAYS if max_offline_days is None else max_offline_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    with transaction.atomic():
        tombstones = SyncRow.objects.filter(is_deleted=True, changed_at__lt=cutoff)
        exits = SyncScopeExit.objects.filter(changed_at__lt=cutoff)
        highest = max(
            int(tombstones.aggregate(m=Max("seq"))["m"] or 0),
            int(exits.aggregate(m=Max("seq"))["m"] or 0),
        )
        tombstone_count, _ = tombstones.delete()
        exit_count, _ = exits.delete()
        checkpoint_count, _ = SyncCheckpoint.objects.filter(created_at__lt=cutoff).delete()
        head, _ = SyncHead.objects.select_for_update().get_or_create(pk=1)
        if highest > head.purged_through_seq:
            head.purged_through_seq = highest
            head.save(update_fields=["purged_through_seq"])
    return PurgeResult(
        tombstone_count=tombstone_count,
        exit_count=exit_count,
        checkpoint_count=checkpoint_count,
        purged_through_seq=head.purged_through_seq,
        cutoff_at=cutoff,
    )
