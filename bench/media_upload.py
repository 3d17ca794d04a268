"""tus upload throughput on loopback vs a raw write of the same bytes to the same disk, and the server's
peak memory during a 50 MB upload.

A real `manage.py serve` subprocess (uvicorn, the streaming tus PATCH route; tests/media_store/live.py)
on 127.0.0.1 with its database and media folder in `--data-dir`. For each payload, side by side in one
run (median of `--runs`):

* tus: POST (creation), then the body in one PATCH (what tuspy and tus-js-client send by default:
  their chunk size is unlimited) or in `--chunk-mb` PATCHes (a cautious phone app), over one
  keep-alive connection, until the server answers the last PATCH (by then it has appended, fsynced,
  checked the whole file against the declared sha256 and run the image checks);
* raw: the same bytes written to a file in the same media folder, in 1 MiB writes, fsynced once;
* ceiling (50 MB, one request): the same bytes, same client, to a minimal ASGI app on the same uvicorn
  (bench/support/upload_ceiling.py: no Django, no tus), which drops the body (`discard`), or writes it
  with sha256 and one fsync inline (`+sha+fsync`) or with media_store.part_file's writer (staging and
  hashing lane, direct-I/O disk lane) as tus_asgi does (`pipelined`). These are the floors the real
  endpoint's figure sits on.

Besides wall-clock MB/s (noisy on a shared machine) each row gives the median CPU time the server
process and the client spent per upload (from /proc/PID/stat and time.process_time), and the run
names the HTTP parser and event loop the servers loaded (from /proc/PID/maps).

Payloads: `50 MB random` (not an image: the server stores and verifies every byte, then refuses it by
format with 415, so image decoding is not in the figure) and `phone JPEG` (a 4000x3000 photo, accepted:
decoding and both derivatives included; bench/media_imaging.py measures that part). Peak memory is
VmHWM of a fresh server process before and after one 50 MB upload.

    uv run python bench/media_upload.py [--runs 5] [--chunk-mb 5] [--data-dir /tmp/fieldsync-upload-bench]

Target: tus throughput >= 50% of the raw write (50 MB payload, one PATCH); server memory growth for the 50 MB
upload < 32 MiB (flat: the body is streamed to disk, never held).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

RATIO_TARGET = 0.50
MEMORY_TARGET_BYTES = 32 * 1024 * 1024
MIB = 1024 * 1024


def phone_jpeg() -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    height, width = 3000, 4000
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack(
        [
            128 + 100 * np.sin(x / 310.0) * np.cos(y / 170.0),
            128 + 90 * np.cos(x / 230.0 + y / 410.0),
            128 + 80 * np.sin((x + y) / 520.0),
        ],
        axis=-1,
    )
    noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same JPEG (same pixels, same decoding work) with a COM segment after SOI: another sha256."""
    payload = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def loaded_implementations(pid: int) -> str:
    """Which HTTP parser and event loop a uvicorn process runs (their extension modules are mapped)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    http = "httptools" if "/httptools/" in maps else "h11"
    loop = "uvloop" if "/uvloop/" in maps else "asyncio"
    return f"{http} + {loop}"


class CeilingServer:
    """bench/support/upload_ceiling.py in a subprocess (see its docstring)."""

    def __init__(self, *, folder: Path, log_path: Path) -> None:
        from tests.media_store.live import free_port

        self.port = free_port()
        script = REPOSITORY_ROOT / "bench" / "support" / "upload_ceiling.py"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(script), str(self.port)],
                env={**os.environ, "FIELDSYNC_CEILING_DIR": str(folder)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ceiling server exited with {self.process.returncode}: see {log_path}")
            try:
                self.upload(route="/discard", data=b"x")
                return
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("ceiling server did not start")

    @property
    def pid(self) -> int:
        return self.process.pid

    def upload(self, *, route: str, data: bytes) -> tuple[float, float]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        started, started_cpu = time.perf_counter(), time.process_time()
        connection.request("PUT", route, body=memoryview(data), headers={"Content-Length": str(len(data))})
        reply = connection.getresponse()
        answer = reply.read()
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        connection.close()
        if reply.status != 200 or int(answer.split()[0]) != len(data):
            raise RuntimeError(f"ceiling {route}: {reply.status} {answer[:80]!r}")
        return seconds, cpu

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Timing:
    """One side of a row: wall seconds, server CPU seconds and client CPU seconds of each run."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.server_cpu: list[float] = []
        self.client_cpu: list[float] = []

    def measure(self, upload: Callable[[], tuple[float, float]], *, server_pid: int | None) -> None:
        """`upload()` returns its (wall seconds, client CPU seconds)."""
        server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        seconds, client_cpu = upload()
        self.server_cpu.append(process_cpu_seconds(server_pid) - server_before if server_pid else 0.0)
        self.wall.append(seconds)
        self.client_cpu.append(client_cpu)

    def drop_first(self) -> None:
        for values in (self.wall, self.server_cpu, self.client_cpu):
            del values[0]


