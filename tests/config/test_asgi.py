"""The ASGI application as `make run` serves it: static files for the admin and console pages."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator


async def _get(path: str) -> tuple[int, dict[bytes, bytes]]:
    from backend.config.asgi import application

    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=10)
    while True:  # drain the body
        message = await communicator.receive_output(timeout=10)
        if not message.get("more_body"):
            break
    return int(start["status"]), {name.lower(): value for name, value in start["headers"]}


@pytest.mark.asyncio
async def test_embedded_server_serves_the_admin_stylesheet_without_debug() -> None:
    status, headers = await _get("/static/admin/css/base.css")

    assert status == 200
    assert headers[b"content-type"].startswith(b"text/css")


@pytest.mark.asyncio
async def test_a_missing_static_file_is_a_404_not_an_error() -> None:
    status, _ = await _get("/static/admin/css/no-such-file.css")

    assert status == 404


def test_the_root_address_leads_a_person_to_the_console(client: Any, db: None) -> None:
    # `make run` says it serves on http://127.0.0.1:8000; opening that address gave a bare 404.
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/console/"
