from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
from PIL import ExifTags, Image, ImageFile, ImageFilter

from backend.faces import errors, thresholds
from backend.faces.errors import FaceQualityError, ImageRejectedError
from backend.faces.index import GalleryIndex
from backend.faces.pipeline import (
    DEFAULT_SETTINGS,
    EncodeResult,
    FaceTemplate,
    FaceWorkerPool,
    QualityFlag,
    decode_for_faces,
    detect_and_encode,
    encode_photo_bytes,
    heif_supported,
    select_primary_face,
)
from tests.faces.conftest import encode_image

# Chosen from the evaluation: each has exactly one face in both photos.
PHOTO = "Colin_Jackson/0001.jpg"
ENROLLED = "Jennifer_Reilly/0001.jpg"
PROBE = "Jennifer_Reilly/0002.jpg"
LEFT_FACE = "Johnson_Panjaitan/0001.jpg"
RIGHT_FACE = "Grant_Hackett/0001.jpg"
DISTRACTORS = (
    "Imad_Moustapha/0001.jpg",
    "James_Wolfensohn/0001.jpg",
    "Azra_Akin/0001.jpg",
    "Jeffrey_Scott_Postell/0001.jpg",
    "Johnson_Panjaitan/0001.jpg",
    "Dwayne_Johnson/0001.jpg",
    "Jean_Brumley/0001.jpg",
    "Arye_Mekel/0001.jpg",
    "Colin_Jackson/0001.jpg",
    "Grant_Hackett/0001.jpg",
    "Dianne_Feinstein/0001.jpg",
    "Augusto_Pinochet/0001.jpg",
    "Donna_Shalala/0001.jpg",
    "Jane_Kaczmarek/0001.jpg",
)

PhotoBytes = Callable[[str], bytes]
PhotoImage = Callable[[str], Image.Image]


def single_template(data: bytes) -> FaceTemplate:
    result = encode_photo_bytes(data, "probe")
    assert result.error is None, result.error
    assert len(result.templates) == 1
    assert result.primary is not None
    return result.primary


def distance(a: FaceTemplate, b: FaceTemplate) -> float:
    return float(np.linalg.norm(a.encoding - b.encoding))


def with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return encode_image(image, "JPEG", quality=95, exif=exif.tobytes())


# Stored pixels that a viewer turns upright by applying the EXIF orientation.
STORED_FOR_ORIENTATION = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


# -- identification on real photos --------------------------------------------------------------------


def test_second_photo_of_an_identity_ranks_the_first_photo_at_rank_1(photo_bytes: PhotoBytes) -> None:
    index = GalleryIndex()
    for relative_path in (ENROLLED, *DISTRACTORS):
        template = single_template(photo_bytes(relative_path))
        index.add(relative_path.split("/")[0], relative_path, template.encoding)

    candidates = index.search(single_template(photo_bytes(PROBE)).encoding, 10)

    assert candidates[0].key == "Jennifer_Reilly"
    assert candidates[0].template_id == ENROLLED
    assert candidates[0].rank == 1
    assert candidates[0].distance < candidates[1].distance
    assert 0.0 < candidates[0].score <= 1.0


# -- orientation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", sorted(STORED_FOR_ORIENTATION))
def test_exif_orientation_is_applied_once_before_detection(photo_image: PhotoImage, orientation: int) -> None:
    upright = photo_image(PHOTO).crop((0, 20, 250, 230))  # not square: width and height must swap back
    upright_template = single_template(encode_image(upright, "JPEG", quality=95))
    stored = upright.transpose(STORED_FOR_ORIENTATION[orientation])
    data = with_orientation(stored, orientation)

    decoded = decode_for_faces(data)
    template = single_template(data)

    assert decoded.exif_orientation == orientation
    assert (decoded.width, decoded.height) == (250, 210)
    assert (decoded.original_width, decoded.original_height) == (250, 210)
    difference = np.abs(decoded.pixels.astype(np.int16) - np.asarray(upright, dtype=np.int16))
    assert float(difference.mean()) < 4.0  # JPEG noise only: upright, not rotated twice
    assert abs(template.box.left - upright_template.box.left) <= 6
    assert abs(template.box.top - upright_template.box.top) <= 6
    assert distance(template, upright_template) < 0.2