def tus_upload(*, port: int, token: str, data: bytes, chunk_bytes: int) -> tuple[float, int, float]:
    """Create and send `data`; returns (seconds, status of the last PATCH, client CPU seconds)."""
    metadata = f"sha256 {b64encode(hashlib.sha256(data).hexdigest().encode()).decode()}"
    common = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started, started_cpu = time.perf_counter(), time.process_time()
    connection.request(
        "POST",
        "/api/v1/media/uploads",
        headers={**common, "Upload-Length": str(len(data)), "Upload-Metadata": metadata, "Content-Length": "0"},
    )
    created = connection.getresponse()
    created.read()
    if created.status != 201:
        raise RuntimeError(f"creation failed: {created.status}")
    path = urlparse(created.headers["Location"]).path
    view = memoryview(data)
    offset, status = 0, 0
    while offset < len(data):
        body = view[offset : offset + chunk_bytes]
        connection.request(
            "PATCH",
            path,
            body=body,
            headers={
                **common,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(len(body)),
            },
        )
        reply = connection.getresponse()
        reply.read()
        status = reply.status
        if status == 204:
            offset = int(reply.headers["Upload-Offset"])
        elif offset + len(body) == len(data):
            break  # the last PATCH: the server stored every byte and then refused the content
        else:
            raise RuntimeError(f"PATCH at {offset} failed: {status}")
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    connection.close()
    return seconds, status, cpu


REQUEST_SAMPLES = 40


def request_cpu_milliseconds(*, port: int, pid: int, token: str) -> dict[str, float]:
    """Server CPU per tus request of a 1 kB upload (the fixed cost of an upload, whatever its size).

    PATCH: the whole 1 kB in one request, completing the upload (random bytes: refused with 415 after
    the checks, as the 50 MB case)."""
    common = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> http.client.HTTPResponse:
        connection.request(method, path, body=body, headers={**common, **headers, "Content-Length": str(len(body))})
        reply = connection.getresponse()
        reply.read()
        return reply

    def create(data: bytes) -> str:
        metadata = f"sha256 {b64encode(hashlib.sha256(data).hexdigest().encode()).decode()}"
        reply = call("POST", "/api/v1/media/uploads", {"Upload-Length": str(len(data)), "Upload-Metadata": metadata})
        return urlparse(reply.headers["Location"]).path

    payloads = [os.urandom(1000) for _ in range(REQUEST_SAMPLES)]
    seconds: dict[str, float] = {}
    before = process_cpu_seconds(pid)
    for _ in payloads:
        call("OPTIONS", "/api/v1/media/uploads", {})
    seconds["OPTIONS"] = process_cpu_seconds(pid) - before
    before = process_cpu_seconds(pid)
    paths = [create(data) for data in payloads]
    seconds["POST"] = process_cpu_seconds(pid) - before
    before = process_cpu_seconds(pid)
    for path in paths:
        call("HEAD", path, {})
    seconds["HEAD"] = process_cpu_seconds(pid) - before
    before = process_cpu_seconds(pid)
    for path, data in zip(paths, payloads, strict=True):
        headers = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        if call("PATCH", path, headers, data).status != 415:
            raise RuntimeError("the 1 kB PATCH was not refused by format")
    seconds["PATCH"] = process_cpu_seconds(pid) - before
    connection.close()
    return {name: total / REQUEST_SAMPLES * 1000 for name, total in seconds.items()}


