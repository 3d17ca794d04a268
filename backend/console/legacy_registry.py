"""A stand-in for the provincial central registry: fill its legacy schema from the synthetic
province, and mutate it the way the registry's own users would (for demos and tests).

Everything written here is synthetic. Each row write takes its own change-counter value, as the
old application's per-row trigger would. A small, deliberate share of rows is dirty the way an
old registry is: TCVN3 text (the synthetic legacy batch), ID numbers typed with a digit missing,
commune codes that do not exist, pre-2025 commune codes (including communes split in 2025).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from backend.registry.synthetic import (
    COMMUNES,
    FEMALE_GIVEN_NAMES,
    MALE_GIVEN_NAMES,
    PRE2025_UNITS,
    Pre2025Unit,
    SyntheticPerson,
    SyntheticProvince,
    SyntheticResidence,
    SyntheticWantedNotice,
)
from sync.registry_bridge import legacy

INVALID_ID_EVERY = 1009  # every n-th person: an 11-digit ID number (a digit lost when typed)
UNKNOWN_COMMUNE_EVERY = 1511  # every n-th person: a commune code that does not exist
SPLIT_COMMUNE_EVERY = 997  # every n-th person: a pre-2025 commune split across 2025 communes

_FAMILY = ("Nguyễn", "Hoàng", "Nông", "Lương", "Vi", "Lăng", "Triệu", "Đặng", "Trần", "Lê", "Hà", "Lộc")


def _dmy(d: date | None) -> str:
    return f"{d.day:02d}/{d.month:02d}/{d.year}" if d else ""


def _dob(p: SyntheticPerson) -> str:
    if p.dob_precision == "day" and p.dob_month and p.dob_day:
        return f"{p.dob_day:02d}/{p.dob_month:02d}/{p.dob_year}"
    return str(p.dob_year)


def split_commune_codes() -> list[str]:
    seen: dict[str, set[str]] = {}
    for new_code, units in PRE2025_UNITS.items():
        for unit in units:
            seen.setdefault(unit.code, set()).add(new_code)
    return sorted(code for code, targets in seen.items() if len(targets) > 1)


def _pre2025_unit(code: str) -> Pre2025Unit:
    return next(unit for units in PRE2025_UNITS.values() for unit in units if unit.code == code)


def _person_row(
    p: SyntheticPerson, home: SyntheticResidence | None, *, legacy_id: int, index: int, managed: bool
) -> dict[str, Any]:
    if home is not None and home.admin_code_version == "pre2025":
        commune, address, since = home.pre2025_ward_code, home.address_text_as_recorded, home.valid_from
    elif home is not None:
        commune, address, since = home.ward_code, home.address_text_as_recorded, home.valid_from
    else:
        commune, address, since = p.primary_commune_code, "", None
    id_number = p.personal_id_number
    if index % INVALID_ID_EVERY == 0 and id_number:
        id_number = id_number[:-1]
    if index % UNKNOWN_COMMUNE_EVERY == 0:
        commune = "99999"
    elif index % SPLIT_COMMUNE_EVERY == 0:
        # An old record still in its pre-2025 form, in a unit split in 2025 (a human must choose).
        splits = split_commune_codes()
        commune, since = splits[index % len(splits)], date(2019, 5, 1)
        unit = _pre2025_unit(commune)
        village = home.village_or_street if home is not None else "Thôn Nà Pàn"
        address = f"{village}, {unit.label}, {unit.district}, tỉnh Lạng Sơn"
    return {
        "MA_DT": legacy_id,
        "HO_TEN": p.full_name,
        "GIOI_TINH": "NAM" if p.sex == "M" else "NU",
        "NGAY_SINH": _dob(p),
        "SO_DINH_DANH": id_number,
        "SO_CMND": p.old_id_number,
        "DAN_TOC": p.ethnicity,
        "QUE_QUAN": p.native_place,
        "HO_TEN_CHA": p.father_name,
        "HO_TEN_ME": p.mother_name,
        "DAC_DIEM_NHAN_DANG": p.identifying_marks,
        "GHI_CHU": "",
        "TINH_TRANG_QL": "drug_management" if managed else "none",
        "MA_XA": commune,
        "DIA_CHI": address,
        "NGAY_HIEU_LUC_DC": _dmy(since),
        "DA_XOA": 0,
        "NGUOI_CAP_NHAT": "TW",
    }


def _notice_row(w: SyntheticWantedNotice) -> dict[str, Any]:
    return {
        "MA_QD": int(w.key[1:]),
        "MA_DT": int(w.person_key[1:]),
        "SO_QD": w.decision_no,
        "NGAY_QD": _dmy(w.decision_date),
        "CO_QUAN_RA_QD": w.issuing_agency,
        "HO_TEN": w.full_name,
        "TOI_DANH": ";".join(w.charges),
        "LOAI_TN": w.category,
        "TRANG_THAI": legacy.STATUS_RESCINDED if w.status == "RESCINDED" else legacy.STATUS_ACTIVE,
        "SO_QD_DINH_NA": w.rescission_decision_no,
        "NGAY_DINH_NA": _dmy(w.rescission_date),
        "LY_DO_DINH_NA": w.rescission_reason,
        "NGUOI_CAP_NHAT": "TW",
    }


def _chunks(rows: list[dict[str, Any]], size: int = 2000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@dataclass(frozen=True)
class InitSummary:
    persons: int  # loaded now; when `loaded` is False, what the registry already held
    notices: int
    head: int
    loaded: bool = True


def legacy_registry_init(engine: Engine, province: SyntheticProvince) -> InitSummary:
    """Create the schema and load `province` into an empty registry. Idempotent: a registry that
    already holds persons is left alone (the summary then says what it holds, `loaded=False`)."""
    legacy.legacy_schema_create(engine)
    with engine.begin() as connection:
        held = int(connection.execute(select(func.count()).select_from(legacy.DOI_TUONG)).scalar_one())
        if held:
            notices_held = int(connection.execute(select(func.count()).select_from(legacy.QD_TRUY_NA)).scalar_one())
            return InitSummary(held, notices_held, legacy.head_change_seq(connection), loaded=False)
    homes = {r.person_key: r for r in province.residences if r.kind == "THUONG_TRU" and r.valid_to is None}
    managed = {d.person_key for d in province.drug_records if d.status == "active"}
    now = legacy.legacy_now()
    persons = [
        _person_row(p, homes.get(p.key), legacy_id=int(p.key[1:]), index=i + 1, managed=p.key in managed)
        for i, p in enumerate(province.persons)
    ]
    notices = [_notice_row(w) for w in province.wanted_notices]
    seq = 0
    for row in persons + notices:
        seq += 1
        row["SO_THAY_DOI"], row["NGAY_CAP_NHAT"] = seq, now
    with engine.begin() as connection:
        for chunk in _chunks(persons):
            connection.execute(insert(legacy.DOI_TUONG), chunk)
        for chunk in _chunks(notices):
            connection.execute(insert(legacy.QD_TRUY_NA), chunk)
        connection.execute(
            update(legacy.HT_THAM_SO).where(legacy.HT_THAM_SO.c.TEN == legacy.CHANGE_COUNTER).values(GIA_TRI=seq)
        )
    return InitSummary(len(persons), len(notices), seq)


# --- single writes (the registry's users) --------------------------------------------------------


def legacy_person_update(engine: Engine, legacy_id: int, columns: Mapping[str, Any], *, by: str = "TW") -> int:
    """UPDATE one DOI_TUONG row as a registry user; returns the change-counter value taken."""
    with engine.begin() as connection:
        return _update(connection, legacy.DOI_TUONG, legacy_id == legacy.DOI_TUONG.c.MA_DT, columns, by)


def legacy_notice_update(engine: Engine, legacy_id: int, columns: Mapping[str, Any], *, by: str = "TW") -> int:
    with engine.begin() as connection:
        return _update(connection, legacy.QD_TRUY_NA, legacy_id == legacy.QD_TRUY_NA.c.MA_QD, columns, by)


def _update(connection: Connection, table: Any, where: Any, columns: Mapping[str, Any], by: str) -> int:
    seq = legacy.next_change_seq(connection)
    values = {**columns, "NGAY_CAP_NHAT": legacy.legacy_now(), "NGUOI_CAP_NHAT": by, legacy.CHANGE_COUNTER: seq}
    connection.execute(update(table).where(where).values(**values))
    return seq


def legacy_person_insert(engine: Engine, columns: Mapping[str, Any]) -> int:
    """INSERT a DOI_TUONG row (MA_DT defaults to max + 1); returns its MA_DT."""
    with engine.begin() as connection:
        seq = legacy.next_change_seq(connection)
        legacy_id = (
            columns.get("MA_DT")
            or int(connection.execute(select(func.coalesce(func.max(legacy.DOI_TUONG.c.MA_DT), 0))).scalar_one()) + 1
        )
        row = {
            "GIOI_TINH": "NAM",
            "DA_XOA": 0,
            "GHI_CHU": "",
            "TINH_TRANG_QL": "none",
            **columns,
            "MA_DT": legacy_id,
            "NGAY_CAP_NHAT": legacy.legacy_now(),
            "NGUOI_CAP_NHAT": "TW",
            legacy.CHANGE_COUNTER: seq,
        }
        connection.execute(insert(legacy.DOI_TUONG).values(**row))
    return int(legacy_id)


def legacy_row(engine: Engine, table: str, legacy_id: int) -> dict[str, Any] | None:
    t = legacy.DOI_TUONG if table == "DOI_TUONG" else legacy.QD_TRUY_NA
    key = t.c.MA_DT if table == "DOI_TUONG" else t.c.MA_QD
    with engine.connect() as connection:
        found = connection.execute(select(t).where(key == legacy_id)).mappings().first()
    return dict(found) if found else None


# --- simulation ----------------------------------------------------------------------------------


@dataclass
class SimulationSummary:
    new_persons: int = 0
    rescinded_notices: int = 0
    address_changes: int = 0
    identity_edits: int = 0


def legacy_registry_simulate(engine: Engine, *, changes: int, seed: int, today: date) -> SimulationSummary:
    """Apply `changes` random registry edits: new persons, rescinded notices, moves, identity edits."""
    rng = random.Random(seed)
    summary = SimulationSummary()
    with engine.connect() as connection:
        person_ids = [int(v) for v in connection.execute(select(legacy.DOI_TUONG.c.MA_DT)).scalars()]
        active = [
            int(v)
            for v in connection.execute(
                select(legacy.QD_TRUY_NA.c.MA_QD).where(legacy.QD_TRUY_NA.c.TRANG_THAI == legacy.STATUS_ACTIVE)
            ).scalars()
        ]
    communes = list(COMMUNES)
    for _ in range(changes):
        roll = rng.random()
        if roll < 0.2 or not person_ids:
            sex = rng.choice(["NAM", "NU"])
            given = rng.choice(MALE_GIVEN_NAMES if sex == "NAM" else FEMALE_GIVEN_NAMES)
            commune = rng.choice(communes)
            legacy_id = legacy_person_insert(
                engine,
                {
                    "HO_TEN": f"{rng.choice(_FAMILY)} {'Văn' if sex == 'NAM' else 'Thị'} {given}",
                    "GIOI_TINH": sex,
                    "NGAY_SINH": str(rng.randint(1960, 2005)),
                    "SO_DINH_DANH": f"000{rng.randint(0, 9)}{rng.randint(0, 99):02d}{rng.randint(0, 999_999):06d}",
                    "DAN_TOC": rng.choice(["Nùng", "Tày", "Kinh"]),
                    "MA_XA": commune.code,
                    "DIA_CHI": f"Thôn Nà Pàn, {commune.label}, tỉnh Lạng Sơn",
                    "NGAY_HIEU_LUC_DC": _dmy(today),
                },
            )
            person_ids.append(legacy_id)
            summary.new_persons += 1
        elif roll < 0.35 and active:
            notice_id = active.pop(rng.randrange(len(active)))
            legacy_notice_update(
                engine,
                notice_id,
                {
                    "TRANG_THAI": legacy.STATUS_RESCINDED,
                    "SO_QD_DINH_NA": f"{rng.randint(1, 300)}/QĐĐN-CSĐT",
                    "NGAY_DINH_NA": _dmy(today),
                    "LY_DO_DINH_NA": rng.choice(["ARRESTED", "SURRENDERED"]),
                },
            )
            summary.rescinded_notices += 1
        elif roll < 0.7:
            commune = rng.choice(communes)
            legacy_person_update(
                engine,
                rng.choice(person_ids),
                {
                    "MA_XA": commune.code,
                    "DIA_CHI": f"Tổ dân phố {rng.randint(1, 12)}, {commune.label}, tỉnh Lạng Sơn",
                    "NGAY_HIEU_LUC_DC": _dmy(today),
                },
            )
            summary.address_changes += 1
        else:
            legacy_id = rng.choice(person_ids)
            row = legacy_row(engine, "DOI_TUONG", legacy_id) or {}
            edit = rng.choice(["HO_TEN_CHA", "NGAY_SINH", "DAN_TOC"])
            value: Any
            if edit == "HO_TEN_CHA":
                value = f"{str(row.get('HO_TEN') or 'Hoàng').split()[0]} Văn {rng.choice(MALE_GIVEN_NAMES)}"
            elif edit == "NGAY_SINH":
                year = str(row.get("NGAY_SINH") or "1980")[-4:]
                value = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}"
            else:
                value = rng.choice(["Nùng", "Tày", "Kinh", "Dao"])
            legacy_person_update(engine, legacy_id, {edit: value})
            summary.identity_edits += 1
    return summary
