"""Durable housekeeping jobs (django-tasks, database backend). Enqueue them periodically (cron or a
scheduler calling `.enqueue()`); the management commands run the same services by hand."""

from __future__ import annotations

from django_tasks import task


@task()
def uploads_sweep_run() -> dict[str, int]:
    """Finish stalled uploads, delete expired ones (see `services.uploads_sweep`)."""
    from media_store.services import uploads_sweep

    result = uploads_sweep()
    return {
        "expired_count": result.expired_count,
        "completed_count": result.completed_count,
        "failed_count": result.failed_count,
    }


@task()
def photos_cleanup_run(retention_days: int | None = None) -> dict[str, int]:
    """Delete photos unreferenced past the retention time (see `services.photos_unreferenced_delete`)."""
    from media_store.services import photos_unreferenced_delete

    result = photos_unreferenced_delete(retention_days=retention_days)
    return {"deleted_count": result.deleted_count, "referenced_count": result.referenced_count}
