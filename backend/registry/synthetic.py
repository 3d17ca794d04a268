"""Deterministic synthetic province for Lạng Sơn: persons, residences, convictions, wanted
notices and drug-use records (DOMAIN §5.2). Pure Python, no Django; every row is invented.

Nothing here describes a real person. Personal ID numbers use the never-assigned prefix `000`
(DOMAIN §5.2.6), old 9-digit ID numbers likewise, phone numbers are always None, and every row
carries `is_synthetic=True`. The administrative catalogue (`COMMUNES`, `PRE2025_UNITS`) is real
public data; village names, court and decision numbers, signers and addresses are invented.

Weights and name lists are assumptions [A] to be reviewed by a Vietnamese colleague (DOMAIN §5.2).

`generate_province()` is a pure function of (person_count, seed, as_of): the same arguments give
the same rows on every run. It does not read the clock.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final, Generic, Literal, TypeVar

from backend.core.text import unicode_to_tcvn3

__all__ = [
    "COMMUNES",
    "FEMALE_GIVEN_NAMES",
    "MALE_GIVEN_NAMES",
    "PRE2025_UNITS",
    "REFERENCE_DATE",
    "Commune",
    "Pre2025Unit",
    "SyntheticConviction",
    "SyntheticDrugRecord",
    "SyntheticPerson",
    "SyntheticProvince",
    "SyntheticResidence",
    "SyntheticWantedNotice",
    "generate_province",
]

Sex = Literal["M", "F"]
DobPrecision = Literal["day", "year"]
CommuneKind = Literal["ward", "commune"]
ResidenceKind = Literal["THUONG_TRU", "TAM_TRU", "NOI_O_HIEN_TAI"]
EnforcementStatus = Literal["SERVING", "COMPLETED", "EVADING"]
WantedCategory = Literal["SUSPECT", "DEFENDANT", "CONVICT_ESCAPED"]
WantedType = Literal["ORDINARY", "SPECIAL", "INTERNATIONAL"]
RescissionReason = Literal["", "ARRESTED", "SURRENDERED", "DEAD", "DECISION_CANCELLED"]
DrugMeasure = Literal[
    "MANAGEMENT",
    "VOLUNTARY_REHAB_HOME",
    "VOLUNTARY_REHAB_FACILITY",
    "COMPULSORY_REHAB",
    "METHADONE",
    "POST_REHAB",
]

#: "Today" for every status computed here (serving/completed, expunged, active/ended). Fixed so
#: that output never depends on the clock; override with `generate_province(as_of=...)`.
REFERENCE_DATE: Final = date(2026, 12, 1)

PROVINCE_CODE: Final = "20"  # Lạng Sơn, 2025 province code
PROVINCE_NAME: Final = "Lạng Sơn"
SYNTHETIC_ID_PREFIX: Final = "000"  # never assigned (real codes start at 001): DOMAIN §5.2.6
SOURCE_REGISTRY: Final = "synthetic"
SOURCE_LEGACY_TCVN3: Final = "synthetic_legacy_abc_import"

MERGER_DATE: Final = date(2025, 7, 1)  # two-level local government; 2025 commune codes
PENAL_CODE_2015_IN_FORCE: Final = date(2018, 1, 1)
DRUG_LAW_2021_IN_FORCE: Final = date(2022, 1, 1)  # Law 73/2021: management of drug users, art. 23
ART_256A_IN_FORCE: Final = date(2025, 7, 1)  # Law 86/2025: illegal drug use becomes a crime


# --- public records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commune:
    """A post-1 Jul 2025 commune-level unit of Lạng Sơn (xã or phường)."""

    code: str  # 5 digits
    name: str  # without the "xã"/"phường" prefix, official spelling (e.g. "Quý Hòa")
    kind: CommuneKind
    is_border: bool
    border_gate: str | None  # gates/openings in the unit, "; "-separated

    @property
    def label(self) -> str:
        """ "phường Đông Kinh" / "xã Mẫu Sơn", as written in an address."""
        return f"{'phường' if self.kind == 'ward' else 'xã'} {self.name}"


@dataclass(frozen=True, slots=True)
class Pre2025Unit:
    """A pre-2025 commune-level unit that was merged (wholly or partly) into a `Commune`."""

    code: str
    kind: Literal["phường", "thị trấn", "xã"]
    name: str
    district: str  # "huyện Lộc Bình", "thành phố Lạng Sơn"
    is_partly_merged: bool  # split across several new units: flag for manual review (DOMAIN §3.2)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    """A registry person. Name, place and mark fields hold the text *as recorded*: for rows with
    `data_quality` flags it is deliberately dirty. `canonical_full_name` is the clean NFC ground
    truth, for tests only (a real registry would not have it)."""

    key: str  # synthetic person key "P000001"; relates every other record
    full_name: str
    family_name: str
    middle_name: str  # "" when the person has none
    given_name: str
    canonical_full_name: str
    aliases: tuple[str, ...]
    sex: Sex
    dob_year: int
    dob_month: int | None
    dob_day: int | None
    dob_precision: DobPrecision
    personal_id_number: str | None  # 12 digits starting with 000; None for some legacy/duplicate rows
    old_id_number: str | None  # synthetic 9-digit CMND, "000" + 6 digits
    ethnicity: str
    occupation: str
    native_place: str
    father_name: str
    mother_name: str
    identifying_marks: str
    height_cm: int
    primary_commune_code: str
    phone_number: None
    source_system: str
    data_quality: tuple[str, ...]
    is_synthetic: bool = True


@dataclass(frozen=True, slots=True)
class SyntheticResidence:
    key: str
    person_key: str
    kind: ResidenceKind
    province_code: str
    ward_code: str  # the 2025 code (ground truth, also for pre2025-recorded rows)
    village_or_street: str
    address_text_as_recorded: str
    admin_code_version: Literal["2025", "pre2025"]  # the form of address_text_as_recorded
    pre2025_ward_code: str  # the pre-2025 unit this address belonged to (for migration tests)
    pre2025_address_text: str
    valid_from: date | None
    valid_to: date | None
    source: str
    is_synthetic: bool = True


@dataclass(frozen=True, slots=True)
class SyntheticConviction:
    key: str
    person_key: str
    judgment_no: str
    judgment_date: date
    court: str
    charges: tuple[str, ...]  # "BLHS2015:article[.clause[.point]]"
    principal_penalty_type: str  # PenaltyType values: CANH_CAO, PHAT_TIEN, TU_CO_THOI_HAN, ...
    principal_penalty_months: int | None  # prison, suspended prison or reform term
    probation_months: int | None  # suspended sentences only
    fine_vnd: int | None  # principal fine only
    additional_penalties: tuple[str, ...]
    civil_obligations: str
    enforcement_status: EnforcementStatus
    completion_date: date | None  # end of the principal penalty or of the probation period
    expunged: bool
    expunged_date: date | None
    expunction_basis: Literal["", "AUTO_ART70"]
    source: str
    is_synthetic: bool = True


@dataclass(frozen=True, slots=True)
class SyntheticWantedNotice:
    """A wanted decision (CPC 2015 art. 231) with the identity snapshot printed on it."""

    key: str
    person_key: str
    decision_no: str
    decision_date: date
    place: str
    issuing_agency: str
    signer_name: str
    signer_position: str
    legal_basis: str
    agency_contact: str
    full_name: str
    sex: Sex
    dob_year: int
    dob_month: int | None
    dob_day: int | None
    aliases: tuple[str, ...]
    father_name: str
    mother_name: str
    residence_text: str
    identifying_marks: str
    charges: tuple[str, ...]
    category: WantedCategory
    wanted_type: WantedType
    scope: Literal["NATIONWIDE"]
    status: Literal["ACTIVE", "RESCINDED"]
    rescission_decision_no: str
    rescission_date: date | None
    rescission_reason: RescissionReason
    is_synthetic: bool = True


@dataclass(frozen=True, slots=True)
class SyntheticDrugRecord:
    """One drug-use measure period. MANAGEMENT rows are the art. 23 one-year periods; rehab,
    methadone and post-rehab rows follow some of them. `art256a_exposure_until` is the end of the
    window in which drug use would be a crime under Penal Code art. 256a (None when none applies)."""

    key: str
    person_key: str
    commune_code: str
    measure: DrugMeasure
    decision_no: str
    decision_date: date
    deciding_authority: str
    start_date: date
    end_date: date  # last day of the period (planned, when still running)
    status: Literal["active", "ended"]
    substance: str
    quit_early: bool
    art256a_exposure_until: date | None
    is_synthetic: bool = True


@dataclass(frozen=True, slots=True)
class SyntheticProvince:
    seed: int
    as_of: date
    communes: tuple[Commune, ...]
    persons: tuple[SyntheticPerson, ...]
    residences: tuple[SyntheticResidence, ...]
    convictions: tuple[SyntheticConviction, ...]
    wanted_notices: tuple[SyntheticWantedNotice, ...]
    drug_records: tuple[SyntheticDrugRecord, ...]


# --- administrative catalogue ----------------------------------------------------------------

# The 65 commune-level units of Lạng Sơn from 1 Jul 2025 (Resolution 1672/NQ-UBTVQH15: 61 xã,
# 4 phường), with the pre-2025 units merged into each. Codes and names are real: they match
# DOMAIN §3.2 and the offline package `vietnam-provinces` 2026.9.0 (its `_ward_conversion_2025`
# table, from the official conversion list, supplied the predecessors; "*" = partly merged).
# Note: `vietnam-provinces` 2025.10.1, which DOMAIN §3.2 cites, differs for five codes
# (Quốc Khánh 06016, Na Sầm 06214, Thiện Tân 06421, Cao Lộc 06193, Ba Sơn 06202); 2026.9.0 and
# DOMAIN agree on the codes below.
#
# Border flags and gates are [R], from memory of the pre-2025 border communes and DOMAIN §3.3:
# Hữu Nghị and Đồng Đăng station were in thị trấn Đồng Đăng, Chi Ma in xã Yên Khoái (→ Mẫu Sơn),
# Tân Thanh and Cốc Nam in xã Tân Thanh / Tân Mỹ (→ Hoàng Văn Thụ), Bình Nghi in xã Đào Viên
# (→ Quốc Việt). Verify the border-belt list with the client before using it for jurisdiction.
#
# Format: "P|X code name [border: gates]" for a new unit (P = phường, X = xã), then indented
# "P|T|X code name @district" lines for its predecessors (T = thị trấn, @TP = thành phố Lạng Sơn).
_UNIT_TABLE: Final = """
P 05977 Đông Kinh
    P 05977 Vĩnh Trại @TP
    P 05980 Đông Kinh @TP
    X 05992 Mai Pha @TP
    X 06247 Yên Trạch @Cao Lộc
P 05983 Lương Văn Tri
    P 05983 Chi Lăng @TP
    X 05989 Quảng Lạc @TP
P 05986 Tam Thanh
    P 05974 Tam Thanh @TP
    X 05986 Hoàng Đồng @TP
P 06187 Kỳ Lừa
    P 05971 Hoàng Văn Thụ @TP
    T 06187 Cao Lộc @Cao Lộc
    X 06226 Hợp Thành @Cao Lộc
    X 06235 Gia Cát @Cao Lộc
    X 06244 Tân Liên @Cao Lộc
X 06001 Đoàn Kết
    X 05998 Khánh Long @Tràng Định
    X 06001 Đoàn Kết @Tràng Định
    X 06010 Cao Minh @Tràng Định
X 06004 Quốc Khánh  [border]
    X 06004 Quốc Khánh @Tràng Định
    X 06016 Tri Phương @Tràng Định
    X 06025 Đội Cấn @Tràng Định
X 06019 Tân Tiến
    X 06019 Tân Tiến @Tràng Định
    X 06022 Tân Yên @Tràng Định
    X 06031 Kim Đồng @Tràng Định
X 06037 Kháng Chiến  [border]
    X 06028 Tân Minh @Tràng Định
    X 06037 Trung Thành @Tràng Định
    X 06049 Kháng Chiến @Tràng Định
X 06040 Thất Khê
    X 06013 Chí Minh @Tràng Định
    X 06034 Chi Lăng @Tràng Định
    T 06040 Thất Khê @Tràng Định
