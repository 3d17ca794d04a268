"""Sweep of the IVF probe fraction at one gallery size: recall@10 against the exact index and CPU time.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/faces_ivf_sweep.py [--size 1000000] [--lists-per-sqrt 1]

Same synthetic vectors as bench/faces_search.py (two templates per key, queries = a gallery row + noise).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backend.faces.index as index_module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--lists-per-sqrt", type=float, default=1.0)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    arguments = parser.parse_args()
    index_module._IVF_LISTS_PER_SQRT = arguments.lists_per_sqrt  # type: ignore[misc]
    size = arguments.size
    rng = np.random.default_rng(20261203)
    vectors = rng.normal(0.0, 0.09, (size, 128)).astype(np.float32)
    keys = [f"person-{row // 2}" for row in range(size)]
    template_ids = [f"template-{row}" for row in range(size)]
    exact = index_module.GalleryIndex(initial_capacity=size)
    exact.add_many(keys, template_ids, vectors)
    started = time.perf_counter()
    approximate = index_module.GalleryIndex(initial_capacity=size, ann_min_vectors=1)
    approximate.add_many(keys, template_ids, vectors)
    lists = approximate._ivf.list_count if approximate._ivf is not None else 0
    print(f"{size:,} vectors, nlist {lists}, IVF built in {time.perf_counter() - started:.1f} s")
    queries = (vectors[rng.integers(0, size, 60)] + rng.normal(0, 0.03, (60, 128))).astype(np.float32)
    truth, cpu = [], []
    for query in queries:
        started = time.process_time()
        truth.append({c.key for c in exact.search(query, 10)})
        cpu.append(time.process_time() - started)
    print(f"   exact            cpu p50 {np.percentile(cpu, 50) * 1000:6.1f} ms  recall@10 1.000")
    for fraction in arguments.fractions:
        approximate._probe_fraction = fraction
        found, cpu = 0, []
        for query, expected in zip(queries, truth, strict=True):
            started = time.process_time()
            found += len({c.key for c in approximate.search(query, 10)} & expected)
            cpu.append(time.process_time() - started)
        print(
            f"   IVF {fraction:4.0%} probed  cpu p50 {np.percentile(cpu, 50) * 1000:6.1f} ms  "
            f"recall@10 {found / (10 * len(queries)):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
