"""Registry endpoints for devices: person search."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from backend.accounts.services import DeviceContext
from backend.registry.selectors import person_search_for_device
from mobile_contract.schemas import ErrorOut, PersonCandidateOut, PersonSearchIn, PersonSearchOut
from sync import registry

router = Router(tags=["registry"])


def _ctx(request: HttpRequest) -> DeviceContext:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, DeviceContext)
    return auth


@router.get(
    "/persons/search",
    response={200: PersonSearchOut, 401: ErrorOut, 403: ErrorOut, 410: ErrorOut, 422: ErrorOut},
    summary="Find persons by ID number (exact) or name (candidates only), in the device's scope",
)
def persons_search(request: HttpRequest, params: Query[PersonSearchIn]) -> PersonSearchOut:
    ctx = _ctx(request)
    result = person_search_for_device(
        device=ctx.device,
        officer=ctx.officer,
        scope_keys=registry.scope_keys_for(device=ctx.device, officer=ctx.officer),
        query=params.q,
        dob=params.dob,
        limit=params.limit,
    )
    return PersonSearchOut(
        query_kind="id_number" if result.query_kind == "id_number" else "name",
        is_truncated=result.is_truncated,
        candidates=[
            PersonCandidateOut(
                id=str(c.person.id),
                full_name=c.person.full_name,
                personal_id_number=c.person.personal_id_number,
                sex=c.person.sex,
                dob_year=c.person.dob_year,
                dob_month=c.person.dob_month,
                dob_day=c.person.dob_day,
                dob_precision=c.person.dob_precision,
                primary_commune_code=c.person.primary_commune_code,
                match=c.match,  # type: ignore[arg-type]
                birth=c.birth,  # type: ignore[arg-type]
            )
            for c in result.candidates
        ],
    )
