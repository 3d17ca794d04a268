"""Image sanitising: check untrusted photo bytes and make clean JPEG derivatives.

Pure Python (Pillow, pillow-heif, numpy); no Django. The one entry point is `inspect_and_derive`.

What it guarantees, in order:
1. size: the file is non-empty and at most `max_bytes` (checked before anything is parsed);
2. format by content: the magic bytes must say JPEG, PNG, WebP or HEIF/HEIC, and Pillow is only
   allowed to use that one plugin (the file name is never looked at);
3. pixel budget: the dimensions from the header are checked against `max_pixels` before any pixel
   is decoded, with our own limit (Pillow's `Image.MAX_IMAGE_PIXELS` is process-global and other
   code may raise or disable it; its DecompressionBombError/Warning is mapped to the same code); a
   WebP's size is read from its first chunk before libwebp sees the file (its decoder allocates the
   whole canvas when Pillow creates it, inside Image.open);
4. completeness: the container is walked (JPEG segments to EOI, PNG chunks with CRCs to IEND, the
   WebP RIFF length, the ISO-BMFF box sizes of HEIF) and then the first frame is fully decoded with
   Pillow's truncated-image leniency forced off (`ImageFile.LOAD_TRUNCATED_IMAGES` is process-global
   and `face_recognition` sets it True on import);
5. normalisation: EXIF orientation applied exactly once; CMYK, 16-bit, palette+transparency, LA/RGBA
   turned into 8-bit sRGB RGB (transparent areas flattened on white); only the first frame of an
   animation is used;
6. derivatives: `thumb` (max side 256) and `display` (max side 1600), baseline JPEG q85 written with
   no EXIF, XMP, ICC or comment segment at all, named `<sha256 of original>_<kind>.jpg`;
7. metadata: capture time and GPS position are read from the original EXIF as structured values
   before the derivatives are written without it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile, ImageOps

from media_store.errors import (
    ImageDecompressionBomb,
    ImageFormatNotAllowed,
    ImageTooLarge,
    ImageTruncated,
    ImageUnreadable,
    MediaError,
    UploadChecksumMismatch,
)

# Registers the HEIF plugin with Pillow (idempotent). Files still only reach it when their magic
# bytes say HEIF: every Image.open below names the one plugin allowed.
pillow_heif.register_heif_opener()

MIB: Final = 1024 * 1024
DEFAULT_MAX_PIXELS: Final = 40_000_000
DEFAULT_MAX_BYTES: Final = 30 * MIB
THUMB_MAX_SIDE: Final = 256
DISPLAY_MAX_SIDE: Final = 1600
JPEG_QUALITY: Final = 85
_HASH_CHUNK_BYTES: Final = 1 * MIB
_SNIFF_BYTES: Final = 4096  # enough for every magic number and the ISO-BMFF brands `_sniff_format` reads


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    HEIF = "heif"


_PILLOW_PLUGIN: Final[dict[ImageFormat, str]] = {
    ImageFormat.JPEG: "JPEG",
    ImageFormat.PNG: "PNG",
    ImageFormat.WEBP: "WEBP",
    ImageFormat.HEIF: "HEIF",
}


class DerivativeKind(StrEnum):
    THUMB = "thumb"
    DISPLAY = "display"


class ImageFlag(StrEnum):
    """Something worth knowing about an accepted image. Values are stable (stored and sent)."""

    ANIMATED_FIRST_FRAME_ONLY = "animated_first_frame_only"
    PRIMARY_IMAGE_ONLY = "primary_image_only"  # a HEIF container with several images
    ALPHA_FLATTENED = "alpha_flattened"
    TRAILING_DATA = "trailing_data"  # bytes after JPEG EOI / PNG IEND / the RIFF chunk (polyglots, motion photos)
    EXIF_UNREADABLE = "exif_unreadable"
    CAPTURED_AT_UNREADABLE = "captured_at_unreadable"
    GPS_UNREADABLE = "gps_unreadable"
    COLOR_PROFILE_IGNORED = "color_profile_ignored"


@dataclass(frozen=True, slots=True)
class Derivative:
    kind: DerivativeKind
    path: Path
    size_bytes: int
    sha256: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class GpsPosition:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class CheckedImage:
    """An accepted original (by its sha256) and the clean derivatives written for it."""

    sha256: str
    size_bytes: int
    format: ImageFormat
    width: int  # after EXIF orientation, at full resolution
    height: int
    thumb: Derivative
    display: Derivative
    captured_at: str | None  # ISO 8601 as recorded by the device: naive, or with its offset if recorded
    gps: GpsPosition | None
    flags: frozenset[ImageFlag]

    @property
    def derivatives(self) -> tuple[Derivative, Derivative]:
        return (self.thumb, self.display)


def inspect_and_derive(
    data_path: Path,
    *,
    out_dir: Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    expected_sha256: str | None = None,
) -> CheckedImage:
    """Check the image at `data_path` and write its `thumb` and `display` JPEGs into `out_dir`.

    Side effects: writes (atomically, fsynced) `<sha256>_thumb.jpg` and `<sha256>_display.jpg` into
    `out_dir`, replacing identical files from an earlier run; nothing is written when it raises.
    Idempotent: the same bytes give the same result and the same files.
    Raises ImageUnreadable (also for an empty file, details.reason="empty"), ImageTooLarge,
    ImageFormatNotAllowed, ImageDecompressionBomb, ImageTruncated, and UploadChecksumMismatch when
    `expected_sha256` is given and differs (checked before any parsing).
    """
    # Size, declared sha256 and format are decided before the file is read into memory (the hash is
    # streamed, the format read from the first bytes): refusing a large non-image costs no memory.
    size_bytes = data_path.stat().st_size
    if size_bytes > max_bytes:
        raise ImageTooLarge(details={"size_bytes": size_bytes, "max_bytes": max_bytes})
    if expected_sha256 is not None:
        streamed = file_sha256(data_path)
        if expected_sha256.lower() != streamed:
            raise UploadChecksumMismatch(
                details={"expected_sha256": expected_sha256.lower(), "actual_sha256": streamed}
            )
    with data_path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head:
        _sniff_format(head)
    data = _read_bounded(data_path, max_bytes=max_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and expected_sha256.lower() != sha256:  # changed while we looked
        raise UploadChecksumMismatch(details={"expected_sha256": expected_sha256.lower(), "actual_sha256": sha256})

    image_format = _sniff_format(data)
    flags: set[ImageFlag] = set()

    original_width, original_height, working, exif_orientation = _open_and_decode(
        data, image_format=image_format, max_pixels=max_pixels, flags=flags
    )
    exif = _read_exif(working, flags=flags)
    captured_at = _captured_at(exif, flags=flags)
    gps = _gps_position(exif, flags=flags)
    icc_profile = working.info.get("icc_profile")

    oriented = _apply_orientation(working, orientation=exif_orientation, flags=flags)
    if oriented is not working and exif_orientation in _AXES_SWAPPING_ORIENTATIONS:
        original_width, original_height = original_height, original_width

    rgb, is_color_managed = _to_rgb(oriented, icc_profile=icc_profile, flags=flags)

    display_image = rgb.copy()
    display_image.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE), Image.Resampling.LANCZOS)
    if icc_profile and not is_color_managed:
        display_image = _to_srgb(display_image, icc_profile=icc_profile, flags=flags)
    thumb_image = display_image.copy()
    thumb_image.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE), Image.Resampling.LANCZOS)

    out_dir.mkdir(parents=True, exist_ok=True)
    thumb = _write_derivative(thumb_image, kind=DerivativeKind.THUMB, out_dir=out_dir, original_sha256=sha256)
    display = _write_derivative(display_image, kind=DerivativeKind.DISPLAY, out_dir=out_dir, original_sha256=sha256)

    return CheckedImage(
        sha256=sha256,
        size_bytes=len(data),
        format=image_format,
        width=original_width,
        height=original_height,
        thumb=thumb,
        display=display,
        captured_at=captured_at,
        gps=gps,
        flags=frozenset(flags),
    )


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- reading and sniffing --------------------------------------------------------------------------


def _read_bounded(path: Path, *, max_bytes: int) -> bytes:
    """Read the whole file, refusing an empty one or one over `max_bytes` (never reading more)."""
    with path.open("rb") as handle:
        size_bytes = os.fstat(handle.fileno()).st_size
        if size_bytes > max_bytes:
            raise ImageTooLarge(details={"size_bytes": size_bytes, "max_bytes": max_bytes})
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we looked
        raise ImageTooLarge(details={"size_bytes": len(data), "max_bytes": max_bytes})
    if not data:
        raise ImageUnreadable("The photo file is empty.", details={"reason": "empty"})
    return data


_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS: Final = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})


def _sniff_format(data: bytes) -> ImageFormat:
    """Decide the format from the magic bytes alone. Raises ImageFormatNotAllowed."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if data[4:8] == b"ftyp":
        brands = _iso_bmff_brands(data)
        if brands & _HEIF_BRANDS:
            return ImageFormat.HEIF
        if brands & _AVIF_BRANDS:
            raise ImageFormatNotAllowed(details={"detected_format": "avif"})
        if brands & _HEIF_GENERIC_BRANDS:
            return ImageFormat.HEIF
        raise ImageFormatNotAllowed(details={"detected_format": "iso_bmff"})
    raise ImageFormatNotAllowed(details={"detected_format": _describe_unknown(data)})


