"""Gallery search latency: GalleryIndex vs a naive brute force, at 35,000 and 1,000,000 encodings.

Synthetic dlib-like 128-d float32 vectors (two templates per key), top-10 keys per search, one query at
a time (as a search job does). The naive baseline is what face_recognition.face_distance does:
``np.linalg.norm(matrix - query, axis=1)``, then a full argsort and the best row per key.

    .venv/bin/python bench/faces_search.py [--sizes 35000 1000000]

Targets: p99 <= 5 ms at 35k and <= 50 ms at 1M. BLAS uses every core unless OPENBLAS_NUM_THREADS says
otherwise (run once with OPENBLAS_NUM_THREADS=1 to see one core's figure). GalleryIndex is exact, so its
recall@10 against the brute force is measured and printed (it must be 1.000). At 200,000 vectors
or more (the suggested FIELDSYNC_FACE_ANN_MIN_VECTORS; the IVF is off by default) the same gallery is also
searched through the approximate inverted file (IVF) that GalleryIndex would use there; its build
time, p50/p99 and recall@10 against the brute force are printed beside the exact index, in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

from backend.faces.index import ANN_MIN_VECTORS_SUGGESTED, GalleryIndex  # noqa: E402

TARGET_P99_MS = {35_000: 5.0, 1_000_000: 50.0}
K = 10


def naive_search(
    matrix: npt.NDArray[np.float32], keys: npt.NDArray[np.int64], query: npt.NDArray[np.float32], k: int
) -> list[int]:
    distances = np.linalg.norm(matrix - query, axis=1)
    found: list[int] = []
    for row in np.argsort(distances):
        key = int(keys[row])
        if key not in found:
            found.append(key)
            if len(found) == k:
                break
    return found


def percentiles(
    function: Callable[[npt.NDArray[np.float32]], object], queries: npt.NDArray[np.float32]
) -> tuple[str, float]:
    function(queries[0])  # warm-up
    milliseconds = []
    cpu_milliseconds = []  # CPU time of every thread of this process (BLAS threads included)
    for query in queries:
        started, started_cpu = time.perf_counter(), time.process_time()
        function(query)
        milliseconds.append((time.perf_counter() - started) * 1000.0)
        cpu_milliseconds.append((time.process_time() - started_cpu) * 1000.0)
    p50, p99 = np.percentile(milliseconds, [50, 99])
    cpu_p50, cpu_p99 = np.percentile(cpu_milliseconds, [50, 99])
    return (
        f"p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   cpu p50 {cpu_p50:8.2f} ms   p99 {cpu_p99:8.2f} ms   "
        f"({len(milliseconds)} queries)",
        float(p99),
    )


def run(size: int, queries_ours: int, queries_naive: int, rng: np.random.Generator) -> None:
    matrix = rng.normal(0.0, 0.09, size=(size, 128)).astype(np.float32)
    keys = np.arange(size, dtype=np.int64) // 2
    key_names = [f"person-{key}" for key in keys.tolist()]
    template_ids = [f"template-{row}" for row in range(size)]
    started = time.perf_counter()
    index = GalleryIndex(initial_capacity=size)  # exact (the IVF is off by default)
    index.add_many(key_names, template_ids, matrix)
    build_seconds = time.perf_counter() - started
    approximate: GalleryIndex | None = None
    if size >= ANN_MIN_VECTORS_SUGGESTED:
        started = time.perf_counter()
        approximate = GalleryIndex(initial_capacity=size, ann_min_vectors=ANN_MIN_VECTORS_SUGGESTED)
        approximate.add_many(key_names, template_ids, matrix)
        ivf_build_seconds = time.perf_counter() - started
        assert approximate.uses_ann
    queries = (matrix[rng.integers(0, size, queries_ours)] + rng.normal(0, 0.03, (queries_ours, 128))).astype(
        np.float32
    )

    recall_queries = queries[:queries_naive]
    found = found_approximate = expected = 0
    for query in recall_queries:  # recall@K of the index against the brute force, same queries
        ours = {int(c.key.split("-")[1]) for c in index.search(query, K)}
        truth = set(naive_search(matrix, keys, query, K))
        found += len(ours & truth)
        expected += len(truth)
        if approximate is not None:
            found_approximate += len({int(c.key.split("-")[1]) for c in approximate.search(query, K)} & truth)
    recall = found / expected

    ours_text, ours_p99 = percentiles(lambda q: index.search(q, K), queries)
    naive_text, naive_p99 = percentiles(lambda q: naive_search(matrix, keys, q, K), queries[:queries_naive])
    target = TARGET_P99_MS.get(size)
    verdict = "" if target is None else f"target p99 <= {target:g} ms: {'MET' if ours_p99 <= target else 'MISSED'}"
    print(f"{size:>9,} vectors ({matrix.nbytes / 2**20:.0f} MiB), index built in {build_seconds:.2f} s")
    print(f"   GalleryIndex.search  {ours_text}")
    print(f"   naive brute force    {naive_text}")
    print(f"   speed-up at p99: {naive_p99 / ours_p99:.1f}x   {verdict}")
    print(f"   recall@{K} vs brute force: {recall:.3f} over {len(recall_queries)} queries (exact index)")
    if approximate is not None:
        ivf_text, ivf_p99 = percentiles(lambda q: approximate.search(q, K), queries)
        ivf_verdict = (
            "" if target is None else f"target p99 <= {target:g} ms: {'MET' if ivf_p99 <= target else 'MISSED'}"
        )
        print(f"   IVF index built in {ivf_build_seconds:.2f} s (k-means + assignment; also the load-time rebuild)")
        print(f"   GalleryIndex IVF     {ivf_text}")
        print(f"   IVF vs exact at p99: {ours_p99 / ivf_p99:.2f}x   {ivf_verdict}")
        recall_ivf = found_approximate / expected
        print(f"   recall@{K} vs brute force: {recall_ivf:.3f} over {len(recall_queries)} queries (IVF)")
    print(f"   load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (other jobs share the cores)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[35_000, 1_000_000])
    arguments = parser.parse_args()
    rng = np.random.default_rng(20261203)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset (all cores)")
    print(f"{os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={threads}, numpy {np.__version__}, k={K}")
    for size in arguments.sizes:
        run(size, queries_ours=500 if size <= 100_000 else 300, queries_naive=200 if size <= 100_000 else 30, rng=rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
