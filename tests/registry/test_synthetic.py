"""The synthetic Lạng Sơn province (DOMAIN §5.2): size, identity numbers, distributions, the
consistency between tables, and the deliberately dirty rows."""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

import pytest

from backend.core.text import exact_key, looks_like_tcvn3, normalize_text, search_key, tcvn3_to_unicode
from backend.registry.synthetic import (
    COMMUNES,
    FEMALE_GIVEN_NAMES,
    MALE_GIVEN_NAMES,
    PRE2025_UNITS,
    SyntheticConviction,
    SyntheticPerson,
    SyntheticProvince,
    generate_province,
)

PERSON_COUNT = 35_000
CUSTODIAL = ("TU_CO_THOI_HAN", "TU_CHUNG_THAN")
NAME_FLAGS = {"nfd", "no_diacritics", "all_caps", "tone_placement_swapped", "eth_homoglyph"}
KNOWN_FLAGS = NAME_FLAGS | {
    "whitespace_noise",
    "pre2025_address",
    "dd_mm_swapped",
    "placeholder_dob",
    "tcvn3_legacy",
    "near_duplicate_of",
    "dob_year_only",
    "no_id_number",
    "id_typo",
    "middle_name_dropped",
}
CHARGE_RE = re.compile(r"^BLHS2015:(\d{3}a?)\.\d(\.[a-zđ])?$")


@dataclass(frozen=True)
class Generated:
    province: SyntheticProvince
    cpu_seconds: float


@pytest.fixture(scope="module")
def generated() -> Generated:
    started = time.process_time()
    province = generate_province()
    return Generated(province=province, cpu_seconds=time.process_time() - started)


@pytest.fixture(scope="module")
def province(generated: Generated) -> SyntheticProvince:
    return generated.province


@pytest.fixture(scope="module")
def persons_by_key(province: SyntheticProvince) -> dict[str, SyntheticPerson]:
    return {p.key: p for p in province.persons}


def _flags(person: SyntheticPerson) -> set[str]:
    return {flag.split(":")[0] for flag in person.data_quality}


def _original_of(person: SyntheticPerson) -> str | None:
    for flag in person.data_quality:
        if flag.startswith("near_duplicate_of:"):
            return flag.split(":", 1)[1]
    return None


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


# --- size, speed, determinism ------------------------------------------------------------------


def test_generates_35000_synthetic_persons(province: SyntheticProvince) -> None:
    assert len(province.persons) == PERSON_COUNT
    assert len({p.key for p in province.persons}) == PERSON_COUNT
    for table in (province.persons, province.residences, province.convictions, province.wanted_notices):
        assert all(row.is_synthetic for row in table)
    assert all(row.is_synthetic for row in province.drug_records)


def test_generation_takes_well_under_ten_seconds(generated: Generated) -> None:
    # CPU time, so that other processes on a shared machine do not count.
    assert generated.cpu_seconds < 10


def test_generation_is_deterministic_for_a_seed() -> None:
    first = generate_province(person_count=1500, seed=7)
    second = generate_province(person_count=1500, seed=7)
    other = generate_province(person_count=1500, seed=8)

    assert first == second
    assert first.persons != other.persons


def test_every_key_is_unique_and_every_record_points_at_a_person(
    province: SyntheticProvince, persons_by_key: dict[str, SyntheticPerson]
) -> None:
    for table in (province.residences, province.convictions, province.wanted_notices, province.drug_records):
        assert len({row.key for row in table}) == len(table)
        assert all(row.person_key in persons_by_key for row in table)


def test_every_person_has_a_conviction_a_drug_record_or_a_wanted_notice(province: SyntheticProvince) -> None:
    with_records = (
        {c.person_key for c in province.convictions}
        | {d.person_key for d in province.drug_records}
        | {w.person_key for w in province.wanted_notices}
    )

    assert with_records == {p.key for p in province.persons}


def test_phone_numbers_are_always_null(province: SyntheticProvince) -> None:
    assert all(p.phone_number is None for p in province.persons)


# --- identity numbers ------------------------------------------------------------------------


