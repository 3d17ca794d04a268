"""Invariant 1: the cursor is commit-order safe.

Several writer threads (each its own database connection) run slow transactions that commit out of
start order, while a device pulls in a loop with its cursor and small pages. At the end the device
must hold exactly the server's rows with their final values, having received every created row
at most once (and never while it already held it), never a value older than one it already had,
and never an id twice in one response.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from django.db import connection

from sync.models import SyncRow
from sync.pull import sync_pull
from sync.writer import sync_transaction
from tests.sync.conftest import NOTES, Phone, note

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("notes_table"), pytest.mark.slow]

WRITERS = 4
ROUNDS = 40
CREATES_PER_TRANSACTION = 10  # 4 x 40 x 10 = 1,600 creates, plus ~1,000 updates and some deletes
SCOPE = "commune:20215"


@dataclass
class Receipts:
    """Everything the pulling device was told, in order."""

    created: Counter[str] = field(default_factory=Counter)
    versions: dict[str, list[int]] = field(default_factory=dict)
    local: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: int = 0
    ids_twice_in_one_response: list[str] = field(default_factory=list)
    created_after_held: list[str] = field(default_factory=list)

    def apply(self, body: dict[str, Any]) -> None:
        self.pulls += 1
        lists = body["changes"][NOTES]
        seen = [r["id"] for r in lists["created"] + lists["updated"]] + list(lists["deleted"])
        self.ids_twice_in_one_response += [i for i, n in Counter(seen).items() if n > 1]
        for row in lists["created"]:
            self.created[row["id"]] += 1
            if row["id"] in self.local:
                self.created_after_held.append(row["id"])
        for row in lists["created"] + lists["updated"]:
            self.versions.setdefault(row["id"], []).append(int(row["body"]))
            self.local[row["id"]] = row
        for record_id in lists["deleted"]:
            self.local.pop(record_id, None)


def _write_round(writer_index: int, round_index: int, created: list[str], rng: random.Random, delay: float) -> None:
    """One slow transaction: create rows, bump the version of earlier rows, sometimes delete one."""
    with sync_transaction() as writer:
        updates = rng.sample(created, k=min(len(created), 6))
        # Lock and read the rows to update first: the transaction is open (and holds row locks)
        # from here, long before it takes the head lock and commits.
        existing = writer.lock_rows([(NOTES, rid) for rid in updates])
        for rid in updates:
            row = existing.get((NOTES, rid))
            if row is None or row.is_deleted:
                continue
            payload = orjson.loads(row.payload_json)
            payload["body"] = str(int(payload["body"]) + 1)
            writer.stage(table=NOTES, record_id=rid, payload=payload, scope_key=SCOPE, changed_fields=["body"])
        for i in range(CREATES_PER_TRANSACTION):
            rid = f"w{writer_index}-r{round_index}-{i}"
            writer.stage(table=NOTES, record_id=rid, payload=note(rid, body="0"), scope_key=SCOPE)
            created.append(rid)
        if round_index % 7 == 3 and updates:
            gone = updates[0]
            writer.stage(table=NOTES, record_id=gone, payload=None, scope_key=SCOPE)
            created.remove(gone)
        time.sleep(delay)  # slow work inside the transaction, before COMMIT


def _run(*, phone: Phone, start_together: bool) -> Receipts:
    receipts = Receipts()
    errors: list[BaseException] = []
    writers_done = threading.Event()
    barrier = threading.Barrier(WRITERS) if start_together else None

    def write(index: int) -> None:
        rng = random.Random(index)
        created: list[str] = []
        try:
            for round_index in range(ROUNDS):
                if barrier is not None:
                    barrier.wait(timeout=30)
                # Writer 0 starts first and sleeps longest, so it commits last: reverse start order.
                delay = (WRITERS - index) * 0.002 if start_together else rng.random() * 0.004
                if barrier is not None:
                    time.sleep(index * 0.0005)
                _write_round(index, round_index, created, rng, delay)
        except BaseException as exc:
            errors.append(exc)
            if barrier is not None:
                barrier.abort()
        finally:
            connection.close()

    def pull_loop() -> None:
        try:
            cursor: int | None = None
            while True:
                finished = writers_done.is_set()
                body: dict[str, Any] = orjson.loads(
                    sync_pull(
                        device=phone.device,
                        scope_keys=phone.scope_keys,
                        last_pulled_at=cursor,
                        schema_version=1,
                        page_rows=97,
                    ).body
                )
                assert "experimentalStrategy" not in body
                receipts.apply(body)
                cursor = body["timestamp"]
                if finished and not body["has_more"]:
                    return  # this pull started after every writer committed, and it was the last page
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    puller = threading.Thread(target=pull_loop)
    puller.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    writers_done.set()
    puller.join(timeout=120)
    assert not puller.is_alive()
    if errors:
        raise errors[0]
    return receipts


def _assert_device_matches_server(receipts: Receipts) -> None:
    server = {
        rid: orjson.loads(payload)
        for rid, payload in SyncRow.objects.filter(table=NOTES, is_deleted=False).values_list(
            "record_id", "payload_json"
        )
    }
    ever_created = set(SyncRow.objects.filter(table=NOTES).values_list("record_id", flat=True))
    assert len(ever_created) == WRITERS * ROUNDS * CREATES_PER_TRANSACTION
    assert receipts.pulls > 3  # the device really pulled while the writers ran
    assert receipts.ids_twice_in_one_response == []
    assert set(receipts.local) == set(server)
    assert {rid: receipts.local[rid] for rid in server} == server  # final values
    # Every row still on the server arrived; one created and deleted between two pulls may not.
    assert set(server) <= set(receipts.versions)
    # Never "created" twice, and never "created" once the device already held it (WatermelonDB
    # would then drop a pending local delete). A row created inside an already delivered page range
    # and updated before that page was read is sent as "updated" (WatermelonDB creates it).
    assert [rid for rid, n in receipts.created.items() if n != 1] == []
    assert receipts.created_after_held == []
    assert [rid for rid, seen in receipts.versions.items() if seen != sorted(set(seen))] == []
    assert sum(int(p["body"]) for p in server.values()) > 500  # updates really happened


@pytest.mark.postgres
def test_postgres_pulling_device_misses_nothing_while_slow_writers_commit_out_of_order() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs FIELDSYNC_DATABASE_URL=postgres://...")
    phone = Phone("puller")

    receipts = _run(phone=phone, start_together=True)

    _assert_device_matches_server(receipts)


def test_pulling_device_misses_nothing_while_slow_writers_interleave() -> None:
    """The SQLite variant (SQLite queues writers on its write lock; runs on PostgreSQL too)."""
    phone = Phone("puller")

    receipts = _run(phone=phone, start_together=False)

    _assert_device_matches_server(receipts)
