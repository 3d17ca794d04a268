"""The pure face pipeline: bytes -> decoded RGB pixels -> every face -> 128-d templates -> quality gates.

No Django, no database, no network. The Django app calls ``encode_photo_bytes`` (usually through
``FaceWorkerPool`` so the CPU-heavy dlib work runs in worker processes, outside any transaction).

Model choices (measured in ``backend/faces/eval_report.json``):
- detector: dlib HOG through ``face_recognition.face_locations(model="hog")``, on the colour pixels for
  images up to 800 px and on grey above (see ``PipelineSettings``: "detector_colour_study");
- landmarks: the 5-point model (``LANDMARK_MODEL = "small"``, the aligner of dlib's own face recognition
  example); the 68-point model measured the same within noise ("landmark_model_comparison");
- encoder: dlib ResNet via ``face_recognition.face_encodings`` with ``num_jitters=1``.

Thread safety: dlib's models are process globals inside ``face_recognition``; calls into them are
serialised by a process-wide lock, and real parallelism comes from worker processes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import math
import signal
import struct
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from multiprocessing import get_context
from types import ModuleType, TracebackType
from typing import Any, Final, Literal, ParamSpec, TypeVar, cast

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps

from backend.faces import thresholds
from backend.faces.errors import (
    FACE_NOT_FOUND,
    FACE_TOO_BLURRY,
    FACE_TOO_SMALL,
    IMAGE_DECOMPRESSION_BOMB,
    IMAGE_TOO_LARGE,
    IMAGE_UNREADABLE,
    FacePipelineError,
    FaceQualityError,
    ImageRejectedError,
)
from backend.faces.image_checks import AllowedFormat, check_complete, sniff_format

Purpose = Literal["enrol", "probe"]
LandmarkModel = Literal["small", "large"]
Pixels = npt.NDArray[np.uint8]
Encoding = npt.NDArray[np.float32]

ENCODING_DIMENSIONS: Final = 128
DETECTOR: Final = "hog"
NUM_JITTERS: Final = 1
# The 5-point landmark model: faster than the 68-point one and measured the same within noise in
# eval_report.json ("landmark_model_comparison": TAR@FAR=1e-3 0.913 vs 0.906, rank-1 0.929 vs 0.930).
LANDMARK_MODEL: Final[LandmarkModel] = "small"
# Bumped whenever a change alters the templates produced for the same bytes (invalidates caches and
# tells the gallery to re-encode).
PIPELINE_VERSION: Final = 1

# Side of the square grey face crop the blur measure is computed on, so one threshold fits all sizes.
BLUR_CROP_SIDE_PX: Final = 100

_P = ParamSpec("_P")
_R = TypeVar("_R")


class QualityFlag(StrEnum):
    """Observations about one detected face. Gates turn some of them into errors."""

    TOO_SMALL = "too_small"
    BLURRY = "blurry"
    UPSAMPLED = "upsampled"
    MULTIPLE_FACES = "multiple_faces"
    AT_IMAGE_EDGE = "at_image_edge"


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Tunables of decode, detection and the quality gates. Defaults are the measured production values.

    Size limits: ``max_bytes`` on the upload, ``max_pixels`` on the stored pixel count (JPEG decodes
    through libjpeg's DCT scaling, so its limit can be higher: ``max_jpeg_pixels``).
    Upsampling rule: HOG runs once on the decoded image with no upsampling. Only when that finds no face
    *and* the decoded image's longer side is at most ``upsample_max_side`` does it run again with
    ``upsample`` pyramid doublings. Small images are where faces under HOG's 80 px window live;
    upsampling a 1600 px image would cost about a second of CPU for faces too small to encode well.
    Colour rule: images whose longer side is above ``colour_detection_max_side`` are searched by HOG in
    grey (half the CPU of colour HOG on a 1600 px photo); smaller ones in colour, where it finds a few
    more faces near the detector's limit (measured in eval_report.json, "detector_colour_study").
    """

    max_side: int = 1600
    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_jpeg_pixels: int = 150_000_000
    min_face_px: int = thresholds.MIN_FACE_PX
    min_blur_variance: float = thresholds.MIN_BLUR_VARIANCE
    upsample: int = 1
    upsample_max_side: int = 800
    colour_detection_max_side: int = 800
    landmark_model: LandmarkModel = LANDMARK_MODEL
    max_faces: int = 20

    def without_gates(self) -> PipelineSettings:
        """The same detection and encoding with the size and blur gates switched off (for measuring)."""
        return replace(self, min_face_px=0, min_blur_variance=0.0)