def _iso_bmff_brands(data: bytes) -> frozenset[bytes]:
    box_size = int.from_bytes(data[0:4], "big")
    end = min(len(data), box_size if box_size >= 16 else 16, 4096)
    brands = {data[8:12]}
    brands.update(data[offset : offset + 4] for offset in range(16, end - 3, 4))
    return frozenset(brands)


def _describe_unknown(data: bytes) -> str:
    """A short label for a refused file, for the error details (never the content itself)."""
    head = data[:512]
    signatures: tuple[tuple[bytes, str], ...] = (
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"BM", "bmp"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"%PDF", "pdf"),
        (b"PK\x03\x04", "zip"),
        (b"\x00\x00\x01\x00", "ico"),
    )
    for magic, label in signatures:
        if head.startswith(magic):
            return label
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in text:
        return "svg"
    if text.startswith((b"<!doctype html", b"<html")) or b"<script" in text:
        return "html"
    if text.startswith(b"<"):
        return "xml"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown"
    return "text"


# --- decoding ------------------------------------------------------------------------------------

# Pillow reads ImageFile.LOAD_TRUNCATED_IMAGES (a module global) while it opens and decodes. This lock
# serialises our save/force/restore of it so two of our own decodes cannot interleave and leave it
# lenient for one of them.
_PILLOW_STRICT_LOCK: Final = threading.Lock()


