"""tus PATCH streamed straight to disk under ASGI, mounted in front of Django in backend.config.asgi.

Django's ASGI handler reads a whole request body (into memory, then a temporary file) before any view
runs, so a PATCH cut mid-way would lose every byte of that request. This route handles PATCH (and
POST with `X-HTTP-Method-Override: PATCH`) on the upload resource itself: each batch of received body
chunks is appended to the .part file as it arrives (fsynced before the offset is acknowledged), so a
connection cut or a server killed mid-PATCH keeps the bytes received, and memory stays flat whatever
the upload size.

Every rule is the Django view's: the same authentication (FIELDSYNC_DEVICE_AUTHENTICATOR, through
`media_store.callers`), the same header parsing (`tus_views.patch_start`), the same lock, offset and
checksum rules (`services.upload_append_begin` / `AppendSession` / `upload_append_finish`) and the
same responses and error envelope. The Django view still serves WSGI and the test client; every
other method and path goes to the wrapped application untouched.

Database work runs in asgiref's thread-sensitive sync thread (as Django's own sync views do); file
writes run in a worker thread while the next batch is received, so the event loop never blocks on the
disk.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpResponse
from django.urls import Resolver404, resolve

from backend.core.errors import DomainError
from media_store import selectors, services, tus_views
from media_store.callers import caller_from_request
from media_store.part_file import Batches, chunks_bytes

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODYLESS_STATUSES = frozenset({204, 304})


def tus_patch_streaming(inner: ASGIApp) -> ASGIApp:
    """Wrap an ASGI HTTP application: tus PATCHes of an upload are streamed here, the rest goes to `inner`."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        upload_id = _streamed_upload_id(scope) if scope.get("type") == "http" else None
        if upload_id is None:
            await inner(scope, receive, send)
            return
        await _patch(scope, receive, send, upload_id=upload_id)

    return application


def _streamed_upload_id(scope: Scope) -> UUID | None:
    """The upload id when `scope` is a tus PATCH of an upload resource (resolved by Django's URLconf)."""
    method = str(scope.get("method", "")).upper()
    if method not in {"PATCH", "POST"}:
        return None
    if method == "POST":
        override = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"x-http-method-override":
                override = value.strip().upper()
        if override != b"PATCH":
            return None
    try:
        match = resolve(str(scope.get("path", "")))
    except Resolver404:
        return None
    if match.func is not tus_views.upload_resource:
        return None
    upload_id = match.kwargs.get("upload_id")
    return upload_id if isinstance(upload_id, UUID) else None


async def _patch(scope: Scope, receive: Receive, send: Send, *, upload_id: UUID) -> None:
    # The body is not read through this request object: it only carries headers and META.
    request = ASGIRequest(scope, io.BytesIO())
    # Shielded: a cancelled request cannot stop the thread taking the lock, so whatever session it
    # returns is closed once it does (its descriptor would keep the upload locked: 423 ever after).
    starting = asyncio.ensure_future(sync_to_async(_start)(request, upload_id))
    try:
        started = await asyncio.shield(starting)
    except asyncio.CancelledError:
        starting.add_done_callback(_close_started)
        raise
    if isinstance(started, HttpResponse):
        await _send_response(send, started)
        return
    session = started
    is_body_cut = False
    try:
        is_body_cut = await _receive_into(session, receive)
    except DomainError as error:  # a full disk or an oversize body, mid-stream
        await asyncio.to_thread(session.close)
        await sync_to_async(close_old_connections)()
        await _send_response(send, tus_views.tus_finalize(tus_views.error_response("PATCH", error)))
        return
    except BaseException:
        await asyncio.to_thread(session.close)
        raise
    # `_finish` waits for its turn in the sync thread: a request cancelled meanwhile has that pending call
    # cancelled (sync_to_async does), and then only this side can close the session (its flock). Whichever
    # side claims the session first ends it; `_finish` started in time is awaited by the thread, not here.
    claim = threading.Lock()
    try:
        response = await sync_to_async(_finish)(session, is_body_cut, claim)
    except asyncio.CancelledError:
        if claim.acquire(blocking=False):
            await asyncio.to_thread(session.close)
        raise
    if response is not None and not is_body_cut:
        await _send_response(send, response)


