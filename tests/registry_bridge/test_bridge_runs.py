"""The bridge as operators run it: the management commands, the periodic durable job, and a
`registry_sync` process killed by SIGKILL (mid-batch, and between the registry write-back and
fieldsync's record of it), against a real registry database (SQLite file or, in the PostgreSQL
pass, a separate PostgreSQL database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from sqlalchemy import Engine, func, select

from backend.console.legacy_registry import legacy_person_insert, legacy_row
from backend.registry.bridge_mapping import person_record_id
from backend.registry.models import Person, WantedNotice
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, SyncRow
from sync.registry_bridge import legacy
from sync.registry_bridge.engine import bridge_sync
from sync.registry_bridge.models import BridgeCursor, BridgeLink, BridgeRun, BridgeRunStatus
from sync.registry_bridge.source import SqlRegistrySource
from sync.registry_bridge.tasks import registry_bridge_schedule
from sync.writer import head_seq
from tests.media_store.live import database_url_for_subprocess
from tests.registry_bridge.conftest import person_columns
from tests.registry_bridge.test_bridge import _Phone

pytestmark = pytest.mark.django_db(transaction=True)

TASK_PATH = "sync.registry_bridge.tasks.registry_bridge_sync_task"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _changed_rows_after(engine: Engine, seq: int) -> int:
    with engine.connect() as connection:
        return sum(
            int(
                connection.execute(
                    select(func.count()).select_from(t).where(t.c[legacy.CHANGE_COUNTER] > seq)
                ).scalar_one()
            )
            for t in (legacy.DOI_TUONG, legacy.QD_TRUY_NA)
        )


# --- the commands ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_registry_simulate_and_registry_sync_commands_load_mutate_and_bridge_the_registry(
    registry_engine: Engine,
) -> None:
    url = _url(registry_engine)
    loaded = StringIO()
    call_command("registry_simulate", "--init", "--persons", "400", "--url", url, stdout=loaded)
    init = re.search(
        r"registry initialised: 400 persons, (\d+) wanted notices, change counter (\d+)", loaded.getvalue()
    )
    assert init is not None, loaded.getvalue()
    notices, head = int(init.group(1)), int(init.group(2))

    printed, progress = StringIO(), StringIO()
    call_command("registry_sync", "--url", url, "--batch-size", "50", stdout=printed, stderr=progress)

    first = BridgeRun.objects.get()
    assert (first.status, first.rows_read, first.watermark_to) == (BridgeRunStatus.SUCCEEDED, 400 + notices, head)
    assert first.records_created + first.rows_quarantined == 400 + notices
    assert f"bridge run {first.pk} succeeded" in printed.getvalue()
    assert f"{first.rows_read} rows read, {first.records_created} created" in printed.getvalue()
    assert f"{first.rows_quarantined} quarantined" in printed.getvalue()
    # In a log (not a terminal): a start line, an end line with the total, nothing per batch in between
    # (every batch used to force a line: 75 lines in 8 s for the demo province).
    lines = progress.getvalue().splitlines()
    assert lines[0] == "registry: started" and lines[-1].startswith(f"registry: done, {first.rows_read} row in ")
    assert len(lines) <= 3, lines
    persons_before = Person.objects.count()
    rescinded_before = WantedNotice.objects.filter(status="RESCINDED").count()

    mutated = StringIO()
    call_command("registry_simulate", "--changes", "60", "--seed", "7", "--url", url, stdout=mutated)
    counts = re.search(
        r"(\d+) new persons, (\d+) notices rescinded, (\d+) address changes, (\d+) identity edits", mutated.getvalue()
    )
    assert counts is not None, mutated.getvalue()
    new_persons, rescinded, moves, edits = (int(g) for g in counts.groups())
    assert new_persons + rescinded + moves + edits == 60 and min(new_persons, rescinded, moves, edits) > 0
    touched = _changed_rows_after(registry_engine, head)

    call_command("registry_sync", "--url", url, "--no-progress", stdout=StringIO())
    again = StringIO()
    call_command("registry_sync", "--url", url, "--no-progress", stdout=again)

    second, third = BridgeRun.objects.order_by("started_at")[1:3]
    assert second.rows_read == touched
    # A move to a valid commune also imports a person quarantined before (e.g. for an unknown commune).
    fixed_at_source = QuarantinedRecord.objects.filter(table="DOI_TUONG", status=QuarantineStatus.REPLAYED).count()
    assert Person.objects.count() == persons_before + new_persons + fixed_at_source
    assert WantedNotice.objects.filter(status="RESCINDED").count() == rescinded_before + rescinded
    assert (third.rows_read, third.records_created, third.records_updated, third.fields_written_back) == (0, 0, 0, 0)
    assert "0 rows read" in again.getvalue()


# --- the periodic job --------------------------------------------------------------------------------


def _queued() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.filter(task_path=TASK_PATH, status="READY"))


def _worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)


def test_the_bridge_runs_periodically_as_a_durable_job_that_schedules_its_next_run(
    registry_engine: Engine, settings: Any
) -> None:
    settings.FIELDSYNC_REGISTRY_URL = _url(registry_engine)
    settings.FIELDSYNC_REGISTRY_SYNC_SECONDS = 300
    legacy_id = legacy_person_insert(registry_engine, person_columns())

    scheduled = registry_bridge_schedule()
    scheduled_again = registry_bridge_schedule()  # e.g. a second server process starting
    _worker()  # a worker process (or the one `serve` runs) takes the job from the database

    run = BridgeRun.objects.get()
    assert (scheduled, scheduled_again) == (True, False)
    assert (run.trigger, run.status, run.records_created) == ("task", BridgeRunStatus.SUCCEEDED, 1)
    assert Person.objects.filter(pk=person_record_id(legacy_id)).exists()
    [next_run] = _queued()
    assert run.finished_at is not None
    assert run.finished_at + timedelta(seconds=300) <= next_run.run_after <= timezone.now() + timedelta(seconds=300)
    assert registry_bridge_schedule() is False  # the chain is already there

    _worker()  # not due yet: nothing runs
    assert BridgeRun.objects.count() == 1

    type(next_run).objects.filter(pk=next_run.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    _worker()  # due: the second periodic run finds nothing new and schedules the third

    later = BridgeRun.objects.order_by("-started_at").first()
    assert later is not None and later.pk != run.pk
    assert (later.trigger, later.status, later.rows_read) == ("task", BridgeRunStatus.SUCCEEDED, 0)
    assert len(_queued()) == 1


def test_a_periodic_run_that_cannot_reach_the_registry_is_recorded_as_failed_and_the_next_is_scheduled(
    settings: Any, tmp_path: Any
) -> None:
    settings.FIELDSYNC_REGISTRY_URL = f"sqlite:///{tmp_path / 'no-such-folder' / 'registry.sqlite3'}"
    settings.FIELDSYNC_REGISTRY_SYNC_SECONDS = 60

    assert registry_bridge_schedule() is True
    _worker()

    run = BridgeRun.objects.get()
    assert (run.trigger, run.status) == ("task", BridgeRunStatus.FAILED)
    assert "OperationalError" in run.error
    assert len(_queued()) == 1


def test_a_zero_interval_turns_the_periodic_job_off(settings: Any) -> None:
    settings.FIELDSYNC_REGISTRY_SYNC_SECONDS = 0

    assert registry_bridge_schedule() is False
    assert _queued() == []


# --- killed by SIGKILL -------------------------------------------------------------------------------


def _registry_sync_killed_at(fault: str, url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIELDSYNC_DATABASE_URL": database_url_for_subprocess(),
        "FIELDSYNC_FAULT_INJECT": fault,
        "FIELDSYNC_LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "registry_sync", "--url", url, "--no-progress", *arguments],
        cwd=str(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_a_registry_sync_process_killed_mid_batch_is_finished_by_the_next_run_without_loss_or_duplicates(
    registry: SqlRegistrySource, registry_engine: Engine, settings: Any
) -> None:
    ids = [
        legacy_person_insert(
            registry_engine, person_columns(HO_TEN=f"Nông Văn Tài {i}", SO_DINH_DANH=f"0000881234{i:02d}")
        )
        for i in range(10)
    ]

    killed = _registry_sync_killed_at("bridge_mid_batch:6", _url(registry_engine), "--batch-size", "4")

    assert killed.returncode == -9, killed.stderr
    assert Person.objects.count() == 4  # the first batch committed with its watermark; the second died
    assert BridgeCursor.objects.get().pulled_through == 4
    stale = BridgeRun.objects.get()
    assert (stale.status, stale.batches_committed, stale.rows_read) == (BridgeRunStatus.RUNNING, 1, 4)

    settings.FIELDSYNC_REGISTRY_RUN_STALE_SECONDS = 0  # the dead run's last batch is "long" ago

    resumed = bridge_sync(source=registry, trigger="test", batch_size=4)

    assert (resumed.status, resumed.rows_read, resumed.records_created) == (BridgeRunStatus.SUCCEEDED, 6, 6)
    stale.refresh_from_db()
    assert (stale.status, stale.finished_at) == (BridgeRunStatus.FAILED, stale.heartbeat_at)
    assert stale.error.startswith("interrupted: no progress since ")
    assert sorted(str(p) for p in Person.objects.values_list("id", flat=True)) == sorted(
        person_record_id(i) for i in ids
    )
    assert SyncRow.objects.filter(table="persons").count() == 10
    assert BridgeLink.objects.count() == 10
    seq = head_seq()
    assert bridge_sync(source=registry, trigger="test").rows_read == 0
    assert head_seq() == seq


@pytest.mark.slow
def test_a_registry_sync_killed_after_its_write_back_committed_writes_nothing_twice(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(registry_engine, person_columns())
    bridge_sync(source=registry, trigger="test")
    phone = _Phone()
    phone.pull()
    phone.push_person(person_record_id(legacy_id), notes="Đã chuyển đi làm ăn xa")

    killed = _registry_sync_killed_at("bridge_after_write_back", _url(registry_engine))

    assert killed.returncode == -9, killed.stderr
    written = legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {}
    assert (written["GHI_CHU"], written["NGUOI_CAP_NHAT"]) == ("Đã chuyển đi làm ăn xa", "FIELDSYNC")
    assert BridgeLink.objects.get().base_values["notes"] == ""  # fieldsync never recorded the write-back

    resumed = bridge_sync(source=registry, trigger="test")

    after = legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {}
    assert (resumed.status, resumed.fields_written_back, resumed.records_updated) == (BridgeRunStatus.SUCCEEDED, 0, 0)
    assert after[legacy.CHANGE_COUNTER] == written[legacy.CHANGE_COUNTER]  # no second UPDATE of the registry
    assert BridgeLink.objects.get().base_values["notes"] == "Đã chuyển đi làm ăn xa"
    assert Person.objects.get(pk=person_record_id(legacy_id)).notes == "Đã chuyển đi làm ăn xa"
    assert not ReviewItem.objects.exists()
    seq = head_seq()
    quiet = bridge_sync(source=registry, trigger="test")
    assert (quiet.rows_read, quiet.fields_written_back, head_seq()) == (0, 0, seq)


def test_a_run_still_making_progress_is_not_taken_for_an_interrupted_one(registry: SqlRegistrySource) -> None:
    now = timezone.now()
    alive = BridgeRun.objects.create(registry_name="central", started_at=now, heartbeat_at=now, trigger="task")

    bridge_sync(source=registry, trigger="test")

    alive.refresh_from_db()
    assert (alive.status, alive.error) == (BridgeRunStatus.RUNNING, "")
