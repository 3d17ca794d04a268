"""tus 1.0 at /api/v1/media/uploads, as plain Django views (tus is a header protocol; ninja is not).

Extensions: creation, creation-with-upload, termination, expiration, checksum (sha1, sha256).
Every request but OPTIONS needs `Tus-Resumable: 1.0.0` and `Authorization: Bearer <access token>`.
Errors carry the usual envelope `{"code", "message", "details"}` (HEAD responses have no body: the
code is in the `Fieldsync-Error-Code` header).

Upload-Metadata keys we read (values base64 as tus requires):
  sha256 (required): the hex sha256 of the whole file (a raw 32-byte digest is accepted too);
  record_table, record_id: the synced record the photo belongs to; filename: for people only.
Other keys are ignored. On completion the response carries `Fieldsync-Photo-Sha256` and
`Fieldsync-Photo-Id`.

The views parse headers and call one service or selector each; they never touch models directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from backend.core.errors import DomainError
from backend.core.text import normalize_text
from media_store import selectors, services
from media_store.callers import caller_from_request
from media_store.errors import MediaError, UploadRequestInvalid
from media_store.models import Upload, UploadState

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_RECORD_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_METADATA_KEY = re.compile(r"^[^\s,]{1,64}$")
_FILENAME_MAX_CHARS = 255
# ASCII digits only: str.isdigit() also accepts "²" (int() then fails: a 500) and other scripts'
# digits (Arabic-Indic or full-width "12", which int() reads as 12). 18 digits always fit a 64-bit column.
_DECIMAL = re.compile(r"^[0-9]{1,18}$")

View = Callable[..., HttpResponse]


class TusVersionRequired(UploadRequestInvalid):
    http_status = 412
    default_message = "Tus-Resumable: 1.0.0 is required."


def request_method(request: HttpRequest) -> str:
    """The tus method: the HTTP method, or X-HTTP-Method-Override on a POST (for clients behind proxies)."""
    method = (request.method or "GET").upper()
    override = request.headers.get("X-HTTP-Method-Override", "").upper()
    if method == "POST" and override in {"PATCH", "DELETE", "HEAD"}:
        return override
    return method


def require_tus_version(request: HttpRequest, method: str) -> None:
    if method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise TusVersionRequired(details={"supported_versions": [TUS_VERSION]})


def tus_finalize(response: HttpResponse) -> HttpResponse:
    """Headers every tus response carries."""
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    return response


def _tus(view: View) -> View:
    """Common tus plumbing: version check, method override, headers, the error envelope."""

    @csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request_method(request)
        try:
            require_tus_version(request, method)
            response = view(request, method, *args, **kwargs)
        except DomainError as error:
            response = error_response(method, error)
        return tus_finalize(response)

    return wrapper


@_tus
def uploads_collection(request: HttpRequest, method: str) -> HttpResponse:
    """/uploads: OPTIONS (discovery) and POST (creation, creation-with-upload)."""
    if method == "OPTIONS":
        return _options_response()
    if method != "POST":
        return _method_not_allowed("OPTIONS, POST")
    caller = caller_from_request(request)
    if "Upload-Defer-Length" in request.headers:
        raise UploadRequestInvalid("Upload-Defer-Length is not supported: send Upload-Length.")
    length_bytes = _header_int(request, "Upload-Length")
    metadata = _parse_metadata(request.headers.get("Upload-Metadata", ""))
    has_body = _content_length(request) not in (None, 0)
    if has_body and request.content_type != OFFSET_CONTENT_TYPE:
        raise _wrong_content_type(request)
    checksum = _checksum(request) if has_body else None  # a bad header refuses the request before creating

    upload = services.upload_create(device_id=caller.device.pk, length_bytes=length_bytes, metadata=metadata)
    response = HttpResponse(status=201)
    response["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/')}/{upload.id}")
    if has_body:  # creation-with-upload
        result = services.upload_append(
            upload=upload,
            offset_bytes=0,
            body=request,
            content_length=_content_length(request),
            checksum=checksum,
        )
        response["Upload-Offset"] = str(result.offset_bytes)
        _describe(response, result.upload)
    else:
        _describe(response, upload)
    return response


@_tus
def upload_resource(request: HttpRequest, method: str, upload_id: UUID) -> HttpResponse:
    """/uploads/<id>: HEAD (offset), PATCH (append), DELETE (termination), OPTIONS."""
    if method == "OPTIONS":
        return _options_response()
    if method not in {"HEAD", "PATCH", "DELETE"}:
        return _method_not_allowed("OPTIONS, HEAD, PATCH, DELETE")
    caller = caller_from_request(request)
    upload = selectors.upload_get_for_device(device_id=caller.device.pk, upload_id=upload_id)

    if method == "HEAD":
        services.upload_raise_if_unusable(upload=upload, now=timezone.now())
        if (
            upload.state == UploadState.RECEIVING
            and selectors.upload_offset_bytes(upload=upload) == upload.length_bytes
        ):
            # Every byte is here but no Photo yet (the completing request died): finish it now, unless
            # a PATCH holds the upload (it is finishing it; the offset answered is the same).
            services.upload_complete_if_whole(upload=upload)
            upload = selectors.upload_get_for_device(device_id=caller.device.pk, upload_id=upload_id)
        response = HttpResponse(status=200)
        response["Upload-Offset"] = str(selectors.upload_offset_bytes(upload=upload))
        response["Upload-Length"] = str(upload.length_bytes)
        response["Upload-Metadata"] = _encode_metadata(upload)
        _describe(response, upload)
        return response

    if method == "DELETE":
        services.upload_terminate(upload=upload)
        return HttpResponse(status=204)

    started = patch_start(request, upload)
    if isinstance(started, services.AppendSession):
        started = services.upload_append_read(session=started, body=request)
    return patch_response(started)


def patch_start(request: HttpRequest, upload: Upload) -> services.AppendSession | services.AppendResult:
    """A PATCH up to its body: check the headers against the upload and take its write lock.

    Shared by the Django view above and the streaming ASGI route (`media_store.tus_asgi`).
    """
    if request.content_type != OFFSET_CONTENT_TYPE:
        raise _wrong_content_type(request)
    return services.upload_append_begin(
        upload=upload,
        offset_bytes=_header_int(request, "Upload-Offset"),
        content_length=_content_length(request),
        checksum=_checksum(request),
    )


def patch_response(result: services.AppendResult) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Upload-Offset"] = str(result.offset_bytes)
    _describe(response, result.upload)
    return response


# --- helpers ---------------------------------------------------------------------------------------


def _options_response() -> HttpResponse:
    response = HttpResponse(status=204)
    response["Tus-Version"] = TUS_VERSION
    response["Tus-Extension"] = TUS_EXTENSIONS
    response["Tus-Max-Size"] = str(settings.FIELDSYNC_UPLOAD_MAX_BYTES)
    response["Tus-Checksum-Algorithm"] = ",".join(services.CHECKSUM_ALGORITHMS)
    return response


def _method_not_allowed(allowed: str) -> HttpResponse:
    response = HttpResponse(status=405)
    response["Allow"] = allowed
    return response


def _describe(response: HttpResponse, upload: Upload) -> None:
    if upload.state == UploadState.RECEIVING:
        response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    if upload.state == UploadState.COMPLETE and upload.photo is not None:
        response["Fieldsync-Photo-Sha256"] = upload.photo.sha256
        response["Fieldsync-Photo-Id"] = str(upload.photo.id)


def error_response(method: str, error: DomainError) -> HttpResponse:
    if method == "HEAD":
        response = HttpResponse(status=error.http_status)
    else:
        response = HttpResponse(
            json.dumps(error.as_envelope()), status=error.http_status, content_type="application/json"
        )
    response["Fieldsync-Error-Code"] = str(error.code)
    if isinstance(error, TusVersionRequired):
        response["Tus-Version"] = TUS_VERSION
    if isinstance(error, MediaError) and "offset_bytes" in error.details and error.http_status == 409:
        response["Upload-Offset"] = str(error.details["offset_bytes"])
    return response


def _wrong_content_type(request: HttpRequest) -> MediaError:
    return UploadRequestInvalid(
        f"Content-Type must be {OFFSET_CONTENT_TYPE}.",
        http_status=415,
        details={"content_type": request.content_type or ""},
    )


def _content_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw:
        return None
    if not _DECIMAL.match(raw):
        raise UploadRequestInvalid("Content-Length is not a number.")
    return int(raw)


def _header_int(request: HttpRequest, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None or not _DECIMAL.match(raw.strip()):
        raise UploadRequestInvalid(f"{name} must be a non-negative integer.", details={"header": name})
    return int(raw.strip())


def _checksum(request: HttpRequest) -> services.DeclaredChecksum | None:
    header = request.headers.get("Upload-Checksum")
    return services.DeclaredChecksum.parse(header) if header else None


def _parse_metadata(header: str) -> services.UploadMetadata:
    values: dict[str, bytes] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, encoded = pair.partition(" ")
        if not _METADATA_KEY.match(key) or key in values:
            raise UploadRequestInvalid("Upload-Metadata has a bad or repeated key.", details={"key": key[:64]})
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise UploadRequestInvalid("Upload-Metadata values must be base64.", details={"key": key})

    sha256 = _declared_sha256(values.get("sha256"))
    record_table = _metadata_text(values, "record_table")
    record_id = _metadata_text(values, "record_id")
    if record_table and not _RECORD_TABLE.match(record_table):
        raise UploadRequestInvalid("record_table is not a table name.", details={"key": "record_table"})
    if record_id and not _RECORD_ID.match(record_id):
        raise UploadRequestInvalid("record_id is not a record id.", details={"key": "record_id"})
    filename = normalize_text(_metadata_text(values, "filename"))[:_FILENAME_MAX_CHARS]
    return services.UploadMetadata(sha256=sha256, filename=filename, record_table=record_table, record_id=record_id)


def _declared_sha256(raw: bytes | None) -> str:
    if raw is None:
        raise UploadRequestInvalid("Upload-Metadata must declare the file's sha256.", details={"missing": "sha256"})
    if len(raw) == 32:
        return raw.hex()
    text = raw.decode("ascii", errors="replace").strip()
    if not _SHA256_HEX.match(text):
        raise UploadRequestInvalid("sha256 must be 64 hex digits.", details={"key": "sha256"})
    return text.lower()


def _metadata_text(values: dict[str, bytes], key: str) -> str:
    raw = values.get(key)
    if raw is None:
        return ""
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UploadRequestInvalid("Upload-Metadata text must be UTF-8.", details={"key": key})


def _encode_metadata(upload: Upload) -> str:
    fields = {"sha256": upload.declared_sha256, **{str(k): str(v) for k, v in (upload.metadata or {}).items()}}
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in fields.items())