@contextmanager
def _strict_pillow() -> Iterator[None]:
    """Open and decode with truncated-image leniency off, whatever the process-wide setting says.

    Trade-off (written down on purpose): while we hold it, another thread decoding with Pillow also
    runs strict, i.e. a truncated file raises there instead of being padded with grey. The structural
    walk in `_check_container` does not depend on the flag at all; this is the second line.
    """
    with _PILLOW_STRICT_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


_AXES_SWAPPING_ORIENTATIONS: Final = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG: Final = 0x0112


def _open_and_decode(
    data: bytes, *, image_format: ImageFormat, max_pixels: int, flags: set[ImageFlag]
) -> tuple[int, int, Image.Image, int]:
    """Open with the one allowed plugin, check dimensions, walk the container, decode frame one.

    Returns (width, height) from the header (before orientation), the decoded image (possibly
    decoded at a reduced JPEG scale) and the EXIF orientation value (1 when absent or unreadable).
    """
    try:
        with _strict_pillow():
            if image_format is ImageFormat.WEBP:
                # Pillow opens every WebP with libwebp's animation decoder, which allocates two full
                # canvases when it is created, i.e. inside Image.open: check the header's size first.
                header_size = _webp_header_size(data)
                if header_size is not None:
                    _check_pixel_budget(*header_size, max_pixels=max_pixels)
            image = Image.open(io.BytesIO(data), formats=[_PILLOW_PLUGIN[image_format]])
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ImageUnreadable(details={"reason": "no_pixels"})
            _check_pixel_budget(width, height, max_pixels=max_pixels)
            _check_container(data, image_format=image_format, flags=flags)
            if getattr(image, "n_frames", 1) > 1:
                # Only the current frame is decoded: frame 0 of an animation, the primary image of a
                # HEIF holding several (pillow-heif opens on the primary; seeking would leave it).
                flags.add(
                    ImageFlag.PRIMARY_IMAGE_ONLY
                    if image_format is ImageFormat.HEIF
                    else ImageFlag.ANIMATED_FIRST_FRAME_ONLY
                )
            if image_format is ImageFormat.JPEG and max(width, height) > DISPLAY_MAX_SIDE:
                # libjpeg decodes straight to 1/2, 1/4 or 1/8 scale: far less memory and time. The whole
                # entropy-coded stream is still read, so a damaged file still fails below.
                scale = DISPLAY_MAX_SIDE / max(width, height)
                image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image.load()
            orientation = _exif_orientation(image)  # after load: PNG may carry eXIf after the pixels
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own (process-global) limit fired first; same meaning as ours.
        raise ImageDecompressionBomb(details={"max_pixels": max_pixels}) from error
    except Exception as error:
        # Pillow failed (possibly while parsing headers, before our own walk ran): let the walk say
        # whether the file is cut short, which is what the phone needs to know (re-send vs give up).
        _check_container(data, image_format=image_format, flags=set())
        if "truncated" in str(error).lower():
            raise ImageTruncated(details={"format": str(image_format)}) from error
        raise ImageUnreadable(details={"format": str(image_format), "reason": "decode_failed"}) from error
    return width, height, image, orientation