def raw_write(*, folder: Path, data: bytes) -> tuple[float, float]:
    """Returns (wall seconds, CPU seconds)."""
    target = folder / "raw-write.bin"
    view = memoryview(data)
    started, started_cpu = time.perf_counter(), time.process_time()
    with target.open("wb") as handle:
        for start in range(0, len(data), MIB):
            handle.write(view[start : start + MIB])
        handle.flush()
        os.fsync(handle.fileno())
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    target.unlink()
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk-mb", type=float, default=5.0)
    parser.add_argument("--data-dir", default="/tmp/fieldsync-upload-bench")
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    os.environ["FIELDSYNC_DATA_DIR"] = str(data_dir)
    os.environ["FIELDSYNC_MEDIA_ROOT"] = str(data_dir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from backend.accounts.models import Officer, Unit
    from backend.accounts.services import device_enroll, enrollment_code_issue, officer_login
    from tests.media_store.live import ServerProcess, vm_hwm_bytes

    call_command("migrate", verbosity=0)
    unit = Unit.objects.create(code="BENCH", name="Bench unit")
    officer = Officer(username="bench.upload", role="patrol_officer", unit=unit)
    officer.set_password("bench-password-upload")
    officer.save()
    issued = enrollment_code_issue(actor=None, unit=unit, label="bench")
    enrolled = device_enroll(code=issued.code, label="bench")
    token = officer_login(
        device_id=str(enrolled.device.id),
        device_credential=enrolled.device_credential,
        username=officer.username,
        password="bench-password-upload",
    ).access_token
    media = data_dir / "media"
    media.mkdir(exist_ok=True)
    chunk_bytes = int(args.chunk_mb * MIB)
    big = os.urandom(50 * MIB)
    photo = phone_jpeg()
    env = {"FIELDSYNC_UPLOAD_MAX_BYTES": str(64 * MIB), "FIELDSYNC_UPLOAD_DEVICE_QUOTA_BYTES": str(4096 * MIB)}

    # Memory: a fresh server, one 50 MB upload.
    server = ServerProcess(media_root=media, log_path=data_dir / "server-memory.log", extra_env=env).start()
    try:
        tus_upload(
            port=server.port, token=token, data=b"\xff\xd8\xff" + os.urandom(100_000), chunk_bytes=chunk_bytes
        )  # warm
        hwm_before = vm_hwm_bytes(server.pid)
        _, memory_status, _ = tus_upload(port=server.port, token=token, data=big, chunk_bytes=len(big))
        hwm_after = vm_hwm_bytes(server.pid)
    finally:
        server.kill()

    server = ServerProcess(media_root=media, log_path=data_dir / "server.log", extra_env=env).start()
    ceiling = CeilingServer(folder=media, log_path=data_dir / "ceiling.log")
    cases = (
        ("50 MB random", "one PATCH", big, len(big), 415),
        ("50 MB random", f"{args.chunk_mb:g} MiB PATCHes", big, chunk_bytes, 415),
        ("phone JPEG", "one PATCH", photo, len(photo), 204),
    )
    rows = []  # (label, how, size, Timing of the upload, Timing of the raw write)
    try:
        implementations = loaded_implementations(server.pid), loaded_implementations(ceiling.pid)
        for index, (label, how, data, case_chunk_bytes, expected) in enumerate(cases):
            tus, raw = Timing(), Timing()
            floors = {"/discard": Timing(), "/store": Timing(), "/pipelined": Timing()} if index == 0 else {}
            for _ in range(args.runs + 1):  # the first run warms caches and is dropped
                # A new sha256 each run (bytes already stored would be linked to their Photo without any
                # decoding): fresh random bytes, or the same JPEG with a different comment segment.
                payload = os.urandom(len(data)) if expected == 415 else with_comment(data, f"run {_}")
                replies: list[int] = []

                def upload(
                    payload: bytes = payload, chunk: int = case_chunk_bytes, replies: list[int] = replies
                ) -> tuple[float, float]:
                    seconds, status, cpu = tus_upload(port=server.port, token=token, data=payload, chunk_bytes=chunk)
                    replies.append(status)
                    return seconds, cpu

                tus.measure(upload, server_pid=server.pid)
                if replies[0] != expected:
                    raise RuntimeError(f"{label}: last PATCH answered {replies[0]}, expected {expected}")
                raw.measure(lambda payload=payload: raw_write(folder=media, data=payload), server_pid=None)
                for route, timing in floors.items():
                    timing.measure(
                        lambda route=route, payload=payload: ceiling.upload(route=route, data=payload),
                        server_pid=ceiling.pid,
                    )
            for timing in (tus, raw, *floors.values()):
                timing.drop_first()
            rows.append((label, f"tus, {how}", len(data), tus, raw))
            if floors:
                rows.append((label, "ceiling: discard", len(data), floors["/discard"], raw))
                rows.append((label, "ceiling: +sha+fsync", len(data), floors["/store"], raw))
                rows.append((label, "ceiling: pipelined", len(data), floors["/pipelined"], raw))
        per_request = request_cpu_milliseconds(port=server.port, pid=server.pid, token=token)
    finally:
        ceiling.kill()
        server.kill()

    median = statistics.median
    print(f"tus upload on loopback vs raw write + fsync of the same bytes, median of {args.runs} runs ({data_dir})")
    print(f"servers: tus {implementations[0]}, ceiling {implementations[1]} (extension modules mapped)")
    print(
        f"{'payload':<13} {'requests':<22} {'MB':>5} {'MB/s':>7} {'raw MB/s':>9} {'of raw':>7} "
        f"{'server CPU ms':>13} {'client CPU ms':>13}"
    )
    for label, how, size, timing, raw in rows:
        seconds, raw_seconds = median(timing.wall), median(raw.wall)
        print(
            f"{label:<13} {how:<22} {size / 1e6:>5.1f} {size / 1e6 / seconds:>7.1f} {size / 1e6 / raw_seconds:>9.1f} "
            f"{raw_seconds / seconds:>7.1%} {median(timing.server_cpu) * 1000:>13.0f} "
            f"{median(timing.client_cpu) * 1000:>13.0f}"
        )
    print(
        f"server CPU per request, {REQUEST_SAMPLES} each, 1 kB uploads: "
        + ", ".join(f"{name} {milliseconds:.1f} ms" for name, milliseconds in per_request.items())
    )
    ratio = median(rows[0][4].wall) / median(rows[0][3].wall)
    growth = hwm_after - hwm_before
    print(
        f"server VmHWM: {hwm_before / MIB:.1f} MiB before, {hwm_after / MIB:.1f} MiB after one 50 MB upload "
        f"(last PATCH {memory_status}); growth {growth / MIB:.1f} MiB"
    )
    verdict = "MET" if ratio >= RATIO_TARGET else "NOT MET"
    print(f"throughput target tus/raw >= {RATIO_TARGET:.0%} (50 MB, one PATCH): {ratio:.1%} {verdict}")
    verdict = "MET" if growth < MEMORY_TARGET_BYTES else "NOT MET"
    print(f"memory target growth < {MEMORY_TARGET_BYTES / MIB:.0f} MiB: {growth / MIB:.1f} MiB {verdict}")


if __name__ == "__main__":
    main()