DEFAULT_SETTINGS: Final = PipelineSettings()


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """Pixels ready for dlib: C-contiguous ``uint8`` H x W x 3 RGB, EXIF orientation already applied.

    ``original_width``/``original_height`` are the upright (EXIF-oriented) size of the full-resolution
    photo; ``scale`` = decoded size / original size (<= 1).
    """

    pixels: Pixels
    scale: float
    original_width: int
    original_height: int
    source_format: str
    exif_orientation: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A face rectangle in pixel coordinates, ``face_recognition``'s (top, right, bottom, left) order."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def as_dict(self) -> dict[str, int]:
        return {"top": self.top, "right": self.right, "bottom": self.bottom, "left": self.left}


@dataclass(frozen=True, slots=True)
class TemplateMeta:
    """How a template was made. Templates with different metas must not be compared blindly."""

    dlib_version: str
    face_recognition_version: str
    detector: str
    upsample: int
    jitters: int
    landmark_model: str
    pipeline_version: int = PIPELINE_VERSION

    def as_dict(self) -> dict[str, str | int]:
        return {
            "dlib_version": self.dlib_version,
            "face_recognition_version": self.face_recognition_version,
            "detector": self.detector,
            "upsample": self.upsample,
            "jitters": self.jitters,
            "landmark_model": self.landmark_model,
            "pipeline_version": self.pipeline_version,
        }


@dataclass(frozen=True, slots=True, eq=False)
class FaceTemplate:
    """One detected face and its encoding.

    ``box`` is in original-image coordinates (upright full-resolution photo), ``face_size_px`` is the
    shorter side of that box; ``analysed_face_size_px`` is the same face in the decoded pixels the
    encoder actually saw, which is what the size gate judges. ``blur_variance`` is the variance of the
    Laplacian of the grey face crop resampled to BLUR_CROP_SIDE_PX (higher is sharper).
    """

    encoding: Encoding
    box: FaceBox
    face_size_px: int
    analysed_face_size_px: int
    blur_variance: float
    quality_flags: tuple[QualityFlag, ...]
    template_meta: TemplateMeta


@dataclass(frozen=True, slots=True, eq=False)
class EncodeResult:
    """Everything ``encode_photo_bytes`` learned about one photo. Picklable (crosses process borders).

    ``templates``: every detected face, largest first (possibly empty). ``primary``: the largest face when
    it passed the gates. ``error``: the rejection, if any (then ``primary`` is None).
    """

    purpose: Purpose
    sha256: str
    templates: tuple[FaceTemplate, ...]
    primary: FaceTemplate | None
    error: FacePipelineError | None
    image_width: int = 0
    image_height: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def is_ok(self) -> bool:
        return self.error is None

    @property
    def usable_templates(self) -> tuple[FaceTemplate, ...]:
        """Templates to keep: the primary for enrolment; for a probe every face passing the gates,
        even when the largest face failed them (a blurred face in front does not hide a sharp one).

        (The ``too_small``/``blurry`` flags were set with the same settings that gated the primary.)
        """
        if self.purpose == "enrol":
            return () if self.primary is None else (self.primary,)
        return tuple(t for t in self.templates if _passes_probe_gates(t))

    def primary_or_raise(self) -> FaceTemplate:
        """Return the primary template. Raises the stored ImageRejectedError or FaceQualityError."""
        if self.error is not None:
            raise self.error
        assert self.primary is not None
        return self.primary


def _passes_probe_gates(template: FaceTemplate) -> bool:
    return QualityFlag.TOO_SMALL not in template.quality_flags and QualityFlag.BLURRY not in template.quality_flags


# --------------------------------------------------------------------------------------------------
# Decoding


