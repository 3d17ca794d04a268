"""`manage.py serve`: its in-process job worker keeps running when one pass of its loop fails; its malloc
tuning keeps request bodies from faulting in fresh pages for every chunk."""

from __future__ import annotations

import platform
import subprocess
import sys
import threading
from pathlib import Path

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
    # On a thread of its own, as serve runs it: its restart closes that thread's connections (on the
    # test's main thread that reached pytest-django's blocked connection after any database test).
    supervisor = threading.Thread(
        target=worker_run_supervised, args=(loop.run,), kwargs={"restart_delay_seconds": 0.01}, daemon=True
    )
    supervisor.start()
    supervisor.join(timeout=30)

    assert not supervisor.is_alive()
    assert loop.calls == 3
    assert loop.finished.is_set()
    assert [r.getMessage() for r in caplog.records if r.name == "backend.core.management.commands.serve"] == [
        "background job worker failed; restarting it in 0.01 s",
        "background job worker failed; restarting it in 0.01 s",
    ]


# Receiving a request body the way uvicorn (httptools) does: chunks appended to a bytearray, copied out
# to bytes for the application, freed; the page faults of 400 such cycles are printed.
BODY_CYCLES = """
import resource, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "tuned":
    from backend.core.management.commands.serve import tune_malloc_for_streaming
    assert tune_malloc_for_streaming()
chunk = b"x" * 262144
def cycle():
    body = bytearray()
    body += chunk
    body += chunk[:100000]
    return len(bytes(body))
for _ in range(20):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(400):
    cycle()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")
def test_serve_malloc_tuning_stops_page_faults_on_every_body_chunk() -> None:
    root = str(Path(__file__).resolve().parents[2])

    def page_faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", BODY_CYCLES, root, mode], capture_output=True, text=True, check=True, timeout=60
        )
        return int(run.stdout.strip())

    untuned, tuned = page_faults("default"), page_faults("tuned")
    assert untuned > 400 * 32  # glibc's defaults: the freed buffers go back to the kernel and fault in again
    assert tuned * 20 < untuned


def test_serve_on_a_port_in_use_fails_before_announcing_itself_or_starting_anything() -> None:
    # A second `make run` on the same port printed "fieldsync serving on ..." and started the job worker
    # before uvicorn found the port taken. The listening socket is now bound first.
    import io
    import socket

    from django.core.management import call_command
    from django.core.management.base import CommandError

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    printed = io.StringIO()
    try:
        with pytest.raises(CommandError, match=f"127.0.0.1:{port} is already in use"):
            call_command("serve", "--port", str(port), stdout=printed)
    finally:
        taken.close()
    assert "serving on" not in printed.getvalue()
    assert not any(thread.name == "fieldsync-task-worker" for thread in threading.enumerate())