def _check_pixel_budget(width: int, height: int, *, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageDecompressionBomb(details={"width": width, "height": height, "max_pixels": max_pixels})


def _webp_header_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP declares in its first chunk (VP8X canvas, VP8 key frame or VP8L header).

    None when the first chunk is none of these: libwebp then refuses the file itself.
    """
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(image: Image.Image, *, orientation: int, flags: set[ImageFlag]) -> Image.Image:
    """Apply the EXIF orientation exactly once.

    `ImageOps.exif_transpose` reads the orientation from the same (cached) EXIF parse as
    `_exif_orientation`. HEIF needs nothing: libheif already applies `irot`/`imir` and pillow-heif then
    reports orientation 1. The derivatives carry no EXIF, so no viewer can rotate them a second time.
    """
    if orientation == 1:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        flags.add(ImageFlag.EXIF_UNREADABLE)
        return image


# --- container completeness ------------------------------------------------------------------------


def _check_container(data: bytes, *, image_format: ImageFormat, flags: set[ImageFlag]) -> None:
    """Walk the file structure to its end marker without trusting Pillow's truncation setting."""
    if image_format is ImageFormat.JPEG:
        end = _jpeg_end(data)
    elif image_format is ImageFormat.PNG:
        end = _png_end(data)
        _png_check_pixel_stream(data)
    elif image_format is ImageFormat.WEBP:
        end = _webp_end(data)
    else:
        end = _iso_bmff_end(data)
    if end < len(data) and data[end:].strip(b"\x00"):
        flags.add(ImageFlag.TRAILING_DATA)


def _truncated(image_format: ImageFormat, where: str) -> ImageTruncated:
    return ImageTruncated(details={"format": str(image_format), "where": where})


def _malformed(image_format: ImageFormat, where: str) -> ImageUnreadable:
    return ImageUnreadable(details={"format": str(image_format), "reason": "malformed", "where": where})


# In entropy-coded JPEG data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker; anything
# else (after optional 0xFF fill bytes) is the next marker.
_JPEG_NEXT_MARKER: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_FRAME_MARKERS: Final = frozenset(set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC})


def _jpeg_end(data: bytes) -> int:
    """Offset just past EOI, walking segments (so an embedded EXIF thumbnail's EOI is skipped)."""
    fmt = ImageFormat.JPEG
    size, position = len(data), 2
    has_frame = has_scan = False
    while True:
        if position >= size:
            raise _truncated(fmt, "before_eoi")
        if data[position] != 0xFF:
            raise _malformed(fmt, "marker_expected")
        while position < size and data[position] == 0xFF:
            position += 1
        if position >= size:
            raise _truncated(fmt, "marker")
        marker = data[position]
        position += 1
        if marker == 0xD9:
            if not has_scan:
                raise _malformed(fmt, "no_scan")
            return position
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise _malformed(fmt, "unexpected_marker")
        if position + 2 > size:
            raise _truncated(fmt, "segment_length")
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            raise _malformed(fmt, "segment_length")
        if position + length > size:
            raise _truncated(fmt, "segment")
        position += length
        if marker in _JPEG_FRAME_MARKERS:
            has_frame = True
        elif marker == 0xDA:
            if not has_frame:
                raise _malformed(fmt, "scan_before_frame")
            has_scan = True
            match = _JPEG_NEXT_MARKER.search(data, position)
            if match is None:
                raise _truncated(fmt, "scan_data")
            position = match.start()