def decode_for_faces(
    data: bytes, *, max_side: int = 1600, settings: PipelineSettings = DEFAULT_SETTINGS
) -> DecodedImage:
    """Decode untrusted photo bytes into upright RGB pixels whose longer side is at most ``max_side``.

    Allow-list by content (JPEG, PNG, WebP, HEIC/HEIF via pillow_heif), completeness verified on the
    bytes themselves (independent of ``ImageFile.LOAD_TRUNCATED_IMAGES``), JPEG decoded at reduced size
    through libjpeg's DCT scaling (``draft``), EXIF orientation applied exactly once
    (``ImageOps.exif_transpose``; the returned array carries no EXIF), every mode converted to 8-bit RGB
    (alpha composited on white; 16-bit scaled, not clipped).

    Raises ImageRejectedError with IMAGE_FORMAT_NOT_ALLOWED, IMAGE_TRUNCATED, IMAGE_UNREADABLE,
    IMAGE_TOO_LARGE (bytes) or IMAGE_DECOMPRESSION_BOMB (pixels).
    """
    if max_side < 1:
        raise ValueError("max_side must be positive")
    if len(data) > settings.max_bytes:
        raise ImageRejectedError(
            IMAGE_TOO_LARGE,
            "The photo file is too large.",
            {"size_bytes": len(data), "max_bytes": settings.max_bytes},
        )
    if len(data) < 16:
        raise ImageRejectedError(IMAGE_UNREADABLE, "The photo could not be read.", {"reason": "empty"})
    image_format = sniff_format(data)
    if image_format == "HEIF":
        _register_heif()
    check_complete(data, image_format)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format])
            return _decode_opened(image, image_format, max_side, settings)
    except Image.DecompressionBombError as error:
        raise _bomb(0, 0, settings.max_pixels) from error
    except FacePipelineError:
        raise
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as error:
        raise ImageRejectedError(
            IMAGE_UNREADABLE,
            "The photo could not be read.",
            {"format": image_format, "reason": type(error).__name__},
        ) from error


