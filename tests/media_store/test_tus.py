"""The tus 1.0 server at /api/v1/media/uploads, through Django's test client and the real tuspy client."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django.utils.http import http_date
from PIL import Image

from media_store import part_file, services
from media_store.models import Photo, Upload, UploadState
from media_store.signals import photo_stored
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import (
    OFFSET_TYPE,
    UPLOADS_URL,
    blob_files,
    create_upload,
    envelope,
    head,
    part_path,
    patch,
    photo_bytes,
    post_creation,
    pwrite_filling_the_disk_after,
    sha256_hex,
    tus_headers,
    tus_metadata,
)


@pytest.fixture
def session(db: None) -> Any:
    unit = make_unit(code="TT", communes=("20215",))
    return make_device_session(officer=make_officer(username="hanh.tt", unit=unit), label="phone-1")


@pytest.fixture
def other_session(db: None) -> Any:
    unit = make_unit(code="CM", communes=("20236",))
    return make_device_session(officer=make_officer(username="binh.cm", unit=unit), label="phone-2")


@pytest.fixture
def client() -> Client:
    return Client()


# --- discovery and protocol errors -----------------------------------------------------------------


def test_options_advertises_tus_1_0_and_its_extensions(client: Client) -> None:
    response = client.options(UPLOADS_URL)

    assert response.status_code == 204
    assert response["Tus-Resumable"] == "1.0.0"
    assert response["Tus-Version"] == "1.0.0"
    assert response["Tus-Extension"] == "creation,creation-with-upload,termination,expiration,checksum"
    assert response["Tus-Max-Size"] == str(30 * 1024 * 1024)
    assert response["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_request_without_tus_resumable_is_412_and_creates_nothing(client: Client, session: Any) -> None:
    response = post_creation(
        client,
        {"Authorization": f"Bearer {session.access_token}", "Upload-Length": "10"},
    )

    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0"
    assert Upload.objects.count() == 0


def test_creation_without_a_token_is_401_and_creates_nothing(client: Client, db: None) -> None:
    response = post_creation(
        client,
        {"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": tus_metadata(sha256="a" * 64)},
    )

    assert response.status_code == 401
    assert envelope(response)["code"] == "auth_required"
    assert Upload.objects.count() == 0


def test_creation_without_declared_sha256_is_400(client: Client, session: Any) -> None:
    response = post_creation(
        client,
        tus_headers(session, **{"Upload-Length": "10", "Upload-Metadata": tus_metadata(filename="a.jpg")}),
    )

    assert response.status_code == 400
    assert envelope(response) == {
        "code": "validation_error",
        "message": "Upload-Metadata must declare the file's sha256.",
        "details": {"missing": "sha256"},
    }
    assert Upload.objects.count() == 0


def test_creation_over_the_size_limit_is_413(client: Client, session: Any) -> None:
    response = post_creation(
        client,
        tus_headers(
            session, **{"Upload-Length": str(30 * 1024 * 1024 + 1), "Upload-Metadata": tus_metadata(sha256="a" * 64)}
        ),
    )

    assert response.status_code == 413
    assert envelope(response)["code"] == "upload_too_large"
    assert Upload.objects.count() == 0


def test_creation_past_the_device_quota_is_413(client: Client, session: Any, settings: Any) -> None:
    settings.FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES = 1000
    create_upload(client, session, b"x" * 600)

    response = post_creation(
        client,
        tus_headers(session, **{"Upload-Length": "600", "Upload-Metadata": tus_metadata(sha256="a" * 64)}),
    )

    assert response.status_code == 413
    assert envelope(response)["details"] == {"pending_bytes": 600, "quota_bytes": 1000}
    assert Upload.objects.count() == 1


def test_patch_with_the_wrong_content_type_is_415(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)

    response = patch(client, session, location, data[:100], 0, content_type="application/octet-stream")

    assert response.status_code == 415
    assert part_path(location).stat().st_size == 0


# --- the happy path, resume and offsets -------------------------------------------------------------


def test_chunked_upload_with_resume_completes_into_a_photo(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    assert location.startswith("http://testserver/api/v1/media/uploads/")
    assert head(client, session, location)["Upload-Offset"] == "0"

    first = patch(client, session, location, data[:50_000], 0)
    assert first.status_code == 204
    assert first["Upload-Offset"] == "50000"
    assert "Upload-Expires" in first
    # the app was killed here; on restart it asks where to resume
    resumed_at = int(head(client, session, location)["Upload-Offset"])
    last = patch(client, session, location, data[resumed_at:], resumed_at)

    assert last.status_code == 204
    assert last["Upload-Offset"] == str(len(data))
    assert last["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    photo = Photo.objects.get()
    assert last["Fieldsync-Photo-Id"] == str(photo.id)
    assert photo.sha256 == sha256_hex(data)
    assert photo.size_bytes == len(data)
    assert (photo.format, photo.width, photo.height) == ("jpeg", 640, 480)
    assert photo.captured_at_recorded == "2025-08-14T06:05:04+07:00"
    assert photo.captured_at == datetime(2025, 8, 13, 23, 5, 4, tzinfo=UTC)
    assert photo.gps_latitude == pytest.approx(21.841666666, abs=1e-6)
    assert photo.gps_longitude == pytest.approx(106.75, abs=1e-9)
    assert photo.uploaded_by_device_id == session.device.id
    assert set(photo.derivatives) == {"thumb", "display"}
    media_root = Path(settings.MEDIA_ROOT)
    sha = photo.sha256
    assert (media_root / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes() == data
    for kind in ("thumb", "display"):
        stored = media_root / photo.derivatives[kind]["key"]
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == photo.derivatives[kind]["sha256"]
        assert b"Exif" not in stored.read_bytes()[:4096]
    upload = Upload.objects.get()
    assert upload.state == UploadState.COMPLETE
    assert upload.photo == photo
    assert upload.metadata == {
        "filename": "ảnh kiểm tra.jpg",
        "record_table": "checks",
        "record_id": "c7Yq2mLx9aB3dE4f",
    }
    assert not part_path(location).exists()  # renamed away at once, deleted in the background
    services.part_discards_wait()
    assert list((media_root / "uploads").iterdir()) == []
    final_head = head(client, session, location)
    assert final_head.status_code == 200
    assert final_head["Upload-Offset"] == final_head["Upload-Length"] == str(len(data))


def test_head_reports_the_bytes_on_disk_not_the_database_hint(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1000], 0)
    # The server died after writing more bytes but before recording them (and the reverse).
    with part_path(location).open("ab") as handle:
        handle.write(data[1000:3000])
    Upload.objects.update(offset_hint_bytes=9999)

    response = head(client, session, location)

    assert response["Upload-Offset"] == "3000"
    assert patch(client, session, location, data[1000:], 1000).status_code == 409
    assert patch(client, session, location, data[3000:], 3000).status_code == 204
    assert Photo.objects.get().sha256 == sha256_hex(data)


def test_patch_at_the_wrong_offset_is_409_and_writes_nothing(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1000], 0)

    response = patch(client, session, location, data[500:2000], 500)

    assert response.status_code == 409
    assert response["Upload-Offset"] == "1000"
    assert envelope(response)["code"] == "upload_offset_mismatch"
    assert part_path(location).stat().st_size == 1000


def test_creation_with_upload_completes_in_one_request(client: Client, session: Any) -> None:
    data = photo_bytes(seed=5)

    response = client.post(
        UPLOADS_URL,
        data=data,
        content_type=OFFSET_TYPE,
        headers=tus_headers(
            session, **{"Upload-Length": str(len(data)), "Upload-Metadata": tus_metadata(sha256=sha256_hex(data))}
        ),
    )

    assert response.status_code == 201
    assert response["Upload-Offset"] == str(len(data))
    assert response["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert Photo.objects.count() == 1


def test_replayed_final_patch_after_a_lost_response_returns_the_same_photo(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    first = patch(client, session, location, data, 0)

    replay = patch(client, session, location, b"", len(data))

    assert replay.status_code == 204
    assert replay["Fieldsync-Photo-Id"] == first["Fieldsync-Photo-Id"]
    assert Photo.objects.count() == 1


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_a_patch_that_read_the_upload_before_its_completion_leaves_no_part_file_behind(
    client: Client, session: Any, outcome: str
) -> None:
    # A PATCH racing the completing one: it read the row while receiving, then opened the .part path
    # after completion had renamed the file away (creating an empty one) and found the upload finished.
    data = photo_bytes()
    location = create_upload(client, session, data, declared_sha256=None if outcome == "completed" else "0" * 64)
    upload_read_before = Upload.objects.get()
    finished = patch(client, session, location, data, 0)
    assert finished.status_code == (204 if outcome == "completed" else 460)
    services.part_discards_wait()

    if outcome == "completed":
        replayed = services.upload_append_begin(
            upload=upload_read_before, offset_bytes=len(data), content_length=0, checksum=None
        )
        assert isinstance(replayed, services.AppendResult)
    else:
        with pytest.raises(services.MediaError):
            services.upload_append_begin(upload=upload_read_before, offset_bytes=0, content_length=10, checksum=None)

    assert not part_path(location).exists()
    assert list((Path(settings.MEDIA_ROOT) / "uploads").iterdir()) == []


def test_body_longer_than_the_rest_of_the_upload_is_413_and_writes_nothing(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)

    response = patch(client, session, location, data + b"extra", 0)

    assert response.status_code == 413
    assert part_path(location).stat().st_size == 0


def test_a_second_writer_on_the_same_upload_gets_423(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    with part_path(location).open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # another server process is mid-PATCH

        response = patch(client, session, location, data[:100], 0)

    assert response.status_code == 423
    assert envelope(response)["code"] == "upload_locked"
    assert part_path(location).stat().st_size == 0


@pytest.mark.parametrize(
    "budget_bytes",
    [
        pytest.param(70_000, id="cut_mid_page"),  # direct writes of it are refused (EINVAL): ordinary ones
        pytest.param(17 * 4096, id="cut_on_a_page"),  # a direct write accepted short, as a filling disk does
    ],
)
def test_disk_full_mid_patch_keeps_the_whole_bytes_and_the_upload_resumes(
    client: Client, session: Any, monkeypatch: pytest.MonkeyPatch, budget_bytes: int
) -> None:
    data = photo_bytes()
    assert len(data) > 3 * budget_bytes
    location = create_upload(client, session, data)
    monkeypatch.setattr(part_file.os, "pwrite", pwrite_filling_the_disk_after(budget_bytes))
    response = patch(client, session, location, data, 0)
    monkeypatch.undo()

    assert response.status_code == 507
    assert envelope(response)["code"] == "upload_storage_full"
    assert envelope(response)["details"] == {"offset_bytes": budget_bytes}
    assert part_path(location).read_bytes() == data[:budget_bytes]
    assert head(client, session, location)["Upload-Offset"] == str(budget_bytes)
    assert Photo.objects.count() == 0
    assert patch(client, session, location, data[budget_bytes:], budget_bytes).status_code == 204
    assert Photo.objects.get().sha256 == sha256_hex(data)


def test_disk_full_mid_checksum_patch_keeps_none_of_its_unverified_bytes(
    client: Client, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The body was damaged on the way (that is what Upload-Checksum is for) and the disk fills before
    # its end: the bytes written so far cannot be verified, so none of them may stay. Kept, they would
    # make the whole upload fail its sha256 at completion, losing the bytes accepted before.
    data = photo_bytes()
    location = create_upload(client, session, data)
    assert patch(client, session, location, data[:1000], 0).status_code == 204
    damaged = bytearray(data[1000:])
    damaged[500] ^= 0xFF
    declared = base64.b64encode(hashlib.sha256(data[1000:]).digest()).decode()
    monkeypatch.setattr(part_file.os, "pwrite", pwrite_filling_the_disk_after(70_000))
    response = patch(client, session, location, bytes(damaged), 1000, **{"Upload-Checksum": f"sha256 {declared}"})
    monkeypatch.undo()

    assert response.status_code == 507
    assert envelope(response)["details"] == {"offset_bytes": 1000}
    assert part_path(location).read_bytes() == data[:1000]
    assert head(client, session, location)["Upload-Offset"] == "1000"
    done = patch(client, session, location, data[1000:], 1000, **{"Upload-Checksum": f"sha256 {declared}"})
    assert done.status_code == 204, done.content
    assert Photo.objects.get().sha256 == sha256_hex(data)


# --- integrity ------------------------------------------------------------------------------------


def test_declared_sha256_mismatch_fails_the_upload_and_keeps_nothing(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data, declared_sha256=sha256_hex(b"other bytes"))

    response = patch(client, session, location, data, 0)

    assert response.status_code == 460
    assert envelope(response) == {
        "code": "upload_checksum_mismatch",
        "message": "The received bytes do not match the declared sha256.",
        "details": {"expected_sha256": sha256_hex(b"other bytes"), "actual_sha256": sha256_hex(data)},
    }
    assert Photo.objects.count() == 0
    assert blob_files() == []
    assert not part_path(location).exists()
    assert Upload.objects.get().state == UploadState.FAILED
    again = head(client, session, location)
    assert again.status_code == 460
    assert again["Fieldsync-Error-Code"] == "upload_checksum_mismatch"


def test_patch_checksum_mismatch_discards_only_that_patch(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1000], 0)
    wrong = base64.b64encode(hashlib.sha1(b"not this").digest()).decode()

    response = patch(client, session, location, data[1000:5000], 1000, **{"Upload-Checksum": f"sha1 {wrong}"})

    assert response.status_code == 460
    assert part_path(location).stat().st_size == 1000
    right = base64.b64encode(hashlib.sha256(data[1000:]).digest()).decode()
    done = patch(client, session, location, data[1000:], 1000, **{"Upload-Checksum": f"sha256 {right}"})
    assert done.status_code == 204
    assert Photo.objects.count() == 1


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_upload_checksum_is_verified_per_patch_with_sha1_and_sha256(
    client: Client, session: Any, algorithm: str
) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)

    def checksum(body: bytes) -> str:
        return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, body).digest()).decode()}"

    good = patch(client, session, location, data[:4000], 0, **{"Upload-Checksum": checksum(data[:4000])})
    bad = patch(client, session, location, data[4000:9000], 4000, **{"Upload-Checksum": checksum(b"other")})
    offset_after_bad = head(client, session, location)["Upload-Offset"]
    last = patch(client, session, location, data[4000:], 4000, **{"Upload-Checksum": checksum(data[4000:])})

    assert (good.status_code, good["Upload-Offset"]) == (204, "4000")
    assert bad.status_code == 460
    assert envelope(bad) == {
        "code": "upload_checksum_mismatch",
        "message": "The PATCH body does not match its Upload-Checksum.",
        "details": {"algorithm": algorithm, "is_body_cut": False},
    }
    assert offset_after_bad == "4000"
    assert last.status_code == 204
    assert Photo.objects.get().sha256 == sha256_hex(data)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("md5 " + base64.b64encode(hashlib.md5(b"x").digest()).decode(), "Upload-Checksum algorithm not supported."),
        ("sha1 not-base64!", "Upload-Checksum is not base64."),
        (
            "sha256 " + base64.b64encode(hashlib.sha1(b"x").digest()).decode(),
            "Upload-Checksum has the wrong length for its algorithm.",
        ),
    ],
    ids=["md5", "not-base64", "wrong-length"],
)
def test_an_unusable_upload_checksum_is_400_and_writes_nothing(
    client: Client, session: Any, header: str, message: str
) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)

    response = patch(client, session, location, data[:1000], 0, **{"Upload-Checksum": header})

    assert response.status_code == 400
    assert envelope(response)["message"] == message
    assert part_path(location).stat().st_size == 0


def test_head_carries_the_offset_the_declared_sha256_the_record_link_and_the_expiry(
    client: Client, session: Any
) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1234], 0)
    upload = Upload.objects.get()

    response = head(client, session, location)

    assert response.status_code == 200
    assert (response["Upload-Offset"], response["Upload-Length"]) == ("1234", str(len(data)))
    metadata = {
        key: base64.b64decode(value).decode()
        for key, value in (pair.split(" ") for pair in response["Upload-Metadata"].split(","))
    }
    assert metadata == {
        "sha256": sha256_hex(data),
        "filename": "ảnh kiểm tra.jpg",
        "record_table": "checks",
        "record_id": "c7Yq2mLx9aB3dE4f",
    }
    assert response["Upload-Expires"] == http_date(upload.expires_at.timestamp())
    assert upload.expires_at > timezone.now() + timedelta(days=6)
    assert response["Cache-Control"] == "no-store"


def test_completed_upload_of_a_refused_image_fails_with_its_image_code(client: Client, session: Any) -> None:
    gif = io.BytesIO()
    Image.new("P", (20, 20), 1).save(gif, format="GIF")
    data = gif.getvalue()
    location = create_upload(client, session, data)

    response = patch(client, session, location, data, 0)

    assert response.status_code == 415
    assert envelope(response)["code"] == "image_format_not_allowed"
    assert Photo.objects.count() == 0
    assert blob_files() == []
    assert Upload.objects.get().failure_code == "image_format_not_allowed"


def test_identical_bytes_from_two_devices_are_one_photo_and_one_blob(
    client: Client, session: Any, other_session: Any
) -> None:
    data = photo_bytes(seed=9)
    first = patch(client, session, create_upload(client, session, data), data, 0)

    second = patch(client, other_session, create_upload(client, other_session, data), data, 0)

    assert first.status_code == second.status_code == 204
    assert first["Fieldsync-Photo-Id"] == second["Fieldsync-Photo-Id"]
    photo = Photo.objects.get()
    assert photo.uploaded_by_device_id == session.device.id
    assert Upload.objects.filter(photo=photo).count() == 2
    assert len(blob_files()) == 1


def test_a_second_upload_of_stored_bytes_reuses_the_photo_and_makes_no_derivatives(
    client: Client, session: Any, other_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = photo_bytes(seed=10)
    patch(client, session, create_upload(client, session, data), data, 0)
    services.part_discards_wait()  # the first .part is deleted in the background
    stored = {path: path.stat().st_mtime_ns for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}
    derive_calls: list[Path] = []
    real_inspect = services.inspect_and_derive

    def counting_inspect(path: Path, **kwargs: Any) -> Any:  # a spy: the real function still runs
        derive_calls.append(path)
        return real_inspect(path, **kwargs)

    monkeypatch.setattr(services, "inspect_and_derive", counting_inspect)

    second = patch(client, other_session, create_upload(client, other_session, data), data, 0)

    assert second.status_code == 204
    assert second["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert derive_calls == []
    assert Photo.objects.count() == 1
    assert Upload.objects.filter(state=UploadState.COMPLETE).count() == 2
    services.part_discards_wait()
    after = {path: path.stat().st_mtime_ns for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()}
    assert after == stored  # not one file written again (the second .part is gone too)


def test_completion_sends_photo_stored_with_the_record_link(
    client: Client, session: Any, django_capture_on_commit_callbacks: Any
) -> None:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    photo_stored.connect(receiver)
    try:
        data = photo_bytes()
        with django_capture_on_commit_callbacks(execute=True):
            patch(client, session, create_upload(client, session, data), data, 0)
    finally:
        photo_stored.disconnect(receiver)

    assert len(received) == 1
    assert received[0]["photo"].sha256 == sha256_hex(data)
    assert received[0]["is_new_photo"] is True
    assert received[0]["upload"].metadata["record_table"] == "checks"


# --- ownership, termination, expiry ----------------------------------------------------------------


def test_another_devices_upload_is_404(client: Client, session: Any, other_session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)

    assert head(client, other_session, location).status_code == 404
    response = patch(client, other_session, location, data[:100], 0)
    assert response.status_code == 404
    assert envelope(response)["code"] == "upload_not_found"
    assert part_path(location).stat().st_size == 0


def test_termination_deletes_the_bytes_and_the_upload(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1000], 0)

    response = client.delete(location, headers=tus_headers(session))

    assert response.status_code == 204
    assert not part_path(location).exists()
    assert Upload.objects.count() == 0
    assert head(client, session, location).status_code == 404


def test_expired_upload_is_410_and_the_sweep_removes_it(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    patch(client, session, location, data[:1000], 0)
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = patch(client, session, location, data[1000:], 1000)

    assert response.status_code == 410
    assert envelope(response)["code"] == "upload_expired"
    result = services.uploads_sweep()
    assert (result.expired_count, result.completed_count) == (1, 0)
    assert Upload.objects.count() == 0
    assert not part_path(location).exists()


def test_sweep_completes_an_upload_whose_completion_died(client: Client, session: Any) -> None:
    data = photo_bytes()
    location = create_upload(client, session, data)
    part_path(location).write_bytes(data)  # every byte arrived; the server died before completing

    result = services.uploads_sweep()

    assert result.completed_count == 1
    assert Photo.objects.get().sha256 == sha256_hex(data)
    assert Upload.objects.get().state == UploadState.COMPLETE


# --- the real tus client -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_tuspy_uploads_against_a_live_server(live_server: Any) -> None:
    from tusclient import client as tus_client

    session = make_device_session(officer=make_officer(username="lan.tt", unit=make_unit(code="LS")))
    data = photo_bytes(seed=3, size=(1200, 900))
    digest = sha256_hex(data)
    tus = tus_client.TusClient(
        f"{live_server.url}{UPLOADS_URL}", headers={"Authorization": f"Bearer {session.access_token}"}
    )
    uploader = tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=64 * 1024,
        metadata={"sha256": digest, "filename": "checkpoint.jpg", "record_table": "checks", "record_id": "r1"},
        upload_checksum=True,
    )

    uploader.upload()

    assert uploader.offset == len(data)
    assert len(data) > 3 * 64 * 1024  # several PATCHes
    photo = Photo.objects.get()
    assert photo.sha256 == digest
    assert Upload.objects.get().state == UploadState.COMPLETE
    assert blob_files()[0].read_bytes() == data


# --- quota under concurrency ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creations_never_exceed_the_device_quota(settings: Any) -> None:
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    settings.FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES = 1000
    session = make_device_session(officer=make_officer(username="racer", unit=make_unit(code="RC")))
    device_id = session.device.id
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def create() -> None:
        try:
            start.wait()
            services.upload_create(
                device_id=device_id, length_bytes=400, metadata=services.UploadMetadata(sha256="a" * 64)
            )
            outcomes.append("created")
        except services.UploadQuotaExceeded:
            outcomes.append("quota")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["created"] * 2 + ["quota"] * 6
    assert Upload.objects.filter(device_id=device_id).count() == 2
