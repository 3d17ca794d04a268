"""Durable housekeeping jobs (django-tasks, database backend).

`media_housekeeping_run` sweeps uploads (expired ones deleted with their bytes, stalled ones
completed) and deletes photos nothing referenced for the retention time, then enqueues its own next
run after FIELDSYNC_MEDIA_HOUSEKEEPING_SECONDS (default 3600). `media_housekeeping_schedule()` starts
the chain when no run is waiting: `manage.py serve` calls it when it runs the in-process worker, and
`manage.py media_housekeeping --schedule` does it for deployments with separate workers. Both are
idempotent; two chains started at once merge (a run does not reschedule when another one waits).
The management commands `media_uploads_sweep` and `media_photos_cleanup` run the same services by hand.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

HOUSEKEEPING_SECONDS_DEFAULT = 3600


def housekeeping_interval_seconds() -> int:
    return int(getattr(settings, "FIELDSYNC_MEDIA_HOUSEKEEPING_SECONDS", HOUSEKEEPING_SECONDS_DEFAULT))


@task()
def media_housekeeping_run(reschedule: bool = True) -> dict[str, int]:
    """One housekeeping pass, then (if `reschedule`) the next run enqueued. Idempotent."""
    from media_store.services import photos_unreferenced_delete, uploads_sweep

    try:
        sweep = uploads_sweep()
        cleanup = photos_unreferenced_delete()
    finally:
        if reschedule:
            _enqueue_next_unless_waiting()
    return {
        "expired_count": sweep.expired_count,
        "completed_count": sweep.completed_count,
        "failed_count": sweep.failed_count,
        "photos_deleted_count": cleanup.deleted_count,
        "photos_referenced_count": cleanup.referenced_count,
    }


def media_housekeeping_schedule() -> bool:
    """Enqueue a housekeeping run now unless one is already waiting. Returns True when it enqueued."""
    return _enqueue_unless_waiting(run_after_seconds=0)


def _enqueue_next_unless_waiting() -> bool:
    return _enqueue_unless_waiting(run_after_seconds=housekeeping_interval_seconds())


def _enqueue_unless_waiting(*, run_after_seconds: int) -> bool:
    # Two starters racing may both enqueue; the chains then merge at their next run (see above).
    with transaction.atomic():
        waiting = DBTaskResult.objects.filter(task_path=media_housekeeping_run.module_path, status="READY")
        if waiting.exists():  # due now or later: either way the chain goes on
            return False
        task_ = media_housekeeping_run
        if run_after_seconds:
            task_ = task_.using(run_after=timezone.now() + timedelta(seconds=run_after_seconds))
        task_.enqueue(reschedule=True)
    return True
