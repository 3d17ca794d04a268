"""Photos linked to records through the synced `photos` table, whichever arrives first, and downloaded by
devices: scope-checked, ETag-cached, and verified against their sha256 before a byte is sent."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from media_store import selectors
from media_store.errors import PhotoIntegrityError
from media_store.models import Photo
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import create_upload, envelope, patch, photo_bytes, sha256_hex
from tests.registry.conftest import CAPTURED_AT_MS, COMMUNE_A, COMMUNE_B, check_values

pytestmark = pytest.mark.django_db

PHOTOS_URL = "/api/v1/media/photos"


class Phone:
    """A device of one unit: pull, push and tus upload through the real endpoints (Django's test client)."""

    def __init__(self, *, username: str, unit: Any) -> None:
        self.session = make_device_session(officer=make_officer(username=username, unit=unit), label=username)
        self.client = Client()
        self.cursor: int | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session.access_token}"}

    def pull(self) -> dict[str, Any]:
        query = "schema_version=1" + (f"&last_pulled_at={self.cursor}" if self.cursor else "")
        response = self.client.get(f"/api/v1/sync/pull?{query}", headers=self.auth)
        assert response.status_code == 200, response.content
        body = response.json()
        self.cursor = body["timestamp"]
        return dict(body["changes"])

    def push_check_with_photo(self, *, sha256: str) -> tuple[str, str]:
        check_id, photo_id = str(uuid.uuid4()), str(uuid.uuid4())
        response = self.client.post(
            f"/api/v1/sync/push?last_pulled_at={self.cursor}",
            data={
                "changes": {
                    "checks": {
                        "created": [{"id": check_id, **check_values(), "_status": "created"}],
                        "updated": [],
                        "deleted": [],
                    },
                    "photos": {
                        "created": [
                            {
                                "id": photo_id,
                                "record_table": "checks",
                                "record_id": check_id,
                                "sha256": sha256,
                                "captured_at": CAPTURED_AT_MS,
                                "kind": "subject",
                                "is_uploaded": False,
                                "_status": "created",
                            }
                        ],
                        "updated": [],
                        "deleted": [],
                    },
                }
            },
            content_type="application/json",
            headers=self.auth,
        )
        assert response.status_code == 200, response.content
        assert response.json()["experimentalRejectedIds"] == {}
        return check_id, photo_id

    def upload(self, data: bytes, capture: Any) -> Any:
        with capture(execute=True):  # photo_stored is sent after commit
            response = patch(self.client, self.session, create_upload(self.client, self.session, data), data, 0)
        assert response.status_code == 204, response.content
        return response

    def download(self, sha256: str, kind: str = "thumb", **headers: str) -> Any:
        return self.client.get(f"{PHOTOS_URL}/{sha256}/{kind}", headers={**self.auth, **headers})


