from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from backend.faces import thresholds
from backend.faces.index import Candidate, GalleryIndex, calibrated_score, smallest_indices


def random_gallery(
    seed: int, rows: int, keys: int
) -> tuple[npt.NDArray[np.float32], list[str], list[str], np.random.Generator]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, 0.09, size=(rows, 128)).astype(np.float32)  # dlib-like norms (~1)
    key_of_row = [f"person-{rng.integers(keys)}" for _ in range(rows)]
    template_ids = [f"template-{row}" for row in range(rows)]
    return vectors, key_of_row, template_ids, rng


def build(vectors: npt.NDArray[np.float32], key_of_row: list[str], template_ids: list[str]) -> GalleryIndex:
    index = GalleryIndex(initial_capacity=8)  # small on purpose: growth is exercised
    for key, template_id, vector in zip(key_of_row, template_ids, vectors, strict=True):
        index.add(key, template_id, vector)
    return index


def brute_force(
    vectors: npt.NDArray[np.float32],
    key_of_row: list[str],
    template_ids: list[str],
    query: npt.NDArray[np.float32],
    k: int,
) -> list[tuple[str, str, float]]:
    distances = np.linalg.norm(vectors.astype(np.float64) - query.astype(np.float64), axis=1)
    best: dict[str, tuple[float, str]] = {}
    for key, template_id, distance in zip(key_of_row, template_ids, distances.tolist(), strict=True):
        if key not in best or distance < best[key][0]:
            best[key] = (distance, template_id)
    ordered = sorted(((d, key, t) for key, (d, t) in best.items()), key=lambda item: (item[0], item[1]))
    return [(key, template_id, distance) for distance, key, template_id in ordered[:k]]


def as_tuples(candidates: list[Candidate]) -> list[tuple[str, str, float]]:
    return [(c.key, c.template_id, c.distance) for c in candidates]


def assert_same_results(actual: list[Candidate], expected: list[tuple[str, str, float]]) -> None:
    assert [(key, template_id) for key, template_id, _ in as_tuples(actual)] == [
        (key, template_id) for key, template_id, _ in expected
    ]
    assert [c.distance for c in actual] == pytest.approx([d for _, _, d in expected], abs=1e-5)
    assert [c.rank for c in actual] == list(range(1, len(expected) + 1))


def test_search_returns_the_brute_force_top_k_with_the_best_template_per_key() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(seed=1, rows=3000, keys=700)
    index = build(vectors, key_of_row, template_ids)

    for _ in range(40):
        query = (vectors[rng.integers(len(vectors))] + rng.normal(0, 0.03, 128)).astype(np.float32)
        assert_same_results(index.search(query, 10), brute_force(vectors, key_of_row, template_ids, query, 10))

    assert len(index) == 3000
    assert index.key_count == len(set(key_of_row))


def test_search_spanning_several_chunks_matches_brute_force() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(seed=2, rows=5000, keys=2000)
    index = GalleryIndex(chunk_rows=384)
    index.add_many(key_of_row, template_ids, vectors)

    for _ in range(20):
        query = rng.normal(0.0, 0.09, 128).astype(np.float32)
        assert_same_results(index.search(query, 25), brute_force(vectors, key_of_row, template_ids, query, 25))


def test_add_many_equals_adding_one_by_one_and_refuses_duplicates_atomically() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(seed=9, rows=400, keys=90)
    one_by_one = build(vectors, key_of_row, template_ids)
    bulk = GalleryIndex()
    bulk.add_many(key_of_row, template_ids, vectors)

    for _ in range(10):
        query = rng.normal(0.0, 0.09, 128).astype(np.float32)
        assert as_tuples(bulk.search(query, 10)) == as_tuples(one_by_one.search(query, 10))
    with pytest.raises(ValueError, match="new and unique"):
        bulk.add_many(["someone"], [template_ids[0]], vectors[:1])
    assert len(bulk) == 400
    assert bulk.version == 1


def test_search_widens_when_one_key_owns_the_nearest_rows() -> None:
    rng = np.random.default_rng(3)
    centre = rng.normal(0.0, 0.09, 128).astype(np.float32)
    index = GalleryIndex()
    for number in range(200):  # one person with 200 near-identical templates
        index.add("crowded", f"c-{number}", centre + rng.normal(0, 0.001, 128).astype(np.float32))
    for number in range(30):
        index.add(f"other-{number}", f"o-{number}", rng.normal(0.0, 0.09, 128).astype(np.float32))

    results = index.search(centre, 5)

    assert results[0].key == "crowded"
    assert len(results) == 5
    assert len({c.key for c in results}) == 5


