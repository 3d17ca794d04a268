"""Legacy rows → bridge values (fieldsync terms), and back for the write-back.

Text is checked for TCVN3 on the *raw* value (before normalising: TCVN3 "ư" is a soft hyphen in
Latin-1, which normalising removes), then NFC-normalised. Person-name columns also get the
Đ/Ð homoglyph mapping. Dates are `dd/mm/yyyy` or `yyyy` in the registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from backend.core.text import looks_like_tcvn3, normalize_name, normalize_text, tcvn3_to_unicode
from sync.registry_bridge.codes import BridgeProblem
from sync.registry_bridge.port import CommuneStatus, LegacyRow, RegistryMapping

ID_NUMBER_RE = re.compile(r"^\d{12}$")

PERSON_NAME_COLUMNS = ("HO_TEN", "HO_TEN_CHA", "HO_TEN_ME")
PERSON_TEXT_COLUMNS = ("QUE_QUAN", "DAN_TOC", "DAC_DIEM_NHAN_DANG", "GHI_CHU", "DIA_CHI")
NOTICE_TEXT_COLUMNS = ("HO_TEN", "CO_QUAN_RA_QD")

#: bridge field -> legacy column, for the fields the bridge writes back to the registry.
#: Addresses and archiving are not written back: a move reaches the registry through residence
#: registration, not through a phone.
PERSON_WRITE_BACK: dict[str, str] = {
    "full_name": "HO_TEN",
    "sex": "GIOI_TINH",
    "dob": "NGAY_SINH",
    "personal_id_number": "SO_DINH_DANH",
    "ethnicity": "DAN_TOC",
    "native_place": "QUE_QUAN",
    "father_name": "HO_TEN_CHA",
    "mother_name": "HO_TEN_ME",
    "identifying_marks": "DAC_DIEM_NHAN_DANG",
    "notes": "GHI_CHU",
    "management_status": "TINH_TRANG_QL",
}
PERSON_FIELDS: tuple[str, ...] = (*PERSON_WRITE_BACK, "address", "is_archived")
#: The compared fields of a notice. Its person (`person_legacy_id`, in the values) is set when the
#: notice is created and not compared afterwards: fieldsync keeps no legacy id on a notice, so the
#: comparison would report every notice as changed while the write changed nothing.
NOTICE_FIELDS: tuple[str, ...] = (
    "decision_no",
    "decision_date",
    "issuing_agency",
    "full_name",
    "charges",
    "category",
    "status",
    "rescission_decision_no",
    "rescission_date",
    "rescission_reason",
)

_SEX_IN = {"NAM": "M", "NU": "F", "NỮ": "F"}
_SEX_OUT = {"M": "NAM", "F": "NU"}


@dataclass
class Translated:
    values: dict[str, Any] = field(default_factory=dict)
    problem: BridgeProblem | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    commune_remapped: bool = False


class DateInvalid(ValueError):
    pass


def parse_legacy_date(raw: Any) -> date | None:
    text = str(raw or "").strip()
    if not text:
        return None
    parts = text.split("/")
    try:
        if len(parts) == 3:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError as exc:
        raise DateInvalid(text) from exc
    raise DateInvalid(text)


def parse_dob(raw: Any) -> dict[str, Any]:
    """`dd/mm/yyyy` -> day precision; `yyyy`, `00/00/yyyy` -> year only; blank -> unknown."""
    text = str(raw or "").strip()
    if not text:
        return {"year": None, "month": None, "day": None, "precision": "unknown"}
    if re.fullmatch(r"\d{4}", text):
        return {"year": int(text), "month": None, "day": None, "precision": "year"}
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if match is None:
        raise DateInvalid(text)
    day, month, year = (int(g) for g in match.groups())
    if day == 0 and month == 0:
        return {"year": year, "month": None, "day": None, "precision": "year"}
    try:
        date(year, month, day)
    except ValueError as exc:
        raise DateInvalid(text) from exc
    return {"year": year, "month": month, "day": day, "precision": "day"}


def format_dob(dob: Mapping[str, Any] | None) -> str:
    if not dob or dob.get("year") is None:
        return ""
    if dob.get("precision") == "day" and dob.get("day") and dob.get("month"):
        return f"{int(dob['day']):02d}/{int(dob['month']):02d}/{int(dob['year'])}"
    return str(int(dob["year"]))


def write_back_value(name: str, value: Any) -> Any:
    """A bridge value as the legacy column stores it."""
    if name == "dob":
        return format_dob(value)
    if name == "sex":
        return _SEX_OUT.get(str(value), "")
    return value


def _tcvn3_columns(row: LegacyRow, columns: tuple[str, ...]) -> dict[str, str]:
    return {c: str(row[c]) for c in columns if isinstance(row.get(c), str) and looks_like_tcvn3(str(row[c]))}


def translate_person(row: LegacyRow, mapping: RegistryMapping) -> Translated:
    out = Translated()
    garbled = _tcvn3_columns(row, PERSON_NAME_COLUMNS + PERSON_TEXT_COLUMNS)
    if garbled:
        out.problem = BridgeProblem.TEXT_TCVN3
        out.message = "Legacy TCVN3 (ABC font) text; check the suggested conversion, fix and replay."
        out.details = {"columns": sorted(garbled), "suggested": {c: tcvn3_to_unicode(v) for c, v in garbled.items()}}
        return out
    raw_id = normalize_text(str(row.get("SO_DINH_DANH") or ""))
    if raw_id and not ID_NUMBER_RE.match(raw_id):
        out.problem = BridgeProblem.ID_NUMBER_INVALID
        out.message = "SO_DINH_DANH is not a 12-digit personal ID number."
        out.details = {"value": raw_id}
        return out
    try:
        dob = parse_dob(row.get("NGAY_SINH"))
        address_from = parse_legacy_date(row.get("NGAY_HIEU_LUC_DC"))
    except DateInvalid as exc:
        out.problem, out.message, out.details = (
            BridgeProblem.DATE_INVALID,
            "A date is not dd/mm/yyyy.",
            {"value": str(exc)},
        )
        return out
    raw_commune = str(row.get("MA_XA") or "").strip()
    address_text = normalize_text(str(row.get("DIA_CHI") or ""))
    resolution = mapping.commune_resolve(raw_commune, address_from, address_text)
    if resolution.status is CommuneStatus.UNKNOWN or (resolution.code is None and not resolution.candidates):
        out.problem = BridgeProblem.COMMUNE_UNKNOWN
        out.message = f"Commune code {raw_commune!r} is neither a 2025 nor a pre-2025 code of the province."
        out.details = {"MA_XA": raw_commune}
        return out
    if resolution.status is CommuneStatus.SPLIT:
        out.problem = BridgeProblem.COMMUNE_SPLIT
        out.message = (
            f"Pre-2025 commune {raw_commune} was split across several 2025 communes; "
            "choose the new commune code (MA_XA) from the candidates and replay."
        )
        out.details = {"MA_XA": raw_commune, "candidates": list(resolution.candidates)}
        return out
    out.commune_remapped = resolution.status is CommuneStatus.MERGED and resolution.code != raw_commune
    out.values = {
        "full_name": normalize_name(str(row.get("HO_TEN") or "")),
        "sex": _SEX_IN.get(normalize_text(str(row.get("GIOI_TINH") or "")).upper(), "U"),
        "dob": dob,
        "personal_id_number": raw_id or None,
        "ethnicity": normalize_text(str(row.get("DAN_TOC") or "")),
        "native_place": normalize_text(str(row.get("QUE_QUAN") or "")),
        "father_name": normalize_name(str(row.get("HO_TEN_CHA") or "")),
        "mother_name": normalize_name(str(row.get("HO_TEN_ME") or "")),
        "identifying_marks": normalize_text(str(row.get("DAC_DIEM_NHAN_DANG") or "")),
        "notes": normalize_text(str(row.get("GHI_CHU") or "")),
        "management_status": normalize_text(str(row.get("TINH_TRANG_QL") or "none")).lower() or "none",
        "address": {
            "commune_code": resolution.code,
            "text": address_text,
            "code_version": "pre2025" if resolution.status is CommuneStatus.MERGED else "2025",
            "recorded_commune_code": raw_commune,
            "valid_from": address_from.isoformat() if address_from else None,
            "effective_from": resolution.effective_from.isoformat() if resolution.effective_from else None,
        },
        "is_archived": bool(row.get("DA_XOA")),
    }
    return out


def translate_notice(row: LegacyRow) -> Translated:
    out = Translated()
    garbled = _tcvn3_columns(row, NOTICE_TEXT_COLUMNS)
    if garbled:
        out.problem = BridgeProblem.TEXT_TCVN3
        out.message = "Legacy TCVN3 (ABC font) text; check the suggested conversion, fix and replay."
        out.details = {"columns": sorted(garbled), "suggested": {c: tcvn3_to_unicode(v) for c, v in garbled.items()}}
        return out
    try:
        decided = parse_legacy_date(row.get("NGAY_QD"))
        rescinded = parse_legacy_date(row.get("NGAY_DINH_NA"))
    except DateInvalid as exc:
        out.problem, out.message, out.details = (
            BridgeProblem.DATE_INVALID,
            "A date is not dd/mm/yyyy.",
            {"value": str(exc)},
        )
        return out
    if decided is None:
        out.problem, out.message = BridgeProblem.DATE_INVALID, "NGAY_QD is missing."
        return out
    charges = [c.strip() for c in str(row.get("TOI_DANH") or "").split(";") if c.strip()]
    out.values = {
        "person_legacy_id": int(row["MA_DT"]) if row.get("MA_DT") is not None else None,
        "decision_no": normalize_text(str(row.get("SO_QD") or "")),
        "decision_date": decided.isoformat(),
        "issuing_agency": normalize_text(str(row.get("CO_QUAN_RA_QD") or "")),
        "full_name": normalize_name(str(row.get("HO_TEN") or "")),
        "charges": charges,
        "category": str(row.get("LOAI_TN") or "SUSPECT"),
        "status": "RESCINDED" if row.get("TRANG_THAI") == "DINH_NA" else "ACTIVE",
        "rescission_decision_no": normalize_text(str(row.get("SO_QD_DINH_NA") or "")),
        "rescission_date": rescinded.isoformat() if rescinded else None,
        "rescission_reason": str(row.get("LY_DO_DINH_NA") or ""),
    }
    return out
