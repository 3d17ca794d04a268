"""What one tus PATCH reads and writes of its Upload row, and that its answer is the row as stored."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from media_store import selectors, services
from media_store.errors import MediaError, UploadNotFound
from media_store.models import Upload, UploadState
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import photo_bytes, sha256_hex


@pytest.fixture
def session(db: None) -> Any:
    unit = make_unit(code="TT", communes=("20215",))
    return make_device_session(officer=make_officer(username="hanh.tt", unit=unit), label="phone-1")


def _created(session: Any, data: bytes) -> Upload:
    return services.upload_create(
        device_id=session.device.pk,
        length_bytes=len(data),
        metadata=services.UploadMetadata(sha256=sha256_hex(data)),
    )


def _upload_selects(queries: CaptureQueriesContext) -> list[str]:
    table = Upload._meta.db_table
    return [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    ]


def test_a_partial_patch_answers_the_row_as_stored_and_reads_it_once_under_the_lock(session: Any) -> None:
    data = photo_bytes(seed=3)
    upload = selectors.upload_get_for_device(device_id=session.device.pk, upload_id=_created(session, data).id)
    half = len(data) // 2

    with CaptureQueriesContext(connection) as queries:
        result = services.upload_append(
            upload=upload, offset_bytes=0, body=io.BytesIO(data[:half]), content_length=half
        )

    stored = Upload.objects.select_related("photo").get(pk=upload.pk)
    assert result.offset_bytes == half
    assert result.photo is None
    assert (result.upload.state, result.upload.photo) == (UploadState.RECEIVING, None)
    for field in Upload._meta.concrete_fields:
        assert getattr(result.upload, field.attname) == getattr(stored, field.attname), field.name
    assert stored.offset_hint_bytes == half
    assert len(_upload_selects(queries)) == 1  # the re-read once the lock is held


def test_the_final_patch_answers_the_completed_row_with_its_photo(session: Any) -> None:
    data = photo_bytes(seed=4)
    upload = selectors.upload_get_for_device(device_id=session.device.pk, upload_id=_created(session, data).id)

    result = services.upload_append(upload=upload, offset_bytes=0, body=io.BytesIO(data), content_length=len(data))

    stored = Upload.objects.get(pk=upload.pk)
    assert result.photo is not None and result.photo.sha256 == sha256_hex(data)
    assert (result.upload.state, result.upload.photo_id) == (UploadState.COMPLETE, result.photo.id)
    assert result.upload.completed_at == stored.completed_at is not None


def test_a_patch_whose_upload_row_went_away_meanwhile_is_404_and_keeps_no_hash(session: Any) -> None:
    data = photo_bytes(seed=5)
    upload = selectors.upload_get_for_device(device_id=session.device.pk, upload_id=_created(session, data).id)
    started = services.upload_append_begin(upload=upload, offset_bytes=0, content_length=100, checksum=None)
    assert isinstance(started, services.AppendSession)
    started.write([data[:100]])
    Upload.objects.filter(pk=upload.pk).delete()

    with pytest.raises(UploadNotFound):
        services.upload_append_finish(session=started)

    assert started.descriptor is None  # the lock was released
    assert services._running_hashes.take(upload_id=upload.id, offset_bytes=100) is None


def test_looking_up_a_devices_upload_is_one_query_and_another_devices_is_not_found(session: Any) -> None:
    upload = _created(session, b"\xff\xd8\xff" + b"x" * 100)

    with CaptureQueriesContext(connection) as queries:
        found = selectors.upload_get_for_device(device_id=session.device.pk, upload_id=upload.id)

    assert found.pk == upload.pk
    assert len(queries) == 1 and "ORDER BY" not in queries[0]["sql"]
    other = make_device_session(officer=make_officer(username="binh.cm", unit=make_unit(code="CM")), label="p2")
    with pytest.raises(UploadNotFound):
        selectors.upload_get_for_device(device_id=other.device.pk, upload_id=upload.id)


def test_a_final_patch_of_refused_bytes_fails_the_upload_reading_its_row_once_under_the_lock(session: Any) -> None:
    data = b"not an image at all " * 50
    upload = selectors.upload_get_for_device(device_id=session.device.pk, upload_id=_created(session, data).id)

    with CaptureQueriesContext(connection) as queries, pytest.raises(MediaError) as refused:
        services.upload_append(upload=upload, offset_bytes=0, body=io.BytesIO(data), content_length=len(data))

    stored = Upload.objects.get(pk=upload.pk)
    assert refused.value.http_status == 415
    assert (stored.state, stored.failure_code, stored.failure_http_status) == (
        UploadState.FAILED,
        str(refused.value.code),
        415,
    )
    assert not services.upload_part_path(upload_id=upload.id).exists()
    assert len(_upload_selects(queries)) == 1  # the re-read once the lock is held; completion reuses it
