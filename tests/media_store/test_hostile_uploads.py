"""The crafted hostile-image set, end to end: each file is generated here, uploaded through the tus endpoint
like a phone would (creation, one PATCH with the declared sha256) and ends either in a stable error code
on the wire (upload failed, nothing stored) or in a correct Photo with clean derivatives.

tests/media_store/test_imaging.py checks `inspect_and_derive` itself in more detail; this set proves the
upload path maps every outcome to the device exactly.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from media_store import services
from media_store.models import Photo, Upload, UploadState
from tests.conftest import make_device_session, make_officer, make_unit
from tests.media_store.factories import blob_files, create_upload, envelope, head, part_path, patch
from tests.media_store.test_imaging import (
    BLUE,
    PROFILE_INKS,
    RED,
    WHITE,
    assert_clean_jpeg,
    close_to,
    cmyk_icc_profile,
    encode,
    jpeg_sof_claiming,
    noisy_rgb,
    pixel,
    png_by_hand,
    png_chunk,
    red_left_blue_right,
    solid_grey_rows_compressed,
    webp_vp8_frame_claiming,
    webp_vp8x_canvas_claiming,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Refused:
    http_status: int
    code: str
    details: dict[str, Any] = field(default_factory=dict)  # a subset the error must carry


@dataclass(frozen=True)
class Accepted:
    format: str
    size: tuple[int, int]  # (width, height) of the original after EXIF orientation
    display_pixels: tuple[tuple[tuple[int, int], tuple[int, int, int]], ...]
    flags: tuple[str, ...] = ()
    gps: tuple[float, float] | None = None
    captured_at_recorded: str = ""  # as the device recorded it (ISO 8601)
    captured_at: datetime | None = None  # the instant, only when the offset was recorded


# --- the crafted files ---------------------------------------------------------------------------


def jpeg_rotated_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # the stored left edge (red) is the top once displayed
    exif[0x010F] = "PhoneMaker"
    exif[0x8769] = {0x9003: "2025:08:14 06:05:04", 0x9011: "+07:00"}
    exif[0x8825] = {1: "N", 2: (21.0, 50.0, 30.0), 3: "E", 4: (106.0, 45.0, 0.0)}
    return encode(red_left_blue_right(800, 400), "JPEG", quality=95, exif=exif)


def cmyk_jpeg() -> bytes:
    cmyk = Image.new("CMYK", (64, 64), (255, 0, 0, 0))  # cyan ink
    cmyk.paste((0, 0, 0, 255), (32, 0, 64, 64))  # black ink on the right
    return encode(cmyk, "JPEG", quality=95)


def cmyk_jpeg_with_icc_profile() -> bytes:
    cmyk = Image.new("CMYK", (64, 64), (255, 0, 0, 0))  # cyan ink
    cmyk.paste((0, 0, 0, 255), (32, 0, 64, 64))  # black ink on the right
    return encode(cmyk, "JPEG", quality=95, icc_profile=cmyk_icc_profile())


def png_16_bit_rgb() -> bytes:
    raw = (b"\x00" + struct.pack(">HHH", 0xFFFF, 0x8000, 0x0000) * 16) * 16
    return png_by_hand(width=16, height=16, bit_depth=16, color_type=2, idat=zlib.compress(raw))


def png_16_bit_halves(*, color_type: int, left: bytes, right: bytes, extra_chunks: bytes = b"") -> bytes:
    raw = (b"\x00" + left * 8 + right * 8) * 16
    return png_by_hand(
        width=16, height=16, bit_depth=16, color_type=color_type, idat=zlib.compress(raw), extra_chunks=extra_chunks
    )


def png_16_bit_grey() -> bytes:
    # Pillow opens this as I;16 (our own scaling path): 40000 and 10000 of 65535, never clipped to white.
    return png_16_bit_halves(color_type=0, left=struct.pack(">H", 40000), right=struct.pack(">H", 10000))


def png_16_bit_grey_with_transparent_value() -> bytes:
    # tRNS marks grey 0 transparent: the right half is flattened on white, the left stays scaled grey.
    return png_16_bit_halves(
        color_type=0,
        left=struct.pack(">H", 40000),
        right=struct.pack(">H", 0),
        extra_chunks=png_chunk(b"tRNS", struct.pack(">H", 0)),
    )


def png_16_bit_rgba() -> bytes:
    # Left opaque orange; right blue at alpha 0x8000 (half transparent) over white.
    return png_16_bit_halves(
        color_type=6,
        left=struct.pack(">HHHH", 0xFFFF, 0x8000, 0, 0xFFFF),
        right=struct.pack(">HHHH", 0, 0, 0xFFFF, 0x8000),
    )


def png_palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 32), 0)
    image.putpalette([0, 255, 0, *BLUE] + [0, 0, 0] * 254)  # index 0 is green but fully transparent
    image.paste(1, (32, 0, 64, 32))
    return encode(image, "PNG", transparency=0)


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (48, 48), RED), Image.new("RGB", (48, 48), BLUE)]
    return encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)


def heic_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(red_left_blue_right(320, 160), "HEIF", quality=95, exif=exif.tobytes())


def heic_two_images_primary_second() -> bytes:
    # A red first image and a blue primary (the one a viewer shows), of different sizes.
    first, primary = Image.new("RGB", (64, 48), RED), Image.new("RGB", (32, 40), BLUE)
    return encode(first, "HEIF", save_all=True, append_images=[primary], primary_index=1, quality=95)


def png_with_html_after_iend() -> bytes:
    return encode(Image.new("RGB", (40, 20), RED), "PNG") + b"<html><script>alert(1)</script></html>"


def gif_named_jpg() -> bytes:
    return encode(Image.new("P", (20, 20), 1), "GIF")


def svg_with_script() -> bytes:
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def avif_brand() -> bytes:
    ftyp = b"ftypavif" + b"\x00\x00\x00\x00" + b"avifmif1miaf"
    return struct.pack(">I", 8 + len(ftyp) - 4) + ftyp + b"\x00" * 64


def png_claiming_60000_squared() -> bytes:
    return png_by_hand(width=60000, height=60000, bit_depth=8, color_type=2, idat=zlib.compress(b"\x00" * 64))


def png_zlib_bomb() -> bytes:
    # 8000 x 8000 grey (64 megapixels, over the 40 MP budget) compressed to a few tens of kilobytes.
    return png_by_hand(
        width=8000, height=8000, bit_depth=8, color_type=0, idat=solid_grey_rows_compressed(width=8000, height=8000)
    )


def jpeg_cut_at_60_percent() -> bytes:
    data = encode(noisy_rgb(320, 240), "JPEG", quality=90)
    return data[: len(data) * 6 // 10]


def jpeg_without_eoi() -> bytes:
    data = encode(noisy_rgb(64, 64), "JPEG", quality=90)
    assert data.endswith(b"\xff\xd9")
    return data[:-2]


def png_cut_mid_idat() -> bytes:
    data = encode(noisy_rgb(200, 150), "PNG")
    return data[: len(data) // 2]


def png_with_a_bad_crc() -> bytes:
    data = bytearray(encode(noisy_rgb(32, 32), "PNG"))
    assert data[37:41] == b"IDAT"  # the chunk after IHDR (signature 8 + IHDR 25 + its length field 4)
    data[40] ^= 0xFF  # the last byte of IDAT's chunk type: the CRC (over type and data) no longer matches
    return bytes(data)


def tiff() -> bytes:
    return encode(Image.new("RGB", (20, 20), RED), "TIFF")


def png_short_pixel_stream() -> bytes:
    # Container intact (IEND, CRCs) but the zlib stream holds half the rows the header promises.
    raw = (b"\x00" + b"\x80" * 3 * 32) * 16
    return png_by_hand(width=32, height=32, bit_depth=8, color_type=2, idat=zlib.compress(raw))


def png_interlaced_adam7() -> bytes:
    """Interlaced 8-bit RGB, red left half / blue right half (Pillow cannot write Adam7: by hand)."""
    width, height = 37, 21  # odd sizes: some passes have short or empty rows
    rows = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        columns = range(x0, width, dx)
        for _ in range(y0, height, dy):
            if columns:
                rows += b"\x00" + b"".join(bytes(RED if x < width // 2 else BLUE) for x in columns)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def png_1_bit() -> bytes:
    image = Image.new("1", (33, 9), 0)
    image.paste(1, (17, 0, 33, 9))
    return encode(image, "PNG")


def png_with_oversized_text_chunk() -> bytes:
    # A chunk length of 0x7FFFFFF0 (about 2 GiB, just under PNG's 2^31 - 1 limit) in a tiny file.
    good = encode(Image.new("RGB", (8, 8), RED), "PNG")
    lying = struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"Comment\x00hi"
    return good[:33] + lying + png_chunk(b"IEND", b"")


CASES: list[tuple[str, Callable[[], bytes], Refused | Accepted]] = [
    (
        "jpeg_exif_orientation_6_with_gps",
        jpeg_rotated_with_gps,
        Accepted(
            "jpeg",
            (400, 800),
            (((200, 100), RED), ((200, 700), BLUE)),
            gps=(21 + 50 / 60 + 30 / 3600, 106.75),
            captured_at_recorded="2025-08-14T06:05:04+07:00",
            captured_at=datetime(2025, 8, 13, 23, 5, 4, tzinfo=UTC),
        ),
    ),
    ("cmyk_jpeg", cmyk_jpeg, Accepted("jpeg", (64, 64), (((8, 32), (0, 255, 255)), ((56, 32), (0, 0, 0))))),
    (
        # Through the embedded profile: its inks, not the naive (0, 255, 255) and (0, 0, 0) of the case above.
        "cmyk_jpeg_with_icc_profile",
        cmyk_jpeg_with_icc_profile,
        Accepted("jpeg", (64, 64), (((8, 32), PROFILE_INKS["c"]), ((56, 32), PROFILE_INKS["k"]))),
    ),
    ("png_16_bit_rgb", png_16_bit_rgb, Accepted("png", (16, 16), (((8, 8), (255, 128, 0)),))),
    (
        "png_16_bit_grey",
        png_16_bit_grey,
        Accepted("png", (16, 16), (((3, 8), (156, 156, 156)), ((12, 8), (39, 39, 39)))),
    ),
    (
        "png_16_bit_grey_with_transparent_value",
        png_16_bit_grey_with_transparent_value,
        Accepted("png", (16, 16), (((3, 8), (156, 156, 156)), ((12, 8), WHITE)), flags=("alpha_flattened",)),
    ),
    (
        "png_16_bit_rgba",
        png_16_bit_rgba,
        Accepted("png", (16, 16), (((3, 8), (255, 128, 0)), ((12, 8), (127, 127, 255))), flags=("alpha_flattened",)),
    ),
    (
        "png_palette_with_transparency",
        png_palette_with_transparency,
        Accepted("png", (64, 32), (((8, 16), WHITE), ((56, 16), BLUE)), flags=("alpha_flattened",)),
    ),
    (
        "animated_webp",
        animated_webp,
        Accepted("webp", (48, 48), (((24, 24), RED),), flags=("animated_first_frame_only",)),
    ),
    ("heic_orientation_6", heic_rotated, Accepted("heif", (160, 320), (((80, 40), RED), ((80, 280), BLUE)))),
    (
        "heic_two_images_primary_second",
        heic_two_images_primary_second,
        Accepted("heif", (32, 40), (((16, 20), BLUE),), flags=("primary_image_only",)),
    ),
    (
        "png_with_html_after_iend",
        png_with_html_after_iend,
        Accepted("png", (40, 20), (((20, 10), RED),), flags=("trailing_data",)),
    ),
    ("png_interlaced_adam7", png_interlaced_adam7, Accepted("png", (37, 21), (((5, 10), RED), ((30, 10), BLUE)))),
    ("png_1_bit", png_1_bit, Accepted("png", (33, 9), (((4, 4), (0, 0, 0)), ((28, 4), WHITE)))),
    ("gif_named_jpg", gif_named_jpg, Refused(415, "image_format_not_allowed", {"detected_format": "gif"})),
    ("svg_with_script", svg_with_script, Refused(415, "image_format_not_allowed", {"detected_format": "svg"})),
    ("avif", avif_brand, Refused(415, "image_format_not_allowed", {"detected_format": "avif"})),
    ("tiff", tiff, Refused(415, "image_format_not_allowed", {"detected_format": "tiff"})),
    (
        "png_header_60000x60000_tiny_file",
        png_claiming_60000_squared,
        Refused(422, "image_decompression_bomb", {"max_pixels": 40_000_000}),
    ),
    ("png_zlib_bomb_64_megapixels", png_zlib_bomb, Refused(422, "image_decompression_bomb", {"width": 8000})),
    (
        # Over Pillow's own guard too (2 x 89 Mpx): it fires inside Image.open, mapped to the same code.
        "jpeg_sof_65000x65000_tiny_file",
        lambda: jpeg_sof_claiming(65000, 65000),
        Refused(422, "image_decompression_bomb", {"max_pixels": 40_000_000}),
    ),
    (
        "jpeg_sof_8000x6000_tiny_file",
        lambda: jpeg_sof_claiming(8000, 6000),
        Refused(422, "image_decompression_bomb", {"width": 8000, "height": 6000, "max_pixels": 40_000_000}),
    ),
    (
        "webp_vp8_frame_16383x16383_tiny_file",
        lambda: webp_vp8_frame_claiming(16383, 16383),
        Refused(422, "image_decompression_bomb", {"width": 16383, "height": 16383, "max_pixels": 40_000_000}),
    ),
    (
        "webp_vp8x_animated_canvas_8000x6000_tiny_file",
        lambda: webp_vp8x_canvas_claiming(8000, 6000, is_animated=True),
        Refused(422, "image_decompression_bomb", {"width": 8000, "height": 6000, "max_pixels": 40_000_000}),
    ),
    (
        # Refused from the VP8X header, before libwebp could notice the frame does not fill the canvas.
        "webp_vp8x_still_canvas_8000x6000_around_16x16",
        lambda: webp_vp8x_canvas_claiming(8000, 6000, is_animated=False),
        Refused(422, "image_decompression_bomb", {"width": 8000, "height": 6000, "max_pixels": 40_000_000}),
    ),
    (
        # Within the budget, but a still image must fill its canvas exactly: libwebp refuses the file.
        "webp_vp8x_still_canvas_100x100_around_16x16",
        lambda: webp_vp8x_canvas_claiming(100, 100, is_animated=False),
        Refused(422, "image_unreadable", {"format": "webp", "reason": "decode_failed"}),
    ),
    ("jpeg_cut_at_60_percent", jpeg_cut_at_60_percent, Refused(422, "image_truncated", {"format": "jpeg"})),
    ("jpeg_without_eoi", jpeg_without_eoi, Refused(422, "image_truncated", {"format": "jpeg"})),
    ("png_cut_mid_idat", png_cut_mid_idat, Refused(422, "image_truncated", {"format": "png"})),
    (
        "png_complete_zlib_stream_missing_rows",
        png_short_pixel_stream,
        Refused(422, "image_truncated", {"format": "png", "where": "pixel_data"}),
    ),
    ("png_bad_crc", png_with_a_bad_crc, Refused(422, "image_unreadable", {"where": "chunk_crc"})),
    ("png_chunk_length_past_eof", png_with_oversized_text_chunk, Refused(422, "image_truncated", {"where": "chunk"})),
]


@pytest.fixture
def session(db: None) -> Any:
    return make_device_session(officer=make_officer(username="hostile.files", unit=make_unit(code="HF")))


@pytest.mark.parametrize(("build", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_crafted_upload_ends_in_a_stable_code_or_a_correct_photo(
    session: Any, build: Callable[[], bytes], expected: Refused | Accepted
) -> None:
    client = Client()
    data = build()
    location = create_upload(client, session, data)

    response = patch(client, session, location, data, 0)

    upload = Upload.objects.get()
    if isinstance(expected, Refused):
        assert response.status_code == expected.http_status, response.content
        body = envelope(response)
        assert body["code"] == expected.code
        assert body["details"].items() >= expected.details.items()
        assert upload.state == UploadState.FAILED
        assert upload.failure_code == expected.code
        assert Photo.objects.count() == 0
        assert blob_files() == []
        assert not part_path(location).exists()
        services.part_discards_wait()  # its bytes are deleted right after the answer
        assert list((Path(settings.MEDIA_ROOT) / "uploads").iterdir()) == []  # no work files left
        again = head(client, session, location)  # the phone asks again later: same answer, no retry loop
        assert (again.status_code, again["Fieldsync-Error-Code"]) == (expected.http_status, expected.code)
        return

    assert response.status_code == 204, response.content
    photo = Photo.objects.get()
    assert upload.photo == photo
    assert (photo.format, photo.width, photo.height) == (expected.format, *expected.size)
    assert sorted(photo.flags) == sorted(expected.flags)
    assert (photo.captured_at_recorded, photo.captured_at) == (expected.captured_at_recorded, expected.captured_at)
    if expected.gps is None:
        assert (photo.gps_latitude, photo.gps_longitude) == (None, None)
    else:
        assert (photo.gps_latitude, photo.gps_longitude) == pytest.approx(expected.gps, abs=1e-9)
    media_root = Path(settings.MEDIA_ROOT)
    display = media_root / photo.derivatives["display"]["key"]
    for xy, colour in expected.display_pixels:
        assert close_to(pixel(display, xy), colour, tolerance=20), (xy, pixel(display, xy), colour)
    for kind in ("thumb", "display"):
        derivative = media_root / photo.derivatives[kind]["key"]
        assert_clean_jpeg(derivative)
        assert b"PhoneMaker" not in derivative.read_bytes()
        with Image.open(io.BytesIO(derivative.read_bytes())) as opened:
            assert opened.size == (photo.derivatives[kind]["width"], photo.derivatives[kind]["height"])
    assert (media_root / photo.original_key).read_bytes() == data


def test_the_crafted_set_has_at_least_twelve_cases_of_both_kinds() -> None:
    refused = [name for name, _, expected in CASES if isinstance(expected, Refused)]
    accepted = [name for name, _, expected in CASES if isinstance(expected, Accepted)]

    assert len(CASES) >= 12
    assert len(refused) >= 6 and len(accepted) >= 6
    assert len({name for name, _, _ in CASES}) == len(CASES)
