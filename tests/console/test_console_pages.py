"""The sync administrator console through Django's test Client: every page, every action, every role."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone
from sqlalchemy import Engine

from backend.accounts.models import Device, DeviceStatus, DeviceToken, Officer
from backend.audit.models import AuditEvent
from backend.console.legacy_registry import legacy_person_insert, legacy_person_update
from backend.core.text import unicode_to_tcvn3
from backend.registry.bridge_mapping import person_record_id
from backend.registry.models import Check, DrugUseRecord, Person
from media_store.models import Upload, UploadState
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus, SyncRow
from sync.registry_bridge.engine import bridge_sync
from sync.registry_bridge.models import BridgeRun
from sync.registry_bridge.source import SqlRegistrySource
from tests.conftest import TEST_PASSWORD, make_officer, make_unit
from tests.console.conftest import Phone, console_client, make_drug_conflict, make_pushed_quarantine
from tests.registry.conftest import COMMUNE_A, make_person
from tests.registry_bridge.conftest import OLD_KIEN_MOC, person_columns

pytestmark = pytest.mark.django_db

PAGES = ["/console/devices/", "/console/reviews/", "/console/quarantine/", "/console/bridge/", "/console/audit/"]


def _actions(prefix: str = "") -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("id").values_list("action", flat=True))


def _text(response: Any) -> str:
    return str(response.content.decode())


# --- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_anonymous_visitor_is_sent_to_the_login_page(page: str) -> None:
    response = Client().get(page)

    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=")


def test_a_field_officer_cannot_log_in_to_the_console(patrol: Officer) -> None:
    client = Client()

    response = client.post("/console/login/", {"username": "patrol", "password": TEST_PASSWORD})

    assert response.status_code == 200
    assert "for central sync administrators and auditors" in _text(response)
    assert client.get("/console/devices/").status_code == 302  # no session was made
    assert _actions("console.") == []


@pytest.mark.parametrize("page", PAGES)
def test_a_field_officer_with_a_session_gets_403_on_every_page(patrol: Officer, page: str) -> None:
    client = Client()
    client.force_login(patrol)

    assert client.get(page).status_code == 403


def test_a_field_officer_with_a_session_cannot_resolve_a_review(patrol: Officer) -> None:
    conflict = make_drug_conflict()
    client = Client()
    client.force_login(patrol)

    response = client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_device"})

    assert response.status_code == 403
    assert ReviewItem.objects.get(pk=conflict.item.pk).status == ReviewStatus.OPEN


@pytest.mark.parametrize("page", PAGES)
def test_an_auditor_reads_every_page_without_action_buttons(auditor: Officer, page: str) -> None:
    make_drug_conflict()
    client = console_client(auditor)

    response = client.get(page)

    assert response.status_code == 200
    assert "read-only" in _text(response)
    assert 'name="resolution"' not in _text(response)
    assert "Revoke</button>" not in _text(response)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/reviews/{item}/resolve/", {"resolution": "take_device"}),
        ("/console/devices/{device}/revoke/", {"reason": "lost"}),
        ("/console/devices/enroll/", {"unit_id": "{unit}", "label": "x"}),
        ("/console/quarantine/{quarantined}/", {"action": "discard"}),
        ("/console/bridge/run/", {}),
    ],
)
def test_an_auditor_gets_403_on_every_action_and_nothing_changes(
    auditor: Officer, path: str, data: dict[str, str]
) -> None:
    conflict = make_drug_conflict()
    quarantined = make_pushed_quarantine(phone=conflict.first, person_id=str(conflict.drug.person_id))
    ids = {"item": conflict.item.id, "device": conflict.first.officer.current_devices.get().id}
    ids |= {"unit": conflict.first.officer.unit_id, "quarantined": quarantined.id}
    client = console_client(auditor)
    before = AuditEvent.objects.count()

    response = client.post(path.format(**ids), {k: v.format(**ids) for k, v in data.items()})

    assert response.status_code == 403
    assert AuditEvent.objects.count() == before
    assert ReviewItem.objects.get(pk=conflict.item.pk).status == ReviewStatus.OPEN
    assert QuarantinedRecord.objects.get(pk=quarantined.pk).status == QuarantineStatus.OPEN
    assert Device.objects.filter(status=DeviceStatus.REVOKED).count() == 0
    assert Device.objects.count() == 2 and BridgeRun.objects.count() == 0


def test_login_with_the_production_argon2_hasher_and_logout_are_audited(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    admin = make_officer(username="admin", unit=None, role="sync_admin")
    assert admin.password.startswith("argon2")
    client = console_client(admin)

    client.post("/console/logout/")

    assert _actions("console.") == ["console.login", "console.logout"]
    assert client.get("/console/devices/").status_code == 302


# --- device fleet ---------------------------------------------------------------------------------


def test_fleet_shows_sync_health_sorted_by_unit_in_vietnamese_order(admin: Officer) -> None:
    binh = Phone(username="o1", unit=make_unit(code="BN", communes=(COMMUNE_A,)), label="máy Bình Nghi")
    bac = Phone(username="o2", unit=make_unit(code="BS", communes=(COMMUNE_A,)), label="máy Bắc Sơn")
    from backend.accounts.models import Unit

    Unit.objects.filter(code="BN").update(name="Đồn Bình Nghi")
    Unit.objects.filter(code="BS").update(name="Đồn Bắc Sơn")
    binh.pull()
    device = Device.objects.get(label="máy Bình Nghi")
    Device.objects.filter(pk=device.pk).update(last_pull_at=timezone.now() - timedelta(hours=3))
    Upload.objects.create(
        device=device,
        length_bytes=10,
        declared_sha256="a" * 64,
        state=UploadState.RECEIVING,
        expires_at=timezone.now() + timedelta(days=1),
    )
    client = console_client(admin)

    page = _text(client.get("/console/devices/"))

    assert page.index("Đồn Bắc Sơn") < page.index("Đồn Bình Nghi")  # code-point order would invert them
    binh_row = re.search(rf'<tr data-device="{device.pk}">(.*?)</tr>', page, re.S)
    assert binh_row is not None
    cells = re.findall(r"<td>(.*?)</td>", binh_row.group(1), re.S)
    assert [c.strip() for c in cells[:3]] == ["Đồn Bình Nghi", "máy Bình Nghi", "o1"]
    assert cells[6].strip() == "3\xa0hours"  # lag since the last pull
    assert cells[7].strip() == "0"  # nothing new since its cursor
    assert cells[8].strip() == "1"  # one upload still receiving bytes
    assert bac.cursor is None and "never" in page


def test_fleet_tells_a_revoked_device_from_one_that_acknowledged_its_wipe(admin: Officer) -> None:
    from backend.accounts.services import device_revoke, device_wipe_acknowledge

    unit = make_unit(code="BN", communes=(COMMUNE_A,))
    Phone(username="o1", unit=unit, label="máy còn dùng")
    Phone(username="o2", unit=unit, label="máy mất")
    Phone(username="o3", unit=unit, label="máy đã xoá")
    lost, wiped = Device.objects.get(label="máy mất"), Device.objects.get(label="máy đã xoá")
    device_revoke(actor=admin, device=lost, reason="mất máy")
    device_revoke(actor=admin, device=wiped, reason="thu hồi")
    device_wipe_acknowledge(device=wiped)
    client = console_client(admin)

    page = _text(client.get("/console/devices/"))

    def status_cell(device: Device) -> str:
        row = re.search(rf'<tr data-device="{device.pk}">(.*?)</tr>', page, re.S)
        assert row is not None
        return re.sub(r"<[^>]+>", "", re.findall(r"<td>(.*?)</td>", row.group(1), re.S)[3]).strip()

    in_use = Device.objects.get(label="máy còn dùng")
    assert (status_cell(in_use), status_cell(lost), status_cell(wiped)) == ("Active", "revoked", "wiped")
    assert "Revoke</button>" in page.split(f'data-device="{in_use.pk}"')[1].split("</tr>")[0]
    assert "Revoke</button>" not in page.split(f'data-device="{wiped.pk}"')[1].split("</tr>")[0]
    filtered = _text(client.get("/console/devices/?status=wiped"))
    assert "máy đã xoá" in filtered and "máy mất" not in filtered and "máy còn dùng" not in filtered


def test_admin_revokes_a_device_from_the_fleet_and_it_is_audited(admin: Officer) -> None:
    phone = Phone(username="o1", unit=make_unit(code="BN", communes=(COMMUNE_A,)), label="lost phone")
    device = Device.objects.get(label="lost phone")
    client = console_client(admin)

    response = client.post(f"/console/devices/{device.pk}/revoke/", {"reason": "mất máy"}, follow=True)

    device.refresh_from_db()
    assert device.status == DeviceStatus.REVOKED and device.revoked_reason == "mất máy"
    assert not DeviceToken.objects.filter(device=device, revoked_at__isnull=True).exists()
    assert "revoked" in _text(response)
    event = AuditEvent.objects.get(action="device.revoked")
    assert (event.actor_officer_id, event.target_id) == (admin.pk, str(device.pk))
    pull = phone.client.get("/api/v1/sync/pull?schema_version=1", headers={"Authorization": f"Bearer {phone.token}"})
    assert pull.status_code in {401, 403, 410}


def test_admin_enrolls_a_device_and_sees_the_code_once(admin: Officer) -> None:
    unit = make_unit(code="HN", communes=(COMMUNE_A,))
    client = console_client(admin)

    response = client.post("/console/devices/enroll/", {"unit_id": unit.pk, "label": "Hữu Nghị 3"})

    code = re.search(r'data-testid="enrollment-code">([^<]+)<', _text(response))
    assert response.status_code == 200 and code is not None
    device = Device.objects.get(label="Hữu Nghị 3")
    assert device.status == DeviceStatus.PENDING and device.unit_id == unit.pk
    enrolled = Client().post(
        "/api/v1/devices/enroll", {"enrollment_code": code.group(1), "label": "x"}, content_type="application/json"
    )
    assert enrolled.status_code == 200, enrolled.content
    assert AuditEvent.objects.filter(action="device.enrollment_code_issued", actor_officer_id=admin.pk).count() == 1


def test_unknown_device_and_bad_ids_are_404_not_500(admin: Officer) -> None:
    client = console_client(admin)

    assert client.post("/console/devices/not-a-uuid/revoke/").status_code == 404
    assert client.post("/console/reviews/00000000-0000-0000-0000-000000000000/resolve/").status_code == 404
    assert client.post("/console/quarantine/zzz/", {"action": "discard"}).status_code == 404


# --- conflict review ------------------------------------------------------------------------------


def test_review_page_shows_server_and_device_values_side_by_side(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)

    page = _text(client.get("/console/reviews/"))

    row = re.search(rf'<tr data-review="{conflict.item.pk}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "Nông Văn Bắc" in row.group(1)
    assert re.search(r'data-testid="server-value">07/QĐ-UBND<', row.group(1))
    assert re.search(r'data-testid="device-value">09/QĐ-UBND<', row.group(1))
    assert "Máy Đồng Đăng 2" in row.group(1)


def test_review_list_is_sorted_by_person_name_in_vietnamese_order(admin: Officer) -> None:
    make_drug_conflict(person_name="Lương Văn Bình", prefix="a")
    make_drug_conflict(person_name="Lương Văn Bắc", prefix="b")
    client = console_client(admin)

    page = _text(client.get("/console/reviews/"))
    oldest = _text(client.get("/console/reviews/?sort=oldest"))

    assert page.index("Lương Văn Bắc") < page.index("Lương Văn Bình")
    assert oldest.index("Lương Văn Bình") < oldest.index("Lương Văn Bắc")


def test_take_device_reaches_every_phone_in_scope_on_the_next_pull_and_is_audited(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)

    client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_device", "note": "đã xác minh"})

    item = ReviewItem.objects.get(pk=conflict.item.pk)
    assert (item.status, item.resolved_value, item.resolved_by_id) == (ReviewStatus.TOOK_DEVICE, "09/QĐ-UBND", admin.pk)
    assert DrugUseRecord.objects.get(pk=conflict.drug.pk).decision_no == "09/QĐ-UBND"
    for phone in (conflict.first, conflict.second):
        updated = phone.pull()["drug_use_records"]["updated"]
        assert [(r["id"], r["decision_no"]) for r in updated] == [(str(conflict.drug.id), "09/QĐ-UBND")]
    event = AuditEvent.objects.get(action="sync.review_resolved")
    assert event.actor_officer_id == admin.pk
    assert event.details["resolution"] == "take_device" and event.details["note"] == "đã xác minh"


def test_take_server_keeps_the_value_and_changes_nothing_on_devices(admin: Officer) -> None:
    conflict = make_drug_conflict()
    conflict.first.pull()
    seq_before = SyncRow.objects.get(record_id=str(conflict.drug.id)).seq
    client = console_client(admin)

    client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_server"})

    item = ReviewItem.objects.get(pk=conflict.item.pk)
    assert (item.status, item.resolved_value) == (ReviewStatus.TOOK_SERVER, "07/QĐ-UBND")
    assert SyncRow.objects.get(record_id=str(conflict.drug.id)).seq == seq_before
    assert conflict.first.pull()["drug_use_records"]["updated"] == []


def test_edit_applies_the_typed_value_normalised_to_nfc(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)

    client.post(
        f"/console/reviews/{conflict.item.id}/resolve/",
        {"resolution": "edit", "value": "  08/Q\u0110-UBND\u00a0 "},
    )

    assert DrugUseRecord.objects.get(pk=conflict.drug.pk).decision_no == "08/QĐ-UBND"
    assert ReviewItem.objects.get(pk=conflict.item.pk).status == ReviewStatus.EDITED


def test_a_second_resolve_shows_the_stable_code_and_changes_nothing(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)
    client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_server"})

    response = client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_device"}, follow=True)

    assert "review_already_resolved" in _text(response)
    assert ReviewItem.objects.get(pk=conflict.item.pk).status == ReviewStatus.TOOK_SERVER
    assert DrugUseRecord.objects.get(pk=conflict.drug.pk).decision_no == "07/QĐ-UBND"
    assert _actions("sync.review") == ["sync.review_resolved"]


def test_an_invalid_edited_value_is_refused_with_its_code_and_the_item_stays_open(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)

    response = client.post(
        f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "edit", "value": "x" * 500}, follow=True
    )

    assert response.status_code == 200
    assert re.search(r"\[[a-z_]+\]", _text(response))  # the stable error code is shown
    assert ReviewItem.objects.get(pk=conflict.item.pk).status == ReviewStatus.OPEN
    assert DrugUseRecord.objects.get(pk=conflict.drug.pk).decision_no == "07/QĐ-UBND"


def test_resolved_items_are_listed_with_their_decision(admin: Officer) -> None:
    conflict = make_drug_conflict()
    client = console_client(admin)
    client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_device"})

    open_page = _text(client.get("/console/reviews/"))
    done_page = _text(client.get("/console/reviews/?status=took_device"))

    assert 'data-testid="no-reviews"' in open_page
    assert "Applied the device value: 09/QĐ-UBND" in done_page


# --- quarantine -----------------------------------------------------------------------------------


def test_fix_and_replay_of_a_pushed_record_applies_it_and_reaches_the_sender(admin: Officer) -> None:
    person = make_person(commune=COMMUNE_A)
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)))
    phone.pull()
    item = make_pushed_quarantine(phone=phone, person_id=str(person.id))
    client = console_client(admin)
    page = _text(client.get("/console/quarantine/"))
    assert "NOT_A_RESULT" in page and "Nguyễn Văn Hòa" in page
    fixed = {**item.payload, "result": "NO_HIT"}
    fixed = {k: v for k, v in fixed.items() if not k.startswith("_")}

    client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": orjson.dumps(fixed).decode()})

    assert QuarantinedRecord.objects.get(pk=item.pk).status == QuarantineStatus.REPLAYED
    assert Check.objects.get(pk=item.record_id).result == "NO_HIT"
    assert [r["id"] for r in phone.pull()["checks"]["created"]] == [item.record_id]
    assert _actions("sync.quarantine") == ["sync.quarantine_replayed"]


def test_a_replay_that_is_still_invalid_leaves_the_item_open(admin: Officer) -> None:
    person = make_person(commune=COMMUNE_A)
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)))
    phone.pull()
    item = make_pushed_quarantine(phone=phone, person_id=str(person.id))
    client = console_client(admin)

    bad_json = client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": "{not json"}, follow=True)
    still_bad = client.post(
        f"/console/quarantine/{item.id}/",
        {"action": "replay", "payload": orjson.dumps(item.payload).decode()},
        follow=True,
    )

    assert "not valid JSON" in _text(bad_json)
    assert "[sync_record_invalid]" in _text(still_bad)
    assert QuarantinedRecord.objects.get(pk=item.pk).status == QuarantineStatus.OPEN
    assert not Check.objects.exists()
    assert _actions("sync.quarantine") == []


def test_discard_closes_the_item_and_keeps_the_payload(admin: Officer) -> None:
    person = make_person(commune=COMMUNE_A)
    phone = Phone(username="c1", unit=make_unit(code="CX", communes=(COMMUNE_A,)))
    phone.pull()
    item = make_pushed_quarantine(phone=phone, person_id=str(person.id))
    client = console_client(admin)

    client.post(f"/console/quarantine/{item.id}/", {"action": "discard", "note": "trùng"})

    after = QuarantinedRecord.objects.get(pk=item.pk)
    assert (after.status, after.resolution_note, after.payload) == (QuarantineStatus.DISCARDED, "trùng", item.payload)
    assert _actions("sync.quarantine") == ["sync.quarantine_discarded"]


# --- registry bridge ------------------------------------------------------------------------------


@pytest.fixture
def default_registry(registry_engine: Engine, settings: Any) -> SqlRegistrySource:
    settings.FIELDSYNC_REGISTRY_URL = registry_engine.url.render_as_string(hide_password=False)
    return SqlRegistrySource(registry_engine)


def test_admin_runs_the_bridge_and_sees_the_summary(admin: Officer, default_registry: SqlRegistrySource) -> None:
    legacy_person_insert(default_registry.engine, person_columns())
    legacy_person_insert(default_registry.engine, person_columns(SO_DINH_DANH="00008812345"))  # 11 digits
    client = console_client(admin)

    response = client.post("/console/bridge/run/", follow=True)

    run = BridgeRun.objects.get()
    assert (run.trigger, run.rows_read, run.records_created, run.rows_quarantined) == ("console", 2, 1, 1)
    page = _text(response)
    assert f"Bridge run {run.pk}: 2 rows read, 0 conflicts, 1 quarantined." in page
    assert _actions("registry_bridge.run") == ["registry_bridge.run_started", "registry_bridge.run_finished"]


def test_tcvn3_row_is_shown_with_its_suggested_conversion_and_replayed_from_the_console(
    admin: Officer, default_registry: SqlRegistrySource
) -> None:
    legacy_id = legacy_person_insert(
        default_registry.engine, person_columns(HO_TEN=unicode_to_tcvn3("Nguyễn Văn Hùng"))
    )
    bridge_sync(source=default_registry, trigger="test")
    item = QuarantinedRecord.objects.get(source="registry_bridge")
    client = console_client(admin)
    page = _text(client.get("/console/quarantine/"))
    assert "registry_text_tcvn3" in page and "Nguyễn Văn Hùng" in page

    client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": '{"HO_TEN": "Nguyễn Văn Hùng"}'})

    assert QuarantinedRecord.objects.get(pk=item.pk).status == QuarantineStatus.REPLAYED
    assert Person.objects.get(pk=person_record_id(legacy_id)).full_name == "Nguyễn Văn Hùng"
    assert _actions("registry_bridge.quarantine") == ["registry_bridge.quarantine_replayed"]


def test_a_split_commune_row_shows_its_2025_candidates_and_replays_with_the_chosen_one(
    admin: Officer, default_registry: SqlRegistrySource
) -> None:
    # 06625 recorded in 2019: the old xã Kiên Mộc, split in 2025 between 06625 and 06637.
    legacy_id = legacy_person_insert(
        default_registry.engine, person_columns(MA_XA="06625", DIA_CHI=OLD_KIEN_MOC, NGAY_HIEU_LUC_DC="01/05/2019")
    )
    bridge_sync(source=default_registry, trigger="test")
    item = QuarantinedRecord.objects.get(source="registry_bridge")
    client = console_client(admin)

    page = _text(client.get("/console/quarantine/"))
    hint = re.search(r'data-testid="hint">([^<]+)<', page)
    client.post(f"/console/quarantine/{item.id}/", {"action": "replay", "payload": '{"MA_XA": "06637"}'})

    assert hint is not None
    assert hint.group(1).startswith("Split in the 2025 merger: set MA_XA to one of 06625 (")
    assert "06637 (" in hint.group(1) and "?" not in hint.group(1)
    assert Person.objects.get(pk=person_record_id(legacy_id)).primary_commune_code == "06637"
    assert QuarantinedRecord.objects.get(pk=item.pk).status == QuarantineStatus.REPLAYED


def test_a_bridge_conflict_shows_the_base_and_taking_the_registry_value_reaches_devices(
    admin: Officer, default_registry: SqlRegistrySource
) -> None:
    engine = default_registry.engine
    legacy_id = legacy_person_insert(engine, person_columns())
    bridge_sync(source=default_registry, trigger="test")
    record_id = person_record_id(legacy_id)
    phone = Phone(username="c1", unit=make_unit(code="DD", communes=("06184",)))
    phone.pull()
    phone.push_update("persons", record_id, identifying_marks="Hình xăm rồng")
    legacy_person_update(engine, legacy_id, {"DAC_DIEM_NHAN_DANG": "Sẹo dài 3cm ở cằm"})
    bridge_sync(source=default_registry, trigger="test")
    item = ReviewItem.objects.get(source="registry_bridge")
    client = console_client(admin)

    page = _text(client.get("/console/reviews/"))
    row = re.search(rf'<tr data-review="{item.pk}">(.*?)</tr>', page, re.S)
    assert row is not None and "Sẹo ở cằm" in row.group(1)  # the base both sides agreed on
    assert "central registry" in row.group(1) and "Take registry" in row.group(1)
    client.post(f"/console/reviews/{item.id}/resolve/", {"resolution": "take_device"})

    assert Person.objects.get(pk=record_id).identifying_marks == "Sẹo dài 3cm ở cằm"
    pulled = phone.pull()["persons"]["updated"]
    assert [(r["id"], r["identifying_marks"]) for r in pulled] == [(record_id, "Sẹo dài 3cm ở cằm")]
    assert _actions("registry_bridge.review") == ["registry_bridge.review_resolved"]


# --- audit viewer ---------------------------------------------------------------------------------


def test_audit_viewer_filters_by_action_officer_and_day(admin: Officer, auditor: Officer) -> None:
    conflict = make_drug_conflict()
    admin_client = console_client(admin)
    admin_client.post(f"/console/reviews/{conflict.item.id}/resolve/", {"resolution": "take_server"})
    client = console_client(auditor)
    today = timezone.localdate().isoformat()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    by_action = _text(client.get("/console/audit/?action=sync.review"))
    by_officer = _text(client.get("/console/audit/?officer=auditor"))
    by_day = _text(client.get(f"/console/audit/?from={tomorrow}"))
    today_page = _text(client.get(f"/console/audit/?from={today}&to={today}&action=console.login"))
    verified = _text(client.get("/console/audit/?verify=1"))

    def actions(page: str) -> list[str]:
        return re.findall(r"<td>(\w+\.\w+)</td><td>", page)

    assert actions(by_action) == ["sync.review_resolved"]
    assert actions(by_officer) == ["console.login"]
    assert actions(by_day) == []
    assert actions(today_page) == ["console.login", "console.login"]
    assert "Chain intact" in verified


def test_bad_filter_values_do_not_fail(auditor: Officer) -> None:
    client = console_client(auditor)

    assert client.get("/console/audit/?from=31/12/2025&to=x").status_code == 200
    assert client.get("/console/devices/?status=nope").status_code == 200
    assert client.get("/console/reviews/?status=nope&sort=x").status_code == 200
