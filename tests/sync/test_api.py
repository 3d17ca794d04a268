"""The sync endpoints over HTTP, with the exact query strings WatermelonDB's apps send."""

from __future__ import annotations

import pytest
from django.test import Client

from sync.models import SyncCheckpoint
from tests.conftest import make_device_session, make_officer, make_unit

pytestmark = pytest.mark.django_db


def test_first_pull_accepts_last_pulled_at_null_as_watermelondb_sends_it() -> None:
    # Backend.md's pullChanges builds `last_pulled_at=${lastPulledAt}`: on the first sync that is "null".
    pair = make_device_session(officer=make_officer(username="first.pull", unit=make_unit()))

    response = Client().get(
        "/api/v1/sync/pull?last_pulled_at=null&schema_version=1&migration=null",
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    checkpoint = SyncCheckpoint.objects.get(device=pair.device)
    assert (body["timestamp"], body["has_more"], "experimentalStrategy" in body) == (checkpoint.id, False, False)
    assert checkpoint.since_seq == 0


@pytest.mark.parametrize("cursor", ["abc", "1.5", "-"])
def test_a_cursor_that_is_neither_an_integer_nor_null_is_a_validation_error(cursor: str) -> None:
    pair = make_device_session(officer=make_officer(username="bad.cursor", unit=make_unit()))

    response = Client().get(
        f"/api/v1/sync/pull?last_pulled_at={cursor}&schema_version=1",
        headers={"Authorization": f"Bearer {pair.access_token}"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert SyncCheckpoint.objects.filter(device=pair.device).count() == 0
