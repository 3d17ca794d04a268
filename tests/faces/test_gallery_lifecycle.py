"""The gallery follows the wanted handbook: notices added, rescinded and re-photographed update the index
incrementally, through the durable job where encoding is needed; the index is persisted and warm at start."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from backend.faces.gallery import (
    gallery_index,
    gallery_reset_memory,
    gallery_sync_notices,
    gallery_version,
    gallery_warm,
)
from backend.faces.models import GalleryTemplate
from backend.faces.pipeline import PIPELINE_VERSION
from backend.registry import services as registry_services
from backend.registry.models import WantedNotice
from media_store.services import photo_ingest_bytes
from tests.conftest import shared_faces_dir
from tests.registry.conftest import make_wanted_notice

pytestmark = pytest.mark.django_db(transaction=True)

IDENTITIES = ("Jennifer_Reilly", "Grant_Hackett", "Imad_Moustapha")


def stored_photo(relative_path: str) -> str:
    data = (shared_faces_dir() / relative_path).read_bytes()
    return photo_ingest_bytes(data=data, source="test").sha256


def photograph(notice: WantedNotice, *sha256s: str) -> None:
    notice.photo_sha256 = list(sha256s)
    notice.save(update_fields=["photo_sha256", "updated_at"])


def pending_refresh_jobs() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="refresh_gallery_notices", status="READY").count()


def run_jobs() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)


def active_templates(notice: WantedNotice) -> list[str]:
    return sorted(
        sha
        for sha in GalleryTemplate.objects.filter(wanted_notice_id=notice.id, is_active=True).values_list(
            "photo_sha256", flat=True
        )
    )


@pytest.fixture
def handbook() -> dict[str, WantedNotice]:
    """Three active notices, each photographed with its identity's first photo and enrolled by the job."""
    gallery_reset_memory()
    notices = {}
    for identity in IDENTITIES:
        notice = make_wanted_notice()
        photograph(notice, stored_photo(f"{identity}/0001.jpg"))
        notices[identity] = notice
    assert pending_refresh_jobs() == 3
    run_jobs()
    assert pending_refresh_jobs() == 0
    return notices


def test_a_photographed_notice_is_enrolled_by_the_durable_job_and_searchable(handbook: dict[str, Any]) -> None:
    index, version = gallery_index()

    assert sorted(index.keys()) == sorted(str(n.id) for n in handbook.values())
    assert version == gallery_version() == 3
    template = GalleryTemplate.objects.get(wanted_notice_id=handbook["Grant_Hackett"].id)
    assert template.template_meta["jitters"] == 1
    assert template.template_meta["face_recognition_version"] == "1.3.0"
    assert str(template.template_meta["dlib_version"]).startswith("20.")
    assert template.template_meta["landmark_model"] == "small"


def test_rescinding_a_notice_retires_its_templates_with_the_rescission_and_the_index_drops_only_them(
    handbook: dict[str, Any],
) -> None:
    gallery_index()
    version = gallery_version()
    rescinded = handbook["Grant_Hackett"]

    registry_services.wanted_notice_rescind(
        notice_id=rescinded.id, decision_no="07/QĐĐN", rescission_date=date(2025, 11, 2), reason="ARRESTED"
    )
    index, new_version = gallery_index()
    refresh = gallery_warm()

    assert active_templates(rescinded) == []  # no job needed: retired in the rescission's transaction
    assert pending_refresh_jobs() == 0
    assert new_version == version + 1
    assert str(rescinded.id) not in index
    assert index.key_count == 2
    assert (refresh.added_count, refresh.removed_count, refresh.loaded_from_file_version) == (0, 1, None)


def test_re_photographing_a_notice_swaps_its_template_incrementally(handbook: dict[str, Any]) -> None:
    gallery_index()
    notice = handbook["Jennifer_Reilly"]
    old_sha = active_templates(notice)[0]
    new_sha = stored_photo("Jennifer_Reilly/0002.jpg")

    photograph(notice, new_sha)
    retired_at_once = active_templates(notice)
    jobs = pending_refresh_jobs()
    run_jobs()
    index, _ = gallery_index()
    refresh = gallery_warm()

    assert retired_at_once == []  # the old photo stopped matching with the change itself
    assert jobs == 1
    assert active_templates(notice) == [new_sha] != [old_sha]
    assert (refresh.added_count, refresh.removed_count) == (1, 1)  # one template out, one in
    assert index.key_count == 3


