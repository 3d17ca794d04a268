"""Face search: start (audited, rate-limited), run as a durable job, record decisions on candidates.

Results are candidates for a human to judge, never identifications.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Device, Officer
from backend.audit.services import audit_record
from backend.core.errors import RateLimited
from backend.core.rate import rate_counter_incr
from backend.core.text import normalize_text
from backend.faces import thresholds
from backend.faces.domain_errors import (
    FaceDecisionInvalid,
    FaceSearchNotFound,
    FaceSearchPurposeInvalid,
    ProbePhotoNotFound,
)
from backend.faces.gallery import face_worker_pool, gallery_index
from backend.faces.models import (
    CandidateDecision,
    DecisionKind,
    FaceCandidate,
    FaceSearch,
    SearchPurpose,
    SearchStatus,
)
from backend.faces.pipeline import encode_photo_bytes
from backend.faces.sync_tables import serialize_candidate, serialize_search
from sync.writer import sync_transaction

logger = logging.getLogger(__name__)

TOP_K = 10
CASE_REFERENCE_MAX_CHARS = 128  # FaceSearch.case_reference
MODEL_NAME = "dlib_face_recognition_resnet_model_v1 (face_recognition 1.3, HOG detector, 5-point landmarks)"


def _rate_check(*, officer: Officer) -> None:
    key = f"face-search-rate:{officer.pk}"
    if rate_counter_incr(key=key, timeout_seconds=3600) > settings.FIELDSYNC_FACE_SEARCH_RATE_PER_HOUR:
        raise RateLimited(details={"limit_per_hour": settings.FIELDSYNC_FACE_SEARCH_RATE_PER_HOUR})


def face_search_start(
    *, device: Device, officer: Officer, photo_sha256: str, purpose: str, case_reference: str
) -> FaceSearch:
    """Queue a search of the wanted gallery for the faces in an uploaded photo.

    Side effects: a FaceSearch row (synced to the device), an audit event, a durable job enqueued
    after commit. Raises FaceSearchPurposeInvalid, ProbePhotoNotFound, RateLimited. Not idempotent:
    each call is a separate, audited search.
    """
    from media_store.selectors import photo_sha256s_stored_for_link

    case_reference = normalize_text(case_reference)
    if purpose not in SearchPurpose.values or not case_reference:
        raise FaceSearchPurposeInvalid(details={"purposes": list(SearchPurpose.values)})
    if len(case_reference) > CASE_REFERENCE_MAX_CHARS:  # NFC can lengthen text: checked after it
        raise FaceSearchPurposeInvalid(
            f"The case reference is longer than {CASE_REFERENCE_MAX_CHARS} characters.",
            details={"max_length": CASE_REFERENCE_MAX_CHARS},
        )
    sha256 = photo_sha256.lower()
    if not _probe_uploaded(sha256=sha256, device=device):
        raise ProbePhotoNotFound()
    _rate_check(officer=officer)
    with sync_transaction() as writer:
        # Lock the probe's Photo until commit, then check again: the retention cleanup cannot delete
        # it under the search, and if it did so since the check above, the probe is gone.
        if not photo_sha256s_stored_for_link(sha256s=[sha256]) or not _probe_uploaded(sha256=sha256, device=device):
            raise ProbePhotoNotFound()
        search = FaceSearch.objects.create(
            device=device, officer=officer, purpose=purpose, case_reference=case_reference, probe_sha256=sha256
        )
        writer.stage(
            table="face_searches",
            record_id=str(search.id),
            payload=serialize_search(search),
            scope_key=f"device:{device.id}",
        )
        audit_record(
            action="face.search_started",
            officer_id=officer.pk,
            device_id=device.id,
            target_type="face_search",
            target_id=str(search.id),
            purpose=purpose,
            case_reference=case_reference,
            details={"probe_sha256": sha256},
        )
        search_id = search.id
        transaction.on_commit(lambda: _enqueue(search_id))
    return search


def _probe_uploaded(*, sha256: str, device: Device) -> bool:
    """The probe must have been uploaded (completely) by a device of the officer's unit."""
    from media_store.models import Upload

    return Upload.objects.filter(photo__sha256=sha256, device__unit_id=device.unit_id).exists()


def _enqueue(search_id: UUID) -> None:
    from backend.faces.tasks import run_face_search

    run_face_search.enqueue(str(search_id))


@dataclass(frozen=True)
class SearchOutcome:
    search: FaceSearch
    candidates: list[FaceCandidate]


