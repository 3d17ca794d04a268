"""Page cuts of the pull (seqs probed first, then whole transactions) and the push log's upsert."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sync.models import DevicePushLog, SyncRow
from tests.sync.conftest import NOTES, Phone, changes, note

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("notes_table")]


def _write_transactions(sizes: list[int]) -> list[list[str]]:
    from sync.writer import sync_transaction

    written = []
    for batch, size in enumerate(sizes):
        with sync_transaction() as writer:
            ids = [f"t{batch}-{i}" for i in range(size)]
            for rid in ids:
                writer.stage(table=NOTES, record_id=rid, payload=note(rid), scope_key="commune:20215")
        written.append(ids)
    return written


def _created(body: dict[str, Any]) -> list[str]:
    return sorted(r["id"] for r in body["changes"][NOTES]["created"])


def test_a_transaction_larger_than_a_page_comes_whole_in_one_page(settings: Any) -> None:
    written = _write_transactions([2, 5, 1])
    settings.FIELDSYNC_PULL_PAGE_ROWS = 3
    phone = Phone("p1")

    pages = phone.pull_all()

    assert [_created(p) for p in pages] == [sorted(written[0]), sorted(written[1]), sorted(written[2])]
    assert [p["has_more"] for p in pages] == [True, True, False]


def test_a_page_that_ends_exactly_on_a_transaction_boundary_takes_both_transactions(settings: Any) -> None:
    written = _write_transactions([2, 2, 2])
    settings.FIELDSYNC_PULL_PAGE_ROWS = 4
    phone = Phone("p1")

    pages = phone.pull_all()

    assert [_created(p) for p in pages] == [sorted(written[0] + written[1]), sorted(written[2])]
    assert [p["has_more"] for p in pages] == [True, False]
    assert sorted(phone.local) == sorted(rid for ids in written for rid in ids)


def test_a_page_across_the_end_of_the_initial_snapshot_sends_each_record_once_as_stored(settings: Any) -> None:
    from tests.sync.conftest import server_write

    written = _write_transactions([3, 3, 3])
    settings.FIELDSYNC_PULL_PAGE_ROWS = 3
    phone = Phone("p1")
    first = phone.pull()  # the snapshot is transactions 1-3; this page holds the first
    # While the initial sync is paged, the server edits a record the device has, one it has not had
    # yet (its row moves past the snapshot), and writes a new one.
    server_write(written[0][0], title="sửa sau")
    server_write(written[1][0], title="đổi")
    server_write("late", title="mới")
    settings.FIELDSYNC_PULL_PAGE_ROWS = 100

    second = phone.pull()  # the rest of the snapshot and the changes, in one page

    assert _created(first) == sorted(written[0])
    lists = second["changes"][NOTES]
    assert _created(second) == sorted([*written[1], *written[2], "late"])
    assert [r["id"] for r in lists["updated"]] == [written[0][0]]
    assert (lists["deleted"], second["has_more"]) == ([], False)
    stored = {row.record_id: orjson.loads(row.payload_json) for row in SyncRow.objects.filter(table=NOTES)}
    assert all(record == stored[record["id"]] for record in lists["created"] + lists["updated"])
    assert phone.local[written[1][0]]["title"] == "đổi" and phone.local["late"]["owner_name"] == "Nguyễn Văn A"


def test_a_page_only_of_other_scopes_rows_is_empty_and_final(settings: Any) -> None:
    from sync.writer import sync_transaction

    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id="far", payload=note("far", commune_code="99999"), scope_key="commune:99999")
    settings.FIELDSYNC_PULL_PAGE_ROWS = 1
    phone = Phone("p1")

    body = phone.pull()

    assert body["changes"][NOTES] == {"created": [], "updated": [], "deleted": []}
    assert body["has_more"] is False


def test_each_accepted_record_of_a_push_gets_one_log_entry_at_the_push_seq_and_a_rejected_one_none() -> None:
    phone = Phone("p1")
    phone.pull()

    response = phone.push(changes(created=[note("n1"), note("bad", title="INVALID"), note("n2")], deleted=["gone"]))

    assert [r["id"] for r in response["rejections"]] == ["bad"]
    seq = SyncRow.objects.get(record_id="n1").seq
    logs = DevicePushLog.objects.filter(device=phone.device).order_by("record_id")
    assert [(log.table, log.record_id, log.seq) for log in logs] == [
        (NOTES, "gone", seq),
        (NOTES, "n1", seq),
        (NOTES, "n2", seq),
    ]


def test_a_replay_of_a_second_push_of_the_same_record_changes_nothing() -> None:
    phone, other = Phone("p1"), Phone("p2")
    phone.pull()
    phone.push(changes(created=[note("n1", title="one")]))
    phone.pull()
    second = changes(updated=[{**note("n1", title="two"), "_status": "updated", "_changed": "title"}])
    phone.push(second)  # the push log entry of n1 is updated, not duplicated
    other.pull()
    other.push(changes(updated=[{**other.local["n1"], "body": "seen", "_status": "updated", "_changed": "body"}]))
    versions_before = SyncRow.objects.get(record_id="n1").field_versions

    replay = phone.push(second)  # the acknowledgement of the second push was lost

    assert replay == {"experimentalRejectedIds": {}, "rejections": [], "conflicts": []}
    assert DevicePushLog.objects.filter(device=phone.device, table=NOTES, record_id="n1").count() == 1
    row = SyncRow.objects.get(record_id="n1")
    assert row.field_versions == versions_before
    assert orjson.loads(row.payload_json)["title"] == "two"
    assert orjson.loads(row.payload_json)["body"] == "seen"


def test_a_bad_record_after_a_conflict_rolls_back_the_batch_pass_and_nothing_is_doubled() -> None:
    from sync.models import QuarantinedRecord, ReviewItem
    from tests.sync.conftest import server_write

    server_write("n1")
    server_write("n2")
    phone = Phone("p1")
    phone.pull()
    server_write("n1", status="closed")  # another writer changes the REVIEW field after the device's pull

    response = phone.push(
        changes(
            created=[note("n1", status="escalated"), note("n3", title="new")],
            updated=[
                {**note("n2", title="renamed"), "_status": "updated", "_changed": "title"},
                {**note("bad", title="INVALID"), "_status": "updated", "_changed": "title"},
            ],
        )
    )

    assert [(r["table"], r["id"], r["message"]) for r in response["rejections"]] == [
        (NOTES, "bad", "title may not be INVALID")
    ]
    assert response["conflicts"] == [
        {
            "table": NOTES,
            "id": "n1",
            "field": "status",
            "policy": "review",
            "outcome": "server_value_kept_device_value_in_review",
        }
    ]
    assert ReviewItem.objects.filter(record_id="n1").count() == 1
    assert QuarantinedRecord.objects.filter(record_id="bad").count() == 1
    assert orjson.loads(SyncRow.objects.get(record_id="n2").payload_json)["title"] == "renamed"
    assert orjson.loads(SyncRow.objects.get(record_id="n3").payload_json)["title"] == "new"
    assert SyncRow.objects.filter(record_id="bad").count() == 0
    pushed_seq = SyncRow.objects.get(record_id="n3").seq
    assert SyncRow.objects.get(record_id="n2").seq == pushed_seq
    assert DevicePushLog.objects.filter(device=phone.device).count() == 3


@pytest.mark.postgres
def test_the_push_log_lookup_is_served_by_the_record_key_not_by_all_of_the_devices_entries() -> None:
    """The lookup names the whole key of devicepushlog_record (device, table, record ids): by device
    and record ids alone PostgreSQL reads every entry the device ever logged."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    from sync.bulk import upsert_push_logs

    phone = Phone("p1")
    phone.pull()
    phone.push(changes(created=[note(f"n{i}") for i in range(5)]))
    phone.pull()
    log = DevicePushLog.objects.get(device=phone.device, record_id="n0")
    # A device with a long history: 5,000 earlier entries (of another table), and fresh statistics.
    upsert_push_logs([(phone.device.pk, "other", f"old{i}", "0" * 64, log.seq, log.checkpoint_id) for i in range(5000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sync_devicepushlog")

    with CaptureQueriesContext(connection) as queries:
        phone.push(changes(created=[note("n9")], updated=[{**note("n1"), "_status": "updated", "_changed": "title"}]))
    lookup = [q["sql"] for q in queries.captured_queries if 'FROM "sync_devicepushlog"' in q["sql"]]
    assert len(lookup) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as on a table of millions of entries
        cursor.execute("EXPLAIN (FORMAT JSON) " + lookup[0])
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute("RESET enable_seqscan")
    assert plan["Index Name"] == "devicepushlog_record", plan
    assert '"table"' in plan["Index Cond"] and "record_id" in plan["Index Cond"], plan