def test_a_notice_with_several_photos_has_one_template_each_under_one_key(handbook: dict[str, Any]) -> None:
    notice = handbook["Jennifer_Reilly"]
    first = active_templates(notice)[0]
    second = stored_photo("Jennifer_Reilly/0002.jpg")

    photograph(notice, first, second)
    kept_at_once = active_templates(notice)
    run_jobs()
    index, _ = gallery_index()

    assert kept_at_once == [first]  # the photo still on the notice keeps matching meanwhile
    assert active_templates(notice) == sorted([first, second])
    assert (index.key_count, len(index)) == (3, 4)
    stored = GalleryTemplate.objects.get(wanted_notice_id=notice.id, photo_sha256=second, is_active=True).encoding
    probe = index.search(np.frombuffer(bytes(stored), dtype="<f4"), 10)
    assert [c.key for c in probe].count(str(notice.id)) == 1  # one candidate per person, its best template


def test_a_rescinded_notice_made_active_again_comes_back_without_re_encoding(handbook: dict[str, Any]) -> None:
    notice = handbook["Imad_Moustapha"]
    registry_services.wanted_notice_rescind(
        notice_id=notice.id, decision_no="08/QĐĐN", rescission_date=date(2025, 11, 3), reason="DECISION_CANCELLED"
    )
    notice.refresh_from_db()

    notice.status = "ACTIVE"
    notice.save(update_fields=["status", "updated_at"])

    assert len(active_templates(notice)) == 1
    assert pending_refresh_jobs() == 0
    assert str(notice.id) in gallery_index()[0]


def test_a_restarted_process_loads_the_persisted_index_and_applies_only_the_difference(
    handbook: dict[str, Any], settings: Any
) -> None:
    _, version = gallery_index()
    gallery_reset_memory()  # a restart: nothing in memory
    warm = gallery_warm()
    gallery_reset_memory()
    registry_services.wanted_notice_rescind(  # a change while the server was down
        notice_id=handbook["Grant_Hackett"].id,
        decision_no="09/QĐĐN",
        rescission_date=date(2025, 11, 4),
        reason="SURRENDERED",
    )

    after_change = gallery_warm()

    assert (warm.loaded_from_file_version, warm.added_count, warm.removed_count) == (version, 0, 0)
    assert warm.template_count == 3
    assert (after_change.loaded_from_file_version, after_change.added_count, after_change.removed_count) == (
        version,
        0,
        1,
    )
    persisted = sorted(p.name for p in (Path(settings.MEDIA_ROOT) / "faces").glob("gallery-v*.npz"))
    assert persisted == [f"gallery-v{version + 1}.npz"]  # older files are removed


@pytest.mark.slow
def test_serve_loads_the_persisted_index_before_it_takes_requests(
    handbook: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    from tests.media_store.live import ServerProcess

    _, version = gallery_index()  # what the previous server run left on disk
    server = ServerProcess(media_root=Path(settings.MEDIA_ROOT), log_path=tmp_path / "server.log")

    server.start()
    try:
        log = server.log()
    finally:
        server.stop()

    assert f"face gallery index warm: version {version}, 3 templates, loaded from file v{version} (+0 -0" in log


def test_a_template_made_by_another_pipeline_version_is_re_encoded_under_a_new_id(
    handbook: dict[str, Any],
) -> None:
    notice = handbook["Imad_Moustapha"]
    old = GalleryTemplate.objects.get(wanted_notice_id=notice.id)
    GalleryTemplate.objects.filter(pk=old.pk).update(template_meta={**old.template_meta, "pipeline_version": 0})
    index, version = gallery_index()
    assert index.has_template(str(old.pk))

    outcome = gallery_sync_notices(notice_ids=[str(notice.id), str(handbook["Grant_Hackett"].id)])
    index, new_version = gallery_index()

    new = GalleryTemplate.objects.get(wanted_notice_id=notice.id)
    assert (outcome.enrolled_count, new_version) == (1, version + 1)  # only the stale one was encoded again
    assert new.pk != old.pk and new.template_meta["pipeline_version"] == PIPELINE_VERSION
    assert not index.has_template(str(old.pk)) and index.has_template(str(new.pk))
    assert new.encoding == old.encoding  # same photo, same pipeline: the same vector


def test_a_notice_photo_without_a_usable_face_is_recorded_with_its_code_and_not_retried(
    handbook: dict[str, Any],
) -> None:
    import io

    from PIL import Image

    from backend.faces.models import EnrolmentFailure

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 100, 110)).save(buffer, "JPEG")
    blank = photo_ingest_bytes(data=buffer.getvalue(), source="test").sha256
    notice = make_wanted_notice()
    version = gallery_version()

    photograph(notice, blank)
    run_jobs()
    photograph(notice, blank)  # saved again, same photo: nothing new to try

    failure = EnrolmentFailure.objects.get(wanted_notice_id=notice.id)
    assert (failure.photo_sha256, failure.code) == (blank, "face_not_found")
    assert active_templates(notice) == []
    assert pending_refresh_jobs() == 0
    assert gallery_version() == version