def test_the_same_rotated_pixels_without_the_orientation_tag_show_no_upright_face(photo_image: PhotoImage) -> None:
    stored = photo_image(PHOTO).transpose(Image.Transpose.ROTATE_90)

    result = encode_photo_bytes(encode_image(stored, "JPEG", quality=95), "probe")

    assert result.error is not None
    assert result.error.code == errors.FACE_NOT_FOUND


# -- image modes and formats ---------------------------------------------------------------------------


def _rgba_with_transparent_border(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    alpha = Image.new("L", image.size, 0)
    alpha.paste(255, (20, 20, image.width - 20, image.height - 20))
    rgba.putalpha(alpha)
    return rgba


def _grey_16_bit(image: Image.Image) -> Image.Image:
    grey = np.asarray(image.convert("L"), dtype=np.uint16) * 257
    return Image.fromarray(grey)


VARIANTS: dict[str, Callable[[Image.Image], bytes]] = {
    "rgba-png": lambda im: encode_image(_rgba_with_transparent_border(im), "PNG"),
    "la-png": lambda im: encode_image(im.convert("LA"), "PNG"),
    "grey-jpeg": lambda im: encode_image(im.convert("L"), "JPEG", quality=95),
    "palette-png": lambda im: encode_image(im.quantize(256), "PNG"),
    "cmyk-jpeg": lambda im: encode_image(im.convert("CMYK"), "JPEG", quality=95),
    "16-bit-grey-png": lambda im: encode_image(_grey_16_bit(im), "PNG"),
    "webp": lambda im: encode_image(im, "WEBP", quality=95),
    "progressive-jpeg": lambda im: encode_image(im, "JPEG", quality=95, progressive=True),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_allowed_mode_decodes_to_contiguous_rgb8_and_finds_the_face(
    photo_image: PhotoImage, variant: str
) -> None:
    image = photo_image(PHOTO)
    reference = single_template(encode_image(image, "PNG"))
    data = VARIANTS[variant](image)

    decoded = decode_for_faces(data)
    template = single_template(data)

    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == (250, 250, 3)
    assert decoded.pixels.flags.c_contiguous
    assert distance(template, reference) < 0.25


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped(photo_image: PhotoImage) -> None:
    image = photo_image(PHOTO)
    grey = np.asarray(image.convert("L"))

    decoded = decode_for_faces(encode_image(_grey_16_bit(image), "PNG"))

    assert np.array_equal(decoded.pixels[:, :, 0], grey)
    assert np.array_equal(decoded.pixels[:, :, 1], grey)


def test_transparent_pixels_are_composited_on_white(photo_image: PhotoImage) -> None:
    decoded = decode_for_faces(VARIANTS["rgba-png"](photo_image(PHOTO)))

    assert decoded.pixels[0, 0].tolist() == [255, 255, 255]


def test_heic_is_allowed_when_pillow_heif_is_registered(photo_image: PhotoImage) -> None:
    if not heif_supported():
        pytest.skip("pillow_heif is not installed")
    image = photo_image(PHOTO)
    reference = single_template(encode_image(image, "PNG"))

    template = single_template(encode_image(image, "HEIF", quality=95))

    assert distance(template, reference) < 0.25


def test_non_contiguous_and_grey_arrays_give_the_same_encoding(photo_image: PhotoImage) -> None:
    pixels = np.asarray(photo_image(PHOTO), dtype=np.uint8)
    wide = np.zeros((pixels.shape[0], pixels.shape[1] * 2, 3), dtype=np.uint8)
    wide[:, ::2] = pixels
    rgba = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, dtype=np.uint8)], axis=2)
    reference = detect_and_encode(pixels, min_face_px=0, upsample=1)
    variants: dict[str, npt.NDArray[np.uint8]] = {
        "strided view": wide[:, ::2],
        "fortran order": np.asfortranarray(pixels),
        "rgba": rgba,
    }

    for name, array in variants.items():
        assert not array.flags.c_contiguous or name == "rgba"
        templates = detect_and_encode(array, min_face_px=0, upsample=1)
        assert len(templates) == 1, name
        assert np.allclose(templates[0].encoding, reference[0].encoding, atol=1e-5), name
    grey = detect_and_encode(np.ascontiguousarray(pixels[:, :, 1]), min_face_px=0, upsample=1)
    assert len(grey) == 1


