"""The periodic bridge run: a durable django-tasks job that schedules its own next run.

`registry_bridge_schedule()` starts the chain (`serve` calls it when it runs the worker in-process;
`manage.py registry_sync --schedule` does it for a deployment with separate `db_worker`s). Each run
enqueues the next one FIELDSYNC_REGISTRY_SYNC_SECONDS later, whether it succeeded or failed, so a
registry outage delays the bridge but never stops it; 0 turns the periodic run off. The jobs are
rows in the database: a restart loses none, and the chain is not started twice.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

TASK_PATH = "sync.registry_bridge.tasks.registry_bridge_sync_task"


def _interval_seconds() -> int:
    return int(getattr(settings, "FIELDSYNC_REGISTRY_SYNC_SECONDS", 300))


def _chain_pending(*, include_running: bool) -> bool:
    """Whether a periodic run is already queued (or running, and so about to queue the next)."""
    from django_tasks_db.models import DBTaskResult

    statuses = ["READY", "RUNNING"] if include_running else ["READY"]
    return DBTaskResult.objects.filter(task_path=TASK_PATH, status__in=statuses).exists()


def _enqueue_next(*, delay_seconds: int) -> None:
    registry_bridge_sync_task.using(run_after=timezone.now() + timedelta(seconds=delay_seconds)).enqueue(
        reschedule=True
    )


def registry_bridge_schedule(*, delay_seconds: int = 0) -> bool:
    """Start the periodic bridge run unless it is already scheduled (or turned off).

    Side effect: at most one queued job. Idempotent: returns True when it enqueued the first run,
    False when a run was already queued or running, or FIELDSYNC_REGISTRY_SYNC_SECONDS is 0.
    """
    from sync.registry_bridge.engine import DEFAULT_REGISTRY
    from sync.registry_bridge.models import BridgeCursor

    if _interval_seconds() <= 0:
        return False
    with transaction.atomic():
        # The cursor row serialises concurrent schedulers (two server processes starting at once).
        cursor, _ = BridgeCursor.objects.get_or_create(registry_name=DEFAULT_REGISTRY)
        BridgeCursor.objects.select_for_update().filter(pk=cursor.pk).first()
        if _chain_pending(include_running=True):
            return False
        _enqueue_next(delay_seconds=delay_seconds)
    return True


@task()
def registry_bridge_sync_task(reschedule: bool = True) -> int:
    """Run the bridge once; then enqueue the next run after FIELDSYNC_REGISTRY_SYNC_SECONDS
    (default 300). Returns the BridgeRun id. A failed run is recorded and re-raised (the next
    scheduled run resumes from the committed watermark)."""
    from sync.registry_bridge.services import bridge_run_now

    try:
        run = bridge_run_now(trigger="task")
    finally:
        interval = _interval_seconds()
        if reschedule and interval > 0 and not _chain_pending(include_running=False):
            _enqueue_next(delay_seconds=interval)
    return int(run.pk)
