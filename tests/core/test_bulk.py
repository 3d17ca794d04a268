"""bulk_update_fields stores exactly what save(update_fields=...) would, for every kind of column."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, models

from backend.core.bulk import bulk_update_fields, db_prep_save
from backend.registry.models import Check, Person
from sync.models import SyncRow
from tests.conftest import make_unit

pytestmark = pytest.mark.django_db

FIELDS = ["seq", "changed_at", "is_deleted", "payload_json", "field_versions", "last_writer_device_id"]


def _row(record_id: str) -> SyncRow:
    return SyncRow.objects.create(
        table="t",
        record_id=record_id,
        seq=1,
        created_seq=1,
        changed_at=datetime(2025, 1, 1, tzinfo=UTC),
        scope_key="s",
        payload_json="{}",
        field_versions={"*": [1, "server"]},
        last_writer_device_id=uuid.uuid4(),
    )


def test_bulk_update_fields_matches_save_for_ints_datetimes_booleans_text_json_uuids_and_nulls() -> None:
    rows = [_row(f"r{i}") for i in range(3)]
    untouched = _row("other")
    device = uuid.uuid4()
    for i, row in enumerate(rows):
        row.seq = 10 + i
        row.changed_at = datetime(2026, 12, 4, 6, 30, i, 123456, tzinfo=UTC)
        row.is_deleted = i == 1
        row.payload_json = '{"notes":"Đã gặp \'ở\' chợ; DROP"}'
        row.field_versions = {"notes": [10 + i, str(device)], "*": [1, "server"]}
        row.last_writer_device_id = device if i != 2 else None
        row.created_seq = 99  # not in the fields: must stay 1

    bulk_update_fields(rows, FIELDS, batch_size=2)

    stored = {r.record_id: r for r in SyncRow.objects.all()}
    for row in rows:
        got = stored[row.record_id]
        assert [getattr(got, f) for f in FIELDS] == [getattr(row, f) for f in FIELDS]
        assert got.created_seq == 1
    assert [getattr(stored["other"], f) for f in FIELDS] == [getattr(untouched, f) for f in FIELDS]


def test_bulk_update_fields_writes_a_foreign_key_by_its_field_name_on_a_uuid_keyed_model() -> None:
    unit = make_unit(code="U1", communes=("20215",))
    person = Person.objects.create(full_name="A", primary_commune_code="20215", exact_key="a", search_key="a")
    checks = [
        Check.objects.create(unit=unit, captured_at=datetime(2025, 1, 1, tzinfo=UTC), purpose="OTHER", result="NO_HIT")
        for _ in range(2)
    ]
    checks[0].person, checks[0].notes = person, "một"
    checks[1].person, checks[1].notes = None, ""

    bulk_update_fields(checks, ["person", "notes"])

    stored = {c.pk: (c.person_id, c.notes) for c in Check.objects.all()}
    assert stored == {checks[0].pk: (person.pk, "một"), checks[1].pk: (None, "")}


class _UpperCaseField(models.CharField):  # type: ignore[type-arg]
    """A subclass that transforms what it stores: db_prep_save must not skip it."""

    def get_prep_value(self, value: object) -> object:
        return str(value).upper()


def test_db_prep_save_gives_what_get_db_prep_save_gives_for_every_field_and_kind_of_value() -> None:
    from django.apps import apps

    samples: list[object] = ["", "text", "Hà Nội", 0, 7, -3, 2**40, True, False, None, 1.5, uuid.uuid4()]
    samples.append(datetime(2026, 12, 4, tzinfo=UTC))
    checked = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            prep = db_prep_save(field, connection)
            for value in samples:
                try:
                    expected = field.get_db_prep_save(value, connection)
                except Exception as exc:
                    with pytest.raises(type(exc)):
                        prep(value)
                    continue
                got = prep(value)
                assert type(got) is type(expected), (model.__name__, field.name, value)
                assert repr(got) == repr(expected), (model.__name__, field.name, value)
                checked += 1
    assert checked > 1000
    upper = _UpperCaseField(max_length=5)
    upper.set_attributes_from_name("upper")
    assert db_prep_save(upper, connection)("abc") == "ABC"


def test_bulk_update_fields_refuses_a_value_too_long_for_its_column_as_save_does_never_truncating_it() -> None:
    """PostgreSQL truncates a value silently on an explicit cast to varchar(n) (and rounds on numeric(p, s)):
    the values must reach the column as they are, so that an overlong one fails the UPDATE as in `save`."""
    from django.db import DataError, transaction

    unit = make_unit(code="U1", communes=("20215",))
    checks = [
        Check.objects.create(unit=unit, captured_at=datetime(2025, 1, 1, tzinfo=UTC), purpose="OTHER", result="NO_HIT")
        for _ in range(2)
    ]
    overlong = "y" * 400  # location_text is varchar(300)
    checks[0].location_text = overlong
    try:
        with transaction.atomic():
            checks[0].save(update_fields=["location_text"])
            transaction.set_rollback(True)
        save_refused = False
    except DataError:
        save_refused = True

    try:
        with transaction.atomic():
            bulk_update_fields(checks, ["location_text"])
        bulk_refused = False
    except DataError:
        bulk_refused = True

    assert bulk_refused == save_refused
    stored = Check.objects.get(pk=checks[0].pk).location_text
    assert stored == ("" if save_refused else overlong)
