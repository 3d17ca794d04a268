"""A server SIGKILLed in the middle of a push (sync.faults) loses nothing and doubles nothing.

Each test starts a server with FIELDSYNC_FAULT_INJECT set; the reference device client
(mobile_contract.client) pushes through it and the server dies at that point. The device then
retries against another server process on the same database (shared by the module, it never saw
the crash): with the same Idempotency-Key, or without one, as a WatermelonDB app does (its next
synchronize() pulls from the cursor it saved and pushes the same records again, still
created/updated). Exact queries afterwards. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.registry import sync_tables as st
from backend.registry.models import Check, Person
from mobile_contract.client import FieldsyncClient
from sync.faults import FAULT_ENV, Fault
from sync.models import DevicePushLog, PushReceipt, QuarantinedRecord, ReviewItem, SyncRow
from sync.writer import sync_transaction
from tests.conftest import make_device_session, make_officer, make_unit
from tests.live import ServerProcess
from tests.registry.conftest import CAPTURED_AT_MS, COMMUNE_A, make_person

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def fresh_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("fresh-server")
    (folder / "media").mkdir()
    process = ServerProcess(media_root=folder / "media", log_path=folder / "server.log").start()
    yield process
    process.kill()


@dataclass
class Post:
    unit: Any
    token_a: str
    device_a: Any
    token_b: str
    person: Person
    checks: list[Check]


@pytest.fixture
def post() -> Post:
    unit = make_unit(code="TT", communes=(COMMUNE_A,))
    pair_a = make_device_session(officer=make_officer(username="patrol.tanthanh.a", unit=unit), label="phone-a")
    pair_b = make_device_session(officer=make_officer(username="patrol.tanthanh.b", unit=unit), label="phone-b")
    person = make_person(full_name="Nông Văn Dũng")
    with sync_transaction() as writer:
        checks = []
        for index in range(2):
            check = Check.objects.create(
                unit=unit,
                commune_code=COMMUNE_A,
                full_name_seen=f"Khách {index}",
                captured_at=datetime(2025, 9, 2, 9, index, tzinfo=UTC),
                purpose="BORDER_CROSSING",
                result="NO_HIT",
            )
            writer.stage(
                table=st.CHECKS,
                record_id=str(check.id),
                payload=st.serialize_check(check),
                scope_key=st.scope_of_check(check),
            )
            checks.append(check)
    return Post(
        unit=unit,
        token_a=pair_a.access_token,
        device_a=pair_a.device,
        token_b=pair_b.access_token,
        person=person,
        checks=checks,
    )


def new_check(record_id: str, name: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "full_name_seen": name,
        "commune_code": COMMUNE_A,
        "location_text": "Cửa khẩu Tân Thanh",
        "captured_at": CAPTURED_AT_MS + 5,
        "purpose": "BORDER_CROSSING",
        "result": "NO_HIT",
        "notes": "",
    }


def make_local_changes(client: FieldsyncClient, post: Post) -> list[str]:
    """Two new checks, two edited fields of a pulled check, a person's note and status, one delete."""
    created = [str(uuid.uuid4()), str(uuid.uuid4())]
    for record_id, name in zip(created, ("Hà Thị Lan", "Lục Văn Quý"), strict=True):
        client.store.create("checks", new_check(record_id, name))
    client.store.update("checks", str(post.checks[0].id), {"result": "HIT_RECORD", "notes": "Đã đối chiếu"})
    client.store.update(
        "persons", str(post.person.id), {"notes": "Gặp tại chợ biên giới", "management_status": "monitored"}
    )
    client.store.delete("checks", str(post.checks[1].id))
    return created


def assert_applied_exactly_once(post: Post, created: list[str]) -> None:
    for record_id, name in zip(created, ("Hà Thị Lan", "Lục Văn Quý"), strict=True):
        assert Check.objects.filter(pk=record_id).count() == 1
        check = Check.objects.get(pk=record_id)
        assert (check.full_name_seen, check.unit_id, check.device_id, check.is_archived) == (
            name,
            post.unit.id,
            post.device_a.id,
            False,
        )
        assert SyncRow.objects.filter(table="checks", record_id=record_id).count() == 1
    edited = Check.objects.get(pk=post.checks[0].id)
    assert (edited.result, edited.notes) == ("HIT_RECORD", "Đã đối chiếu")
    person = Person.objects.get(pk=post.person.id)
    assert (person.notes, person.management_status) == ("Gặp tại chợ biên giới", "monitored")
    assert Check.objects.get(pk=post.checks[1].id).is_archived is True
    assert Check.objects.filter(unit=post.unit).count() == 4
    assert QuarantinedRecord.objects.count() == 0
    assert ReviewItem.objects.count() == 0


