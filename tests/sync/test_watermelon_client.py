"""The real @nozbe/watermelondb 0.28 client (Node, clients/watermelon) against a live `manage.py serve`.

One server for the module (FIELDSYNC_PULL_PAGE_ROWS small, so every initial sync is paged), the
data committed by the test process (transactional tests) and checked with exact queries afterwards.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from backend.registry import sync_tables as st
from backend.registry.models import Check, Person
from backend.registry.services import residence_move
from mobile_contract.client import FieldsyncClient
from sync.faults import FAULT_ENV
from sync.models import DevicePushLog, QuarantinedRecord, ReviewItem, SyncCheckpoint, SyncRow
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
    WatermelonDevice,
    pulled_ids,
    push_responses,
    pushed_ids,
    rejected_ids,
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


@pytest.fixture
def phone(server: ServerProcess, province: Province, tmp_path: Path) -> Iterator[WatermelonDevice]:
    """The province's officer on a WatermelonDB phone, driven step by step."""
    with WatermelonDevice(
        server_url=server.base_url, token=province.token, stderr_path=tmp_path / "node.log"
    ) as device:
        yield device


def other_phone(server: ServerProcess, province: Province) -> FieldsyncClient:
    """A second phone of the same unit (the Python reference client), after its initial sync."""
    officer = make_officer(username="patrol.huunghi.2", unit=province.unit)
    client = FieldsyncClient(server.base_url)
    client.use_token(make_device_session(officer=officer, label="phone-2").access_token)
    client.synchronize()
    return client


def test_a_record_created_before_the_first_sync_is_pushed_after_page_one_and_not_echoed(
    server: ServerProcess, province: Province, phone: WatermelonDevice
) -> None:
    created = phone.create("checks", new_check_values())

    sync = phone.sync()

    assert [r["has_more"] for r in sync["rounds"]] == [True, True, False]
    assert pushed_ids(sync) == {"checks": {"created": [created["id"]]}}
    assert sync["rounds"][0]["push"] is not None  # WatermelonDB pushes after the first page
    assert rejected_ids(sync) == {}
    assert created["id"] not in {i for lists in pulled_ids(sync).get("checks", {}).values() for i in lists}
    assert sync["client_errors"] == []
    assert phone.counts() == {**province.scope_counts, "checks": 4}
    assert Check.objects.get(pk=created["id"]).device_id == province.device.id
    assert phone.unsynced() is False


def test_remote_delete_of_a_record_with_pending_local_edits_quarantines_the_edits(
    server: ServerProcess, province: Province, phone: WatermelonDevice
) -> None:
    target = str(province.checks[0].id)
    phone.sync()
    phone.update("checks", target, {"notes": "Ghi chú ngoại tuyến", "result": "HIT_RECORD"})
    other = other_phone(server, province)
    other.store.delete("checks", target)
    other.synchronize()  # the other phone deletes (archives) the check
    assert Check.objects.get(pk=target).is_archived is True

    sync = phone.sync()

    # First the closed state arrives (WatermelonDB keeps the local edits and pushes them: the
    # server quarantines them), then the delete; WatermelonDB then destroys the record.
    assert [(r["pulled_ids"]["checks"]["updated"], r["pulled_ids"]["checks"]["deleted"]) for r in sync["rounds"]] == [
        ([target], []),
        ([], [target]),
    ]
    assert rejected_ids(sync) == {"checks": [target]}
    quarantined = QuarantinedRecord.objects.get()
    assert (quarantined.table, quarantined.record_id, quarantined.code, quarantined.device_id) == (
        "checks",
        target,
        "sync_record_deleted",
        province.device.id,
    )
    assert (quarantined.payload["notes"], quarantined.payload["result"]) == ("Ghi chú ngoại tuyến", "HIT_RECORD")
    check = Check.objects.get(pk=target)
    assert (check.is_archived, check.notes, check.result) == (True, "", "NO_HIT")
    assert phone.find("checks", target) is None
    assert phone.unsynced() is False
    assert sync["client_errors"] == []
    after = phone.sync()
    assert (after["rounds"][0]["pulled_ids"]["checks"], after["rounds"][0]["push"]) == (
        {"created": [], "updated": [], "deleted": []},
        None,
    )


