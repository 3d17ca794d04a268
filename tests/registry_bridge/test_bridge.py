"""The central-registry bridge against a real registry database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from backend.console.legacy_registry import legacy_notice_update, legacy_person_insert, legacy_person_update, legacy_row
from backend.core.text import unicode_to_tcvn3
from backend.registry.bridge_mapping import notice_record_id, person_record_id
from backend.registry.models import AdminCodeVersion, Person, Residence, WantedNotice
from sync.models import QuarantinedRecord, QuarantineStatus, ReviewItem, ReviewStatus, SyncRow
from sync.pull import sync_pull
from sync.push import sync_push
from sync.registry import scope_keys_for
from sync.registry_bridge.engine import bridge_sync
from sync.registry_bridge.models import BridgeLink, BridgeRun, BridgeRunStatus
from sync.registry_bridge.services import bridge_quarantine_replay, bridge_review_apply
from sync.registry_bridge.source import SqlRegistrySource
from sync.writer import head_seq
from tests.conftest import make_device_session, make_officer, make_unit
from tests.registry_bridge.conftest import OLD_KIEN_MOC, person_columns

pytestmark = pytest.mark.django_db


def _run(registry: SqlRegistrySource, **kwargs: Any) -> BridgeRun:
    return bridge_sync(source=registry, trigger="test", **kwargs)


def _payload(record_id: str, table: str = "persons") -> dict[str, Any]:
    row = SyncRow.objects.get(table=table, record_id=record_id)
    return dict(orjson.loads(row.payload_json))


class _Phone:
    def __init__(self, communes: tuple[str, ...] = ("06184",)) -> None:
        unit = make_unit(code=f"U{'-'.join(communes)}", communes=communes)
        self.officer = make_officer(username=f"officer-{'-'.join(communes)}", unit=unit, role="community_officer")
        self.device = make_device_session(officer=self.officer).device
        self.cursor: int | None = None

    @property
    def scope(self) -> frozenset[str]:
        return scope_keys_for(device=self.device, officer=self.officer)

    def pull(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(
            sync_pull(device=self.device, scope_keys=self.scope, last_pulled_at=self.cursor, schema_version=1).body
        )
        self.cursor = body["timestamp"]
        return body

    def push_person(self, record_id: str, **fields: Any) -> dict[str, Any]:
        assert self.cursor is not None
        raw = {**_payload(record_id), **fields, "_status": "updated", "_changed": ",".join(fields)}
        return sync_push(
            device=self.device,
            officer=self.officer,
            scope_keys=self.scope,
            last_pulled_at=self.cursor,
            changes={"persons": {"created": [], "updated": [raw], "deleted": []}},
        )


def test_new_registry_person_is_applied_as_an_authoritative_write_devices_receive(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(
        registry_engine, person_columns(HO_TEN="  \u00d0\u1eb7ng  Thi\u0323\u00a0Ha\u0300 ")
    )
    phone = _Phone()

    run = _run(registry)

    person = Person.objects.get(pk=person_record_id(legacy_id))
    assert (run.status, run.rows_read, run.records_created) == (BridgeRunStatus.SUCCEEDED, 1, 1)
    assert person.full_name == "\u0110\u1eb7ng Th\u1ecb H\u00e0"  # NFC, Ð→Đ, NBSP and spaces collapsed
    assert person.search_key == "dang thi ha"
    assert person.primary_commune_code == "06184"
    row = SyncRow.objects.get(table="persons", record_id=str(person.id))
    assert row.field_versions == {"*": [row.seq, "registry"]}
    created = {r["id"] for r in phone.pull()["changes"]["persons"]["created"]}
    assert str(person.id) in created


def test_running_the_bridge_twice_changes_nothing(registry: SqlRegistrySource, registry_engine: Engine) -> None:
    legacy_person_insert(registry_engine, person_columns())
    _run(registry)
    seq_before, links_before = head_seq(), list(BridgeLink.objects.values_list("base_values", flat=True))

    second = _run(registry)

    assert (second.rows_read, second.records_created, second.records_updated, second.fields_written_back) == (
        0,
        0,
        0,
        0,
    )
    assert head_seq() == seq_before
    assert list(BridgeLink.objects.values_list("base_values", flat=True)) == links_before


def test_a_run_killed_mid_batch_is_finished_by_the_next_run_without_loss_or_duplicates(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    ids = [
        legacy_person_insert(
            registry_engine, person_columns(HO_TEN=f"Nông Văn Tài {i}", SO_DINH_DANH=f"0000881234{i:02d}")
        )
        for i in range(10)
    ]
    applied: list[int] = []

    def crash_in_second_batch(legacy_id: int) -> None:
        applied.append(legacy_id)
        if len(applied) == 6:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        _run(registry, batch_size=4, after_row=crash_in_second_batch)
    assert Person.objects.count() == 4  # the first batch committed with its watermark; the second rolled back
    failed = BridgeRun.objects.get(status=BridgeRunStatus.FAILED)
    assert failed.watermark_to == failed.watermark_from + 4

    resumed = _run(registry, batch_size=4)

    assert resumed.rows_read == 6 and resumed.records_created == 6
    assert sorted(str(p) for p in Person.objects.values_list("id", flat=True)) == sorted(
        person_record_id(i) for i in ids
    )
    assert SyncRow.objects.filter(table="persons").count() == 10
    assert BridgeLink.objects.count() == 10


def test_tcvn3_text_is_detected_on_the_raw_value_and_quarantined_not_stored(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    garbled = unicode_to_tcvn3("Nguyễn Văn Hùng")
    legacy_id = legacy_person_insert(registry_engine, person_columns(HO_TEN=garbled))

    run = _run(registry)

    assert run.rows_quarantined == 1 and not Person.objects.exists()
    item = QuarantinedRecord.objects.get(source="registry_bridge")
    assert (item.code, item.table, item.record_id) == ("registry_text_tcvn3", "DOI_TUONG", str(legacy_id))
    assert item.payload["details"]["suggested"]["HO_TEN"] == "Nguyễn Văn Hùng"
    assert item.payload["row"]["HO_TEN"] == garbled


def test_a_row_fixed_by_a_registry_user_closes_its_quarantine_item_and_only_that_one(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    fixed_id = legacy_person_insert(registry_engine, person_columns(HO_TEN=unicode_to_tcvn3("Nguyễn Văn Hùng")))
    other_id = legacy_person_insert(
        registry_engine, person_columns(HO_TEN=unicode_to_tcvn3("Lương Văn Bắc"), SO_DINH_DANH="000088000777")
    )
    _run(registry)
    legacy_person_update(registry_engine, fixed_id, {"HO_TEN": "Nguyễn Văn Hùng"})

    _run(registry)

    statuses = dict(QuarantinedRecord.objects.values_list("record_id", "status"))
    assert statuses == {str(fixed_id): QuarantineStatus.REPLAYED, str(other_id): QuarantineStatus.OPEN}
    assert Person.objects.get(pk=person_record_id(fixed_id)).full_name == "Nguyễn Văn Hùng"
    assert not Person.objects.filter(pk=person_record_id(other_id)).exists()


@pytest.mark.parametrize(
    ("columns", "code"),
    [
        ({"SO_DINH_DANH": "00008812345"}, "registry_id_number_invalid"),
        ({"MA_XA": "99999"}, "registry_commune_unknown"),
        ({"NGAY_SINH": "31/02/1990"}, "registry_date_invalid"),
    ],
)
def test_rows_the_bridge_cannot_map_are_quarantined_with_a_stable_code(
    registry: SqlRegistrySource, registry_engine: Engine, columns: dict[str, str], code: str
) -> None:
    legacy_person_insert(registry_engine, person_columns(**columns))

    _run(registry)

    assert list(QuarantinedRecord.objects.values_list("code", flat=True)) == [code]
    assert not Person.objects.exists() and not SyncRow.objects.exists()


def test_a_pre2025_commune_code_maps_to_its_2025_commune_from_the_merger_date(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    # xã Mai Pha (05992, thành phố Lạng Sơn) was merged wholly into phường Đông Kinh (05977).
    legacy_id = legacy_person_insert(
        registry_engine, person_columns(MA_XA="05992", DIA_CHI="Thôn Pò Mỏ, xã Mai Pha", NGAY_HIEU_LUC_DC="02/03/2015")
    )

    run = _run(registry)

    person = Person.objects.get(pk=person_record_id(legacy_id))
    home = Residence.objects.get(person=person)
    assert run.communes_remapped == 1
    assert person.primary_commune_code == "05977"
    assert (home.ward_code, home.admin_code_version) == ("05977", AdminCodeVersion.PRE_2025)
    assert home.address_text_as_recorded == "Thôn Pò Mỏ, xã Mai Pha"  # the original text is never rewritten
    assert BridgeLink.objects.get().base_values["address"]["effective_from"] == "2025-07-01"


def test_a_reused_code_recorded_before_the_merger_is_read_as_the_old_unit(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    # 06625 was xã Kiên Mộc (huyện Đình Lập) before 2025, split between the new xã Kiên Mộc (which
    # reuses the code) and xã Châu Sơn: recorded in 2019 it is the old, split unit.
    old = legacy_person_insert(
        registry_engine, person_columns(MA_XA="06625", DIA_CHI=OLD_KIEN_MOC, NGAY_HIEU_LUC_DC="01/05/2019")
    )
    new = legacy_person_insert(
        registry_engine, person_columns(MA_XA="06625", NGAY_HIEU_LUC_DC="01/09/2025", SO_DINH_DANH="000088999999")
    )

    _run(registry)

    item = QuarantinedRecord.objects.get()
    assert (item.code, item.record_id) == ("registry_commune_split", str(old))
    assert item.payload["details"]["candidates"] == ["06625", "06637"]
    assert Person.objects.get(pk=person_record_id(new)).primary_commune_code == "06625"


def test_fixing_a_split_commune_row_and_replaying_imports_it(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(
        registry_engine, person_columns(MA_XA="06625", DIA_CHI=OLD_KIEN_MOC, NGAY_HIEU_LUC_DC="01/05/2019")
    )
    _run(registry)
    admin = make_officer(username="admin1", unit=None, role="sync_admin")
    item = QuarantinedRecord.objects.get()

    replayed = bridge_quarantine_replay(actor=admin, item_id=item.id, fixed_columns={"MA_XA": "06637"}, source=registry)

    assert replayed.status == QuarantineStatus.REPLAYED and replayed.resolved_by == admin
    assert Person.objects.get(pk=person_record_id(legacy_id)).primary_commune_code == "06637"
    assert (legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {})["MA_XA"] == "06637"


def test_a_device_field_edit_is_written_back_and_not_imported_again(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(registry_engine, person_columns())
    _run(registry)
    phone = _Phone()
    phone.pull()
    record_id = person_record_id(legacy_id)
    phone.push_person(record_id, notes="Đã chuyển đi làm ăn xa", management_status="left_area")

    run = _run(registry)

    row = legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {}
    assert run.fields_written_back == 2
    assert (row["GHI_CHU"], row["TINH_TRANG_QL"], row["NGUOI_CAP_NHAT"]) == (
        "Đã chuyển đi làm ăn xa",
        "left_area",
        "FIELDSYNC",
    )
    seq = head_seq()
    echo = _run(registry)
    assert (echo.rows_read, echo.rows_unchanged, echo.records_updated, echo.fields_written_back) == (1, 1, 0, 0)
    assert head_seq() == seq
    assert not ReviewItem.objects.exists()


def test_the_same_field_changed_on_both_sides_goes_to_review_and_the_choice_reaches_both(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(registry_engine, person_columns())
    _run(registry)
    phone = _Phone()
    phone.pull()
    record_id = person_record_id(legacy_id)
    phone.push_person(record_id, identifying_marks="Hình xăm rồng ở cánh tay trái")
    legacy_person_update(registry_engine, legacy_id, {"DAC_DIEM_NHAN_DANG": "Sẹo dài 3cm ở cằm"})

    run = _run(registry)

    item = ReviewItem.objects.get(source="registry_bridge")
    assert run.conflicts_raised == 1
    assert (item.field, item.server_value, item.proposed_value) == (
        "identifying_marks",
        "Hình xăm rồng ở cánh tay trái",
        "Sẹo dài 3cm ở cằm",
    )
    assert Person.objects.get(pk=record_id).identifying_marks == item.server_value  # neither side moved
    assert (legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {})["DAC_DIEM_NHAN_DANG"] == "Sẹo dài 3cm ở cằm"
    assert _run(registry).conflicts_raised == 0  # not raised twice

    admin = make_officer(username="admin1", unit=None, role="sync_admin")
    bridge_review_apply(
        actor=admin, item_id=item.id, choice=ReviewStatus.EDITED, edited_value="Sẹo ở cằm; hình xăm rồng"
    )
    after = _run(registry)

    assert Person.objects.get(pk=record_id).identifying_marks == "Sẹo ở cằm; hình xăm rồng"
    assert (legacy_row(registry_engine, "DOI_TUONG", legacy_id) or {})[
        "DAC_DIEM_NHAN_DANG"
    ] == "Sẹo ở cằm; hình xăm rồng"
    assert after.conflicts_raised == 0 and ReviewItem.objects.count() == 1
    assert _run(registry).fields_written_back == 0


def test_an_address_change_moves_the_person_and_old_commune_devices_get_a_delete(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(registry_engine, person_columns())
    _run(registry)
    phone = _Phone(("06184",))
    phone.pull()
    legacy_person_update(
        registry_engine,
        legacy_id,
        {"MA_XA": "06529", "DIA_CHI": "Khu 2, xã Lộc Bình", "NGAY_HIEU_LUC_DC": "01/10/2025"},
    )

    run = _run(registry)

    assert run.records_updated == 1
    assert Person.objects.get(pk=person_record_id(legacy_id)).primary_commune_code == "06529"
    held_back = phone.pull()  # the delete of a held, editable record waits one page (has_more)
    assert (held_back["has_more"], held_back["changes"]["persons"]["deleted"]) == (True, [])
    assert person_record_id(legacy_id) in phone.pull()["changes"]["persons"]["deleted"]


def test_a_rescinded_notice_leaves_every_device(registry: SqlRegistrySource, registry_engine: Engine) -> None:
    from sqlalchemy import insert

    from sync.registry_bridge import legacy

    person_id = legacy_person_insert(registry_engine, person_columns())
    with registry_engine.begin() as connection:
        seq = legacy.next_change_seq(connection)
        connection.execute(
            insert(legacy.QD_TRUY_NA).values(
                MA_QD=7,
                MA_DT=person_id,
                SO_QD="15/QĐTN-CSĐT",
                NGAY_QD="03/03/2025",
                CO_QUAN_RA_QD="Cơ quan CSĐT Công an tỉnh Lạng Sơn",
                HO_TEN="Hoàng Văn Lộc",
                TOI_DANH="BLHS2015:251.1",
                LOAI_TN="SUSPECT",
                TRANG_THAI="DANG_TN",
                NGAY_CAP_NHAT=legacy.legacy_now(),
                NGUOI_CAP_NHAT="TW",
                SO_THAY_DOI=seq,
            )
        )
    _run(registry)
    assert SyncRow.objects.get(table="wanted_notices", record_id=notice_record_id(7)).scope_key == "province"

    legacy_notice_update(
        registry_engine, 7, {"TRANG_THAI": "DINH_NA", "NGAY_DINH_NA": "05/11/2025", "LY_DO_DINH_NA": "ARRESTED"}
    )
    _run(registry)

    notice = WantedNotice.objects.get(pk=notice_record_id(7))
    assert (notice.status, notice.rescission_reason) == ("RESCINDED", "ARRESTED")
    assert SyncRow.objects.get(table="wanted_notices", record_id=notice_record_id(7)).scope_key == "archived"
