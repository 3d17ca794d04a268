"""Housekeeping: expired uploads swept, unreferenced photos deleted after the retention time, and the
durable job that runs both and schedules its own next run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backend.registry import sync_tables as st
from backend.registry.models import PhotoLink
from media_store import services, tasks
from media_store.models import Photo, PhotoBlobDeletion, Upload, UploadState
from sync.writer import sync_transaction
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import create_upload, part_path, patch, photo_bytes, sha256_hex
from tests.media_store.racing_locks import in_thread, second_waits_behind_first
from tests.registry.conftest import device_actor, make_wanted_notice

HOUSEKEEPING = "media_store.tasks.media_housekeeping_run"


@pytest.fixture
def session(db: None) -> Any:
    return make_device_session(officer=make_officer(username="keeper", unit=make_unit(code="HK")))


def stored_photo(session: Any, *, seed: int, age_days: float) -> Photo:
    """A photo uploaded through tus, then aged (row and upload) by `age_days`."""
    client = Client()
    data = photo_bytes(seed=seed, size=(320, 240))
    assert patch(client, session, create_upload(client, session, data), data, 0).status_code == 204
    then = timezone.now() - timedelta(days=age_days)
    Photo.objects.filter(sha256=sha256_hex(data)).update(created_at=then)
    Upload.objects.filter(photo__sha256=sha256_hex(data)).update(completed_at=then)
    return Photo.objects.get(sha256=sha256_hex(data))


def stored_keys(photo: Photo) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [root / photo.original_key, *(root / entry["key"] for entry in photo.derivatives.values())]


def link_to_a_check(photo: Photo) -> None:
    with sync_transaction() as writer:
        applied = st.apply_photo(
            record_id=str(uuid.uuid4()),
            values={"record_table": "checks", "record_id": str(uuid.uuid4()), "sha256": photo.sha256},
            is_new=True,
            actor=device_actor(unit_id=make_unit(code=f"L{photo.sha256[:4]}").pk),
        )
        writer.stage(
            table="photos", record_id=applied.payload["id"], payload=applied.payload, scope_key=applied.scope_key
        )


# --- unreferenced photos ---------------------------------------------------------------------------


def test_an_unreferenced_photo_past_the_retention_is_deleted_with_its_bytes(session: Any, settings: Any) -> None:
    settings.FIELDSYNC_PHOTO_RETENTION_DAYS = 30
    old = stored_photo(session, seed=41, age_days=31)
    young = stored_photo(session, seed=42, age_days=29)

    result = services.photos_unreferenced_delete()

    assert (result.deleted_count, result.referenced_count) == (1, 0)
    assert list(Photo.objects.values_list("sha256", flat=True)) == [young.sha256]
    assert not Upload.objects.filter(photo_id=old.id).exists()
    assert [path.exists() for path in stored_keys(old)] == [False, False, False]
    assert [path.exists() for path in stored_keys(young)] == [True, True, True]


def test_a_photo_linked_to_a_record_or_shown_on_a_notice_is_kept_whatever_its_age(session: Any) -> None:
    linked = stored_photo(session, seed=43, age_days=400)
    on_notice = stored_photo(session, seed=44, age_days=400)
    link_to_a_check(linked)
    notice = make_wanted_notice()
    notice.photo_sha256 = [on_notice.sha256]
    notice.save(update_fields=["photo_sha256"])

    result = services.photos_unreferenced_delete(retention_days=30)

    assert (result.deleted_count, result.referenced_count) == (0, 2)
    assert Photo.objects.count() == 2
    assert all(path.exists() for photo in (linked, on_notice) for path in stored_keys(photo))


def test_an_old_photo_uploaded_again_recently_waits_a_full_retention_for_its_record(session: Any) -> None:
    photo = stored_photo(session, seed=45, age_days=90)
    client = Client()
    data = photo_bytes(seed=45, size=(320, 240))
    assert patch(client, session, create_upload(client, session, data), data, 0).status_code == 204  # today

    result = services.photos_unreferenced_delete(retention_days=30)

    assert result.deleted_count == 0
    assert Photo.objects.get().id == photo.id
    assert Upload.objects.filter(photo=photo).count() == 2


def test_cleanup_command_reports_its_counts(session: Any, capsys: pytest.CaptureFixture[str]) -> None:
    stored_photo(session, seed=46, age_days=10)

    call_command("media_photos_cleanup", "--retention-days", "7")

    assert capsys.readouterr().out.strip() == "deleted=1 referenced=0 retention_days=7"
    assert Photo.objects.count() == 0


# --- the durable housekeeping job ----------------------------------------------------------------


def run_due_jobs() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)


def waiting_housekeeping_jobs() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=HOUSEKEEPING, status="READY"))


@pytest.mark.django_db(transaction=True)
def test_housekeeping_job_sweeps_expired_uploads_deletes_old_photos_and_schedules_its_next_run(
    settings: Any,
) -> None:
    settings.FIELDSYNC_MEDIA_HOUSEKEEPING_SECONDS = 600
    session = make_device_session(officer=make_officer(username="keeper", unit=make_unit(code="HK")))
    client = Client()
    data = photo_bytes(seed=47)
    expired = create_upload(client, session, data)
    patch(client, session, expired, data[:1000], 0)
    Upload.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    old = stored_photo(session, seed=48, age_days=45)

    assert tasks.media_housekeeping_schedule() is True
    assert tasks.media_housekeeping_schedule() is False  # one waiting run is enough
    started = timezone.now()
    run_due_jobs()

    assert not Upload.objects.filter(state=UploadState.RECEIVING).exists()
    assert not part_path(expired).exists()
    assert not Photo.objects.filter(pk=old.pk).exists()
    finished = DBTaskResult.objects.get(task_path=HOUSEKEEPING, status="SUCCESSFUL")
    assert finished.return_value == {
        "expired_count": 1,
        "completed_count": 0,
        "failed_count": 0,
        "photos_deleted_count": 1,
        "photos_referenced_count": 0,
    }
    [next_run] = waiting_housekeeping_jobs()
    assert started + timedelta(seconds=600) <= next_run.run_after <= timezone.now() + timedelta(seconds=600)
    run_due_jobs()  # not due yet: nothing runs
    assert waiting_housekeeping_jobs() == [next_run]


@pytest.mark.django_db(transaction=True)
def test_two_scheduled_chains_merge_into_one() -> None:
    tasks.media_housekeeping_run.enqueue(reschedule=True)
    tasks.media_housekeeping_run.enqueue(reschedule=True)  # e.g. two servers started at once

    run_due_jobs()

    assert len(waiting_housekeeping_jobs()) == 1
    assert DBTaskResult.objects.filter(task_path=HOUSEKEEPING, status="SUCCESSFUL").count() == 2


@pytest.mark.django_db(transaction=True)
def test_housekeeping_command_runs_once_or_schedules(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("media_housekeeping")
    assert capsys.readouterr().out.strip() == (
        "uploads: completed=0 refused=0 expired=0; photos: deleted=0 referenced=0"
    )
    assert waiting_housekeeping_jobs() == []

    call_command("media_housekeeping", "--schedule")
    call_command("media_housekeeping", "--schedule")

    assert capsys.readouterr().out.splitlines() == [
        "housekeeping job scheduled",
        "housekeeping job already waiting",
    ]
    assert len(waiting_housekeeping_jobs()) == 1


# --- the upload sweep and what crashes leave behind ---------------------------------------------


def test_sweep_removes_orphaned_part_files_and_stale_work_folders_but_keeps_fresh_ones(session: Any) -> None:
    import os
    import time

    client = Client()
    data = photo_bytes(seed=49)
    live = part_path(create_upload(client, session, data))
    uploads = Path(settings.MEDIA_ROOT) / "uploads"
    orphan = uploads / f"{uuid.uuid4()}.part"  # its row was deleted, the process died before the file
    orphan.write_bytes(b"x" * 100)
    stale_work = uploads / ".derive-crashed-abc"  # a completion killed mid-way
    stale_work.mkdir()
    (stale_work / "thumb.jpg").write_bytes(b"partial")
    fresh_work = uploads / ".derive-running-def"  # a completion running right now
    fresh_work.mkdir()
    discarded = uploads / f"{services.DISCARD_PREFIX}{uuid.uuid4().hex}.part"  # the process died before deleting it
    discarded.write_bytes(b"y" * 100)  # however recent: nothing reads a discarded file
    two_hours_ago = time.time() - 7200
    for path in (orphan, stale_work, stale_work / "thumb.jpg", live):
        os.utime(path, (two_hours_ago, two_hours_ago))

    result = services.uploads_sweep()

    assert result.orphaned_count == 3
    assert sorted(p.name for p in uploads.iterdir()) == sorted([live.name, fresh_work.name])
    assert Upload.objects.count() == 1  # the live upload is untouched, however old its file


def test_sweep_leaves_an_upload_alone_while_a_patch_holds_it(session: Any) -> None:
    import fcntl

    client = Client()
    data = photo_bytes(seed=50)
    location = create_upload(client, session, data)
    part_path(location).write_bytes(data)  # every byte is there

    with part_path(location).open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # a PATCH in another process is finishing it
        while_held = services.uploads_sweep()
    after = services.uploads_sweep()

    assert (while_held.completed_count, while_held.busy_count) == (0, 1)
    assert (after.completed_count, after.busy_count) == (1, 0)
    assert Photo.objects.get().sha256 == sha256_hex(data)


def test_head_finishes_an_upload_whose_completing_request_died(session: Any) -> None:
    from tests.media_store.factories import head

    client = Client()
    data = photo_bytes(seed=51)
    location = create_upload(client, session, data)
    part_path(location).write_bytes(data)

    response = head(client, session, location)

    assert response.status_code == 200
    assert response["Upload-Offset"] == str(len(data))
    assert response["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert Upload.objects.get().state == UploadState.COMPLETE


# --- cleanup racing a duplicate upload ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_upload_of_the_same_bytes_completing_while_the_cleanup_deletes_them_keeps_its_bytes(
    settings: Any,
) -> None:
    session = make_device_session(officer=make_officer(username="keeper", unit=make_unit(code="HK")))
    storage = racing_storage(settings)
    old = stored_photo(session, seed=47, age_days=90)
    data = photo_bytes(seed=47, size=(320, 240))
    answers: list[int] = []

    def upload_again() -> None:
        client = Client()
        answers.append(patch(client, session, create_upload(client, session, data), data, 0).status_code)

    storage.on_first_delete = upload_again
    try:
        services.photos_unreferenced_delete(retention_days=30)
    finally:
        storage.on_first_delete = None

    assert answers == [204]  # the upload was accepted while the cleanup ran
    upload = Upload.objects.get(state=UploadState.COMPLETE)
    assert upload.photo is not None and upload.photo.sha256 == old.sha256
    assert [path.exists() for path in stored_keys(upload.photo)] == [True, True, True]
    assert (Path(settings.MEDIA_ROOT) / upload.photo.original_key).read_bytes() == data


def racing_storage(settings: Any) -> Any:
    from tests.media_store.racing_storage import UploadWhileDeletingStorage

    settings.STORAGES = {
        **settings.STORAGES,
        "racing": {
            "BACKEND": "tests.media_store.racing_storage.UploadWhileDeletingStorage",
            "OPTIONS": {"location": str(settings.MEDIA_ROOT)},
        },
    }
    settings.FIELDSYNC_MEDIA_STORAGE = "racing"
    return UploadWhileDeletingStorage


def queued_deletion_left_by_a_crash(session: Any, *, seed: int) -> tuple[PhotoBlobDeletion, list[Path]]:
    """A cleanup that died after committing the row deletion, before deleting the bytes."""
    photo = stored_photo(session, seed=seed, age_days=90)
    paths = stored_keys(photo)
    queued = PhotoBlobDeletion.objects.create(
        sha256=photo.sha256, keys=[photo.original_key, *(e["key"] for e in photo.derivatives.values())]
    )
    Upload.objects.filter(photo=photo).delete()
    photo.delete()
    return queued, paths


def test_bytes_a_dead_cleanup_left_behind_are_deleted_by_the_next_run(session: Any) -> None:
    _, paths = queued_deletion_left_by_a_crash(session, seed=48)

    services.photos_unreferenced_delete(retention_days=30)

    assert [path.exists() for path in paths] == [False, False, False]
    assert not PhotoBlobDeletion.objects.exists()


def test_an_upload_of_bytes_queued_for_deletion_cancels_the_deletion(session: Any) -> None:
    _, paths = queued_deletion_left_by_a_crash(session, seed=49)
    client = Client()
    data = photo_bytes(seed=49, size=(320, 240))

    assert patch(client, session, create_upload(client, session, data), data, 0).status_code == 204
    assert not PhotoBlobDeletion.objects.exists()  # cancelled by the completion itself
    services.photos_unreferenced_delete(retention_days=30)

    assert Photo.objects.get().sha256 == sha256_hex(data)
    assert [path.exists() for path in paths] == [True, True, True]


@pytest.mark.django_db(transaction=True)
def test_an_upload_whose_stored_bytes_the_queued_deletion_removes_stores_them_again(settings: Any) -> None:
    session = make_device_session(officer=make_officer(username="keeper", unit=make_unit(code="HK")))
    storage = racing_storage(settings)
    _, paths = queued_deletion_left_by_a_crash(session, seed=50)
    data = photo_bytes(seed=50, size=(320, 240))
    deleted: list[int] = []
    # the upload finds the original stored, then the queued deletion runs (deleting it) before it links
    storage.after_first_found = lambda: deleted.append(services.photo_blobs_delete_pending())
    client = Client()
    try:
        answer = patch(client, session, create_upload(client, session, data), data, 0).status_code
    finally:
        storage.after_first_found = None

    assert (answer, deleted) == (204, [1])
    photo = Upload.objects.get(state=UploadState.COMPLETE).photo
    assert photo is not None and stored_keys(photo) == paths
    assert [path.exists() for path in paths] == [True, True, True]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_an_upload_linking_to_a_photo_the_cleanup_is_deleting_waits_and_keeps_its_bytes(
    settings: Any,
) -> None:

    from django.db import connection

    from tests.media_store.racing_access import cleanup_with_a_racer_inside

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    settings.FIELDSYNC_PHOTO_ACCESS_CHECKER = "tests.media_store.racing_access.hooked_photo_access"
    session = make_device_session(officer=make_officer(username="keeper", unit=make_unit(code="HK")))
    old = stored_photo(session, seed=51, age_days=90)
    data = photo_bytes(seed=51, size=(320, 240))
    answers: list[Any] = []

    def upload_again() -> int:
        client = Client(raise_request_exception=False)
        return patch(client, session, create_upload(client, session, data), data, 0).status_code

    _, upload_waited = cleanup_with_a_racer_inside(in_thread(upload_again, answers))

    assert upload_waited, f"the upload never waited for the cleanup's lock: {answers}"
    assert answers == [204]
    upload = Upload.objects.get(state=UploadState.COMPLETE)
    assert upload.photo is not None and upload.photo.sha256 == old.sha256
    assert [path.exists() for path in stored_keys(upload.photo)] == [True, True, True]


# --- a record linking a photo the cleanup is deleting (PostgreSQL: real row locks) -------------------


def _pull_cursor(session: Any) -> int:
    auth = {"Authorization": f"Bearer {session.access_token}"}
    return int(Client().get("/api/v1/sync/pull?schema_version=1", headers=auth).json()["timestamp"])


def _push_check_with_photo(session: Any, *, cursor: int, sha256: str, with_a_bad_record: bool) -> dict[str, Any]:
    """A check and its photo pushed through the real endpoint. With a bad record the batch pass fails
    and the push is applied record by record."""
    from tests.registry.conftest import CAPTURED_AT_MS, check_values

    client = Client(raise_request_exception=False)
    auth = {"Authorization": f"Bearer {session.access_token}"}
    check_id = str(uuid.uuid4())

    def photo(sha: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "record_table": "checks",
            "record_id": check_id,
            "sha256": sha,
            "captured_at": CAPTURED_AT_MS,
            "kind": "subject",
            "is_uploaded": False,
            "_status": "created",
        }

    photos = [photo(sha256), *([photo("not-a-sha256")] if with_a_bad_record else [])]
    changes = {
        "checks": {"created": [{"id": check_id, **check_values(), "_status": "created"}], "updated": [], "deleted": []},
        "photos": {"created": photos, "updated": [], "deleted": []},
    }
    response = client.post(
        f"/api/v1/sync/push?last_pulled_at={cursor}",
        data={"changes": changes},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    rejected = response.json()["experimentalRejectedIds"]
    assert rejected == ({"photos": [photos[1]["id"]]} if with_a_bad_record else {}), rejected
    return photos[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_a_bad_record", [False, True], ids=["batch", "record_by_record"])
def test_postgres_a_push_linking_a_photo_makes_the_cleanup_wait_and_see_the_link(with_a_bad_record: bool) -> None:
    """The push has linked the photo (not committed yet) when the cleanup comes: the cleanup waits for
    the push's lock on the Photo, then sees the committed link and keeps the photo and its bytes."""
    from django.db import connection

    from sync.models import SyncHead
    from tests.registry.conftest import COMMUNE_A

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    session = make_device_session(
        officer=make_officer(username="keeper", unit=make_unit(code="HK", communes=(COMMUNE_A,)))
    )
    old = stored_photo(session, seed=52, age_days=90)
    cursor = _pull_cursor(session)
    SyncHead.objects.get_or_create(pk=1)
    pushed: list[Any] = []
    cleaned: list[Any] = []
    push = in_thread(
        lambda: _push_check_with_photo(session, cursor=cursor, sha256=old.sha256, with_a_bad_record=with_a_bad_record),
        pushed,
    )
    cleanup = in_thread(lambda: services.photos_unreferenced_delete(retention_days=30), cleaned)
    # Holding the sync head, the push applies every record and then waits before its commit.
    cleanup_waited = second_waits_behind_first(
        hold=lambda: SyncHead.objects.select_for_update().get(pk=1),
        first=push,
        first_answers=pushed,
        second=cleanup,
    )

    assert cleanup_waited, cleaned  # for the push's lock on the Photo
    assert len(pushed) == 1 and isinstance(pushed[0], dict), pushed
    assert len(cleaned) == 1 and (cleaned[0].deleted_count, cleaned[0].referenced_count) == (0, 1), cleaned
    link = PhotoLink.objects.get(pk=pushed[0]["id"])
    assert (link.sha256, link.is_uploaded) == (old.sha256, True)
    assert Photo.objects.filter(sha256=old.sha256).exists()
    assert [path.exists() for path in stored_keys(old)] == [True, True, True]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_a_bad_record", [False, True], ids=["batch", "record_by_record"])
