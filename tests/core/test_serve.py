"""`manage.py serve`'s in-process job worker keeps running when one pass of its loop fails."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError

from backend.core.management.commands.serve import worker_run_supervised


class FlakyLoop:
    """A worker loop whose first passes fail the way django-tasks-db's does when SQLite stays locked."""

    def __init__(self, *, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.finished = threading.Event()

    def run(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("database is locked")
        self.finished.set()


def test_the_worker_loop_is_restarted_after_a_database_error(caplog: pytest.LogCaptureFixture) -> None:
    loop = FlakyLoop(failures=2)

    worker_run_supervised(loop.run, restart_delay_seconds=0.01)

    assert loop.calls == 3
    assert loop.finished.is_set()
    assert [r.getMessage() for r in caplog.records if r.name == "backend.core.management.commands.serve"] == [
        "background job worker failed; restarting it in 0.01 s",
        "background job worker failed; restarting it in 0.01 s",
    ]