def test_max_distance_leaves_out_far_candidates_and_may_return_nothing() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(seed=4, rows=500, keys=500)
    index = build(vectors, key_of_row, template_ids)
    query = vectors[7]

    assert [c.key for c in index.search(query, 10, max_distance=1e-3)] == [key_of_row[7]]
    assert index.search(rng.normal(5.0, 0.1, 128).astype(np.float32), 10, max_distance=0.6) == []


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(seed=5, rows=1200, keys=300)
    index = build(vectors, key_of_row, template_ids)
    index.remove_key(key_of_row[0])
    path = tmp_path / "gallery" / "index.npz"

    index.save(path)
    loaded = GalleryIndex.load(path)

    assert loaded.version == index.version
    assert len(loaded) == len(index)
    assert loaded.keys() == index.keys()
    for _ in range(10):
        query = rng.normal(0.0, 0.09, 128).astype(np.float32)
        assert as_tuples(loaded.search(query, 10)) == as_tuples(index.search(query, 10))
    with np.load(path, allow_pickle=False) as data:  # every array loads without pickle
        assert sorted(data.files) == ["format_version", "keys", "template_ids", "vectors", "version"]
        assert data["vectors"].dtype == np.float32


def test_loading_a_file_that_is_not_an_index_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, something=np.zeros(3))

    with pytest.raises(ValueError, match="not a gallery index"):
        GalleryIndex.load(path)


def test_remove_key_removes_every_template_of_that_key_and_nothing_else() -> None:
    vectors, key_of_row, template_ids, _ = random_gallery(seed=6, rows=2000, keys=150)
    index = build(vectors, key_of_row, template_ids)
    victim = key_of_row[11]
    victim_rows = [row for row, key in enumerate(key_of_row) if key == victim]
    version_before = index.version

    removed = index.remove_key(victim)

    assert removed == len(victim_rows) > 1
    assert index.version == version_before + 1
    assert len(index) == 2000 - removed
    assert victim not in index
    assert victim not in index.keys()  # noqa: SIM118 - both spellings agree
    assert not any(index.has_template(template_ids[row]) for row in victim_rows)
    kept = [row for row, key in enumerate(key_of_row) if key != victim]
    kept_vectors = vectors[kept]
    kept_keys = [key_of_row[row] for row in kept]
    kept_ids = [template_ids[row] for row in kept]
    results = index.search(vectors[victim_rows[0]], 10)
    assert victim not in [c.key for c in results]
    assert_same_results(results, brute_force(kept_vectors, kept_keys, kept_ids, vectors[victim_rows[0]], 10))


def test_removing_an_unknown_key_or_template_changes_nothing() -> None:
    vectors, key_of_row, template_ids, _ = random_gallery(seed=7, rows=50, keys=10)
    index = build(vectors, key_of_row, template_ids)
    version_before = index.version

    assert index.remove_key("nobody") == 0
    assert index.remove_template("no-such-template") is False
    assert index.version == version_before
    assert len(index) == 50


def test_remove_template_then_add_again_is_incremental() -> None:
    vectors, key_of_row, template_ids, _ = random_gallery(seed=8, rows=300, keys=40)
    index = build(vectors, key_of_row, template_ids)

    assert index.remove_template(template_ids[5]) is True
    assert not index.has_template(template_ids[5])
    assert key_of_row[5] in index  # the key keeps its other templates
    index.add(key_of_row[5], template_ids[5], vectors[5])

    assert len(index) == 300
    assert sorted(index.template_ids()) == sorted(template_ids)
    assert index.search(vectors[5], 1)[0].template_id == template_ids[5]


def test_adding_a_known_template_id_replaces_it_but_not_under_another_key() -> None:
    index = GalleryIndex()
    index.add("alice", "t-1", np.zeros(128, dtype=np.float32))
    index.add("alice", "t-1", np.full(128, 0.1, dtype=np.float32))

    assert len(index) == 1
    assert index.search(np.full(128, 0.1, dtype=np.float32), 1)[0].distance == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="another key"):
        index.add("bob", "t-1", np.zeros(128, dtype=np.float32))