async def _receive_into(session: services.AppendSession, receive: Receive) -> bool:
    """Append the body to the session as it arrives. Returns True if the client left before its end.

    Batches of about WRITE_BATCH_BYTES are submitted to the session (written and hashed on worker
    threads, in order) while the next ones are received; at most PIPELINE_BATCHES are queued, so
    memory stays bounded. Every write has ended when this returns or raises, so the caller may finish
    or close the session.
    """
    batches = Batches(batch_bytes=services.WRITE_BATCH_BYTES, next_offset=session.next_offset)
    is_body_cut = False
    # Per batch, the Future of its work (a concurrent one: wrapped for the loop only when it has to wait
    # for it, so a batch ending while the loop receives the next costs no wake-up of the loop).
    queued: deque[Future[None]] = deque()

    async def submit(chunks: list[bytes | memoryview]) -> None:
        if chunks_bytes(chunks) > session.remaining_bytes:
            await drain()
            session.reject_oversize()
        while len(queued) >= services.PIPELINE_BATCHES:
            await oldest()  # raises the write's error (full disk) here
        queued.append(session.submit(chunks))

    async def oldest() -> None:
        if not queued[0].done():
            await asyncio.wrap_future(queued[0])
        queued[0].result()  # its error (full disk) raised while it is still queued: `finally` waits for the rest
        queued.popleft()

    async def drain() -> None:
        while queued:
            await oldest()

    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                is_body_cut = True
                break
            batch = batches.add(message.get("body", b""))
            if batch:
                await submit(batch)
            if not message.get("more_body", False):
                break
        batch = batches.rest()  # the end of the body, or what arrived before the client left
        if batch:
            await submit(batch)
        await drain()
    finally:
        if queued:
            # Leaving on an error or a cancellation: let the threads finish with the descriptor first.
            await asyncio.shield(asyncio.to_thread(session.wait))
            for future in queued:
                future.exception()  # retrieved (they have all ended): the error that matters is propagating
    if is_body_cut:
        logger.info(
            "tus PATCH cut by the client: upload %s kept %d bytes of this request",
            session.upload.id,
            session.written_bytes,
        )
    return is_body_cut


def _close_started(starting: asyncio.Future[services.AppendSession | HttpResponse]) -> None:
    """Close the session a cancelled request's `_start` returned (nothing was submitted to it: quick)."""
    if not starting.cancelled() and starting.exception() is None:
        started = starting.result()
        if isinstance(started, services.AppendSession):
            started.close()


def _start(request: ASGIRequest, upload_id: UUID) -> services.AppendSession | HttpResponse:
    """Authenticate, find the caller's upload, check the headers and take the lock (sync thread)."""
    close_old_connections()
    try:
        tus_views.require_tus_version(request, "PATCH")
        caller = caller_from_request(request)
        upload = selectors.upload_get_for_device(device_id=caller.device.pk, upload_id=upload_id)
        started = tus_views.patch_start(request, upload)
    except DomainError as error:
        close_old_connections()
        return tus_views.tus_finalize(tus_views.error_response("PATCH", error))
    if isinstance(started, services.AppendResult):
        close_old_connections()
        return tus_views.tus_finalize(tus_views.patch_response(started))
    return started


def _finish(session: services.AppendSession, is_body_cut: bool, claim: threading.Lock) -> HttpResponse | None:
    """Checksum, offset hint, completion (sync thread). Always closes the session.

    None, doing nothing, if the request was cancelled first and closed the session itself (`claim` taken)."""
    if not claim.acquire(blocking=False):
        return None
    try:
        response = tus_views.patch_response(services.upload_append_finish(session=session, is_body_cut=is_body_cut))
    except DomainError as error:
        response = tus_views.error_response("PATCH", error)
    finally:
        session.close()
        close_old_connections()
    return tus_views.tus_finalize(response)


async def _send_response(send: Send, response: HttpResponse) -> None:
    body = b"" if response.status_code in _BODYLESS_STATUSES else response.content
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    if response.status_code not in _BODYLESS_STATUSES:
        headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
