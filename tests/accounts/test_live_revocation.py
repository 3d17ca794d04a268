"""Revocation against a running server (`manage.py serve`: its real request lifecycle, its connection
reuse): the request after a revocation is refused, whichever route and connection serves it."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings

from backend.accounts import services
from backend.accounts.models import Officer
from tests.conftest import make_device_session, make_officer, make_unit
from tests.live import running_server
from tests.media_store.factories import OFFSET_TYPE, UPLOADS_URL, sha256_hex, tus_metadata

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _request(port: int, method: str, path: str, token: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        method,
        path,
        body=b"x" * 10 if method == "PATCH" else b"",
        headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", **(headers or {})},
    )
    reply = connection.getresponse()
    body = reply.read()
    connection.close()
    code = reply.headers.get("Fieldsync-Error-Code") or (json.loads(body).get("code") if body[:1] == b"{" else None)
    return reply.status, code


def _create(port: int, token: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    metadata = tus_metadata(sha256=sha256_hex(b"x" * 10))
    connection.request(
        "POST",
        UPLOADS_URL,
        body=b"",
        headers={
            "Authorization": f"Bearer {token}",
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": metadata,
        },
    )
    reply = connection.getresponse()
    reply.read()
    connection.close()
    assert reply.status == 201
    return urlparse(reply.headers["Location"]).path


def test_a_device_revoked_between_requests_is_told_to_wipe_on_its_next_request_of_every_kind(tmp_path: Path) -> None:
    pair = make_device_session(officer=make_officer(username="live.revoked", unit=make_unit(code="LV")))
    with running_server(media_root=Path(settings.MEDIA_ROOT), log_path=tmp_path / "server.log") as server:
        location = _create(server.port, pair.access_token)
        for _ in range(3):  # several requests: the server's connections are reused by now
            assert _request(server.port, "GET", "/api/v1/sync/pull", pair.access_token)[0] == 200
            assert _request(server.port, "HEAD", location, pair.access_token)[0] == 200

        services.device_revoke(actor=None, device=pair.device, reason="lost")

        assert _request(server.port, "GET", "/api/v1/sync/pull", pair.access_token) == (403, "device_wipe_required")
        assert _request(server.port, "HEAD", location, pair.access_token) == (403, "device_wipe_required")
        patched = _request(
            server.port, "PATCH", location, pair.access_token, {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
        )
        assert patched == (403, "device_wipe_required")
        assert _request(server.port, "POST", UPLOADS_URL, pair.access_token)[0] == 403


def test_an_officer_deactivated_between_requests_is_refused_on_the_next_one(tmp_path: Path) -> None:
    pair = make_device_session(officer=make_officer(username="live.deactivated", unit=make_unit(code="LD")))
    with running_server(media_root=Path(settings.MEDIA_ROOT), log_path=tmp_path / "server.log") as server:
        location = _create(server.port, pair.access_token)
        for _ in range(3):
            assert _request(server.port, "GET", "/api/v1/sync/pull", pair.access_token)[0] == 200

        Officer.objects.filter(pk=pair.officer.pk).update(is_active=False)

        assert _request(server.port, "GET", "/api/v1/sync/pull", pair.access_token) == (401, "token_invalid")
        patched = _request(
            server.port, "PATCH", location, pair.access_token, {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
        )
        assert patched == (401, "token_invalid")