@pytest.mark.parametrize(
    "vector",
    [np.zeros(127, dtype=np.float32), np.full(128, np.nan, dtype=np.float32), np.zeros((2, 128))],
    ids=["short", "nan", "matrix"],
)
def test_invalid_vectors_are_refused(vector: npt.NDArray[np.float32]) -> None:
    index = GalleryIndex()

    with pytest.raises(ValueError):
        index.add("alice", "t-1", vector)
    with pytest.raises(ValueError):
        index.search(vector, 3)
    assert len(index) == 0


def test_search_on_an_empty_index_returns_nothing() -> None:
    assert GalleryIndex().search(np.zeros(128, dtype=np.float32), 5) == []


def test_calibrated_score_is_a_decreasing_similarity_in_zero_to_one() -> None:
    distances = np.linspace(0.0, 2.0, 201)
    scores = [calibrated_score(float(d)) for d in distances]

    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(a >= b for a, b in itertools.pairwise(scores))
    assert calibrated_score(thresholds.CALIBRATION_MIDPOINT) == pytest.approx(0.5)
    assert calibrated_score(50.0) == 0.0
    assert not math.isnan(calibrated_score(1e6))


@pytest.mark.slow
@pytest.mark.parametrize("size", [35_000, 1_000_000])
def test_search_over_a_large_synthetic_gallery_is_exact_and_removal_stays_incremental(size: int) -> None:
    rng = np.random.default_rng(size)
    vectors = rng.standard_normal((size, 128), dtype=np.float32)
    vectors *= np.float32(0.09)  # dlib-like norms (~1)
    owner = np.arange(size) // 2  # two templates per person
    index = GalleryIndex(initial_capacity=size)
    index.add_many([f"p{key}" for key in owner.tolist()], [f"t{row}" for row in range(size)], vectors)

    def exact_top_keys(query: npt.NDArray[np.float32], k: int, excluded: int | None = None) -> list[str]:
        distances = np.empty(size, dtype=np.float32)
        for start in range(0, size, 100_000):
            distances[start : start + 100_000] = np.linalg.norm(vectors[start : start + 100_000] - query, axis=1)
        if excluded is not None:
            distances[owner == excluded] = np.inf
        found: list[str] = []
        for row in np.argsort(distances)[: 4 * k].tolist():
            if f"p{owner[row]}" not in found:
                found.append(f"p{owner[row]}")
        return found[:k]

    queries = vectors[rng.integers(0, size, 3)] + rng.normal(0, 0.03, (3, 128)).astype(np.float32)
    for query in queries:
        assert [c.key for c in index.search(query, 10)] == exact_top_keys(query, 10)
    nearest = int(index.search(queries[0], 1)[0].key[1:])

    assert index.remove_key(f"p{nearest}") == 2
    assert len(index) == size - 2
    assert [c.key for c in index.search(queries[0], 10)] == exact_top_keys(queries[0], 10, excluded=nearest)


