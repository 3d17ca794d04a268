"""The single NinjaAPI at /api/v1 and the one error envelope {"code", "message", "details"}."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from backend.accounts.auth import DeviceBearer
from backend.core.errors import DomainError
from backend.core.text import json_loads_storable, json_make_storable
from mobile_contract.errors import ErrorCode
from mobile_contract.features import FEATURE_LEVEL

logger = logging.getLogger(__name__)


class StorableJsonParser(Parser):
    """The one way request bodies and query strings enter the API.

    Refuses what JSON.stringify never writes (NaN, Infinity, numbers beyond a double): the request
    is a 400 before anything applies. Makes every string storable (`json_make_storable`: NUL and
    lone surrogates become U+FFFD), so one damaged record in a push is handled like any other record
    instead of failing the database. Text fields are normalised further by the services.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        return json_loads_storable(request.body)  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        return json_make_storable(super().parse_querydict(data, list_fields, request))  # type: ignore[no-any-return]


api = NinjaAPI(
    title="fieldsync",
    version=f"1.{FEATURE_LEVEL}",
    urls_namespace="api-v1",
    auth=DeviceBearer(),
    parser=StorableJsonParser(),
    description="Sync, photos and face candidates for field officers' phones. Errors: {code, message, details}.",
)


def _envelope(request: HttpRequest, status: int, code: str, message: str, details: dict[str, object]) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, "details": details}, status=status)


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return _envelope(request, exc.http_status, str(exc.code), exc.message, exc.details)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {"loc": [str(part) for part in e.get("loc", [])], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors
    ]
    return _envelope(request, 422, ErrorCode.VALIDATION_ERROR, "The request is not valid.", {"errors": errors})


@api.exception_handler(RequestDataTooBig)
def on_request_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _envelope(
        request,
        413,
        ErrorCode.SYNC_PAYLOAD_TOO_LARGE,
        "The request body is too large; split it.",
        {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    )


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _envelope(request, 401, ErrorCode.AUTH_REQUIRED, "Authentication required.", {})


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.VALIDATION_ERROR
    return _envelope(request, exc.status_code, code, str(exc), {})


def _register_routers() -> None:
    from backend.accounts.api import router as accounts_router
    from sync.admin_api import router as sync_admin_router
    from sync.api import router as sync_router

    api.add_router("/", accounts_router)
    api.add_router("/", sync_router)
    api.add_router("/", sync_admin_router)
    for dotted in ("backend.faces.api", "backend.registry.api", "media_store.api", "backend.admin_api"):
        try:
            module = __import__(dotted, fromlist=["router"])
        except ModuleNotFoundError as exc:
            if exc.name != dotted:
                raise
            continue
        api.add_router("/", module.router)


_register_routers()
