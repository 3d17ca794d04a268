"""Durable background jobs (django-tasks, database backend: a job survives a server restart)."""

from __future__ import annotations

from uuid import UUID

from django_tasks import task


@task()
def run_face_search(search_id: str) -> str:
    from backend.faces.services import face_search_run

    outcome = face_search_run(search_id=UUID(search_id))
    return str(outcome.search.status)


@task()
def refresh_gallery_notices(notice_ids: list[str]) -> int:
    """Encode the new photos of changed wanted notices (see gallery.gallery_notice_changed)."""
    from backend.faces.gallery import gallery_sync_notices

    return gallery_sync_notices(notice_ids=notice_ids).version
