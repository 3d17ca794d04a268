"""Single-writer correctness of pull and push (DESIGN §3 invariants 2-9)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sync.errors import AppVersionUnsupported, IdempotencyKeyReused, SyncCursorInvalid
from sync.models import QuarantinedRecord, ReviewItem, SyncRow
from tests.sync.conftest import NOTES, Phone, changes, note, server_write

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("notes_table")]


def ids(body: dict[str, Any], kind: str) -> list[str]:
    lists = body["changes"][NOTES]
    return sorted(lists[kind] if kind == "deleted" else [r["id"] for r in lists[kind]])


def test_initial_pull_sends_only_the_scope_and_no_tombstones() -> None:
    server_write("a1", commune_code="20215")
    server_write("b1", commune_code="99999")
    server_write("gone", commune_code="20215")
    server_write("gone", commune_code="20215", title="x")
    from sync.writer import sync_transaction

    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id="gone", payload=None, scope_key="commune:20215")
    phone = Phone("p1")

    body = phone.pull()

    assert ids(body, "created") == ["a1"]
    assert ids(body, "updated") == []
    assert ids(body, "deleted") == []
    assert body["has_more"] is False
    assert "experimentalStrategy" not in body


def test_delta_pull_returns_only_later_changes_and_a_delete() -> None:
    server_write("a1")
    server_write("a2")
    phone = Phone("p1")
    phone.pull()
    server_write("a2", title="changed")
    from sync.writer import sync_transaction

    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id="a1", payload=None, scope_key="commune:20215")

    body = phone.pull()
    after_push = phone.pull()  # a held record's delete waits one page: the app pushes its edits first

    assert ids(body, "updated") == ["a2"]
    assert ids(body, "created") == []
    assert (ids(body, "deleted"), body["has_more"]) == ([], True)
    assert (ids(after_push, "deleted"), after_push["has_more"]) == (["a1"], False)
    assert phone.pull()["changes"][NOTES] == {"created": [], "updated": [], "deleted": []}


def test_own_accepted_writes_do_not_echo_back() -> None:
    phone, other = Phone("p1"), None
    phone.pull()
    phone.push(changes(created=[note("n1")]))

    body = phone.pull()

    assert ids(body, "created") == [] and ids(body, "updated") == []
    other = Phone("p2")
    assert ids(other.pull(), "created") == ["n1"]


def test_replayed_push_after_lost_ack_changes_nothing_and_is_not_a_conflict() -> None:
    phone, other = Phone("p1"), Phone("p2")
    phone.pull()
    push = changes(created=[note("n1", title="first")])
    phone.push(push)
    other.pull()
    other.push(changes(updated=[{**note("n1", title="second"), "_status": "updated", "_changed": "title"}]))
    versions_before = SyncRow.objects.get(record_id="n1").field_versions

    replay = phone.push(push)  # the ack of the first push was lost; the app sends it again

    assert replay == {"experimentalRejectedIds": {}, "rejections": [], "conflicts": []}
    row = SyncRow.objects.get(record_id="n1")
    assert row.field_versions == versions_before
    assert orjson.loads(row.payload_json)["title"] == "second"


def test_replay_after_lost_ack_through_the_apps_next_sync_keeps_the_newer_value() -> None:
    phone, other = Phone("p1"), Phone("p2")
    phone.pull()
    push = changes(created=[note("n1", title="first")])
    phone.push(push)  # applied, but the acknowledgement is lost: the record stays pending
    other.pull()
    other.push(changes(updated=[{**other.local["n1"], "title": "second", "_changed": "title"}]))
    phone.pull()  # the app's next sync pulls first (its own row is suppressed, the other edit arrives)

    response = phone.push(push)

    assert response["conflicts"] == [] and response["rejections"] == []
    assert orjson.loads(SyncRow.objects.get(record_id="n1").payload_json)["title"] == "second"
    assert [r["title"] for r in phone.pull()["changes"][NOTES]["updated"]] == ["second"]


def test_created_for_an_existing_id_updates_it_and_a_missing_delete_is_a_no_op() -> None:
    phone = Phone("p1")
    phone.pull()
    phone.push(changes(created=[note("n1", title="one")]))
    phone.pull()

    response = phone.push(changes(created=[note("n1", title="two")], deleted=["never-existed"]))

    assert response["rejections"] == []
    assert orjson.loads(SyncRow.objects.get(record_id="n1").payload_json)["title"] == "two"
    assert SyncRow.objects.filter(record_id="never-existed").count() == 0


def test_disjoint_field_edits_merge() -> None:
    server_write("n1", title="t0", body="b0")
    a, b = Phone("a"), Phone("b")
    a.pull()
    b.pull()
    a.push(changes(updated=[{**a.local["n1"], "title": "from a", "_changed": "title"}]))

    response = b.push(
        changes(updated=[{**b.local["n1"], "commune_code": "20215", "body": "b0 seen", "_changed": "body"}])
    )

    assert response["conflicts"] == []
    payload = orjson.loads(SyncRow.objects.get(record_id="n1").payload_json)
    assert (payload["title"], payload["body"]) == ("from a", "b0 seen")


def test_same_field_edits_follow_each_policy() -> None:
    server_write("n1", title="t0", body="seen at gate", status="open", owner_name="Nguyễn Văn A")
    a, b = Phone("a"), Phone("b")
    a.pull()
    b.pull()
    a.push(
        changes(
            updated=[
                {**a.local["n1"], "title": "a", "body": "a saw", "status": "closed", "_changed": "title,body,status"}
            ]
        )
    )

    response = b.push(
        changes(
            updated=[
                {
                    **b.local["n1"],
                    "title": "b",
                    "body": "b saw",
                    "status": "escalated",
                    "owner_name": "Nguyễn Văn B",
                    "_changed": "title,body,status,owner_name",
                }
            ]
        )
    )

    outcomes = {c["field"]: (c["policy"], c["outcome"]) for c in response["conflicts"]}
    assert outcomes == {
        "title": ("merge", "device_value_applied"),
        "body": ("append", "appended"),
        "status": ("review", "server_value_kept_device_value_in_review"),
        "owner_name": ("authoritative", "rejected_for_review"),
    }
    payload = orjson.loads(SyncRow.objects.get(record_id="n1").payload_json)
    assert payload["title"] == "b"
    assert payload["body"] == "a saw\nb saw"
    assert payload["status"] == "closed"
    assert payload["owner_name"] == "Nguyễn Văn A"
    reviews = {r.field: (r.server_value, r.proposed_value) for r in ReviewItem.objects.all()}
    assert reviews == {"status": ("closed", "escalated"), "owner_name": ("Nguyễn Văn A", "Nguyễn Văn B")}


def test_one_bad_record_in_a_batch_of_three_is_rejected_alone_and_quarantined() -> None:
    phone = Phone("p1")
    phone.pull()

    response = phone.push(changes(created=[note("ok1"), note("bad", title="INVALID"), note("ok2")]))

    assert response["experimentalRejectedIds"] == {NOTES: ["bad"]}
    assert [(r["id"], r["code"]) for r in response["rejections"]] == [("bad", "sync_record_invalid")]
    assert sorted(SyncRow.objects.values_list("record_id", flat=True)) == ["ok1", "ok2"]
    item = QuarantinedRecord.objects.get()
    assert (item.record_id, item.payload["title"], item.device_id) == ("bad", "INVALID", phone.device.id)


def test_unknown_table_bad_id_and_out_of_scope_are_rejected_with_codes() -> None:
    phone = Phone("p1")
    phone.pull()
    bad = {
        "nope": {"created": [{"id": "x1"}], "updated": [], "deleted": []},
        NOTES: {"created": [note("bad id!"), note("far", commune_code="99999")], "updated": [], "deleted": []},
    }

    response = phone.push(bad)

    assert sorted((r["id"], r["code"]) for r in response["rejections"]) == [
        ("bad id!", "sync_record_id_invalid"),
        ("far", "sync_record_out_of_scope"),
        ("x1", "sync_table_unknown"),
    ]
    assert SyncRow.objects.count() == 0
    assert QuarantinedRecord.objects.count() == 3


def test_text_is_stored_nfc() -> None:
    phone = Phone("p1")
    phone.pull()

    phone.push(changes(created=[note("n1", title="Nguye\u0302\u0303n\u00a0 Va\u0306n")]))

    assert orjson.loads(SyncRow.objects.get(record_id="n1").payload_json)["title"] == "Nguy\u1ec5n V\u0103n"


def test_pages_end_on_transaction_boundaries_and_resume_after_interruption(settings: Any) -> None:
    from sync.writer import sync_transaction

    for batch in range(5):  # 5 transactions of 3 rows each
        with sync_transaction() as writer:
            for i in range(3):
                rid = f"r{batch}-{i}"
                writer.stage(table=NOTES, record_id=rid, payload=note(rid), scope_key="commune:20215")
    settings.FIELDSYNC_PULL_PAGE_ROWS = 4
    phone = Phone("p1")

    first = phone.pull()
    assert first["has_more"] is True
    assert ids(first, "created") == ["r0-0", "r0-1", "r0-2"]  # cut before splitting transaction 2
    interrupted_cursor = phone.cursor
    phone.pull()  # page 2 applied by the app... then the app is killed before saving its cursor
    phone.cursor = interrupted_cursor
    rest = phone.pull_all()

    assert sorted(phone.local) == sorted(f"r{b}-{i}" for b in range(5) for i in range(3))
    assert all(ids(p, "deleted") == [] for p in rest)
    assert rest[-1]["has_more"] is False


def test_record_leaving_the_scope_arrives_as_a_delete() -> None:
    server_write("n1", commune_code="20215")
    phone, elsewhere = Phone("p1"), Phone("p2", communes=("20220",))
    phone.pull()
    elsewhere.pull()

    server_write("n1", commune_code="20220")

    assert [ids(p, "deleted") for p in phone.pull_all()] == [[], ["n1"]]
    assert ids(elsewhere.pull(), "updated") == ["n1"]


def test_a_pending_edit_of_a_record_that_left_the_scope_is_quarantined_not_lost() -> None:
    server_write("n1", commune_code="20215")
    phone = Phone("p1")
    phone.pull()
    server_write("n1", commune_code="20220")
    phone.pull()  # the id alone, has_more: WatermelonDB pushes its pending edit now

    result = phone.push(changes(updated=[{**phone.local["n1"], "title": "sửa ngoại tuyến", "_changed": "title"}]))

    assert result["experimentalRejectedIds"] == {NOTES: ["n1"]}
    quarantined = QuarantinedRecord.objects.get()
    assert (quarantined.record_id, quarantined.code, quarantined.payload["title"]) == (
        "n1",
        "sync_record_out_of_scope",
        "sửa ngoại tuyến",
    )
    assert ids(phone.pull(), "deleted") == ["n1"]


def test_device_scope_change_deletes_removed_and_creates_added_records() -> None:
    server_write("in-a", commune_code="20215")
    server_write("in-b", commune_code="20220")
    phone = Phone("p1")
    phone.pull()
    assert sorted(phone.local) == ["in-a"]

    phone.scope_keys = frozenset({"commune:20220"})
    body, after_push = phone.pull_all()

    assert (ids(body, "deleted"), ids(body, "created")) == ([], ["in-b"])
    assert (ids(after_push, "deleted"), ids(after_push, "created")) == (["in-a"], [])
    assert sorted(phone.local) == ["in-b"]


@pytest.mark.parametrize("cursor", [999_999, -1])
def test_unknown_cursor_gets_an_empty_page_then_a_replacement_sync(cursor: int) -> None:
    server_write("n1")
    phone = Phone("p1")

    first = phone.pull(last_pulled_at=cursor)
    second = phone.pull()

    assert (first["has_more"], ids(first, "created"), "experimentalStrategy" in first) == (True, [], False)
    assert second["experimentalStrategy"] == "replacement"
    assert ids(second, "created") == ["n1"]


def test_another_devices_cursor_gets_a_replacement_sync() -> None:
    server_write("n1")
    a, b = Phone("a"), Phone("b")
    a.pull()

    b.pull(last_pulled_at=a.cursor)

    assert b.pull()["experimentalStrategy"] == "replacement"


def test_pending_edits_are_pushed_before_a_replacement_destroys_local_state() -> None:
    server_write("n1", title="server")
    phone = Phone("p1")
    phone.pull()
    phone.cursor = 10**9  # e.g. the server was restored from an older backup

    phone.pull()  # empty page, has_more: the app pushes now
    phone.push(changes(updated=[{**phone.local["n1"], "title": "offline edit", "_changed": "title"}]))
    body = phone.pull()

    assert body["experimentalStrategy"] == "replacement"
    assert phone.local["n1"]["title"] == "offline edit"


def test_server_value_kept_for_a_review_field_is_sent_back_to_the_device() -> None:
    server_write("n1", status="open")
    a, b = Phone("a"), Phone("b")
    a.pull()
    b.pull()
    a.push(changes(updated=[{**a.local["n1"], "status": "closed", "_changed": "status"}]))
    b.pull()  # WatermelonDB keeps b's local value for a locally changed column...

    b.push(changes(updated=[{**b.local["n1"], "status": "escalated", "_changed": "status"}]))

    assert ReviewItem.objects.get().proposed_value == "escalated"
    assert b.pull()["changes"][NOTES]["updated"][0]["status"] == "closed"


def test_normalised_text_is_sent_back_to_the_device_that_sent_it_decomposed() -> None:
    phone = Phone("p1")
    phone.pull()
    phone.push(changes(created=[note("n1", title="Lo\u0302\u0323c")]))

    body = phone.pull()

    # As `updated`: the device holds the record it created (WatermelonDB logs an error for a
    # `created` of a record it already has), and another device still gets it as `created`.
    assert [r["title"] for r in body["changes"][NOTES]["updated"]] == ["L\u1ed9c"]
    assert body["changes"][NOTES]["created"] == []
    assert ids(Phone("p2").pull(), "created") == ["n1"]


def test_a_record_recreated_after_the_devices_delete_comes_back_as_created() -> None:
    server_write("n1")
    phone = Phone("p1")
    phone.pull()
    phone.push(changes(deleted=["n1"]))
    server_write("n1", title="restored by the registry")

    body = phone.pull()

    assert ids(body, "created") == ["n1"] and ids(body, "updated") == []


def test_own_writes_pushed_during_a_paged_initial_sync_are_not_echoed(settings: Any) -> None:
    from sync.writer import sync_transaction

    for batch in range(3):  # 3 transactions of 3 rows each; pages of 7 rows: 6, then 3 + what was pushed
        with sync_transaction() as writer:
            for i in range(3):
                rid = f"r{batch}-{i}"
                writer.stage(table=NOTES, record_id=rid, payload=note(rid), scope_key="commune:20215")
    settings.FIELDSYNC_PULL_PAGE_ROWS = 7
    phone = Phone("p1")
    first = phone.pull()
    assert (first["has_more"], len(ids(first, "created"))) == (True, 6)
    # WatermelonDB pushes after every page: an officer records a note while the first sync runs.
    phone.push(changes(created=[note("mine")], updated=[{**phone.local["r0-0"], "title": "sửa", "_changed": "title"}]))

    rest = phone.pull_all()

    received = [record_id for page in rest for kind in ("created", "updated") for record_id in ids(page, kind)]
    assert sorted(received) == ["r2-0", "r2-1", "r2-2"]
    assert all(ids(page, "deleted") == [] for page in rest)


def test_old_app_gets_upgrade_error(settings: Any) -> None:
    settings.FIELDSYNC_MIN_SCHEMA_VERSION = 3
    phone = Phone("p1")

    with pytest.raises(AppVersionUnsupported) as caught:
        phone.pull(schema_version=2)

    assert caught.value.http_status == 426
    assert caught.value.details == {"schema_version": 2, "min_schema_version": 3}


def test_push_with_unknown_cursor_asks_for_a_pull_first() -> None:
    phone = Phone("p1")
    phone.cursor = 12345

    with pytest.raises(SyncCursorInvalid):
        phone.push(changes(created=[note("n1")]))

    assert SyncRow.objects.count() == 0


def test_idempotency_key_replays_the_stored_response() -> None:
    phone = Phone("p1")
    phone.pull()
    push = changes(created=[note("n1"), note("bad", title="INVALID")])
    first = phone.push(push, idempotency_key="k-1")

    again = phone.push(push, idempotency_key="k-1")

    assert again == first
    assert QuarantinedRecord.objects.count() == 1
    with pytest.raises(IdempotencyKeyReused):
        phone.push(changes(created=[note("n2")]), idempotency_key="k-1")


def test_a_pending_edit_of_a_record_leaving_the_scope_is_quarantined_even_past_the_device_quarantine_cap(
    settings: Any,
) -> None:
    # Refusing that push would lose the edit: the next pull deletes the record and WatermelonDB
    # applies a remote delete over local edits. Such edits have a ceiling ten times the cap.
    settings.FIELDSYNC_QUARANTINE_DEVICE_MAX_ITEMS = 1
    server_write("n1", commune_code="20215")
    phone = Phone("p1")
    phone.pull()
    assert phone.push({"retired": {"created": [{"id": "x1"}], "updated": [], "deleted": []}})["rejections"]
    server_write("n1", commune_code="20220")
    phone.pull()

    result = phone.push(changes(updated=[{**phone.local["n1"], "title": "sửa ngoại tuyến", "_changed": "title"}]))

    assert result["experimentalRejectedIds"] == {NOTES: ["n1"]}
    assert sorted(QuarantinedRecord.objects.values_list("record_id", "code")) == [
        ("n1", "sync_record_out_of_scope"),
        ("x1", "sync_table_unknown"),
    ]
