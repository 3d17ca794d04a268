"""Sync administration over HTTP: the review queue and the quarantine (issue 3 §5).

The same services as the console (`sync.review`, `sync.registry_bridge.services`), for tools and
scripts. Authentication is the console's session (a sync administrator logged in at /console/);
the services check the role and audit every decision, and every applied outcome is a sync write
that reaches each device in scope on its next pull.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.security import django_auth

from mobile_contract.schemas import (
    ErrorOut,
    QuarantineDiscardIn,
    QuarantinedRecordOut,
    QuarantinedRecordsOut,
    QuarantineReplayIn,
    ReviewItemOut,
    ReviewItemsOut,
    ReviewResolveIn,
)
from sync import review
from sync.errors import QuarantineItemNotFound, ReviewItemNotFound, SyncAdminRequired
from sync.models import QuarantinedRecord, ReviewItem
from sync.registry_bridge import services as bridge_services
from sync.registry_bridge.codes import SOURCE as BRIDGE_SOURCE

router = Router(tags=["sync administration"], auth=django_auth)

ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class ListParams(Schema):
    status: str = "open"
    limit: int = 100


def _actor(request: HttpRequest) -> Any:
    return review.sync_admin_check(actor=request.auth)  # type: ignore[attr-defined]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _review_out(item: ReviewItem) -> ReviewItemOut:
    return ReviewItemOut(
        id=str(item.id),
        created_at=item.created_at.isoformat(),
        source=item.source,
        device_id=str(item.device_id) if item.device_id else None,
        officer_id=item.officer_id,
        table=item.table,
        record_id=item.record_id,
        field=item.field,
        policy=item.policy,
        server_value=item.server_value,
        proposed_value=item.proposed_value,
        status=item.status,
        resolved_at=_iso(item.resolved_at),
        resolved_by_id=item.resolved_by_id,
        resolved_value=item.resolved_value,
    )


def _quarantine_out(item: QuarantinedRecord) -> QuarantinedRecordOut:
    return QuarantinedRecordOut(
        id=str(item.id),
        created_at=item.created_at.isoformat(),
        source=item.source,
        device_id=str(item.device_id) if item.device_id else None,
        officer_id=item.officer_id,
        table=item.table,
        record_id=item.record_id,
        operation=item.operation,
        code=item.code,
        message=item.message,
        payload=dict(item.payload or {}),
        status=item.status,
        resolved_at=_iso(item.resolved_at),
        resolved_by_id=item.resolved_by_id,
        replayed_payload=dict(item.replayed_payload) if item.replayed_payload is not None else None,
    )


def _uuid(value: str, missing: type[ReviewItemNotFound] | type[QuarantineItemNotFound]) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise missing(details={"id": value})


def _item_source(
    model: type[ReviewItem] | type[QuarantinedRecord],
    item_id: str,
    missing: type[ReviewItemNotFound] | type[QuarantineItemNotFound],
) -> tuple[uuid.UUID, str]:
    """The item's id and where it came from (a device push or the registry bridge), or `missing`."""
    pk = _uuid(item_id, missing)
    source = model.objects.filter(pk=pk).values_list("source", flat=True).first()
    if source is None:
        raise missing(details={"id": item_id})
    return pk, str(source)


@router.get("/sync/admin/reviews", response={200: ReviewItemsOut, **ERRORS})
def reviews_list(request: HttpRequest, params: Query[ListParams]) -> ReviewItemsOut:
    items = review.review_items_list(actor=_actor(request), status=params.status, limit=params.limit)
    return ReviewItemsOut(items=[_review_out(i) for i in items])


@router.post("/sync/admin/reviews/{item_id}/resolve", response={200: ReviewItemOut, **ERRORS})
def review_resolve(request: HttpRequest, item_id: str, payload: ReviewResolveIn) -> ReviewItemOut:
    actor = _actor(request)
    pk, source = _item_source(ReviewItem, item_id, ReviewItemNotFound)
    if source == BRIDGE_SOURCE:
        choice = {"take_server": "took_server", "take_device": "took_device", "edit": "edited"}[payload.resolution]
        bridge_services.bridge_review_apply(actor=actor, item_id=pk, choice=choice, edited_value=payload.value)
        resolved = ReviewItem.objects.get(pk=pk)
    else:
        resolved = review.review_item_resolve(
            actor=actor,
            item_id=pk,
            resolution=review.ReviewResolution(payload.resolution),
            value=payload.value,
            note=payload.note,
        )
    return _review_out(resolved)


@router.get("/sync/admin/quarantine", response={200: QuarantinedRecordsOut, **ERRORS})
def quarantine_list(request: HttpRequest, params: Query[ListParams]) -> QuarantinedRecordsOut:
    items = review.quarantined_records_list(actor=_actor(request), status=params.status, limit=params.limit)
    return QuarantinedRecordsOut(items=[_quarantine_out(i) for i in items])


@router.post("/sync/admin/quarantine/{item_id}/replay", response={200: QuarantinedRecordOut, **ERRORS})
def quarantine_replay(request: HttpRequest, item_id: str, payload: QuarantineReplayIn) -> QuarantinedRecordOut:
    actor = _actor(request)
    pk, source = _item_source(QuarantinedRecord, item_id, QuarantineItemNotFound)
    if source == BRIDGE_SOURCE:
        fixed_columns = payload.payload or {}
        replayed = bridge_services.bridge_quarantine_replay(actor=actor, item_id=pk, fixed_columns=fixed_columns)
    else:
        replayed = review.quarantined_record_replay(actor=actor, item_id=pk, payload=payload.payload, note=payload.note)
    return _quarantine_out(replayed)


@router.post("/sync/admin/quarantine/{item_id}/discard", response={200: QuarantinedRecordOut, **ERRORS})
def quarantine_discard(request: HttpRequest, item_id: str, payload: QuarantineDiscardIn) -> QuarantinedRecordOut:
    actor = _actor(request)
    pk = _uuid(item_id, QuarantineItemNotFound)
    return _quarantine_out(review.quarantined_record_discard(actor=actor, item_id=pk, note=payload.note))


__all__ = ["SyncAdminRequired", "router"]