def test_postgres_a_push_linking_a_photo_the_cleanup_is_deleting_waits_and_links_it_not_uploaded(
    settings: Any, with_a_bad_record: bool
) -> None:
    """The cleanup holds the Photo (found unreferenced) when the push links it: the push waits, then
    finds it gone and links it truthfully as not uploaded (the device's upload will store it again)."""
    from django.db import connection

    from tests.media_store.racing_access import cleanup_with_a_racer_inside
    from tests.registry.conftest import COMMUNE_A

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    settings.FIELDSYNC_PHOTO_ACCESS_CHECKER = "tests.media_store.racing_access.hooked_photo_access"
    session = make_device_session(
        officer=make_officer(username="keeper", unit=make_unit(code="HK", communes=(COMMUNE_A,)))
    )
    old = stored_photo(session, seed=53, age_days=90)
    cursor = _pull_cursor(session)
    pushed: list[Any] = []
    push = in_thread(
        lambda: _push_check_with_photo(session, cursor=cursor, sha256=old.sha256, with_a_bad_record=with_a_bad_record),
        pushed,
    )
    result, push_waited = cleanup_with_a_racer_inside(push)

    assert push_waited, pushed  # for the cleanup's lock on the Photo
    assert len(pushed) == 1 and isinstance(pushed[0], dict), pushed
    assert (result.deleted_count, result.referenced_count) == (1, 0)
    assert not Photo.objects.filter(sha256=old.sha256).exists()
    assert [path.exists() for path in stored_keys(old)] == [False, False, False]
    link = PhotoLink.objects.get(pk=pushed[0]["id"])
    assert (link.sha256, link.is_uploaded) == (old.sha256, False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_a_face_search_starting_on_a_photo_makes_the_cleanup_wait_and_see_its_probe() -> None:
    from django.db import connection

    from backend.faces.models import FaceSearch
    from backend.faces.services import face_search_start
    from sync.models import SyncHead

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    officer = make_officer(username="keeper", unit=make_unit(code="HK"))
    session = make_device_session(officer=officer)
    old = stored_photo(session, seed=54, age_days=90)
    SyncHead.objects.get_or_create(pk=1)
    started: list[Any] = []
    cleaned: list[Any] = []
    search = in_thread(
        lambda: face_search_start(
            device=session.device,
            officer=officer,
            photo_sha256=old.sha256,
            purpose="border_check",
            case_reference="K-1",
        ),
        started,
    )
    cleanup = in_thread(lambda: services.photos_unreferenced_delete(retention_days=30), cleaned)
    cleanup_waited = second_waits_behind_first(
        hold=lambda: SyncHead.objects.select_for_update().get(pk=1),  # the search waits before its commit
        first=search,
        first_answers=started,
        second=cleanup,
    )

    assert cleanup_waited, cleaned  # for the search's lock on the Photo
    assert len(started) == 1 and isinstance(started[0], FaceSearch), started
    assert len(cleaned) == 1 and (cleaned[0].deleted_count, cleaned[0].referenced_count) == (0, 1), cleaned
    assert [path.exists() for path in stored_keys(old)] == [True, True, True]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_a_face_search_starting_on_a_photo_the_cleanup_is_deleting_finds_no_probe(settings: Any) -> None:
    from django.db import connection

    from backend.faces.domain_errors import ProbePhotoNotFound
    from backend.faces.models import FaceSearch
    from backend.faces.services import face_search_start
    from tests.media_store.racing_access import cleanup_with_a_racer_inside

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    settings.FIELDSYNC_PHOTO_ACCESS_CHECKER = "tests.media_store.racing_access.hooked_photo_access"
    officer = make_officer(username="keeper", unit=make_unit(code="HK"))
    session = make_device_session(officer=officer)
    old = stored_photo(session, seed=55, age_days=90)
    started: list[Any] = []
    search = in_thread(
        lambda: face_search_start(
            device=session.device,
            officer=officer,
            photo_sha256=old.sha256,
            purpose="border_check",
            case_reference="K-2",
        ),
        started,
    )
    result, search_waited = cleanup_with_a_racer_inside(search)

    assert search_waited, started  # for the cleanup's lock on the Photo
    assert len(started) == 1 and isinstance(started[0], ProbePhotoNotFound), started
    assert (result.deleted_count, FaceSearch.objects.count()) == (1, 0)
