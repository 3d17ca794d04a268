from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from backend.faces import thresholds
from backend.faces.evaluation import evaluate, fit_logistic, gate_between_levels, load_dataset, threshold_at_rate

MATED = ("Jennifer_Reilly", "Imad_Moustapha", "Grant_Hackett")
SINGLE = ("Aaron_Eckhart", "Abbas_Kiarostami", "Abdel_Madi_Shabneh")


def small_labelled_folder(faces_dir: Path, root: Path) -> Path:
    """A few identity folders linked (not copied) from the shared photos."""
    folder = root / "faces"
    folder.mkdir()
    for identity in MATED + SINGLE:
        (folder / identity).symlink_to(faces_dir / identity, target_is_directory=True)
    return folder


def test_threshold_at_rate_keeps_the_false_accept_fraction_at_or_below_the_target() -> None:
    negatives = np.array([0.9, 0.3, 0.5, 0.7, 0.4, 0.8, 0.6, 0.35, 0.45, 0.55])

    at_ten_percent = threshold_at_rate(negatives, 0.1)
    at_zero = threshold_at_rate(negatives, 0.0)

    assert at_ten_percent == pytest.approx((0.3 + 0.35) / 2)
    assert np.count_nonzero(negatives <= at_ten_percent) == 1
    assert at_zero < 0.3
    assert np.count_nonzero(negatives <= at_zero) == 0


def test_fit_logistic_recovers_the_exact_posterior_of_two_equal_variance_classes() -> None:
    # Two Gaussians with equal variance: under equal priors the posterior is exactly logistic with
    # midpoint (mu1 + mu2) / 2 and slope (mu2 - mu1) / sigma^2, however unequal the class counts.
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.45, 0.08, 20_000)
    impostor = rng.normal(0.75, 0.08, 200_000)
    distances = np.concatenate([genuine, impostor])
    labels = np.concatenate([np.ones(genuine.size, dtype=bool), np.zeros(impostor.size, dtype=bool)])

    slope, midpoint = fit_logistic(distances, labels, balanced=True)
    natural_slope, natural_midpoint = fit_logistic(distances, labels, balanced=False)

    expected_slope = 0.30 / 0.08**2
    assert midpoint == pytest.approx(0.60, abs=0.005)
    assert slope == pytest.approx(expected_slope, rel=0.05)
    # With the natural 1:10 proportion the posterior midpoint moves by ln(1/10) / slope towards genuine.
    assert natural_slope == pytest.approx(expected_slope, rel=0.05)
    assert natural_midpoint == pytest.approx(0.60 + math.log(0.1) / expected_slope, abs=0.005)


def test_a_quality_gate_sits_between_the_last_tolerable_level_and_the_first_harmful_one() -> None:
    levels = [(0.56, 86.0), (0.58, 72.0), (0.59, 52.0), (0.62, 43.0), (0.68, 36.0)]

    assert gate_between_levels(0.55, 103.0, levels) == pytest.approx((52.0 + 43.0) / 2)
    assert gate_between_levels(0.55, 103.0, [(0.70, 86.0)]) == pytest.approx((103.0 + 86.0) / 2)
    assert gate_between_levels(0.55, 103.0, [(0.56, 86.0), (0.57, 72.0)]) is None


def test_load_dataset_enrols_the_first_sorted_photo_of_identities_with_several(faces_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset(small_labelled_folder(faces_dir, tmp_path))

    assert [p.relative_path for p in dataset.gallery] == [
        "Grant_Hackett/0001.jpg",
        "Imad_Moustapha/0001.jpg",
        "Jennifer_Reilly/0001.jpg",
    ]
    assert len(dataset.mated_probes) == 4 + 1 + 1
    assert [p.identity for p in dataset.non_mated_probes] == sorted(SINGLE)
    assert dataset.identity_count == 6


HEADLINE_KEYS = {
    "gallery_identities",
    "mated_probes",
    "non_mated_probes",
    "tar_at_far",
    "rank_1",
    "rank_10",
    "fnir_at_fpir",
    "failure_to_enrol",
    "failure_to_acquire_probe",
    "recommended_threshold",
    "threshold_in_force",
}


@pytest.mark.slow
def test_faces_eval_command_prints_the_protocol_metrics_and_a_rerun_reuses_the_cache(
    faces_dir: Path, tmp_path: Path
) -> None:
    from io import StringIO

    from django.core.management import call_command

    folder = small_labelled_folder(faces_dir, tmp_path)
    cache_dir = tmp_path / "cache"
    out = StringIO()
    stages: list[tuple[str, int, int]] = []

    call_command("faces_eval", str(folder), "--json", "--workers", "1", "--cache-dir", str(cache_dir), stdout=out)
    again = evaluate(
        folder,
        cache_dir=cache_dir,
        workers=1,
        progress=lambda *stage: stages.append(stage),
        compare_landmark_models=False,
        quality_sweeps=False,
        colour_study=False,
    )

    printed = json.loads(out.getvalue())
    headline = printed["headline"]
    assert set(headline) == HEADLINE_KEYS
    assert set(headline["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    assert set(headline["fnir_at_fpir"]) == {"0.003", "0.01"}
    assert (headline["gallery_identities"], headline["mated_probes"], headline["non_mated_probes"]) == (3, 6, 3)
    assert headline["rank_1"] == pytest.approx(1.0)
    assert headline["rank_10"] == pytest.approx(1.0)
    assert headline["failure_to_enrol"] == {"attempted": 3, "failed": 0, "reasons": {}}
    assert headline["failure_to_acquire_probe"]["attempted"] == 9
    assert headline["threshold_in_force"] == thresholds.DEFAULT_MATCH_THRESHOLD
    # The headline is read off the full report (one implementation, not two).
    report = printed["report"]
    assert headline["recommended_threshold"] == report["recommended"]["distance"]
    assert headline["fnir_at_fpir"]["0.01"]["fnir"] == report["open_set"]["fnir_at_fpir"]["0.01"]["fnir"]["value"]
    assert headline["tar_at_far"]["0.001"]["tar"] == report["verification"]["tar_at_far"]["0.001"]["tar"]["value"]
    assert report["identification"]["rank_1"]["total"] == 6
    assert report["open_set"]["rank_limit"] == 10
    assert report["calibration"]["slope"] > 0
    assert report["pipeline"]["template_meta"]["detector"] == "hog"
    assert "quality_sweeps" not in report  # the studies run only with --studies
    assert len(list(cache_dir.glob("records-*.npz"))) == 1
    assert ("encode", 12, 12) in stages  # the rerun: everything came from the cache
    assert again["recommended"] == report["recommended"]


def test_faces_eval_command_refuses_a_missing_folder(tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no such folder"):
        call_command("faces_eval", str(tmp_path / "absent"), "--json")
