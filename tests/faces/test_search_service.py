"""Face search end to end inside Django: gallery from wanted-notice photos, durable job, audit, sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import Client

from backend.audit.models import AuditEvent
from backend.core.errors import RateLimited
from backend.faces.gallery import face_worker_pool, gallery_enrol, gallery_index, gallery_reset_memory, gallery_version
from backend.faces.models import FaceSearch, GalleryTemplate, SearchStatus
from backend.faces.services import (
    candidate_confirmation_state,
    face_candidate_decide,
    face_search_run,
    face_search_start,
)
from media_store.models import Photo, Upload, UploadState
from media_store.services import photo_ingest_bytes
from sync.models import SyncRow
from tests.conftest import make_device_session, make_officer, make_unit, shared_faces_dir

pytestmark = pytest.mark.django_db(transaction=True)


def identities(count: int) -> list[list[Path]]:
    folder = shared_faces_dir()
    found = []
    for directory in sorted(folder.iterdir()):
        photos = sorted(directory.glob("*.jpg"))
        if len(photos) >= 2:
            found.append(photos)
        if len(found) == count:
            break
    return found


@pytest.fixture
def gallery() -> dict[str, list[Path]]:
    """Five wanted notices, each enrolled with its first photo (notice ids are synthetic)."""
    gallery_reset_memory()
    enrolled: dict[str, list[Path]] = {}
    wanted: dict[str, list[str]] = {}
    blobs: dict[str, bytes] = {}
    for number, photos in enumerate(identities(5)):
        notice_id = f"00000000-0000-0000-0000-{number:012d}"
        data = photos[0].read_bytes()
        photo = photo_ingest_bytes(data=data, source="test")
        blobs[photo.sha256] = data
        wanted[notice_id] = [photo.sha256]
        enrolled[notice_id] = photos
    outcome = gallery_enrol(wanted_photos=wanted, read_photo=blobs.__getitem__, pool=face_worker_pool())
    assert outcome.enrolled_count == 5
    return enrolled


def uploaded_by(device: Any, data: bytes) -> str:
    photo = photo_ingest_bytes(data=data, source="test")
    Upload.objects.create(
        device=device,
        length_bytes=len(data),
        state=UploadState.COMPLETE,
        photo=photo,
        expires_at="2099-01-01T00:00:00Z",
    )
    return photo.sha256


def test_second_photo_of_a_wanted_person_ranks_that_notice_first(gallery: dict[str, list[Path]]) -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    notice_id, photos = next(iter(gallery.items()))
    sha256 = uploaded_by(pair.device, photos[1].read_bytes())

    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="HN-1"
    )
    outcome = face_search_run(search_id=search.id, use_worker_process=False)

    assert outcome.search.status == SearchStatus.DONE
    assert outcome.search.gallery_version == gallery_version()
    assert outcome.search.threshold is not None and outcome.search.model_name
    first = min(outcome.candidates, key=lambda c: c.rank)
    assert str(first.wanted_notice_id) == notice_id
    # The threshold is measured (thresholds.py): a given mate may fall outside it; the label must agree.
    assert first.is_within_threshold == (first.distance <= outcome.search.threshold)
    assert all(c.is_within_threshold == (c.distance <= outcome.search.threshold) for c in outcome.candidates)
    assert [c.rank for c in outcome.candidates if c.probe_face_index == 0] == [1, 2, 3, 4, 5]
    rows = SyncRow.objects.filter(scope_key=f"device:{pair.device.id}")
    assert sorted(rows.values_list("table", flat=True).distinct()) == ["face_candidates", "face_searches"]
    assert orjson.loads(rows.get(table="face_searches").payload_json)["status"] == "done"
    actions = list(
        AuditEvent.objects.filter(target_id=str(search.id)).values_list("action", "purpose", "case_reference")
    )
    assert actions == [
        ("face.search_started", "border_check", "HN-1"),
        ("face.search_finished", "border_check", "HN-1"),
    ]


def test_a_photo_without_a_face_is_a_normal_failed_search(gallery: dict[str, list[Path]], tmp_path: Path) -> None:
    from PIL import Image

    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (400, 300), (120, 130, 140)).save(blank, "JPEG")
    sha256 = uploaded_by(pair.device, blank.read_bytes())

    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="HN-2"
    )
    outcome = face_search_run(search_id=search.id, use_worker_process=False)

    assert (outcome.search.status, outcome.search.error_code, outcome.candidates) == (
        SearchStatus.FAILED,
        "face_not_found",
        [],
    )


def test_search_needs_a_purpose_a_case_reference_and_a_photo_of_the_unit(gallery: dict[str, list[Path]]) -> None:
    officer = make_officer(username="patrol1", unit=make_unit(code="A"))
    stranger = make_officer(username="patrol2", unit=make_unit(code="B"))
    pair = make_device_session(officer=officer)
    other = make_device_session(officer=stranger)
    sha256 = uploaded_by(pair.device, next(iter(gallery.values()))[1].read_bytes())
    client = Client()

    def start(token: str, **body: Any) -> Any:
        payload = {"photo_sha256": sha256, "purpose": "border_check", "case_reference": "X-1", **body}
        return client.post(
            "/api/v1/faces/searches",
            payload,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    assert start(pair.access_token, purpose="curiosity").json()["code"] == "face_search_purpose_invalid"
    assert start(pair.access_token, case_reference="").status_code == 422
    assert start(other.access_token).json()["code"] == "photo_not_found"
    assert FaceSearch.objects.count() == 0
    accepted = start(pair.access_token)
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    search_id = accepted.json()["id"]
    assert (
        client.get(
            f"/api/v1/faces/searches/{search_id}", headers={"Authorization": f"Bearer {other.access_token}"}
        ).status_code
        == 404
    )


def test_a_confirmation_needs_a_second_different_officer(gallery: dict[str, list[Path]], settings: Any) -> None:
    settings.FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER = True
    unit = make_unit()
    first, second = make_officer(username="o1", unit=unit), make_officer(username="o2", unit=unit)
    pair = make_device_session(officer=first)
    sha256 = uploaded_by(pair.device, next(iter(gallery.values()))[1].read_bytes())
    search = face_search_start(
        device=pair.device, officer=first, photo_sha256=sha256, purpose="border_check", case_reference="C"
    )
    candidate = min(face_search_run(search_id=search.id, use_worker_process=False).candidates, key=lambda c: c.rank)
    client = Client()

    def decide(token: str) -> dict[str, Any]:
        response = client.post(
            f"/api/v1/faces/candidates/{candidate.id}/decisions",
            {"decision": "confirm"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        return dict(response.json())

    once = decide(pair.access_token)
    twice = decide(pair.access_token)
    by_second = decide(make_device_session(officer=second).access_token)

    assert (once["confirmations"], once["is_confirmed"]) == (1, False)
    assert twice["code"] == "face_decision_invalid"
    assert (by_second["confirmations"], by_second["is_confirmed"]) == (2, True)
    assert AuditEvent.objects.filter(action="face.candidate_decision").count() == 2


def test_rescinding_a_notice_removes_it_from_the_index_incrementally(gallery: dict[str, list[Path]]) -> None:
    index, version = gallery_index()
    assert index.key_count == 5
    notice_ids = sorted(gallery)
    blobs = {p.sha256: b"" for p in Photo.objects.all()}
    wanted = {
        str(n): [s]
        for n, s in GalleryTemplate.objects.values_list("wanted_notice_id", "photo_sha256")
        if str(n) != notice_ids[0]
    }

    outcome = gallery_enrol(wanted_photos=wanted, read_photo=blobs.__getitem__)
    index, new_version = gallery_index()

    assert (outcome.deactivated_count, outcome.enrolled_count) == (1, 0)
    assert new_version == version + 1
    assert index.key_count == 4 and notice_ids[0] not in index


def test_a_probe_with_two_faces_searches_each_face_and_reports_them_separately(
    gallery: dict[str, list[Path]], tmp_path: Path
) -> None:
    from PIL import Image

    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    (left_notice, left_photos), (right_notice, right_photos) = list(gallery.items())[:2]
    canvas = Image.new("RGB", (500, 250), (255, 255, 255))
    with Image.open(left_photos[1]) as left, Image.open(right_photos[1]) as right:
        canvas.paste(left.convert("RGB"), (0, 0))
        canvas.paste(right.convert("RGB").resize((220, 220), Image.Resampling.LANCZOS), (270, 15))
    probe = tmp_path / "two.jpg"
    canvas.save(probe, "JPEG", quality=95)
    sha256 = uploaded_by(pair.device, probe.read_bytes())

    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="HN-3"
    )
    outcome = face_search_run(search_id=search.id, use_worker_process=False)

    assert outcome.search.status == SearchStatus.DONE
    assert outcome.search.faces_found == 2
    by_face = {
        face: sorted((c for c in outcome.candidates if c.probe_face_index == face), key=lambda c: c.rank)
        for face in (0, 1)
    }
    assert [c.rank for c in by_face[0]] == [1, 2, 3, 4, 5] == [c.rank for c in by_face[1]]
    assert str(by_face[0][0].wanted_notice_id) == left_notice  # the larger face first
    assert str(by_face[1][0].wanted_notice_id) == right_notice
    assert by_face[0][0].probe_box["right"] <= 250 < by_face[1][0].probe_box["left"]
    finished = AuditEvent.objects.get(action="face.search_finished", target_id=str(search.id))
    assert {c["face"] for c in finished.details["candidates"]} == {0, 1}


def test_every_search_and_decision_is_audited_with_who_why_what_and_against_which_gallery(
    gallery: dict[str, list[Path]],
) -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    sha256 = uploaded_by(pair.device, next(iter(gallery.values()))[1].read_bytes())
    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="wanted_suspect_sighting", case_reference="K9"
    )
    outcome = face_search_run(search_id=search.id, use_worker_process=False)
    candidate = min(outcome.candidates, key=lambda c: c.rank)

    face_candidate_decide(officer=officer, device=pair.device, candidate_id=candidate.id, decision="inconclusive")

    events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="face.")}
    assert sorted(events) == ["face.candidate_decision", "face.search_finished", "face.search_started"]
    for event in events.values():
        assert (event.actor_officer_id, event.actor_device_id) == (officer.pk, pair.device.id)
        assert (event.purpose, event.case_reference) == ("wanted_suspect_sighting", "K9")
        assert event.details["probe_sha256"] == sha256
    for action in ("face.search_finished", "face.candidate_decision"):
        details = events[action].details
        assert details["gallery_version"] == gallery_version()
        assert details["threshold"] == outcome.search.threshold
    returned = events["face.search_finished"].details["candidates"]
    assert [(c["notice"], c["rank"]) for c in returned] == [
        (str(c.wanted_notice_id), c.rank) for c in sorted(outcome.candidates, key=lambda c: c.rank)
    ]
    decided = events["face.candidate_decision"].details
    assert decided["decision"] == "inconclusive"
    assert decided["candidate"] == {
        "notice": str(candidate.wanted_notice_id),
        "face": 0,
        "rank": 1,
        "distance": round(candidate.distance, 4),
        "is_within_threshold": candidate.is_within_threshold,
    }


def test_searches_beyond_the_officers_hourly_limit_are_refused_without_a_search_or_audit(
    gallery: dict[str, list[Path]], settings: Any
) -> None:
    settings.FIELDSYNC_FACE_SEARCH_RATE_PER_HOUR = 2
    unit = make_unit()
    officer, colleague = make_officer(username="o1", unit=unit), make_officer(username="o2", unit=unit)
    pair = make_device_session(officer=officer)
    sha256 = uploaded_by(pair.device, next(iter(gallery.values()))[1].read_bytes())

    def start(who: Any) -> FaceSearch:
        return face_search_start(
            device=pair.device, officer=who, photo_sha256=sha256, purpose="border_check", case_reference="R"
        )

    start(officer)
    start(officer)
    with pytest.raises(RateLimited) as refused:
        start(officer)
    start(colleague)  # the limit is per officer, not per device

    assert refused.value.code == "rate_limited"
    assert refused.value.details == {"limit_per_hour": 2}
    assert FaceSearch.objects.filter(officer=officer).count() == 2
    assert AuditEvent.objects.filter(action="face.search_started", actor_officer_id=officer.pk).count() == 2


def test_without_the_second_verifier_setting_one_confirmation_counts(
    gallery: dict[str, list[Path]], settings: Any
) -> None:
    settings.FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER = False
    officer = make_officer(username="o1", unit=make_unit())
    pair = make_device_session(officer=officer)
    sha256 = uploaded_by(pair.device, next(iter(gallery.values()))[1].read_bytes())
    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="C"
    )
    candidate = min(face_search_run(search_id=search.id, use_worker_process=False).candidates, key=lambda c: c.rank)

    decision = face_candidate_decide(officer=officer, device=pair.device, candidate_id=candidate.id, decision="confirm")

    assert candidate_confirmation_state(candidate=decision.candidate) == {
        "confirmations": 1,
        "required": 1,
        "is_confirmed": True,
    }


def test_a_queued_search_is_run_by_the_durable_worker_after_a_restart_and_alerts_the_device(
    gallery: dict[str, list[Path]],
) -> None:
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    from backend.realtime.groups import device_group

    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    notice_id, photos = next(iter(gallery.items()))
    sha256 = uploaded_by(pair.device, photos[1].read_bytes())
    layer = get_channel_layer()
    assert layer is not None

    def queue_and_run_after_a_restart() -> tuple[FaceSearch, int]:
        search = face_search_start(
            device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="Q-1"
        )
        queued = DBTaskResult.objects.filter(task_path__endswith="run_face_search", status="READY").count()
        gallery_reset_memory()  # the server that queued it is gone; a fresh worker takes the job from the database
        call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)
        return search, queued

    async def device_listening_while_the_worker_runs() -> tuple[FaceSearch, int, dict[str, Any]]:
        # One event loop, as a server's socket: joined before the search is queued and listening while the
        # worker runs (the pub/sub layer delivers to subscribers present at send time).
        channel = await layer.new_channel()
        await layer.group_add(device_group(str(pair.device.id)), channel)
        search, queued = await sync_to_async(queue_and_run_after_a_restart)()
        while True:
            message = await asyncio.wait_for(layer.receive(channel), timeout=10)
            if message["type"] == "device.alert":
                return search, queued, dict(message["alert"])

    search, queued, alert = async_to_sync(device_listening_while_the_worker_runs)()
    search.refresh_from_db()
    assert queued == 1
    assert search.status == SearchStatus.DONE
    assert str(search.candidates.get(rank=1).wanted_notice_id) == notice_id
    assert alert == {"kind": "face_search_done", "search_id": str(search.id)}


def _single_photo_identities(count: int) -> list[Path]:
    found = []
    for directory in sorted(shared_faces_dir().iterdir()):
        photos = sorted(directory.glob("*.jpg"))
        if len(photos) == 1:
            found.append(photos[0])
        if len(found) == count:
            break
    return found


def test_the_result_over_http_labels_candidates_with_distance_score_threshold_gallery_version_and_model(
    gallery: dict[str, list[Path]],
) -> None:
    import math

    from backend.faces import thresholds
    from backend.faces.services import MODEL_NAME

    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    notice_id, photos = next(iter(gallery.items()))
    sha256 = uploaded_by(pair.device, photos[1].read_bytes())
    client = Client()
    headers = {"Authorization": f"Bearer {pair.access_token}"}
    started = client.post(
        "/api/v1/faces/searches",
        {"photo_sha256": sha256, "purpose": "border_check", "case_reference": "HN-9"},
        content_type="application/json",
        headers=headers,
    ).json()
    face_search_run(search_id=started["id"], use_worker_process=False)

    body = client.get(f"/api/v1/faces/searches/{started['id']}", headers=headers).json()
    rejected = client.post(
        f"/api/v1/faces/candidates/{body['candidates'][1]['id']}/decisions",
        {"decision": "reject", "note": "khác người"},
        content_type="application/json",
        headers=headers,
    ).json()

    assert body["notice"] == "Candidates are leads for a human to verify, never an identification."
    assert (body["status"], body["faces_found"], body["gallery_version"]) == ("done", 1, gallery_version())
    assert (body["threshold"], body["model_name"]) == (thresholds.DEFAULT_MATCH_THRESHOLD, MODEL_NAME)
    candidates = sorted(body["candidates"], key=lambda c: c["rank"])
    assert [c["rank"] for c in candidates] == [1, 2, 3, 4, 5]
    assert candidates[0]["wanted_notice_id"] == notice_id
    distances = [c["distance"] for c in candidates]
    assert distances == sorted(distances)
    for candidate in candidates:
        expected = 1 / (
            1 + math.exp(thresholds.CALIBRATION_SLOPE * (candidate["distance"] - thresholds.CALIBRATION_MIDPOINT))
        )
        assert candidate["score"] == pytest.approx(expected, rel=1e-5)
        assert candidate["is_within_threshold"] == (candidate["distance"] <= body["threshold"])
    assert (rejected["decision"], rejected["confirmations"], rejected["is_confirmed"]) == ("reject", 0, False)
    assert AuditEvent.objects.get(action="face.candidate_decision").details["decision"] == "reject"


def test_a_probe_of_someone_not_in_the_gallery_is_a_normal_answer_with_no_candidate_within_threshold(
    gallery: dict[str, list[Path]],
) -> None:
    officer = make_officer(username="patrol1", unit=make_unit())
    pair = make_device_session(officer=officer)
    [stranger] = _single_photo_identities(1)  # an identity with one photo is never in the gallery
    sha256 = uploaded_by(pair.device, stranger.read_bytes())
    search = face_search_start(
        device=pair.device, officer=officer, photo_sha256=sha256, purpose="border_check", case_reference="HN-10"
    )

    outcome = face_search_run(search_id=search.id, use_worker_process=False)

    assert (outcome.search.status, outcome.search.error_code, outcome.search.faces_found) == (SearchStatus.DONE, "", 1)
    assert sorted(c.rank for c in outcome.candidates) == [1, 2, 3, 4, 5]  # the ranked list is still shown
    assert [c for c in outcome.candidates if c.is_within_threshold] == []
    assert all(str(c.wanted_notice_id) in gallery for c in outcome.candidates)
    finished = AuditEvent.objects.get(action="face.search_finished", target_id=str(search.id))
    assert finished.details["status"] == "done" and len(finished.details["candidates"]) == 5