def _png_end(data: bytes) -> int:
    """Offset just past IEND, checking every chunk's length and CRC."""
    fmt = ImageFormat.PNG
    view = memoryview(data)
    size, position = len(data), 8
    has_header = has_data = False
    while True:
        if position + 8 > size:
            raise _truncated(fmt, "chunk_header")
        length = int.from_bytes(view[position : position + 4], "big")
        chunk_type = bytes(view[position + 4 : position + 8])
        if length > 0x7FFFFFFF:
            raise _malformed(fmt, "chunk_length")
        chunk_end = position + 12 + length
        if chunk_end > size:
            raise _truncated(fmt, "chunk")
        if not has_header and chunk_type != b"IHDR":
            raise _malformed(fmt, "first_chunk")
        if zlib.crc32(view[position + 4 : position + 8 + length]) != int.from_bytes(
            view[chunk_end - 4 : chunk_end], "big"
        ):
            raise _malformed(fmt, "chunk_crc")
        has_header = True
        if chunk_type == b"IDAT":
            has_data = True
        elif chunk_type == b"IEND":
            if not has_data:
                raise _malformed(fmt, "no_image_data")
            return chunk_end
        position = chunk_end


_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7_PASSES: Final = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_INFLATE_STEP_BYTES: Final = 1 * MIB


