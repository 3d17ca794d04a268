"""The writer's bulk paths: flush reuses the rows locked before (unless SyncRows changed since),
new rows go in by COPY / executemany with the database's errors, push logs are upserted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from sync.bulk import bulk_insert, upsert_push_logs
from sync.models import DevicePushLog, SyncRow
from sync.writer import SyncWriter, sync_transaction
from tests.conftest import make_unit

pytestmark = pytest.mark.django_db(transaction=True)

T = "writer_bulk"


def _seed(record_id: str, payload: dict[str, Any]) -> int:
    with sync_transaction() as writer:
        writer.stage(table=T, record_id=record_id, payload=payload, scope_key="s")
    assert writer.seq is not None
    return writer.seq


def test_flush_writes_over_the_rows_locked_before_without_reading_them_again() -> None:
    _seed("r1", {"id": "r1", "a": 1, "b": 1})
    with transaction.atomic():
        writer = SyncWriter()
        locked = writer.lock_rows([(T, "r1")])
        writer.stage(table=T, record_id="r1", payload={"id": "r1", "a": 2, "b": 1}, scope_key="s", changed_fields=["a"])
        with CaptureQueriesContext(connection) as queries:
            seq = writer.flush()

    assert not any(
        q["sql"].lstrip().upper().startswith("SELECT") and "sync_syncrow" in q["sql"] for q in queries.captured_queries
    )
    row = SyncRow.objects.get(table=T, record_id="r1")
    assert row is not locked[(T, "r1")]
    assert (row.seq, row.field_versions["a"], row.payload_json) == (seq, [seq, "server"], '{"id":"r1","a":2,"b":1}')


def test_flush_reads_the_rows_again_when_another_writer_changed_them_in_the_same_transaction() -> None:
    first = _seed("r1", {"id": "r1", "a": 1, "b": 1})
    with transaction.atomic():
        outer = SyncWriter()
        outer.lock_rows([(T, "r1")])
        with sync_transaction() as inner:  # e.g. a domain apply that writes through its own writer
            inner.stage(
                table=T, record_id="r1", payload={"id": "r1", "a": 1, "b": 5}, scope_key="s", changed_fields=["b"]
            )
        outer.stage(table=T, record_id="r1", payload={"id": "r1", "a": 2, "b": 5}, scope_key="s", changed_fields=["a"])
        seq = outer.flush()

    row = SyncRow.objects.get(table=T, record_id="r1")
    assert inner.seq is not None and seq is not None and first < inner.seq < seq
    # b's version is the inner writer's: the outer flush did not write its stale copy over it.
    assert row.field_versions == {"*": [first, "server"], "b": [inner.seq, "server"], "a": [seq, "server"]}
    assert row.created_seq == first


def test_flush_finds_a_row_created_after_the_lock_found_none() -> None:
    with transaction.atomic():
        writer = SyncWriter()
        assert writer.lock_rows([(T, "late")]) == {}
        created = _seed("late", {"id": "late", "a": 1})  # nested: same transaction, before the flush
        writer.stage(table=T, record_id="late", payload={"id": "late", "a": 2}, scope_key="s", changed_fields=["a"])
        seq = writer.flush()

    row = SyncRow.objects.get(table=T, record_id="late")
    assert (row.created_seq, row.seq, row.field_versions["a"]) == (created, seq, [seq, "server"])


def _sync_row(record_id: str) -> SyncRow:
    return SyncRow(
        table=T,
        record_id=record_id,
        seq=1,
        created_seq=1,
        changed_at=datetime(2026, 12, 4, tzinfo=UTC),
        scope_key="s",
        payload_json="{}",
        field_versions={"*": [1, "server"], "notes": [1, str(uuid.uuid4())]},
        last_writer_device_id=uuid.uuid4(),
    )


def test_bulk_insert_stores_every_value_and_a_duplicate_raises_integrity_error() -> None:
    rows = [_sync_row("n1"), _sync_row("n2")]
    rows[1].last_writer_device_id = None
    with transaction.atomic():
        bulk_insert(SyncRow, rows)
    stored = {r.record_id: r for r in SyncRow.objects.filter(table=T)}
    for row in rows:
        got = stored[row.record_id]
        assert (got.changed_at, got.field_versions, got.last_writer_device_id, got.payload_json) == (
            row.changed_at,
            row.field_versions,
            row.last_writer_device_id,
            row.payload_json,
        )

    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            bulk_insert(SyncRow, [_sync_row("n3"), _sync_row("n1")])
        assert not SyncRow.objects.filter(table=T, record_id="n3").exists()  # the transaction goes on


def test_upsert_push_logs_inserts_new_records_and_updates_known_ones() -> None:
    from backend.accounts.models import Device

    unit = make_unit(code="U1", communes=("20215",))
    device = Device.objects.create(label="d", unit=unit)
    other = Device.objects.create(label="e", unit=unit)
    upsert_push_logs([(device.pk, T, "a", "1" * 64, 5, 1), (other.pk, T, "a", "2" * 64, 5, 1)])
    upsert_push_logs([(device.pk, T, "a", "3" * 64, 7, 2), (device.pk, T, "b", "4" * 64, 7, 2)])

    logs = {(log.device_id, log.record_id): log for log in DevicePushLog.objects.all()}
    assert {k: (v.content_sha256[0], v.seq, v.checkpoint_id) for k, v in logs.items()} == {
        (device.pk, "a"): ("3", 7, 2),
        (device.pk, "b"): ("4", 7, 2),
        (other.pk, "a"): ("2", 5, 1),
    }


def test_in_list_matches_what_in_matches_for_uuid_keys_and_text_and_nothing_for_no_values() -> None:
    rows = [_sync_row(f"i{i}") for i in range(3)]
    bulk_insert(SyncRow, rows)
    devices = [rows[0].last_writer_device_id, rows[2].last_writer_device_id, uuid.uuid4()]

    by_text = SyncRow.objects.filter(table=T, record_id__in_list=["i0", "i2", "x"])
    by_uuid = SyncRow.objects.filter(last_writer_device_id__in_list=devices)
    assert sorted(r.record_id for r in by_text) == ["i0", "i2"]
    assert sorted(r.record_id for r in by_uuid) == sorted(
        r.record_id for r in SyncRow.objects.filter(last_writer_device_id__in=devices)
    )
    assert list(SyncRow.objects.filter(record_id__in_list=[])) == []


def test_in_list_ignores_none_as_in_does_so_that_exclude_keeps_the_other_rows() -> None:
    """`x IN (NULL, 'a')` is NULL, never false, for any x but 'a' (and so is `x = ANY('{NULL,a}')`):
    `__in` drops None from its values; `__in_list` must too, or `exclude` drops every row."""
    ids = ["NULL", "null", "", "a", "b"]
    bulk_insert(SyncRow, [_sync_row(i) for i in ids])
    rows = SyncRow.objects.filter(table=T)

    for values in ([None, "a"], [None], [None, "NULL", None]):
        expected = sorted(rows.exclude(record_id__in=values).values_list("record_id", flat=True))
        assert sorted(rows.exclude(record_id__in_list=values).values_list("record_id", flat=True)) == expected
        matched = sorted(rows.filter(record_id__in=values).values_list("record_id", flat=True))
        assert sorted(rows.filter(record_id__in_list=values).values_list("record_id", flat=True)) == matched
    assert sorted(rows.exclude(record_id__in_list=[None, "a"]).values_list("record_id", flat=True)) == [
        "",
        "NULL",
        "b",
        "null",
    ]