X 06046 Tràng Định
    X 06046 Đề Thám @Tràng Định
    X 06055 Hùng Sơn @Tràng Định
    X 06061 Hùng Việt @Tràng Định
X 06058 Quốc Việt  [border: Bình Nghi (lối mở)]
    X 06043 Đào Viên @Tràng Định
    X 06058 Quốc Việt @Tràng Định
X 06073 Hoa Thám
    X 06067 Hưng Đạo @Bình Gia
    X 06073 Hoa Thám @Bình Gia
X 06076 Quý Hòa
    X 06070 Vĩnh Yên @Bình Gia
    X 06076 Quý Hòa @Bình Gia
X 06079 Hồng Phong
    X 06079 Hồng Phong @Bình Gia
    X 06094 Minh Khai @Bình Gia
X 06085 Thiện Hòa
    X 06082 Yên Lỗ @Bình Gia
    X 06085 Thiện Hòa @Bình Gia
X 06091 Thiện Thuật
    X 06088 Quang Trung @Bình Gia
    X 06091 Thiện Thuật @Bình Gia
X 06103 Thiện Long
    X 06097 Thiện Long @Bình Gia
    X 06103 Hòa Bình @Bình Gia
    X 06109 Tân Hòa @Bình Gia
X 06112 Bình Gia
    X 06100 Hoàng Văn Thụ @Bình Gia
    X 06106 Mông Ân @Bình Gia
    T 06112 Bình Gia @Bình Gia
X 06115 Tân Văn
    X 06115 Hồng Thái @Bình Gia
    X 06118 Bình La @Bình Gia
    X 06121 Tân Văn @Bình Gia
X 06124 Na Sầm
    T 06124 Na Sầm @Văn Lãng
    X 06139 Bắc Hùng @Văn Lãng
    X 06157 Hoàng Việt @Văn Lãng
X 06148 Thụy Hùng  [border]
    X 06127 Trùng Khánh @Văn Lãng
    X 06136 Thụy Hùng @Văn Lãng
    X 06148 Thanh Long @Văn Lãng
X 06151 Hội Hoan
    X 06151 Hội Hoan @Văn Lãng
    X 06160 Gia Miễn @Văn Lãng
X 06154 Văn Lãng
    X 06133 Bắc La @Văn Lãng
    X 06142 Tân Tác @Văn Lãng
    X 06154 Bắc Việt @Văn Lãng
    X 06163 Thành Hòa @Văn Lãng
X 06172 Hoàng Văn Thụ  [border: Tân Thanh (lối mở); Cốc Nam (lối mở)]
    X 06166 Tân Thanh @Văn Lãng
    X 06172 Tân Mỹ @Văn Lãng
    X 06175 Hồng Thái @Văn Lãng
    X 06178 Hoàng Văn Thụ @Văn Lãng
    X 06181 Nhạc Kỳ @Văn Lãng
X 06184 Đồng Đăng  [border: Hữu Nghị (quốc tế, đường bộ); ga Đồng Đăng (quốc tế, đường sắt)]
    T 06184 Đồng Đăng @Cao Lộc
    X 06190 Bảo Lâm @Cao Lộc
    X 06205 Hồng Phong @Cao Lộc
    X 06208 Thụy Hùng @Cao Lộc
    X 06214 Phú Xá @Cao Lộc
X 06196 Ba Sơn  [border]
    X 06196 Cao Lâu @Cao Lộc
    X 06202 Xuất Lễ @Cao Lộc
    X 06238 Mẫu Sơn @Cao Lộc
X 06211 Cao Lộc  [border]
    X 06193 Thanh Lòa @Cao Lộc
    X 06199 Thạch Đạn @Cao Lộc
    X 06211 Lộc Yên @Cao Lộc
X 06220 Công Sơn
    X 06220 Hải Yến @Cao Lộc
    X 06223 Hòa Cư @Cao Lộc
    X 06232 Công Sơn @Cao Lộc
X 06253 Văn Quan
    T 06253 Văn Quan @Văn Quan
    X 06274 Hòa Bình @Văn Quan
    X 06277 Tú Xuyên @Văn Quan
X 06280 Điềm He
    X 06256 Trấn Ninh @Văn Quan
    X 06268 Liên Hội @Văn Quan
    X 06280 Điềm He @Văn Quan
X 06286 Khánh Khê
    X 06286 Khánh Khê @Văn Quan
    X 06217 Bình Trung @Cao Lộc
    X 06241 Xuân Long @Cao Lộc
X 06298 Yên Phúc
    X 06283 An Sơn @Văn Quan
    X 06298 Bình Phúc @Văn Quan
    X 06319 Yên Phúc @Văn Quan
X 06313 Tri Lễ
    X 06292 Lương Năng @Văn Quan
    X 06313 Tri Lễ @Văn Quan
    X 06322 Hữu Lễ @Văn Quan
X 06316 Tân Đoàn
    X 06250 Tân Thành @Cao Lộc
    X 06307 Tân Đoàn @Văn Quan
    X 06316 Tràng Phái @Văn Quan
X 06325 Bắc Sơn
    T 06325 Bắc Sơn @Bắc Sơn
    X 06328 Long Đống @Bắc Sơn
    X 06343 Bắc Quỳnh @Bắc Sơn
X 06337 Tân Tri
    X 06331 Vạn Thủy @Bắc Sơn
    X 06337 Đồng Ý @Bắc Sơn
    X 06340 Tân Tri @Bắc Sơn
X 06349 Hưng Vũ
    X 06349 Hưng Vũ @Bắc Sơn
    X 06370 Trấn Yên @Bắc Sơn
X 06364 Vũ Lễ
    X 06355 Vũ Sơn @Bắc Sơn
    X 06364 Chiến Thắng @Bắc Sơn
    X 06373 Vũ Lễ @Bắc Sơn
X 06367 Vũ Lăng
    X 06352 Tân Lập @Bắc Sơn
    X 06358 Chiêu Vũ @Bắc Sơn
    X 06361 Tân Hương @Bắc Sơn
    X 06367 Vũ Lăng @Bắc Sơn
X 06376 Nhất Hòa
    X 06376 Nhất Hòa @Bắc Sơn
    X 06379 Tân Thành @Bắc Sơn
    X 06382 Nhất Tiến @Bắc Sơn
X 06385 Hữu Lũng
    T 06385 Hữu Lũng @Hữu Lũng
    X 06424 Đồng Tân @Hữu Lũng
    X 06451 Hồ Sơn @Hữu Lũng
X 06391 Yên Bình
    X 06391 Yên Bình @Hữu Lũng
    X 06394 Quyết Thắng @Hữu Lũng
    X 06397 Hòa Bình @Hữu Lũng
X 06400 Hữu Liên
    X 06388 Hữu Liên @Hữu Lũng
    X 06400 Yên Thịnh @Hữu Lũng
X 06415 Vân Nham
    X 06415 Minh Tiến @Hữu Lũng
    X 06418 Nhật Tiến @Hữu Lũng
    X 06433 Vân Nham @Hữu Lũng
X 06427 Cai Kinh
    X 06403 Yên Sơn @Hữu Lũng
    X 06412 Yên Vượng @Hữu Lũng
    X 06427 Cai Kinh @Hữu Lũng
X 06436 Thiện Tân
    X 06406 Thiện Tân @Hữu Lũng
    X 06421 Thanh Sơn @Hữu Lũng
    X 06436 Đồng Tiến @Hữu Lũng
X 06445 Tân Thành
    X 06430 Hòa Lạc @Hữu Lũng
    X 06442 Tân Thành @Hữu Lũng
    X 06445 Hòa Sơn @Hữu Lũng
X 06457 Tuấn Sơn
    X 06448 Minh Sơn @Hữu Lũng
    X 06457 Minh Hòa @Hữu Lũng
    X 06460 Hòa Thắng @Hữu Lũng
X 06463 Chi Lăng
    T 06463 Đồng Mỏ @Chi Lăng
    T 06466 Chi Lăng @Chi Lăng
    X 06523 Chi Lăng @Chi Lăng
X 06475 Bằng Mạc
    X 06475 Gia Lộc @Chi Lăng
    X 06487 Bằng Hữu @Chi Lăng
    X 06490 Thượng Cường @Chi Lăng
    X 06493 Bằng Mạc @Chi Lăng
X 06481 Chiến Thắng
    X 06469 Vân An @Chi Lăng
    X 06472 Vân Thủy @Chi Lăng
    X 06481 Chiến Thắng @Chi Lăng
    X 06502 Liên Sơn @Chi Lăng
X 06496 Nhân Lý
    X 06478 Bắc Thủy @Chi Lăng
    X 06484 Mai Sao @Chi Lăng
    X 06496 Nhân Lý @Chi Lăng
    X 06499 Lâm Sơn @Chi Lăng
X 06505 Vạn Linh
    X 06505 Vạn Linh @Chi Lăng
    X 06508 Hòa Bình @Chi Lăng
    X 06520 Y Tịch @Chi Lăng
X 06517 Quan Sơn
    X 06514 Hữu Kiên @Chi Lăng
    X 06517 Quan Sơn @Chi Lăng
X 06526 Na Dương
    T 06526 Na Dương @Lộc Bình
    X 06562 Tú Đoạn @Lộc Bình
    X 06592 Đông Quan @Lộc Bình
X 06529 Lộc Bình
    T 06529 Lộc Bình @Lộc Bình
    X 06544 Khánh Xuân @Lộc Bình
    X 06550 Hữu Khánh @Lộc Bình
    X 06553 Đồng Bục @Lộc Bình
X 06541 Mẫu Sơn  [border: Chi Ma (song phương)]
    X 06532 Mẫu Sơn @Lộc Bình
    X 06541 Yên Khoái @Lộc Bình
    X 06547 Tú Mịch @Lộc Bình
X 06565 Khuất Xá  [border]
    X 06559 Tam Gia @Lộc Bình
    X 06565 Khuất Xá @Lộc Bình
X 06577 Thống Nhất
    X 06577 Thống Nhất @Lộc Bình
    X 06595 Minh Hiệp @Lộc Bình
    X 06598 Hữu Lân @Lộc Bình
X 06601 Lợi Bác
    X 06589 Sàn Viên @Lộc Bình
    X 06601 Lợi Bác @Lộc Bình
X 06607 Xuân Dương
    X 06604 Nam Quan @Lộc Bình
    X 06607 Xuân Dương @Lộc Bình
    X 06610 Ái Quốc @Lộc Bình
X 06613 Đình Lập
    T 06613 Đình Lập @Đình Lập
    X 06622 Bính Xá @Đình Lập *
    X 06628 Đình Lập @Đình Lập
X 06616 Thái Bình
    T 06616 Nông trường Thái Bình @Đình Lập
    X 06631 Thái Bình @Đình Lập
    X 06640 Lâm Ca @Đình Lập
X 06625 Kiên Mộc  [border]
    X 06619 Bắc Xa @Đình Lập
    X 06622 Bính Xá @Đình Lập *
    X 06625 Kiên Mộc @Đình Lập *
X 06637 Châu Sơn
    X 06625 Kiên Mộc @Đình Lập *
    X 06634 Cường Lợi @Đình Lập
    X 06637 Châu Sơn @Đình Lập
    X 06643 Đồng Thắng @Đình Lập
    X 06646 Bắc Lãng @Đình Lập