def test_edits_between_pull_and_push_merge_field_by_field(
    server: ServerProcess, province: Province, phone: WatermelonDevice
) -> None:
    merged, edited_in_flight = str(province.checks[0].id), str(province.checks[1].id)
    other = other_phone(server, province)
    phone.sync()
    phone.update("checks", merged, {"result": "HIT_RECORD", "notes": "Điện thoại 1: đã kiểm tra giấy tờ"})
    phone.update("checks", edited_in_flight, {"result": "HIT_WANTED"})

    phone.send("sync", pause_before_push=True)
    paused = phone.read()
    assert paused["event"] == "before_push"
    assert sorted(paused["ids"]["checks"]["updated"]) == sorted([merged, edited_in_flight])
    # After the phone's pull, before its push: another phone edits the same check (one field the
    # phone also changed, one it did not), and the officer edits a record whose push is in flight.
    other.store.update("checks", merged, {"notes": "Điện thoại 2: xe tải biển 12C", "location_text": "Làn 3"})
    other_push = other.synchronize()
    assert other_push.rejected == {} and other_push.conflicts == []
    phone.update("checks", edited_in_flight, {"notes": "Sửa khi đang gửi"})
    phone.send("continue")
    sync = phone.read()

    assert sync["ok"] is True, sync
    response = sync["rounds"][0]["push"]["response"]
    assert response["experimentalRejectedIds"] == {}
    assert response["conflicts"] == [
        {"table": "checks", "id": merged, "field": "notes", "policy": "append", "outcome": "appended"}
    ]
    check = Check.objects.get(pk=merged)
    assert (check.result, check.location_text, check.notes) == (
        "HIT_RECORD",
        "Làn 3",
        # Both texts, in server order (the "\n" the append puts between them is collapsed to a space
        # by normalize_text, which flattens every line break of a text column).
        "Điện thoại 2: xe tải biển 12C Điện thoại 1: đã kiểm tra giấy tờ",
    )
    assert (Check.objects.get(pk=edited_in_flight).result, Check.objects.get(pk=edited_in_flight).notes) == (
        "HIT_WANTED",
        "",
    )
    assert phone.unsynced() is True  # the edit made while the push was in flight is still pending

    after = phone.sync()

    assert pushed_ids(after) == {"checks": {"updated": [edited_in_flight]}}
    assert push_responses(after)[0]["conflicts"] == []
    assert (Check.objects.get(pk=edited_in_flight).result, Check.objects.get(pk=edited_in_flight).notes) == (
        "HIT_WANTED",
        "Sửa khi đang gửi",
    )
    local = phone.find("checks", merged)
    assert local is not None
    assert (local["result"], local["location_text"], local["notes"], local["_status"]) == (
        check.result,
        check.location_text,
        check.notes,
        "synced",
    )
    assert phone.unsynced() is False
    assert sync["client_errors"] == [] and after["client_errors"] == []
    assert ReviewItem.objects.count() == 0 and QuarantinedRecord.objects.count() == 0


def test_an_unknown_cursor_gets_the_pending_edits_pushed_then_a_replacement_sync(
    server: ServerProcess, province: Province, phone: WatermelonDevice
) -> None:
    kept, archived = str(province.checks[0].id), str(province.checks[2].id)
    phone.sync()
    created = phone.create("checks", new_check_values(full_name_seen="Vi Văn Sáng"))
    phone.update("checks", kept, {"result": "HIT_RECORD"})
    # The server forgets the phone's cursor (restored from a backup), and a check leaves the scope.
    SyncCheckpoint.objects.filter(device=province.device).delete()
    other = other_phone(server, province)
    other.store.delete("checks", archived)
    other.synchronize()

    sync = phone.sync()

    rounds = sync["rounds"]
    assert (rounds[0]["strategy"], rounds[0]["has_more"], rounds[0]["pulled_ids"]["checks"]["created"]) == (
        None,
        True,
        [],
    )
    assert pushed_ids(sync) == {"checks": {"created": [created["id"]], "updated": [kept]}}
    assert rounds[0]["push"] is not None  # pushed before anything was replaced
    assert [r["strategy"] for r in rounds[1:]] == ["replacement"] + [None] * (len(rounds) - 2)
    assert rejected_ids(sync) == {}
    assert Check.objects.get(pk=kept).result == "HIT_RECORD"
    assert Check.objects.get(pk=created["id"]).full_name_seen == "Vi Văn Sáng"
    server_checks = {
        str(i) for i in Check.objects.filter(unit=province.unit, is_archived=False).values_list("id", flat=True)
    }
    assert phone.ids("checks") == server_checks == {kept, str(province.checks[1].id), created["id"]}
    assert phone.counts() == {**province.scope_counts, "checks": 3}
    # WatermelonDB reports each record it already held and got again as `created` (README: expected).
    assert sync["client_errors"], "a replacement re-sends held records as created"
    assert all("already exists locally" in error for error in sync["client_errors"])
    assert phone.unsynced() is False
    after = phone.sync()
    assert (pulled_ids(after), after["rounds"][0]["push"], after["client_errors"]) == ({}, None, [])


