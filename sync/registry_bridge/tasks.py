"""The periodic bridge run as a durable django-tasks job that schedules its own next run."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task


@task()
def registry_bridge_sync_task(reschedule: bool = True) -> int:
    """Run the bridge once; then enqueue the next run after FIELDSYNC_REGISTRY_SYNC_SECONDS
    (default 300). Returns the BridgeRun id. A failed run is recorded and re-raised (the next
    scheduled run resumes from the committed watermark)."""
    from sync.registry_bridge.services import bridge_run_now

    try:
        run = bridge_run_now(trigger="task")
    finally:
        if reschedule:
            interval = int(getattr(settings, "FIELDSYNC_REGISTRY_SYNC_SECONDS", 300))
            registry_bridge_sync_task.using(run_after=timezone.now() + timedelta(seconds=interval)).enqueue(
                reschedule=True
            )
    return int(run.pk)
