"""Measure the face pipeline on a labelled folder laid out ``identity/NNNN.jpg``.

    python manage.py faces_eval ../shared/data/faces --json

Runs ``backend.faces.evaluation.evaluate`` (the protocol is in that module's docstring) and prints the
headline figures: TAR at FAR 1e-2/1e-3/1e-4, rank-1 and rank-10, FNIR at FPIR 0.003 and 0.01,
failure-to-enrol counts and the recommended threshold. ``--json`` prints ``{"headline": ..., "report":
...}`` (the full report, as committed in ``backend/faces/eval_report.json``); ``--out FILE`` also writes the
full report to FILE. ``--studies`` adds the landmark-model comparison, the detector colour study and the
quality sweeps that set the gates (several minutes more).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.faces.evaluation import evaluate, headline


class Command(BaseCommand):
    help = "Evaluate face matching on a labelled folder (identity/NNNN.jpg) and print TAR/FAR, rank-k, FNIR/FPIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--json", action="store_true", help="print {headline, report} as JSON")
        parser.add_argument("--out", type=Path, default=None, help="also write the full JSON report here")
        parser.add_argument("--cache-dir", type=Path, default=None, help="encoding cache (default: XDG cache)")
        parser.add_argument("--workers", type=int, default=2, help="encoding worker processes")
        parser.add_argument("--studies", action="store_true", help="add the landmark, colour and quality studies")
        parser.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")

        def progress(stage: str, done: int, total: int) -> None:
            sys.stderr.write(f"{stage}: {done}/{total}\n")

        studies = bool(options["studies"])
        try:
            report = evaluate(
                folder,
                cache_dir=options["cache_dir"],
                workers=options["workers"],
                progress=None if options["quiet"] else progress,
                compare_landmark_models=studies,
                quality_sweeps=studies,
                colour_study=studies,
            )
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(str(error)) from error
        figures = headline(report)
        if options["out"] is not None:
            options["out"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if options["json"]:
            self.stdout.write(json.dumps({"headline": figures, "report": report}, indent=2))
            return
        self.stdout.write(_as_text(figures))


def _as_text(figures: dict[str, Any]) -> str:
    lines = [
        f"gallery {figures['gallery_identities']} identities, {figures['mated_probes']} mated and "
        f"{figures['non_mated_probes']} non-mated probes",
    ]
    for far, row in figures["tar_at_far"].items():
        lines.append(f"TAR at FAR {far}: {row['tar']}  (distance <= {row['threshold']})")
    lines.append(f"rank-1: {figures['rank_1']}   rank-10: {figures.get('rank_10')}")
    for fpir, row in figures["fnir_at_fpir"].items():
        lines.append(
            f"FNIR at FPIR {fpir}: {row['fnir']}  (FPIR observed {row['fpir_observed']}, T={row['threshold']})"
        )
    enrol, probe = figures["failure_to_enrol"], figures["failure_to_acquire_probe"]
    lines.append(f"failure to enrol: {enrol['failed']}/{enrol['attempted']} {enrol['reasons']}")
    lines.append(f"probe failures: {probe['failed']}/{probe['attempted']} {probe['reasons']}")
    lines.append(
        f"recommended threshold: {figures['recommended_threshold']}  (in force: {figures['threshold_in_force']})"
    )
    return "\n".join(lines)
