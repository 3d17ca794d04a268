"""The ceiling of a tus PATCH on this machine: a minimal ASGI app on the same uvicorn as `manage.py serve`.

Run as `python bench/support/upload_ceiling.py PORT`: uvicorn with the serve command's settings (HTTP and
loop implementations chosen by uvicorn, httptools and uvloop when installed; the serve command's malloc
tuning) serving one app with no Django, no database and no tus rules. Its routes are the floors under
the real endpoint's figure:

* `PUT /discard`: the body is received and dropped (HTTP over loopback through uvicorn, nothing else);
* `PUT /store`: the body is appended to `DIR/ceiling.part` as it arrives, sha256 computed over it, the
  file fsynced before the answer - the least work a tus PATCH that verifies its bytes can do, inline in
  the event loop;
* `PUT /pipelined`: the same work arranged as media_store.tus_asgi does it: 1 MiB batches written and
  hashed in a worker thread while the next batch is received (one batch in flight).

bench/media_upload.py starts it next to the real server and reports both side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY_ROOT))

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
FOLDER = Path(os.environ.get("FIELDSYNC_CEILING_DIR", "/tmp"))


BATCH_BYTES = 1024 * 1024


def write_and_hash(descriptor: int, hasher: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(descriptor, view) :]
        hasher.update(chunk)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/pipelined":
        await pipelined(receive, send)
        return
    store = scope["path"] == "/store"
    descriptor = os.open(FOLDER / "ceiling.part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if store else None
    hasher = hashlib.sha256()
    received = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if descriptor is not None and chunk:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(descriptor, view) :]
                hasher.update(chunk)
            if not message.get("more_body", False):
                break
        if descriptor is not None:
            os.fsync(descriptor)
    finally:
        if descriptor is not None:
            os.close(descriptor)
    await answer(send, f"{received} {hasher.hexdigest() if store else ''}")


async def pipelined(receive: Receive, send: Send) -> None:
    descriptor = os.open(FOLDER / "ceiling.part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    hasher = hashlib.sha256()
    batch: list[bytes] = []
    batch_bytes = received = 0
    in_flight: asyncio.Future[None] | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                batch.append(chunk)
                batch_bytes += len(chunk)
                received += len(chunk)
            has_more = bool(message.get("more_body", False))
            if batch_bytes >= BATCH_BYTES or (batch and not has_more):
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(asyncio.to_thread(write_and_hash, descriptor, hasher, batch))
                batch, batch_bytes = [], 0
            if not has_more:
                break
        if in_flight is not None:
            await in_flight
        os.fsync(descriptor)
    finally:
        if in_flight is not None and not in_flight.done():
            await asyncio.wait([in_flight])
        os.close(descriptor)
    await answer(send, f"{received} {hasher.hexdigest()}")


async def answer(send: Send, text: str) -> None:
    body = text.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    from backend.core.management.commands.serve import tune_malloc_for_streaming

    tune_malloc_for_streaming()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
