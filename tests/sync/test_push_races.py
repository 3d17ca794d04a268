"""Pushes of several devices racing over the same rows (PostgreSQL, real transactions): the writer's
flush reuses the SyncRows it locked at push start, so these prove that no push writes a stale version
or loses another's change, whatever the interleaving."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import orjson
import pytest
from django.db import connection, connections

from backend.registry.models import Check
from backend.registry.sync_tables import serialize_check
from sync.models import SyncRow
from tests.conftest import make_unit
from tests.registry.conftest import COMMUNE_A, check_values
from tests.sync.devices import EndpointPhone

DEVICES = 4
RECORDS = 40


def _record(record_id: str, status: str, **overrides: Any) -> dict[str, Any]:
    changed = ",".join(sorted(overrides)) if status == "updated" else ""
    return {"id": record_id, **check_values(**overrides), "_status": status, "_changed": changed}


def _phone(index: int, unit: Any) -> EndpointPhone:
    return EndpointPhone(username=f"patrol.{index}", unit=unit, label=f"phone {index}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_racing_pushes_over_the_same_rows_lose_no_change_and_write_no_stale_version() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    unit = make_unit(code="UA", communes=(COMMUNE_A,))
    ids = [str(uuid.uuid4()) for _ in range(RECORDS)]
    first = _phone(DEVICES, unit)  # the creator, not one of the racers
    created = first.push({"checks": {"created": [_record(i, "created", notes="base") for i in ids]}})
    assert created.status_code == 200 and created.json()["rejections"] == [], created.content
    phones = [_phone(k, unit) for k in range(DEVICES)]  # each pulled the checks: its cursor is after them
    start = threading.Barrier(DEVICES)
    answers: dict[tuple[int, int], Any] = {}
    bad_ids: list[str] = []

    def race(k: int) -> None:
        try:
            updates = [_record(i, "updated", notes=f"base\nfrom {k}", location_text=f"loc {k}") for i in ids]
            if k % 2:
                updates.reverse()  # the other lock order: no deadlock, rows are locked sorted
            new = [_record(str(uuid.uuid4()), "created") for _ in range(5)]
            if k == DEVICES - 1:  # one bad record: this push goes record by record
                bad = _record(str(uuid.uuid4()), "created", purpose="NOT_A_PURPOSE")
                bad_ids.append(bad["id"])
                new.append(bad)
            start.wait()
            for attempt in range(3):  # the same push again (a lost response): applied exactly once
                response = phones[k].push({"checks": {"created": new, "updated": updates}})
                answers[(k, attempt)] = (response.status_code, response.json())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(k,)) for k in range(DEVICES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(answers) == DEVICES * 3
    for (k, _), (status, body) in answers.items():
        assert status == 200, body
        assert body["experimentalRejectedIds"] == ({"checks": bad_ids} if k == DEVICES - 1 else {})
    devices = {phone.device_id: k for k, phone in enumerate(phones)}
    for record_id in ids:
        check = Check.objects.get(pk=record_id)
        added = [line for line in check.notes.split("\n") if line != "base"]
        assert sorted(added) == [f"from {k}" for k in range(DEVICES)], check.notes  # every append, once
        row = SyncRow.objects.get(table="checks", record_id=record_id)
        assert orjson.loads(row.payload_json) == orjson.loads(orjson.dumps(serialize_check(check)))
        # a replay after others' pushes sends the row again (seq moves, versions do not): the field
        # versions name the last device that wrote each field, and its value is the one stored
        seq, writer = row.field_versions["location_text"]
        assert check.location_text == f"loc {devices[writer]}"
        assert row.field_versions["notes"][0] <= row.seq and seq <= row.seq
        assert row.field_versions["notes"] == [seq, writer]  # both fields came in the same push
    assert Check.objects.count() == RECORDS + 5 * DEVICES
    assert SyncRow.objects.filter(table="checks").count() == RECORDS + 5 * DEVICES
