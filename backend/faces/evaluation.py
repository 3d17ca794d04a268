"""Measure the face pipeline on a labelled folder (``identity/*.jpg``) and derive its thresholds.

Protocol (all choices are written into the report):
- Gallery: the first photo (sorted by file name) of every identity with at least two photos.
- Mated probes: the other photos of those identities. Non-mated probes: every single-photo identity.
- One template per photo: the largest face, through the production quality gates for its purpose
  (enrol: face found and size; probe: also blur). Failures are counted, never dropped silently: a
  failed enrolment or probe is a miss for every "including failures" rate.
- Verification (1:1): every probe template against every gallery template. FAR over impostor pairs
  where both templates exist; TAR over all genuine pairs (failures count as rejections) and, separately,
  over genuine pairs where both templates exist.
- Identification (1:N, closed set): rank-1 / rank-R of the mate among gallery keys, no threshold.
- Open set (NIST FRTE definitions): FPIR(T) = fraction of non-mated searches whose best candidate is at
  distance <= T; FNIR(T) = fraction of mated searches where the mate is not returned at rank <= R
  (R = 10) with distance <= T. T for a target FPIR is the largest distance that keeps FPIR at or below
  the target over the non-mated searches that produced a template.
- Recommended threshold: T at FPIR = 0.01 for this gallery. FPIR grows with gallery size, so the report
  also extrapolates it to larger galleries from the per-comparison FAR.
- Calibration: a logistic on distance fitted to the genuine and impostor probe-gallery pairs in their
  natural proportion (not re-balanced: equal weights would make every candidate look near-certain);
  a similarity score for display and ranking, not a probability of identity.
- Quality sweeps: a sample of mated probes re-encoded after shrinking (face size) and after Gaussian
  blur, gates off; the minimum face size and blur measure are read off where FNIR departs from full
  quality by more than ``SWEEP_TOLERANCE`` (absolute).

Encodings are computed in ``workers`` processes and cached in ``cache_dir`` as .npz files keyed by the
photo's sha256 and the pipeline configuration, so reruns only redo the arithmetic.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from backend.faces import thresholds
from backend.faces.errors import FACE_NOT_FOUND, ImageRejectedError
from backend.faces.index import GalleryIndex
from backend.faces.pipeline import (
    DEFAULT_SETTINGS,
    DecodedImage,
    FaceWorkerPool,
    LandmarkModel,
    PipelineSettings,
    Purpose,
    count_faces,
    decode_for_faces,
    detect_and_encode,
    gate_failure_code,
    select_primary_face,
    template_meta,
)

ProgressCallback = Callable[[str, int, int], None]
Transform = tuple[str, float]

IMAGE_SUFFIXES: Final = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic"})
FAR_TARGETS: Final = (1e-2, 1e-3, 1e-4)
FPIR_TARGETS: Final = (0.003, 0.01)
RECOMMENDED_FPIR: Final = 0.01
RANK_LIMIT: Final = 10
SWEEP_SCALES: Final = (0.8, 0.6, 0.5, 0.4, 0.32, 0.25, 0.2)
SWEEP_BLUR_RADII: Final = (1.0, 1.5, 2.0, 3.0, 4.0)
SWEEP_TOLERANCE: Final = 0.05
FACE_SIZE_BIN_EDGES: Final = (0, 30, 40, 50, 60, 70, 80, 100, 10_000)
BLUR_BIN_EDGES: Final = (0.0, 5.0, 10.0, 20.0, 40.0, 80.0, 1e9)
GALLERY_SIZES_FOR_EXTRAPOLATION: Final = (500, 5_000, 35_000)
_CACHE_FORMAT: Final = 1
_CACHE_FLUSH_EVERY: Final = 256


# --------------------------------------------------------------------------------------------------
# Dataset


@dataclass(frozen=True, slots=True)
class Photo:
    identity: str
    relative_path: str
    path: Path
    sha256: str


@dataclass(frozen=True, slots=True)
class Dataset:
    gallery: tuple[Photo, ...]
    mated_probes: tuple[Photo, ...]
    non_mated_probes: tuple[Photo, ...]
    identity_count: int

    @property
    def all_photos(self) -> tuple[Photo, ...]:
        return self.gallery + self.mated_probes + self.non_mated_probes


def load_dataset(folder: Path, progress: ProgressCallback | None = None) -> Dataset:
    """List ``folder/identity/*`` photos and split them by the protocol above.

    Raises FileNotFoundError if ``folder`` is missing and ValueError if it holds no identity folders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    identities = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not identities:
        raise ValueError(f"{folder} holds no identity folders")
    gallery: list[Photo] = []
    mated: list[Photo] = []
    non_mated: list[Photo] = []
    total = len(identities)
    for number, identity_folder in enumerate(identities, start=1):
        files = sorted(
            p
            for p in identity_folder.iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        )
        photos = [
            Photo(
                identity=identity_folder.name,
                relative_path=f"{identity_folder.name}/{p.name}",
                path=p,
                sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
            )
            for p in files
        ]
        if len(photos) >= 2:
            gallery.append(photos[0])
            mated.extend(photos[1:])
        elif len(photos) == 1:
            non_mated.append(photos[0])
        if progress is not None and (number % 100 == 0 or number == total):
            progress("read", number, total)
    return Dataset(tuple(gallery), tuple(mated), tuple(non_mated), total)


# --------------------------------------------------------------------------------------------------
# Encoding in worker processes, with a cache


@dataclass(frozen=True, slots=True)
class Record:
    """What the evaluation needs of one encoded photo: its largest face, ungated."""

    error_code: str  # "" when a face was found
    face_count: int
    encoding: npt.NDArray[np.float32]  # zeros when no face
    face_px: int
    blur_variance: float
    upsampled: bool
    detect_encode_ms: float


def encode_for_evaluation(data: bytes, settings: PipelineSettings, transform: Transform | None) -> Record:
    """Worker function: decode, optionally degrade, detect and encode with the gates off.

    Decode rejections become a Record with the error code. Top-level and picklable.
    """
    try:
        decoded = decode_for_faces(data, max_side=settings.max_side, settings=settings)
    except ImageRejectedError as error:
        return _empty_record(error.code)
    if transform is not None:
        decoded = apply_transform(decoded, transform)
    started = time.perf_counter()
    templates = detect_and_encode(
        decoded,
        min_face_px=0,
        upsample=settings.upsample,
        upsample_max_side=settings.upsample_max_side,
        colour_detection_max_side=settings.colour_detection_max_side,
        min_blur_variance=0.0,
        landmark_model=settings.landmark_model,
        max_faces=settings.max_faces,
    )
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if not templates:
        return replace(_empty_record(FACE_NOT_FOUND), detect_encode_ms=elapsed_ms)
    primary = select_primary_face(templates, settings=settings.without_gates())
    return Record(
        error_code="",
        face_count=len(templates),
        encoding=primary.encoding,
        face_px=primary.analysed_face_size_px,
        blur_variance=primary.blur_variance,
        upsampled=primary.template_meta.upsample > 0,
        detect_encode_ms=elapsed_ms,
    )


def count_faces_colour_and_grey(data: bytes, settings: PipelineSettings) -> tuple[int, int]:
    """Worker function: HOG face counts (no upsampling) in colour and in grey, for the detector study."""
    try:
        decoded = decode_for_faces(data, max_side=settings.max_side, settings=settings)
    except ImageRejectedError:
        return (0, 0)
    return (count_faces(decoded, in_colour=True), count_faces(decoded, in_colour=False))


def apply_transform(decoded: DecodedImage, transform: Transform) -> DecodedImage:
    """Degrade a decoded photo: ("scale", factor) shrinks it, ("blur", radius) applies a Gaussian blur."""
    name, amount = transform
    image = Image.fromarray(decoded.pixels)
    if name == "scale":
        size = (max(1, round(image.width * amount)), max(1, round(image.height * amount)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        width, height = size
        return DecodedImage(
            pixels=np.ascontiguousarray(np.asarray(image, dtype=np.uint8)),
            scale=1.0,
            original_width=width,
            original_height=height,
            source_format=decoded.source_format,
            exif_orientation=decoded.exif_orientation,
        )
    if name == "blur":
        image = image.filter(ImageFilter.GaussianBlur(radius=amount))
        return replace(decoded, pixels=np.ascontiguousarray(np.asarray(image, dtype=np.uint8)))
    raise ValueError(f"unknown transform {name!r}")


def _empty_record(code: str) -> Record:
    return Record(code, 0, np.zeros(128, dtype=np.float32), 0, 0.0, False, 0.0)


def _config_digest(settings: PipelineSettings, transform: Transform | None) -> str:
    meta = template_meta(upsample=0, landmark_model=settings.landmark_model)
    payload = {
        "cache_format": _CACHE_FORMAT,
        "meta": meta.as_dict(),
        "max_side": settings.max_side,
        "upsample": settings.upsample,
        "upsample_max_side": settings.upsample_max_side,
        "colour_detection_max_side": settings.colour_detection_max_side,
        "max_faces": settings.max_faces,
        "transform": list(transform) if transform else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class RecordCache:
    """Records keyed by photo sha256 in one .npz per pipeline configuration (no pickle)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, Record] = {}
        self._dirty = 0
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                rows = zip(
                    data["sha256"].tolist(),
                    data["error_code"].tolist(),
                    data["face_count"].tolist(),
                    data["encoding"],
                    data["face_px"].tolist(),
                    data["blur_variance"].tolist(),
                    data["upsampled"].tolist(),
                    data["detect_encode_ms"].tolist(),
                    strict=True,
                )
                for sha, code, count, encoding, face_px, blur, upsampled, elapsed in rows:
                    self.records[str(sha)] = Record(
                        str(code),
                        int(count),
                        np.asarray(encoding, dtype=np.float32),
                        int(face_px),
                        float(blur),
                        bool(upsampled),
                        float(elapsed),
                    )
        except (OSError, KeyError, ValueError):
            self.records = {}  # a damaged cache is recomputed, never trusted

    def put(self, sha256: str, record: Record) -> None:
        self.records[sha256] = record
        self._dirty += 1
        if self._dirty >= _CACHE_FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._dirty and self.path.exists():
            return
        items = sorted(self.records.items())
        arrays: dict[str, npt.NDArray[Any]] = {
            "sha256": np.array([sha for sha, _ in items], dtype="<U64"),
            "error_code": np.array([r.error_code for _, r in items], dtype="<U40"),
            "face_count": np.array([r.face_count for _, r in items], dtype=np.int32),
            "encoding": (
                np.stack([r.encoding for _, r in items]).astype(np.float32)
                if items
                else np.zeros((0, 128), dtype=np.float32)
            ),
            "face_px": np.array([r.face_px for _, r in items], dtype=np.int32),
            "blur_variance": np.array([r.blur_variance for _, r in items], dtype=np.float64),
            "upsampled": np.array([r.upsampled for _, r in items], dtype=bool),
            "detect_encode_ms": np.array([r.detect_encode_ms for _, r in items], dtype=np.float64),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.savez(handle, allow_pickle=False, **arrays)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._dirty = 0


def _encode_photos(
    photos: Sequence[Photo],
    *,
    settings: PipelineSettings,
    transform: Transform | None,
    pool: FaceWorkerPool,
    cache_dir: Path,
    stage: str,
    progress: ProgressCallback | None,
) -> dict[str, Record]:
    cache = RecordCache(cache_dir / f"records-{_config_digest(settings, transform)}.npz")
    unique = {photo.sha256: photo for photo in photos}
    missing = [photo for sha, photo in unique.items() if sha not in cache.records]
    total = len(unique)
    done = total - len(missing)
    if progress is not None:
        progress(stage, done, total)
    futures: dict[Future[Record], Photo] = {
        pool.submit_task(encode_for_evaluation, photo.path.read_bytes(), settings, transform): photo
        for photo in missing
    }
    try:
        for future in as_completed(futures):
            cache.put(futures[future].sha256, future.result())
            done += 1
            if progress is not None and (done % 50 == 0 or done == total):
                progress(stage, done, total)
    finally:
        cache.flush()
    return {sha: cache.records[sha] for sha in unique}


# --------------------------------------------------------------------------------------------------
# Metrics


def _rate(successes: int, total: int) -> dict[str, Any]:
    """A proportion with its Wilson 95% interval."""
    if total == 0:
        return {"value": None, "count": 0, "total": 0, "ci95": None}
    z = 1.959964
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return {
        "value": round(p, 6),
        "count": successes,
        "total": total,
        "ci95": [round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)],
    }


def threshold_at_rate(negatives: npt.NDArray[np.float64], rate: float) -> float:
    """Largest distance threshold T with fraction(negatives <= T) <= rate (accept when distance <= T).

    Returns the midpoint between the k-th and (k+1)-th smallest negative (k = floor(rate * n)), so the
    threshold sits between observations. Raises ValueError when there are no negatives.
    """
    if negatives.size == 0:
        raise ValueError("no negative scores")
    ordered = np.sort(negatives)
    allowed = math.floor(rate * ordered.size + 1e-9)
    if allowed >= ordered.size:
        return float(ordered[-1])
    upper = float(ordered[allowed])
    if allowed > 0 and float(ordered[allowed - 1]) < upper:
        return (float(ordered[allowed - 1]) + upper) / 2.0
    return float(np.nextafter(upper, -np.inf))


def fit_logistic(
    distances: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_], *, balanced: bool
) -> tuple[float, float]:
    """Fit score = 1 / (1 + exp(slope * (distance - midpoint))) by Newton's method (IRLS).

    ``balanced=True`` gives positives (genuine pairs) and negatives (impostor pairs) equal total weight:
    the midpoint is where the two are equally likely under equal priors. ``balanced=False`` keeps the
    pairs' natural proportions (in a 1:N evaluation about one genuine per gallery-size impostors, the
    prior of one candidate comparison in a search). Returns (slope, midpoint).
    Raises ValueError without both classes.
    """
    positives = int(labels.sum())
    negatives = int(labels.size - positives)
    if positives == 0 or negatives == 0:
        raise ValueError("need genuine and impostor pairs")
    if balanced:
        weights = np.where(labels, 0.5 / positives, 0.5 / negatives)
    else:
        weights = np.full(labels.size, 1.0 / labels.size)
    target = labels.astype(np.float64)
    design = np.column_stack([np.ones_like(distances), distances])
    beta = np.array([10.0, -20.0])  # logit = beta0 + beta1 * distance
    for _ in range(100):
        logits = np.clip(design @ beta, -40, 40)
        probability = 1.0 / (1.0 + np.exp(-logits))
        gradient = design.T @ (weights * (target - probability))
        curvature = (design * (weights * probability * (1 - probability))[:, None]).T @ design
        step = np.linalg.solve(curvature + 1e-12 * np.eye(2), gradient)
        beta = beta + step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    slope = float(-beta[1])
    midpoint = float(-beta[0] / beta[1])
    return slope, midpoint


@dataclass(frozen=True, slots=True)
class _Templates:
    """Gated templates of one protocol run."""

    gallery_keys: list[str]
    gallery_vectors: npt.NDArray[np.float32]
    enrol_failures: Counter[str]
    enrolled_identities: set[str]
    mated_ok: list[tuple[Photo, npt.NDArray[np.float32]]]
    mated_failures: Counter[str]
    non_mated_ok: list[tuple[Photo, npt.NDArray[np.float32]]]
    non_mated_failures: Counter[str]


def _gate(record: Record, settings: PipelineSettings, purpose: Purpose) -> str | None:
    if record.error_code:
        return record.error_code
    return gate_failure_code(
        analysed_face_size_px=record.face_px, blur_variance=record.blur_variance, settings=settings, purpose=purpose
    )


def _apply_gates(dataset: Dataset, records: dict[str, Record], settings: PipelineSettings) -> _Templates:
    keys: list[str] = []
    vectors: list[npt.NDArray[np.float32]] = []
    enrol_failures: Counter[str] = Counter()
    for photo in dataset.gallery:
        failure = _gate(records[photo.sha256], settings, "enrol")
        if failure:
            enrol_failures[failure] += 1
        else:
            keys.append(photo.identity)
            vectors.append(records[photo.sha256].encoding)

    def gated(photos: Iterable[Photo]) -> tuple[list[tuple[Photo, npt.NDArray[np.float32]]], Counter[str]]:
        ok: list[tuple[Photo, npt.NDArray[np.float32]]] = []
        failures: Counter[str] = Counter()
        for photo in photos:
            failure = _gate(records[photo.sha256], settings, "probe")
            if failure:
                failures[failure] += 1
            else:
                ok.append((photo, records[photo.sha256].encoding))
        return ok, failures

    mated_ok, mated_failures = gated(dataset.mated_probes)
    non_mated_ok, non_mated_failures = gated(dataset.non_mated_probes)
    return _Templates(
        gallery_keys=keys,
        gallery_vectors=np.stack(vectors) if vectors else np.zeros((0, 128), dtype=np.float32),
        enrol_failures=enrol_failures,
        enrolled_identities=set(keys),
        mated_ok=mated_ok,
        mated_failures=mated_failures,
        non_mated_ok=non_mated_ok,
        non_mated_failures=non_mated_failures,
    )


def _build_index(templates: _Templates, dataset: Dataset) -> GalleryIndex:
    index = GalleryIndex(initial_capacity=max(len(templates.gallery_keys), 1))
    template_of = {photo.identity: photo.relative_path for photo in dataset.gallery}
    for key, vector in zip(templates.gallery_keys, templates.gallery_vectors, strict=True):
        index.add(key, template_of[key], vector)
    return index


@dataclass(frozen=True, slots=True)
class _Searches:
    mated_mate_rank: list[int | None]  # per successful mated probe: rank of the mate (None: not in top R)
    mated_mate_distance: list[float]  # per successful mated probe: distance to its mate (inf: none)
    non_mated_best: npt.NDArray[np.float64]  # per successful non-mated probe: best candidate distance


def _run_searches(index: GalleryIndex, templates: _Templates, rank_limit: int) -> _Searches:
    ranks: list[int | None] = []
    mate_distances: list[float] = []
    for photo, vector in templates.mated_ok:
        candidates = index.search(vector, rank_limit)
        rank = next((c.rank for c in candidates if c.key == photo.identity), None)
        ranks.append(rank)
        mate = next((c.distance for c in candidates if c.key == photo.identity), math.inf)
        mate_distances.append(mate)
    best = [index.search(vector, 1)[0].distance for _, vector in templates.non_mated_ok]
    return _Searches(ranks, mate_distances, np.array(best, dtype=np.float64))


def _open_set_at(threshold: float, searches: _Searches, mated_total: int) -> dict[str, Any]:
    hits = sum(
        1
        for rank, distance in zip(searches.mated_mate_rank, searches.mated_mate_distance, strict=True)
        if rank is not None and distance <= threshold
    )
    false_positives = int(np.count_nonzero(searches.non_mated_best <= threshold))
    return {
        "threshold": round(threshold, 6),
        "fpir": _rate(false_positives, int(searches.non_mated_best.size)),
        "fnir": _rate(mated_total - hits, mated_total),
        "fnir_excluding_failures": _rate(len(searches.mated_mate_rank) - hits, len(searches.mated_mate_rank)),
    }


def _pair_distances(templates: _Templates) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Genuine and impostor distances over every probe template x gallery template pair."""
    probes = templates.mated_ok + templates.non_mated_ok
    if not probes or templates.gallery_vectors.shape[0] == 0:
        return np.zeros(0), np.zeros(0)
    probe_vectors = np.stack([vector for _, vector in probes]).astype(np.float64)
    gallery = templates.gallery_vectors.astype(np.float64)
    squared = (
        np.sum(probe_vectors**2, axis=1)[:, None]
        + np.sum(gallery**2, axis=1)[None, :]
        - 2.0 * probe_vectors @ gallery.T
    )
    distances = np.sqrt(np.maximum(squared, 0.0))
    probe_identities = np.array([photo.identity for photo, _ in probes])
    gallery_identities = np.array(templates.gallery_keys)
    genuine_mask = probe_identities[:, None] == gallery_identities[None, :]
    return distances[genuine_mask], distances[~genuine_mask]


def _measure(
    dataset: Dataset, records: dict[str, Record], settings: PipelineSettings, rank_limit: int
) -> dict[str, Any]:
    templates = _apply_gates(dataset, records, settings)
    index = _build_index(templates, dataset)
    searches = _run_searches(index, templates, rank_limit)
    genuine, impostor = _pair_distances(templates)
    mated_total = len(dataset.mated_probes)
    genuine_total = mated_total  # each mated probe has exactly one genuine pair: its enrolment photo

    verification: dict[str, Any] = {
        "genuine_pairs_total": genuine_total,
        "genuine_pairs_with_templates": int(genuine.size),
        "impostor_pairs_with_templates": int(impostor.size),
        "tar_at_far": {},
    }
    for far in FAR_TARGETS:
        threshold = threshold_at_rate(impostor, far)
        accepted = int(np.count_nonzero(genuine <= threshold))
        verification["tar_at_far"][f"{far:g}"] = {
            "threshold": round(threshold, 6),
            "far_observed": _rate(int(np.count_nonzero(impostor <= threshold)), int(impostor.size)),
            "tar": _rate(accepted, genuine_total),
            "tar_excluding_failures": _rate(accepted, int(genuine.size)),
        }

    rank_1 = sum(1 for rank in searches.mated_mate_rank if rank == 1)
    rank_r = sum(1 for rank in searches.mated_mate_rank if rank is not None)
    identification = {
        "gallery_size": len(index),
        "rank_limit": rank_limit,
        "rank_1": _rate(rank_1, mated_total),
        f"rank_{rank_limit}": _rate(rank_r, mated_total),
        "rank_1_excluding_failures": _rate(rank_1, len(searches.mated_mate_rank)),
        f"rank_{rank_limit}_excluding_failures": _rate(rank_r, len(searches.mated_mate_rank)),
    }

    open_set: dict[str, Any] = {
        "rank_limit": rank_limit,
        "non_mated_searches": int(searches.non_mated_best.size),
        "mated_searches": mated_total,
        "fnir_at_fpir": {},
    }
    for fpir in FPIR_TARGETS:
        threshold = threshold_at_rate(searches.non_mated_best, fpir)
        open_set["fnir_at_fpir"][f"{fpir:g}"] = _open_set_at(threshold, searches, mated_total)

    recommended = threshold_at_rate(searches.non_mated_best, RECOMMENDED_FPIR)
    far_at_recommended = float(np.count_nonzero(impostor <= recommended)) / max(int(impostor.size), 1)
    pair_distances = np.concatenate([genuine, impostor])
    pair_labels = np.concatenate([np.ones(genuine.size, dtype=bool), np.zeros(impostor.size, dtype=bool)])
    slope, midpoint = fit_logistic(pair_distances, pair_labels, balanced=False)
    balanced_slope, balanced_midpoint = fit_logistic(pair_distances, pair_labels, balanced=True)

    def score(distance: float, slope: float = slope, midpoint: float = midpoint) -> float:
        return round(1.0 / (1.0 + math.exp(min(slope * (distance - midpoint), 700.0))), 4)

    mate_distances = [d for d in searches.mated_mate_distance if math.isfinite(d)]
    table = []
    for step in range(30, 62, 2):
        threshold = step / 100.0
        row = _open_set_at(threshold, searches, mated_total)
        table.append(
            {
                "threshold": threshold,
                "fpir": row["fpir"]["value"],
                "fnir": row["fnir"]["value"],
                "far": round(float(np.count_nonzero(impostor <= threshold)) / max(int(impostor.size), 1), 8),
                "tar": round(float(np.count_nonzero(genuine <= threshold)) / max(genuine_total, 1), 6),
            }
        )

    return {
        "templates": templates,
        "index": index,
        "searches": searches,
        "failures": {
            "enrol": {
                "attempted": len(dataset.gallery),
                "failed": sum(templates.enrol_failures.values()),
                "reasons": dict(sorted(templates.enrol_failures.items())),
            },
            "mated_probes": {
                "attempted": len(dataset.mated_probes),
                "failed": sum(templates.mated_failures.values()),
                "reasons": dict(sorted(templates.mated_failures.items())),
            },
            "non_mated_probes": {
                "attempted": len(dataset.non_mated_probes),
                "failed": sum(templates.non_mated_failures.values()),
                "reasons": dict(sorted(templates.non_mated_failures.items())),
            },
            "mated_probes_of_identities_not_enrolled": sum(
                1 for photo in dataset.mated_probes if photo.identity not in templates.enrolled_identities
            ),
        },
        "verification": verification,
        "identification": identification,
        "open_set": open_set,
        "recommended": {
            "distance": round(recommended, 6),
            "rule": (
                f"largest distance keeping FPIR <= {RECOMMENDED_FPIR:g} over the non-mated searches of this "
                f"run (gallery of {len(index)}): a search returns candidates at distance <= threshold"
            ),
            "open_set": _open_set_at(recommended, searches, mated_total),
            "far_per_comparison": round(far_at_recommended, 8),
            "tar": _rate(int(np.count_nonzero(genuine <= recommended)), genuine_total),
            "fpir_extrapolated": {
                str(size): round(1.0 - (1.0 - far_at_recommended) ** size, 6)
                for size in GALLERY_SIZES_FOR_EXTRAPOLATION
            },
        },
        "calibration": {
            "formula": "score = 1 / (1 + exp(slope * (distance - midpoint)))",
            "slope": round(slope, 4),
            "midpoint": round(midpoint, 4),
            "fitted_on": (
                f"{genuine.size} genuine and {impostor.size} impostor probe-gallery pairs in their natural "
                f"proportion (about 1 genuine per {round(impostor.size / max(genuine.size, 1))} impostors, the "
                "prior of one candidate comparison in a search of this gallery); a similarity score for "
                "display and ranking, not a probability of identity"
            ),
            "why_not_balanced": (
                "with the classes weighted equally the midpoint moves to "
                f"{balanced_midpoint:.3f} and the best candidate of a typical non-mated search would show a "
                f"score of {score(float(np.median(searches.non_mated_best)), balanced_slope, balanced_midpoint)}, "
                "inviting over-trust"
            ),
            "balanced_alternative": {"slope": round(balanced_slope, 4), "midpoint": round(balanced_midpoint, 4)},
            "score_at_recommended_threshold": score(recommended),
            "score_of_median_mate_distance": score(float(np.median(mate_distances))) if mate_distances else None,
            "score_of_median_best_non_mated_distance": score(float(np.median(searches.non_mated_best))),
        },
        "reference_distance_0_6": _reference_at(0.6, genuine, impostor, genuine_total, searches, mated_total),
        "threshold_table": table,
    }


def _reference_at(
    threshold: float,
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    genuine_total: int,
    searches: _Searches,
    mated_total: int,
) -> dict[str, Any]:
    return {
        "note": "face_recognition's customary tolerance, for comparison only",
        "far": _rate(int(np.count_nonzero(impostor <= threshold)), int(impostor.size)),
        "tar": _rate(int(np.count_nonzero(genuine <= threshold)), genuine_total),
        **{k: v for k, v in _open_set_at(threshold, searches, mated_total).items() if k != "threshold"},
    }


def _summary(measured: dict[str, Any]) -> dict[str, Any]:
    verification = measured["verification"]["tar_at_far"]
    open_set = measured["open_set"]["fnir_at_fpir"]
    return {
        "tar_at_far_1e-3": verification["0.001"]["tar"]["value"],
        "tar_at_far_1e-4": verification["0.0001"]["tar"]["value"],
        "rank_1": measured["identification"]["rank_1"]["value"],
        "fnir_at_fpir_0.01": open_set["0.01"]["fnir"]["value"],
        "enrol_failures": measured["failures"]["enrol"]["failed"],
        "probe_failures": measured["failures"]["mated_probes"]["failed"]
        + measured["failures"]["non_mated_probes"]["failed"],
    }


# --------------------------------------------------------------------------------------------------
# Quality sweeps


def _sweep_sample(dataset: Dataset, measured: dict[str, Any], records: dict[str, Record], size: int) -> list[Photo]:
    # Chosen without the gates (any photo with a face) so the sample does not move with the gates.
    templates: _Templates = measured["templates"]
    eligible = [
        photo
        for photo in dataset.mated_probes
        if not records[photo.sha256].error_code and photo.identity in templates.enrolled_identities
    ]
    if len(eligible) <= size:
        return eligible
    step = len(eligible) / size
    return [eligible[int(i * step)] for i in range(size)]


def _hit(index: GalleryIndex, record: Record, identity: str, threshold: float, rank_limit: int) -> bool:
    if record.error_code:
        return False
    return any(c.key == identity for c in index.search(record.encoding, rank_limit, max_distance=threshold))


def _binned(values: list[float], hits: list[bool], edges: Sequence[float]) -> list[dict[str, Any]]:
    """FNIR by bins of a quality measure (descriptive: bins mix photos, so they are not paired)."""
    rows = []
    for low, high in itertools.pairwise(edges):
        selected = [hit for value, hit in zip(values, hits, strict=True) if low <= value < high]
        rows.append({"from": low, "to": high, "fnir": _rate(sum(1 for hit in selected if not hit), len(selected))})
    return rows


def gate_between_levels(
    baseline_fnir: float, baseline_measure: float, levels: Sequence[tuple[float, float | None]]
) -> float | None:
    """Where a quality gate goes, from paired degradation levels (same probes at every level).

    ``levels``: (fnir, median measure) from mildest to harshest degradation. The gate sits halfway
    between the median measure of the last level whose FNIR is within SWEEP_TOLERANCE of the
    full-quality FNIR and that of the first level beyond it. None when no level goes beyond.
    """
    passing_measure = baseline_measure
    for fnir, measure in levels:
        if measure is None:
            return passing_measure
        if fnir > baseline_fnir + SWEEP_TOLERANCE:
            return (passing_measure + measure) / 2.0
        passing_measure = measure
    return None


def _quality_sweeps(
    dataset: Dataset,
    measured: dict[str, Any],
    records: dict[str, Record],
    *,
    settings: PipelineSettings,
    pool: FaceWorkerPool,
    cache_dir: Path,
    sample_size: int,
    rank_limit: int,
    progress: ProgressCallback | None,
) -> dict[str, Any]:
    sample = _sweep_sample(dataset, measured, records, sample_size)
    index: GalleryIndex = measured["index"]
    threshold: float = measured["recommended"]["distance"]
    baseline_hits = [_hit(index, records[p.sha256], p.identity, threshold, rank_limit) for p in sample]
    baseline_fnir = 1.0 - sum(baseline_hits) / max(len(sample), 1)
    size_values = [float(records[p.sha256].face_px) for p in sample]
    size_hits = list(baseline_hits)
    blur_values = [records[p.sha256].blur_variance for p in sample]
    blur_hits = list(baseline_hits)

    levels: dict[str, list[dict[str, Any]]] = {"scale": [], "blur": []}
    for name, amounts in (("scale", SWEEP_SCALES), ("blur", SWEEP_BLUR_RADII)):
        for amount in amounts:
            swept = _encode_photos(
                sample,
                settings=settings,
                transform=(name, amount),
                pool=pool,
                cache_dir=cache_dir,
                stage=f"sweep:{name}={amount:g}",
                progress=progress,
            )
            level_records = [swept[p.sha256] for p in sample]
            hits = [
                _hit(index, record, p.identity, threshold, rank_limit)
                for p, record in zip(sample, level_records, strict=True)
            ]
            found = [r for r in level_records if not r.error_code]
            for record, hit in zip(level_records, hits, strict=True):
                if record.error_code:
                    continue  # not found: that is a detection failure, not a template of this size
                if name == "scale":
                    size_values.append(float(record.face_px))
                    size_hits.append(hit)
                else:
                    blur_values.append(record.blur_variance)
                    blur_hits.append(hit)
            levels[name].append(
                {
                    name: amount,
                    "detected": _rate(len(found), len(sample)),
                    "median_face_px": float(np.median([r.face_px for r in found])) if found else None,
                    "median_blur_variance": (
                        round(float(np.median([r.blur_variance for r in found])), 2) if found else None
                    ),
                    "fnir": _rate(len(sample) - sum(hits), len(sample)),
                    "rank_1_without_threshold": _rate(
                        sum(
                            1
                            for p, record in zip(sample, level_records, strict=True)
                            if not record.error_code and index.search(record.encoding, 1)[0].key == p.identity
                        ),
                        len(sample),
                    ),
                }
            )
    baseline_face_px = float(np.median([records[p.sha256].face_px for p in sample]))
    baseline_blur = float(np.median([records[p.sha256].blur_variance for p in sample]))
    min_face = gate_between_levels(
        baseline_fnir,
        baseline_face_px,
        [(level["fnir"]["value"], level["median_face_px"]) for level in levels["scale"]],
    )
    min_blur = gate_between_levels(
        baseline_fnir,
        baseline_blur,
        [(level["fnir"]["value"], level["median_blur_variance"]) for level in levels["blur"]],
    )
    return {
        "sample": f"{len(sample)} mated probes (every n-th of those with a face, ungated, and an enrolled mate)",
        "threshold": threshold,
        "rule": (
            f"paired levels (the same probes degraded step by step); a gate sits halfway between the median "
            f"measure of the last level whose FNIR is at most {SWEEP_TOLERANCE:g} above full quality and that "
            "of the first level beyond it"
        ),
        "baseline": {
            "fnir": round(baseline_fnir, 6),
            "median_face_px": baseline_face_px,
            "median_blur_variance": round(baseline_blur, 2),
        },
        "face_size": {
            "levels": levels["scale"],
            "bins_analysed_face_px": _binned(size_values, size_hits, FACE_SIZE_BIN_EDGES),
        },
        "blur": {
            "levels": levels["blur"],
            "bins_blur_variance": _binned(blur_values, blur_hits, BLUR_BIN_EDGES),
        },
        "recommended_min_face_px": math.ceil(min_face) if min_face is not None else None,
        "recommended_min_blur_variance": round(min_blur, 1) if min_blur is not None else None,
    }


# --------------------------------------------------------------------------------------------------
# Detector colour study


def _colour_study(
    dataset: Dataset, *, settings: PipelineSettings, pool: FaceWorkerPool, progress: ProgressCallback | None
) -> dict[str, Any]:
    photos = dataset.all_photos
    futures = [pool.submit_task(count_faces_colour_and_grey, p.path.read_bytes(), settings) for p in photos]
    colour_found = grey_found = 0
    for number, future in enumerate(futures, start=1):
        colour, grey = future.result()
        colour_found += colour > 0
        grey_found += grey > 0
        if progress is not None and (number % 100 == 0 or number == len(futures)):
            progress("detector-colour-study", number, len(futures))
    return {
        "question": "does HOG find as many faces in grey as in colour (no upsampling)?",
        "images": len(photos),
        "found_in_colour": colour_found,
        "found_in_grey": grey_found,
    }


# --------------------------------------------------------------------------------------------------
# Entry point


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fieldsync" / "faces_eval"


def evaluate(
    folder: Path,
    *,
    cache_dir: Path | None = None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
    settings: PipelineSettings = DEFAULT_SETTINGS,
    rank_limit: int = RANK_LIMIT,
    compare_landmark_models: bool = True,
    quality_sweeps: bool = True,
    colour_study: bool = True,
    sweep_sample_size: int = 400,
) -> dict[str, Any]:
    """Run the protocol in this module's docstring on ``folder``; return a JSON-serialisable report.

    ``progress(stage, done, total)`` is called as work advances. Encodings run in ``workers`` spawned
    processes and are cached under ``cache_dir`` (default: $XDG_CACHE_HOME/fieldsync/faces_eval).
    Raises FileNotFoundError / ValueError for a missing or empty folder; worker failures propagate.
    """
    started = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dataset = load_dataset(Path(folder), progress)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "folder": str(folder),
            "identities": dataset.identity_count,
            "images": len(dataset.all_photos),
            "gallery_identities": len(dataset.gallery),
            "mated_probes": len(dataset.mated_probes),
            "non_mated_probes": len(dataset.non_mated_probes),
            "files_with_identical_bytes": sum(
                count for count in Counter(p.sha256 for p in dataset.all_photos).values() if count > 1
            ),
            "protocol": (
                "enrol the first photo (sorted) of each identity with >= 2 photos; probe with its other photos "
                "(mated) and with every single-photo identity (non-mated); one template per photo: the largest "
                "face, through the production quality gates"
            ),
        },
        "pipeline": {
            "template_meta": template_meta(upsample=0, landmark_model=settings.landmark_model).as_dict(),
            "settings": asdict(settings),
            "face_choice": "largest face (the production rule); other faces are flagged, not used",
        },
    }
    with FaceWorkerPool(max_workers=workers) as pool:
        records = _encode_photos(
            dataset.all_photos,
            settings=settings,
            transform=None,
            pool=pool,
            cache_dir=cache_dir,
            stage="encode",
            progress=progress,
        )
        measured = _measure(dataset, records, settings, rank_limit)
        found = [r for r in records.values() if not r.error_code]
        report["pipeline"]["images_with_several_faces"] = sum(1 for r in found if r.face_count > 1)
        report["pipeline"]["faces_found_only_with_upsampling"] = sum(1 for r in found if r.upsampled)
        report["pipeline"]["analysed_face_px_percentiles"] = {
            str(q): float(np.percentile([r.face_px for r in found], q)) for q in (1, 5, 50, 95)
        }
        for key in (
            "failures",
            "verification",
            "identification",
            "open_set",
            "recommended",
            "calibration",
            "reference_distance_0_6",
            "threshold_table",
        ):
            report[key] = measured[key]

        if compare_landmark_models:
            comparison = {settings.landmark_model: _summary(measured)}
            other: LandmarkModel = "large" if settings.landmark_model == "small" else "small"
            other_settings = replace(settings, landmark_model=other)
            other_records = _encode_photos(
                dataset.all_photos,
                settings=other_settings,
                transform=None,
                pool=pool,
                cache_dir=cache_dir,
                stage=f"encode:{other}-landmarks",
                progress=progress,
            )
            comparison[other] = _summary(_measure(dataset, other_records, other_settings, rank_limit))
            report["landmark_model_comparison"] = comparison
        if colour_study:
            report["detector_colour_study"] = _colour_study(dataset, settings=settings, pool=pool, progress=progress)
        if quality_sweeps:
            report["quality_sweeps"] = _quality_sweeps(
                dataset,
                measured,
                records,
                settings=settings,
                pool=pool,
                cache_dir=cache_dir,
                sample_size=sweep_sample_size,
                rank_limit=rank_limit,
                progress=progress,
            )
    report["constants_in_force"] = {
        "DEFAULT_MATCH_THRESHOLD": thresholds.DEFAULT_MATCH_THRESHOLD,
        "CALIBRATION_SLOPE": thresholds.CALIBRATION_SLOPE,
        "CALIBRATION_MIDPOINT": thresholds.CALIBRATION_MIDPOINT,
        "MIN_FACE_PX": thresholds.MIN_FACE_PX,
        "MIN_BLUR_VARIANCE": thresholds.MIN_BLUR_VARIANCE,
    }
    report["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    return report


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, read off a report made by ``evaluate`` (no new arithmetic).

    TAR at FAR 1e-2/1e-3/1e-4 over all genuine/impostor pairs (failures count as rejections), rank-1 and
    rank-10 identification rates (closed set), FNIR at FPIR 0.003 and 0.01 (NIST FRTE open set, mate at
    rank <= 10 and within the threshold), failure-to-enrol and probe failure-to-acquire counts, the
    recommended threshold and the one in force.
    """
    verification = report["verification"]["tar_at_far"]
    open_set = report["open_set"]["fnir_at_fpir"]
    identification = report["identification"]
    failures = report["failures"]
    mated, non_mated = failures["mated_probes"], failures["non_mated_probes"]
    reasons: Counter[str] = Counter(mated["reasons"])
    reasons.update(non_mated["reasons"])
    return {
        "gallery_identities": report["dataset"]["gallery_identities"],
        "mated_probes": report["dataset"]["mated_probes"],
        "non_mated_probes": report["dataset"]["non_mated_probes"],
        "tar_at_far": {
            far: {"tar": row["tar"]["value"], "threshold": row["threshold"]} for far, row in verification.items()
        },
        "rank_1": identification["rank_1"]["value"],
        f"rank_{identification['rank_limit']}": identification[f"rank_{identification['rank_limit']}"]["value"],
        "fnir_at_fpir": {
            fpir: {"fnir": row["fnir"]["value"], "fpir_observed": row["fpir"]["value"], "threshold": row["threshold"]}
            for fpir, row in open_set.items()
        },
        "failure_to_enrol": dict(failures["enrol"]),
        "failure_to_acquire_probe": {
            "attempted": mated["attempted"] + non_mated["attempted"],
            "failed": mated["failed"] + non_mated["failed"],
            "reasons": dict(sorted(reasons.items())),
        },
        "recommended_threshold": report["recommended"]["distance"],
        "threshold_in_force": thresholds.DEFAULT_MATCH_THRESHOLD,
    }


def _print_progress(stage: str, done: int, total: int) -> None:
    sys.stderr.write(f"{stage}: {done}/{total}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m backend.faces.evaluation DIR [--out FILE]``: run ``evaluate`` and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here (default: stdout)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-sweeps", action="store_true")
    parser.add_argument("--no-landmark-comparison", action="store_true")
    parser.add_argument("--no-colour-study", action="store_true")
    arguments = parser.parse_args(argv)
    report = evaluate(
        arguments.folder,
        cache_dir=arguments.cache_dir,
        workers=arguments.workers,
        progress=_print_progress,
        compare_landmark_models=not arguments.no_landmark_comparison,
        quality_sweeps=not arguments.no_sweeps,
        colour_study=not arguments.no_colour_study,
    )
    text = json.dumps(report, indent=2, sort_keys=False) + "\n"
    if arguments.out is None:
        sys.stdout.write(text)
    else:
        arguments.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