"""

_OLD_KINDS: Final[dict[str, Literal["phường", "thị trấn", "xã"]]] = {
    "P": "phường",
    "T": "thị trấn",
    "X": "xã",
}


def _parse_unit_table(table: str) -> tuple[tuple[Commune, ...], dict[str, tuple[Pre2025Unit, ...]]]:
    communes: list[Commune] = []
    predecessors: dict[str, list[Pre2025Unit]] = {}
    for raw in table.splitlines():
        if not raw.strip():
            continue
        if not raw.startswith(" "):
            head, _, border = raw.partition("[border")
            kind_letter, code, name = head.strip().split(" ", 2)
            gate = border.removeprefix(":").removesuffix("]").strip() or None
            communes.append(
                Commune(
                    code=code,
                    name=name,
                    kind="ward" if kind_letter == "P" else "commune",
                    is_border=bool(border),
                    border_gate=gate,
                )
            )
            predecessors[code] = []
            continue
        text = raw.strip()
        is_partly = text.endswith(" *")
        text = text.removesuffix(" *")
        head, _, district = text.partition(" @")
        kind_letter, code, name = head.split(" ", 2)
        predecessors[communes[-1].code].append(
            Pre2025Unit(
                code=code,
                kind=_OLD_KINDS[kind_letter],
                name=name,
                district="thành phố Lạng Sơn" if district == "TP" else f"huyện {district}",
                is_partly_merged=is_partly,
            )
        )
    return tuple(communes), {code: tuple(units) for code, units in predecessors.items()}


COMMUNES, PRE2025_UNITS = _parse_unit_table(_UNIT_TABLE)
COMMUNES_BY_CODE: Final[dict[str, Commune]] = {c.code: c for c in COMMUNES}

# --- weighted choice -------------------------------------------------------------------------

T = TypeVar("T")


class _Weighted(Generic[T]):
    """Items with precomputed cumulative weights; `pick` is one `random()` and a bisect."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        weights: list[float] = []
        for item, weight in pairs:
            if weight > 0:
                items.append(item)
                weights.append(weight)
        self._items: tuple[T, ...] = tuple(items)
        self._cumulative: list[float] = list(itertools.accumulate(weights))
        self._total: float = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]

    def pick_many(self, rng: random.Random, count: int) -> list[T]:
        return rng.choices(self._items, cum_weights=self._cumulative, k=count)


def _uniform_int(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high]; `random.randint` is several times slower."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


_MARK_COUNTS: Final[_Weighted[int]] = _Weighted([(0, 30.0), (1, 50.0), (2, 20.0)])
_CONVICTION_COUNTS: Final[_Weighted[int]] = _Weighted([(0, 15.0), (1, 60.0), (2, 17.0), (3, 6.0), (4, 2.0)])


def _words(text: str) -> tuple[str, ...]:
    """Whitespace-separated words, NFC, duplicates removed (first occurrence kept)."""
    return tuple(dict.fromkeys(unicodedata.normalize("NFC", w) for w in text.split()))


def _zipf(items: Sequence[T], exponent: float, offset: float) -> _Weighted[T]:
    """Weights falling with list position: the lists are written most common first."""
    return _Weighted((item, 1.0 / (rank + offset) ** exponent) for rank, item in enumerate(items))


def _table(text: str) -> _Weighted[str]:
    """'Name weight, Name weight, ...' -> weighted names (names may contain spaces)."""
    pairs: list[tuple[str, float]] = []
    for entry in text.split(","):
        if entry.strip():
            name, _, weight = entry.strip().rpartition(" ")
            pairs.append((unicodedata.normalize("NFC", name), float(weight)))
    return _Weighted(pairs)


# --- names [A] -----------------------------------------------------------------------------

# DOMAIN §5.2.1 (population shares of Lạng Sơn, travel-guide source).
ETHNICITIES: Final = _table("Nùng 43, Tày 36, Kinh 16, Dao 3, Hoa 1, Sán Chay 0.5, H'Mông 0.5")

# DOMAIN §5.2.2 / §4.1.9. Kinh: the national distribution (Hoàng/Huỳnh and Vũ/Võ written with the
# northern spelling), with a tail of other common family names.
_KINH_FAMILY: Final = _table(
    "Nguyễn 38.4, Trần 11, Lê 9.5, Phạm 7.1, Hoàng 5.1, Phan 4.5, Vũ 3.9, Đặng 2.1, Bùi 2, Đỗ 1.4,"
    "Hồ 1.3, Ngô 1.3, Dương 1, Đinh 0.8, Lý 0.5, Đào 0.6, Trịnh 0.6, Đoàn 0.4, Mai 0.4, Hà 0.4,"
    "Lương 0.3, Cao 0.3, Tạ 0.3, Trương 0.3, Lưu 0.3, Chu 0.2, Tô 0.2, Lâm 0.2, Phùng 0.2, Vương 0.2,"
    "Kiều 0.1, Thân 0.1, Quách 0.1, Lã 0.1"
)
# Tày and Nùng: hand-tuned [A]; no frequency table was found (DOMAIN §4.1.9). Hoàng and Nguyễn lead
# so that the province-wide top two are Nguyễn and Hoàng, with Nông a clear third.
_TAY_NUNG_FAMILY: Final = _table(
    "Hoàng 14, Nguyễn 13, Nông 8, Lương 6, Vi 4, Vy 1.5, Lăng 3, Hà 4, Lộc 3, Triệu 4, Chu 2.5,"
    "Mã 2, Đàm 2, Hứa 2, Lý 2.5, Lục 2, Bế 2, Ma 1.5, Dương 3, Ninh 1.5, Tô 2, La 1.5, Lành 0.8,"
    "Lã 0.8, Đinh 0.8"
)
FAMILY_NAMES: Final[dict[str, _Weighted[str]]] = {
    "Kinh": _KINH_FAMILY,
    "Tày": _TAY_NUNG_FAMILY,
    "Nùng": _TAY_NUNG_FAMILY,
    "Dao": _table("Triệu 30, Bàn 25, Đặng 20, Lý 12, Phùng 8, Chảo 5"),
    "H'Mông": _table("Giàng 25, Vàng 25, Lý 15, Sùng 15, Thào 12, Hầu 8"),
    "Hoa": _table("Lý 15, Trương 12, Lương 12, Hoàng 10, Lâm 10, Lưu 8, Quan 6, Tăng 6, Diệp 5, Mã 5, Chung 5, Từ 4"),
    "Sán Chay": _table("Hoàng 25, Lục 15, La 12, Lâm 12, Trần 10, Dương 10, Triệu 8"),
}

# Given names, most common first. Single syllables: the Vietnamese given name (tên) is the last
# syllable; longer names get longer middle names. Besides common Sino-Vietnamese names the lists
# hold the rural names older registries are full of: birth-order names (Hai, Ba, Tư…), zodiac-year
# and heavenly-stem names (Tý, Sửu, Dần…, Bính, Canh, Nhâm) and virtue words (Bền, Chắc, Khéo…).
MALE_GIVEN_NAMES: Final = _words(
    """
    Hùng Dũng Tuấn Minh Hải Nam Long Sơn Thắng Cường Hoàng Huy Đức Thành Trung Quang Phong Tùng Hiếu
    Khánh Tú Anh Bình Hưng Việt Lâm Toàn Hòa Linh Vinh Mạnh Hiệp Duy Đạt Thịnh Kiên Quân Tiến Lộc
    Phúc Tâm Tài Thái Trường Chiến Công Hậu Lợi Nghĩa Phương Quý Sáng Thanh Thông Thuận Tình Vũ Bảo
    Bằng Chung Cương Định Dương Giang Hà Hạnh Hào Hiển Học Hợp Khải Khang Khoa Khôi Lực Luân Lượng
    Ninh Nhân Nhật Phát Phú Quyết Quyền Sinh Tân Thạch Thiện Thọ Thức Tín Toản Trọng Tuyên Xuân Yên
    An Ân Bắc Biên Cảnh Cao Chí Chính Chương Danh Dân Doanh Du Dự Đại Đăng Đông Đồng Đoàn Điền Điệp
    Đỉnh Giáp Hân Hiền Hiến Hoan Hoành Hồng Hội Huân Huấn Hưởng Hữu Kha Khiêm Khương Kiệt Kim Kỳ Lai
    Lam Lân Lập Liêm Lịch Lĩnh Luyện Lưu Mẫn Mậu Nghị Nghiêm Ngọc Nguyên Nhàn Nhất Phi Phụng Phước
    Quảng Quế Quốc Quỳnh Sang Sĩ Sỹ Tạo Tấn Thăng Thế Thiệu Thoại Thống Thuật Thủy Thực Tiệp Tiếp
    Toại Trí Triều Trình Truyền Tuệ Tuyến Tuyển Tường Uy Vân Viên Viễn Vĩnh Vượng Vương Xuyên
    Hai Ba Tư Năm Sáu Bảy Tám Chín Mười Tý Sửu Dần Mão Thìn Tỵ Ngọ Mùi Thân Dậu Tuất Hợi Bính Canh
    Nhâm Bền Chắc Khỏe Vững Mừng Được Đủ Hòe Sâm Tòng Chấn Chuyên Diên Dinh Hoạt Hồi Huỳnh Khoái
    Khuyến Kính Lạc Lãng Lễ Nhị Phòng Sính Thuyết Tụng Vạn Đãi Liễn Bách Cần Châu Chinh Chúc Cung
    Cừ Đích Độ Giao Hiên Hiệu Hoán Hoạch Huynh Khâm Khuê Kiểm Kiều Ngạn Nghiệp Ngôn Nhuận Phán Pháp
    Phiên Phổ Sắc Sở Tá Tôn Tráng Trãi Trực Tước Ứng Vịnh Vọng Khẩn Kiện Khởi Hoằng Biểu Cẩn Chỉnh
    Chuẩn Cửu Diệm Đình Đô Đôn Hành Lũy Luật Nhạc Nhượng Sự Tập Thạc Thao Thiêm Thục Tích Tĩnh Trác
    Trạch Trụ Tuân Vận Vệ Vỹ Lương Nhẫn
    """
)
FEMALE_GIVEN_NAMES: Final = _words(
    """
    Hương Lan Hoa Hà Linh Mai Ngọc Thảo Trang Hằng Huyền Hạnh Nga Phương Thủy Thúy Yến Dung Hiền Hồng
    Loan Liên Nhung Oanh Quỳnh Vân Anh Thu Thơm Tuyết Xuân Hòa Giang Chi Diệp Diệu Duyên Đào Điệp Gấm
    Hảo Hậu Hoài Huệ Khánh Khuyên Kiều Kim Lài Lam Liễu Luyến Lụa Mận Mây Miên Minh My Mỹ Na Nương
    Nhàn Nhi Nhiên Nhuần Nụ Phấn Phúc Phượng Quế Quyên Sen Sương Tâm Thắm Thanh Thi Thoa Thuận Thùy
    Thư Thương Tiên Trà Trâm Trinh Tú Tuyền Uyên Vi Vy Ý Yên Ánh Bích Bình Cúc Cẩm Châu Dịu Đông Giao
    Hân Hiếu Hoan Hường Khanh Lệ Lựu Mơ Mến Mừng Nết Ngân Nghĩa Ngoan Nguyệt Nhạn Nhài Nhớ Ninh Phụng
    Quý Sinh Son Thái Thục Thuần Thụy Tiền Trúc Tươi Tường Uyển Vàng Vinh Xinh Xuyến Xoan Sáu Năm Tư
    Bảy Tám Chín Mười Tý Sửu Dần Mão Thìn Tỵ Ngọ Mùi Thân Dậu Tuất Hợi Gái Thêm Ngần Quyến Sim Vui
    Xuyên Bông Đẹp Hiên An Ân Bảo Cầm Chinh Chung Diễm Doan Đài Đan Đạm Hạ Hải Hoàn Huê Khuê Kỳ Lành
    Lưu Ly Mẫn Miền Mùa Ngà Nghi Nhã Như Nhu Phi Sâm Thêu Thoại Thơ Thuyên Tình Trưng Tuệ Tuyến Viên
    Việt Út Trân San Sa Ngát Nguyên Nhẫn Hợp Lương Nhị Tấm Đoan Huyên Xiêm Bé Thịnh Lâm Lộc Ái Băng
    Nguyện Cát Thiên Lê Khê Tơ Én Trăng Tiết Đảm Điểm Luyện Nhường Nở Nhiều Mộng Nhân Dương Bưởi Huế
    Nhụy Chúc Lượt Thắng Lợi Toàn Hiệp Định Vượng Phước Tiến Sơn Trung Tịnh Chính Hoạt Luân Thường
    Thoan Sáng Hưởng Lý Châm Chuyên Nam Thọ Hội Tuyển Nhâm Canh Bính Mậu Thao Thược Khéo Chăm Cần
    Giỏi Bắc Tân Phú Tốt Bền Đức Lai Mi Nhật Kiên Hưng Vĩnh Thành Hiển Hoàng Dinh
    """
)
_MALE_GIVEN: Final = _zipf(MALE_GIVEN_NAMES, exponent=0.6, offset=8)
_FEMALE_GIVEN: Final = _zipf(FEMALE_GIVEN_NAMES, exponent=0.6, offset=8)