def pull_pages(client: FieldsyncClient) -> list[dict[str, Any]]:
    pages = [client.pull(last_pulled_at=None)]
    while pages[-1]["has_more"]:
        pages.append(client.pull(last_pulled_at=pages[-1]["timestamp"]))
    return pages


PUSH_FAULTS = [Fault.PUSH_BEFORE_COMMIT, Fault.PUSH_AFTER_COMMIT, Fault.PUSH_MID_RESPONSE]


@pytest.mark.parametrize("with_idempotency_key", [True, False], ids=["same-key", "no-key"])
@pytest.mark.parametrize("fault", PUSH_FAULTS, ids=[f.value for f in PUSH_FAULTS])
def test_a_push_killed_at_a_fault_point_and_retried_is_applied_exactly_once(
    fault: Fault, with_idempotency_key: bool, post: Post, fresh_server: ServerProcess, tmp_path: Path
) -> None:
    faulty = ServerProcess(
        media_root=fresh_server.media_root,
        log_path=tmp_path / "faulty.log",
        extra_env={FAULT_ENV: fault.value},
    ).start()
    device = FieldsyncClient(faulty.base_url, timeout_seconds=30)
    device.use_token(post.token_a)
    device.synchronize()  # pulls go through: the fault points are on the push path only
    created = make_local_changes(device, post)
    changes = device.store.local_changes()
    cursor = device.store.last_pulled_at
    assert cursor is not None
    key = str(uuid.uuid4()) if with_idempotency_key else None

    with pytest.raises(httpx.TransportError):
        device.push(changes, last_pulled_at=cursor, idempotency_key=key)
    assert faulty.wait_exit() == -signal.SIGKILL

    is_committed = fault is not Fault.PUSH_BEFORE_COMMIT
    assert Check.objects.filter(pk__in=created).count() == (2 if is_committed else 0)
    assert DevicePushLog.objects.filter(device=post.device_a).count() == (5 if is_committed else 0)
    assert PushReceipt.objects.count() == (1 if is_committed and with_idempotency_key else 0)

    device.http.base_url = httpx.URL(fresh_server.base_url)
    if with_idempotency_key:
        response = device.push(changes, last_pulled_at=cursor, idempotency_key=key)
        assert (response["experimentalRejectedIds"], response["rejections"], response["conflicts"]) == ({}, [], [])
        device.store.mark_synced(changes, response["experimentalRejectedIds"])
        report = device.synchronize()
        assert (report.pulled_rows, report.pushed_rows) == (0, 0)  # nothing of ours comes back
        assert PushReceipt.objects.count() == 1
    else:
        report = device.synchronize()  # WatermelonDB's next sync: pull from the saved cursor, push again
        assert (report.pulled_rows, report.pushed_rows) == (0, 5)
        assert (report.rejected, report.conflicts) == ({}, [])
        assert PushReceipt.objects.count() == 0
    assert device.store.local_changes() == {}

    assert_applied_exactly_once(post, created)
    other = FieldsyncClient(fresh_server.base_url)
    other.use_token(post.token_b)
    pages = pull_pages(other)
    seen = Counter(
        (table, row["id"])
        for page in pages
        for table, lists in page["changes"].items()
        for row in lists["created"] + lists["updated"]
    )
    assert all(count == 1 for count in seen.values()), seen
    assert {record_id for table, record_id in seen if table == "checks"} == {*created, str(post.checks[0].id)}
    rows = {row["id"]: row for page in pages for row in page["changes"]["checks"]["created"]}
    assert rows[created[0]]["full_name_seen"] == "Hà Thị Lan"
    assert (rows[str(post.checks[0].id)]["result"], rows[str(post.checks[0].id)]["notes"]) == (
        "HIT_RECORD",
        "Đã đối chiếu",
    )
    person = next(row for page in pages for row in page["changes"]["persons"]["created"])
    assert (person["notes"], person["management_status"]) == ("Gặp tại chợ biên giới", "monitored")
