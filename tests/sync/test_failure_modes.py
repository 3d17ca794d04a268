"""Issue 3 §10 (and §6, §7, §9): each way other sync products lost, doubled, resurrected or leaked
records, as a scenario with simulated devices. Registry scenarios use mobile_contract's reference
client over HTTP (tests.sync.devices); engine scenarios use the in-process Phone of tests.sync.conftest.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.db import connection
from django.utils import timezone

from backend.accounts import services as accounts
from backend.accounts.models import Jurisdiction
from backend.registry import services as registry_services
from backend.registry.models import Check, Person
from mobile_contract.client import ApiError
from sync.models import (
    QuarantinedRecord,
    ReviewItem,
    SyncCheckpoint,
    SyncHead,
    SyncRow,
)
from sync.purge import sync_tombstones_purge
from sync.writer import sync_transaction
from tests.conftest import make_unit
from tests.registry.conftest import CAPTURED_AT_MS, COMMUNE_A, COMMUNE_B, check_values, make_drug_record, make_person
from tests.sync.conftest import NOTES, Phone, changes, note, server_write
from tests.sync.devices import Device, ResponseLost

pytestmark = pytest.mark.django_db(transaction=True)


def _ids(body: dict[str, Any], table: str, kind: str) -> list[str]:
    lists = body["changes"][table]
    return sorted(lists[kind] if kind == "deleted" else [r["id"] for r in lists[kind]])


def _server(table: str, record_id: str) -> dict[str, Any]:
    return dict(orjson.loads(SyncRow.objects.get(table=table, record_id=record_id).payload_json))


def _new_check(device: Device, **overrides: Any) -> str:
    return device.store.create("checks", {"id": str(uuid.uuid4()), **check_values(**overrides)})


# --- retried push after a lost acknowledgement ------------------------------------------------


def test_retried_push_after_a_lost_ack_applies_the_check_and_the_appended_note_once() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    phone, other = Device(username="c1", unit=unit), Device(username="c2", unit=unit)
    phone.synchronize()
    other.synchronize()
    check_id = _new_check(phone, person_id=str(person.id))
    phone.store.update("persons", str(person.id), {"notes": "Gặp ở chợ Đông Kinh"})
    phone.transport.lose_response("POST", "/sync/push")

    with pytest.raises(ResponseLost):
        phone.synchronize()  # the server applied the push; the phone never heard back
    report = phone.synchronize()  # the app retries: pull, then the same push again

    assert (report.rejected, report.conflicts) == ({}, [])
    assert Check.objects.filter(pk=check_id).count() == 1
    assert Person.objects.get(pk=person.pk).notes == "Gặp ở chợ Đông Kinh"  # APPEND did not double it
    assert QuarantinedRecord.objects.count() == 0 and ReviewItem.objects.count() == 0
    other.synchronize()
    assert other.rows("persons")[str(person.id)]["notes"] == "Gặp ở chợ Đông Kinh"
    assert list(other.rows("checks")) == [check_id]
    assert phone.rows("checks")[check_id]["_status"] == "synced"


# --- late-committing transaction vs cursor ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.usefixtures("notes_table")
def test_a_transaction_that_commits_after_a_pull_is_not_skipped_by_that_pull_cursor() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need FIELDSYNC_DATABASE_URL=postgres://...")
    phone = Phone("p1")
    phone.pull()
    started, release, errors = threading.Event(), threading.Event(), []

    def slow_writer() -> None:
        try:
            with sync_transaction() as writer:
                SyncRow.objects.filter(table="-none-").count()  # the transaction is open from here
                writer.stage(table=NOTES, record_id="late", payload=note("late"), scope_key="commune:20215")
                started.set()
                release.wait(timeout=30)  # slow work; it commits after the fast writer and the pull
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert started.wait(timeout=30)
    server_write("fast")  # starts later, commits first
    first = phone.pull()
    release.set()
    thread.join(timeout=30)
    second = phone.pull()

    assert errors == []
    assert (_ids(first, NOTES, "created"), _ids(second, NOTES, "created")) == (["fast"], ["late"])
    assert sorted(phone.local) == ["fast", "late"]


# --- skewed device clock ----------------------------------------------------------------------


def test_a_device_clock_years_ahead_decides_nothing_device_times_are_data() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    ahead, right = (
        Device(username="p1", unit=unit, role="patrol_officer"),
        Device(username="p2", unit=unit, role="patrol_officer"),
    )
    ahead.synchronize()
    right.synchronize()
    future_ms = CAPTURED_AT_MS + 3 * 365 * 24 * 3600 * 1000
    check_id = _new_check(ahead, captured_at=future_ms, result="NO_HIT")
    ahead.synchronize()
    right.synchronize()
    ahead.store.update("checks", check_id, {"result": "HIT_RECORD", "updated_at": future_ms})
    ahead.synchronize()  # first in server order, whatever its clock says
    right.store.update("checks", check_id, {"result": "OUT_OF_SCOPE"})

    report = right.synchronize()

    assert [(c["field"], c["outcome"]) for c in report.conflicts] == [("result", "device_value_applied")]
    assert _server("checks", check_id)["result"] == "OUT_OF_SCOPE"  # the later push wins
    assert _server("checks", check_id)["captured_at"] == future_ms  # kept as data, as sent
    ahead.synchronize()
    assert ahead.rows("checks")[check_id]["result"] == "OUT_OF_SCOPE"
    with pytest.raises(ApiError) as caught:  # an app that sends its clock as the cursor
        ahead.push({"checks": {"created": [], "updated": [], "deleted": []}}, last_pulled_at=future_ms)
    assert (caught.value.status, caught.value.code) == (409, "sync_cursor_invalid")


# --- create -> sync -> delete -> sync, then a fresh device -----------------------------------


def test_created_synced_deleted_synced_then_a_fresh_device_gets_neither_record_nor_tombstone() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    phone = Device(username="p1", unit=unit, role="patrol_officer")
    phone.synchronize()
    check_id = _new_check(phone)
    phone.synchronize()
    phone.store.delete("checks", check_id)
    phone.synchronize()

    fresh = Device(username="p2", unit=unit, role="patrol_officer")
    pages = fresh.pull_bodies()

    assert all(check_id not in page["changes"]["checks"]["deleted"] for page in pages)
    assert all(page["changes"][t]["deleted"] == [] for page in pages for t in page["changes"])
    assert check_id not in fresh.rows("checks")
    assert Check.objects.get(pk=check_id).is_archived is True  # closed on the server, not destroyed
    assert phone.pull_bodies()[0]["changes"]["checks"] == {"created": [], "updated": [], "deleted": []}


# --- tombstones purged before an old device returns with edits ---------------------------------


@pytest.mark.usefixtures("notes_table")
def test_after_a_purge_an_old_device_pushes_first_then_gets_a_replacement_and_nothing_resurrects() -> None:
    for rid in ("kept", "deleted", "moved"):
        server_write(rid)
    old = Phone("old")
    old.pull()
    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id="deleted", payload=None, scope_key="commune:20215")
    server_write("moved", commune_code="99999")
    later = timezone.now() + timedelta(days=181)
    purged = sync_tombstones_purge(now=later)
    assert (purged.tombstone_count, purged.exit_count) == (1, 1)

    empty = old.pull()  # the device comes back: its cursor is below the purge watermark
    response = old.push(
        changes(
            updated=[
                {**old.local["kept"], "title": "offline edit", "_status": "updated", "_changed": "title"},
                {**old.local["deleted"], "title": "edit of a deleted note", "_status": "updated", "_changed": "title"},
            ]
        )
    )
    replacement = old.pull()

    assert (empty["has_more"], _ids(empty, NOTES, "created"), "experimentalStrategy" in empty) == (True, [], False)
    assert response["experimentalRejectedIds"] == {NOTES: ["deleted"]}
    assert [r["code"] for r in response["rejections"]] == ["sync_record_deleted"]
    quarantined = QuarantinedRecord.objects.get()
    assert (quarantined.record_id, quarantined.payload["title"]) == ("deleted", "edit of a deleted note")
    assert SyncRow.objects.filter(record_id="deleted").count() == 0  # not resurrected
    assert replacement["experimentalStrategy"] == "replacement"
    assert sorted(old.local) == ["kept"]
    assert old.local["kept"]["title"] == "offline edit"


# --- scope revoked while the device holds the records (a commune leaves on a date) ---------------


def test_a_commune_leaving_the_jurisdiction_on_a_date_deletes_its_records_from_that_date() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    drug = make_drug_record(person=person)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()
    held = {t: set(phone.rows(t)) for t in ("persons", "residences", "criminal_records", "drug_use_records")}
    assert held["persons"] == {str(person.id)} and held["drug_use_records"] == {str(drug.id)}
    jurisdiction = Jurisdiction.objects.get(unit=unit, commune_code=COMMUNE_A)
    jurisdiction.valid_to = timezone.localdate() + timedelta(days=1)  # leaves tomorrow
    jurisdiction.save(update_fields=["valid_to"])

    phone.synchronize()
    still = {t: set(phone.rows(t)) for t in held}
    jurisdiction.valid_to = timezone.localdate()  # the date has come
    jurisdiction.save(update_fields=["valid_to"])
    pages = phone.pull_bodies()

    assert still == held
    deleted = {t: {i for page in pages for i in page["changes"][t]["deleted"]} for t in held}
    assert deleted == held
    assert all(phone.rows(t) == {} for t in held)


def test_an_edit_pushed_for_a_record_no_longer_in_scope_is_quarantined_not_applied() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()
    cursor = phone.store.last_pulled_at
    assert cursor is not None
    Jurisdiction.objects.filter(unit=unit).update(valid_to=timezone.localdate())
    row = {**phone.rows("persons")[str(person.id)], "notes": "ghi chú", "_status": "updated", "_changed": "notes"}

    response = phone.push({"persons": {"created": [], "updated": [row], "deleted": []}}, last_pulled_at=cursor)

    assert response["experimentalRejectedIds"] == {"persons": [str(person.id)]}
    assert response["rejections"][0]["code"] == "sync_record_out_of_scope"
    assert Person.objects.get(pk=person.pk).notes == ""
    assert QuarantinedRecord.objects.get().payload["notes"] == "ghi chú"


# --- §6 officer moved to another unit -----------------------------------------------------------


def test_an_officer_moved_to_another_unit_gets_the_old_units_records_deleted_and_nothing_of_the_new() -> None:
    old_unit = make_unit(code="CXA", communes=(COMMUNE_A,))
    new_unit = make_unit(code="CXB", communes=("20230",))
    person = make_person(commune=COMMUNE_A)
    make_person(commune="20230", full_name="Lý Thị Mai")
    phone = Device(username="c1", unit=old_unit)
    check_id = _new_check(phone)
    phone.synchronize()
    assert set(phone.rows("persons")) == {str(person.id)} and set(phone.rows("checks")) == {check_id}

    phone.officer.unit = new_unit
    phone.officer.save(update_fields=["unit"])
    pages = phone.pull_bodies()

    deleted = {t: {i for page in pages for i in page["changes"][t]["deleted"]} for t in ("persons", "checks")}
    assert deleted == {"persons": {str(person.id)}, "checks": {check_id}}
    assert all(rows == {} for rows in phone.store.tables.values())


# --- §6 drug-use management period ending ------------------------------------------------------


def test_an_ended_drug_use_period_reaches_holders_closed_then_deleted_and_the_person_stays() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    drug = make_drug_record(person=person)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()

    registry_services.drug_record_end(record_id=drug.id, end_date=timezone.localdate())
    pages = phone.pull_bodies()

    assert [r["status"] for r in pages[0]["changes"]["drug_use_records"]["updated"]] == ["ended"]
    assert pages[0]["has_more"] is True
    assert pages[-1]["changes"]["drug_use_records"]["deleted"] == [str(drug.id)]
    assert phone.rows("drug_use_records") == {}
    assert set(phone.rows("persons")) == {str(person.id)}


# --- remote delete (archive) of a record with pending local edits ------------------------------


def test_a_check_archived_elsewhere_while_a_phone_edits_it_keeps_the_edit_in_quarantine() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    editor, deleter = (
        Device(username="p1", unit=unit, role="patrol_officer"),
        Device(username="p2", unit=unit, role="patrol_officer"),
    )
    check_id = _new_check(editor, notes="")
    editor.synchronize()
    deleter.synchronize()
    editor.store.update("checks", check_id, {"notes": "Đối tượng khai báo đi Hà Nội"})
    deleter.store.delete("checks", check_id)
    deleter.synchronize()

    report = editor.synchronize()

    assert report.rejected == {"checks": [check_id]}
    item = QuarantinedRecord.objects.get(record_id=check_id)
    assert (item.code, item.payload["notes"], item.device_id) == (
        "sync_record_deleted",
        "Đối tượng khai báo đi Hà Nội",
        editor.device.id,
    )
    assert Check.objects.get(pk=check_id).is_archived is True
    assert check_id not in editor.rows("checks")  # the delete came only after the edit was pushed


# --- edit between pull and push ------------------------------------------------------------------


def test_a_server_edit_between_the_pull_and_the_push_of_one_sync_merges_per_field() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()
    phone.store.update("persons", str(person.id), {"notes": "thiết bị", "management_status": "monitored"})
    phone.transport.before(
        "POST",
        "/sync/push",
        lambda: registry_services.person_update(
            person_id=person.id, changes={"notes": "máy chủ", "management_status": "probation"}
        ),
    )

    report = phone.synchronize()

    outcomes = sorted((c["field"], c["outcome"]) for c in report.conflicts)
    assert outcomes == [("management_status", "device_value_applied"), ("notes", "appended")]
    stored = Person.objects.get(pk=person.pk)
    # APPEND joins with a newline; the person's text normalisation then folds it into a space.
    assert (stored.notes, stored.management_status) == ("máy chủ\nthiết bị", "monitored")
    phone.synchronize()
    assert phone.rows("persons")[str(person.id)]["notes"] == "máy chủ\nthiết bị"


# --- offline chain of two updates arriving out of order ------------------------------------------


@pytest.mark.usefixtures("notes_table")
def test_a_delayed_older_push_arriving_after_a_newer_one_does_not_revert_it() -> None:
    server_write("n1", title="t0")
    phone = Phone("p1")
    phone.pull()
    first = changes(updated=[{**phone.local["n1"], "title": "first edit", "_status": "updated", "_changed": "title"}])
    first_cursor = phone.cursor
    phone.push(first)  # applied, but its answer is lost; the app syncs again later with more edits
    phone.pull()
    phone.push(changes(updated=[{**phone.local["n1"], "title": "second edit", "_changed": "title"}]))

    phone.cursor = first_cursor
    late = phone.push(first)  # the first request, delayed in the network, arrives now

    assert (late["rejections"], late["conflicts"]) == ([], [])
    assert _server(NOTES, "n1")["title"] == "second edit"


# --- one bad record in a batch of three (through the client, then fixed and replayed) -----------


def test_one_bad_check_in_a_batch_of_three_is_quarantined_whole_and_the_others_apply() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    phone = Device(username="p1", unit=unit, role="patrol_officer")
    phone.synchronize()
    good = [_new_check(phone), _new_check(phone)]
    bad = _new_check(phone, latitude=123.0)

    report = phone.synchronize()

    assert report.rejected == {"checks": [bad]}
    assert set(Check.objects.values_list("id", flat=True)) == {uuid.UUID(g) for g in good}
    item = QuarantinedRecord.objects.get()
    assert (item.record_id, item.code, item.payload["latitude"], item.officer_id) == (
        bad,
        "sync_record_invalid",
        123.0,
        phone.officer.pk,
    )
    assert phone.rows("checks")[bad]["_status"] == "created"  # still pending on the phone


# --- huge initial sync cut at 80% ----------------------------------------------------------------


@pytest.mark.usefixtures("notes_table")
def test_an_initial_sync_cut_at_80_percent_resumes_from_the_last_page_not_from_zero(settings: Any) -> None:
    for batch in range(20):
        with sync_transaction() as writer:
            for i in range(25):
                rid = f"n{batch:02d}-{i:02d}"
                writer.stage(table=NOTES, record_id=rid, payload=note(rid), scope_key="commune:20215")
    settings.FIELDSYNC_PULL_PAGE_ROWS = 50  # 500 rows: 10 pages
    phone = Device(username="c1", unit=make_unit(code="CX", communes=("20215",)))
    for _ in range(8):
        body = phone.pull(last_pulled_at=phone.store.last_pulled_at)
        phone.store.apply_pull(body)
        phone.store.last_pulled_at = int(body["timestamp"])
    saved_cursor = phone.store.last_pulled_at
    phone.transport.lose_response("GET", "/sync/pull")
    with pytest.raises(ResponseLost):
        phone.synchronize()  # the 9th page is lost with the connection (80% done)
    report = phone.synchronize()

    assert len(phone.rows(NOTES)) == 500
    assert report.pulled_rows == 100 and report.pages == 2  # the last fifth, not everything again
    assert phone.transport.requests[-2][1].count(f"last_pulled_at={saved_cursor}") == 1


# --- server restored from an older backup ----------------------------------------------------------


@pytest.mark.usefixtures("notes_table")
def test_a_server_restored_from_an_older_backup_sends_a_replacement_after_the_pending_push() -> None:
    server_write("before-backup")
    backup_seq = SyncHead.objects.get().seq
    phone = Phone("p1")
    server_write("after-backup")
    phone.pull()
    assert SyncCheckpoint.objects.get(pk=phone.cursor).seq > backup_seq
    # Restore: everything written after the backup is gone; the head goes back (the device's
    # checkpoint row survived, e.g. restored from a lagging copy, so its seq is now ahead of the head).
    SyncRow.objects.filter(seq__gt=backup_seq).delete()
    SyncHead.objects.update(seq=backup_seq)

    first = phone.pull()
    edit = {**phone.local["before-backup"], "title": "offline", "_status": "updated", "_changed": "title"}
    response = phone.push(changes(updated=[edit]))
    second = phone.pull()

    assert (first["has_more"], _ids(first, NOTES, "created"), "experimentalStrategy" in first) == (True, [], False)
    assert response["rejections"] == []
    assert second["experimentalStrategy"] == "replacement"
    assert sorted(phone.local) == ["before-backup"]
    assert phone.local["before-backup"]["title"] == "offline"


# --- two officers editing the same field of the same person -------------------------------------


def test_two_officers_editing_the_same_person_fields_get_each_fields_policy() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    a, b = Device(username="c1", unit=unit), Device(username="c2", unit=unit)
    a.synchronize()
    b.synchronize()
    pid = str(person.id)
    a.store.update("persons", pid, {"management_status": "monitored", "notes": "A: đi làm ăn xa"})
    b.store.update("persons", pid, {"management_status": "probation", "notes": "B: đã về", "full_name": "Tên Khác"})
    a.synchronize()

    report = b.synchronize()

    assert sorted((c["field"], c["policy"], c["outcome"]) for c in report.conflicts) == [
        ("full_name", "authoritative", "rejected_for_review"),
        ("management_status", "merge", "device_value_applied"),
        ("notes", "append", "appended"),
    ]
    stored = Person.objects.get(pk=person.pk)
    assert (stored.management_status, stored.notes, stored.full_name) == (
        "probation",
        "A: đi làm ăn xa\nB: đã về",
        "Nguyễn Văn Hòa",
    )
    assert ReviewItem.objects.get().proposed_value == "Tên Khác"
    a.synchronize()
    b.synchronize()
    for device in (a, b):
        local = device.rows("persons")[pid]
        assert (local["management_status"], local["notes"], local["full_name"]) == (
            "probation",
            "A: đi làm ăn xa\nB: đã về",
            "Nguyễn Văn Hòa",
        )


# --- §6 a revoked device gets a wipe instruction and nothing else --------------------------------


def test_a_revoked_device_gets_only_the_wipe_instruction_on_every_endpoint() -> None:
    unit = make_unit(code="BP", communes=(COMMUNE_A,))
    make_person(commune=COMMUNE_A)
    phone = Device(username="p1", unit=unit, role="patrol_officer")
    phone.synchronize()
    cursor = phone.store.last_pulled_at
    assert cursor is not None
    check_id = _new_check(phone)
    checkpoints = SyncCheckpoint.objects.count()
    accounts.device_revoke(actor=None, device=phone.device, reason="lost at the checkpoint")

    answers = []
    for call in (
        lambda: phone.pull(last_pulled_at=cursor),
        lambda: phone.pull(last_pulled_at=None),
        lambda: phone.push(phone.store.local_changes(), last_pulled_at=cursor),
        lambda: phone.request("GET", "/api/v1/persons/search", params={"q": "Nguyễn"}),
        lambda: phone.upload_photo(b"\xff\xd8\xff" + b"0" * 100),
        lambda: phone.face_search_start(photo_sha256="a" * 64, purpose="BORDER_CROSSING", case_reference="x"),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        answers.append((caught.value.status, caught.value.code))

    assert answers == [(403, "device_wipe_required")] * 6
    assert SyncCheckpoint.objects.count() == checkpoints
    assert not Check.objects.filter(pk=check_id).exists()


# --- §7 the tombstone window setting -------------------------------------------------------------


@pytest.mark.usefixtures("notes_table")
def test_the_offline_window_setting_decides_which_cursors_get_a_replacement(
    settings: Any,
) -> None:
    settings.FIELDSYNC_MAX_OFFLINE_DAYS = 30
    server_write("n1")
    recent, old = Phone("recent"), Phone("old")
    recent.pull()
    old.pull()
    SyncCheckpoint.objects.filter(pk=recent.cursor).update(created_at=timezone.now() - timedelta(days=29))
    SyncCheckpoint.objects.filter(pk=old.cursor).update(created_at=timezone.now() - timedelta(days=31))
    server_write("n2")

    recent_body, old_body = recent.pull(), old.pull()
    replacement = old.pull()

    assert (_ids(recent_body, NOTES, "created"), recent_body["has_more"]) == (["n2"], False)
    assert (_ids(old_body, NOTES, "created"), old_body["has_more"]) == ([], True)  # push first, then replace
    assert replacement["experimentalStrategy"] == "replacement"


@pytest.mark.usefixtures("notes_table")
def test_the_purge_keeps_tombstones_younger_than_the_offline_window_setting(settings: Any) -> None:
    settings.FIELDSYNC_MAX_OFFLINE_DAYS = 30
    for rid in ("old", "young"):
        server_write(rid)
        with sync_transaction() as writer:
            writer.stage(table=NOTES, record_id=rid, payload=None, scope_key="commune:20215")
    SyncRow.objects.filter(record_id="old").update(changed_at=timezone.now() - timedelta(days=31))
    SyncRow.objects.filter(record_id="young").update(changed_at=timezone.now() - timedelta(days=29))

    purged = sync_tombstones_purge()

    assert purged.tombstone_count == 1
    assert list(SyncRow.objects.values_list("record_id", flat=True)) == ["young"]
    assert purged.purged_through_seq == SyncRow.objects.get(record_id="young").seq - 2


# --- §9 schema versions -------------------------------------------------------------------------

TAGS = "field_tags"


@pytest.fixture
def schema_v2_tables() -> Any:
    """The notes table with a column added in schema 2, and a table added in schema 2."""
    from sync import registry
    from sync.registry import Column, ColumnType, SyncedTable
    from tests.sync.conftest import NOTES_TABLE

    notes_v2 = SyncedTable(
        name=NOTES,
        columns=(*NOTES_TABLE.columns, Column("priority", ColumnType.STRING, added_in_schema_version=2)),
        apply=NOTES_TABLE.apply,
        archive=NOTES_TABLE.archive,
    )
    tags = SyncedTable(name=TAGS, columns=(Column("label", ColumnType.STRING),), added_in_schema_version=2)
    registry._TABLES[NOTES], registry._TABLES[TAGS] = notes_v2, tags
    yield
    registry._TABLES.pop(NOTES, None)
    registry._TABLES.pop(TAGS, None)


@pytest.mark.usefixtures("schema_v2_tables")
def test_a_migration_sync_sends_the_rows_of_added_tables_and_of_rows_with_added_columns_set() -> None:
    server_write("plain", priority="")
    server_write("urgent", priority="high")
    with sync_transaction() as writer:
        writer.stage(table=TAGS, record_id="t1", payload={"id": "t1", "label": "biên giới"}, scope_key="commune:20215")
    phone = Phone("p1")
    phone.pull(schema_version=1)  # an app at schema 1: it drops the columns and tables it lacks
    server_write("later", priority="")
    from sync.pull import migration_parse

    migration = {"from": 1, "tables": [TAGS], "columns": [{"table": NOTES, "columns": ["priority"]}]}
    body = phone.pull(schema_version=2, migration=migration_parse(migration))
    plain_delta = Phone("p2")
    plain_delta.pull(schema_version=2)
    no_migration = plain_delta.pull(schema_version=2)

    assert _ids(body, TAGS, "created") == ["t1"]
    assert _ids(body, NOTES, "created") == ["later"]
    assert _ids(body, NOTES, "updated") == ["urgent"]  # "plain" has nothing new for the app
    assert [r["priority"] for r in body["changes"][NOTES]["updated"]] == ["high"]
    assert no_migration["changes"][TAGS] == {"created": [], "updated": [], "deleted": []}


def test_an_app_below_the_minimum_schema_version_gets_the_upgrade_error_code(settings: Any) -> None:
    settings.FIELDSYNC_MIN_SCHEMA_VERSION = 2
    phone = Device(username="p1", unit=make_unit(code="BP", communes=(COMMUNE_A,)), role="patrol_officer")
    phone.schema_version = 1

    with pytest.raises(ApiError) as caught:
        phone.synchronize()

    assert (caught.value.status, caught.value.code) == (426, "app_version_unsupported")
    assert caught.value.details == {"schema_version": 1, "min_schema_version": 2}
    assert SyncCheckpoint.objects.count() == 0


# --- deletes that would destroy pending local edits ---------------------------------------------


def test_a_person_moving_commune_while_a_phone_holds_a_pending_note_keeps_the_note_in_quarantine() -> None:
    unit = make_unit(code="CXA", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()
    phone.store.update("persons", str(person.id), {"notes": "Đã chuyển đi, còn nợ tiền thuê nhà"})

    registry_services.residence_move(person_id=person.id, ward_code=COMMUNE_B, moved_on=timezone.localdate())
    report = phone.synchronize()  # WatermelonDB applies a remote delete even over local edits

    assert report.rejected == {"persons": [str(person.id)]}
    item = QuarantinedRecord.objects.get()
    assert (item.code, item.payload["notes"]) == ("sync_record_out_of_scope", "Đã chuyển đi, còn nợ tiền thuê nhà")
    assert phone.rows("persons") == {} and phone.rows("residences") == {}
    assert Person.objects.get(pk=person.pk).notes == ""


def test_a_jurisdiction_ending_while_a_phone_holds_a_pending_edit_keeps_the_edit_in_quarantine() -> None:
    unit = make_unit(code="CX", communes=(COMMUNE_A,))
    person = make_person(commune=COMMUNE_A)
    phone = Device(username="c1", unit=unit)
    phone.synchronize()
    phone.store.update("persons", str(person.id), {"management_status": "monitored"})

    Jurisdiction.objects.filter(unit=unit).update(valid_to=timezone.localdate())
    report = phone.synchronize()

    assert report.rejected == {"persons": [str(person.id)]}
    assert QuarantinedRecord.objects.get().payload["management_status"] == "monitored"
    assert phone.rows("persons") == {}
    assert phone.synchronize().pulled_rows == 0  # the scope change is done, not repeated


@pytest.mark.usefixtures("notes_table")
def test_a_hard_delete_reaches_a_holder_with_a_pending_edit_only_after_its_push() -> None:
    server_write("n1")
    phone = Phone("p1")
    phone.pull()
    with sync_transaction() as writer:
        writer.stage(table=NOTES, record_id="n1", payload=None, scope_key="commune:20215")

    first = phone.pull()
    response = phone.push(changes(updated=[{**phone.local["n1"], "title": "offline", "_changed": "title"}]))
    second = phone.pull()

    assert (first["has_more"], _ids(first, NOTES, "deleted")) == (True, [])
    assert [r["code"] for r in response["rejections"]] == ["sync_record_deleted"]
    assert QuarantinedRecord.objects.get().payload["title"] == "offline"
    assert (_ids(second, NOTES, "deleted"), second["has_more"]) == (["n1"], False)