# Middle names other than Văn/Thị (DOMAIN §5.2.3), most common first.
_MALE_MIDDLE_OTHER: Final = _zipf(
    _words(
        "Đức Minh Quang Hữu Xuân Ngọc Công Đình Thanh Mạnh Quốc Trọng Duy Tiến Hồng Anh Thế Bá Đăng Gia"
        " Hoàng Khắc Kim Như Phúc Tuấn Viết Trung Chí Hải Thành Việt Huy Bảo Nhật Đắc Sỹ Thái Vĩnh"
        " Trường Doãn Tất Hoài Nam Tài Tân Phú"
    ),
    exponent=0.9,
    offset=3,
)
_FEMALE_MIDDLE_OTHER: Final = _zipf(
    _words(
        "Thu Ngọc Thanh Minh Kim Hồng Thúy Mai Lan Bích Diệu Hoài Hương Khánh Mỹ Phương Quỳnh Tuyết"
        " Xuân Ánh Bảo Cẩm Hải Như Thảo Thùy Vân Yến Hà Tú Huyền Kiều Linh Lệ Mộng Nguyệt Phượng Tố Trà"
    ),
    exponent=0.9,
    offset=3,
)
# First part of a two-syllable middle name (names of four or more syllables).
_MALE_MIDDLE_FIRST: Final = _table("Văn 30, Đức 15, Hữu 10, Minh 10, Quang 10, Xuân 8, Ngọc 8, Công 5, Đình 4")
_FEMALE_MIDDLE_FIRST: Final = _table("Thị 55, Ngọc 10, Thu 10, Minh 8, Thanh 8, Kim 5, Hồng 4")

# H'Mông names follow their own pattern: "A"/"Seo"/"Mí" as the men's middle name (Giàng A Páo).
_HMONG_MIDDLE: Final[dict[Sex, _Weighted[str]]] = {
    "M": _table("A 50, Seo 20, Mí 15, Văn 15"),
    "F": _table("Thị 90, Mí 10"),
}
_HMONG_GIVEN: Final[dict[Sex, _Weighted[str]]] = {
    "M": _zipf(_words("Páo Chứ Sử Dế Lử Pó Súa Sình Tủa Mua Phử Chính Sáng Dình Tráng"), 0.5, 2),
    "F": _zipf(_words("Mỷ Dở Máy Chở Mai Dung Pà Sua Mị Chúa Súa Lan"), 0.5, 2),
}

# Share of names with four or more syllables, by sex: men 6.5%, women 19% -> about 8% overall.
_LONG_NAME_SHARE: Final[dict[Sex, float]] = {"M": 0.065, "F": 0.19}
_NO_MIDDLE_SHARE: Final = 0.07
_VAN_THI_SHARE: Final = 0.63

_NICKNAMES: Final = _words("Tý Tèo Cu Bi Bin Tủn Cò Sún Tít Bống Ba Đen Hói")
_NICKNAME_SUFFIXES: Final = _words("Còi Đen Béo Sẹo Lùn Râu Hói Xoăn Mập Gầy Cao Chột")

OCCUPATIONS: Final = _table(
    "Làm ruộng 30, Lao động tự do 25, Buôn bán 10, Lái xe 6, Thợ xây 5, Công nhân 5, Không nghề nghiệp 8,"
    "Bốc vác 3, Thợ cơ khí 2, Kinh doanh 2, Nội trợ 2, Học sinh 1.5, Làm rừng 3"
)
_OTHER_NATIVE_PROVINCES: Final = _table(
    "tỉnh Bắc Giang 20, tỉnh Cao Bằng 12, thành phố Hà Nội 10, tỉnh Hải Dương 8, tỉnh Thái Bình 8,"
    "tỉnh Nam Định 8, tỉnh Bắc Ninh 6, tỉnh Phú Thọ 5, tỉnh Thanh Hóa 6, tỉnh Nghệ An 5, tỉnh Quảng Ninh 6,"
    "tỉnh Thái Nguyên 6"
)

# Village names are synthetic: two Tày-Nùng place-name syllables ("Nà Pàn", "Khuổi Tèo").
_VILLAGE_FIRST: Final = _words("Nà Khuổi Pác Bó Cốc Phai Lũng Pò Khau Kéo Nặm Khòn Tà Còn")
_VILLAGE_SECOND: Final = _words(
    "Pàn Tèo Mạ Lầy Sla Rọ Cáy Pài Hán Pồng Khoang Mòn Lùng Sào Thin Vài Chang Nưa Cưởm Lải Pục Riềng"
    " Ngần Đon Kham Lè Xả Nghiều Mười Slằng Tát Phặc Nhùng Quân Làng Thâm"
)

# --- charges and penalties [A] (Penal Code 100/2015/QH13 as amended; ranges from memory [R]) ----

_LIFE: Final = -1  # clause whose top penalty is life imprisonment


@dataclass(frozen=True, slots=True)
class _Article:
    code: str
    weight: float
    clauses: tuple[tuple[int, float, int, int], ...]  # (clause, weight, min months, max months | _LIFE)
    fine_share: float = 0.0  # clause 1 only: principal fine instead of prison
    reform_share: float = 0.0  # clause 1 only: non-custodial reform
    additional: tuple[tuple[str, float], ...] = ()
    has_victim: bool = False


_DRUG_FINE: Final = (("PHAT_TIEN_BO_SUNG", 0.35), ("TICH_THU_TAI_SAN", 0.05))
_TRAFFICKING_EXTRA: Final = (("PHAT_TIEN_BO_SUNG", 0.4), ("TICH_THU_TAI_SAN", 0.15), ("QUAN_CHE", 0.1))
_SERIOUS: Final = ((1, 60, 24, 84), (2, 30, 84, 180), (3, 8, 180, 240), (4, 2, _LIFE, _LIFE))

# The prototype's weights put drug possession (249) and theft (173) on top (DOMAIN §5.2.8).
ARTICLES: Final[tuple[_Article, ...]] = (
    # Drugs, chapter XX (247-259) and 256a (in force 1 Jul 2025)
    _Article("249", 18, ((1, 70, 12, 60), (2, 25, 60, 120), (3, 4, 120, 180), (4, 1, 180, 240)), additional=_DRUG_FINE),
    _Article("251", 9, _SERIOUS, additional=_TRAFFICKING_EXTRA),
    _Article("250", 4, _SERIOUS, additional=_TRAFFICKING_EXTRA),
    _Article("255", 3, ((1, 70, 24, 84), (2, 30, 84, 180)), additional=_DRUG_FINE),
    _Article("256", 1, ((1, 80, 24, 84), (2, 20, 84, 180)), additional=_DRUG_FINE),
    _Article("256a", 1.5, ((1, 80, 24, 36), (2, 20, 36, 60))),
    _Article("247", 0.5, ((1, 80, 6, 36), (2, 20, 36, 84)), reform_share=0.3),
    _Article("248", 0.5, _SERIOUS, additional=_TRAFFICKING_EXTRA),
    _Article("252", 0.3, ((1, 100, 24, 84),), additional=_DRUG_FINE),
    _Article("253", 0.3, ((1, 100, 12, 60),), additional=_DRUG_FINE),
    _Article("254", 0.3, ((1, 100, 12, 60),), fine_share=0.3),
    _Article("257", 0.5, ((1, 100, 24, 84),)),
    _Article("258", 0.5, ((1, 100, 12, 60),)),
    _Article("259", 0.2, ((1, 100, 12, 60),), fine_share=0.4),
    # Human trafficking
    _Article(
        "150",
        1.5,
        ((1, 60, 60, 120), (2, 35, 96, 180), (3, 5, 180, 240)),
        additional=(("QUAN_CHE", 0.3),),
        has_victim=True,
    ),
    _Article(
        "151",
        0.5,
        ((1, 60, 84, 144), (2, 35, 144, 240), (3, 5, _LIFE, _LIFE)),
        additional=(("QUAN_CHE", 0.3),),
        has_victim=True,
    ),
    # Counterfeit money
    _Article("207", 1, ((1, 60, 36, 84), (2, 35, 60, 144), (3, 5, 144, 240))),
    # Smuggling and border goods
    _Article(
        "188",
        4,
        ((1, 80, 6, 36), (2, 15, 36, 84), (3, 5, 84, 180)),
        fine_share=0.35,
        additional=(("PHAT_TIEN_BO_SUNG", 0.3),),
    ),
    _Article("189", 2, ((1, 85, 6, 36), (2, 15, 36, 84)), fine_share=0.4),
    _Article("190", 1, ((1, 85, 12, 60), (2, 15, 60, 120)), fine_share=0.3),
    _Article("191", 1, ((1, 85, 6, 60), (2, 15, 36, 84)), fine_share=0.35),
    # Illegal exit, entry or stay; organising or brokering (chapter XXII)
    _Article("347", 2, ((1, 100, 6, 36),), fine_share=0.5),
    _Article("348", 1.5, ((1, 80, 12, 60), (2, 20, 60, 120)), additional=(("QUAN_CHE", 0.2),)),
    _Article("349", 0.7, ((1, 75, 12, 60), (2, 20, 60, 120), (3, 5, 84, 180)), additional=(("QUAN_CHE", 0.2),)),
    # Common crimes
    _Article("173", 16, ((1, 75, 6, 36), (2, 20, 24, 84), (3, 5, 84, 180)), reform_share=0.2, has_victim=True),
    _Article("174", 5, ((1, 60, 6, 36), (2, 30, 24, 84), (3, 10, 84, 180)), reform_share=0.15, has_victim=True),
    _Article(
        "134",
        8,
        ((1, 55, 6, 36), (2, 30, 24, 72), (3, 12, 60, 120), (4, 3, 84, 168)),
        reform_share=0.2,
        has_victim=True,
    ),
    _Article("321", 5, ((1, 85, 6, 36), (2, 15, 36, 84)), fine_share=0.35, reform_share=0.2),
    _Article("322", 1.5, ((1, 85, 12, 60), (2, 15, 60, 120)), fine_share=0.3),
    _Article("304", 1.5, ((1, 80, 12, 84), (2, 20, 60, 144))),
    _Article("260", 4, ((1, 85, 6, 60), (2, 15, 36, 120)), fine_share=0.25, reform_share=0.3, has_victim=True),
)
_ARTICLES_ALL: Final = _Weighted((a, a.weight) for a in ARTICLES)
_ARTICLES_BEFORE_256A: Final = _Weighted((a, a.weight) for a in ARTICLES if a.code != "256a")
_CLAUSES: Final[dict[str, _Weighted[tuple[int, float, int, int]]]] = {
    a.code: _Weighted((clause, clause[1]) for clause in a.clauses) for a in ARTICLES
}
DRUG_ARTICLES: Final = frozenset({str(n) for n in range(247, 260)} | {"256a"})
_POINTS: Final = "abcdđe"

_WANTED_CATEGORIES: Final[_Weighted[WantedCategory]] = _Weighted(
    [("SUSPECT", 45.0), ("DEFENDANT", 20.0), ("CONVICT_ESCAPED", 35.0)]
)
_RESCINDABLE_CATEGORIES: Final[_Weighted[WantedCategory]] = _Weighted([("SUSPECT", 70.0), ("DEFENDANT", 30.0)])
_WANTED_TYPES: Final[_Weighted[WantedType]] = _Weighted([("ORDINARY", 96.0), ("SPECIAL", 3.5), ("INTERNATIONAL", 0.5)])
_RESCISSION_REASONS: Final[_Weighted[RescissionReason]] = _Weighted(
    [("ARRESTED", 70.0), ("SURRENDERED", 20.0), ("DEAD", 3.0), ("DECISION_CANCELLED", 7.0)]
)
_TREATMENTS: Final[_Weighted[DrugMeasure]] = _Weighted(
    [
        ("VOLUNTARY_REHAB_HOME", 30.0),
        ("VOLUNTARY_REHAB_FACILITY", 15.0),
        ("COMPULSORY_REHAB", 35.0),
        ("METHADONE", 20.0),
    ]
)
_SUBSTANCES: Final = _table("Heroin 45, Ma túy tổng hợp (methamphetamine) 35, Thuốc phiện 8, Cần sa 7, Ketamine 5")

