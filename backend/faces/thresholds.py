"""Measured constants of the face pipeline. Every number here comes from a run of
``python manage.py faces_eval ../shared/data/faces --json --studies`` (the same code as
``python -m backend.faces.evaluation``) whose report is committed as
``backend/faces/eval_report.json`` (LFW subset: 500 enrolled identities, 1,444 mated and 1,000 non-mated
probe photos; dlib 20.0.1, face_recognition 1.3.0, HOG, 5-point landmarks, 1 jitter). None is guessed.
Re-run the evaluation after any change to the pipeline (``PIPELINE_VERSION``) and update them together.
"""

from __future__ import annotations

from typing import Final

# Search threshold. A search always returns its TOP_K nearest candidates (services.py), each carrying
# `is_within_threshold` = distance <= this; FPIR/FNIR below are measured on that flag. eval_report.json
# "recommended": the largest distance keeping FPIR <= 0.01 over the 983 non-mated searches of a
# 500-person gallery (measured FPIR 0.0092 = 9/983; FNIR at rank <= 10: 0.557, i.e. more than half of the
# people who ARE in the gallery are not returned: "no candidate" never means "not wanted"). FPIR grows
# with gallery size ("fpir_extrapolated": about 0.05 at 5,000 people, 0.29 at 35,000): measure again for
# the real gallery before relying on it.
DEFAULT_MATCH_THRESHOLD: Final = 0.431118

# Display score = 1 / (1 + exp(CALIBRATION_SLOPE * (distance - CALIBRATION_MIDPOINT))): eval_report.json
# "calibration", a logistic fitted on 1,429 genuine and 1,204,571 impostor probe-gallery pairs in their
# natural proportion. A similarity score, not a probability of identity.
CALIBRATION_SLOPE: Final = 44.1785
CALIBRATION_MIDPOINT: Final = 0.4867

# Quality gates: eval_report.json "quality_sweeps" (400 mated probes shrunk and blurred step by step;
# each gate sits halfway between the last step within 0.05 FNIR of full quality and the first beyond).
# Face size, in decoded pixels (shorter side of the HOG box): FNIR +3.0 points at 52 px, +6.0 at 43 px.
MIN_FACE_PX: Final = 48
# Variance of the Laplacian of the 100x100 grey face crop (probes only): FNIR +3.5 points at a median of
# 35.1 (Gaussian radius 1), +9.25 at 16.6 (radius 1.5). Refuses about 1% of the unblurred LFW probes.
MIN_BLUR_VARIANCE: Final = 25.8