def test_float_arrays_are_refused_with_type_error() -> None:
    with pytest.raises(TypeError):
        detect_and_encode(np.zeros((50, 50, 3), dtype=np.float32), min_face_px=0, upsample=0)


# -- large photos ---------------------------------------------------------------------------------------


def test_a_large_photo_is_analysed_at_max_side_and_boxes_come_back_in_original_pixels(
    photo_image: PhotoImage,
) -> None:
    small = photo_image(PHOTO)
    small_template = single_template(encode_image(small, "PNG"))
    large = small.resize((4000, 4000), Image.Resampling.BICUBIC)

    decoded = decode_for_faces(encode_image(large, "JPEG", quality=90))
    template = single_template(encode_image(large, "JPEG", quality=90))

    assert (decoded.width, decoded.height) == (1600, 1600)
    assert decoded.scale == pytest.approx(0.4)
    assert (decoded.original_width, decoded.original_height) == (4000, 4000)
    assert template.face_size_px == pytest.approx(template.analysed_face_size_px / 0.4, abs=3)
    centre_x = (template.box.left + template.box.right) / 2
    small_centre_x = (small_template.box.left + small_template.box.right) / 2 * 16
    assert centre_x == pytest.approx(small_centre_x, rel=0.05)
    assert template.template_meta.detector == "hog-grey"  # > 800 px: grey HOG (see PipelineSettings)


# -- quality gates ---------------------------------------------------------------------------------------


def test_a_blank_image_gives_face_not_found_and_no_templates() -> None:
    data = encode_image(Image.new("RGB", (640, 480), (128, 128, 128)), "JPEG")

    result = encode_photo_bytes(data, "enrol")

    assert result.templates == ()
    assert result.primary is None
    assert result.error is not None
    assert result.error.code == errors.FACE_NOT_FOUND
    with pytest.raises(FaceQualityError) as raised:
        result.primary_or_raise()
    assert raised.value.code == "face_not_found"
    with pytest.raises(FaceQualityError):
        select_primary_face([])


def test_a_tiny_face_is_found_by_upsampling_and_refused_as_too_small(photo_image: PhotoImage) -> None:
    tiny = photo_image(PHOTO).resize((100, 100), Image.Resampling.LANCZOS)  # face about 43 px

    result = encode_photo_bytes(encode_image(tiny, "PNG"), "probe")

    assert result.error is not None
    assert result.error.code == errors.FACE_TOO_SMALL
    assert len(result.templates) == 1
    template = result.templates[0]
    assert template.template_meta.upsample == 1
    assert QualityFlag.UPSAMPLED in template.quality_flags
    assert QualityFlag.TOO_SMALL in template.quality_flags
    assert result.error.details["face_size_px"] == template.analysed_face_size_px < thresholds.MIN_FACE_PX
    assert result.error.details["min_face_px"] == thresholds.MIN_FACE_PX
    assert result.usable_templates == ()


def test_a_blurred_face_is_refused_as_a_probe_but_kept_flagged_for_enrolment(photo_image: PhotoImage) -> None:
    data = encode_image(photo_image(PHOTO).filter(ImageFilter.GaussianBlur(3)), "PNG")

    probe = encode_photo_bytes(data, "probe")
    enrolment = encode_photo_bytes(data, "enrol")

    assert probe.error is not None
    assert probe.error.code == errors.FACE_TOO_BLURRY
    assert probe.templates[0].blur_variance < thresholds.MIN_BLUR_VARIANCE
    assert QualityFlag.BLURRY in probe.templates[0].quality_flags
    assert enrolment.error is None
    assert enrolment.primary is not None
    assert QualityFlag.BLURRY in enrolment.primary.quality_flags
    assert enrolment.usable_templates == (enrolment.primary,)