def face_search_run(*, search_id: UUID, use_worker_process: bool = True) -> SearchOutcome:
    """Run a queued search: decode and encode the probe (in a worker process), rank the gallery.

    Idempotent: a search already done returns its stored result. Writes candidates and the search's
    final state through sync (scope: the requesting device), audits the result, alerts the device.
    """
    from media_store.storage import blob_key, media_storage

    search = FaceSearch.objects.select_related("device", "officer").get(pk=search_id)
    if search.status in {SearchStatus.DONE, SearchStatus.FAILED}:
        return SearchOutcome(search=search, candidates=list(search.candidates.all()))
    FaceSearch.objects.filter(pk=search.pk).update(status=SearchStatus.RUNNING)
    started = time.perf_counter()
    # Slow work (I/O, decoding, encoding, ranking) outside any transaction.
    with media_storage().open(key=blob_key(sha256=search.probe_sha256)) as handle:
        data = handle.read()
    if use_worker_process:
        result = face_worker_pool().encode(data, "probe", timeout_seconds=120)
    else:
        result = encode_photo_bytes(data, "probe")
    index, version = gallery_index()
    threshold = thresholds.DEFAULT_MATCH_THRESHOLD
    candidates: list[FaceCandidate] = []
    faces = result.usable_templates
    for face_index, template in enumerate(faces):
        for rank, found in enumerate(index.search(template.encoding, TOP_K), start=1):
            candidates.append(
                FaceCandidate(
                    search=search,
                    probe_face_index=face_index,
                    probe_box=template.box.as_dict(),
                    rank=rank,
                    wanted_notice_id=UUID(found.key),
                    distance=float(found.distance),
                    score=float(found.score),
                    is_within_threshold=float(found.distance) <= threshold,
                )
            )
    duration_ms = (time.perf_counter() - started) * 1000
    with sync_transaction() as writer:
        search = FaceSearch.objects.select_for_update().get(pk=search.pk)
        if search.status in {SearchStatus.DONE, SearchStatus.FAILED}:  # a concurrent run finished first
            return SearchOutcome(search=search, candidates=list(search.candidates.all()))
        search.faces_found = len(faces)
        search.gallery_version = version
        search.gallery_size = index.key_count
        search.threshold = threshold
        search.model_name = MODEL_NAME
        search.finished_at = timezone.now()
        search.duration_ms = duration_ms
        if result.error is not None and not faces:
            search.status = SearchStatus.FAILED
            search.error_code = result.error.code
            search.error_message = result.error.message
        else:
            search.status = SearchStatus.DONE
        search.save()
        FaceCandidate.objects.bulk_create(candidates)
        scope = f"device:{search.device_id}"
        writer.stage(table="face_searches", record_id=str(search.id), payload=serialize_search(search), scope_key=scope)
        for candidate in candidates:
            writer.stage(
                table="face_candidates",
                record_id=str(candidate.id),
                payload=serialize_candidate(candidate),
                scope_key=scope,
            )
        audit_record(
            action="face.search_finished",
            officer_id=search.officer_id,
            device_id=search.device_id,
            target_type="face_search",
            target_id=str(search.id),
            purpose=search.purpose,
            case_reference=search.case_reference,
            details={
                "probe_sha256": search.probe_sha256,
                "gallery_version": version,
                "threshold": threshold,
                "status": search.status,
                "error_code": search.error_code,
                "faces_found": len(faces),
                "candidates": [
                    {
                        "notice": str(c.wanted_notice_id),
                        "face": c.probe_face_index,
                        "rank": c.rank,
                        "distance": round(c.distance, 4),
                        "is_within_threshold": c.is_within_threshold,
                    }
                    for c in candidates
                ],
            },
        )
        device_id = str(search.device_id)
        done_id = str(search.id)
        transaction.on_commit(lambda: _alert(device_id, done_id))
    return SearchOutcome(search=search, candidates=candidates)


def _alert(device_id: str, search_id: str) -> None:
    from backend.realtime.pokes import device_alert

    device_alert(device_id=device_id, alert={"kind": "face_search_done", "search_id": search_id})


def face_candidate_decide(
    *, officer: Officer, device: Device | None, candidate_id: UUID, decision: str, note: str = ""
) -> CandidateDecision:
    """Record an officer's judgement of one candidate. Audited.

    A confirmation counts only once a second, different officer has also confirmed (setting
    FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER). Raises FaceSearchNotFound (other unit), FaceDecisionInvalid.
    """
    if decision not in DecisionKind.values:
        raise FaceDecisionInvalid(details={"decisions": list(DecisionKind.values)})
    candidate = FaceCandidate.objects.select_related("search", "search__device").filter(pk=candidate_id).first()
    if candidate is None or candidate.search.device.unit_id != officer.unit_id:
        raise FaceSearchNotFound()
    with transaction.atomic():
        made, created = CandidateDecision.objects.get_or_create(
            candidate=candidate, officer=officer, defaults={"decision": decision, "note": normalize_text(note)}
        )
        if not created:
            raise FaceDecisionInvalid("You already recorded a decision on this candidate.")
        audit_record(
            action="face.candidate_decision",
            officer_id=officer.pk,
            device_id=device.id if device else None,
            target_type="face_candidate",
            target_id=str(candidate.id),
            purpose=candidate.search.purpose,
            case_reference=candidate.search.case_reference,
            details={
                "decision": decision,
                "search": str(candidate.search_id),
                "probe_sha256": candidate.search.probe_sha256,
                "gallery_version": candidate.search.gallery_version,
                "threshold": candidate.search.threshold,
                "candidate": {
                    "notice": str(candidate.wanted_notice_id),
                    "face": candidate.probe_face_index,
                    "rank": candidate.rank,
                    "distance": round(candidate.distance, 4),
                    "is_within_threshold": candidate.is_within_threshold,
                },
            },
        )
    return made


def candidate_confirmation_state(*, candidate: FaceCandidate) -> dict[str, Any]:
    confirmers = set(candidate.decisions.filter(decision=DecisionKind.CONFIRM).values_list("officer_id", flat=True))
    needed = 2 if settings.FIELDSYNC_FACE_REQUIRE_SECOND_VERIFIER else 1
    return {"confirmations": len(confirmers), "required": needed, "is_confirmed": len(confirmers) >= needed}


def face_search_get_for_device(*, device: Device, search_id: UUID) -> FaceSearch:
    search = FaceSearch.objects.filter(pk=search_id, device=device).first()
    if search is None:
        raise FaceSearchNotFound()
    return search
