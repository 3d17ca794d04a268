"""inspect_and_derive against crafted inputs, all generated here (no binary fixtures in the repo).

Every case asserts either a stable error code or the exact properties of the accepted image.
"""

from __future__ import annotations

import io
import struct
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import PIL
import pytest
from PIL import Image, ImageCms, ImageFile, WebPImagePlugin

from media_store.errors import MediaError
from media_store.imaging import (
    CheckedImage,
    DerivativeKind,
    ImageFlag,
    ImageFormat,
    file_sha256,
    inspect_and_derive,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
MIB = 1024 * 1024


# --- crafting helpers (plain functions) -----------------------------------------------------------


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def red_left_blue_right(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def noisy_rgb(width: int, height: int, seed: int = 7) -> Image.Image:
    """Random pixels: JPEG/PNG of these have plenty of entropy-coded bytes to cut."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


def png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", zlib.crc32(chunk_type + payload))


def png_by_hand(
    *, width: int, height: int, bit_depth: int, color_type: int, idat: bytes, extra_chunks: bytes = b""
) -> bytes:
    """A structurally valid PNG (correct CRCs) with whatever header and pixel stream we choose."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra_chunks
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def solid_grey_rows_compressed(*, width: int, height: int) -> bytes:
    """zlib stream of `height` filter-0 rows of zeros, compressed without holding it all in memory."""
    compressor = zlib.compressobj(9)
    row_block = (b"\x00" + b"\x00" * width) * 100
    parts = [compressor.compress(row_block) for _ in range(height // 100)]
    parts.append(compressor.flush())
    return b"".join(parts)


def jpeg_sof_claiming(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose SOF0 header is rewritten to claim `width` x `height` (a tiny file)."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "JPEG"))
    sof = data.index(b"\xff\xc0")
    assert struct.unpack(">HH", data[sof + 5 : sof + 9]) == (16, 16)  # SOF0: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_vp8_frame_claiming(width: int, height: int) -> bytes:
    """A real 16x16 lossy WebP whose VP8 key-frame header is rewritten to claim `width` x `height`."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "WEBP", quality=80))
    assert data[12:16] == b"VP8 " and data[23:26] == b"\x9d\x01\x2a"  # frame tag, then the key-frame start code
    data[26:30] = struct.pack("<HH", width, height)  # 14-bit sizes, scale bits 0
    return bytes(data)


def webp_vp8x_canvas_claiming(width: int, height: int, *, is_animated: bool) -> bytes:
    """An extended WebP (VP8X) whose canvas claims `width` x `height` around one real 16x16 frame."""
    vp8_chunk = encode(Image.new("RGB", (16, 16), RED), "WEBP", quality=80)[12:]
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunks = b"VP8X" + struct.pack("<I", 10) + bytes([0x02 if is_animated else 0, 0, 0, 0]) + canvas
    if is_animated:
        chunks += b"ANIM" + struct.pack("<I", 6) + b"\x00" * 6  # background colour, loop count
        frame = (0).to_bytes(6, "little") + (15).to_bytes(3, "little") * 2 + (100).to_bytes(3, "little") + b"\x00"
        frame += vp8_chunk
        chunks += b"ANMF" + struct.pack("<I", len(frame)) + frame + b"\x00" * (len(frame) & 1)
    else:
        chunks += vp8_chunk
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def webp_vp8l_claiming(width: int, height: int) -> bytes:
    """A real 16x16 lossless WebP whose VP8L header is rewritten to claim `width` x `height`."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L" and data[20] == 0x2F  # chunk, then the VP8L signature byte
    bits = int.from_bytes(data[21:25], "little")  # 14 bits width - 1, 14 bits height - 1, alpha, version
    bits = (bits & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
    data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


def jpeg_segments(data: bytes) -> list[int]:
    """Markers of the segments before the first scan (where metadata lives)."""
    markers, position = [], 2
    while position < len(data):
        assert data[position] == 0xFF
        marker = data[position + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        position += 2 + length
    return markers


def assert_clean_jpeg(path: Path) -> None:
    """No EXIF/XMP (APP1), no ICC (APP2), no other APPn but JFIF, no comment."""
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    markers = jpeg_segments(data)
    metadata_markers = [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE]
    assert metadata_markers == []
    with Image.open(path) as reopened:
        assert reopened.format == "JPEG"
        assert reopened.mode == "RGB"
        assert len(reopened.getexif()) == 0
        assert "exif" not in reopened.info
        assert "icc_profile" not in reopened.info


def pixel(path: Path, xy: tuple[int, int]) -> tuple[int, int, int]:
    with Image.open(path) as image:
        value = image.convert("RGB").getpixel(xy)
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def close_to(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


# --- measuring work without a clock ----------------------------------------------------------------


class PillowCallBudgetExceeded(BaseException):
    """Raised from the profiler: a BaseException, so no `except Exception` in Pillow or in our code swallows it."""


def count_pillow_calls(action: Callable[[], Any], *, budget: int = 200_000) -> tuple[Any, int]:
    """Run `action`, counting the Python function calls made inside Pillow's package (parsing work, not time).

    Past `budget` calls it aborts with PillowCallBudgetExceeded, so an endless parse fails instead of hanging.
    """
    pillow_dir = str(Path(PIL.__file__).parent)
    count = 0

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(pillow_dir):
            count += 1
            if count > budget:
                raise PillowCallBudgetExceeded(f"more than {budget} Python calls inside Pillow")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = action()
    finally:
        sys.setprofile(previous)
    return result, count


def record_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spy (not a stub) on every way pixels get decoded: Pillow's decoder factory, libwebp's animation decoder
    (which Pillow's WebP plugin uses instead) and our own zlib inflater.

    Returns the list the names are appended to; the real functions still run.
    """
    created: list[str] = []
    real_getdecoder, real_decompressobj = Image._getdecoder, zlib.decompressobj
    real_webp_anim_decoder = WebPImagePlugin._webp.WebPAnimDecoder

    def getdecoder(mode: str, decoder_name: str, *args: Any, **kwargs: Any) -> Any:
        created.append(f"pillow:{decoder_name}")
        return real_getdecoder(mode, decoder_name, *args, **kwargs)

    def decompressobj(*args: Any, **kwargs: Any) -> Any:
        created.append("zlib.decompressobj")
        return real_decompressobj(*args, **kwargs)

    def webp_anim_decoder(*args: Any, **kwargs: Any) -> Any:
        created.append("libwebp:anim_decoder")  # Pillow opens every WebP with it; it allocates the canvas
        return real_webp_anim_decoder(*args, **kwargs)

    monkeypatch.setattr(Image, "_getdecoder", getdecoder)
    monkeypatch.setattr(zlib, "decompressobj", decompressobj)
    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", webp_anim_decoder)
    return created


# --- a CMYK colour profile, written by hand ---------------------------------------------------------
# ImageCms.createProfile only makes sRGB, LAB and XYZ, and no CMYK profile ships with this machine's
# packages: this writes a minimal ICC v2 output profile (class prtr, CMYK -> Lab, one 2-point lut16 A2B0)
# whose ink colours are far from Pillow's naive CMYK -> RGB, so a test can tell whether it was applied.

PAPER_WHITE = (255, 255, 255)
PROFILE_INKS = {"c": (0, 174, 239), "m": (236, 0, 140), "y": (255, 242, 0), "k": (35, 31, 32)}  # sRGB of each ink
_D50 = (0.9642, 1.0, 0.8249)


def _srgb_to_lab_d50(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    channels = np.asarray(rgb, dtype=float) / 255
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    srgb_to_xyz_d50 = np.array(
        [[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169], [0.0139322, 0.0971045, 0.7141733]]
    )
    xyz = srgb_to_xyz_d50 @ linear / np.array(_D50)
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def _s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _icc_a2b0_lut16() -> bytes:
    """CMYK -> Lab (ICC v2 16-bit Lab encoding), 2 grid points per ink: each corner multiplies its inks."""
    grid: list[int] = []
    for cyan in (0, 1):
        for magenta in (0, 1):
            for yellow in (0, 1):
                for black in (0, 1):
                    colour = np.array(PAPER_WHITE, dtype=float)
                    for ink, is_on in zip("cmyk", (cyan, magenta, yellow, black), strict=True):
                        if is_on:
                            colour = colour * np.array(PROFILE_INKS[ink]) / 255
                    lightness, a, b = _srgb_to_lab_d50((colour[0], colour[1], colour[2]))
                    grid += [round(lightness / 100 * 0xFF00), round((a + 128) * 256), round((b + 128) * 256)]
    identity = b"".join(_s15fixed16(1.0 if row == column else 0.0) for row in range(3) for column in range(3))
    linear_curve = struct.pack(">2H", 0, 0xFFFF)
    return (
        b"mft2\x00\x00\x00\x00"
        + bytes([4, 3, 2, 0])  # input channels, output channels, grid points, padding
        + identity
        + struct.pack(">HH", 2, 2)  # entries in the input and output curves
        + linear_curve * 4
        + struct.pack(f">{len(grid)}H", *grid)
        + linear_curve * 3
    )


def cmyk_icc_profile() -> bytes:
    description = b"fieldsync test CMYK\x00"
    tags = [
        (b"desc", b"desc\x00\x00\x00\x00" + struct.pack(">I", len(description)) + description + b"\x00" * 79),
        (b"cprt", b"text\x00\x00\x00\x00none\x00"),
        (b"wtpt", b"XYZ \x00\x00\x00\x00" + b"".join(_s15fixed16(v) for v in _D50)),
        (b"A2B0", _icc_a2b0_lut16()),
    ]
    data_start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, payload in tags:
        payload += b"\x00" * (-len(payload) % 4)
        table += signature + struct.pack(">II", data_start + len(body), len(payload))
        body += payload
    header = (
        struct.pack(">I", data_start + len(body))
        + b"\x00" * 4
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"prtrCMYKLab "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 28  # platform, flags, device maker and model, attributes, rendering intent
        + b"".join(_s15fixed16(v) for v in _D50)  # PCS illuminant
        + b"\x00" * 48  # creator, profile id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "derived"


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def _write(data: bytes, name: str = "upload.bin") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture
def lenient_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `import face_recognition` does to the whole process."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)


def refused(path: Path, out_dir: Path, **limits: int) -> MediaError:
    with pytest.raises(MediaError) as caught:
        inspect_and_derive(path, out_dir=out_dir, **limits)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []  # nothing written on refusal
    return caught.value


# --- accepted images -------------------------------------------------------------------------------


def test_jpeg_with_orientation_6_is_rotated_exactly_once(write, out_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored left edge becomes the top
    path = write(encode(red_left_blue_right(800, 400), "JPEG", quality=95, exif=exif), "portrait.jpg")

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert (checked.width, checked.height) == (400, 800)
    assert (checked.display.width, checked.display.height) == (400, 800)  # never upscaled past 1600
    assert (checked.thumb.width, checked.thumb.height) == (128, 256)
    assert close_to(pixel(checked.display.path, (200, 100)), RED)  # top half red: rotated once
    assert close_to(pixel(checked.display.path, (200, 700)), BLUE)
    assert close_to(pixel(checked.thumb.path, (64, 20)), RED)
    for derivative in checked.derivatives:
        assert_clean_jpeg(derivative.path)  # no orientation tag left to be applied a second time
    assert checked.format is ImageFormat.JPEG
    assert checked.flags == frozenset()


def test_jpeg_with_gps_has_position_extracted_and_no_exif_in_derivatives(write, out_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8769] = {0x9003: "2024:05:01 08:30:15", 0x9011: "+07:00", 0x9291: "250"}
    exif[0x8825] = {1: "N", 2: (21.0, 50.0, 30.5), 3: "E", 4: (106.0, 45.0, 15.0)}
    original = encode(noisy_rgb(2400, 1800), "JPEG", quality=90, exif=exif)
    path = write(original, "checkpoint.jpg")

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.gps is not None
    assert checked.gps.latitude == pytest.approx(21 + 50 / 60 + 30.5 / 3600, abs=1e-9)
    assert checked.gps.longitude == pytest.approx(106 + 45 / 60 + 15 / 3600, abs=1e-9)
    assert checked.captured_at == "2024-05-01T08:30:15.250000+07:00"
    assert (checked.width, checked.height) == (2400, 1800)
    assert (checked.display.width, checked.display.height) == (1600, 1200)
    assert (checked.thumb.width, checked.thumb.height) == (256, 192)
    for derivative in checked.derivatives:
        assert_clean_jpeg(derivative.path)
        assert b"PhoneMaker" not in derivative.path.read_bytes()
    assert checked.sha256 == file_sha256(path)
    assert checked.size_bytes == len(original)
    assert checked.display.path == out_dir / f"{checked.sha256}_display.jpg"
    assert checked.thumb.path == out_dir / f"{checked.sha256}_thumb.jpg"
    assert checked.display.kind is DerivativeKind.DISPLAY
    assert checked.display.sha256 == file_sha256(checked.display.path)
    assert checked.display.size_bytes == checked.display.path.stat().st_size


def test_capture_time_without_offset_stays_naive_as_recorded(write, out_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2025:12:31 23:59:58"}
    path = write(encode(Image.new("RGB", (40, 30), RED), "JPEG", exif=exif))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.captured_at == "2025-12-31T23:59:58"
    assert checked.gps is None


def test_unparseable_capture_time_and_gps_are_dropped_and_flagged(write, out_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "0000:00:00 00:00:00"}
    exif[0x8825] = {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (106.0, 0.0, 0.0)}  # latitude > 90
    path = write(encode(Image.new("RGB", (40, 30), RED), "JPEG", exif=exif))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.captured_at is None
    assert checked.gps is None
    assert checked.flags == {ImageFlag.CAPTURED_AT_UNREADABLE, ImageFlag.GPS_UNREADABLE}


def test_cmyk_jpeg_becomes_rgb_with_the_right_colours(write, out_dir: Path) -> None:
    cmyk = Image.new("CMYK", (64, 64), (255, 0, 0, 0))  # pure cyan ink
    cmyk.paste((0, 0, 0, 255), (32, 0, 64, 64))  # pure black ink on the right
    path = write(encode(cmyk, "JPEG", quality=95))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert close_to(pixel(checked.display.path, (8, 32)), (0, 255, 255))
    assert close_to(pixel(checked.display.path, (56, 32)), (0, 0, 0))
    assert_clean_jpeg(checked.display.path)


def test_cmyk_jpeg_with_an_embedded_profile_is_converted_through_that_profile(write, out_dir: Path) -> None:
    profile = cmyk_icc_profile()
    assert ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.xcolor_space.strip() == "CMYK"  # lcms reads it
    cmyk = Image.new("CMYK", (64, 64), (255, 0, 0, 0))  # cyan ink
    cmyk.paste((0, 0, 0, 255), (32, 0, 64, 64))  # black ink on the right
    path = write(encode(cmyk, "JPEG", quality=95, icc_profile=profile))

    checked = inspect_and_derive(path, out_dir=out_dir)

    # The profile's inks, not Pillow's naive (0, 255, 255) and (0, 0, 0): the conversion went through it.
    assert close_to(pixel(checked.display.path, (8, 32)), PROFILE_INKS["c"], tolerance=6)
    assert close_to(pixel(checked.display.path, (56, 32)), PROFILE_INKS["k"], tolerance=6)
    assert checked.flags == frozenset()  # not color_profile_ignored
    assert_clean_jpeg(checked.display.path)  # and the CMYK profile is not copied


def test_16_bit_grey_png_with_a_transparent_grey_value_is_flattened_on_white(write, out_dir: Path) -> None:
    # tRNS marks grey 0 transparent: the right half must become white, the left half stays scaled grey.
    raw = (b"\x00" + struct.pack(">H", 40000) * 8 + struct.pack(">H", 0) * 8) * 16
    path = write(
        png_by_hand(
            width=16,
            height=16,
            bit_depth=16,
            color_type=0,
            idat=zlib.compress(raw),
            extra_chunks=png_chunk(b"tRNS", struct.pack(">H", 0)),
        )
    )

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert close_to(pixel(checked.display.path, (3, 8)), (156, 156, 156), tolerance=3)
    assert close_to(pixel(checked.display.path, (12, 8)), WHITE, tolerance=3)
    assert checked.flags == {ImageFlag.ALPHA_FLATTENED}


@pytest.mark.parametrize(
    ("color_type", "sample", "expected"),
    [
        (0, struct.pack(">H", 40000), (156, 156, 156)),  # 16-bit grey: scaled, not clipped to white
        (2, struct.pack(">HHH", 0xFFFF, 0x8000, 0x0000), (255, 128, 0)),  # 16-bit RGB
    ],
    ids=["grey16", "rgb16"],
)
def test_16_bit_png_is_scaled_to_8_bit(write, out_dir: Path, color_type: int, sample: bytes, expected) -> None:
    width = height = 16
    raw = (b"\x00" + sample * width) * height
    path = write(png_by_hand(width=width, height=height, bit_depth=16, color_type=color_type, idat=zlib.compress(raw)))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.format is ImageFormat.PNG
    assert close_to(pixel(checked.display.path, (8, 8)), expected, tolerance=3)


def test_16_bit_grey_png_made_by_pillow_is_not_clipped(write, out_dir: Path) -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[np.newaxis, :].repeat(8, axis=0)
    path = write(encode(Image.fromarray(ramp), "PNG"))

    checked = inspect_and_derive(path, out_dir=out_dir)

    left, middle, right = (pixel(checked.display.path, (x, 4))[0] for x in (0, 32, 63))
    assert left <= 3
    assert 120 <= middle <= 136
    assert right >= 250


def test_palette_png_with_transparency_is_flattened_on_white(write, out_dir: Path) -> None:
    palette_image = Image.new("P", (64, 32), 0)
    palette_image.putpalette([0, 255, 0] + list(BLUE) + [0, 0, 0] * 254)  # index 0 green but transparent
    palette_image.paste(1, (32, 0, 64, 32))
    path = write(encode(palette_image, "PNG", transparency=0))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert close_to(pixel(checked.display.path, (8, 16)), WHITE)  # not green, not black
    assert close_to(pixel(checked.display.path, (56, 16)), BLUE)
    assert ImageFlag.ALPHA_FLATTENED in checked.flags


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (255, 0, 0, 128), (255, 127, 127)),
        ("LA", (0, 0), WHITE),
    ],
)
def test_alpha_pngs_are_flattened_on_white(write, out_dir: Path, mode: str, colour, expected) -> None:
    path = write(encode(Image.new(mode, (20, 20), colour), "PNG"))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert close_to(pixel(checked.display.path, (10, 10)), expected, tolerance=4)
    assert checked.flags == {ImageFlag.ALPHA_FLATTENED}


def test_opaque_rgba_png_is_not_flagged(write, out_dir: Path) -> None:
    path = write(encode(Image.new("RGBA", (20, 20), (10, 200, 30, 255)), "PNG"))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.flags == frozenset()
    assert close_to(pixel(checked.display.path, (10, 10)), (10, 200, 30))


@pytest.mark.parametrize("image_format", ["WEBP", "PNG"])
def test_animated_image_keeps_the_first_frame_and_is_flagged(write, out_dir: Path, image_format: str) -> None:
    first, second = Image.new("RGB", (48, 48), RED), Image.new("RGB", (48, 48), BLUE)
    options: dict[str, object] = {"save_all": True, "append_images": [second], "duration": 100, "loop": 0}
    if image_format == "WEBP":
        options["lossless"] = True
    path = write(encode(first, image_format, **options))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.format is (ImageFormat.WEBP if image_format == "WEBP" else ImageFormat.PNG)
    assert ImageFlag.ANIMATED_FIRST_FRAME_ONLY in checked.flags
    assert close_to(pixel(checked.display.path, (24, 24)), RED)


def test_heic_made_by_pillow_heif_is_accepted_and_oriented_once(write, out_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8769] = {0x9003: "2024:06:02 10:00:00"}
    exif[0x8825] = {1: "S", 2: (8.0, 30.0, 0.0), 3: "W", 4: (70.0, 15.0, 0.0)}
    path = write(encode(red_left_blue_right(320, 160), "HEIF", quality=95, exif=exif.tobytes()), "photo.heic")

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.format is ImageFormat.HEIF
    assert (checked.width, checked.height) == (160, 320)
    assert close_to(pixel(checked.display.path, (80, 40)), RED, tolerance=20)
    assert close_to(pixel(checked.display.path, (80, 280)), BLUE, tolerance=20)
    assert checked.captured_at == "2024-06-02T10:00:00"
    assert checked.gps is not None
    assert checked.gps.latitude == pytest.approx(-8.5)
    assert checked.gps.longitude == pytest.approx(-70.25)
    for derivative in checked.derivatives:
        assert_clean_jpeg(derivative.path)


def test_plain_webp_is_accepted(write, out_dir: Path) -> None:
    path = write(encode(Image.new("RGB", (300, 100), RED), "WEBP", quality=90), "photo.png")  # name lies

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.format is ImageFormat.WEBP
    assert (checked.thumb.width, checked.thumb.height) == (256, 85)


@pytest.mark.parametrize(
    "exif_blob",
    [
        # IFD0 claims 1 entry: ImageDescription, ASCII, 0x7FFFFFF0 bytes at an offset past the end
        b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"
        + b"\x01\x0e\x00\x02\x7f\xff\xff\xf0\x00\x00\x10\x00"
        + b"\x00" * 4,
        # IFD0 claims 65535 entries but holds one, whose Exif-IFD pointer leads far outside the blob
        b"Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\xff\xff" + b"\x69\x87\x04\x00\x01\x00\x00\x00\x00\xff\xff\xff",
        # Exif-IFD pointer loops back onto IFD0
        b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"
        + b"\x87\x69\x00\x04\x00\x00\x00\x01\x00\x00\x00\x08"
        + b"\x00" * 4,
    ],
    ids=["huge-count", "huge-entry-count", "ifd-loop"],
)
def test_corrupt_exif_blob_is_survived_without_metadata(write, out_dir: Path, tmp_path: Path, exif_blob: bytes) -> None:
    sane = Image.Exif()
    sane[0x010F] = "PhoneMaker"
    sane[0x8769] = {0x9003: "2024:05:01 08:30:15"}
    sane_path = write(encode(Image.new("RGB", (64, 48), RED), "JPEG", exif=sane), "sane.jpg")
    _, sane_calls = count_pillow_calls(lambda: inspect_and_derive(sane_path, out_dir=tmp_path / "sane"))
    path = write(encode(Image.new("RGB", (64, 48), RED), "JPEG", exif=exif_blob))

    tracemalloc.start()
    try:
        # max_bytes keeps our own read buffer (max_bytes + 1) small, so the peak shows Pillow's allocations.
        checked, calls = count_pillow_calls(lambda: inspect_and_derive(path, out_dir=out_dir, max_bytes=64 * 1024))
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Work and memory, not time: the blob claims a 2 GiB string, 65535 entries or an IFD loop, yet the
    # parse makes no more Python calls inside Pillow than a sane EXIF blob (measured side by side) and
    # allocates nothing near what it claims.
    assert calls <= sane_calls
    assert peak_bytes < 4 * MIB
    assert checked.captured_at is None
    assert checked.gps is None
    assert (checked.width, checked.height) == (64, 48)
    assert checked.flags <= {ImageFlag.EXIF_UNREADABLE}
    assert_clean_jpeg(checked.display.path)


def test_png_carrying_html_is_accepted_only_as_clean_pixels(write, out_dir: Path) -> None:
    payload = b"<html><script>alert(document.cookie)</script></html>"
    png = png_by_hand(
        width=8,
        height=8,
        bit_depth=8,
        color_type=0,
        idat=zlib.compress((b"\x00" + b"\x80" * 8) * 8),
        extra_chunks=png_chunk(b"tEXt", b"Comment\x00" + payload),
    )
    path = write(png + payload, "avatar.png")  # and more HTML after IEND

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.flags == {ImageFlag.TRAILING_DATA}
    for derivative in checked.derivatives:
        assert b"<script" not in derivative.path.read_bytes()
        assert_clean_jpeg(derivative.path)


def test_embedded_colour_profile_is_converted_to_srgb_and_not_copied(write, out_dir: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = write(encode(Image.new("RGB", (32, 32), (200, 60, 20)), "JPEG", quality=95, icc_profile=srgb))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.flags == frozenset()
    assert close_to(pixel(checked.display.path, (16, 16)), (200, 60, 20), tolerance=6)
    assert_clean_jpeg(checked.display.path)


def test_broken_colour_profile_is_ignored_and_flagged(write, out_dir: Path) -> None:
    path = write(encode(Image.new("RGB", (32, 32), (200, 60, 20)), "PNG", icc_profile=b"not a profile" * 10))

    checked = inspect_and_derive(path, out_dir=out_dir)

    assert checked.flags == {ImageFlag.COLOR_PROFILE_IGNORED}
    assert close_to(pixel(checked.display.path, (16, 16)), (200, 60, 20))


def test_same_bytes_give_the_same_named_derivatives(write, out_dir: Path) -> None:
    path = write(encode(noisy_rgb(300, 200), "JPEG"))

    first = inspect_and_derive(path, out_dir=out_dir)
    second = inspect_and_derive(path, out_dir=out_dir)

    assert first == second
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [f"{first.sha256}_thumb.jpg", f"{first.sha256}_display.jpg"]
    )


# --- refused inputs --------------------------------------------------------------------------------


def test_png_header_claiming_60000_squared_in_a_tiny_file_is_refused_before_decoding(
    write, out_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone disabled Pillow's global guard
    decoders = record_pixel_decoding(monkeypatch)
    control = write(encode(Image.new("RGB", (8, 8), RED), "PNG"), "control.png")
    inspect_and_derive(control, out_dir=tmp_path / "control")
    assert decoders == ["zlib.decompressobj", "pillow:zip"]  # the spy sees an ordinary PNG being decoded
    decoders.clear()
    path = write(png_by_hand(width=60000, height=60000, bit_depth=8, color_type=2, idat=zlib.compress(b"\x00" * 64)))
    assert path.stat().st_size < 200

    error = refused(path, out_dir)

    assert decoders == []  # refused from the header: no Pillow decoder made, not one byte inflated
    assert error.code == "image_decompression_bomb"
    assert error.details == {"width": 60000, "height": 60000, "max_pixels": 40_000_000}
    assert error.http_status == 422


@pytest.mark.parametrize(
    "build",
    [
        lambda: webp_vp8_frame_claiming(8000, 6000),
        lambda: webp_vp8l_claiming(8000, 6000),
        lambda: webp_vp8x_canvas_claiming(8000, 6000, is_animated=True),
    ],
    ids=["vp8", "vp8l", "vp8x-animated-canvas"],
)
def test_webp_over_the_pixel_budget_is_refused_before_libwebp_allocates_its_canvas(
    write, out_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Callable[[], bytes]
) -> None:
    # 48 Mpx: over our budget, under Pillow's own guard (which its WebP plugin checks before creating the
    # decoder), so only our check stands between the header and two 192 MB canvases calloc'ed by libwebp.
    decoders = record_pixel_decoding(monkeypatch)
    control = write(encode(Image.new("RGB", (16, 16), RED), "WEBP"), "control.webp")
    inspect_and_derive(control, out_dir=tmp_path / "control")
    assert "libwebp:anim_decoder" in decoders  # the spy sees an ordinary WebP being opened
    decoders.clear()
    path = write(build(), "claims.webp")
    assert path.stat().st_size < 200

    error = refused(path, out_dir)

    assert decoders == []
    assert error.code == "image_decompression_bomb"
    assert error.details == {"width": 8000, "height": 6000, "max_pixels": 40_000_000}


def test_decompression_bomb_png_is_refused(write, out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    width, height = 8000, 6000  # 48 Mpx of solid grey: ~46 MB decoded
    path = write(
        png_by_hand(
            width=width,
            height=height,
            bit_depth=8,
            color_type=0,
            idat=solid_grey_rows_compressed(width=width, height=height),
        )
    )
    assert path.stat().st_size < 100_000

    error = refused(path, out_dir)

    assert error.code == "image_decompression_bomb"
    assert error.details["width"] == 8000


def test_pillow_global_bomb_guard_firing_first_maps_to_the_same_code(
    write, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # another library lowered the global
    path = write(encode(Image.new("RGB", (40, 40), RED), "PNG"))

    assert refused(path, out_dir).code == "image_decompression_bomb"


def test_pixel_limit_is_ours_not_the_global(write, out_dir: Path) -> None:
    path = write(encode(Image.new("RGB", (100, 100), RED), "PNG"))

    assert refused(path, out_dir, max_pixels=9_999).code == "image_decompression_bomb"


def test_file_over_the_byte_limit_is_refused_before_parsing(write, out_dir: Path) -> None:
    path = write(encode(noisy_rgb(64, 64), "PNG"))

    error = refused(path, out_dir, max_bytes=1000)

    assert error.code == "image_too_large"
    assert error.http_status == 413
    assert error.details == {"size_bytes": path.stat().st_size, "max_bytes": 1000}


def test_truncated_jpeg_is_refused_even_when_pillow_was_made_lenient(
    write, out_dir: Path, lenient_pillow: None
) -> None:
    whole = encode(noisy_rgb(400, 300), "JPEG", quality=90)
    path = write(whole[: len(whole) * 6 // 10], "cut.jpg")

    error = refused(path, out_dir)

    assert error.code == "image_truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the process-wide setting is left as found


def test_jpeg_missing_only_its_eoi_marker_is_truncated(write, out_dir: Path, lenient_pillow: None) -> None:
    whole = encode(noisy_rgb(100, 100), "JPEG")
    assert whole.endswith(b"\xff\xd9")
    path = write(whole[:-2])

    assert refused(path, out_dir).code == "image_truncated"


def test_truncated_png_is_refused_even_when_pillow_was_made_lenient(write, out_dir: Path, lenient_pillow: None) -> None:
    whole = encode(noisy_rgb(200, 200), "PNG")
    path = write(whole[: len(whole) // 2], "cut.png")

    assert refused(path, out_dir).code == "image_truncated"


def test_png_with_a_complete_container_but_short_pixel_stream_is_refused(
    write, out_dir: Path, lenient_pillow: None
) -> None:
    # Every chunk and CRC is valid; the zlib stream inside IDAT simply stops after 10 of 100 rows.
    rows = zlib.compress((b"\x00" + b"\x80" * 100) * 100)
    path = write(png_by_hand(width=100, height=100, bit_depth=8, color_type=0, idat=rows[: len(rows) // 10]))

    assert refused(path, out_dir).code == "image_truncated"


def test_truncated_webp_and_heic_are_refused(write, out_dir: Path, lenient_pillow: None) -> None:
    webp = encode(noisy_rgb(120, 120), "WEBP", quality=80)
    heic = encode(noisy_rgb(128, 128), "HEIF", quality=80)

    assert refused(write(webp[: len(webp) - 200], "a.webp"), out_dir).code == "image_truncated"
    assert refused(write(heic[: len(heic) - 200], "b.heic"), out_dir).code == "image_truncated"


def test_text_file_named_jpg_is_not_an_allowed_format(write, out_dir: Path) -> None:
    path = write("Biên bản kiểm tra: not a photo at all\n".encode(), "photo.jpg")

    error = refused(path, out_dir)

    assert error.code == "image_format_not_allowed"
    assert error.http_status == 415
    assert error.details == {"detected_format": "text"}


@pytest.mark.parametrize(
    ("content", "detected"),
    [
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>', "svg"),
        (b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>", "html"),
        (b"\xef\xbb\xbf  <svg><script>alert(1)</script></svg>", "svg"),
    ],
    ids=["svg", "html", "svg-with-bom"],
)
def test_svg_and_html_polyglots_are_not_allowed(write, out_dir: Path, content: bytes, detected: str) -> None:
    error = refused(write(content, "photo.jpg"), out_dir)

    assert error.code == "image_format_not_allowed"
    assert error.details == {"detected_format": detected}


def test_jpeg_magic_followed_by_html_is_refused_as_truncated(write, out_dir: Path) -> None:
    path = write(b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", "photo.jpg")

    # "<h" read as the APP0 segment length (15464) runs past the end of the file
    assert refused(path, out_dir).code == "image_truncated"


def test_gif_is_not_allowed(write, out_dir: Path) -> None:
    path = write(encode(Image.new("P", (10, 10), 1), "GIF"), "photo.jpg")

    error = refused(path, out_dir)

    assert error.code == "image_format_not_allowed"
    assert error.details == {"detected_format": "gif"}


@pytest.mark.parametrize(("image_format", "detected"), [("BMP", "bmp"), ("TIFF", "tiff")])
def test_other_pillow_formats_are_not_allowed(write, out_dir: Path, image_format: str, detected: str) -> None:
    path = write(encode(Image.new("RGB", (10, 10), RED), image_format))

    error = refused(path, out_dir)

    assert error.code == "image_format_not_allowed"
    assert error.http_status == 415
    assert error.details == {"detected_format": detected}


def test_zero_byte_file_is_unreadable(write, out_dir: Path) -> None:
    error = refused(write(b"", "empty.jpg"), out_dir)

    assert error.code == "image_unreadable"
    assert error.details == {"reason": "empty"}


def test_declared_sha256_is_checked_before_parsing(write, out_dir: Path) -> None:
    path = write(encode(Image.new("RGB", (10, 10), RED), "PNG"))

    with pytest.raises(MediaError) as caught:
        inspect_and_derive(path, out_dir=out_dir, expected_sha256="0" * 64)

    assert caught.value.code == "upload_checksum_mismatch"
    assert caught.value.details == {"expected_sha256": "0" * 64, "actual_sha256": file_sha256(path)}
    assert not out_dir.exists()


def test_checked_image_is_frozen(write, out_dir: Path) -> None:
    checked: CheckedImage = inspect_and_derive(write(encode(Image.new("RGB", (8, 8), RED), "PNG")), out_dir=out_dir)

    with pytest.raises(AttributeError):
        checked.width = 1  # type: ignore[misc]