def _png_check_pixel_stream(data: bytes) -> None:
    """The IDAT zlib stream must inflate to every row the header promises.

    A PNG can be structurally whole (every CRC right, IEND present) and still carry a complete zlib
    stream holding only some of its rows; Pillow then leaves the missing rows black without an error,
    whatever LOAD_TRUNCATED_IMAGES says. Inflated in steps and thrown away (flat memory); called after
    the pixel budget was checked, so the expected size is bounded.
    """
    fmt = ImageFormat.PNG
    width, height, bit_depth, color_type, interlace = struct.unpack(">IIBBxxB", data[16:29])
    channels = _PNG_CHANNELS.get(color_type)
    if channels is None or bit_depth not in (1, 2, 4, 8, 16):
        raise _malformed(fmt, "header")
    bits_per_pixel = channels * bit_depth
    passes = _ADAM7_PASSES if interlace == 1 else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        pass_width = (width - x0 + dx - 1) // dx if width > x0 else 0
        pass_height = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pass_width and pass_height:
            expected += pass_height * (1 + (pass_width * bits_per_pixel + 7) // 8)
    inflater = zlib.decompressobj()
    inflated = 0
    view = memoryview(data)
    position = 8
    try:
        while position + 8 <= len(data) and inflated < expected:
            length = int.from_bytes(view[position : position + 4], "big")
            chunk_type = bytes(view[position + 4 : position + 8])
            if chunk_type == b"IDAT":
                pending: bytes | memoryview = view[position + 8 : position + 8 + length]
                while pending and inflated < expected:
                    inflated += len(inflater.decompress(pending, _INFLATE_STEP_BYTES))
                    pending = inflater.unconsumed_tail
            elif chunk_type == b"IEND":
                break
            position += 12 + length
        if inflated < expected:
            inflated += len(inflater.flush())
    except zlib.error:
        raise _malformed(fmt, "pixel_data")
    if inflated < expected:
        raise _truncated(fmt, "pixel_data")


def _webp_end(data: bytes) -> int:
    """Offset just past the RIFF chunk, walking its sub-chunks."""
    fmt = ImageFormat.WEBP
    riff_size = int.from_bytes(data[4:8], "little")
    end = 8 + riff_size
    if riff_size < 4:
        raise _malformed(fmt, "riff_size")
    if end > len(data):
        raise _truncated(fmt, "riff")
    position = 12
    while position < end:
        if position + 8 > end:
            raise _truncated(fmt, "chunk_header")
        chunk_size = int.from_bytes(data[position + 4 : position + 8], "little")
        position += 8 + chunk_size + (chunk_size & 1)
        if position > end + (chunk_size & 1):
            raise _truncated(fmt, "chunk")
    return end


def _iso_bmff_end(data: bytes) -> int:
    """End of the last top-level box (HEIF): every box must fit in the file."""
    fmt = ImageFormat.HEIF
    size, position = len(data), 0
    seen: set[bytes] = set()
    while position < size:
        if position + 8 > size:
            raise _truncated(fmt, "box_header")
        box_size = int.from_bytes(data[position : position + 4], "big")
        box_type = data[position + 4 : position + 8]
        header = 8
        if box_size == 1:
            if position + 16 > size:
                raise _truncated(fmt, "box_header")
            box_size = int.from_bytes(data[position + 8 : position + 16], "big")
            header = 16
        elif box_size == 0:
            box_size = size - position
        if box_size < header:
            raise _malformed(fmt, "box_size")
        if position + box_size > size:
            raise _truncated(fmt, "box")
        seen.add(box_type)
        position += box_size
    if b"meta" not in seen:
        raise _malformed(fmt, "no_meta")
    return size


# --- EXIF metadata ---------------------------------------------------------------------------------

_EXIF_IFD: Final = 0x8769
_GPS_IFD: Final = 0x8825
_DATETIME_ORIGINAL: Final = 0x9003
_OFFSET_TIME_ORIGINAL: Final = 0x9011
_SUBSEC_TIME_ORIGINAL: Final = 0x9291
_GPS_LATITUDE_REF: Final = 1
_GPS_LATITUDE: Final = 2
_GPS_LONGITUDE_REF: Final = 3
_GPS_LONGITUDE: Final = 4
_OFFSET_PATTERN: Final = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _read_exif(image: Image.Image, *, flags: set[ImageFlag]) -> Image.Exif | None:
    try:
        return image.getexif()
    except Exception:
        flags.add(ImageFlag.EXIF_UNREADABLE)
        return None


def _sub_ifd(exif: Image.Exif, tag: int, *, flags: set[ImageFlag]) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:
        flags.add(ImageFlag.EXIF_UNREADABLE)
        return {}


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if isinstance(value, tuple) and len(value) == 1:
        return _exif_text(value[0])
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").strip() or None


def _captured_at(exif: Image.Exif | None, *, flags: set[ImageFlag]) -> str | None:
    """DateTimeOriginal as ISO 8601, with sub-seconds and OffsetTimeOriginal when recorded."""
    if exif is None:
        return None
    fields = _sub_ifd(exif, _EXIF_IFD, flags=flags)
    if _DATETIME_ORIGINAL not in fields:
        return None
    raw = _exif_text(fields.get(_DATETIME_ORIGINAL))
    try:
        # Naive on purpose: a device clock reading is data, kept exactly as recorded (DESIGN §4).
        recorded = datetime.strptime(raw or "", "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        flags.add(ImageFlag.CAPTURED_AT_UNREADABLE)
        return None
    subseconds = _exif_text(fields.get(_SUBSEC_TIME_ORIGINAL))
    if subseconds and subseconds.isdigit():
        recorded = recorded.replace(microsecond=int(subseconds[:6].ljust(6, "0")))
    text = recorded.isoformat()
    offset = _exif_text(fields.get(_OFFSET_TIME_ORIGINAL))
    match = _OFFSET_PATTERN.match(offset or "")
    if match and int(match.group(2)) <= 14 and int(match.group(3)) < 60:
        text += offset or ""
    return text


def _gps_position(exif: Image.Exif | None, *, flags: set[ImageFlag]) -> GpsPosition | None:
    if exif is None:
        return None
    fields = _sub_ifd(exif, _GPS_IFD, flags=flags)
    if _GPS_LATITUDE not in fields and _GPS_LONGITUDE not in fields:
        return None
    latitude = _gps_degrees(fields.get(_GPS_LATITUDE), _exif_text(fields.get(_GPS_LATITUDE_REF)), "N", "S", 90.0)
    longitude = _gps_degrees(fields.get(_GPS_LONGITUDE), _exif_text(fields.get(_GPS_LONGITUDE_REF)), "E", "W", 180.0)
    if latitude is None or longitude is None:
        flags.add(ImageFlag.GPS_UNREADABLE)
        return None
    if latitude == 0.0 and longitude == 0.0:  # what phones write when they had no fix
        return None
    return GpsPosition(latitude=latitude, longitude=longitude)


def _gps_degrees(value: object, reference: str | None, positive: str, negative: str, limit: float) -> float | None:
    if reference not in (positive, negative) or not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(part) and part >= 0 for part in (degrees, minutes, seconds)):
        return None
    if minutes >= 60 or seconds >= 60:
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if total > limit:
        return None
    return -total if reference == negative else total


# --- colour ----------------------------------------------------------------------------------------

_SRGB_PROFILE: Final = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SIXTEEN_BIT_GREY_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})


