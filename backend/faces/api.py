"""Face search endpoints for devices."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Router, Status

from backend.accounts.services import DeviceContext
from backend.faces import services
from backend.faces.models import FaceSearch
from mobile_contract.schemas import (
    ErrorOut,
    FaceCandidateOut,
    FaceDecisionIn,
    FaceDecisionOut,
    FaceSearchIn,
    FaceSearchOut,
)

router = Router(tags=["faces"])


def _ctx(request: HttpRequest) -> DeviceContext:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, DeviceContext)
    return auth


def _search_out(search: FaceSearch) -> FaceSearchOut:
    return FaceSearchOut(
        id=str(search.id),
        status=search.status,
        purpose=search.purpose,
        case_reference=search.case_reference,
        probe_sha256=search.probe_sha256,
        error_code=search.error_code or None,
        faces_found=search.faces_found,
        gallery_version=search.gallery_version,
        threshold=search.threshold,
        model_name=search.model_name or None,
        candidates=[
            FaceCandidateOut(
                id=str(c.id),
                probe_face_index=c.probe_face_index,
                rank=c.rank,
                wanted_notice_id=str(c.wanted_notice_id),
                distance=c.distance,
                score=c.score,
                is_within_threshold=c.is_within_threshold,
            )
            for c in search.candidates.all()
        ],
    )


@router.post(
    "/faces/searches",
    response={202: FaceSearchOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def face_search_start(request: HttpRequest, payload: FaceSearchIn) -> Status[FaceSearchOut]:
    ctx = _ctx(request)
    search = services.face_search_start(
        device=ctx.device,
        officer=ctx.officer,
        photo_sha256=payload.photo_sha256,
        purpose=payload.purpose,
        case_reference=payload.case_reference,
    )
    return Status(202, _search_out(search))


@router.get("/faces/searches/{search_id}", response={200: FaceSearchOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def face_search_get(request: HttpRequest, search_id: UUID) -> FaceSearchOut:
    ctx = _ctx(request)
    return _search_out(services.face_search_get_for_device(device=ctx.device, search_id=search_id))


@router.post(
    "/faces/candidates/{candidate_id}/decisions",
    response={200: FaceDecisionOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def face_candidate_decide(request: HttpRequest, candidate_id: UUID, payload: FaceDecisionIn) -> FaceDecisionOut:
    ctx = _ctx(request)
    decision = services.face_candidate_decide(
        officer=ctx.officer, device=ctx.device, candidate_id=candidate_id, decision=payload.decision, note=payload.note
    )
    state = services.candidate_confirmation_state(candidate=decision.candidate)
    return FaceDecisionOut(
        candidate_id=str(decision.candidate_id),
        decision=decision.decision,
        confirmations=state["confirmations"],
        confirmations_required=state["required"],
        is_confirmed=state["is_confirmed"],
    )
