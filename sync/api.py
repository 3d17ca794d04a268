"""Sync endpoints: WatermelonDB pull/push and the exported appSchema."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from backend.accounts.services import DeviceContext
from mobile_contract.schemas import AppSchemaOut, ErrorOut, PullOut, PushIn, PushOut
from sync import registry
from sync.errors import IdempotencyKeyInvalid, MigrationInvalid
from sync.faults import Fault, fault_is_armed, fault_point
from sync.pull import migration_parse, sync_pull
from sync.push import sync_push

router = Router(tags=["sync"])

ERRORS: dict[int, Any] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    426: ErrorOut,
}


# Cursors are SyncCheckpoint ids (64-bit), schema versions 32-bit columns: a number beyond is a 422,
# not a database overflow.
MAX_CURSOR = 2**63 - 1
MAX_SCHEMA_VERSION = 2**31 - 1
IDEMPOTENCY_KEY_RE = re.compile(r"^[!-~]{1,128}$")  # visible ASCII, the PushReceipt column's length


class PullParams(Schema):
    last_pulled_at: int | None = Field(None, le=MAX_CURSOR)
    schema_version: int = Field(1, le=MAX_SCHEMA_VERSION)
    migration: str | None = None

    @field_validator("last_pulled_at", mode="before")
    @classmethod
    def _null_cursor(cls, value: Any) -> Any:
        # WatermelonDB apps build `last_pulled_at=${lastPulledAt}` (Backend.md): the first sync sends "null".
        return None if value in ("null", "") else value


def _context(request: HttpRequest) -> DeviceContext:
    auth = request.auth  # type: ignore[attr-defined]
    assert isinstance(auth, DeviceContext)
    return auth


@router.get("/sync/pull", response={200: PullOut, **ERRORS})
def pull(request: HttpRequest, params: Query[PullParams]) -> HttpResponse:
    ctx = _context(request)
    migration_raw: Any = None
    if params.migration not in (None, "", "null"):
        try:
            migration_raw = orjson.loads(params.migration or "null")
        except orjson.JSONDecodeError as exc:
            raise MigrationInvalid(details={"reason": "not JSON"}) from exc
    result = sync_pull(
        device=ctx.device,
        scope_keys=registry.scope_keys_for(device=ctx.device, officer=ctx.officer),
        last_pulled_at=params.last_pulled_at,
        schema_version=params.schema_version,
        migration=migration_parse(migration_raw),
    )
    return HttpResponse(result.body, content_type="application/json")


class PushParams(Schema):
    last_pulled_at: int = Field(le=MAX_CURSOR)


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
        raise IdempotencyKeyInvalid(details={"header": "Idempotency-Key", "max_length": 128})
    return key


@router.post("/sync/push", response={200: PushOut, **ERRORS, 429: ErrorOut})
def push(request: HttpRequest, params: Query[PushParams], payload: PushIn) -> HttpResponseBase:
    ctx = _context(request)
    idempotency_key = _idempotency_key(request)
    # The records exactly as the device sent them (only the lists it sent), parsed once by the API's
    # parser: no second parse of the body that could disagree with the validated one.
    changes = {name: table.model_dump(exclude_unset=True) for name, table in payload.changes.items()}
    response = sync_push(
        device=ctx.device,
        officer=ctx.officer,
        scope_keys=registry.scope_keys_for(device=ctx.device, officer=ctx.officer),
        last_pulled_at=params.last_pulled_at,
        changes=changes,
        idempotency_key=idempotency_key,
    )
    body = orjson.dumps(response)
    fault_point(Fault.PUSH_AFTER_COMMIT)
    if fault_is_armed(Fault.PUSH_MID_RESPONSE):
        return StreamingHttpResponse(_die_halfway(body), content_type="application/json")
    return HttpResponse(body, content_type="application/json")


def _die_halfway(body: bytes) -> Iterator[bytes]:
    """Test-only (sync.faults): send half of the body, give the server a moment to flush it, die."""
    yield body[: max(1, len(body) // 2)]
    time.sleep(0.3)
    fault_point(Fault.PUSH_MID_RESPONSE)
    yield body[len(body) // 2 :]


@router.get("/sync/schema", response={200: AppSchemaOut, 401: ErrorOut}, auth=None)
def schema(request: HttpRequest) -> HttpResponse:
    return HttpResponse(orjson.dumps(registry.app_schema()), content_type="application/json")