# --- identifying marks -----------------------------------------------------------------------

_SCAR_PLACES: Final = (
    "trán", "cằm", "má trái", "má phải", "gò má trái", "mu bàn tay trái", "mu bàn tay phải",
    "cánh tay trái", "cánh tay phải", "cổ", "đuôi lông mày trái", "bụng", "cẳng chân phải",
)  # fmt: skip
_MOLE_PLACES: Final = (
    "dưới mắt trái", "dưới mắt phải", "trên mép trái", "ở cằm", "ở cánh mũi phải", "sau tai trái", "giữa trán",
)  # fmt: skip
_TATTOO_MOTIFS: Final = (
    "hình con rồng", "hình đại bàng", "hình hoa hồng", 'chữ "Mẹ"', "hình con hổ", "hình ngôi sao",
    "hình mỏ neo", "hình bọ cạp", "hình trái tim", "chữ Hán",
)  # fmt: skip
_TATTOO_PLACES: Final = ("cánh tay phải", "cánh tay trái", "mu bàn tay trái", "lưng", "ngực trái", "bắp chân phải")
_OTHER_MARKS: Final = ("Răng khểnh bên trái", "Tai trái có vết khuyết", "Thiếu đốt ngón tay trỏ phải", "Tóc xoăn")


# --- small helpers ---------------------------------------------------------------------------


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 Feb
        return d.replace(year=d.year + years, day=28)


def _add_months(d: date, months: int) -> date:
    index = d.month - 1 + months
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _random_date(rng: random.Random, low: date, high: date) -> date:
    span = (high - low).days
    return low + timedelta(days=int(rng.random() * (span + 1))) if span > 0 else low


def _dmy(d: date) -> str:
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def _money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def _birth_year_weight(year: int) -> float:
    """1955-2009 with the 1985-1999 peak (DOMAIN §5.2.5)."""
    if year < 1970:
        return 0.6
    if year < 1980:
        return 1.5
    if year < 1985:
        return 3.0
    if year < 2000:
        return 5.0
    if year < 2005:
        return 3.0
    return 1.2


_BIRTH_YEARS: Final = _Weighted((year, _birth_year_weight(year)) for year in range(1955, 2010))


