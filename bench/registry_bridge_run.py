"""A registry-bridge run over the synthetic 35,000-person central registry, then an incremental run
with conflicts, on SQLite (or FIELDSYNC_DATABASE_URL).

    uv run python bench/registry_bridge_run.py [--data-dir /tmp/bridge-bench] [--persons 35000] [--edits 300]

With an empty data dir it migrates, loads the registry (`registry_simulate --init`) and runs the
first bridge import (timed). Then, on `--edits` linked persons: the first two thirds get a field
edit in fieldsync (identifying marks), the last two thirds a registry edit of the same field, so
the middle third changed on both sides (conflicts for review), the first third is written back and
the last third is imported. Prints the numbers of each run and the per-row cost of the incremental
run relative to the initial one (one process, side by side).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/tmp/fieldsync-bridge-bench")
    parser.add_argument("--persons", type=int, default=35_000)
    parser.add_argument("--edits", type=int, default=300)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["FIELDSYNC_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from backend.console.legacy_registry import legacy_person_update, legacy_registry_init
    from backend.registry.services import person_update
    from backend.registry.synthetic import generate_province
    from sync.models import ReviewItem
    from sync.registry_bridge import legacy
    from sync.registry_bridge.engine import bridge_sync
    from sync.registry_bridge.models import BridgeLink, BridgeRun
    from sync.registry_bridge.source import SqlRegistrySource

    call_command("migrate", verbosity=0)
    engine = legacy.legacy_engine(str(settings.FIELDSYNC_REGISTRY_URL))
    legacy.legacy_schema_create(engine)
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, data dir {data_dir}")

    started = time.perf_counter()
    init = legacy_registry_init(engine, generate_province(person_count=args.persons, seed=20250701))
    if init.persons:
        print(
            f"registry loaded: {init.persons} persons, {init.notices} notices in {time.perf_counter() - started:.1f}s"
        )
    source = SqlRegistrySource(engine)

    def run(label: str) -> tuple[BridgeRun, float]:
        begin = time.perf_counter()
        result = bridge_sync(source=source, trigger="bench")
        seconds = time.perf_counter() - begin
        print(
            f"{label}: {seconds:.1f}s, {result.rows_read} rows read, {result.records_created} created, "
            f"{result.records_updated} updated, {result.rows_unchanged} unchanged, "
            f"{result.communes_remapped} communes remapped, {result.fields_written_back} written back, "
            f"{result.conflicts_raised} conflicts raised, {result.rows_quarantined} quarantined"
        )
        return result, seconds

    initial = BridgeRun.objects.filter(watermark_from=0, rows_read__gt=0).order_by("id").first()
    initial_seconds = initial.duration_seconds if initial is not None else None
    if initial is None:
        initial, initial_seconds = run("initial import")
    else:
        print(f"initial import (run {initial.pk}, earlier): {initial_seconds:.1f}s, {initial.rows_read} rows read")

    links = list(
        BridgeLink.objects.filter(legacy_table="DOI_TUONG").order_by("legacy_id").values_list("legacy_id", "record_id")
    )[: args.edits]
    third = len(links) // 3
    stamp = int(time.time())
    conflicts_before = ReviewItem.objects.filter(source="registry_bridge").count()
    for index, (legacy_id, record_id) in enumerate(links):
        if index < 2 * third:
            person_update(person_id=record_id, changes={"identifying_marks": f"Sẹo ở tay phải ({stamp}/{index})"})
        if index >= third:
            legacy_person_update(engine, legacy_id, {"DAC_DIEM_NHAN_DANG": f"Nốt ruồi dưới mắt trái ({stamp}/{index})"})
    incremental, incremental_seconds = run(f"incremental ({len(links)} persons edited, {third} on both sides)")
    _idle, idle_seconds = run("no changes (idempotent)")
    opened = ReviewItem.objects.filter(source="registry_bridge").count() - conflicts_before
    print(f"review items opened: {opened}")
    if initial_seconds and initial.rows_read and incremental.rows_read:
        ratio = (incremental_seconds / incremental.rows_read) / (initial_seconds / initial.rows_read)
        print(f"per-row cost, incremental / initial: {ratio:.2f}")
    print(f"idle run / incremental run time: {idle_seconds / max(incremental_seconds, 1e-9):.3f}")


if __name__ == "__main__":
    main()