def test_two_faces_side_by_side_give_two_templates_largest_first(photo_image: PhotoImage) -> None:
    left = photo_image(LEFT_FACE)
    right = photo_image(RIGHT_FACE).resize((180, 180), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (250 + 180, 250), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (250, 35))
    left_alone = single_template(encode_image(left, "PNG"))
    right_alone = single_template(encode_image(right, "PNG"))

    result = encode_photo_bytes(encode_image(canvas, "PNG"), "probe")

    assert result.error is None
    assert len(result.templates) == 2
    first, second = result.templates
    assert first.box.area > second.box.area
    assert first.box.right <= 250 < second.box.left
    assert result.primary is first
    assert all(QualityFlag.MULTIPLE_FACES in t.quality_flags for t in result.templates)
    assert distance(first, left_alone) < 0.2
    assert distance(second, right_alone) < 0.2
    assert len(result.usable_templates) == 2  # a probe may search every usable face
    assert replace(result, purpose="enrol").usable_templates == (first,)  # an enrolment keeps one


def test_template_meta_records_how_the_template_was_made(photo_bytes: PhotoBytes) -> None:
    meta = single_template(photo_bytes(PHOTO)).template_meta.as_dict()

    assert meta["detector"] == "hog"
    assert meta["jitters"] == 1
    assert meta["upsample"] == 0
    assert meta["landmark_model"] == "small"
    assert meta["face_recognition_version"] == "1.3.0"
    assert str(meta["dlib_version"]).startswith("20.")


# -- rejected bytes ----------------------------------------------------------------------------------------


def _truncated_variants(image: Image.Image) -> dict[str, bytes]:
    variants = {
        "jpeg": encode_image(image, "JPEG", quality=95),
        "progressive-jpeg": encode_image(image, "JPEG", quality=95, progressive=True),
        "png": encode_image(image, "PNG"),
        "webp": encode_image(image, "WEBP", quality=95),
    }
    if heif_supported():
        variants["heic"] = encode_image(image, "HEIF", quality=95)
    return variants


