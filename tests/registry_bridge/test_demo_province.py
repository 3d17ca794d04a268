"""The demo story: fieldsync seeded with the synthetic province (`seed_demo`) and the central registry
initialised from the same province (`registry_simulate --init`). The first bridge run links every
row and changes nothing, except the rows that differ by design (dirty registry rows are quarantined);
a bridge write whose values equal the stored ones writes nothing."""

from __future__ import annotations

from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from sqlalchemy import Engine

from backend.console.legacy_registry import (
    INVALID_ID_EVERY,
    SPLIT_COMMUNE_EVERY,
    UNKNOWN_COMMUNE_EVERY,
    legacy_person_insert,
    legacy_registry_init,
)
from backend.registry.bridge_mapping import commune_resolve, person_record_id
from backend.registry.management.commands.seed_demo import DEFAULT_SEED
from backend.registry.models import Person, Residence, WantedNotice
from backend.registry.synthetic import SOURCE_LEGACY_TCVN3, generate_province
from sync.models import QuarantinedRecord, SyncRow
from sync.registry_bridge.engine import bridge_sync
from sync.registry_bridge.models import BridgeLink
from sync.registry_bridge.port import CommuneStatus, mapping_get
from sync.registry_bridge.source import SqlRegistrySource
from sync.writer import head_seq, sync_transaction
from tests.registry_bridge.conftest import person_columns

PERSONS = 400


def _sync_rows() -> set[tuple[str, str, int, str]]:
    return set(SyncRow.objects.values_list("table", "record_id", "seq", "payload_json"))


def _expected_quarantine(persons: int) -> Counter[str]:
    """What the registry holds dirty on purpose (legacy_registry's every-n-th rows, the TCVN3 batch)."""
    province = generate_province(person_count=persons, seed=DEFAULT_SEED)
    expected: Counter[str] = Counter()
    for index, person in enumerate(province.persons, start=1):
        if person.source_system == SOURCE_LEGACY_TCVN3:
            expected["registry_text_tcvn3"] += 1
        elif index % INVALID_ID_EVERY == 0 and person.personal_id_number:
            expected["registry_id_number_invalid"] += 1
        elif index % UNKNOWN_COMMUNE_EVERY == 0:
            expected["registry_commune_unknown"] += 1
        elif index % SPLIT_COMMUNE_EVERY == 0:
            expected["registry_commune_split"] += 1
    return expected


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_first_bridge_run_over_a_fresh_demo_links_every_row_and_changes_nothing(
    settings: Any, tmp_path: Path, registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    settings.FIELDSYNC_SHARED_FACES_DIR = tmp_path / "no-faces-here"
    call_command("seed_demo", "--persons", str(PERSONS), "--quiet-progress", stdout=StringIO())
    init = legacy_registry_init(registry_engine, generate_province(person_count=PERSONS, seed=DEFAULT_SEED))
    before, head_before = _sync_rows(), head_seq()
    residences_before = set(Residence.objects.values_list("id", "valid_to"))

    run = bridge_sync(source=registry, trigger="test")

    quarantined = Counter(QuarantinedRecord.objects.values_list("code", flat=True))
    assert quarantined == _expected_quarantine(PERSONS)
    assert quarantined["registry_text_tcvn3"] > 0
    assert run.rows_read == init.persons + init.notices
    assert (run.records_created, run.records_updated, run.conflicts_raised) == (0, 0, 0)
    assert run.rows_unchanged == run.rows_read - run.rows_quarantined
    assert BridgeLink.objects.count() == run.rows_unchanged
    linked = set(BridgeLink.objects.filter(legacy_table="DOI_TUONG").values_list("record_id", flat=True))
    assert linked <= {str(i) for i in Person.objects.values_list("id", flat=True)}
    notices = set(BridgeLink.objects.filter(legacy_table="QD_TRUY_NA").values_list("record_id", flat=True))
    assert notices == {str(i) for i in WantedNotice.objects.values_list("id", flat=True)}
    # Nothing was written: no SyncRow, no residence, no sequence number.
    assert _sync_rows() == before and head_seq() == head_before
    assert set(Residence.objects.values_list("id", "valid_to")) == residences_before


def test_an_address_in_the_2025_form_recorded_before_the_merger_is_read_as_a_2025_code() -> None:
    # 06625 is the new xã Kiên Mộc and also the old xã Kiên Mộc (huyện Đình Lập), split in 2025: the
    # address text tells which list the code comes from (no district level exists since 1 Jul 2025).
    from datetime import date

    recorded = date(2019, 5, 1)

    new_form = commune_resolve("06625", recorded, "Thôn Bản Chành, xã Kiên Mộc, tỉnh Lạng Sơn")
    old_form = commune_resolve("06625", recorded, "Thôn Bản Chành, xã Kiên Mộc, huyện Đình Lập, tỉnh Lạng Sơn")
    no_text = commune_resolve("06625", recorded, "")

    assert (new_form.status, new_form.code) == (CommuneStatus.CURRENT, "06625")
    assert (old_form.status, old_form.candidates) == (CommuneStatus.SPLIT, ("06625", "06637"))
    assert no_text.status is CommuneStatus.SPLIT


@pytest.mark.django_db
def test_a_bridge_apply_whose_values_equal_the_stored_values_writes_nothing(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    legacy_id = legacy_person_insert(registry_engine, person_columns())
    bridge_sync(source=registry, trigger="test")
    record_id = person_record_id(legacy_id)
    entity = mapping_get().persons
    current = entity.current_values([record_id])[record_id]
    before, head_before = _sync_rows(), head_seq()
    residences_before = set(Residence.objects.values_list("id", "valid_to"))

    with sync_transaction() as writer:
        entity.apply(writer=writer, record_id=record_id, values=current, changed=list(current), is_new=False)

    assert writer.seq is None
    assert _sync_rows() == before and head_seq() == head_before
    assert set(Residence.objects.values_list("id", "valid_to")) == residences_before


@pytest.mark.django_db
def test_restaging_a_record_with_its_current_payload_takes_no_sequence_number_in_a_bridge_transaction() -> None:
    with sync_transaction() as writer:
        writer.stage(table="persons", record_id="p1", payload={"id": "p1", "full_name": "A"}, scope_key="commune:1")
    first = head_seq()

    with sync_transaction(drop_no_ops=True) as again:
        again.stage(table="persons", record_id="p1", payload={"id": "p1", "full_name": "A"}, scope_key="commune:1")
        again.stage(table="persons", record_id="p2", payload={"id": "p2", "full_name": "B"}, scope_key="commune:1")

    assert again.seq == first + 1
    assert dict(SyncRow.objects.values_list("record_id", "seq")) == {"p1": first, "p2": first + 1}

    with sync_transaction(drop_no_ops=True) as idle:
        idle.stage(table="persons", record_id="p2", payload={"id": "p2", "full_name": "B"}, scope_key="commune:1")

    assert idle.seq is None and head_seq() == first + 1

    with sync_transaction() as push_like:  # the default restages on purpose (see sync.writer)
        push_like.stage(table="persons", record_id="p2", payload={"id": "p2", "full_name": "B"}, scope_key="commune:1")

    assert push_like.seq == first + 2


@pytest.mark.django_db
def test_registry_simulate_init_on_a_loaded_registry_says_so_and_loads_nothing(registry_engine: Engine) -> None:
    url = registry_engine.url.render_as_string(hide_password=False)
    call_command("registry_simulate", "--init", "--persons", "100", "--url", url, stdout=StringIO())
    head = head_of(registry_engine)

    again = StringIO()
    call_command("registry_simulate", "--init", "--persons", "100", "--url", url, stdout=again)

    assert again.getvalue().startswith(
        f"registry already initialised: it holds 100 persons and {notices_of(registry_engine)} wanted notices, "
        f"change counter {head}; nothing loaded"
    )
    assert head_of(registry_engine) == head


def test_registry_simulate_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    from backend.console.management.commands.registry_simulate import Command

    parser = Command().create_parser("manage.py", "registry_simulate")
    described = {action.dest: action.help for action in parser._actions}

    for option in ("init", "persons", "seed", "changes", "url"):
        assert described[option], option
    assert str(DEFAULT_SEED) in str(described["seed"])


def head_of(engine: Engine) -> int:
    from sync.registry_bridge import legacy

    with engine.connect() as connection:
        return legacy.head_change_seq(connection)


def notices_of(engine: Engine) -> int:
    from sqlalchemy import func, select

    from sync.registry_bridge import legacy

    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(legacy.QD_TRUY_NA)).scalar_one())


