"""seed_demo: units, officers, a synthetic registry fully mirrored in SyncRows, idempotent."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from PIL import Image

from backend.accounts.models import Officer, Unit
from backend.registry import sync_tables as st
from backend.registry.models import CriminalRecord, DrugUseRecord, Person, PhotoLink, Residence, WantedNotice
from sync.models import SyncHead, SyncRow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MODELS = {
    "persons": Person,
    "residences": Residence,
    "criminal_records": CriminalRecord,
    "drug_use_records": DrugUseRecord,
    "wanted_notices": WantedNotice,
}


def _seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--persons", "500", "--quiet-progress", *args, stdout=out)
    return out.getvalue()


def _live_rows(table: str) -> set[str]:
    return set(SyncRow.objects.filter(table=table, is_deleted=False).values_list("record_id", flat=True))


def test_seed_creates_a_sync_row_for_every_record_and_is_idempotent(settings: Any, tmp_path: Path) -> None:
    settings.FIELDSYNC_SHARED_FACES_DIR = tmp_path / "no-faces-here"

    _seed()

    assert Person.objects.count() == 500
    assert Unit.objects.filter(code="CA-LS", is_province_wide=True).exists()
    assert Officer.objects.filter(username="patrol.huunghi", role="patrol_officer").exists()
    assert Officer.objects.filter(username="admin", role="sync_admin", is_staff=True).exists()
    for table, model in MODELS.items():
        ids = {str(i) for i in model.objects.values_list("id", flat=True)}
        assert ids and _live_rows(table) == ids, table
    drug = DrugUseRecord.objects.filter(status="active").first()
    assert drug is not None
    assert SyncRow.objects.get(table="drug_use_records", record_id=str(drug.id)).scope_key == (
        f"commune-drug:{drug.commune_code}"
    )
    person = Person.objects.first()
    assert person is not None
    row = SyncRow.objects.get(table="persons", record_id=str(person.id))
    assert json.loads(row.payload_json) == st.serialize_person(person)
    assert row.scope_key == f"commune:{person.primary_commune_code}"

    head = SyncHead.objects.get().seq
    assert "Demo data already seeded (use --force to rebuild)." in _seed()
    assert SyncHead.objects.get().seq == head
    assert Person.objects.count() == 500


def test_force_rebuild_tombstones_and_recreates_the_same_ids(settings: Any, tmp_path: Path) -> None:
    settings.FIELDSYNC_SHARED_FACES_DIR = tmp_path / "no-faces-here"
    _seed()
    before = _live_rows("persons")

    _seed("--force")

    assert _live_rows("persons") == before
    assert Person.objects.count() == 500
    assert not SyncRow.objects.filter(table="persons", is_deleted=True).exists()


def _jpeg(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (shade, shade, shade)).save(path, "JPEG")


def test_face_identities_with_two_photos_become_handbook_notices(settings: Any, tmp_path: Path) -> None:
    faces = tmp_path / "faces"
    _jpeg(faces / "Someone_Famous" / "0001.jpg", 10)
    _jpeg(faces / "Someone_Famous" / "0002.jpg", 20)
    _jpeg(faces / "Other_Person" / "0001.jpg", 30)
    _jpeg(faces / "Other_Person" / "0002.jpg", 40)
    _jpeg(faces / "Other_Person" / "0003.jpg", 50)
    _jpeg(faces / "Single_Photo" / "0001.jpg", 60)
    settings.FIELDSYNC_SHARED_FACES_DIR = faces
    settings.DATA_DIR = tmp_path / "var"

    _seed()

    face_map = json.loads((tmp_path / "var" / "demo_faces.json").read_text())
    assert len(face_map) == 2
    assert sorted(Path(v["enrolled"]).parent.name for v in face_map.values()) == ["Other_Person", "Someone_Famous"]
    assert sorted(len(v["unused_probes"]) for v in face_map.values()) == [1, 2]
    for notice_id in face_map:
        notice = WantedNotice.objects.get(pk=notice_id)
        assert notice.person is not None and notice.full_name == notice.person.full_name
        assert "Famous" not in notice.full_name and "Person" not in notice.full_name
        link = PhotoLink.objects.get(record_table="wanted_notices", record_id=notice_id)
        assert notice.photo_sha256 == [link.sha256]
        assert SyncRow.objects.get(table="photos", record_id=str(link.id)).scope_key == "province"


def test_seeding_the_handbook_enrols_the_gallery_once_and_queues_no_refresh_jobs(settings: Any, tmp_path: Path) -> None:
    from django_tasks_db.models import DBTaskResult

    from backend.faces.models import EnrolmentFailure, GalleryTemplate

    faces = tmp_path / "faces"
    for name, shade in (("First_Identity", 10), ("Second_Identity", 30)):
        _jpeg(faces / name / "0001.jpg", shade)
        _jpeg(faces / name / "0002.jpg", shade + 10)
    settings.FIELDSYNC_SHARED_FACES_DIR = faces
    settings.DATA_DIR = tmp_path / "var"

    out = _seed()

    notices = WantedNotice.objects.exclude(photo_sha256=[])
    assert notices.count() == 2
    # Every handbook photo was dealt with synchronously (a template, or a recorded failure to enrol) …
    handled = set(GalleryTemplate.objects.values_list("photo_sha256", flat=True)) | set(
        EnrolmentFailure.objects.values_list("photo_sha256", flat=True)
    )
    assert handled == {sha for notice in notices for sha in notice.photo_sha256}
    assert "Face gallery v" in out
    # … so nothing is left for the background worker to redo.
    assert not DBTaskResult.objects.filter(task_path__endswith="refresh_gallery_notices").exists()