def _century_sex_digit(year: int, sex: Sex) -> int:
    """Digit 4 of the personal ID number: 1900s male 0 / female 1, 2000s 2/3 (Decree 137/2015)."""
    return (year // 100 - 19) * 2 + (1 if sex == "F" else 0)


# --- dirty-data transforms (DOMAIN §5.2.10) --------------------------------------------------

_TONE_MARKS: Final = frozenset("\u0300\u0301\u0303\u0309\u0323")
_SWAPPABLE_PAIRS: Final = frozenset({("o", "a"), ("o", "e"), ("u", "y")})


def _swap_tone_in_word(word: str) -> str:
    """hòa <-> hoà, thủy <-> thuỷ, khỏe <-> khoẻ for an open final oa/oe/uy; other words unchanged."""
    letters: list[list[str]] = []
    for ch in unicodedata.normalize("NFD", word):
        if unicodedata.combining(ch) and letters:
            letters[-1].append(ch)
        else:
            letters.append([ch])
    if len(letters) < 2:
        return word
    first, second = letters[-2], letters[-1]
    if (first[0].lower(), second[0].lower()) not in _SWAPPABLE_PAIRS:
        return word
    if first[0].lower() == "u" and len(letters) >= 3 and letters[-3][0].lower() == "q":
        return word  # quý: the tone always sits on y
    marks = first[1:] + second[1:]
    if len(marks) != 1 or marks[0] not in _TONE_MARKS:
        return word
    if first[1:]:
        letters[-2], letters[-1] = [first[0]], [second[0], marks[0]]
    else:
        letters[-2], letters[-1] = [first[0], marks[0]], [second[0]]
    return unicodedata.normalize("NFC", "".join("".join(letter) for letter in letters))


# A syllable ending in oa/oe/uy with the tone on either vowel (a cheap test before the real work).
_SWAPPABLE_ENDING: Final = re.compile(r"(?:[òóỏõọ][ae]|o[àáảãạèéẻẽẹ]|[ùúủũụ]y|u[ỳýỷỹỵ])(?![^\W\d_])", re.IGNORECASE)


def _swap_tone_placement(text: str) -> str:
    if not _SWAPPABLE_ENDING.search(unicodedata.normalize("NFC", text)):
        return text
    return " ".join(_swap_tone_in_word(word) for word in text.split(" "))


def _strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _to_nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _to_upper(text: str) -> str:
    return text.upper()


def _to_eth(text: str) -> str:
    return text.replace("Đ", "\u00d0")  # Ð LATIN CAPITAL LETTER ETH, the look-alike


_NAME_TRANSFORMS: Final[dict[str, Callable[[str], str]]] = {
    "nfd": _to_nfd,
    "no_diacritics": _strip_diacritics,
    "all_caps": _to_upper,
    "tone_placement_swapped": _swap_tone_placement,
    "eth_homoglyph": _to_eth,
}
_DIRTY_KINDS: Final = _table(
    "nfd 18, no_diacritics 16, all_caps 14, whitespace_noise 10, pre2025_address 12, dd_mm_swapped 6, placeholder_dob 4"
)
_SECOND_DIRTY_KINDS: Final = _table("whitespace_noise 3, pre2025_address 3, dd_mm_swapped 2, placeholder_dob 1")
_DUPLICATE_NAME_VARIANTS: Final = _table(
    "no_diacritics 30, tone_placement_swapped 15, nfd 15, all_caps 15, eth_homoglyph 5, middle_name_dropped 10"
)

# --- the generator ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Name:
    family: str
    middle: str
    given: str

    @property
    def full(self) -> str:
        return " ".join(part for part in (self.family, self.middle, self.given) if part)


@dataclass(frozen=True, slots=True)
class _Address:
    commune: Commune
    old_unit: Pre2025Unit
    village_or_street: str

    @property
    def text_2025(self) -> str:
        return f"{self.village_or_street}, {self.commune.label}, tỉnh {PROVINCE_NAME}"

    @property
    def text_pre2025(self) -> str:
        return f"{self.village_or_street}, {self.old_unit.label}, {self.old_unit.district}, tỉnh {PROVINCE_NAME}"


_COMMUNE_WEIGHTS: Final = _Weighted(
    (c, 6.0 if c.kind == "ward" else 2.5 if c.is_border else 1.0) for c in COMMUNES
)  # towards the 4 wards and the border communes (DOMAIN §5.2.7)


def _address_predecessors(commune: Commune) -> tuple[Pre2025Unit, ...]:
    """Old units an address of `commune` may come from: urban ones for a ward, old xã for a xã."""
    units = PRE2025_UNITS[commune.code]
    matching = tuple(u for u in units if (u.kind != "xã") == (commune.kind == "ward"))
    return matching or units


_ADDRESS_PREDECESSORS: Final = {c.code: _address_predecessors(c) for c in COMMUNES}
_ALL_PRE2025: Final = tuple(
    dict.fromkeys(unit for units in PRE2025_UNITS.values() for unit in units)
)  # a partly merged unit appears under two new units


class _Generator:
    """Holds the random stream and the growing tables; one instance per `generate_province` call."""

    def __init__(self, *, seed: int, as_of: date) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.as_of = as_of
        self.persons: list[SyntheticPerson] = []
        self.residences: list[SyntheticResidence] = []
        self.convictions: list[SyntheticConviction] = []
        self.wanted: list[SyntheticWantedNotice] = []
        self.drug_records: list[SyntheticDrugRecord] = []
        self.used_ids: set[str] = set()
        self.used_old_ids: set[str] = set()
        self.home: dict[str, _Address] = {}  # person key -> permanent address
        self.residence_index: dict[str, int] = {}  # person key -> index of the THUONG_TRU row
        self.sequences: dict[str, itertools.count[int]] = {}
        self.villages = {c.code: self._villages_for(c) for c in COMMUNES}
        self.signers = tuple(self.name(_pick(self.rng, ("Kinh", "Tày", "Nùng")), "M").full for _ in range(12))

    def next_key(self, prefix: str) -> str:
        """A per-table running key, "C000001" (keys are never reused, even for discarded drafts)."""
        return f"{prefix}{next(self.sequences.setdefault(prefix, itertools.count(1))):06d}"

    # names ------------------------------------------------------------------------------------

    def name(self, ethnicity: str, sex: Sex, *, allow_long: bool = True) -> _Name:
        rng = self.rng
        family = FAMILY_NAMES[ethnicity].pick(rng)
        if ethnicity == "H'Mông":
            return _Name(family, _HMONG_MIDDLE[sex].pick(rng), _HMONG_GIVEN[sex].pick(rng))
        given = (_MALE_GIVEN if sex == "M" else _FEMALE_GIVEN).pick(rng)
        default_middle = "Văn" if sex == "M" else "Thị"
        other_middle = _MALE_MIDDLE_OTHER if sex == "M" else _FEMALE_MIDDLE_OTHER
        if allow_long and rng.random() < _LONG_NAME_SHARE[sex]:
            if ethnicity == "Kinh" and rng.random() < 0.2:
                # a double family name (father's + mother's), e.g. "Nguyễn Phạm"
                second = _KINH_FAMILY.pick(rng)
                if second != family:
                    middle = default_middle if rng.random() < 0.5 else other_middle.pick(rng)
                    if rng.random() < 0.15:  # five syllables
                        middle = f"{middle} {other_middle.pick(rng)}"
                    return _Name(f"{family} {second}", middle, given)
            first = (_MALE_MIDDLE_FIRST if sex == "M" else _FEMALE_MIDDLE_FIRST).pick(rng)
            second_middle = other_middle.pick(rng)
            while second_middle == first:
                second_middle = other_middle.pick(rng)
            return _Name(family, f"{first} {second_middle}", given)
        roll = rng.random()
        if roll < _NO_MIDDLE_SHARE:
            middle = ""
        elif roll < _NO_MIDDLE_SHARE + _VAN_THI_SHARE:
            middle = default_middle
        else:
            middle = other_middle.pick(rng)
            if middle == given:  # no "Nguyễn Đức Đức"
                middle = default_middle
        return _Name(family, middle, given)

    def aliases(self, given: str) -> tuple[str, ...]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.06:
            return (f"{given} {_pick(rng, _NICKNAME_SUFFIXES)}",)
        if roll < 0.11:
            return (_pick(rng, _NICKNAMES),)
        return ()

    # places -----------------------------------------------------------------------------------

    def _villages_for(self, commune: Commune) -> tuple[str, ...]:
        local = random.Random(f"{self.seed}:{commune.code}")  # stable per commune and seed
        if commune.kind == "ward":
            return tuple(f"Tổ dân phố {n}" for n in range(1, _uniform_int(local, 18, 40)))
        names: dict[str, None] = {}
        for _ in range(_uniform_int(local, 8, 20)):
            prefix = "Bản" if local.random() < 0.35 else "Thôn"
            names[f"{prefix} {_pick(local, _VILLAGE_FIRST)} {_pick(local, _VILLAGE_SECOND)}"] = None
        return tuple(names)

    def address(self, commune: Commune) -> _Address:
        old_unit = _pick(self.rng, _ADDRESS_PREDECESSORS[commune.code])
        return _Address(commune, old_unit, _pick(self.rng, self.villages[commune.code]))

    def native_place(self, ethnicity: str) -> str:
        rng = self.rng
        if ethnicity == "Kinh" and rng.random() < 0.45:
            return _OTHER_NATIVE_PROVINCES.pick(rng)
        unit = _pick(rng, _ALL_PRE2025)
        return f"{unit.label}, {unit.district}, tỉnh {PROVINCE_NAME}"

    # person -----------------------------------------------------------------------------------

    def personal_id(self, year: int, sex: Sex) -> str:
        head = f"{SYNTHETIC_ID_PREFIX}{_century_sex_digit(year, sex)}{year % 100:02d}"
        while True:
            candidate = f"{head}{int(self.rng.random() * 1_000_000):06d}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def old_id(self) -> str:
        while True:
            candidate = f"{SYNTHETIC_ID_PREFIX}{int(self.rng.random() * 1_000_000):06d}"
            if candidate not in self.used_old_ids:
                self.used_old_ids.add(candidate)
                return candidate

    def identifying_marks(self) -> str:
        rng = self.rng
        marks: list[str] = []
        for _ in range(_MARK_COUNTS.pick(rng)):
            roll = rng.random()
            if roll < 0.4:
                marks.append(f"Sẹo dài {_uniform_int(rng, 1, 8)} cm ở {_pick(rng, _SCAR_PLACES)}")
            elif roll < 0.7:
                marks.append(f"Nốt ruồi đen {_pick(rng, _MOLE_PLACES)}")
            elif roll < 0.93:
                marks.append(f"Xăm {_pick(rng, _TATTOO_MOTIFS)} ở {_pick(rng, _TATTOO_PLACES)}")
            else:
                marks.append(_pick(rng, _OTHER_MARKS))
        return "; ".join(dict.fromkeys(marks))

    def person(self, index: int, ethnicity: str, sex: Sex) -> SyntheticPerson:
        rng = self.rng
        key = f"P{index:06d}"
        name = self.name(ethnicity, sex)
        year = _BIRTH_YEARS.pick(rng)
        if rng.random() < 0.08:  # year-only date of birth (DOMAIN §5.2.5)
            month: int | None = None
            day: int | None = None
            precision: DobPrecision = "year"
        else:
            month = _uniform_int(rng, 1, 12)
            day = _uniform_int(rng, 1, calendar.monthrange(year, month)[1])
            precision = "day"
        father = self.name(ethnicity, "M", allow_long=False)
        while father.given == name.given:  # a son is not named after his father
            father = self.name(ethnicity, "M", allow_long=False)
        father = _Name(name.family.split(" ")[0], father.middle, father.given)
        mother = self.name(ethnicity, "F", allow_long=False)
        home = self.address(_COMMUNE_WEIGHTS.pick(rng))
        self.home[key] = home
        self._add_residences(key, home, year)
        height = round(rng.gauss(164, 6) if sex == "M" else rng.gauss(153, 5.5))
        full_name = name.full
        return SyntheticPerson(
            key=key,
            full_name=full_name,
            family_name=name.family,
            middle_name=name.middle,
            given_name=name.given,
            canonical_full_name=full_name,
            aliases=self.aliases(name.given),
            sex=sex,
            dob_year=year,
            dob_month=month,
            dob_day=day,
            dob_precision=precision,
            personal_id_number=self.personal_id(year, sex),
            old_id_number=self.old_id() if year < 1995 and rng.random() < 0.25 else None,
            ethnicity=ethnicity,
            occupation=OCCUPATIONS.pick(rng),
            native_place=self.native_place(ethnicity),
            father_name=father.full,
            mother_name=mother.full,
            identifying_marks=self.identifying_marks(),
            height_cm=max(140, min(195, height)),
            primary_commune_code=home.commune.code,
            phone_number=None,
            source_system=SOURCE_REGISTRY,
            data_quality=(),
        )

    def _add_residences(self, key: str, home: _Address, birth_year: int) -> None:
        rng = self.rng
        adult = date(birth_year + 16, 1, 1)
        registered = _random_date(rng, max(adult, date(1995, 1, 1)), self.as_of - timedelta(days=30))
        self.residence_index[key] = len(self.residences)
        self._residence(key, "THUONG_TRU", home, registered, None)
        roll = rng.random()
        if roll < 0.17:
            other = _COMMUNE_WEIGHTS.pick(rng)
            while other.code == home.commune.code:
                other = _COMMUNE_WEIGHTS.pick(rng)
            start = _random_date(rng, self.as_of - timedelta(days=900), self.as_of - timedelta(days=10))
            kind: Literal["TAM_TRU", "NOI_O_HIEN_TAI"] = "TAM_TRU" if roll < 0.12 else "NOI_O_HIEN_TAI"
            end = _add_months(start, _uniform_int(rng, 6, 24)) if kind == "TAM_TRU" else None
            self._residence(key, kind, self.address(other), start, end)

    def _residence(
        self,
        person_key: str,
        kind: ResidenceKind,
        address: _Address,
        valid_from: date,
        valid_to: date | None,
    ) -> None:
        self.residences.append(
            SyntheticResidence(
                key=self.next_key("R"),
                person_key=person_key,
                kind=kind,
                province_code=PROVINCE_CODE,
                ward_code=address.commune.code,
                village_or_street=address.village_or_street,
                address_text_as_recorded=address.text_2025,
                admin_code_version="2025",
                pre2025_ward_code=address.old_unit.code,
                pre2025_address_text=address.text_pre2025,
                valid_from=valid_from,
                valid_to=valid_to,
                source=SOURCE_REGISTRY,
            )
        )

    # convictions ------------------------------------------------------------------------------

    def pick_article(self, when: date) -> _Article:
        picker = _ARTICLES_ALL if when >= ART_256A_IN_FORCE + timedelta(days=60) else _ARTICLES_BEFORE_256A
        return picker.pick(self.rng)

    def charge(self, article: _Article, clause: int) -> str:
        code = f"BLHS2015:{article.code}.{clause}"
        return f"{code}.{_pick(self.rng, _POINTS)}" if self.rng.random() < 0.5 else code

    def _court(self, when: date, person_key: str, *, is_severe: bool) -> str:
        if is_severe:
            return f"Tòa án nhân dân tỉnh {PROVINCE_NAME}"
        if when >= MERGER_DATE:
            # Regional courts replaced district courts on 1 Jul 2025; their number here is invented.
            return f"Tòa án nhân dân khu vực {_uniform_int(self.rng, 1, 4)} - {PROVINCE_NAME}"
        return f"Tòa án nhân dân {self.home[person_key].old_unit.district}, tỉnh {PROVINCE_NAME}"

    def conviction(
        self, person_key: str, judgment_date: date, *, article: _Article | None = None, escaped: bool = False
    ) -> SyntheticConviction:
        rng = self.rng
        article = article or self.pick_article(judgment_date)
        clause, _, low, high = _CLAUSES[article.code].pick(rng)
        charges = [self.charge(article, clause)]
        if rng.random() < 0.1:
            extra = self.pick_article(judgment_date)
            if extra.code != article.code:
                charges.append(self.charge(extra, extra.clauses[0][0]))
        months: int | None = None
        probation: int | None = None
        fine: int | None = None
        roll = rng.random()
        if high == _LIFE:
            penalty = "TU_CHUNG_THAN"
        elif not escaped and clause == 1 and roll < article.fine_share:
            penalty, fine = "PHAT_TIEN", _uniform_int(rng, 2, 60) * 5_000_000
        elif not escaped and clause == 1 and roll < article.fine_share + article.reform_share:
            penalty, months = "CAI_TAO_KHONG_GIAM_GIU", _uniform_int(rng, 6, 36)
        elif not escaped and clause == 1 and roll < article.fine_share + article.reform_share + 0.01:
            penalty = "CANH_CAO"
        else:
            months = _uniform_int(rng, low, high)
            if not escaped and months <= 36 and rng.random() < 0.25:  # suspended only up to 3 years
                penalty, probation = "TU_CHO_HUONG_AN_TREO", min(60, max(12, months * 2))
            else:
                penalty = "TU_CO_THOI_HAN"
        additional = tuple(code for code, share in article.additional if rng.random() < share)
        civil = ""
        if article.has_victim and rng.random() < 0.6:
            civil = f"Bồi thường cho bị hại {_money(_uniform_int(rng, 1, 100) * 1_000_000)}"

        completion: date | None
        if escaped or penalty == "TU_CHUNG_THAN":
            completion = None
        elif penalty == "CANH_CAO":
            completion = judgment_date
        elif penalty == "PHAT_TIEN":
            completion = judgment_date + timedelta(days=_uniform_int(rng, 30, 240))
        elif penalty == "TU_CHO_HUONG_AN_TREO":
            assert probation is not None
            completion = _add_months(judgment_date, probation)
        else:
            assert months is not None
            credit = _uniform_int(rng, 0, min(months * 30 - 1, 300)) if penalty == "TU_CO_THOI_HAN" else 0
            completion = _add_months(judgment_date, months) - timedelta(days=credit)
        status: EnforcementStatus
        if escaped:
            status = "EVADING"
        elif completion is not None and completion <= self.as_of:
            status = "COMPLETED"
        else:
            status = "SERVING"
        severe = penalty == "TU_CHUNG_THAN" or (months or 0) > 180
        return SyntheticConviction(
            key=self.next_key("C"),
            person_key=person_key,
            judgment_no=f"{_uniform_int(rng, 1, 180)}/{judgment_date.year}/HS-ST",
            judgment_date=judgment_date,
            court=self._court(judgment_date, person_key, is_severe=severe),
            charges=tuple(charges),
            principal_penalty_type=penalty,
            principal_penalty_months=months,
            probation_months=probation,
            fine_vnd=fine,
            additional_penalties=additional,
            civil_obligations=civil,
            enforcement_status=status,
            completion_date=completion if status == "COMPLETED" else None,
            expunged=False,
            expunged_date=None,
            expunction_basis="",
            source=SOURCE_REGISTRY,
        )

    def convictions_for(
        self, person: SyntheticPerson, *, latest: date, minimum: int = 0, free_by: date | None = None
    ) -> list[SyntheticConviction]:
        """0-4 convictions in time order, each judged after the previous penalty allowed a new offence.

        Judgments fall before `latest`; with `free_by`, no prison term may still run on that date."""
        rng = self.rng
        count = max(minimum, _CONVICTION_COUNTS.pick(rng))
        earliest = max(PENAL_CODE_2015_IN_FORCE, date(person.dob_year + 16, person.dob_month or 7, 1))
        made: list[SyntheticConviction] = []
        free_from = earliest
        for _ in range(count):
            if free_from >= latest:
                break
            if made:
                judgment = free_from + timedelta(days=_uniform_int(rng, 60, 1200))
                if judgment >= latest:
                    break
            else:
                judgment = _random_date(rng, free_from, latest)
            conviction = self.conviction(person.key, judgment)
            is_custodial = conviction.principal_penalty_type in ("TU_CO_THOI_HAN", "TU_CHUNG_THAN")
            if (
                is_custodial
                and free_by is not None
                and (conviction.completion_date is None or conviction.completion_date >= free_by)
            ):
                break
            made.append(conviction)
            if is_custodial:
                if conviction.completion_date is None:
                    break  # still in prison at `as_of`
                free_from = conviction.completion_date
            else:
                free_from = judgment
        return made

    def expunge(self, convictions: list[SyntheticConviction]) -> list[SyntheticConviction]:
        """Apply Penal Code art. 70 (waiting periods) and art. 73 (a new offence restarts them)."""
        expunction_dates: list[date | None] = [None] * len(convictions)
        for i in range(len(convictions) - 1, -1, -1):
            c = convictions[i]
            if c.completion_date is None:
                continue
            due = _add_years(c.completion_date, _waiting_years(c))
            if i + 1 < len(convictions) and convictions[i + 1].judgment_date <= due:
                due_next = expunction_dates[i + 1]
                if due_next is None:
                    continue
                due = max(due, due_next)
            expunction_dates[i] = due
        return [
            replace(c, expunged=True, expunged_date=when, expunction_basis="AUTO_ART70")
            if when is not None and when <= self.as_of
            else c
            for c, when in zip(convictions, expunction_dates, strict=True)
        ]

    # wanted notices ---------------------------------------------------------------------------

    def _agency(self, when: date, person_key: str) -> str:
        if when < date(2025, 3, 1) and self.rng.random() < 0.4:  # district police until 1 Mar 2025
            return f"Cơ quan Cảnh sát điều tra Công an {self.home[person_key].old_unit.district}"
        return f"Cơ quan Cảnh sát điều tra Công an tỉnh {PROVINCE_NAME}"

    def wanted_notice(
        self,
        person: SyntheticPerson,
        *,
        category: WantedCategory,
        decision_date: date,
        charges: tuple[str, ...],
        escaped_from: SyntheticConviction | None,
        rescinded: bool,
    ) -> SyntheticWantedNotice:
        rng = self.rng
        n = _uniform_int(rng, 1, 150)
        if category == "CONVICT_ESCAPED":
            assert escaped_from is not None
            basis = (
                f"Bản án số {escaped_from.judgment_no} ngày {_dmy(escaped_from.judgment_date)} của"
                f" {escaped_from.court}; Quyết định thi hành án phạt tù số {_uniform_int(rng, 1, 300)}/"
                f"{escaped_from.judgment_date.year}/QĐ-CA"
            )
        elif category == "DEFENDANT":
            hearing = decision_date - timedelta(days=_uniform_int(rng, 20, 200))
            basis = (
                f"Quyết định đưa vụ án ra xét xử số {_uniform_int(rng, 1, 300)}/{hearing.year}/QĐXXST-HS"
                f" ngày {_dmy(hearing)}; Lệnh bắt bị cáo để tạm giam số"
                f" {_uniform_int(rng, 1, 300)}/{hearing.year}/HSST-LB"
            )
        else:
            prosecuted = decision_date - timedelta(days=_uniform_int(rng, 20, 300))
            arrest = prosecuted + timedelta(days=_uniform_int(rng, 0, (decision_date - prosecuted).days))
            basis = (
                f"Quyết định khởi tố bị can số {_uniform_int(rng, 1, 400)}/QĐ-CSĐT ngày {_dmy(prosecuted)};"
                f" Lệnh bắt bị can để tạm giam số {_uniform_int(rng, 1, 400)}/LB-CSĐT ngày {_dmy(arrest)}"
            )
        reason: RescissionReason = ""
        rescission_date: date | None = None
        rescission_no = ""
        if rescinded:
            rescission_date = min(self.as_of, decision_date + timedelta(days=_uniform_int(rng, 20, 900)))
            reason = _RESCISSION_REASONS.pick(rng)
            rescission_no = f"{_uniform_int(rng, 1, 150)}/QĐĐN-CSĐT"
        agency = self._agency(decision_date, person.key)
        home = self.home[person.key]
        return SyntheticWantedNotice(
            key=self.next_key("W"),
            person_key=person.key,
            decision_no=f"{n}/QĐTN-CSĐT",
            decision_date=decision_date,
            place=PROVINCE_NAME,
            issuing_agency=agency,
            signer_name=_pick(rng, self.signers),
            signer_position=(
                "Thủ trưởng Cơ quan Cảnh sát điều tra"
                if rng.random() < 0.2
                else "Phó Thủ trưởng Cơ quan Cảnh sát điều tra"
            ),
            legal_basis=basis,
            agency_contact=f"{agency} (địa chỉ và số điện thoại: không dùng, dữ liệu tổng hợp)",
            full_name=person.canonical_full_name,
            sex=person.sex,
            dob_year=person.dob_year,
            dob_month=person.dob_month,
            dob_day=person.dob_day,
            aliases=person.aliases,
            father_name=person.father_name,
            mother_name=person.mother_name,
            residence_text=home.text_2025,
            identifying_marks=person.identifying_marks,
            charges=charges,
            category=category,
            wanted_type=_WANTED_TYPES.pick(rng),
            scope="NATIONWIDE",
            status="RESCINDED" if rescinded else "ACTIVE",
            rescission_decision_no=rescission_no,
            rescission_date=rescission_date,
            rescission_reason=reason,
        )

    # drug-use records -------------------------------------------------------------------------

    def _authority(self, when: date, person_key: str) -> str:
        home = self.home[person_key]
        if when >= MERGER_DATE:
            return f"Chủ tịch Ủy ban nhân dân {home.commune.label}"
        return f"Chủ tịch Ủy ban nhân dân {home.old_unit.label}, {home.old_unit.district}"

    def _drug_row(
        self,
        person_key: str,
        measure: DrugMeasure,
        decision_no: str,
        decision_date: date,
        authority: str,
        start: date,
        end: date,
        substance: str,
        *,
        quit_early: bool = False,
        exposure_until: date | None = None,
    ) -> None:
        if exposure_until is not None and exposure_until < ART_256A_IN_FORCE:
            exposure_until = None
        self.drug_records.append(
            SyntheticDrugRecord(
                key=self.next_key("D"),
                person_key=person_key,
                commune_code=self.home[person_key].commune.code,
                measure=measure,
                decision_no=decision_no,
                decision_date=decision_date,
                deciding_authority=authority,
                start_date=start,
                end_date=end,
                status="active" if start <= self.as_of <= end else "ended",
                substance=substance,
                quit_early=quit_early,
                art256a_exposure_until=exposure_until,
            )
        )

    def drug_records_for(
        self, person: SyntheticPerson, *, latest: date, in_custody: Sequence[tuple[date, date]] = ()
    ) -> int:
        """One or two art. 23 management periods (one year each), some followed by treatment.

        Decisions fall before `latest`; no period overlaps a spell `in_custody` (prison)."""
        rng = self.rng
        earliest = max(DRUG_LAW_2021_IN_FORCE, date(person.dob_year + 16, person.dob_month or 7, 1))
        if earliest >= latest:
            return 0
        substance = _SUBSTANCES.pick(rng)
        made = 0
        for _ in range(4):
            decided = _random_date(rng, earliest, latest)
            if not _overlaps(decided, _add_years(decided, 1), in_custody):
                break
        else:
            return 0
        while decided <= latest and not _overlaps(decided, _add_years(decided, 1), in_custody):
            end = _add_years(decided, 1) - timedelta(days=1)
            self._drug_row(
                person.key,
                "MANAGEMENT",
                f"{_uniform_int(rng, 1, 250)}/QĐ-UBND",
                decided,
                self._authority(decided, person.key),
                decided,
                end,
                substance,
            )
            made += 1
            if rng.random() < 0.3:
                self._treatment(person.key, decided, substance, latest=latest, in_custody=in_custody)
            if rng.random() >= 0.25:
                break
            decided = end + timedelta(days=_uniform_int(rng, 30, 400))
        return made

    def _treatment(
        self,
        person_key: str,
        managed_from: date,
        substance: str,
        *,
        latest: date,
        in_custody: Sequence[tuple[date, date]],
    ) -> None:
        rng = self.rng
        start = managed_from + timedelta(days=_uniform_int(rng, 30, 200))
        if start > min(latest, self.as_of):
            return
        measure = _TREATMENTS.pick(rng)
        months = {"COMPULSORY_REHAB": (12, 24), "METHADONE": (12, 36)}.get(measure, (6, 12))
        end = _add_months(start, _uniform_int(rng, *months)) - timedelta(days=1)
        quit_early = measure != "COMPULSORY_REHAB" and rng.random() < 0.2
        if quit_early:
            end = start + timedelta(days=_uniform_int(rng, 20, max(21, (end - start).days - 1)))
            if end > self.as_of:
                quit_early, end = False, _add_months(start, months[0]) - timedelta(days=1)
        if _overlaps(start, end, in_custody):
            return
        if measure == "COMPULSORY_REHAB":
            court_when = start - timedelta(days=_uniform_int(rng, 5, 30))
            authority = self._court(court_when, person_key, is_severe=False)
            decision_no = f"{_uniform_int(rng, 1, 200)}/{court_when.year}/QĐ-TA"
        else:
            court_when = start
            authority = self._authority(start, person_key)
            decision_no = f"{_uniform_int(rng, 1, 250)}/QĐ-UBND"
        # art. 256a: use is a crime during treatment, and for 2 years after quitting it early
        exposure = _add_years(end, 2) if quit_early else end
        self._drug_row(
            person_key, measure, decision_no, court_when, authority, start, end, substance,
            quit_early=quit_early, exposure_until=exposure,
        )  # fmt: skip
        post_start = end + timedelta(days=1)
        post_end = _add_years(post_start, 1) - timedelta(days=1)
        if measure == "COMPULSORY_REHAB" and end < self.as_of and not _overlaps(post_start, post_end, in_custody):
            # art. 256a: use within 2 years after post-rehab management (while under management)
            self._drug_row(
                person_key, "POST_REHAB", f"{_uniform_int(rng, 1, 250)}/QĐ-UBND", post_start,
                self._authority(post_start, person_key), post_start, post_end, substance,
                exposure_until=_add_years(post_end, 2),
            )  # fmt: skip


def _overlaps(start: date, end: date, spells: Sequence[tuple[date, date]]) -> bool:
    return any(start <= spell_end and spell_start <= end for spell_start, spell_end in spells)


def _waiting_years(conviction: SyntheticConviction) -> int:
    """Penal Code art. 70(2): 1 year for non-custodial or suspended sentences, 2 up to 5 years of
    prison, 3 up to 15 years, 5 above (or life)."""
    if conviction.principal_penalty_type != "TU_CO_THOI_HAN":
        return 5 if conviction.principal_penalty_type == "TU_CHUNG_THAN" else 1
    months = conviction.principal_penalty_months or 0
    return 2 if months <= 60 else 3 if months <= 180 else 5


# --- dirty-data layer ------------------------------------------------------------------------


def _with_name_transform(person: SyntheticPerson, kind: str) -> SyntheticPerson | None:
    """The person with `kind` applied to every name field, or None when it would change nothing."""
    transform = _NAME_TRANSFORMS[kind]
    changed = replace(
        person,
        full_name=transform(person.full_name),
        family_name=transform(person.family_name),
        middle_name=transform(person.middle_name),
        given_name=transform(person.given_name),
        father_name=transform(person.father_name) if kind != "eth_homoglyph" else person.father_name,
        mother_name=transform(person.mother_name) if kind != "eth_homoglyph" else person.mother_name,
        aliases=tuple(transform(a) for a in person.aliases),
    )
    return changed if changed.full_name != person.full_name else None


def _with_whitespace_noise(rng: random.Random, person: SyntheticPerson) -> SyntheticPerson:
    parts = person.full_name.split(" ")
    gap = int(rng.random() * (len(parts) - 1))
    separator = _pick(rng, ("  ", "\u00a0", " \u200b", "\u00a0 "))
    noisy = " ".join(parts[:gap]) + (" " if gap else "") + parts[gap] + separator + " ".join(parts[gap + 1 :])
    if rng.random() < 0.3:
        noisy += " "
    return replace(person, full_name=noisy)


def _with_dd_mm_swapped(person: SyntheticPerson) -> SyntheticPerson | None:
    if person.dob_day is None or person.dob_month is None or person.dob_day > 12 or person.dob_day == person.dob_month:
        return None
    return replace(person, dob_day=person.dob_month, dob_month=person.dob_day)


def _with_placeholder_dob(person: SyntheticPerson) -> SyntheticPerson | None:
    if (person.dob_month, person.dob_day) == (1, 1):
        return None
    return replace(person, dob_month=1, dob_day=1, dob_precision="day")


class _DirtyLayer:
    def __init__(self, generator: _Generator) -> None:
        self.g = generator

    def apply(self, person: SyntheticPerson, kind: str) -> SyntheticPerson | None:
        if kind in _NAME_TRANSFORMS:
            return _with_name_transform(person, kind)
        if kind == "whitespace_noise":
            return _with_whitespace_noise(self.g.rng, person)
        if kind == "dd_mm_swapped":
            return _with_dd_mm_swapped(person)
        if kind == "placeholder_dob":
            return _with_placeholder_dob(person)
        if kind == "pre2025_address":
            self.record_pre2025(person.key)
            return person
        if kind == "middle_name_dropped":
            if not person.middle_name:
                return None
            full = " ".join(p for p in (person.family_name, person.given_name) if p)
            return replace(person, middle_name="", full_name=full)
        raise ValueError(kind)

    def record_pre2025(self, person_key: str) -> None:
        """The permanent address as an old record has it: huyện + old xã, before the merger."""
        g = self.g
        index = g.residence_index[person_key]
        residence = g.residences[index]
        valid_from = residence.valid_from
        if valid_from is None or valid_from >= MERGER_DATE:
            valid_from = _random_date(g.rng, date(2005, 1, 1), MERGER_DATE - timedelta(days=1))
        g.residences[index] = replace(
            residence,
            address_text_as_recorded=residence.pre2025_address_text,
            admin_code_version="pre2025",
            valid_from=valid_from,
        )

    def dirty(self, person: SyntheticPerson) -> SyntheticPerson:
        rng = self.g.rng
        kinds = [_DIRTY_KINDS.pick(rng)]
        if rng.random() < 0.2:
            kinds.append(_SECOND_DIRTY_KINDS.pick(rng))
        flags: list[str] = []
        for kind in dict.fromkeys(kinds):
            changed = self.apply(person, kind)
            if changed is not None:
                person, flags = changed, [*flags, kind]
        if not flags:
            person, flags = _with_whitespace_noise(rng, person), ["whitespace_noise"]
        return replace(person, data_quality=tuple(flags))

    def near_duplicate(self, original: SyntheticPerson, key: str) -> SyntheticPerson:
        """Another record of the same person: a name variant, a vaguer or swapped date, no ID number
        or a mistyped one, the same parents and home."""
        g = self.g
        rng = g.rng
        person = replace(original, key=key, data_quality=())
        flags = [f"near_duplicate_of:{original.key}"]
        for _ in range(4):
            variant = _DUPLICATE_NAME_VARIANTS.pick(rng)
            changed = self.apply(person, variant)
            if changed is not None:
                person = changed
                flags.append(variant)
                break
        roll = rng.random()
        if roll < 0.4 and person.dob_precision == "day":
            person = replace(person, dob_month=None, dob_day=None, dob_precision="year")
            flags.append("dob_year_only")
        elif roll < 0.55 and (swapped := _with_dd_mm_swapped(person)) is not None:
            person = swapped
            flags.append("dd_mm_swapped")
        if rng.random() < 0.7 or original.personal_id_number is None:
            person = replace(person, personal_id_number=None)
            flags.append("no_id_number")
        else:
            person = replace(person, personal_id_number=self._mistyped(original.personal_id_number))
            flags.append("id_typo")
        home = g.home[original.key]
        g.home[key] = home
        original_home = g.residences[g.residence_index[original.key]]
        g.residence_index[key] = len(g.residences)
        g.residences.append(replace(original_home, key=g.next_key("R"), person_key=key))
        if rng.random() < 0.4:
            self.record_pre2025(key)
            flags.append("pre2025_address")
        return replace(person, data_quality=tuple(flags))

    def _mistyped(self, number: str) -> str:
        """One of the six random digits changed: still consistent with sex and year, still unique."""
        rng = self.g.rng
        while True:
            position = _uniform_int(rng, 6, 11)
            digit = str((int(number[position]) + _uniform_int(rng, 1, 9)) % 10)
            candidate = number[:position] + digit + number[position + 1 :]
            if candidate not in self.g.used_ids:
                self.g.used_ids.add(candidate)
                return candidate


def _as_tcvn3_legacy(generator: _Generator, person: SyntheticPerson) -> SyntheticPerson:
    """A row from the legacy ABC-font system: every text field is TCVN3 read as Latin-1, the new ID
    number is unknown, the permanent address is in its pre-2025 form (DOMAIN §4.1.6)."""
    index = generator.residence_index[person.key]
    residence = generator.residences[index]
    generator.residences[index] = replace(
        residence,
        village_or_street=unicode_to_tcvn3(residence.village_or_street),
        address_text_as_recorded=unicode_to_tcvn3(residence.pre2025_address_text),
        admin_code_version="pre2025",
        valid_from=min(residence.valid_from or MERGER_DATE, MERGER_DATE - timedelta(days=1)),
        source=SOURCE_LEGACY_TCVN3,
    )
    return replace(
        person,
        full_name=unicode_to_tcvn3(person.full_name),
        family_name=unicode_to_tcvn3(person.family_name),
        middle_name=unicode_to_tcvn3(person.middle_name),
        given_name=unicode_to_tcvn3(person.given_name),
        aliases=tuple(unicode_to_tcvn3(a) for a in person.aliases),
        occupation=unicode_to_tcvn3(person.occupation),
        native_place=unicode_to_tcvn3(person.native_place),
        father_name=unicode_to_tcvn3(person.father_name),
        mother_name=unicode_to_tcvn3(person.mother_name),
        identifying_marks=unicode_to_tcvn3(person.identifying_marks),
        personal_id_number=None,
        old_id_number=person.old_id_number or generator.old_id(),
        source_system=SOURCE_LEGACY_TCVN3,
        data_quality=("tcvn3_legacy",),
    )


# --- entry point -----------------------------------------------------------------------------

ACTIVE_WANTED_SHARE: Final = 0.0525  # a few draws fail (too young for a decision): about 5% in the end
RESCINDED_WANTED_SHARE: Final = 0.01
DIRTY_SHARE: Final = 0.08  # in-place dirt; with duplicates and the legacy batch about 10% of rows
TONE_SWAP_SHARE: Final = 0.005  # part of DIRTY_SHARE
ETH_SHARE: Final = 0.003  # part of DIRTY_SHARE
NEAR_DUPLICATE_SHARE: Final = 0.015
TCVN3_LEGACY_SHARE: Final = 0.005


def generate_province(
    *, person_count: int = 35_000, seed: int = 20250701, as_of: date = REFERENCE_DATE
) -> SyntheticProvince:
    """Generate a synthetic registry of `person_count` persons for Lạng Sơn.

    Deterministic for (person_count, seed, as_of); no I/O, no clock. About 1.5% of the persons are
    near-duplicates of others and 0.5% form a TCVN3 "legacy import" batch at the end of the
    original rows; about 8% more carry in-place dirt. Every row has `is_synthetic=True`.
    """
    if person_count < 100:
        raise ValueError("person_count must be at least 100")
    g = _Generator(seed=seed, as_of=as_of)
    rng = g.rng
    duplicate_count = round(person_count * NEAR_DUPLICATE_SHARE)
    base_count = person_count - duplicate_count
    legacy_from = base_count - round(person_count * TCVN3_LEGACY_SHARE)

    ethnicities = ETHNICITIES.pick_many(rng, base_count)
    sexes: list[Sex] = ["M" if rng.random() < 0.88 else "F" for _ in range(base_count)]
    has_record: list[bool] = []
    for index in range(base_count):
        person = g.person(index + 1, ethnicities[index], sexes[index])
        g.persons.append(person)
        has_record.append(_records_for(g, person))

    dirty = _DirtyLayer(g)
    clean_indexes = [i for i in range(legacy_from) if has_record[i]]
    # Tone placement and the Đ homoglyph only show on some names: pick among those.
    targeted: dict[int, str] = {}
    for kind, share in (("tone_placement_swapped", TONE_SWAP_SHARE), ("eth_homoglyph", ETH_SHARE)):
        transform = _NAME_TRANSFORMS[kind]
        fitting = [
            i
            for i in clean_indexes
            if i not in targeted and transform(g.persons[i].full_name) != g.persons[i].full_name
        ]
        for index in rng.sample(fitting, min(len(fitting), round(person_count * share))):
            targeted[index] = kind
    for index, kind in targeted.items():
        changed = _with_name_transform(g.persons[index], kind)
        assert changed is not None
        g.persons[index] = replace(changed, data_quality=(kind,))
    untouched = [i for i in clean_indexes if i not in targeted]
    for index in sorted(rng.sample(untouched, round(person_count * DIRTY_SHARE) - len(targeted))):
        g.persons[index] = dirty.dirty(g.persons[index])
    for index in range(legacy_from, base_count):
        g.persons[index] = _as_tcvn3_legacy(g, g.persons[index])

    first_conviction: dict[str, SyntheticConviction] = {}
    for conviction in g.convictions:
        first_conviction.setdefault(conviction.person_key, conviction)
    first_drug: dict[str, SyntheticDrugRecord] = {}
    for record in g.drug_records:
        first_drug.setdefault(record.person_key, record)
    candidates = [
        p for p in g.persons[:legacy_from] if not p.data_quality and (p.key in first_conviction or p.key in first_drug)
    ]
    for offset, original in enumerate(rng.sample(candidates, duplicate_count)):
        key = f"P{base_count + offset + 1:06d}"
        g.persons.append(dirty.near_duplicate(original, key))
        # the same judgment or decision, entered again under the other record
        if original.key in first_conviction:
            copied = first_conviction[original.key]
            g.convictions.append(replace(copied, key=g.next_key("C"), person_key=key))
        else:
            drug = first_drug[original.key]
            g.drug_records.append(replace(drug, key=g.next_key("D"), person_key=key))

    return SyntheticProvince(
        seed=seed,
        as_of=as_of,
        communes=COMMUNES,
        persons=tuple(g.persons),
        residences=tuple(g.residences),
        convictions=tuple(g.convictions),
        wanted_notices=tuple(g.wanted),
        drug_records=tuple(g.drug_records),
    )


def _records_for(g: _Generator, person: SyntheticPerson) -> bool:
    """Convictions, a wanted notice and drug-use records for one person, mutually consistent:
    nothing is judged or decided after an active wanted decision, nobody is wanted while in prison,
    an escaped convict's last conviction is the one being evaded. Returns whether the person has
    a conviction or a drug record (a person without a wanted notice always has one)."""
    rng = g.rng
    latest = g.as_of - timedelta(days=20)
    adult = date(person.dob_year + 16, person.dob_month or 7, 1)
    wanted_roll = rng.random()
    earliest_decision = max(date(2019, 1, 1), adult + timedelta(days=200))
    is_wanted = wanted_roll < ACTIVE_WANTED_SHARE + RESCINDED_WANTED_SHARE and earliest_decision < latest
    drug_latest = latest
    if is_wanted:
        is_active = wanted_roll < ACTIVE_WANTED_SHARE
        decided = _random_date(rng, earliest_decision, latest)
        category = _WANTED_CATEGORIES.pick(rng) if is_active else _RESCINDABLE_CATEGORIES.pick(rng)
        escaped_judgment = decided - timedelta(days=_uniform_int(rng, 60, 700))
        if category == "CONVICT_ESCAPED" and escaped_judgment < max(adult, PENAL_CODE_2015_IN_FORCE):
            category = "SUSPECT"
        escaped: SyntheticConviction | None = None
        if category == "CONVICT_ESCAPED":
            convictions = g.convictions_for(
                person, latest=escaped_judgment - timedelta(days=60), free_by=escaped_judgment
            )
            escaped = g.conviction(person.key, escaped_judgment, escaped=True)
            convictions.append(escaped)
            charges = escaped.charges
        else:
            convictions = g.convictions_for(person, latest=decided - timedelta(days=30), free_by=decided)
            new_article = g.pick_article(decided)
            charges = (g.charge(new_article, new_article.clauses[0][0]),)
        g.wanted.append(
            g.wanted_notice(
                person,
                category=category,
                decision_date=decided,
                charges=charges,
                escaped_from=escaped,
                rescinded=not is_active,
            )
        )
        if is_active:
            drug_latest = decided
    else:
        convictions = g.convictions_for(person, latest=latest)

    has_drug_conviction = any(
        charge.split(":")[1].split(".")[0] in DRUG_ARTICLES for c in convictions for charge in c.charges
    )
    in_custody = [
        (c.judgment_date, c.completion_date or date.max)
        for c in convictions
        if c.principal_penalty_type in ("TU_CO_THOI_HAN", "TU_CHUNG_THAN")
    ]
    drug_count = 0
    if rng.random() < (0.5 if has_drug_conviction else 0.12) or (not convictions and not is_wanted):
        drug_count = g.drug_records_for(person, latest=drug_latest, in_custody=in_custody)
    if not convictions and drug_count == 0 and not is_wanted:
        convictions = g.convictions_for(person, latest=latest, minimum=1)
    g.convictions.extend(g.expunge(convictions))
    return bool(convictions) or drug_count > 0
