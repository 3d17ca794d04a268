"""Durable sync jobs (django-tasks)."""

from __future__ import annotations

from django_tasks import task


@task()
def sync_purge_tombstones_task() -> int:
    """Run the tombstone purge once (schedule it daily). Returns the purge watermark."""
    from sync.purge import sync_tombstones_purge

    return sync_tombstones_purge().purged_through_seq