def photo_rows(changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    photos = changes.get("photos", {"created": [], "updated": []})
    return {row["id"]: row for row in [*photos["created"], *photos["updated"]]}


@pytest.fixture
def unit() -> Any:
    return make_unit(code="HN", communes=(COMMUNE_A,))


# --- whichever arrives first ---------------------------------------------------------------------


def test_a_record_pushed_before_its_photo_is_marked_uploaded_when_the_bytes_arrive(
    unit: Any, django_capture_on_commit_callbacks: Any
) -> None:
    phone = Phone(username="first.record", unit=unit)
    data = photo_bytes(seed=31)
    phone.pull()
    _, photo_id = phone.push_check_with_photo(sha256=sha256_hex(data))
    teammate = Phone(username="teammate", unit=unit)
    assert photo_rows(teammate.pull())[photo_id]["is_uploaded"] is False
    assert teammate.download(sha256_hex(data)).status_code == 404  # linked, but no bytes yet

    phone.upload(data, django_capture_on_commit_callbacks)

    row = photo_rows(teammate.pull())[photo_id]
    assert (row["sha256"], row["is_uploaded"]) == (sha256_hex(data), True)
    photo = Photo.objects.get()
    response = teammate.download(sha256_hex(data))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == photo.derivatives["thumb"]["sha256"]


def test_a_photo_uploaded_before_its_record_is_linked_uploaded_when_the_row_arrives(
    unit: Any, django_capture_on_commit_callbacks: Any
) -> None:
    phone = Phone(username="first.photo", unit=unit)
    data = photo_bytes(seed=32)
    phone.upload(data, django_capture_on_commit_callbacks)
    assert phone.download(sha256_hex(data)).status_code == 404  # no record shows it yet: nobody may read it
    phone.pull()

    _, photo_id = phone.push_check_with_photo(sha256=sha256_hex(data))

    teammate = Phone(username="teammate", unit=unit)
    row = photo_rows(teammate.pull())[photo_id]
    assert (row["sha256"], row["is_uploaded"]) == (sha256_hex(data), True)
    assert teammate.download(sha256_hex(data), "display").status_code == 200


# --- download: scope, caching ---------------------------------------------------------------------


@pytest.fixture
def linked(unit: Any, django_capture_on_commit_callbacks: Any) -> tuple[Phone, Photo]:
    phone = Phone(username="owner", unit=unit)
    data = photo_bytes(seed=33)
    phone.pull()
    phone.push_check_with_photo(sha256=sha256_hex(data))
    phone.upload(data, django_capture_on_commit_callbacks)
    return phone, Photo.objects.get()


@pytest.mark.parametrize("kind", ["thumb", "display"])
def test_download_of_a_derivative_is_its_verified_bytes_with_an_immutable_etag(
    linked: tuple[Phone, Photo], kind: str
) -> None:
    phone, photo = linked

    response = phone.download(photo.sha256, kind)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["ETag"] == f'"{photo.derivatives[kind]["sha256"]}"'
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    stored = Path(settings.MEDIA_ROOT) / photo.derivatives[kind]["key"]
    assert response.content == stored.read_bytes()
    assert b"Exif" not in response.content[:4096]


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"0000", {etag}', "*"],
    ids=["exact", "weak", "in-a-list", "star"],
)
def test_download_with_a_matching_if_none_match_is_304_without_a_body(
    linked: tuple[Phone, Photo], if_none_match: str
) -> None:
    phone, photo = linked
    etag = f'"{photo.derivatives["thumb"]["sha256"]}"'

    response = phone.download(photo.sha256, "thumb", **{"If-None-Match": if_none_match.format(etag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_download_with_a_stale_if_none_match_is_200(linked: tuple[Phone, Photo]) -> None:
    phone, photo = linked

    response = phone.download(photo.sha256, "thumb", **{"If-None-Match": f'"{photo.derivatives["display"]["sha256"]}"'})

    assert response.status_code == 200
    assert response.content


def test_another_units_photo_is_a_404_exactly_like_a_missing_one(linked: tuple[Phone, Photo]) -> None:
    _, photo = linked
    outsider = Phone(username="outsider", unit=make_unit(code="CM", communes=(COMMUNE_B,)))

    foreign = outsider.download(photo.sha256)
    missing = outsider.download("f" * 64)

    assert foreign.status_code == missing.status_code == 404
    assert (
        envelope(foreign)
        == envelope(missing)
        == {
            "code": "photo_not_found",
            "message": "No such photo.",
            "details": {},
        }
    )
    assert "ETag" not in foreign
    assert foreign["Cache-Control"] == "no-store"
    # An ETag guess does not reveal it either.
    guessed = outsider.download(photo.sha256, **{"If-None-Match": f'"{photo.derivatives["thumb"]["sha256"]}"'})
    assert guessed.status_code == 404


@pytest.mark.parametrize("path", ["{sha}/original", "{sha}/../thumb", "not-a-sha256/thumb", "{sha}x/thumb"])
def test_download_of_anything_but_a_derivative_is_404(linked: tuple[Phone, Photo], path: str) -> None:
    phone, photo = linked

    response = phone.client.get(f"{PHOTOS_URL}/{path.format(sha=photo.sha256)}", headers=phone.auth)

    assert response.status_code == 404


def test_download_without_a_token_is_401(linked: tuple[Phone, Photo]) -> None:
    _, photo = linked

    response = Client().get(f"{PHOTOS_URL}/{photo.sha256}/thumb")

    assert response.status_code == 401
    assert envelope(response)["code"] == "auth_required"


# --- integrity when read ---------------------------------------------------------------------------


def test_a_derivative_altered_on_disk_is_detected_and_never_served(
    linked: tuple[Phone, Photo], caplog: pytest.LogCaptureFixture
) -> None:
    phone, photo = linked
    stored = Path(settings.MEDIA_ROOT) / photo.derivatives["thumb"]["key"]
    good = stored.read_bytes()
    stored.write_bytes(good[:-10] + b"\x00" * 10)  # bit rot, same length

    response = phone.download(photo.sha256, "thumb")

    assert response.status_code == 500
    assert envelope(response) == {
        "code": "photo_integrity_failed",
        "message": "The stored photo failed its integrity check; it cannot be served.",
        "details": {"sha256": photo.sha256, "part": "thumb"},
    }
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response
    assert good[:100] not in response.content
    assert any(r.levelname == "ERROR" and "failed its integrity check" in r.getMessage() for r in caplog.records)


def test_a_derivative_missing_from_storage_is_a_500_not_an_empty_image(linked: tuple[Phone, Photo]) -> None:
    phone, photo = linked
    (Path(settings.MEDIA_ROOT) / photo.derivatives["display"]["key"]).unlink()

    response = phone.download(photo.sha256, "display")

    assert response.status_code == 500
    assert (envelope(response)["code"], envelope(response)["message"]) == (
        "photo_integrity_failed",
        "The stored photo is missing; it cannot be served.",
    )


def test_an_original_altered_on_disk_fails_its_verified_read(linked: tuple[Phone, Photo]) -> None:
    _, photo = linked
    original = Path(settings.MEDIA_ROOT) / photo.original_key
    assert selectors.photo_original_read(photo=photo).data == original.read_bytes()
    original.write_bytes(original.read_bytes() + b"appended")

    with pytest.raises(PhotoIntegrityError) as caught:
        selectors.photo_original_read(photo=photo)

    assert caught.value.details == {"sha256": photo.sha256, "part": "original"}


# --- a push racing the completion of the photo's upload (PostgreSQL: real row locks) ----------------


def photo_values(*, check_id: str, sha256: str, kind: str = "subject") -> dict[str, Any]:
    return {
        "record_table": "checks",
        "record_id": check_id,
        "sha256": sha256,
        "captured_at": CAPTURED_AT_MS,
        "kind": kind,
        "is_uploaded": False,
    }


def push_from_a_thread(phone: Phone, changes: dict[str, Any]) -> tuple[int, Any]:
    """A push through the real endpoint with a client of its own: (status, rejected ids or the body)."""
    response = Client(raise_request_exception=False).post(
        f"/api/v1/sync/push?last_pulled_at={phone.cursor}",
        data={"changes": changes},
        content_type="application/json",
        headers=phone.auth,
    )
    body = response.json() if response["Content-Type"] == "application/json" else response.content
    return response.status_code, body.get("experimentalRejectedIds", body) if response.status_code == 200 else body


def upload_from_a_thread(phone: Phone, location: str, data: bytes) -> int:
    return int(patch(Client(raise_request_exception=False), phone.session, location, data, 0).status_code)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_a_push_editing_a_link_while_its_upload_completes_deadlocks_neither(unit: Any) -> None:
    """The push holds the link's SyncRow when the completion marks the link uploaded: the completion
    waits for the push (it takes the SyncRows first, as the push does) instead of holding the link
    the push needs next, so neither is aborted as a deadlock and both changes reach the devices."""
    from django.db import connection

    from backend.registry.models import Check, PhotoLink
    from tests.media_store.racing_locks import in_thread, second_waits_behind_first

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    phone = Phone(username="editor", unit=unit)
    data = photo_bytes(seed=34)
    phone.pull()
    check_id, photo_id = phone.push_check_with_photo(sha256=sha256_hex(data))
    phone.pull()
    location = create_upload(phone.client, phone.session, data)
    changes = {
        "checks": {
            "created": [],
            "updated": [
                {
                    "id": check_id,
                    **check_values(location_text="Trạm 2"),
                    "_status": "updated",
                    "_changed": "location_text",
                }
            ],
            "deleted": [],
        },
        "photos": {
            "created": [],
            "updated": [
                {
                    "id": photo_id,
                    **photo_values(check_id=check_id, sha256=sha256_hex(data), kind="document"),
                    "_status": "updated",
                    "_changed": "kind",
                }
            ],
            "deleted": [],
        },
    }
    pushed: list[Any] = []
    uploaded: list[Any] = []
    push = in_thread(lambda: push_from_a_thread(phone, changes), pushed)
    upload = in_thread(lambda: upload_from_a_thread(phone, location, data), uploaded)
    # The push locks its SyncRows (the check's and the link's), then waits here for the check,
    # before it locks the link.
    upload_waited = second_waits_behind_first(
        hold=lambda: Check.objects.select_for_update().get(pk=check_id),
        first=push,
        first_answers=pushed,
        second=upload,
    )

    assert upload_waited, uploaded  # its marking of the link waited for a lock the push holds
    assert pushed == [(200, {})]
    assert uploaded == [204]
    link = PhotoLink.objects.get(pk=photo_id)
    assert (link.kind, link.is_uploaded) == ("document", True)
    assert Check.objects.get(pk=check_id).location_text == "Trạm 2"
    row = photo_rows(Phone(username="teammate", unit=unit).pull())[photo_id]
    assert (row["kind"], row["is_uploaded"]) == ("document", True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_a_bad_record", [False, True], ids=["batch", "record_by_record"])
def test_postgres_a_push_linking_a_photo_whose_upload_completes_before_its_commit_links_it_uploaded(
    unit: Any, with_a_bad_record: bool
) -> None:
    """The push found no stored photo and linked it as not uploaded; before the push commits, the
    upload completes and marks the links it can see (not this one, uncommitted). Once the push has
    committed, the link is marked uploaded all the same, and devices pull that."""
    from django.db import connection, transaction

    from backend.registry.models import PhotoLink
    from sync.models import SyncHead
    from tests.media_store.racing_locks import in_thread, wait_until_waiting

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    phone = Phone(username="linker", unit=unit)
    # The bytes come from a teammate's phone: a push that quarantines a record holds its own device's
    # row until it commits, and so would hold back that device's upload until after the race.
    teammate = Phone(username="teammate", unit=unit)
    data = photo_bytes(seed=35)
    phone.pull()
    location = create_upload(teammate.client, teammate.session, data)
    check_id, photo_id, bad_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    photos = [{"id": photo_id, **photo_values(check_id=check_id, sha256=sha256_hex(data)), "_status": "created"}]
    if with_a_bad_record:  # the batch pass fails: the push is applied again record by record
        photos.append({"id": bad_id, **photo_values(check_id=check_id, sha256="not-a-sha256"), "_status": "created"})
    changes = {
        "checks": {"created": [{"id": check_id, **check_values(), "_status": "created"}], "updated": [], "deleted": []},
        "photos": {"created": photos, "updated": [], "deleted": []},
    }
    SyncHead.objects.get_or_create(pk=1)
    pushed: list[Any] = []
    uploaded: list[Any] = []
    push = in_thread(lambda: push_from_a_thread(phone, changes), pushed)
    upload = in_thread(lambda: upload_from_a_thread(teammate, location, data), uploaded)
    with transaction.atomic():
        # Holding the sync head, the push checks for the blob, links it, and then waits before its commit.
        SyncHead.objects.select_for_update().get(pk=1)
        push.start()
        assert wait_until_waiting(1, threads=[push]), pushed
        upload.start()
        upload.join(timeout=60)  # the whole completion, its marking of the links included
        assert uploaded == [204]
        assert PhotoLink.objects.filter(pk=photo_id).count() == 0  # not committed yet
    push.join(timeout=60)

    assert pushed == [(200, {"photos": [bad_id]} if with_a_bad_record else {})]
    assert PhotoLink.objects.get(pk=photo_id).is_uploaded is True
    row = photo_rows(teammate.pull())[photo_id]
    assert (row["sha256"], row["is_uploaded"]) == (sha256_hex(data), True)
