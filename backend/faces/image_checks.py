"""Format sniffing and completeness checks on raw image bytes, independent of Pillow's global flags.

``import face_recognition`` sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` for the whole process.
With that flag Pillow pads a truncated JPEG with grey, stops quietly at the end of a short PNG and also
swallows decoder error codes, so "Pillow decoded it" proves nothing about completeness. These checks walk
the container structure of the bytes themselves (JPEG markers up to EOI, PNG chunks with CRCs up to IEND,
the RIFF size of WebP, the ISO-BMFF boxes of HEIF) and never consult that flag.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Final, Literal

from backend.faces.errors import (
    IMAGE_FORMAT_NOT_ALLOWED,
    IMAGE_TRUNCATED,
    IMAGE_UNREADABLE,
    ImageRejectedError,
)

AllowedFormat = Literal["JPEG", "PNG", "WEBP", "HEIF"]

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_GENERIC_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1"})
# Inside JPEG entropy-coded data 0xFF is followed by 0x00 (stuffing), 0xD0-0xD7 (restart markers)
# or more 0xFF (fill). Any other byte after 0xFF starts the next marker.
_JPEG_NEXT_MARKER: Final = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def sniff_format(data: bytes) -> AllowedFormat:
    """Return the allowed container format of ``data``, judged by its leading bytes only.

    Raises ImageRejectedError(IMAGE_FORMAT_NOT_ALLOWED) for anything that is not JPEG, PNG, WebP or a
    HEIC/HEIF still image (AVIF, GIF, TIFF, BMP, SVG, ... and unknown bytes), with ``details["detected"]``.
    """
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and len(data) >= 16:
        brands = _ftyp_brands(data)
        if brands & _HEIF_BRANDS or (brands & _GENERIC_HEIF_BRANDS and b"avif" not in brands):
            return "HEIF"
        detected = "AVIF" if b"avif" in brands else "ISO-BMFF"
        raise _not_allowed(detected)
    raise _not_allowed(_describe_unknown(data))


def check_complete(data: bytes, image_format: AllowedFormat) -> None:
    """Verify that ``data`` holds a structurally complete image of ``image_format``.

    Raises ImageRejectedError with IMAGE_TRUNCATED when the bytes end before the image does, and
    IMAGE_UNREADABLE when the structure is corrupt (bad lengths, PNG CRC mismatch, missing parts).
    """
    if image_format == "JPEG":
        _check_jpeg(data)
    elif image_format == "PNG":
        _check_png(data)
    elif image_format == "WEBP":
        _check_webp(data)
    else:
        _check_heif(data)


def _not_allowed(detected: str) -> ImageRejectedError:
    return ImageRejectedError(
        IMAGE_FORMAT_NOT_ALLOWED,
        "Only JPEG, PNG, WebP and HEIC photos are accepted.",
        {"detected": detected, "allowed": ["JPEG", "PNG", "WEBP", "HEIF"]},
    )


def _truncated(image_format: str, detail: str) -> ImageRejectedError:
    return ImageRejectedError(
        IMAGE_TRUNCATED,
        "The photo is incomplete (the upload or the file was cut short).",
        {"format": image_format, "reason": detail},
    )


def _corrupt(image_format: str, detail: str) -> ImageRejectedError:
    return ImageRejectedError(
        IMAGE_UNREADABLE,
        "The photo could not be read.",
        {"format": image_format, "reason": detail},
    )


def _describe_unknown(data: bytes) -> str:
    prefixes: tuple[tuple[bytes, str], ...] = (
        (b"GIF8", "GIF"),
        (b"BM", "BMP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"%PDF", "PDF"),
        (b"<svg", "SVG"),
        (b"<?xml", "XML"),
    )
    for prefix, name in prefixes:
        if data.startswith(prefix):
            return name
    return "unknown"


def _ftyp_brands(data: bytes) -> set[bytes]:
    (box_size,) = struct.unpack(">I", data[0:4])
    end = min(len(data), max(box_size, 16))
    brands = {data[8:12]}
    brands.update(data[i : i + 4] for i in range(16, end - 3, 4))
    return brands


def _check_jpeg(data: bytes) -> None:
    size = len(data)
    position = 2  # after SOI
    has_scan = False
    while True:
        # Markers may be preceded by fill bytes (0xFF) and, in sloppy files, by stray bytes.
        next_ff = data.find(b"\xff", position)
        if next_ff < 0:
            raise _truncated("JPEG", "no end-of-image marker")
        position = next_ff
        while position < size and data[position] == 0xFF:
            position += 1
        if position >= size:
            raise _truncated("JPEG", "no end-of-image marker")
        marker = data[position]
        position += 1
        if marker == 0xD9:  # EOI: anything after it (MPF frames, vendor trailers) is not our business
            if not has_scan:
                raise _corrupt("JPEG", "end-of-image before any scan")
            return
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8, 0x00):
            continue  # standalone markers carry no length
        if position + 2 > size:
            raise _truncated("JPEG", f"segment 0x{marker:02X} header cut short")
        (length,) = struct.unpack(">H", data[position : position + 2])
        if length < 2:
            raise _corrupt("JPEG", f"segment 0x{marker:02X} has invalid length")
        if position + length > size:
            raise _truncated("JPEG", f"segment 0x{marker:02X} cut short")
        position += length
        if marker == 0xDA:  # SOS: entropy-coded data runs until the next real marker
            has_scan = True
            match = _JPEG_NEXT_MARKER.search(data, position)
            if match is None:
                raise _truncated("JPEG", "scan data cut short")
            position = match.start()


def _check_png(data: bytes) -> None:
    size = len(data)
    position = len(_PNG_SIGNATURE)
    seen_header = False
    seen_data = False
    while True:
        if position + 8 > size:
            raise _truncated("PNG", "no IEND chunk")
        length, chunk_type = struct.unpack(">I4s", data[position : position + 8])
        if length > 0x7FFFFFFF:
            raise _corrupt("PNG", "chunk length out of range")
        end = position + 8 + length + 4
        if end > size:
            raise _truncated("PNG", f"chunk {chunk_type!r} cut short")
        body = data[position + 4 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : end])
        if zlib.crc32(body) != crc:
            raise _corrupt("PNG", f"chunk {chunk_type!r} fails its CRC")
        if not seen_header and chunk_type != b"IHDR":
            raise _corrupt("PNG", "first chunk is not IHDR")
        seen_header = True
        seen_data = seen_data or chunk_type == b"IDAT"
        position = end
        if chunk_type == b"IEND":
            if not seen_data:
                raise _corrupt("PNG", "no IDAT chunk")
            return


def _check_webp(data: bytes) -> None:
    if len(data) < 12:
        raise _truncated("WEBP", "RIFF header cut short")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if riff_size % 2 or riff_size < 4:
        raise _corrupt("WEBP", "invalid RIFF size")
    if len(data) < end:
        raise _truncated("WEBP", "RIFF payload cut short")
    position = 12
    seen_image = False
    while position < end:
        if position + 8 > end:
            raise _corrupt("WEBP", "chunk header overruns the RIFF payload")
        fourcc, chunk_size = struct.unpack("<4sI", data[position : position + 8])
        position += 8 + chunk_size + (chunk_size & 1)
        if position > end:
            raise _corrupt("WEBP", f"chunk {fourcc!r} overruns the RIFF payload")
        seen_image = seen_image or fourcc in (b"VP8 ", b"VP8L", b"ANMF")
    if not seen_image:
        raise _corrupt("WEBP", "no image chunk")


def _check_heif(data: bytes) -> None:
    size = len(data)
    position = 0
    box_types: set[bytes] = set()
    while position < size:
        if position + 8 > size:
            raise _truncated("HEIF", "box header cut short")
        box_size, box_type = struct.unpack(">I4s", data[position : position + 8])
        if box_size == 1:
            if position + 16 > size:
                raise _truncated("HEIF", "large box header cut short")
            (box_size,) = struct.unpack(">Q", data[position + 8 : position + 16])
        elif box_size == 0:
            box_size = size - position  # "extends to the end of the file"
        if box_size < 8:
            raise _corrupt("HEIF", f"box {box_type!r} has invalid size")
        if position + box_size > size:
            raise _truncated("HEIF", f"box {box_type!r} cut short")
        box_types.add(box_type)
        position += box_size
    if not {b"ftyp", b"meta"} <= box_types:
        raise _corrupt("HEIF", "missing ftyp or meta box")
