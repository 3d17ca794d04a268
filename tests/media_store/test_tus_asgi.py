"""tus PATCH streamed to disk under ASGI: real uvicorn subprocesses on loopback, killed, starved of disk,
raced and driven by the real tuspy client through a proxy that cuts connections."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import io
import os
import random
import resource
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from media_store import services, tus_asgi, tus_views
from media_store.models import Photo, Upload, UploadState
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import OFFSET_TYPE, UPLOADS_URL, photo_bytes, sha256_hex, tus_headers, tus_metadata
from tests.media_store.live import (
    CuttingProxy,
    ServerProcess,
    SlowRequest,
    file_size,
    vm_hwm_bytes,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PIECE_BYTES = 64 * 1024
BATCH_BYTES = services.WRITE_BATCH_BYTES  # what a PATCH gathers before a write: its bytes reach the file then


@pytest.fixture
def session(db: None) -> Any:
    unit = make_unit(code="AS", communes=("20215",))
    return make_device_session(officer=make_officer(username="asgi.user", unit=unit), label="phone-asgi")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(**kwargs: Any) -> ServerProcess:
        kwargs.setdefault("media_root", Path(settings.MEDIA_ROOT))
        server = ServerProcess(log_path=tmp_path / f"server-{len(started)}.log", **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()


def create_upload(server: ServerProcess, session: Any, data: bytes) -> str:
    response = httpx.post(
        f"{server.base_url}{UPLOADS_URL}",
        headers=tus_headers(
            session,
            **{"Upload-Length": str(len(data)), "Upload-Metadata": tus_metadata(sha256=sha256_hex(data))},
        ),
    )
    assert response.status_code == 201, response.text
    return urlparse(response.headers["Location"]).path


def part_file(server: ServerProcess, path: str) -> Path:
    return server.media_root / "uploads" / f"{path.rsplit('/', 1)[1]}.part"


def head_offset(server: ServerProcess, session: Any, path: str) -> int:
    response = httpx.head(f"{server.base_url}{path}", headers=tus_headers(session))
    assert response.status_code == 200, response.headers
    return int(response.headers["Upload-Offset"])


def patch(server: ServerProcess, session: Any, path: str, body: bytes, offset: int, **extra: str) -> httpx.Response:
    return httpx.patch(
        f"{server.base_url}{path}",
        content=body,
        headers=tus_headers(session, **{"Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, **extra}),
        timeout=60,
    )


def slow_patch(server: ServerProcess, session: Any, path: str, *, offset: int, length: int) -> SlowRequest:
    return SlowRequest(
        port=server.port,
        method="PATCH",
        path=path,
        headers=tus_headers(
            session,
            **{"Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE, "Content-Length": str(length)},
        ),
    )


def send_in_background(request: SlowRequest, data: bytes) -> threading.Thread:
    """Send a body from a thread (the server may answer and close before it is all sent)."""

    def run() -> None:
        try:
            for start in range(0, len(data), PIECE_BYTES):
                request.send(data[start : start + PIECE_BYTES])
        except OSError:
            pass  # the server answered early and closed: expected when it refuses mid-body

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_photo_stored(server: ServerProcess, data: bytes) -> None:
    photo = Photo.objects.get()
    assert photo.sha256 == sha256_hex(data)
    sha = photo.sha256
    assert (server.media_root / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes() == data
    assert Upload.objects.get().state == UploadState.COMPLETE


# --- crash safety ---------------------------------------------------------------------------------


def test_server_killed_mid_patch_keeps_the_received_bytes_and_the_upload_resumes(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = photo_bytes(seed=21, size=(3000, 2000))
    server = servers()
    path = create_upload(server, session, data)
    part = part_file(server, path)
    request = slow_patch(server, session, path, offset=0, length=len(data))
    half = len(data) // 2
    assert half > BATCH_BYTES
    for start in range(0, half, PIECE_BYTES):
        request.send(data[start : min(start + PIECE_BYTES, half)])
    # The body is being written while it arrives: the part file grows before the request ends.
    wait_until(lambda: file_size(part) >= BATCH_BYTES, what="the part file to grow mid-request")

    server.kill()
    request.close()

    stored = file_size(part)
    assert BATCH_BYTES <= stored <= request.sent_bytes == half
    assert part.read_bytes() == data[:stored]
    assert Photo.objects.count() == 0
    restarted = servers(port=server.port)
    assert head_offset(restarted, session, path) == stored
    done = patch(restarted, session, path, data[stored:], stored)
    assert done.status_code == 204, done.text
    assert done.headers["Upload-Offset"] == str(len(data))
    assert done.headers["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert_photo_stored(restarted, data)


def part_is_unlocked(part: Path) -> bool:
    """Whether no request holds the upload's write lock (the flock is shared across processes)."""
    descriptor = os.open(part, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


def test_kills_and_client_cuts_at_unaligned_moments_leave_a_true_prefix_and_the_upload_completes(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    rng = random.Random(26)
    data = photo_bytes(seed=26, size=(4400, 3300))  # about 14 MB: room for every round
    server = servers()
    path = create_upload(server, session, data)
    part = part_file(server, path)
    offsets = []
    for round_index in range(4):
        offset = head_offset(server, session, path)
        assert part.read_bytes() == data[:offset]  # whatever was cut, the file is what the client sent
        offsets.append(offset)
        request = slow_patch(server, session, path, offset=offset, length=len(data) - offset)
        amount = min(len(data) - offset - 1, rng.randrange(BATCH_BYTES + 1, BATCH_BYTES * 3 // 2))
        position = offset
        while position < offset + amount:
            piece = rng.randrange(1, 3 * PIECE_BYTES)  # unaligned pieces: batches end wherever they fall
            request.send(data[position : min(position + piece, offset + amount)])
            position = min(position + piece, offset + amount)
        wait_until(partial(lambda start: file_size(part) > start, offset), what="this PATCH's first batch on disk")
        if round_index % 2 == 0:
            server.kill()  # mid-PATCH, batches in flight
            request.close()
            server = servers(port=server.port)
        else:
            request.close()  # the client is gone: the server keeps what arrived (and its running sha256)
            wait_until(lambda: part_is_unlocked(part), what="the cut PATCH to end")
    offset = head_offset(server, session, path)
    assert part.read_bytes() == data[:offset]
    assert len(set(offsets)) == len(offsets) and offset > offsets[-1]  # every round kept something
    done = patch(server, session, path, data[offset:], offset)
    assert done.status_code == 204, done.text
    assert done.headers["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert_photo_stored(server, data)


def _disk_full_mechanism() -> str:
    """`tmpfs` (a real small filesystem, needs root and mount rights) or `rlimit` (RLIMIT_FSIZE: EFBIG)."""
    forced = os.environ.get("FIELDSYNC_TEST_DISK_FULL", "")
    if forced:
        return forced
    if os.geteuid() != 0:
        return "rlimit"
    probe = Path(settings.MEDIA_ROOT).parent / "mount-probe"
    probe.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
    if mounted.returncode != 0:
        return "rlimit"
    subprocess.run(["umount", str(probe)], check=True)
    return "tmpfs"


def test_disk_full_mid_patch_answers_507_keeps_a_true_offset_and_resumes_once_space_is_freed(
    servers: Callable[..., ServerProcess], session: Any, tmp_path: Path
) -> None:
    mechanism = _disk_full_mechanism()
    limit = 1280 * 1024
    database = settings.DATABASES["default"]
    if mechanism == "rlimit" and connection.vendor == "sqlite":
        # RLIMIT_FSIZE caps every file the server writes: keep the SQLite files (and their growth) below it.
        database_bytes = max(file_size(Path(f"{database['NAME']}{suffix}")) for suffix in ("", "-wal"))
        limit = database_bytes + 2 * 1024 * 1024
    data = photo_bytes(seed=22, size=(2000, 1500) if limit < 2 * 1024 * 1024 else (3600, 2700))
    assert len(data) > limit + 1024 * 1024
    small = tmp_path / "small-disk"
    small.mkdir()
    filler = small / "filler"
    if mechanism == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], check=True)
        filler.write_bytes(b"\0" * (8 * 1024 * 1024 - 1280 * 1024))  # about 1.25 MiB left
        server = servers(media_root=small)
    else:

        def limit_file_size() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        server = servers(media_root=small, preexec_fn=limit_file_size)
    try:
        path = create_upload(server, session, data)
        part = part_file(server, path)
        request = slow_patch(server, session, path, offset=0, length=len(data))
        sender = send_in_background(request, data)
        status, headers, body = request.response()
        sender.join(timeout=10)
        request.close()

        stored = file_size(part)
        assert status == 507, (mechanism, body)
        assert headers["fieldsync-error-code"] == "upload_storage_full"
        assert body.startswith(b'{"code": "upload_storage_full"')
        assert f'"offset_bytes": {stored}'.encode() in body
        assert 0 < stored < len(data)
        assert part.read_bytes() == data[:stored]
        assert head_offset(server, session, path) == stored
        assert Photo.objects.count() == 0

        if mechanism == "tmpfs":
            filler.unlink()  # space freed; the same server resumes
        else:
            server.kill()  # the limit lives with the process: "freeing space" is a server without it
            server = servers(media_root=small, port=server.port)
        assert head_offset(server, session, path) == stored
        done = patch(server, session, path, data[stored:], stored)
        assert done.status_code == 204, (mechanism, done.text)
        assert done.headers["Fieldsync-Photo-Sha256"] == sha256_hex(data)
        assert_photo_stored(server, data)
    finally:
        server.kill()
        if mechanism == "tmpfs":
            subprocess.run(["umount", str(small)], check=True)
    print(f"disk-full mechanism: {mechanism}, stored before the failure: {stored} bytes")


def test_a_patch_cancelled_while_its_batches_wait_for_a_busy_write_pool_leaves_no_hole(session: Any) -> None:
    # Every upload shares the write threads: under load a PATCH's oldest batch may still be queued when
    # the request's task is cancelled (server shutdown). The file must stay a prefix of the body: a
    # batch skipped while later ones are written would leave zeros that HEAD reports as received.
    batch = BATCH_BYTES
    data = os.urandom((services.PIPELINE_BATCHES + 2) * batch)
    upload = services.upload_create(
        device_id=session.device.pk, length_bytes=len(data), metadata=services.UploadMetadata(sha256=sha256_hex(data))
    )
    started = services.upload_append_begin(upload=upload, offset_bytes=0, content_length=None, checksum=None)
    assert isinstance(started, services.AppendSession)
    part = services.upload_part_path(upload_id=upload.id)
    gate = threading.Event()
    blockers = [services._write_pool.submit(gate.wait) for _ in range(services._write_pool._max_workers)]

    async def scenario() -> None:
        waiting = asyncio.Event()
        sent = {"count": 0}

        async def receive() -> dict[str, Any]:
            if sent["count"] == services.PIPELINE_BATCHES:
                waiting.set()  # this batch waits for room: the oldest queued one has to be written first
            elif sent["count"] > services.PIPELINE_BATCHES:
                await asyncio.Event().wait()  # never reached: the task is cancelled first
            start = sent["count"] * batch
            sent["count"] += 1
            return {"type": "http.request", "body": data[start : start + batch], "more_body": True}

        task = asyncio.ensure_future(tus_asgi._receive_into(started, receive))
        await waiting.wait()
        await asyncio.sleep(0)  # the task waits on its oldest batch, still queued behind the busy pool
        task.cancel()
        for _ in range(3):  # the cancellation reaches the awaited futures in the next loop iterations
            await asyncio.sleep(0)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        for blocker in blockers:
            blocker.result()
        started.close()
    stored = file_size(part)
    assert stored == services.PIPELINE_BATCHES * batch  # every queued batch, in order
    assert part.read_bytes() == data[:stored]


def patch_scope(session: Any, upload: Upload, data: bytes) -> dict[str, Any]:
    """The ASGI scope of a PATCH sending `data` to `upload` from its start (for tus_asgi._patch directly)."""
    headers = tus_headers(
        session, **{"Upload-Offset": "0", "Content-Type": OFFSET_TYPE, "Content-Length": str(len(data))}
    )
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": f"{UPLOADS_URL}/{upload.id}",
        "raw_path": f"{UPLOADS_URL}/{upload.id}".encode(),
        "query_string": b"",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
    }


def test_a_patch_cancelled_while_it_takes_the_upload_lock_releases_the_lock(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is taken in a worker thread that a cancelled request cannot stop: the session it then
    # returns must still be closed, or its descriptor keeps the flock and every later PATCH gets 423.
    data = photo_bytes(seed=27)
    upload = services.upload_create(
        device_id=session.device.pk, length_bytes=len(data), metadata=services.UploadMetadata(sha256=sha256_hex(data))
    )
    part = services.upload_part_path(upload_id=upload.id)
    locked, release = threading.Event(), threading.Event()
    real_patch_start = tus_views.patch_start

    def patch_start_then_stall(request: Any, upload: Upload) -> Any:
        started = real_patch_start(request, upload)
        locked.set()
        release.wait(timeout=30)  # the request is cancelled meanwhile
        return started

    monkeypatch.setattr(tus_views, "patch_start", patch_start_then_stall)
    scope = patch_scope(session, upload, data)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: Any) -> None:
        pass

    async def scenario() -> None:
        task = asyncio.ensure_future(tus_asgi._patch(scope, receive, send, upload_id=upload.id))
        await asyncio.to_thread(locked.wait, 30)
        assert not part_is_unlocked(part)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        for _ in range(2000):  # the stalled thread returns its session; whoever gets it must close it
            if part_is_unlocked(part):
                return
            await asyncio.sleep(0.01)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        # The cancelled request never reached _finish, which closes the sync thread's connection.
        asyncio.run(sync_to_async(connections.close_all)())
    assert part_is_unlocked(part)
    assert file_size(part) == 0


def test_a_patch_cancelled_while_its_finish_waits_for_the_sync_thread_releases_the_lock(session: Any) -> None:
    # The checksum, the fsync and the completion run in the sync thread every request's database work
    # shares: under load a PATCH's `_finish` waits for its turn there. A request cancelled meanwhile has
    # its pending call cancelled (sync_to_async does that), so `_finish` never runs; its session, the
    # flock with it, must still be closed, or every later PATCH of that upload gets 423.
    data = photo_bytes(seed=28)
    upload = services.upload_create(
        device_id=session.device.pk, length_bytes=len(data), metadata=services.UploadMetadata(sha256=sha256_hex(data))
    )
    part = services.upload_part_path(upload_id=upload.id)
    busy, release = threading.Event(), threading.Event()
    scope = patch_scope(session, upload, data)

    def other_requests_work() -> None:
        busy.set()
        release.wait(timeout=30)

    async def scenario() -> None:
        async def receive() -> dict[str, Any]:
            # The lock is taken: another request's database work now holds the sync thread.
            occupying.append(asyncio.ensure_future(sync_to_async(other_requests_work)()))
            await asyncio.to_thread(busy.wait, 30)
            return {"type": "http.request", "body": data, "more_body": False}

        async def send(message: Any) -> None:
            pass

        occupying: list[asyncio.Future[None]] = []
        task = asyncio.ensure_future(tus_asgi._patch(scope, receive, send, upload_id=upload.id))
        while not occupying:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the body is written; `_finish` waits behind the other request's work
        assert not part_is_unlocked(part)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await occupying[0]
        for _ in range(500):
            if part_is_unlocked(part):
                return
            await asyncio.sleep(0.01)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        asyncio.run(sync_to_async(connections.close_all)())
    assert part_is_unlocked(part)
    assert file_size(part) == len(data)  # the body was received whole: kept, a true prefix (tus resumes)
    assert part.read_bytes() == data


# --- streaming and memory -------------------------------------------------------------------------


def test_a_50_mb_patch_is_written_while_it_arrives_and_server_memory_stays_flat(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = os.urandom(50 * 1024 * 1024)  # not an image: completion refuses it, which is not the point here
    server = servers(extra_env={"FIELDSYNC_UPLOAD_MAX_BYTES": str(64 * 1024 * 1024)})
    path = create_upload(server, session, data)
    part = part_file(server, path)
    peak_before = vm_hwm_bytes(server.pid)
    request = slow_patch(server, session, path, offset=0, length=len(data))
    half = len(data) // 2
    for start in range(0, half, 1024 * 1024):
        request.send(data[start : start + 1024 * 1024])

    # Every whole batch of the first half is written; the rest (less than a batch and a chunk) waits
    # for the bytes that complete its aligned end.
    wait_until(lambda: file_size(part) >= half - 2 * BATCH_BYTES, what="half the body on disk mid-request")
    growth_mid_request = vm_hwm_bytes(server.pid) - peak_before
    sender = send_in_background(request, data[half:])
    status, headers, _ = request.response()
    sender.join(timeout=10)
    request.close()

    assert status == 415  # every byte arrived and matched the declared sha256; then the format check
    assert headers["fieldsync-error-code"] == "image_format_not_allowed"
    growth = vm_hwm_bytes(server.pid) - peak_before
    # Flat through completion too: the sha256 was computed while the bytes arrived (or is streamed from
    # disk) and the format is refused from the file's first bytes, so the 50 MB are never in memory.
    assert growth_mid_request < 32 * 1024 * 1024, growth_mid_request
    assert growth < 32 * 1024 * 1024, growth


# --- concurrency ----------------------------------------------------------------------------------


def test_a_second_patch_while_one_is_streaming_gets_423_and_the_first_completes(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = photo_bytes(seed=23, size=(2000, 1500))
    server = servers()
    path = create_upload(server, session, data)
    part = part_file(server, path)
    first = slow_patch(server, session, path, offset=0, length=len(data))
    first.send(data[:BATCH_BYTES])
    wait_until(lambda: file_size(part) >= BATCH_BYTES, what="the first PATCH to be writing")

    second = patch(server, session, path, data[:1000], 0)

    assert second.status_code == 423
    assert second.json()["code"] == "upload_locked"
    assert file_size(part) == BATCH_BYTES
    first.send(data[BATCH_BYTES:])
    status, headers, _ = first.response()
    first.close()
    assert status == 204
    assert headers["fieldsync-photo-sha256"] == sha256_hex(data)
    assert_photo_stored(server, data)


def test_a_chunked_body_longer_than_the_rest_of_the_upload_is_413_and_keeps_only_the_earlier_patches(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = photo_bytes(seed=28, size=(1600, 1200))
    server = servers()
    path = create_upload(server, session, data)
    part = part_file(server, path)
    assert patch(server, session, path, data[:12_345], 0).status_code == 204

    def body() -> Iterator[bytes]:  # no Content-Length: the server finds the excess while receiving
        rest = data[12_345:] + b"x" * 5000
        for start in range(0, len(rest), 100_003):
            yield rest[start : start + 100_003]

    oversize = httpx.patch(
        f"{server.base_url}{path}",
        content=body(),
        headers=tus_headers(session, **{"Upload-Offset": "12345", "Content-Type": OFFSET_TYPE}),
        timeout=60,
    )

    assert oversize.status_code == 413, oversize.text
    assert oversize.json()["code"] == "upload_too_large"
    wait_until(lambda: part_is_unlocked(part), what="the refused PATCH to end")
    assert part.read_bytes() == data[:12_345]
    assert head_offset(server, session, path) == 12_345
    done = patch(server, session, path, data[12_345:], 12_345)
    assert done.status_code == 204, done.text
    assert_photo_stored(server, data)


def test_a_checksum_patch_cut_by_the_client_mid_batch_keeps_nothing_and_a_termination_meanwhile_gets_423(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = photo_bytes(seed=29, size=(2000, 1500))
    server = servers()
    path = create_upload(server, session, data)
    part = part_file(server, path)
    assert patch(server, session, path, data[:7777], 0).status_code == 204
    digest = base64.b64encode(hashlib.sha256(data[7777:]).digest()).decode()
    request = SlowRequest(
        port=server.port,
        method="PATCH",
        path=path,
        headers=tus_headers(
            session,
            **{
                "Upload-Offset": "7777",
                "Content-Type": OFFSET_TYPE,
                "Content-Length": str(len(data) - 7777),
                "Upload-Checksum": f"sha256 {digest}",
            },
        ),
    )
    cut_at = 7777 + BATCH_BYTES + 50_001  # a batch written, the next one part-received
    for start in range(7777, cut_at, PIECE_BYTES):
        request.send(data[start : min(start + PIECE_BYTES, cut_at)])
    wait_until(lambda: file_size(part) > 7777, what="the first batch on disk")
    terminated = httpx.delete(f"{server.base_url}{path}", headers=tus_headers(session))
    assert terminated.status_code == 423
    assert terminated.json()["code"] == "upload_locked"

    request.close()
    wait_until(lambda: part_is_unlocked(part), what="the cut PATCH to end")

    assert part.read_bytes() == data[:7777]  # unverifiable: dropped; the earlier PATCH kept
    assert head_offset(server, session, path) == 7777
    done = patch(server, session, path, data[7777:], 7777, **{"Upload-Checksum": f"sha256 {digest}"})
    assert done.status_code == 204, done.text
    assert_photo_stored(server, data)


def test_many_concurrent_uploads_in_unaligned_patches_share_the_write_threads_and_all_complete(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    server = servers()
    uploads = [photo_bytes(seed=40 + index, size=(1400, 1000)) for index in range(10)]
    paths = [create_upload(server, session, data) for data in uploads]
    results: dict[int, list[int]] = {}
    seen_offsets: dict[int, list[int]] = {index: [] for index in range(len(uploads))}

    def upload(index: int) -> None:
        rng = random.Random(index)
        data, path = uploads[index], paths[index]
        offset, statuses = 0, []
        while offset < len(data):
            size = rng.randrange(1, 1_500_000)
            body = data[offset : offset + size]
            extra = {}
            if rng.random() < 0.4:
                extra["Upload-Checksum"] = f"sha1 {base64.b64encode(hashlib.sha1(body).digest()).decode()}"
            response = patch(server, session, path, body, offset, **extra)
            statuses.append(response.status_code)
            offset = int(response.headers["Upload-Offset"])
            seen_offsets[index].append(head_offset(server, session, path))
        results[index] = statuses

    threads = [threading.Thread(target=upload, args=(index,)) for index in range(len(uploads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert sorted(results) == list(range(len(uploads)))
    assert all(set(statuses) == {204} for statuses in results.values()), results
    assert sorted(Photo.objects.values_list("sha256", flat=True)) == sorted(sha256_hex(data) for data in uploads)
    assert Upload.objects.filter(state=UploadState.COMPLETE).count() == len(uploads)
    for index, data in enumerate(uploads):
        assert seen_offsets[index][-1] == len(data)
        assert seen_offsets[index] == sorted(seen_offsets[index])
        sha = sha256_hex(data)
        assert (server.media_root / "blobs" / sha[:2] / sha[2:4] / sha).read_bytes() == data


# --- the same answers as the Django view ---------------------------------------------------------


def test_streamed_patch_answers_errors_like_the_django_view(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    data = photo_bytes(seed=24)
    server = servers()
    path = create_upload(server, session, data)
    url = f"{server.base_url}{path}"

    unauthenticated = httpx.patch(
        url, content=data[:10], headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
    )
    no_version = httpx.patch(
        url,
        content=data[:10],
        headers={"Authorization": f"Bearer {session.access_token}", "Upload-Offset": "0", "Content-Type": OFFSET_TYPE},
    )
    wrong_type = patch(server, session, path, data[:10], 0, **{"Content-Type": "application/octet-stream"})
    first = patch(server, session, path, data[:1000], 0)
    stale = patch(server, session, path, data[500:900], 500)
    wrong_sum = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    bad_checksum = patch(server, session, path, data[1000:3000], 1000, **{"Upload-Checksum": f"sha1 {wrong_sum}"})
    override = httpx.post(
        url,
        content=data[1000:],
        headers=tus_headers(
            session, **{"Upload-Offset": "1000", "Content-Type": OFFSET_TYPE, "X-HTTP-Method-Override": "PATCH"}
        ),
    )
    replay = patch(server, session, path, b"", len(data))

    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["code"] == "auth_required"
    assert no_version.status_code == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"
    assert wrong_type.status_code == 415
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "1000"
    assert first.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in first.headers
    assert stale.status_code == 409
    assert stale.headers["Upload-Offset"] == "1000"
    assert stale.json() == {
        "code": "upload_offset_mismatch",
        "message": "Upload-Offset does not match the bytes the server holds; send HEAD and resume.",
        "details": {"offset_bytes": 1000},
    }
    assert bad_checksum.status_code == 460
    assert bad_checksum.json()["code"] == "upload_checksum_mismatch"
    assert override.status_code == 204
    assert override.headers["Fieldsync-Photo-Sha256"] == sha256_hex(data)
    assert replay.status_code == 204
    assert replay.headers["Fieldsync-Photo-Id"] == override.headers["Fieldsync-Photo-Id"]
    assert_photo_stored(server, data)


# --- the real tus client --------------------------------------------------------------------------


def test_tuspy_resumes_through_a_proxy_that_cuts_every_connection(
    servers: Callable[..., ServerProcess], session: Any
) -> None:
    from tusclient import client as tus_client

    data = photo_bytes(seed=25, size=(1600, 1200))  # ~1.7 MB
    digest = sha256_hex(data)
    server = servers()
    with CuttingProxy(upstream_port=server.port, cut_after_bytes=300_000) as proxy:
        tus = tus_client.TusClient(
            f"http://127.0.0.1:{proxy.port}{UPLOADS_URL}", headers={"Authorization": f"Bearer {session.access_token}"}
        )
        uploader = tus.uploader(
            file_stream=io.BytesIO(data),
            chunk_size=1024 * 1024,
            metadata={"sha256": digest, "filename": "checkpoint.jpg", "record_table": "checks", "record_id": "r1"},
            retries=100,
            retry_delay=0,
        )

        uploader.upload()

    assert uploader.offset == len(data)
    assert proxy.cut_count >= len(data) // 300_000  # every PATCH of a full chunk was cut at least once
    assert Photo.objects.get().sha256 == digest
    assert_photo_stored(server, data)