def _insert_persons(engine: Engine, count: int, *, first_id_number: int) -> None:
    for index in range(count):
        legacy_person_insert(
            engine,
            person_columns(HO_TEN=f"Hoàng Văn Lộc {index}", SO_DINH_DANH=f"{first_id_number + index:012d}"),
        )


def _queries_of_a_run(registry: SqlRegistrySource) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        run = bridge_sync(source=registry, trigger="test", batch_size=500)
    assert run.rows_quarantined == 0
    return len(queries.captured_queries)


@pytest.mark.django_db
def test_importing_60_new_persons_takes_no_more_queries_than_10(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    _insert_persons(registry_engine, 1, first_id_number=88_000_001)
    _queries_of_a_run(registry)  # the first run also creates the cursor
    _insert_persons(registry_engine, 10, first_id_number=88_000_100)
    small = _queries_of_a_run(registry)
    _insert_persons(registry_engine, 60, first_id_number=88_000_200)

    large = _queries_of_a_run(registry)

    assert Person.objects.count() == 71
    # 50 more persons (and homes, links, sync rows): no query per row; SQLite's cap on the variables
    # of one statement may split a bulk INSERT in one more chunk.
    assert small <= large <= small + 2


@pytest.mark.django_db
def test_two_new_registry_rows_with_one_id_number_create_the_first_and_quarantine_the_second(
    registry: SqlRegistrySource, registry_engine: Engine
) -> None:
    first = legacy_person_insert(registry_engine, person_columns(HO_TEN="Hoàng Văn Lộc"))
    second = legacy_person_insert(registry_engine, person_columns(HO_TEN="Hoàng Văn Lợi"))

    run = bridge_sync(source=registry, trigger="test")

    assert (run.records_created, run.rows_quarantined) == (1, 1)
    assert list(Person.objects.values_list("id", flat=True)) == [__import__("uuid").UUID(person_record_id(first))]
    item = QuarantinedRecord.objects.get()
    assert (item.record_id, item.code) == (str(second), "registry_id_number_conflict")
    assert set(SyncRow.objects.values_list("table", flat=True)) == {"persons", "residences"}
    assert BridgeLink.objects.get().legacy_id == first
