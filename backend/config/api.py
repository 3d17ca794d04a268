"""The single NinjaAPI at /api/v1 and the one error envelope {"code", "message", "details"}."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from backend.accounts.auth import DeviceBearer
from backend.core.errors import DomainError
from mobile_contract.errors import ErrorCode
from mobile_contract.features import FEATURE_LEVEL

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="fieldsync",
    version=f"1.{FEATURE_LEVEL}",
    urls_namespace="api-v1",
    auth=DeviceBearer(),
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