def test_smallest_indices_equals_a_full_sort_including_when_the_sample_misleads() -> None:
    rng = np.random.default_rng(11)
    for size, count in ((100, 10), (50_000, 40), (200_000, 7)):
        values = rng.standard_normal(size).astype(np.float32)
        assert sorted(smallest_indices(values, count).tolist()) == sorted(np.argsort(values)[:count].tolist())
    # Adversarial: the strided sample sees only the smallest values, so the cut keeps too few.
    size, count = 100_000, 40
    values = np.full(size, 10.0, dtype=np.float32) + rng.random(size).astype(np.float32)
    values[:: size // (16 * count)] = rng.random(size // (size // (16 * count)) + 1).astype(np.float32)[
        : values[:: size // (16 * count)].shape[0]
    ]

    chosen = smallest_indices(values, count)

    assert sorted(chosen.tolist()) == sorted(np.argsort(values)[:count].tolist())
    assert smallest_indices(values[:5], 9).tolist() == [0, 1, 2, 3, 4]


# -- approximate index (inverted file) above ann_min_vectors -------------------------------------------


def test_ivf_recall_at_10_against_the_exact_search_is_at_least_0_99() -> None:
    vectors, _, template_ids, rng = random_gallery(61, 60_000, 1)
    key_of_row = [f"person-{row // 2}" for row in range(60_000)]  # two templates per key, as the bench
    exact = GalleryIndex(initial_capacity=60_000)
    exact.add_many(key_of_row, template_ids, vectors)
    approximate = GalleryIndex(initial_capacity=60_000, ann_min_vectors=50_000)
    approximate.add_many(key_of_row, template_ids, vectors)
    assert (exact.uses_ann, approximate.uses_ann) == (False, True)
    queries = vectors[rng.integers(0, 60_000, 60)] + rng.normal(0.0, 0.03, (60, 128)).astype(np.float32)
    found = 0
    for query in queries:
        truth = {c.key for c in exact.search(query, 10)}
        candidates = approximate.search(query, 10)
        assert len(candidates) == 10
        assert [c.rank for c in candidates] == list(range(1, 11))
        assert [c.distance for c in candidates] == sorted(c.distance for c in candidates)
        found += len(truth & {c.key for c in candidates})
    assert found / (10 * len(queries)) >= 0.99


def test_ivf_follows_adds_replacements_and_removals_exactly_when_every_list_is_probed() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(62, 3_000, 1_200)
    index = GalleryIndex(initial_capacity=8, ann_min_vectors=2_000, probe_fraction=1.0)
    index.add_many(key_of_row[:2_500], template_ids[:2_500], vectors[:2_500])
    for key, template_id, vector in zip(key_of_row[2_500:], template_ids[2_500:], vectors[2_500:], strict=True):
        index.add(key, template_id, vector)  # one by one, growing the arrays
    assert index.uses_ann
    rows = dict(zip(template_ids, zip(key_of_row, vectors, strict=True), strict=True))
    replacement = rng.normal(0.0, 0.09, 128).astype(np.float32)
    index.add(key_of_row[7], template_ids[7], replacement)
    rows[template_ids[7]] = (key_of_row[7], replacement)
    removed_key = key_of_row[100]
    assert index.remove_key(removed_key) >= 1
    for template_id in [t for t, (key, _) in rows.items() if key == removed_key]:
        del rows[template_id]
    for template_id in template_ids[200:400:3]:
        if template_id in rows:
            assert index.remove_template(template_id)
            del rows[template_id]
    assert len(index) == len(rows) >= 2_000 and index.uses_ann
    remaining_ids = list(rows)
    remaining_keys = [rows[t][0] for t in remaining_ids]
    remaining_vectors = np.array([rows[t][1] for t in remaining_ids], dtype=np.float32)
    queries = [replacement, vectors[100], vectors[1_000], *rng.normal(0.0, 0.09, (5, 128)).astype(np.float32)]
    for query in queries:
        expected = brute_force(remaining_vectors, remaining_keys, remaining_ids, query, 10)
        assert_same_results(index.search(query, 10), expected)
    assert index.search(replacement, 1)[0].template_id == template_ids[7]
    assert removed_key not in {c.key for c in index.search(vectors[100], 10)}


def test_below_the_threshold_results_are_identical_to_the_exact_index_after_crossing_it() -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(63, 2_600, 900)
    index = GalleryIndex(initial_capacity=8, ann_min_vectors=2_500, probe_fraction=0.05)
    index.add_many(key_of_row, template_ids, vectors)
    assert index.uses_ann
    for template_id in template_ids[:300]:
        index.remove_template(template_id)
    assert not index.uses_ann  # 2,300 rows: below the line, the exact scan again
    exact = GalleryIndex(initial_capacity=8)
    exact.add_many(key_of_row[300:], template_ids[300:], vectors[300:])
    for query in rng.normal(0.0, 0.09, (10, 128)).astype(np.float32):
        assert as_tuples(index.search(query, 10)) == as_tuples(exact.search(query, 10))


def test_a_loaded_index_above_the_threshold_rebuilds_its_inverted_file(tmp_path: Path) -> None:
    vectors, key_of_row, template_ids, rng = random_gallery(64, 3_000, 1_000)
    index = GalleryIndex(initial_capacity=8, ann_min_vectors=2_000)
    index.add_many(key_of_row, template_ids, vectors)
    index.save(tmp_path / "index.npz")
    loaded = GalleryIndex.load(tmp_path / "index.npz", ann_min_vectors=2_000)
    assert loaded.uses_ann and loaded.version == index.version
    for query in rng.normal(0.0, 0.09, (10, 128)).astype(np.float32):
        assert as_tuples(loaded.search(query, 10)) == as_tuples(index.search(query, 10))
    assert not GalleryIndex.load(tmp_path / "index.npz").uses_ann  # off by default