def test_truncated_images_are_rejected_even_after_face_recognition_sets_load_truncated(
    photo_image: PhotoImage,
) -> None:
    importlib.import_module("face_recognition")  # sets ImageFile.LOAD_TRUNCATED_IMAGES = True process-wide
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    variants = _truncated_variants(photo_image(PHOTO))
    jpeg = variants["jpeg"]
    with Image.open(io.BytesIO(jpeg[: len(jpeg) * 2 // 3])) as lenient:
        lenient.load()  # the trap: Pillow alone now "decodes" half a JPEG without complaint

    for name, data in variants.items():
        for cut in (len(data) * 2 // 3, len(data) - 2, 40):
            with pytest.raises(ImageRejectedError) as raised:
                decode_for_faces(data[:cut])
            assert raised.value.code == errors.IMAGE_TRUNCATED, (name, cut)
            result = encode_photo_bytes(data[:cut], "probe")
            assert result.error is not None and result.error.code == errors.IMAGE_TRUNCATED
            assert result.templates == ()


def test_a_jpeg_with_bytes_after_its_end_marker_is_accepted(photo_bytes: PhotoBytes) -> None:
    data = photo_bytes(PHOTO) + b"\x00" * 100 + b"SEFT trailer written by some phones"

    assert single_template(data).face_size_px > 0


def test_a_png_with_a_damaged_chunk_is_unreadable(photo_image: PhotoImage) -> None:
    data = bytearray(encode_image(photo_image(PHOTO), "PNG"))
    data[len(data) // 2] ^= 0xFF

    with pytest.raises(ImageRejectedError) as raised:
        decode_for_faces(bytes(data))

    assert raised.value.code == errors.IMAGE_UNREADABLE


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b"GIF89a" + b"\x00" * 64, "GIF"),
        (b"BM" + b"\x00" * 64, "BMP"),
        (b"II*\x00" + b"\x00" * 64, "TIFF"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 32, "AVIF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"definitely not an image at all", "unknown"),
    ],
)
def test_formats_outside_the_allow_list_are_refused_by_content(data: bytes, detected: str) -> None:
    with pytest.raises(ImageRejectedError) as raised:
        decode_for_faces(data)

    assert raised.value.code == errors.IMAGE_FORMAT_NOT_ALLOWED
    assert raised.value.details["detected"] == detected


def test_a_gif_renamed_to_jpg_is_refused(photo_image: PhotoImage) -> None:
    result = encode_photo_bytes(encode_image(photo_image(PHOTO), "GIF"), "probe")

    assert result.error is not None
    assert result.error.code == errors.IMAGE_FORMAT_NOT_ALLOWED


def test_size_limits_on_bytes_and_pixels(photo_image: PhotoImage) -> None:
    data = encode_image(photo_image(PHOTO), "PNG")

    with pytest.raises(ImageRejectedError) as too_large:
        decode_for_faces(data, settings=replace(DEFAULT_SETTINGS, max_bytes=1000))
    with pytest.raises(ImageRejectedError) as bomb:
        decode_for_faces(data, settings=replace(DEFAULT_SETTINGS, max_pixels=10_000))

    assert too_large.value.code == errors.IMAGE_TOO_LARGE
    assert bomb.value.code == errors.IMAGE_DECOMPRESSION_BOMB
    assert bomb.value.details == {"width": 250, "height": 250, "max_pixels": 10_000}


# -- processes -----------------------------------------------------------------------------------------------


def test_results_and_errors_survive_pickling(photo_bytes: PhotoBytes) -> None:
    ok = encode_photo_bytes(photo_bytes(PHOTO), "enrol")
    refused = encode_photo_bytes(b"GIF89a" + b"\x00" * 64, "enrol")

    ok_copy: EncodeResult = pickle.loads(pickle.dumps(ok))
    refused_copy: EncodeResult = pickle.loads(pickle.dumps(refused))

    assert ok.primary is not None and ok_copy.primary is not None
    assert np.array_equal(ok_copy.primary.encoding, ok.primary.encoding)
    assert isinstance(refused_copy.error, ImageRejectedError)
    assert refused_copy.error.code == errors.IMAGE_FORMAT_NOT_ALLOWED
    assert refused_copy.error.details == refused.error.details if refused.error else False


@pytest.mark.slow
def test_the_worker_pool_encodes_in_a_spawned_process_like_in_process(photo_bytes: PhotoBytes) -> None:
    data = photo_bytes(PHOTO)
    in_process = single_template(data)

    with FaceWorkerPool(max_workers=1) as pool:
        result = pool.encode(data, "enrol", timeout_seconds=120)
        refused = pool.submit(b"not an image at all, just text", "probe").result(timeout=60)

    assert result.primary is not None
    assert np.allclose(result.primary.encoding, in_process.encoding, atol=1e-6)
    assert refused.error is not None and refused.error.code == errors.IMAGE_FORMAT_NOT_ALLOWED


def test_a_sharp_smaller_face_is_still_searched_when_the_largest_face_is_blurred(photo_image: PhotoImage) -> None:
    left = photo_image(LEFT_FACE).filter(ImageFilter.GaussianBlur(3))
    right = photo_image(RIGHT_FACE).resize((180, 180), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (250 + 180, 250), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (250, 35))
    right_alone = single_template(encode_image(right, "PNG"))

    result = encode_photo_bytes(encode_image(canvas, "PNG"), "probe")

    assert result.error is not None and result.error.code == errors.FACE_TOO_BLURRY  # the largest face
    assert len(result.templates) == 2
    (usable,) = result.usable_templates
    assert usable.box.left >= 250
    assert distance(usable, right_alone) < 0.2
