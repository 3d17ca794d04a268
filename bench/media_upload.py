"""tus upload throughput on loopback vs a raw write of the same bytes to the same disk, and the server's
peak memory during a 50 MB upload.

A real `manage.py serve` subprocess (uvicorn, the streaming tus PATCH route; tests/media_store/live.py)
on 127.0.0.1 with its database and media folder in `--data-dir`. For each payload, side by side in one
run (median of `--runs`):

* tus: POST (creation), then the body in one PATCH (what tuspy and tus-js-client send by default:
  their chunk size is unlimited) or in `--chunk-mb` PATCHes (a cautious phone app), over one
  keep-alive connection, until the server answers the last PATCH (by then it has appended, fsynced,
  checked the whole file against the declared sha256 and run the image checks);
* raw: the same bytes written to a file in the same media folder, in 1 MiB writes, fsynced once.

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
import sys
import time
from base64 import b64encode
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


def tus_upload(*, port: int, token: str, data: bytes, chunk_bytes: int) -> tuple[float, int]:
    """Create and send `data`; returns (seconds, status of the last PATCH)."""
    metadata = f"sha256 {b64encode(hashlib.sha256(data).hexdigest().encode()).decode()}"
    common = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
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
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, status


def raw_write(*, folder: Path, data: bytes) -> float:
    target = folder / "raw-write.bin"
    view = memoryview(data)
    started = time.perf_counter()
    with target.open("wb") as handle:
        for start in range(0, len(data), MIB):
            handle.write(view[start : start + MIB])
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


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
        _, memory_status = tus_upload(port=server.port, token=token, data=big, chunk_bytes=len(big))
        hwm_after = vm_hwm_bytes(server.pid)
    finally:
        server.kill()

    server = ServerProcess(media_root=media, log_path=data_dir / "server.log", extra_env=env).start()
    cases = (
        ("50 MB random", "one PATCH", big, len(big), 415),
        ("50 MB random", f"{args.chunk_mb:g} MiB PATCHes", big, chunk_bytes, 415),
        ("phone JPEG", "one PATCH", photo, len(photo), 204),
    )
    rows = []
    try:
        for label, how, data, case_chunk_bytes, expected in cases:
            tus_times, raw_times = [], []
            for run in range(args.runs + 1):  # the first run warms caches and is dropped
                # A new sha256 each run (bytes already stored would be linked to their Photo without any
                # decoding): fresh random bytes, or the same JPEG with a different comment segment.
                payload = os.urandom(len(data)) if expected == 415 else with_comment(data, f"run {run}")
                seconds, status = tus_upload(port=server.port, token=token, data=payload, chunk_bytes=case_chunk_bytes)
                if status != expected:
                    raise RuntimeError(f"{label}: last PATCH answered {status}, expected {expected}")
                raw = raw_write(folder=media, data=payload)
                if run:
                    tus_times.append(seconds)
                    raw_times.append(raw)
            rows.append((label, how, len(data), statistics.median(tus_times), statistics.median(raw_times)))
    finally:
        server.kill()

    print(f"tus upload on loopback vs raw write + fsync of the same bytes, median of {args.runs} runs ({data_dir})")
    print(f"{'payload':<14} {'tus requests':<16} {'size MB':>8} {'tus MB/s':>9} {'raw MB/s':>9} {'tus/raw':>8}")
    for label, how, size, tus_seconds, raw_seconds in rows:
        tus_rate, raw_rate, ratio = size / 1e6 / tus_seconds, size / 1e6 / raw_seconds, raw_seconds / tus_seconds
        print(f"{label:<14} {how:<16} {size / 1e6:>8.1f} {tus_rate:>9.1f} {raw_rate:>9.1f} {ratio:>8.1%}")
    ratio = rows[0][4] / rows[0][3]
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
