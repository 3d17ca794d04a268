"""Media storage adapters: the local folder and S3-compatible object storage (moto's real HTTP server)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from media_store import selectors
from media_store.errors import PhotoIntegrityError
from media_store.models import Photo
from media_store.services import photos_unreferenced_delete
from media_store.storage import DjangoStorageAdapter, LocalFolderStorage, blob_key, media_storage
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import create_upload, patch, photo_bytes


def test_local_storage_save_is_idempotent_and_never_leaves_temporary_files(tmp_path: Path) -> None:
    storage = LocalFolderStorage(root=tmp_path / "root")
    source = tmp_path / "source"
    source.write_bytes(b"first")
    key = blob_key(sha256=hashlib.sha256(b"first").hexdigest())

    storage.save_file(key=key, source=source)
    source.write_bytes(b"second")
    storage.save_file(key=key, source=source)  # a content-addressed key is never rewritten

    with storage.open(key=key) as handle:
        assert handle.read() == b"first"
    assert [p.name for p in (tmp_path / "root").rglob("*") if p.is_file()] == [key.rsplit("/", 1)[1]]


def test_local_storage_refuses_keys_that_escape_its_root(tmp_path: Path) -> None:
    storage = LocalFolderStorage(root=tmp_path / "root")

    with pytest.raises(ValueError, match="escapes"):
        storage.path(key="../outside")


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class Bucket:
    s3: Any  # a boto3 client talking to the moto server
    name: str

    def keys(self) -> list[str]:
        return sorted(item["Key"] for item in self.s3.list_objects_v2(Bucket=self.name).get("Contents", []))


@pytest.fixture
def s3_photos(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket on the moto server (its state is per process: one bucket per test) and
    FIELDSYNC_MEDIA_STORAGE pointing at it."""
    import boto3

    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **credentials)
    bucket = Bucket(s3=s3, name=f"photos-{uuid.uuid4().hex[:12]}")
    s3.create_bucket(Bucket=bucket.name)
    settings.STORAGES = {
        **settings.STORAGES,
        "photos": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket.name,
                "endpoint_url": s3_endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
            },
        },
    }
    settings.FIELDSYNC_MEDIA_STORAGE = "photos"
    return bucket


def test_completed_upload_lands_in_s3_compatible_storage(s3_photos: Bucket, settings: Any, db: None) -> None:
    session = make_device_session(officer=make_officer(username="s3.user", unit=make_unit(code="S3")))
    client = Client()
    data = photo_bytes(seed=11)

    response = patch(client, session, create_upload(client, session, data), data, 0)

    assert response.status_code == 204
    photo = Photo.objects.get()
    storage = media_storage()
    assert isinstance(storage, DjangoStorageAdapter)
    with storage.open(key=photo.original_key) as handle:
        assert handle.read() == data
    assert s3_photos.keys() == sorted(
        [photo.original_key, photo.derivatives["thumb"]["key"], photo.derivatives["display"]["key"]]
    )
    assert not (Path(settings.MEDIA_ROOT) / "blobs").exists()  # nothing went to the local folder


def test_s3_holds_duplicates_once_and_reads_are_verified(s3_photos: Bucket, db: None) -> None:
    session = make_device_session(officer=make_officer(username="s3.dup", unit=make_unit(code="S4")))
    client = Client()
    data = photo_bytes(seed=12)
    patch(client, session, create_upload(client, session, data), data, 0)
    keys = s3_photos.keys()

    again = patch(client, session, create_upload(client, session, data), data, 0)

    assert again.status_code == 204
    assert s3_photos.keys() == keys
    photo = Photo.objects.get()
    assert selectors.photo_derivative_read(photo=photo, kind="thumb").sha256 == photo.derivatives["thumb"]["sha256"]
    s3_photos.s3.put_object(Bucket=s3_photos.name, Key=photo.derivatives["thumb"]["key"], Body=b"\xff\xd8\xff tampered")
    with pytest.raises(PhotoIntegrityError):
        selectors.photo_derivative_read(photo=photo, kind="thumb")
    s3_photos.s3.delete_object(Bucket=s3_photos.name, Key=photo.original_key)
    with pytest.raises(PhotoIntegrityError) as caught:
        selectors.photo_original_read(photo=photo)
    assert caught.value.message == "The stored photo is missing; it cannot be served."


def test_s3_cleanup_deletes_the_objects_of_an_unreferenced_photo(s3_photos: Bucket, db: None) -> None:
    session = make_device_session(officer=make_officer(username="s3.gone", unit=make_unit(code="S5")))
    client = Client()
    data = photo_bytes(seed=13)
    patch(client, session, create_upload(client, session, data), data, 0)
    assert len(s3_photos.keys()) == 3

    result = photos_unreferenced_delete(retention_days=0, now=timezone.now() + timedelta(seconds=1))

    assert result.deleted_count == 1
    assert s3_photos.keys() == []


def test_sweep_command_reports_what_it_did(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("media_uploads_sweep")

    assert capsys.readouterr().out.strip() == "completed=0 refused=0 expired=0"
