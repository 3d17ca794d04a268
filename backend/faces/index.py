"""In-memory gallery index: exact nearest-neighbour search over 128-d face encodings.

One float32 row per template, with parallel arrays of the person/notice key and the template id. Several
templates per key are allowed; a search returns the best distance per key. Distances are Euclidean,
computed as ||q||^2 + ||g||^2 - 2 q.g with the gallery's squared norms precomputed, so a search is one
matrix-vector product plus ``np.argpartition``; the work is done in chunks so temporaries stay small.
Measured in ``bench/faces_search.py``.

At or above ``ann_min_vectors`` rows (None = never, the default; FIELDSYNC_FACE_ANN_MIN_VECTORS) a
search goes through an inverted file (``_InvertedFile``): k-means centroids, the rows stored
contiguously per list, the nearest ``nprobe`` lists scanned exactly, then the same per-key selection
and float64 re-ranking. Below it the exact scan is used, unchanged. The inverted file follows every
add/replace/remove; it is not saved (the file format is unchanged) but rebuilt when the index is
loaded or first reaches the threshold.

Not thread-safe for writes: guard ``add``/``remove_*`` and ``search`` with one lock, or rebuild a new
index and swap the reference (searches never see a half-applied change that way).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.faces import thresholds

DIMENSIONS: Final = 128
_FILE_FORMAT_VERSION: Final = 1
# Rows scanned per block: 65,536 x 128 float32 = 32 MiB, large enough for BLAS, small enough for cache
# pressure and temporaries.
_CHUNK_ROWS: Final = 65_536
# Suggested FIELDSYNC_FACE_ANN_MIN_VECTORS when the IVF is wanted. It is off by default: on the
# benchmark's vectors, at recall@10 >= 0.99, it costs more CPU than the exact scan (docs/faces.md).
ANN_MIN_VECTORS_SUGGESTED: Final = 200_000
_IVF_LISTS_PER_SQRT: Final = 4  # nlist = 4 * sqrt(N)
# Fraction of the lists probed. On the benchmark's i.i.d. Gaussian vectors (no cluster structure at all)
# recall@10 >= 0.99 needs about 40% of the lists at 100k (bench/faces_search.py, docs/faces.md).
_IVF_PROBE_FRACTION: Final = 0.4
_KMEANS_ITERATIONS: Final = 4
_KMEANS_SAMPLE_PER_LIST: Final = 16


def calibrated_score(distance: float | npt.NDArray[np.float32]) -> float:
    """Map a Euclidean distance to a similarity score in [0, 1] (higher = more alike).

    ``1 / (1 + exp(CALIBRATION_SLOPE * (distance - CALIBRATION_MIDPOINT)))``, a logistic fitted on the
    genuine and impostor probe-gallery pairs of the evaluation in their natural proportion (see
    thresholds.py and eval_report.json). It is a monotone similarity score for ranking and display, NOT a
    probability that the two photos show the same person: that depends on how many people are in the
    gallery, on whether the person is in it at all, and on photo quality.
    """
    value = float(np.asarray(distance, dtype=np.float64))
    exponent = thresholds.CALIBRATION_SLOPE * (value - thresholds.CALIBRATION_MIDPOINT)
    if exponent > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(exponent))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One gallery person/notice found by a search: its best template, distance and similarity score.

    A candidate is a lead for a human to check, never an identification.
    """

    rank: int
    key: str
    template_id: str
    distance: float
    score: float


