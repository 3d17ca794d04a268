"""Photo download for devices: GET /api/v1/media/photos/<sha256>/<kind> (kind: thumb or display).

Authenticated like every call (FIELDSYNC_DEVICE_AUTHENTICATOR). A photo outside the caller's scope
is a 404, exactly like a missing one. Derivatives are content addressed, so the ETag is their sha256
and a response may be cached forever by that device (`private, immutable`); If-None-Match → 304.
The bytes are verified against their recorded sha256 before being sent (never wrong bytes: a
mismatch is a 500 with the error envelope and an ERROR log line).
"""

from __future__ import annotations

import json
import re

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from backend.core.errors import DomainError
from media_store import selectors
from media_store.callers import caller_from_request
from media_store.errors import PhotoNotFound

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
CACHE_CONTROL = "private, max-age=31536000, immutable"


@require_http_methods(["GET", "HEAD"])
def photo_derivative(request: HttpRequest, sha256: str, kind: str) -> HttpResponse:
    try:
        caller = caller_from_request(request)
        if not _SHA256_HEX.match(sha256):
            raise PhotoNotFound()
        photo = selectors.photo_get_for_caller(caller=caller, sha256=sha256)
        etag = f'"{selectors.photo_derivative_sha256(photo=photo, kind=kind)}"'
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponse(status=304)
        else:
            verified = selectors.photo_derivative_read(photo=photo, kind=kind)
            response = HttpResponse(verified.data, content_type="image/jpeg")
    except DomainError as error:
        response = HttpResponse(
            json.dumps(error.as_envelope()), status=error.http_status, content_type="application/json"
        )
        response["Fieldsync-Error-Code"] = str(error.code)
        response["Cache-Control"] = "no-store"
        return response
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison over a list, or `*`."""
    for candidate in (part.strip() for part in header.split(",")):
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
