"""The real @nozbe/watermelondb 0.28 client (Node, clients/watermelon) against a live `manage.py serve`.

One server for the module (FIELDSYNC_PULL_PAGE_ROWS small, so every initial sync is paged), the
data committed by the test process (transactional tests) and checked with exact queries afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from backend.registry import sync_tables as st
from backend.registry.models import Check, Person
from sync.models import DevicePushLog, QuarantinedRecord, ReviewItem, SyncRow
from sync.writer import sync_transaction
from tests.conftest import make_device_session, make_officer, make_unit
from tests.live import ServerProcess
from tests.registry.conftest import (
    CAPTURED_AT_MS,
    COMMUNE_A,
    COMMUNE_B,
    make_drug_record,
    make_person,
    make_wanted_notice,
)
from tests.sync.watermelon import (
    require_node,
    run_scenario,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.node, pytest.mark.slow]

PAGE_ROWS = 4  # each seeded person is one transaction of 3 rows: pages must end on those boundaries


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    require_node()
    folder = tmp_path_factory.mktemp("watermelon-server")
    (folder / "media").mkdir()
    process = ServerProcess(
        media_root=folder / "media",
        log_path=folder / "server.log",
        extra_env={"FIELDSYNC_PULL_PAGE_ROWS": str(PAGE_ROWS)},
    )
    process.start()
    yield process
    process.kill()


def make_checks(*, unit: Any, count: int, commune: str = COMMUNE_A) -> list[Check]:
    """Checks the unit recorded earlier (already on the server), written in one transaction."""
    checks = []
    with sync_transaction() as writer:
        for index in range(count):
            check = Check.objects.create(
                unit=unit,
                commune_code=commune,
                full_name_seen=f"Người qua đường {index}",
                location_text="Cửa khẩu Hữu Nghị",
                captured_at=datetime(2025, 9, 1, 8, index, tzinfo=UTC),
                purpose="BORDER_CROSSING",
                result="NO_HIT",
                notes="",
            )
            writer.stage(
                table=st.CHECKS,
                record_id=str(check.id),
                payload=st.serialize_check(check),
                scope_key=st.scope_of_check(check),
            )
            checks.append(check)
    return checks


@dataclass
class Province:
    unit: Any
    officer: Any
    token: str
    device: Any
    persons: list[Person]
    checks: list[Check]
    scope_counts: dict[str, int]


@pytest.fixture
def province() -> Province:
    """A border post with two persons, the handbook and three checks in scope, and rows outside it."""
    unit = make_unit(code="HN", communes=(COMMUNE_A,))
    officer = make_officer(username="patrol.huunghi", unit=unit)
    pair = make_device_session(officer=officer, label="phone-watermelon")
    persons = [make_person(full_name="Nguyễn Văn Hòa"), make_person(full_name="Lý Thị Mai", pid="020190000001")]
    make_person(commune=COMMUNE_B, full_name="Hoàng Văn Tú")  # another commune: out of scope
    make_wanted_notice()
    make_drug_record(person=persons[0])  # health data: community officers only, never a patrol phone
    checks = make_checks(unit=unit, count=3)
    make_checks(unit=make_unit(code="CM", communes=(COMMUNE_B,)), count=1)  # another unit's check
    scope_counts = {
        "checks": 3,
        "criminal_records": 2,
        "drug_use_records": 0,
        "face_candidates": 0,
        "face_searches": 0,
        "persons": 2,
        "photos": 0,
        "residences": 2,
        "wanted_notices": 1,
    }
    return Province(
        unit=unit,
        officer=officer,
        token=pair.access_token,
        device=pair.device,
        persons=persons,
        checks=checks,
        scope_counts=scope_counts,
    )


def new_check_values(**overrides: Any) -> dict[str, Any]:
    """What the app fills in for a new check (the other columns stay null, as in a real app)."""
    values: dict[str, Any] = {
        "full_name_seen": "Trần Văn Bình",
        "personal_id_number_seen": "020090001234",
        "commune_code": COMMUNE_A,
        "location_text": "Cửa khẩu Hữu Nghị, làn 2",
        "latitude": 21.8507,
        "longitude": 106.7612,
        "captured_at": CAPTURED_AT_MS + 1234,
        "purpose": "BORDER_CROSSING",
        "result": "NO_HIT",
    }
    values.update(overrides)
    return values


def server_payload(table: str, record_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = orjson.loads(SyncRow.objects.get(table=table, record_id=record_id).payload_json)
    return payload


def test_full_round_trip_initial_pull_push_and_no_echo(server: ServerProcess, province: Province) -> None:
    updated_check, deleted_check = province.checks[0], province.checks[1]
    person = province.persons[0]

    run = run_scenario(
        server_url=server.base_url,
        token=province.token,
        args=[
            "--table",
            "checks",
            "--create-json",
            orjson.dumps(new_check_values(person_id=str(person.id))).decode(),
            "--update-json",
            orjson.dumps({"result": "HIT_RECORD", "notes": "Đã đối chiếu CCCD"}).decode(),
            "--update-id",
            str(updated_check.id),
            "--delete-table",
            "checks",
            "--delete-id",
            str(deleted_check.id),
        ],
    )

    assert run.code == 0, (run.failed_expectations, run.lines[-3:], run.stderr[-2000:])
    assert run.summary["pulled"] == province.scope_counts
    # Pages of 4 rows ending on transaction boundaries: person 1 (3 rows), person 2 (3) + the notice,
    # then the three checks written in one transaction.
    assert [r["has_more"] for r in run.step("initial_sync")["rounds"]] == [True, True, False]
    assert [r["pulled"] for r in run.step("initial_sync")["rounds"]] == [3, 4, 3]
    assert run.summary["pushed"]["checks"] == {"created": 1, "updated": 1, "deleted": 1}
    assert run.summary["echo_pull_changes"] == 0
    assert run.step("push_sync")["rejected_ids"] == {}
    assert run.step("push_sync")["conflicts"] == []
    created_id = run.summary["created_id"]
    created = Check.objects.get(pk=created_id)
    assert (created.unit_id, created.officer_id, created.device_id) == (
        province.unit.id,
        province.officer.id,
        province.device.id,
    )
    assert (created.person_id, created.full_name_seen, created.personal_id_number_seen) == (
        person.id,
        "Trần Văn Bình",
        "020090001234",
    )
    assert (created.latitude, created.longitude, created.purpose, created.result, created.notes) == (
        21.8507,
        106.7612,
        "BORDER_CROSSING",
        "NO_HIT",
        "",
    )
    assert int(created.captured_at.timestamp() * 1000) == CAPTURED_AT_MS + 1234
    updated_check.refresh_from_db()
    assert (updated_check.result, updated_check.notes, updated_check.is_archived) == (
        "HIT_RECORD",
        "Đã đối chiếu CCCD",
        False,
    )
    deleted_check.refresh_from_db()
    assert deleted_check.is_archived is True
    assert Check.objects.filter(unit=province.unit, is_archived=False).count() == 3
    assert QuarantinedRecord.objects.count() == 0
    assert ReviewItem.objects.count() == 0
    assert DevicePushLog.objects.filter(device=province.device).count() == 3
