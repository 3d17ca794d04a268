"""Registry-bridge runs over the synthetic 35,000-person central registry, side by side in one run.

    uv run python bench/registry_bridge_run.py [--data-dir /tmp/fieldsync-bridge-bench] [--persons 35000]
        [--edits 300] [--demo] [--skip-per-row]

One registry (`registry_simulate --init`, loaded once into the data dir) and, for each measured
case, a fresh fieldsync database in its own subprocess (SQLite files under the data dir):

* initial import, per-row path — every new record created by its own `apply` (the path before bulk
  creates; still the fallback when a bulk INSERT is refused);
* initial import, batch path — one `create_many` per batch (bulk reads, bulk INSERTs, one sync
  write per batch); then an incremental run on `--edits` linked persons (the first two thirds get a
  field edit in fieldsync, the last two thirds a registry edit of the same field: the middle third
  changed on both sides goes to review, the first third is written back, the last third imported)
  and an idle run;
* with `--demo`: the README's story — fieldsync seeded by `seed_demo` with the same province, then
  the first bridge run, which must link every row and change nothing (the dirty rows quarantined).

Prints rows/s of each and the ratio batch/per-row measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))
SEED = 20250701


def _django(data_dir: Path, registry_file: Path) -> None:
    os.environ["FIELDSYNC_DATA_DIR"] = str(data_dir)
    os.environ["FIELDSYNC_REGISTRY_URL"] = f"sqlite:///{registry_file}"
    os.environ.pop("FIELDSYNC_DATABASE_URL", None)  # one SQLite file per case, side by side
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    os.environ.setdefault("FIELDSYNC_LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _run_summary(run: Any, seconds: float) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 2),
        "rows_read": run.rows_read,
        "created": run.records_created,
        "updated": run.records_updated,
        "unchanged": run.rows_unchanged,
        "remapped": run.communes_remapped,
        "written_back": run.fields_written_back,
        "conflicts": run.conflicts_raised,
        "quarantined": run.rows_quarantined,
    }


def child(case: str, data_dir: Path, pristine_registry: Path, persons: int, edits: int) -> dict[str, Any]:
    data_dir.mkdir(parents=True, exist_ok=True)
    registry_file = data_dir / "central_registry.sqlite3"  # each case gets the registry as loaded
    shutil.copyfile(pristine_registry, registry_file)
    _django(data_dir, registry_file)
    from django.core.management import call_command

    from sync.models import SyncRow
    from sync.registry_bridge import legacy
    from sync.registry_bridge.engine import bridge_sync
    from sync.registry_bridge.source import SqlRegistrySource
    from sync.writer import head_seq

    call_command("migrate", verbosity=0)
    engine = legacy.legacy_engine(f"sqlite:///{registry_file}")
    source = SqlRegistrySource(engine)
    out: dict[str, Any] = {}
    if case == "demo":
        begin = time.perf_counter()
        call_command("seed_demo", "--persons", str(persons), "--no-faces", "--quiet-progress", verbosity=0)
        out["seed_seconds"] = round(time.perf_counter() - begin, 1)
    head_before = head_seq()
    begin = time.perf_counter()
    first = bridge_sync(source=source, trigger="bench", bulk_creates=case != "per_row")
    out["first"] = _run_summary(first, time.perf_counter() - begin)
    out["first"]["sync_rows_written"] = SyncRow.objects.filter(seq__gt=head_before).count()
    if case == "batch" and edits:
        out.update(_incremental(engine, source, edits))
    return out


def _incremental(engine: Any, source: Any, edits: int) -> dict[str, Any]:
    from backend.console.legacy_registry import legacy_person_update
    from backend.registry.services import person_update
    from sync.models import ReviewItem
    from sync.registry_bridge.engine import bridge_sync
    from sync.registry_bridge.models import BridgeLink

    links = list(
        BridgeLink.objects.filter(legacy_table="DOI_TUONG").order_by("legacy_id").values_list("legacy_id", "record_id")
    )[:edits]
    third = len(links) // 3
    stamp = int(time.time())
    for index, (legacy_id, record_id) in enumerate(links):
        if index < 2 * third:
            person_update(person_id=record_id, changes={"identifying_marks": f"Sẹo ở tay phải ({stamp}/{index})"})
        if index >= third:
            legacy_person_update(engine, legacy_id, {"DAC_DIEM_NHAN_DANG": f"Nốt ruồi dưới mắt trái ({stamp}/{index})"})
    begin = time.perf_counter()
    incremental = bridge_sync(source=source, trigger="bench")
    incremental_summary = _run_summary(incremental, time.perf_counter() - begin)
    begin = time.perf_counter()
    idle = bridge_sync(source=source, trigger="bench")
    return {
        "incremental": incremental_summary,
        "idle": _run_summary(idle, time.perf_counter() - begin),
        "review_items": ReviewItem.objects.filter(source="registry_bridge").count(),
    }


def _line(label: str, summary: dict[str, Any]) -> str:
    rate = summary["rows_read"] / max(summary["seconds"], 1e-9)
    return (
        f"{label}: {summary['seconds']:.1f}s ({rate:,.0f} rows/s), {summary['rows_read']} rows read, "
        f"{summary['created']} created, {summary['updated']} updated, {summary['unchanged']} unchanged, "
        f"{summary['remapped']} remapped, {summary['written_back']} written back, {summary['conflicts']} conflicts, "
        f"{summary['quarantined']} quarantined"
        + (f", {summary['sync_rows_written']} sync rows written" if "sync_rows_written" in summary else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/tmp/fieldsync-bridge-bench")
    parser.add_argument("--persons", type=int, default=35_000)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--demo", action="store_true", help="also seed_demo + first bridge run (slow)")
    parser.add_argument("--skip-per-row", action="store_true", help="do not measure the per-row path")
    parser.add_argument("--child", choices=["per_row", "batch", "demo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    registry_file = data_dir / f"central_registry_{args.persons}.sqlite3"
    if args.child:
        result = child(args.child, data_dir / args.child, registry_file, args.persons, args.edits)
        print("RESULT " + json.dumps(result))
        return

    data_dir.mkdir(parents=True, exist_ok=True)
    if not registry_file.exists():
        _django(data_dir / "registry-loader", registry_file)
        from backend.console.legacy_registry import legacy_registry_init
        from backend.registry.synthetic import generate_province
        from sync.registry_bridge import legacy

        begin = time.perf_counter()
        init = legacy_registry_init(
            legacy.legacy_engine(f"sqlite:///{registry_file}"), generate_province(person_count=args.persons, seed=SEED)
        )
        print(f"registry loaded: {init.persons} persons, {init.notices} notices in {time.perf_counter() - begin:.1f}s")
    cases = [c for c in ("per_row", "batch") if not (c == "per_row" and args.skip_per_row)]
    if args.demo:
        cases.append("demo")
    results: dict[str, dict[str, Any]] = {}
    for case in cases:
        shutil.rmtree(data_dir / case, ignore_errors=True)
        command = [sys.executable, __file__, "--child", case, "--data-dir", str(data_dir)]
        command += ["--persons", str(args.persons), "--edits", str(args.edits)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not found:
            print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"case {case} failed")
        results[case] = json.loads(found[-1].removeprefix("RESULT "))
    print(f"database: sqlite (one file per case), {args.persons} persons, data dir {data_dir}")
    if "per_row" in results:
        print(_line("initial import, per-row path", results["per_row"]["first"]))
    batch = results["batch"]
    print(_line("initial import, batch path  ", batch["first"]))
    if "per_row" in results:
        ratio = results["per_row"]["first"]["seconds"] / max(batch["first"]["seconds"], 1e-9)
        print(f"initial import speed-up, batch / per-row path: {ratio:.1f}x")
    if "incremental" in batch:
        print(_line(f"incremental ({args.edits} persons edited, a third on both sides)", batch["incremental"]))
        print(_line("no changes (idempotent)", batch["idle"]))
        print(f"review items opened: {batch['review_items']}")
        per_row_incremental = batch["incremental"]["seconds"] / max(batch["incremental"]["rows_read"], 1)
        per_row_initial = batch["first"]["seconds"] / max(batch["first"]["rows_read"], 1)
        print(f"per-row cost, incremental / initial: {per_row_incremental / per_row_initial:.2f}")
    if "demo" in results:
        demo = results["demo"]
        print(f"demo: seed_demo {demo['seed_seconds']:.1f}s, then")
        print(_line("first bridge run over the fresh demo", demo["first"]))


if __name__ == "__main__":
    main()
