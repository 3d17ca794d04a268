"""The /api/ error envelope middleware under both handlers, and what it costs an ASGI request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, iscoroutinefunction
from asgiref.testing import ApplicationCommunicator
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from backend.config.middleware import ApiErrorEnvelopeMiddleware


def _plain_404(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<h1>Not Found</h1>", status=404, content_type="text/html")


async def _plain_404_async(request: HttpRequest) -> HttpResponse:
    return _plain_404(request)


def test_under_a_sync_handler_an_api_404_becomes_the_envelope() -> None:
    middleware = ApiErrorEnvelopeMiddleware(_plain_404)

    response = middleware(RequestFactory().get("/api/v1/nothing"))

    assert not iscoroutinefunction(middleware)
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"code": "not_found", "message": "Not found.", "details": {}}


def test_under_an_async_handler_the_middleware_is_async_and_an_api_404_becomes_the_envelope() -> None:
    middleware = ApiErrorEnvelopeMiddleware(_plain_404_async)

    response = asyncio.run(middleware(RequestFactory().get("/api/v1/nothing")))

    assert iscoroutinefunction(middleware)
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"code": "not_found", "message": "Not found.", "details": {}}


def test_outside_api_an_answer_is_left_alone_under_an_async_handler() -> None:
    middleware = ApiErrorEnvelopeMiddleware(_plain_404_async)

    response = asyncio.run(middleware(RequestFactory().get("/console/nothing")))

    assert response["Content-Type"] == "text/html"
    assert response.content == b"<h1>Not Found</h1>"


async def _asgi_request(method: str, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    from backend.config.asgi import application

    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"tus-resumable", b"1.0.0")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=10)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return int(start["status"]), {name.lower(): value for name, value in start["headers"]}, body


@pytest.mark.asyncio
async def test_through_the_asgi_application_an_api_404_is_the_envelope() -> None:
    status, headers, body = await _asgi_request("GET", "/api/v1/no-such-thing")

    assert status == 404
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body) == {"code": "not_found", "message": "Not found.", "details": {}}


@pytest.mark.asyncio
async def test_an_asgi_request_never_hops_back_from_its_worker_thread_to_the_event_loop(monkeypatch: Any) -> None:
    """Django runs a request's sync view in a worker thread. A sync-only middleware at the top of the
    chain ran there too, so the async middlewares below it were called back on the event loop through
    async_to_sync: two extra thread hops per request (the tus OPTIONS answer's whole cost is such overhead)."""
    hops: list[object] = []
    original_call = AsyncToSync.__call__

    def counting_call(self: AsyncToSync, *args: Any, **kwargs: Any) -> Any:
        hops.append(self.awaitable)
        return original_call(self, *args, **kwargs)

    await _asgi_request("OPTIONS", "/api/v1/media/uploads")  # warm: URLconf and middleware loaded
    monkeypatch.setattr(AsyncToSync, "__call__", counting_call)

    status, headers, _ = await _asgi_request("OPTIONS", "/api/v1/media/uploads")

    assert status == 204
    assert headers[b"tus-version"] == b"1.0.0"
    assert hops == []


@pytest.mark.asyncio
async def test_an_asgi_request_runs_its_middleware_chain_and_view_in_one_hop_to_its_worker_thread(
    monkeypatch: Any,
) -> None:
    """Django's own ASGIHandler builds the chain async: each of its sync middleware methods was a
    round trip to the worker thread (about fifteen for a tus OPTIONS, whose whole cost is that)."""
    hops: list[str] = []
    original_call = SyncToAsync.__call__

    def counting_call(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return original_call(self, *args, **kwargs)

    await _asgi_request("OPTIONS", "/api/v1/media/uploads")  # warm: URLconf and middleware loaded
    monkeypatch.setattr(SyncToAsync, "__call__", counting_call)

    status, headers, _ = await _asgi_request("OPTIONS", "/api/v1/media/uploads")

    assert status == 204
    assert headers[b"tus-version"] == b"1.0.0"
    # The request_started receivers (closing old connections), then the middleware chain with the view.
    assert len(hops) == 2, hops