def _to_rgb(image: Image.Image, *, icc_profile: bytes | None, flags: set[ImageFlag]) -> tuple[Image.Image, bool]:
    """8-bit RGB, transparent areas flattened on white. Returns (image, already colour-managed)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_GREY_MODES:
        # Pillow's I;16 -> L conversion clips at 255 (a 16-bit grey photo comes out white): scale.
        values = np.asarray(image).astype(np.int64)
        scaled = ((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8)
        # A PNG tRNS chunk names one 16-bit grey value as transparent (Pillow keeps it in info, unscaled).
        transparent_value = image.info.get("transparency")
        if isinstance(transparent_value, int) and not isinstance(transparent_value, bool):
            is_transparent = values == transparent_value
            if is_transparent.any():
                scaled[is_transparent] = 255
                flags.add(ImageFlag.ALPHA_FLATTENED)
        return Image.fromarray(scaled).convert("RGB"), False
    if mode == "CMYK":
        if icc_profile:
            converted = _cms_convert(image, icc_profile=icc_profile, expected_space="CMYK")
            if converted is not None:
                return converted, True
            flags.add(ImageFlag.COLOR_PROFILE_IGNORED)
        return image.convert("RGB"), True
    if mode == "P":
        has_alpha = image.info.get("transparency") is not None or (
            image.palette is not None and image.palette.mode == "RGBA"
        )
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif (mode in ("1", "L", "RGB") and image.info.get("transparency") is not None) or mode in _ALPHA_MODES:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        lowest_alpha = alpha.getextrema()[0]
        if isinstance(lowest_alpha, (int, float)) and lowest_alpha < 255:
            flattened = Image.new("RGB", image.size, (255, 255, 255))
            flattened.paste(image.convert("RGB"), mask=alpha)
            flags.add(ImageFlag.ALPHA_FLATTENED)
            return flattened, False
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image, False


def _to_srgb(image: Image.Image, *, icc_profile: bytes, flags: set[ImageFlag]) -> Image.Image:
    """Convert RGB pixels from the embedded profile (e.g. Display P3) to sRGB; derivatives carry no ICC."""
    converted = _cms_convert(image, icc_profile=icc_profile, expected_space="RGB")
    if converted is None:
        flags.add(ImageFlag.COLOR_PROFILE_IGNORED)
        return image
    return converted


def _cms_convert(image: Image.Image, *, icc_profile: bytes, expected_space: str) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if source.profile.xcolor_space.strip() != expected_space:
            return None
        return ImageCms.profileToProfile(image, source, _SRGB_PROFILE, outputMode="RGB")
    except Exception:
        return None


# --- derivatives -----------------------------------------------------------------------------------


def _write_derivative(image: Image.Image, *, kind: DerivativeKind, out_dir: Path, original_sha256: str) -> Derivative:
    clean = image.copy()
    clean.info = {}  # nothing from the original (comment, EXIF, XMP, ICC) may reach the encoder
    buffer = io.BytesIO()
    clean.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    payload = buffer.getvalue()
    path = out_dir / f"{original_sha256}_{kind}.jpg"
    _write_atomically(path, payload)
    return Derivative(
        kind=kind,
        path=path,
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        width=clean.width,
        height=clean.height,
    )


def _write_atomically(path: Path, payload: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
