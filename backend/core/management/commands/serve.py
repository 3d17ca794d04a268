"""Serve HTTP and WebSocket through uvicorn, with the durable task worker running in-process."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

logger = logging.getLogger(__name__)

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap instead of their own mmap; free heap above this much is
# returned to the kernel. Both well above the ~256 KiB body chunks uvicorn hands out (see below).
MALLOC_MMAP_THRESHOLD_BYTES = 8 * 1024 * 1024
MALLOC_TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024


def tune_malloc_for_streaming() -> bool:
    """Keep glibc from handing the heap back to the kernel after every request body chunk.

    uvicorn (httptools, uvloop) copies a request body through a few short-lived buffers of about
    256 KiB per read. With glibc's default dynamic thresholds each of them is an mmap or a heap top
    that is trimmed (brk) when freed and faulted in again, zeroed, for the next chunk: page faults
    were half of the server's CPU time receiving a 50 MB tus PATCH (bench/media_upload.py). Fixed
    thresholds let the freed buffers be reused; the heap still shrinks past
    MALLOC_TRIM_THRESHOLD_BYTES of free space, so memory stays flat. Returns False where this is
    not glibc (nothing changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # musl or another libc without mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    is_mmap_set = bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES))
    return bool(mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES)) and is_mmap_set


def start_inprocess_worker(*, interval_seconds: float = 0.5) -> threading.Thread:
    """Run django-tasks-db's worker loop in a daemon thread of this process.

    Tasks are rows in the database, so a job enqueued before a restart is picked up after it.
    """
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=interval_seconds,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="inprocess-" + threading.get_native_id().__str__(),
        excluded_queue_names=[],
    )
    worker.configure_signals = lambda: None  # type: ignore[method-assign]  # signals belong to uvicorn
    thread = threading.Thread(
        target=worker_run_supervised, args=(worker.run,), name="fieldsync-task-worker", daemon=True
    )
    thread.start()
    return thread


def worker_run_supervised(run: Callable[[], None], *, restart_delay_seconds: float = 5.0) -> None:
    """Call the worker loop `run` until it returns, restarting it after any exception.

    django-tasks-db's loop lets a database error escape (on SQLite: `database is locked` when another process,
    e.g. `registry_sync`, holds the write lock longer than the busy timeout). In its own process a supervisor
    restarts it; in-process the thread would die silently and every later job would stay queued while the
    server keeps answering. Tasks are rows claimed in a transaction, so a restarted loop loses nothing.
    """
    from django.db import connections

    while True:
        try:
            run()
        except Exception:
            logger.exception("background job worker failed; restarting it in %s s", restart_delay_seconds)
            connections.close_all()  # this thread's connections: the next pass opens fresh ones
            time.sleep(restart_delay_seconds)
        else:
            return


def listening_socket(*, host: str, port: int) -> socket.socket:
    """A TCP socket listening on (host, port) as uvicorn would bind it. Raises CommandError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(
                f"{host}:{port} is already in use (another fieldsync? `pgrep -af 'manage.py serve'`): "
                "stop it, or serve on another port (make run PORT=8123)"
            ) from exc
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
    listener.set_inheritable(True)
    return listener


class Command(BaseCommand):
    help = "Serve fieldsync (ASGI: HTTP + WebSocket) with an in-process background worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="do not run background jobs in-process")

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        from backend.core.uvicorn_logs import uvicorn_log_config

        # Bound before anything starts: a port in use is one clear error, not a "serving on" line, a job
        # worker and a face gallery warmed for nothing, then uvicorn's failure.
        listener = listening_socket(host=options["host"], port=options["port"])
        tune_malloc_for_streaming()
        self._warm_face_gallery()
        if not options["no_worker"]:
            start_inprocess_worker()
            self._schedule_housekeeping()
            self._schedule_registry_bridge()
        self.stdout.write(f"fieldsync serving on http://{options['host']}:{options['port']} (Ctrl+C to stop)")
        config = uvicorn.Config(
            "backend.config.asgi:application",
            host=options["host"],
            port=options["port"],
            log_level="info",
            log_config=uvicorn_log_config(),
            lifespan="off",
            ws="websockets-sansio",
        )
        # uvicorn announces its address only when it binds the socket itself: the same line, in its log.
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on http://%s:%d (Press CTRL+C to quit)", options["host"], options["port"]
        )
        uvicorn.Server(config).run(sockets=[listener])

    def _schedule_housekeeping(self) -> None:
        """Start the durable media housekeeping chain (expired uploads, unreferenced photos) if none waits."""
        from django.db import DatabaseError

        from media_store.tasks import media_housekeeping_schedule

        try:
            media_housekeeping_schedule()
        except DatabaseError:
            logger.warning("media housekeeping not scheduled (database not migrated?)", exc_info=True)

    def _schedule_registry_bridge(self) -> None:
        """Start the periodic registry bridge run (once: a chain already queued is left alone)."""
        from django.conf import settings
        from django.db import DatabaseError

        from sync.registry_bridge.tasks import registry_bridge_schedule

        try:
            started = registry_bridge_schedule()
        except DatabaseError:
            logger.warning("registry bridge not scheduled (database not migrated?)", exc_info=True)
            return
        interval = settings.FIELDSYNC_REGISTRY_SYNC_SECONDS
        if interval > 0:
            state = "scheduled now" if started else "already scheduled"
            self.stdout.write(f"registry bridge: runs every {interval}s ({state})")

    def _warm_face_gallery(self) -> None:
        """Load the face gallery index before the first request (persisted file + database difference)."""
        from django.db import DatabaseError

        from backend.faces.gallery import gallery_warm

        try:
            refresh = gallery_warm()
        except DatabaseError:
            logger.warning("face gallery not warmed (database not migrated?)", exc_info=True)
            return
        source = (
            f"file v{refresh.loaded_from_file_version}"
            if refresh.loaded_from_file_version is not None
            else "the database"
        )
        self.stdout.write(
            f"face gallery index warm: version {refresh.version}, {refresh.template_count} templates, loaded from "
            f"{source} (+{refresh.added_count} -{refresh.removed_count} applied from the database)"
        )