def test_personal_id_numbers_are_unique(province: SyntheticProvince) -> None:
    numbers = [p.personal_id_number for p in province.persons if p.personal_id_number is not None]

    assert len(numbers) == len(set(numbers))
    assert len(numbers) / PERSON_COUNT > 0.97  # only legacy and duplicate rows lack one


def test_personal_id_numbers_use_prefix_000_and_match_sex_and_birth_year(province: SyntheticProvince) -> None:
    for p in province.persons:
        number = p.personal_id_number
        if number is None:
            continue
        assert re.fullmatch(r"000\d{9}", number), number
        century_sex = int(number[3])
        assert century_sex == (p.dob_year // 100 - 19) * 2 + (1 if p.sex == "F" else 0), p.key
        assert number[4:6] == f"{p.dob_year % 100:02d}", p.key


def test_old_id_numbers_are_synthetic_too(province: SyntheticProvince) -> None:
    old = [p.old_id_number for p in province.persons if p.old_id_number is not None]

    assert old
    assert all(re.fullmatch(r"000\d{6}", number) for number in old)


# --- communes and residences -------------------------------------------------------------------


def test_catalogue_has_the_65_units_of_resolution_1672() -> None:
    codes = [c.code for c in COMMUNES]

    assert len(COMMUNES) == 65
    assert len(set(codes)) == 65
    assert all(re.fullmatch(r"\d{5}", code) for code in codes)
    assert sorted(c.name for c in COMMUNES if c.kind == "ward") == ["Kỳ Lừa", "Lương Văn Tri", "Tam Thanh", "Đông Kinh"]
    assert sum(c.kind == "commune" for c in COMMUNES) == 61
    assert all(unicodedata.is_normalized("NFC", c.name) for c in COMMUNES)


def test_catalogue_codes_and_gates_match_domain() -> None:
    by_name = {c.name: c for c in COMMUNES}

    assert by_name["Đồng Đăng"].code == "06184"
    assert by_name["Đông Kinh"].code == "05977"
    assert by_name["Mẫu Sơn"].code == "06541"
    assert by_name["Quốc Khánh"].code == "06004"
    assert by_name["Na Sầm"].code == "06124"
    assert "Hữu Nghị" in (by_name["Đồng Đăng"].border_gate or "")
    assert "Chi Ma" in (by_name["Mẫu Sơn"].border_gate or "")
    assert "Tân Thanh" in (by_name["Hoàng Văn Thụ"].border_gate or "")
    assert all(c.is_border for c in COMMUNES if c.border_gate)
    assert not any(c.is_border for c in COMMUNES if c.kind == "ward")


def test_pre2025_predecessors_follow_resolution_1672() -> None:
    mau_son = {u.name for u in PRE2025_UNITS["06541"]}
    loc_binh = {(u.kind, u.name) for u in PRE2025_UNITS["06529"]}

    assert mau_son == {"Mẫu Sơn", "Yên Khoái", "Tú Mịch"}  # item 34
    assert loc_binh == {("thị trấn", "Lộc Bình"), ("xã", "Khánh Xuân"), ("xã", "Đồng Bục"), ("xã", "Hữu Khánh")}
    assert set(PRE2025_UNITS) == {c.code for c in COMMUNES}
    # code reuse: the new Đông Kinh has the code of the old Vĩnh Trại (DOMAIN §3.2)
    assert ("05977", "Vĩnh Trại") in {(u.code, u.name) for u in PRE2025_UNITS["05977"]}


def test_every_commune_is_used(province: SyntheticProvince) -> None:
    assert {r.ward_code for r in province.residences} == {c.code for c in COMMUNES}
    assert {p.primary_commune_code for p in province.persons} <= {c.code for c in COMMUNES}


def test_residents_lean_towards_wards_and_border_communes(province: SyntheticProvince) -> None:
    per_commune = Counter(p.primary_commune_code for p in province.persons)

    def mean(communes: list[str]) -> float:
        return sum(per_commune[c] for c in communes) / len(communes)

    wards = mean([c.code for c in COMMUNES if c.kind == "ward"])
    border = mean([c.code for c in COMMUNES if c.is_border])
    inland = mean([c.code for c in COMMUNES if c.kind == "commune" and not c.is_border])
    assert wards > border > inland


def test_addresses_are_villages_in_communes_and_residential_groups_in_wards(province: SyntheticProvince) -> None:
    kinds = {c.code: c.kind for c in COMMUNES}
    for r in province.residences:
        if r.source != "synthetic":
            continue  # the TCVN3 legacy batch
        if kinds[r.ward_code] == "ward":
            assert re.fullmatch(r"Tổ dân phố \d+", r.village_or_street), r.key
        else:
            assert re.fullmatch(r"(Thôn|Bản) \S+ \S+", r.village_or_street), r.key
        assert r.pre2025_ward_code in {u.code for u in PRE2025_UNITS[r.ward_code]}
        assert r.pre2025_address_text.endswith("tỉnh Lạng Sơn")
        expected = r.pre2025_address_text if r.admin_code_version == "pre2025" else None
        if expected is not None:
            assert r.address_text_as_recorded == expected
            assert r.valid_from is not None and r.valid_from < date(2025, 7, 1)


# --- names -------------------------------------------------------------------------------------


def test_top_two_family_names_are_nguyen_then_hoang(province: SyntheticProvince) -> None:
    family = Counter(p.family_name for p in province.persons if not p.data_quality)

    assert [name for name, _ in family.most_common(2)] == ["Nguyễn", "Hoàng"]


def test_given_name_pools_hold_at_least_300_real_names_each() -> None:
    for pool in (MALE_GIVEN_NAMES, FEMALE_GIVEN_NAMES):
        assert len(pool) >= 300
        assert len(set(pool)) == len(pool)
        assert all(unicodedata.is_normalized("NFC", name) and " " not in name for name in pool)
    assert "Thị" not in MALE_GIVEN_NAMES and "Văn" not in FEMALE_GIVEN_NAMES


def test_full_name_duplicate_rate_is_well_below_the_prototypes_62_percent(province: SyntheticProvince) -> None:
    names = [p.canonical_full_name for p in province.persons if _original_of(p) is None]
    duplicate_rate = 1 - len(set(names)) / len(names)

    assert 0.05 < duplicate_rate < 0.45  # some homonyms on purpose (DOMAIN §5.2.4)


def test_about_8_percent_of_names_have_four_or_more_syllables(province: SyntheticProvince) -> None:
    share = sum(len(p.canonical_full_name.split()) >= 4 for p in province.persons) / PERSON_COUNT

    assert 0.065 < share < 0.095


def test_women_are_not_given_van_and_men_are_not_given_thi(province: SyntheticProvince) -> None:
    for p in province.persons:
        middle = p.canonical_full_name.split()[1:-1]
        if p.sex == "M":
            assert "Thị" not in middle, p.key
        else:
            assert "Văn" not in middle, p.key


def test_sex_and_birth_years_follow_the_recipe(province: SyntheticProvince) -> None:
    persons = province.persons
    male_share = sum(p.sex == "M" for p in persons) / PERSON_COUNT
    peak_share = sum(1985 <= p.dob_year <= 1999 for p in persons) / PERSON_COUNT
    year_only = [p for p in persons if p.dob_precision == "year"]

    assert 0.86 < male_share < 0.90
    assert min(p.dob_year for p in persons) == 1955 and max(p.dob_year for p in persons) == 2009
    assert peak_share > 0.45
    assert 0.06 < len(year_only) / PERSON_COUNT < 0.11
    assert all(p.dob_month is None and p.dob_day is None for p in year_only)
    for p in persons:
        if p.dob_precision == "day":
            assert p.dob_month is not None and p.dob_day is not None
            date(p.dob_year, p.dob_month, p.dob_day)  # a real calendar date


# --- clean and dirty rows ------------------------------------------------------------------------


def test_every_string_of_a_clean_row_is_normalised_nfc(province: SyntheticProvince) -> None:
    clean_keys = {p.key for p in province.persons if not p.data_quality}
    rows: list[Any] = [p for p in province.persons if p.key in clean_keys]
    rows += [r for r in province.residences if r.person_key in clean_keys]
    rows += [*province.convictions, *province.wanted_notices, *province.drug_records, *COMMUNES]
    texts: set[str] = set()
    names_by_type: dict[type, list[str]] = {}
    for row in rows:
        names = names_by_type.setdefault(type(row), [f.name for f in fields(row)])
        for name in names:
            value = getattr(row, name)
            if isinstance(value, str):
                texts.add(value)
            elif isinstance(value, tuple):
                texts.update(v for v in value if isinstance(v, str))

    assert len(texts) > 10_000
    assert [t for t in texts if not unicodedata.is_normalized("NFC", t) or normalize_text(t) != t] == []


def test_about_ten_percent_of_rows_are_dirty_and_say_how(province: SyntheticProvince) -> None:
    dirty = [p for p in province.persons if p.data_quality]
    flags = Counter(flag for p in dirty for flag in _flags(p))

    assert 0.08 < len(dirty) / PERSON_COUNT < 0.12
    assert set(flags) == KNOWN_FLAGS
    assert all(flags[flag] >= 50 for flag in KNOWN_FLAGS)


def test_name_flags_describe_the_recorded_names(province: SyntheticProvince) -> None:
    for p in province.persons:
        flags = _flags(p)
        if "nfd" in flags:
            assert not unicodedata.is_normalized("NFC", p.full_name)
            assert normalize_text(p.full_name) == p.canonical_full_name
        if "no_diacritics" in flags:
            assert normalize_text(p.full_name).isascii()
            assert search_key(p.full_name) == search_key(p.canonical_full_name)
        if "all_caps" in flags:
            assert p.full_name == p.full_name.upper()
        if "eth_homoglyph" in flags:
            assert "\u00d0" in p.full_name
        if "tone_placement_swapped" in flags:
            assert p.full_name != p.canonical_full_name
            assert exact_key(p.full_name) == exact_key(p.canonical_full_name)
        if flags & NAME_FLAGS and "middle_name_dropped" not in flags and "no_diacritics" not in flags:
            assert exact_key(p.full_name) == exact_key(p.canonical_full_name), p.key
        if not p.data_quality:
            assert p.full_name == p.canonical_full_name


def test_date_flags_describe_the_recorded_dates(province: SyntheticProvince) -> None:
    for p in province.persons:
        flags = _flags(p)
        if "placeholder_dob" in flags:
            assert (p.dob_month, p.dob_day) == (1, 1)
        if "dob_year_only" in flags:
            assert p.dob_precision == "year"


def test_near_duplicates_are_the_same_person_recorded_again(
    province: SyntheticProvince, persons_by_key: dict[str, SyntheticPerson]
) -> None:
    duplicates = [p for p in province.persons if _original_of(p) is not None]
    judgments = defaultdict(set)
    for c in province.convictions:
        judgments[c.person_key].add(c.judgment_no)

    assert 0.01 < len(duplicates) / PERSON_COUNT < 0.02
    for dup in duplicates:
        original = persons_by_key[_original_of(dup) or ""]
        assert not original.data_quality
        assert (dup.sex, dup.dob_year, dup.canonical_full_name) == (
            original.sex,
            original.dob_year,
            original.canonical_full_name,
        )
        assert dup.personal_id_number != original.personal_id_number
        assert dup.primary_commune_code == original.primary_commune_code
        assert judgments[dup.key] <= judgments[original.key]
        if "middle_name_dropped" not in _flags(dup):
            assert search_key(dup.full_name) == search_key(original.full_name)


def test_legacy_batch_is_tcvn3_flagged_and_convertible(province: SyntheticProvince) -> None:
    legacy = [p for p in province.persons if "tcvn3_legacy" in p.data_quality]
    homes = {r.person_key: r for r in province.residences if r.kind == "THUONG_TRU"}

    assert 0.003 < len(legacy) / PERSON_COUNT < 0.007
    keys = [int(p.key[1:]) for p in legacy]
    assert keys == list(range(keys[0], keys[0] + len(keys)))  # one contiguous import batch
    for p in legacy:
        assert p.source_system == "synthetic_legacy_abc_import"
        assert p.personal_id_number is None and p.old_id_number is not None
        assert looks_like_tcvn3(f"{p.full_name} {homes[p.key].address_text_as_recorded}")
        assert exact_key(tcvn3_to_unicode(p.full_name)) == exact_key(p.canonical_full_name)
        assert homes[p.key].admin_code_version == "pre2025"


def test_no_other_row_looks_like_tcvn3(province: SyntheticProvince) -> None:
    for p in province.persons:
        if "tcvn3_legacy" not in p.data_quality:
            assert not looks_like_tcvn3(p.full_name), p.key
            assert not looks_like_tcvn3(p.father_name), p.key


# --- convictions -------------------------------------------------------------------------------


def test_charges_are_coded_with_the_domain_articles(province: SyntheticProvince) -> None:
    allowed = {str(n) for n in range(247, 260)} | {"256a", "150", "151", "207", "188", "189", "190", "191"}
    allowed |= {"347", "348", "349", "173", "174", "134", "321", "322", "304", "260"}
    articles: Counter[str] = Counter()
    for c in province.convictions:
        for charge in c.charges:
            match = CHARGE_RE.fullmatch(charge)
            assert match, charge
            articles[match.group(1)] += 1
            if match.group(1) == "256a":
                assert c.judgment_date >= date(2025, 7, 1)
        assert c.judgment_date >= date(2018, 1, 1)  # Penal Code 2015 in force

    assert set(articles) <= allowed
    assert [a for a, _ in articles.most_common(2)] == ["249", "173"]


def test_penalties_and_enforcement_status_are_consistent(province: SyntheticProvince) -> None:
    as_of = province.as_of
    for c in province.convictions:
        assert c.judgment_date <= as_of
        if c.enforcement_status == "COMPLETED":
            assert c.completion_date is not None and c.judgment_date <= c.completion_date <= as_of
        else:
            assert c.completion_date is None
        if c.principal_penalty_type == "TU_CHO_HUONG_AN_TREO":
            assert c.principal_penalty_months is not None and c.principal_penalty_months <= 36
            assert c.probation_months is not None and 12 <= c.probation_months <= 60
        if c.principal_penalty_type == "PHAT_TIEN":
            assert c.fine_vnd is not None and c.fine_vnd > 0
        if c.principal_penalty_type == "TU_CO_THOI_HAN":
            assert c.principal_penalty_months is not None and c.principal_penalty_months > 0


def _waiting_years(c: SyntheticConviction) -> int:
    """Penal Code art. 70(2), written out again independently of the generator."""
    penalty, months = c.principal_penalty_type, c.principal_penalty_months or 0
    if penalty == "TU_CO_THOI_HAN":
        return 2 if months <= 60 else 3 if months <= 180 else 5
    return 5 if penalty == "TU_CHUNG_THAN" else 1


def test_expunction_follows_penal_code_art_70_and_73(
    province: SyntheticProvince, persons_by_key: dict[str, SyntheticPerson]
) -> None:
    by_person = defaultdict(list)
    for c in province.convictions:
        # a near-duplicate's copied judgment carries the status computed from the original's history
        if _original_of(persons_by_key[c.person_key]) is None:
            by_person[c.person_key].append(c)
    expunged = [c for c in province.convictions if c.expunged]

    assert 0.1 < len(expunged) / len(province.convictions) < 0.6
    for convictions in by_person.values():
        convictions.sort(key=lambda c: c.judgment_date)
        for i, c in enumerate(convictions):
            if c.expunged:
                assert c.expunction_basis == "AUTO_ART70"
                assert c.completion_date is not None and c.expunged_date is not None
                assert c.judgment_date < c.expunged_date <= province.as_of
                assert c.expunged_date >= _add_years(c.completion_date, _waiting_years(c))
            else:
                assert c.expunged_date is None and c.expunction_basis == ""
                if c.completion_date is not None and _add_years(c.completion_date, _waiting_years(c)) <= (
                    province.as_of
                ):
                    # only a new offence within the waiting period keeps it (art. 73)
                    later = convictions[i + 1 :]
                    assert later and later[0].judgment_date <= _add_years(c.completion_date, _waiting_years(c))


# --- wanted notices ----------------------------------------------------------------------------


def test_about_5_percent_have_an_active_wanted_notice(province: SyntheticProvince) -> None:
    active = {w.person_key for w in province.wanted_notices if w.status == "ACTIVE"}

    assert 0.04 < len(active) / PERSON_COUNT < 0.06


def test_wanted_notices_carry_the_decision_fields(
    province: SyntheticProvince, persons_by_key: dict[str, SyntheticPerson]
) -> None:
    for w in province.wanted_notices:
        person = persons_by_key[w.person_key]
        assert w.decision_no and w.issuing_agency and w.signer_name and w.signer_position and w.legal_basis
        assert w.charges and all(CHARGE_RE.fullmatch(charge) for charge in w.charges)
        assert w.category in {"SUSPECT", "DEFENDANT", "CONVICT_ESCAPED"}
        assert w.wanted_type in {"ORDINARY", "SPECIAL", "INTERNATIONAL"}
        assert w.decision_date <= province.as_of
        marks = person.identifying_marks
        if "tcvn3_legacy" in person.data_quality:
            marks = tcvn3_to_unicode(marks)
        assert (w.full_name, w.dob_year, exact_key(w.identifying_marks)) == (
            person.canonical_full_name,
            person.dob_year,
            exact_key(marks),
        )
        if w.status == "RESCINDED":
            assert w.rescission_decision_no and w.rescission_reason and w.rescission_date is not None
            assert w.decision_date <= w.rescission_date <= province.as_of
        else:
            assert w.rescission_date is None and not w.rescission_reason


def test_active_wanted_persons_have_no_later_judgment_and_escaped_convicts_evade_one(
    province: SyntheticProvince,
) -> None:
    convictions = defaultdict(list)
    for c in province.convictions:
        convictions[c.person_key].append(c)
    for w in province.wanted_notices:
        if w.status != "ACTIVE":
            continue
        own = convictions[w.person_key]
        assert all(c.judgment_date < w.decision_date for c in own)
        assert not any(c.enforcement_status == "SERVING" and c.principal_penalty_type in CUSTODIAL for c in own)
        evaded = [c for c in own if c.enforcement_status == "EVADING"]
        if w.category == "CONVICT_ESCAPED":
            assert len(evaded) == 1 and evaded[0].charges == w.charges
        else:
            assert not evaded


# --- drug-use records --------------------------------------------------------------------------


def test_management_periods_last_one_year_and_some_are_active(province: SyntheticProvince) -> None:
    management = [d for d in province.drug_records if d.measure == "MANAGEMENT"]
    statuses = Counter(d.status for d in management)

    assert statuses["active"] > 0.05 * len(management)
    assert statuses["ended"] > 0.5 * len(management)
    for d in management:
        assert d.decision_date == d.start_date >= date(2022, 1, 1)  # Law 73/2021, art. 23
        assert d.end_date == _add_years(d.start_date, 1) - timedelta(days=1)
        assert d.status == ("active" if d.start_date <= province.as_of <= d.end_date else "ended")
        assert d.deciding_authority.startswith("Chủ tịch Ủy ban nhân dân ")


def test_drug_periods_never_overlap_a_prison_term(province: SyntheticProvince) -> None:
    prison = defaultdict(list)
    for c in province.convictions:
        if c.principal_penalty_type in CUSTODIAL and c.enforcement_status != "EVADING":
            prison[c.person_key].append((c.judgment_date, c.completion_date or date.max))
    for d in province.drug_records:
        for start, end in prison[d.person_key]:
            assert d.end_date < start or end < d.start_date, d.key


def test_art_256a_exposure_is_only_set_from_july_2025(province: SyntheticProvince) -> None:
    exposed = [d for d in province.drug_records if d.art256a_exposure_until is not None]

    assert exposed
    assert all(d.art256a_exposure_until is not None and d.art256a_exposure_until >= date(2025, 7, 1) for d in exposed)
    assert all(d.measure != "MANAGEMENT" for d in exposed)
