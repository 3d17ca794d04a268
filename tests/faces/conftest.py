"""Fixtures for the pure face pipeline tests: real LFW photos read from the shared folder, never copied.

These tests do not need Django; nothing here imports it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def _faces_dir() -> Path:
    configured = os.environ.get("FIELDSYNC_FACES_DIR")
    return Path(configured) if configured else REPOSITORY_ROOT.parent / "shared" / "data" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """The labelled LFW subset. Missing: a failure in CI (CI=true), a skip elsewhere."""
    folder = _faces_dir()
    if not (folder / "manifest.csv").is_file():
        message = (
            f"the shared face photos are missing at {folder} (set FIELDSYNC_FACES_DIR or provide "
            "../shared/data/faces); the face pipeline tests need real photos"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def photo_bytes(faces_dir: Path) -> Callable[[str], bytes]:
    """``photo_bytes("Identity/0001.jpg")`` -> the file's bytes."""

    def read(relative_path: str) -> bytes:
        return (faces_dir / relative_path).read_bytes()

    return read


@pytest.fixture(scope="session")
def photo_image(photo_bytes: Callable[[str], bytes]) -> Callable[[str], Image.Image]:
    """``photo_image("Identity/0001.jpg")`` -> an RGB Pillow image of that photo."""

    def load(relative_path: str) -> Image.Image:
        with Image.open(io.BytesIO(photo_bytes(relative_path))) as image:
            return image.convert("RGB")

    return load


def encode_image(image: Image.Image, image_format: str, **options: object) -> bytes:
    """Serialise a Pillow image to bytes in ``image_format``."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()