def _decode_opened(
    image: Image.Image, image_format: AllowedFormat, max_side: int, settings: PipelineSettings
) -> DecodedImage:
    stored_width, stored_height = image.size
    limit = settings.max_jpeg_pixels if image_format == "JPEG" else settings.max_pixels
    if stored_width * stored_height > limit:
        raise _bomb(stored_width, stored_height, limit)
    if stored_width < 1 or stored_height < 1:
        raise ImageRejectedError(IMAGE_UNREADABLE, "The photo could not be read.", {"reason": "empty"})
    orientation = int(image.getexif().get(ExifTags.Base.Orientation, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    scale = min(1.0, max_side / max(stored_width, stored_height))

    if image_format == "JPEG" and scale < 1.0:
        # libjpeg decodes at 1/2, 1/4 or 1/8 directly, never below the requested size.
        image.draft("RGB", (math.ceil(stored_width * scale), math.ceil(stored_height * scale)))
    image.load()
    ImageOps.exif_transpose(image, in_place=True)  # the one place orientation is applied

    upright_swapped = orientation in (5, 6, 7, 8)
    original_width, original_height = (
        (stored_height, stored_width) if upright_swapped else (stored_width, stored_height)
    )
    target = (
        max(1, round(original_width * scale)),
        max(1, round(original_height * scale)),
    )
    rgb = _to_rgb8(image)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return DecodedImage(
        pixels=pixels,
        scale=target[0] / original_width,
        original_width=original_width,
        original_height=original_height,
        source_format=image_format,
        exif_orientation=orientation,
    )


def _bomb(width: int, height: int, limit: int) -> ImageRejectedError:
    return ImageRejectedError(
        IMAGE_DECOMPRESSION_BOMB,
        "The photo has too many pixels.",
        {"width": width, "height": height, "max_pixels": limit},
    )


def _to_rgb8(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image).astype(np.int64)
        if mode == "I" and values.size and int(values.max()) <= 255:
            grey = np.clip(values, 0, 255).astype(np.uint8)
        else:
            grey = ((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        floats = np.nan_to_num(np.asarray(image, dtype=np.float64))
        if floats.size and float(floats.max()) <= 1.0:
            floats = floats * 255.0
        return Image.fromarray(np.clip(floats, 0, 255).round().astype(np.uint8)).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "1":
        return image.convert("L").convert("RGB")
    return image.convert("RGB")  # L, CMYK (Adobe inversion handled by Pillow), YCbCr, LAB, HSV


@cache
def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - pillow_heif is a declared dependency
        return False
    pillow_heif.register_heif_opener()
    return True


def heif_supported() -> bool:
    """Whether HEIC/HEIF photos can be decoded in this process (pillow_heif installed and registered)."""
    return _register_heif() and "HEIF" in Image.OPEN


# --------------------------------------------------------------------------------------------------
# Detection and encoding

_DLIB_LOCK = threading.Lock()


@cache
def _face_recognition() -> ModuleType:
    with warnings.catch_warnings():
        # face_recognition_models still imports pkg_resources.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import face_recognition  # type: ignore[import-untyped,unused-ignore]
    return cast(ModuleType, face_recognition)


@cache
def template_meta(
    *, upsample: int, landmark_model: LandmarkModel = LANDMARK_MODEL, in_colour: bool = True
) -> TemplateMeta:
    """The provenance stamped on every template made with these parameters.

    ``detector`` is "hog" (colour HOG) or "hog-grey" (HOG on the luma channel).
    """
    import dlib  # type: ignore[import-untyped,unused-ignore]

    return TemplateMeta(
        dlib_version=str(dlib.__version__),
        # face_recognition.__version__ still says 1.2.3 in the 1.3.0 release; ask the installed metadata.
        face_recognition_version=importlib.metadata.version("face_recognition"),
        detector=DETECTOR if in_colour else f"{DETECTOR}-grey",
        upsample=upsample,
        jitters=NUM_JITTERS,
        landmark_model=landmark_model,
    )


# What two templates must share to be compared: the same libraries, encoder settings and pipeline.
# (Colour or grey HOG and upsampling vary with the photo by design, under the same rules for gallery
# and probe, so they are recorded but not part of it.)
ENCODER_FIELDS: Final = ("dlib_version", "face_recognition_version", "jitters", "landmark_model", "pipeline_version")


def encoder_signature(meta: Mapping[str, object]) -> tuple[object, ...]:
    """The comparability key of a stored ``template_meta`` (see ENCODER_FIELDS)."""
    return tuple(meta.get(name) for name in ENCODER_FIELDS)


def current_encoder_signature() -> tuple[object, ...]:
    """The comparability key of templates this process makes now."""
    return encoder_signature(template_meta(upsample=0).as_dict())


def as_rgb_pixels(image: DecodedImage | npt.NDArray[Any]) -> Pixels:
    """Return C-contiguous uint8 H x W x 3 pixels from a DecodedImage or an array.

    Accepts grey (H x W), RGB and RGBA (alpha dropped) uint8 arrays, contiguous or not.
    Raises TypeError for other dtypes and ValueError for other shapes.
    """
    pixels = image.pixels if isinstance(image, DecodedImage) else image
    if not isinstance(pixels, np.ndarray):
        raise TypeError("image must be a DecodedImage or a numpy array")
    if pixels.dtype != np.uint8:
        raise TypeError(f"image pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = np.stack([pixels, pixels, pixels], axis=-1)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    elif pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"image must be H x W, H x W x 3 or H x W x 4, got shape {pixels.shape}")
    if pixels.shape[0] < 1 or pixels.shape[1] < 1:
        raise ValueError("image is empty")
    return np.ascontiguousarray(pixels)


def detect_and_encode(
    image: DecodedImage | npt.NDArray[Any],
    *,
    min_face_px: int,
    upsample: int,
    upsample_max_side: int = DEFAULT_SETTINGS.upsample_max_side,
    colour_detection_max_side: int = DEFAULT_SETTINGS.colour_detection_max_side,
    min_blur_variance: float = DEFAULT_SETTINGS.min_blur_variance,
    landmark_model: LandmarkModel = LANDMARK_MODEL,
    max_faces: int = DEFAULT_SETTINGS.max_faces,
) -> list[FaceTemplate]:
    """Find every face (HOG) and encode each one; largest first. An empty list means no face.

    Upsampling rule: first pass with no upsampling; only if it finds nothing and the image's longer side
    is <= ``upsample_max_side`` is HOG run again with ``upsample`` doublings (flag ``upsampled``).
    At most ``max_faces`` faces (the largest) are encoded. ``min_face_px`` and ``min_blur_variance`` only
    set the ``too_small`` / ``blurry`` flags here; ``select_primary_face`` turns them into errors.
    Boxes are mapped back to original-image coordinates when given a DecodedImage.

    Not safe to run on one process's dlib models from several threads at once: calls are serialised by
    a lock; run several processes (``FaceWorkerPool``) for parallelism.
    Raises TypeError/ValueError for arrays that are not uint8 images.
    """
    pixels = as_rgb_pixels(image)
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    if isinstance(image, DecodedImage):
        ratio_x = image.original_width / width
        ratio_y = image.original_height / height
        original_width, original_height = image.original_width, image.original_height
    else:
        ratio_x = ratio_y = 1.0
        original_width, original_height = width, height

    face_recognition = _face_recognition()
    used_upsample = 0
    in_colour = max(width, height) <= colour_detection_max_side
    detector_input = pixels if in_colour else _grey(pixels)
    with _DLIB_LOCK:
        locations = face_recognition.face_locations(detector_input, 0, DETECTOR)
        if not locations and upsample > 0 and max(width, height) <= upsample_max_side:
            used_upsample = upsample
            locations = face_recognition.face_locations(detector_input, upsample, DETECTOR)
        boxes = [FaceBox(int(t), int(r), int(b), int(left)) for (t, r, b, left) in locations]
        boxes = [box for box in boxes if box.width > 1 and box.height > 1]
        boxes.sort(key=lambda box: (-box.area, box.top, box.left))
        boxes = boxes[: max(max_faces, 0)]
        raw_encodings = face_recognition.face_encodings(
            pixels,
            known_face_locations=[(b.top, b.right, b.bottom, b.left) for b in boxes],
            num_jitters=NUM_JITTERS,
            model=landmark_model,
        )

    meta = template_meta(upsample=used_upsample, landmark_model=landmark_model, in_colour=in_colour)
    templates: list[FaceTemplate] = []
    for box, raw in zip(boxes, raw_encodings, strict=True):
        encoding = np.asarray(raw, dtype=np.float32).reshape(ENCODING_DIMENSIONS)
        original_box = FaceBox(
            top=_clamp(round(box.top * ratio_y), original_height),
            right=_clamp(round(box.right * ratio_x), original_width),
            bottom=_clamp(round(box.bottom * ratio_y), original_height),
            left=_clamp(round(box.left * ratio_x), original_width),
        )
        analysed_size = min(box.width, box.height)
        blur = blur_variance(pixels, box)
        flags: list[QualityFlag] = []
        if analysed_size < min_face_px:
            flags.append(QualityFlag.TOO_SMALL)
        if blur < min_blur_variance:
            flags.append(QualityFlag.BLURRY)
        if used_upsample:
            flags.append(QualityFlag.UPSAMPLED)
        if len(boxes) > 1:
            flags.append(QualityFlag.MULTIPLE_FACES)
        if box.top <= 0 or box.left <= 0 or box.bottom >= height or box.right >= width:
            flags.append(QualityFlag.AT_IMAGE_EDGE)
        templates.append(
            FaceTemplate(
                encoding=encoding,
                box=original_box,
                face_size_px=min(original_box.width, original_box.height),
                analysed_face_size_px=analysed_size,
                blur_variance=blur,
                quality_flags=tuple(flags),
                template_meta=meta,
            )
        )
    return templates


def count_faces(image: DecodedImage | npt.NDArray[Any], *, in_colour: bool, upsample: int = 0) -> int:
    """How many faces HOG finds in colour or in grey (a measurement helper for the evaluation)."""
    pixels = as_rgb_pixels(image)
    detector_input = pixels if in_colour else _grey(pixels)
    with _DLIB_LOCK:
        return len(_face_recognition().face_locations(detector_input, upsample, DETECTOR))


def _grey(pixels: Pixels) -> Pixels:
    """ITU-R 601 luma, as Pillow's "L" conversion computes it."""
    return np.ascontiguousarray(np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.uint8))


def _clamp(value: int, upper: int) -> int:
    return min(max(int(value), 0), upper)


def blur_variance(pixels: Pixels, box: FaceBox) -> float:
    """Variance of the 4-neighbour Laplacian of the grey face crop, resampled to a fixed size.

    Higher means sharper. The crop is resampled to BLUR_CROP_SIDE_PX square first so the value does not
    depend on how many pixels the face has. Returns 0.0 for an empty crop.
    """
    top, bottom = max(box.top, 0), min(box.bottom, pixels.shape[0])
    left, right = max(box.left, 0), min(box.right, pixels.shape[1])
    if bottom - top < 3 or right - left < 3:
        return 0.0
    crop = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right])).convert("L")
    crop = crop.resize((BLUR_CROP_SIDE_PX, BLUR_CROP_SIDE_PX), Image.Resampling.BILINEAR)
    grey = np.asarray(crop, dtype=np.float32)
    laplacian = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(laplacian.var())


# --------------------------------------------------------------------------------------------------
# Quality gates


def gate_failure_code(
    *, analysed_face_size_px: int, blur_variance: float, settings: PipelineSettings, purpose: Purpose
) -> str | None:
    """The per-face gate: FACE_TOO_SMALL, FACE_TOO_BLURRY or None. Shared with the evaluation.

    Size gates both purposes. Blur gates only probes: an officer can retake a blurry probe photo, but a
    wanted notice's photo is often the only one there is, and a flagged template (``blurry``) searches
    better than no template at all.
    """
    if analysed_face_size_px < settings.min_face_px:
        return FACE_TOO_SMALL
    if purpose == "probe" and blur_variance < settings.min_blur_variance:
        return FACE_TOO_BLURRY
    return None


def _gate_failure(template: FaceTemplate, settings: PipelineSettings, purpose: Purpose) -> FaceQualityError | None:
    code = gate_failure_code(
        analysed_face_size_px=template.analysed_face_size_px,
        blur_variance=template.blur_variance,
        settings=settings,
        purpose=purpose,
    )
    if code == FACE_TOO_SMALL:
        return FaceQualityError(
            FACE_TOO_SMALL,
            "The face is too small in this photo; move closer or crop the photo to the face.",
            {"face_size_px": template.analysed_face_size_px, "min_face_px": settings.min_face_px},
        )
    if code == FACE_TOO_BLURRY:
        return FaceQualityError(
            FACE_TOO_BLURRY,
            "The face is too blurry in this photo; hold the phone still and retake it.",
            {
                "blur_variance": round(template.blur_variance, 2),
                "min_blur_variance": settings.min_blur_variance,
            },
        )
    return None


def select_primary_face(
    templates: list[FaceTemplate] | tuple[FaceTemplate, ...],
    *,
    settings: PipelineSettings = DEFAULT_SETTINGS,
    purpose: Purpose = "probe",
) -> FaceTemplate:
    """Apply the quality gates and return the largest face.

    Gates: a face was found; the largest face is at least ``settings.min_face_px`` in the decoded
    pixels; for a probe, its blur measure is at least ``settings.min_blur_variance`` (an enrolment keeps
    a blurry face, flagged ``blurry``). Other faces do not stop it: the largest is used and carries the
    ``multiple_faces`` flag.
    Raises FaceQualityError with FACE_NOT_FOUND, FACE_TOO_SMALL or FACE_TOO_BLURRY. Never IndexError.
    """
    if not templates:
        raise FaceQualityError(FACE_NOT_FOUND, "No face was found in this photo.", {"face_count": 0})
    primary = max(templates, key=lambda t: (t.box.area, -t.box.top, -t.box.left))
    failure = _gate_failure(primary, settings, purpose)
    if failure is not None:
        failure.details["face_count"] = len(templates)
        raise failure
    return primary


def encode_photo_bytes(data: bytes, purpose: Purpose, *, settings: PipelineSettings = DEFAULT_SETTINGS) -> EncodeResult:
    """Decode, detect, encode and gate one photo. Top-level and picklable: the unit of worker work.

    Expected rejections do not raise: they come back in ``EncodeResult.error`` (ImageRejectedError or
    FaceQualityError with their codes), with whatever faces were found. Programming errors and
    MemoryError propagate.
    """
    if purpose not in ("enrol", "probe"):
        raise ValueError(f"purpose must be 'enrol' or 'probe', got {purpose!r}")
    sha256 = hashlib.sha256(data).hexdigest()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    try:
        decoded = decode_for_faces(data, max_side=settings.max_side, settings=settings)
    except ImageRejectedError as rejected:
        timings["decode_ms"] = _elapsed_ms(started)
        return EncodeResult(purpose, sha256, (), None, rejected, timings_ms=timings)
    timings["decode_ms"] = _elapsed_ms(started)
    started = time.perf_counter()
    templates = detect_and_encode(
        decoded,
        min_face_px=settings.min_face_px,
        upsample=settings.upsample,
        upsample_max_side=settings.upsample_max_side,
        colour_detection_max_side=settings.colour_detection_max_side,
        min_blur_variance=settings.min_blur_variance,
        landmark_model=settings.landmark_model,
        max_faces=settings.max_faces,
    )
    timings["detect_encode_ms"] = _elapsed_ms(started)
    primary: FaceTemplate | None = None
    error: FacePipelineError | None = None
    try:
        primary = select_primary_face(templates, settings=settings, purpose=purpose)
    except FaceQualityError as rejection:
        error = rejection
    return EncodeResult(
        purpose=purpose,
        sha256=sha256,
        templates=tuple(templates),
        primary=primary,
        error=error,
        image_width=decoded.original_width,
        image_height=decoded.original_height,
        timings_ms=timings,
    )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


# --------------------------------------------------------------------------------------------------
# Worker processes


def _worker_initialize() -> None:
    """Load dlib's models once per worker process instead of on its first job.

    Ctrl+C in a terminal reaches the whole process group: the worker ignores it and leaves the
    shutdown to its parent (which stops the pool), instead of dying with a KeyboardInterrupt traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _face_recognition()


class FaceWorkerPool:
    """A lazily started pool of ``spawn``-ed worker processes for face work.

    Each worker holds its own copy of dlib's models (about 150 MB) and runs one job at a time, so no
    model is ever shared between threads. The pool starts on first use; a pool broken by a dead worker
    (for example killed for memory) is replaced on the next submit. Thread-safe.
    """

    def __init__(self, *, max_workers: int = 2, max_tasks_per_child: int | None = None) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.max_tasks_per_child = max_tasks_per_child
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _get_executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.max_workers,
                    mp_context=get_context("spawn"),
                    initializer=_worker_initialize,
                    max_tasks_per_child=self.max_tasks_per_child,
                )
            return self._executor

    def submit_task(self, function: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_R]:
        """Run a top-level (picklable) ``function`` in a worker. Raises RuntimeError after shutdown."""
        executor = self._get_executor()
        try:
            return executor.submit(function, *args, **kwargs)
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            return self._get_executor().submit(function, *args, **kwargs)

    def submit(
        self, data: bytes, purpose: Purpose, *, settings: PipelineSettings = DEFAULT_SETTINGS
    ) -> Future[EncodeResult]:
        """Schedule ``encode_photo_bytes(data, purpose)`` in a worker."""
        return self.submit_task(encode_photo_bytes, data, purpose, settings=settings)

    def encode(
        self,
        data: bytes,
        purpose: Purpose,
        *,
        settings: PipelineSettings = DEFAULT_SETTINGS,
        timeout_seconds: float | None = None,
    ) -> EncodeResult:
        """Encode in a worker and wait. Raises TimeoutError, or BrokenProcessPool if the worker died."""
        return self.submit(data, purpose, settings=settings).result(timeout=timeout_seconds)

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop the workers (a later submit starts a fresh pool)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __enter__(self) -> FaceWorkerPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True, cancel_futures=exc is not None)