class GalleryIndex:
    """Exact top-k search over face encodings, grouped by key (person or notice).

    ``version`` increases by one on every change (add, replace, remove) and is saved with the index;
    callers compare it with the gallery's version to decide whether to apply changes.
    """

    def __init__(
        self,
        *,
        initial_capacity: int = 1024,
        chunk_rows: int = _CHUNK_ROWS,
        ann_min_vectors: int | None = None,
        probe_fraction: float = _IVF_PROBE_FRACTION,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be positive")
        if (ann_min_vectors is not None and ann_min_vectors < 1) or not 0.0 < probe_fraction <= 1.0:
            raise ValueError("ann_min_vectors must be positive (or None) and probe_fraction in (0, 1]")
        self._ann_min_vectors = ann_min_vectors
        self._probe_fraction = float(probe_fraction)
        self._ivf: _InvertedFile | None = None
        self._chunk_rows = int(chunk_rows)
        capacity = max(int(initial_capacity), 1)
        self._vectors = np.zeros((capacity, DIMENSIONS), dtype=np.float32)
        self._half_norms = np.zeros(capacity, dtype=np.float32)  # 0.5 * ||g||^2
        self._key_codes = np.zeros(capacity, dtype=np.int64)
        self._template_ids: list[str] = []
        self._row_of_template: dict[str, int] = {}
        self._code_of_key: dict[str, int] = {}
        self._keys_by_code: list[str] = []
        self._rows_of_code: dict[int, set[int]] = {}
        self._size = 0
        self.version = 0

    # -- inspection ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    @property
    def key_count(self) -> int:
        """How many distinct keys have at least one template."""
        return len(self._rows_of_code)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` (a person/notice key, like ``keys()``) has at least one template."""
        code = self._code_of_key.get(key) if isinstance(key, str) else None
        return code is not None and code in self._rows_of_code

    def has_template(self, template_id: str) -> bool:
        """Whether the template id is in the index."""
        return template_id in self._row_of_template

    def keys(self) -> list[str]:
        """The keys with at least one template, sorted."""
        return sorted(self._keys_by_code[code] for code in self._rows_of_code)

    def template_ids(self) -> list[str]:
        """Every template id in the index (a copy, in row order)."""
        return list(self._template_ids)

    def vectors(self) -> npt.NDArray[np.float32]:
        """A read-only view of the stored rows (row order is an implementation detail)."""
        view = self._vectors[: self._size]
        view.flags.writeable = False
        return view

    @property
    def uses_ann(self) -> bool:
        """Whether searches currently go through the inverted file (size at or above the threshold)."""
        return self._ivf is not None and self._ann_min_vectors is not None and self._size >= self._ann_min_vectors

    # -- changes ------------------------------------------------------------------------------------

    def add(self, key: str, template_id: str, vector: npt.ArrayLike) -> None:
        """Add (or replace, when ``template_id`` is known under the same key) one encoding.

        Raises ValueError when the vector is not 128 finite numbers, when ``key`` or ``template_id`` is
        empty, or when ``template_id`` already belongs to another key.
        """
        row_vector = _as_vector(vector)
        if not key or not template_id:
            raise ValueError("key and template_id must be non-empty")
        code = self._code_for(key)
        existing = self._row_of_template.get(template_id)
        if existing is not None:
            if int(self._key_codes[existing]) != code:
                raise ValueError(f"template {template_id!r} already belongs to another key")
            self._vectors[existing] = row_vector
            self._half_norms[existing] = 0.5 * float(np.dot(row_vector, row_vector))
            if self._ivf is not None:
                self._ivf.delete(existing)
                self._ivf.insert(np.array([existing]), self._vectors, self._half_norms)
            self.version += 1
            return
        self._ensure_capacity(self._size + 1)
        row = self._size
        self._vectors[row] = row_vector
        self._half_norms[row] = 0.5 * float(np.dot(row_vector, row_vector))
        self._key_codes[row] = code
        self._template_ids.append(template_id)
        self._row_of_template[template_id] = row
        self._rows_of_code.setdefault(code, set()).add(row)
        self._size += 1
        if self._ivf is not None:
            self._ivf.insert(np.array([row]), self._vectors, self._half_norms)
        self._sync_ivf()
        self.version += 1

    def add_many(self, keys: Sequence[str], template_ids: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Add many new templates at once (bulk rebuild); the version increases by one.

        Raises ValueError on mismatched lengths, bad vectors, empty or duplicate ids, or ids already
        present (use ``add`` to replace). Nothing is added when it raises.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != DIMENSIONS:
            raise ValueError(f"vectors must be an n x {DIMENSIONS} matrix")
        count = matrix.shape[0]
        if not (len(keys) == len(template_ids) == count):
            raise ValueError("keys, template_ids and vectors must have the same length")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("an encoding must be finite")
        if any(not key for key in keys) or any(not template_id for template_id in template_ids):
            raise ValueError("key and template_id must be non-empty")
        if len(set(template_ids)) != count or any(t in self._row_of_template for t in template_ids):
            raise ValueError("template ids must be new and unique")
        if count == 0:
            return
        self._ensure_capacity(self._size + count)
        start, stop = self._size, self._size + count
        self._vectors[start:stop] = matrix
        self._half_norms[start:stop] = 0.5 * np.einsum("ij,ij->i", matrix, matrix)
        codes = [self._code_for(key) for key in keys]
        self._key_codes[start:stop] = codes
        for offset, (code, template_id) in enumerate(zip(codes, template_ids, strict=True)):
            self._rows_of_code.setdefault(code, set()).add(start + offset)
            self._row_of_template[template_id] = start + offset
        self._template_ids.extend(template_ids)
        self._size = stop
        if self._ivf is not None:
            self._ivf.insert(np.arange(start, stop), self._vectors, self._half_norms)
        self._sync_ivf()
        self.version += 1

    def remove_key(self, key: str) -> int:
        """Remove every template of ``key``; return how many were removed (0 if unknown: idempotent)."""
        code = self._code_of_key.get(key)
        if code is None or code not in self._rows_of_code:
            return 0
        template_ids = [self._template_ids[row] for row in self._rows_of_code[code]]
        for template_id in template_ids:
            self._remove_row(self._row_of_template[template_id])
        self._sync_ivf()
        self.version += 1
        return len(template_ids)

    def remove_template(self, template_id: str) -> bool:
        """Remove one template; return whether it was present (idempotent)."""
        row = self._row_of_template.get(template_id)
        if row is None:
            return False
        self._remove_row(row)
        self._sync_ivf()
        self.version += 1
        return True

    # -- search -------------------------------------------------------------------------------------

    def search(self, vector: npt.ArrayLike, k: int, *, max_distance: float | None = None) -> list[Candidate]:
        """Return up to ``k`` keys nearest to ``vector``, best first, each with its closest template.

        With ``max_distance`` only candidates at or below it are returned (an empty list is a normal
        answer). Ties are broken by key so results are deterministic.
        Raises ValueError for a vector that is not 128 finite numbers or k < 1.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        query = _as_vector(vector)
        if self._size == 0:
            return []
        # Keys can own several rows, so look at more rows than k and widen until k keys are covered.
        wanted_rows = min(self._size, k * 4)
        probed: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None
        if self.uses_ann and self._ivf is not None:
            probed = self._ivf.probe(query, max(1, math.ceil(self._probe_fraction * self._ivf.list_count)))
        while True:
            if probed is not None and wanted_rows < probed[0].shape[0]:
                picked = smallest_indices(probed[1], wanted_rows)
                rows, half_gaps = probed[0][picked], probed[1][picked]
            else:
                rows, half_gaps = self._nearest_rows(query, wanted_rows)  # exact (fallback when few probed)
            best: dict[int, tuple[float, int]] = {}
            codes = self._key_codes[rows].tolist()
            for row, gap, code in zip(rows.tolist(), half_gaps.tolist(), codes, strict=True):
                if code not in best or gap < best[code][0]:
                    best[code] = (gap, row)
            if len(best) >= k or wanted_rows >= self._size:
                break
            wanted_rows = min(self._size, wanted_rows * 4)

        # The expanded form loses precision for very close vectors; recompute the few winners exactly.
        best_codes = list(best)
        best_rows = [best[code][1] for code in best_codes]
        differences = self._vectors[best_rows].astype(np.float64) - query.astype(np.float64)
        exact = np.sqrt(np.einsum("ij,ij->i", differences, differences)).tolist()
        candidates = [
            (distance, self._keys_by_code[code], row)
            for distance, code, row in zip(exact, best_codes, best_rows, strict=True)
        ]
        candidates.sort(key=lambda item: (item[0], item[1]))
        results: list[Candidate] = []
        for distance, key, row in candidates[:k]:
            if max_distance is not None and distance > max_distance:
                break
            results.append(
                Candidate(
                    rank=len(results) + 1,
                    key=key,
                    template_id=self._template_ids[row],
                    distance=distance,
                    score=calibrated_score(distance),
                )
            )
        return results

    def distances(self, vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Distances from ``vector`` to every stored row, in row order (for evaluation and tests)."""
        query = _as_vector(vector)
        gaps = self._half_norms[: self._size] - self._vectors[: self._size] @ query
        squared = np.maximum(2.0 * (gaps + 0.5 * float(np.dot(query, query))), 0.0)
        return np.sqrt(squared).astype(np.float32)

    def _nearest_rows(
        self, query: npt.NDArray[np.float32], count: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Rows with the ``count`` smallest 0.5||g||^2 - q.g (same order as the distances). Exact.

        One pass of matrix-vector products (BLAS, in blocks of ``chunk_rows``) into one buffer, then
        ``smallest_indices`` (no full sort, no partition of the whole buffer).
        """
        size = self._size
        gaps = np.empty(size, dtype=np.float32)
        for start in range(0, size, self._chunk_rows):
            stop = min(start + self._chunk_rows, size)
            np.dot(self._vectors[start:stop], query, out=gaps[start:stop])
        np.subtract(self._half_norms[:size], gaps, out=gaps)
        rows = smallest_indices(gaps, count)
        return rows, gaps[rows]

    # -- persistence --------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index to ``path`` as an uncompressed .npz (no pickle), atomically (temp + rename).

        Raises OSError on I/O failure.
        """
        path = Path(path)
        keys = [self._keys_by_code[int(code)] for code in self._key_codes[: self._size]]
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "format_version": np.array(_FILE_FORMAT_VERSION, dtype=np.int64),
            "version": np.array(self.version, dtype=np.int64),
            "vectors": self._vectors[: self._size],
            "keys": np.array(keys, dtype=np.str_) if keys else np.zeros(0, dtype="<U1"),
            "template_ids": (
                np.array(self._template_ids, dtype=np.str_) if self._template_ids else np.zeros(0, dtype="<U1")
            ),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                np.savez(handle, allow_pickle=False, **arrays)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path, *, ann_min_vectors: int | None = None) -> GalleryIndex:
        """Read an index written by ``save``. Never unpickles. At or above ``ann_min_vectors`` rows the
        inverted file is rebuilt from the loaded vectors (k-means; seconds at 1M, see docs/faces.md).

        Raises OSError if unreadable and ValueError if the file is not a valid gallery index.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            try:
                format_version = int(data["format_version"])
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                keys = [str(key) for key in data["keys"].tolist()]
                template_ids = [str(template_id) for template_id in data["template_ids"].tolist()]
                version = int(data["version"])
            except KeyError as error:
                raise ValueError(f"not a gallery index file: missing {error}") from error
        if format_version != _FILE_FORMAT_VERSION:
            raise ValueError(f"unsupported gallery index format {format_version}")
        if (
            vectors.ndim != 2
            or vectors.shape[1:] != (DIMENSIONS,)
            or not (len(keys) == len(template_ids) == vectors.shape[0])
        ):
            raise ValueError("gallery index arrays are inconsistent")
        index = cls(initial_capacity=max(vectors.shape[0], 1), ann_min_vectors=ann_min_vectors)
        index.add_many(keys, template_ids, vectors)
        index.version = version
        return index

    # -- internals ----------------------------------------------------------------------------------

    def _sync_ivf(self) -> None:
        """Build the inverted file on reaching the threshold (again when the gallery has doubled since);
        drop it below half the threshold (hysteresis, so a gallery at the line does not rebuild often)."""
        if self._ann_min_vectors is None:
            return
        if self._size >= self._ann_min_vectors:
            if self._ivf is None or self._size >= 2 * self._ivf.built_size:
                self._ivf = _InvertedFile.build(self._vectors, self._half_norms, self._size)
        elif self._ivf is not None and self._size < self._ann_min_vectors // 2:
            self._ivf = None

    def _code_for(self, key: str) -> int:
        code = self._code_of_key.get(key)
        if code is None:
            code = len(self._keys_by_code)
            self._code_of_key[key] = code
            self._keys_by_code.append(key)
        return code

    def _ensure_capacity(self, needed: int) -> None:
        capacity = self._vectors.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, capacity * 2)
        vectors = np.zeros((new_capacity, DIMENSIONS), dtype=np.float32)
        vectors[: self._size] = self._vectors[: self._size]
        half_norms = np.zeros(new_capacity, dtype=np.float32)
        half_norms[: self._size] = self._half_norms[: self._size]
        key_codes = np.zeros(new_capacity, dtype=np.int64)
        key_codes[: self._size] = self._key_codes[: self._size]
        self._vectors, self._half_norms, self._key_codes = vectors, half_norms, key_codes
        if self._ivf is not None:
            self._ivf.ensure_row_capacity(new_capacity)

    def _remove_row(self, row: int) -> None:
        """Swap the last row into ``row`` (O(1) per removed template; row order is not stable)."""
        last = self._size - 1
        code = int(self._key_codes[row])
        template_id = self._template_ids[row]
        rows_of_code = self._rows_of_code[code]
        rows_of_code.discard(row)
        if not rows_of_code:
            del self._rows_of_code[code]
        del self._row_of_template[template_id]
        if self._ivf is not None:
            self._ivf.delete(row)
            if row != last:
                self._ivf.renumber(last, row)
        if row != last:
            moved_id = self._template_ids[last]
            moved_code = int(self._key_codes[last])
            self._vectors[row] = self._vectors[last]
            self._half_norms[row] = self._half_norms[last]
            self._key_codes[row] = moved_code
            self._template_ids[row] = moved_id
            self._row_of_template[moved_id] = row
            moved_rows = self._rows_of_code[moved_code]
            moved_rows.discard(last)
            moved_rows.add(row)
        self._template_ids.pop()
        self._size -= 1


class _InvertedFile:
    """IVF over the rows of a GalleryIndex: per list, contiguous float32 vectors, half norms and row ids.

    ``list_of_row``/``slot_of_row`` locate each gallery row, so add, replace, remove and the gallery's
    swap-with-last renumbering are O(1) (amortised) per row.
    """

    def __init__(self, centroids: npt.NDArray[np.float32], row_capacity: int, built_size: int) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.centroid_half_norms = 0.5 * np.einsum("ij,ij->i", self.centroids, self.centroids)
        nlist = self.centroids.shape[0]
        self.built_size = built_size
        self.vectors = [np.zeros((0, DIMENSIONS), dtype=np.float32) for _ in range(nlist)]
        self.half_norms = [np.zeros(0, dtype=np.float32) for _ in range(nlist)]
        self.rows = [np.zeros(0, dtype=np.int64) for _ in range(nlist)]
        self.counts = np.zeros(nlist, dtype=np.int64)
        self.list_of_row = np.full(row_capacity, -1, dtype=np.int64)
        self.slot_of_row = np.full(row_capacity, -1, dtype=np.int64)

    @property
    def list_count(self) -> int:
        return int(self.centroids.shape[0])

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], half_norms: npt.NDArray[np.float32], size: int) -> _InvertedFile:
        """k-means (a few Lloyd iterations on a sample, seeded deterministically), then assign every row."""
        nlist = max(1, min(size, int(_IVF_LISTS_PER_SQRT * math.sqrt(size))))
        rng = np.random.default_rng(size)
        sample_rows = rng.choice(size, size=min(size, nlist * _KMEANS_SAMPLE_PER_LIST), replace=False)
        sample = vectors[np.sort(sample_rows)]
        centroids = sample[rng.choice(sample.shape[0], size=nlist, replace=False)].copy()
        for _ in range(_KMEANS_ITERATIONS):
            labels = _nearest_centroids(sample, centroids)
            counts = np.bincount(labels, minlength=nlist)
            sums = np.zeros((nlist, DIMENSIONS), dtype=np.float64)
            np.add.at(sums, labels, sample)
            filled = counts > 0  # an empty list keeps its centroid
            centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        ivf = cls(centroids, vectors.shape[0], size)
        ivf.insert(np.arange(size), vectors, half_norms)
        return ivf

    def ensure_row_capacity(self, capacity: int) -> None:
        if capacity > self.list_of_row.shape[0]:
            grown = np.full(capacity, -1, dtype=np.int64)
            grown[: self.list_of_row.shape[0]] = self.list_of_row
            self.list_of_row = grown
            grown = np.full(capacity, -1, dtype=np.int64)
            grown[: self.slot_of_row.shape[0]] = self.slot_of_row
            self.slot_of_row = grown

    def insert(
        self, rows: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], half_norms: npt.NDArray[np.float32]
    ) -> None:
        """File the given gallery rows (read from the gallery's arrays) under their nearest centroid."""
        self.ensure_row_capacity(vectors.shape[0])
        labels = _nearest_centroids(vectors[rows], self.centroids)
        order = np.argsort(labels, kind="stable")
        sorted_labels, sorted_rows = labels[order], rows[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        for begin, end in zip(starts.tolist(), [*starts[1:].tolist(), int(sorted_labels.shape[0])], strict=True):
            label = int(sorted_labels[begin])
            new_rows = sorted_rows[begin:end]
            count, added = int(self.counts[label]), end - begin
            if count + added > self.rows[label].shape[0]:
                capacity = max(count + added, 2 * self.rows[label].shape[0], 8)
                for store in (self.vectors, self.half_norms, self.rows):
                    old = store[label]
                    grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
                    grown[:count] = old[:count]
                    store[label] = grown
            self.vectors[label][count : count + added] = vectors[new_rows]
            self.half_norms[label][count : count + added] = half_norms[new_rows]
            self.rows[label][count : count + added] = new_rows
            self.list_of_row[new_rows] = label
            self.slot_of_row[new_rows] = np.arange(count, count + added)
            self.counts[label] = count + added

    def delete(self, row: int) -> None:
        """Take a gallery row out of its list (the list's last entry moves into its slot)."""
        label, slot = int(self.list_of_row[row]), int(self.slot_of_row[row])
        last = int(self.counts[label]) - 1
        if slot != last:
            moved = int(self.rows[label][last])
            self.vectors[label][slot] = self.vectors[label][last]
            self.half_norms[label][slot] = self.half_norms[label][last]
            self.rows[label][slot] = moved
            self.slot_of_row[moved] = slot
        self.counts[label] = last
        self.list_of_row[row] = self.slot_of_row[row] = -1

    def renumber(self, old_row: int, new_row: int) -> None:
        """The gallery moved ``old_row`` to ``new_row`` (swap-with-last on removal)."""
        label, slot = int(self.list_of_row[old_row]), int(self.slot_of_row[old_row])
        self.rows[label][slot] = new_row
        self.list_of_row[new_row], self.slot_of_row[new_row] = label, slot
        self.list_of_row[old_row] = self.slot_of_row[old_row] = -1

    def probe(
        self, query: npt.NDArray[np.float32], nprobe: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Rows of the ``nprobe`` lists nearest to ``query`` with their exact 0.5||g||^2 - q.g."""
        centroid_gaps = self.centroid_half_norms - self.centroids @ query
        lists = smallest_indices(centroid_gaps, min(nprobe, self.list_count)).tolist()
        counts = [int(self.counts[label]) for label in lists]
        total = sum(counts)
        rows = np.empty(total, dtype=np.int64)
        gaps = np.empty(total, dtype=np.float32)
        position = 0
        for label, count in zip(lists, counts, strict=True):
            if count:
                end = position + count
                np.dot(self.vectors[label][:count], query, out=gaps[position:end])
                np.subtract(self.half_norms[label][:count], gaps[position:end], out=gaps[position:end])
                rows[position:end] = self.rows[label][:count]
                position = end
        return rows, gaps


def _nearest_centroids(vectors: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    labels = np.empty(vectors.shape[0], dtype=np.int64)
    block = 8192
    for start in range(0, vectors.shape[0], block):
        gaps = half_norms - vectors[start : start + block] @ centroids.T
        labels[start : start + block] = np.argmin(gaps, axis=1)
    return labels


def smallest_indices(values: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.int64]:
    """Indices of the ``count`` smallest of ``values`` (any order; ties broken arbitrarily). Exact.

    A partition of a million values costs about 10 ms; instead a strided sample picks a cut-off, one
    vectorised comparison keeps the values at or below it (a few thousand), and only those are
    partitioned. If fewer than ``count`` survive the cut (never seen, but possible), it falls back to
    partitioning everything, so the answer never depends on the sample.
    """
    size = int(values.shape[0])
    if count >= size:
        return np.arange(size, dtype=np.int64)
    if size <= 64 * count:
        return np.argpartition(values, count - 1)[:count].astype(np.int64)
    step = size // (16 * count)
    sample = values[::step]
    cut = np.partition(sample, 3)[3]
    survivors = np.flatnonzero(values <= cut)
    if survivors.shape[0] < count:
        return np.argpartition(values, count - 1)[:count].astype(np.int64)
    keep = np.argpartition(values[survivors], count - 1)[:count]
    return survivors[keep].astype(np.int64)


def _as_vector(vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    if array.shape != (DIMENSIONS,):
        raise ValueError(f"an encoding has {DIMENSIONS} values, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        raise ValueError("an encoding must be finite")
    return np.ascontiguousarray(array)
