"""The ceiling of a tus PATCH on this machine: a minimal ASGI app on the same uvicorn as `manage.py serve`.

Run as `python bench/support/upload_ceiling.py PORT`: uvicorn with the serve command's settings (HTTP and
loop implementations chosen by uvicorn, httptools and uvloop when installed; the serve command's malloc
tuning) serving one app with no Django, no database and no tus rules. Its routes are the floors under
the real endpoint's figure:

* `PUT /discard`: the body is received and dropped (HTTP over loopback through uvicorn, nothing else);
* `PUT /store`: the body is appended to `DIR/ceiling.part` as it arrives, sha256 computed over it, the
  file fsynced before the answer - the least work a tus PATCH that verifies its bytes can do, inline in
  the event loop;
* `PUT /pipelined`: the same work arranged as media_store.tus_asgi does it, with its own parts
  (media_store.part_file: a staging-and-hashing lane and a disk lane writing by direct I/O from aligned
  buffers; 2 MiB batches ending on aligned offsets, four in flight while the next are received), minus
  Django, the database and the tus rules.

bench/media_upload.py starts it next to the real server and reports both side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY_ROOT))

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
FOLDER = Path(os.environ.get("FIELDSYNC_CEILING_DIR", "/tmp"))


BATCH_BYTES = 2 * 1024 * 1024
IN_FLIGHT = 4
WRITE_POOL = ThreadPoolExecutor(max_workers=2)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    try:
        await (pipelined(receive, send) if scope["path"] == "/pipelined" else store_or_discard(scope, receive, send))
    except ClientGone:
        return


async def store_or_discard(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    store = scope["path"] == "/store"
    descriptor = os.open(FOLDER / "ceiling.part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if store else None
    hasher = hashlib.sha256()
    received = 0
    try:
        async for chunk in body(receive):
            received += len(chunk)
            if descriptor is not None and chunk:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(descriptor, view) :]
                hasher.update(chunk)
        if descriptor is not None:
            os.fsync(descriptor)
    finally:
        if descriptor is not None:
            os.close(descriptor)
    await answer(send, f"{received} {hasher.hexdigest() if store else ''}")


async def pipelined(receive: Receive, send: Send) -> None:
    from media_store.part_file import Batches, PartWriter

    path = FOLDER / "ceiling.part"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    writer = PartWriter(descriptor=descriptor, path=path, start_bytes=0, pool=WRITE_POOL)
    hasher = hashlib.sha256()
    batches = Batches(batch_bytes=BATCH_BYTES, next_offset=lambda: writer.submitted_bytes)
    queued: deque[Future[None]] = deque()
    received = 0

    async def submit(chunks: list[bytes | memoryview] | None) -> None:
        if not chunks:
            return
        while len(queued) >= IN_FLIGHT:
            await ended(queued.popleft())
        queued.append(writer.submit(chunks, on_error=lambda error: error, hashers=[hasher]))

    try:
        async for chunk in body(receive):
            received += len(chunk)
            await submit(batches.add(chunk))
        await submit(batches.rest())
        while queued:
            await ended(queued.popleft())
        os.fsync(descriptor)
    finally:
        writer.close()
        os.close(descriptor)
    await answer(send, f"{received} {hasher.hexdigest()}")


async def ended(future: Future[None]) -> None:
    """As tus_asgi waits for a batch: the loop is woken only when it has to wait."""
    if not future.done():
        await asyncio.wrap_future(future)
    future.result()


class ClientGone(Exception):
    """The client left before the end of its body: nothing is answered."""


async def body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as they arrive. Raises ClientGone if the client leaves first."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


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
