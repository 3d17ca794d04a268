"""Checking and deriving a 12-megapixel phone photo: `inspect_and_derive` vs a naive Pillow pipeline.

The naive side is what most code does: open, decode at full size, exif_transpose, resize, save twice
(and it checks nothing). Ours additionally walks the container, decodes strictly and reads EXIF, but
lets libjpeg decode straight at a reduced scale. Both start from the same file on disk and end with the
same two JPEGs. The photo is generated in a temporary folder (a smooth scene plus sensor-like noise,
about the size a phone writes).

    uv run python bench/media_imaging.py [--runs N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

from media_store.imaging import _check_container, _sniff_format, inspect_and_derive  # noqa: E402


def phone_like_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    rng = np.random.default_rng(0)
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
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8769] = {0x9003: "2025:08:14 06:05:04"}
    exif[0x8825] = {1: "N", 2: (21.0, 50.0, 30.0), 3: "E", 4: (106.0, 45.0, 0.0)}
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def naive(path: Path, out_dir: Path) -> None:
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    display = image.copy()
    display.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
    display.save(out_dir / "naive_display.jpg", quality=85)
    thumb = display.copy()
    thumb.thumbnail((256, 256), Image.Resampling.LANCZOS)
    thumb.save(out_dir / "naive_thumb.jpg", quality=85)


def median_seconds(run: Callable[[], object], runs: int) -> float:
    run()  # warm up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    data = phone_like_jpeg()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        path.write_bytes(data)
        out_dir = Path(folder) / "out"
        out_dir.mkdir()
        ours = median_seconds(lambda: inspect_and_derive(path, out_dir=out_dir), runs)
        baseline = median_seconds(lambda: naive(path, out_dir), runs)
        walk = median_seconds(lambda: _check_container(data, image_format=_sniff_format(data), flags=set()), runs)
    print(f"photo: 4000x3000 JPEG, {len(data) / 1e6:.1f} MB, median of {runs} runs")
    print(f"inspect_and_derive: {ours * 1000:.0f} ms   naive full-size pipeline: {baseline * 1000:.0f} ms")
    print(f"ratio naive / ours: {baseline / ours:.2f}x")
    print(f"container walk: {walk * 1000:.1f} ms = {walk / ours:.1%} of inspect_and_derive")


if __name__ == "__main__":
    main()
