"""The error envelope for the answers under /api/ that Django or ninja give without our handlers.

Ninja's exception handlers (backend.config.api) and the media views build the envelope themselves.
What they never see — an unknown path or a path parameter that does not match (Django's 404 page),
a method a route does not have (ninja's plain-text 405), a request Django refuses before any view
(400), a crash (500) — would otherwise reach the phone as HTML or plain text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from mobile_contract.errors import ErrorCode

_BY_STATUS: dict[int, tuple[ErrorCode, str]] = {
    400: (ErrorCode.VALIDATION_ERROR, "The request is not valid."),
    401: (ErrorCode.AUTH_REQUIRED, "Authentication required."),
    403: (ErrorCode.PERMISSION_DENIED, "You may not do this."),
    404: (ErrorCode.NOT_FOUND, "Not found."),
    405: (ErrorCode.VALIDATION_ERROR, "This method is not allowed here."),
    429: (ErrorCode.RATE_LIMITED, "Too many requests; try again later."),
}


def _is_envelope_candidate(request: HttpRequest, response: HttpResponseBase) -> bool:
    return (
        request.path.startswith("/api/")
        and response.status_code >= 400
        and request.method != "HEAD"  # HEAD answers carry no body (tus puts the code in a header)
        and isinstance(response, HttpResponse)  # not streaming
        and not str(response.get("Content-Type", "")).startswith("application/json")
    )


class ApiErrorEnvelopeMiddleware:
    """Both sync and async (Django picks by the handler): under ASGI a sync-only outermost middleware
    made every request hop to a worker thread and back to the event loop for the rest of the chain."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return _envelope(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        return _envelope(request, await get_response(request))


def _envelope(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if not _is_envelope_candidate(request, response):
        return response
    status = response.status_code
    default = (ErrorCode.INTERNAL_ERROR, "Internal error.") if status >= 500 else _BY_STATUS[400]
    code, message = _BY_STATUS.get(status, default)
    assert isinstance(response, HttpResponse)
    response.content = json.dumps({"code": str(code), "message": message, "details": {}}).encode()
    response["Content-Type"] = "application/json"
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return response