def test_a_person_moving_out_of_scope_does_not_silently_drop_the_officers_pending_note(
    server: ServerProcess, province: Province, phone: WatermelonDevice
) -> None:
    person = str(province.persons[1].id)
    phone.sync()
    phone.update("persons", person, {"notes": "Hay lui tới quán nước đầu cầu"})
    residence_move(person_id=person, ward_code=COMMUNE_B, moved_on=date(2025, 10, 1))

    sync = phone.sync()

    # The note reaches the server (quarantined: the person is no longer this post's) before the
    # person, with residence and conviction, leaves the phone.
    assert pushed_ids(sync) == {"persons": {"updated": [person]}}
    assert rejected_ids(sync) == {"persons": [person]}
    quarantined = QuarantinedRecord.objects.get()
    assert (quarantined.table, quarantined.record_id, quarantined.code, quarantined.payload["notes"]) == (
        "persons",
        person,
        "sync_record_out_of_scope",
        "Hay lui tới quán nước đầu cầu",
    )
    assert Person.objects.get(pk=person).notes == ""
    assert phone.find("persons", person) is None
    assert phone.counts() == {**province.scope_counts, "persons": 1, "residences": 1, "criminal_records": 1}
    assert phone.unsynced() is False
    assert sync["client_errors"] == []


def test_a_push_whose_server_dies_after_commit_is_sent_again_by_the_next_sync_and_applied_once(
    server: ServerProcess, province: Province, phone: WatermelonDevice, tmp_path: Path
) -> None:
    faulty = ServerProcess(
        media_root=server.media_root, log_path=tmp_path / "faulty.log", extra_env={FAULT_ENV: "push_after_commit"}
    ).start()
    phone.call("set_server", server=faulty.base_url)
    phone.sync()
    created = phone.create("checks", new_check_values(full_name_seen="Dương Văn Khải"))
    phone.update("checks", str(province.checks[0].id), {"result": "HIT_WANTED"})

    failed = phone.try_call("sync")

    assert failed["ok"] is False  # synchronize() threw: the connection died without an answer
    assert faulty.wait_exit() == -signal.SIGKILL
    assert Check.objects.filter(pk=created["id"]).count() == 1  # committed before the server died
    assert phone.unsynced() is True
    phone.call("set_server", server=server.base_url)

    retry = phone.sync()  # pulls from the cursor it saved, then pushes the same records again

    assert pushed_ids(retry) == {"checks": {"created": [created["id"]], "updated": [str(province.checks[0].id)]}}
    assert pulled_ids(retry) == {}  # its own committed writes are not echoed
    assert (rejected_ids(retry), push_responses(retry)[0]["conflicts"]) == ({}, [])
    assert Check.objects.filter(pk=created["id"]).count() == 1
    assert Check.objects.get(pk=created["id"]).full_name_seen == "Dương Văn Khải"
    assert Check.objects.get(pk=province.checks[0].id).result == "HIT_WANTED"
    assert SyncRow.objects.filter(table="checks", record_id=created["id"]).count() == 1
    assert QuarantinedRecord.objects.count() == 0 and ReviewItem.objects.count() == 0
    assert phone.unsynced() is False
    assert retry["client_errors"] == []
