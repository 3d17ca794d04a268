"""Plain factory functions for the media tests: photos made on the fly and tus requests."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.test import Client
from PIL import Image

UPLOADS_URL = "/api/v1/media/uploads"
OFFSET_TYPE = "application/offset+octet-stream"


def photo_bytes(*, seed: int = 1, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG with GPS and capture time in its EXIF, random pixels so it does not compress away."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2025:08:14 06:05:04", 0x9011: "+07:00"}
    exif[0x8825] = {1: "N", 2: (21.0, 50.0, 30.0), 3: "E", 4: (106.0, 45.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tus_metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def tus_headers(session: Any, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {session.access_token}", "Tus-Resumable": "1.0.0", **extra}


def create_upload(client: Client, session: Any, data: bytes, *, declared_sha256: str | None = None) -> str:
    response = post_creation(
        client,
        tus_headers(
            session,
            **{
                "Upload-Length": str(len(data)),
                "Upload-Metadata": tus_metadata(
                    sha256=declared_sha256 or sha256_hex(data),
                    filename="ảnh kiểm tra.jpg",
                    record_table="checks",
                    record_id="c7Yq2mLx9aB3dE4f",
                ),
            },
        ),
    )
    assert response.status_code == 201, response.content
    return str(response["Location"])


def post_creation(client: Client, headers: dict[str, str]) -> Any:
    """A creation request as tus clients send it: no body."""
    return client.generic("POST", UPLOADS_URL, data=b"", headers=headers)


def patch(client: Client, session: Any, location: str, chunk: bytes, offset: int, **extra: str) -> Any:
    content_type = extra.pop("content_type", OFFSET_TYPE)
    return client.generic(
        "PATCH",
        location,
        data=chunk,
        content_type=content_type,
        headers=tus_headers(session, **{"Upload-Offset": str(offset), **extra}),
        CONTENT_TYPE=content_type,  # the test client drops content_type for an empty body
    )


def head(client: Client, session: Any, location: str) -> Any:
    return client.head(location, headers=tus_headers(session))


def upload_id_of(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[1]


def part_path(location: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads" / f"{upload_id_of(location)}.part"


def blob_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def envelope(response: Any) -> dict[str, Any]:
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "details"}
    return dict(body)


def pwrite_filling_the_disk_after(budget_bytes: int) -> Callable[[int, Any, int], int]:
    """An `os.pwrite` for monkeypatching: it really writes until `budget_bytes` have gone (the write
    that crosses the budget is cut short), then raises ENOSPC, as a disk filling up does."""
    real_pwrite = os.pwrite
    budget = {"bytes": budget_bytes}

    def pwrite(descriptor: int, payload: Any, offset: int) -> int:
        if budget["bytes"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = real_pwrite(descriptor, memoryview(payload)[: budget["bytes"]], offset)
        budget["bytes"] -= count
        return count

    return pwrite
