"""Real servers on loopback for tests and benches: `manage.py serve` subprocesses on the test process'
database, a raw slow HTTP client, and a TCP proxy that cuts connections.

`tests.media_store.live` re-exports these names (the media tests were here first).

The server is started as `python manage.py serve --no-worker` with the interpreter running the tests
(`sys.executable`, i.e. the project's uv environment). Not through `uv run`: `uv run` keeps a parent
process, and a SIGKILL sent to it would leave the real server running.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections

SERVER_START_SECONDS = 90.0  # a loaded 2-core machine can take this long; a readiness wait, not an assertion


def database_url_for_subprocess() -> str:
    """FIELDSYNC_DATABASE_URL naming the database this test process uses (the per-process test DB)."""
    database = settings.DATABASES["default"]
    name = str(database["NAME"])
    if connections["default"].vendor == "sqlite":
        return f"sqlite:///{Path(name).resolve()}"  # sqlite:////abs/path
    user = quote(str(database.get("USER") or "postgres"), safe="")
    password = quote(str(database.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}" if password else user
    return f"postgres://{credentials}@{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}/{name}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def vm_hwm_bytes(pid: int) -> int:
    """Peak resident set size of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found")


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


@dataclass
class ServerProcess:
    """A `manage.py serve` subprocess on 127.0.0.1:port."""

    media_root: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    preexec_fn: Callable[[], None] | None = None
    process: subprocess.Popen[bytes] | None = None
    database_url: str | None = None  # default: the database of this test process

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServerProcess:
        env = {
            **os.environ,
            "FIELDSYNC_DATABASE_URL": self.database_url or database_url_for_subprocess(),
            "FIELDSYNC_MEDIA_ROOT": str(self.media_root),
            "FIELDSYNC_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets it
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=str(settings.BASE_DIR),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self.preexec_fn,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("OPTIONS", "/api/v1/media/uploads")
                if connection.getresponse().status == 204:
                    connection.close()
                    return self
                connection.close()
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {SERVER_START_SECONDS}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the server."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def wait_exit(self, *, timeout_seconds: float = 30.0) -> int:
        """Wait for the server to exit on its own (e.g. a fault point's SIGKILL); its return code."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server still running after {timeout_seconds}s:\n{self.log()}")

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


class SlowRequest:
    """One HTTP/1.1 request over a raw socket: headers first, then the body in pieces at the caller's pace."""

    def __init__(self, *, port: int, method: str, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.sent_bytes = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent_bytes += len(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        reply = http.client.HTTPResponse(self.sock)
        reply.begin()
        body = reply.read()
        return reply.status, {name.lower(): value for name, value in reply.getheaders()}, body

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def wait_until(condition: Callable[[], bool], *, timeout_seconds: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class CuttingProxy:
    """A loopback TCP proxy that forwards to `upstream_port` and cuts every connection after it has
    forwarded `cut_after_bytes` bytes from the client (both directions closed, as a dropped link)."""

    def __init__(self, *, upstream_port: int, cut_after_bytes: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after_bytes = cut_after_bytes
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connection_count = 0
        self.cut_count = 0
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name="cutting-proxy", daemon=True)

    def __enter__(self) -> CuttingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing = True
        self.listener.close()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connection_count += 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _pump_up(self, client: socket.socket, upstream: socket.socket) -> None:
        forwarded = 0
        try:
            while True:
                data = client.recv(64 * 1024)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                allowed = self.cut_after_bytes - forwarded
                upstream.sendall(data[:allowed])
                forwarded += min(len(data), allowed)
                if forwarded >= self.cut_after_bytes:
                    self.cut_count += 1
                    _hard_close(client)
                    _hard_close(upstream)
                    return
        except OSError:
            _hard_close(client)
            _hard_close(upstream)

    def _pump_down(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(64 * 1024):
                client.sendall(data)
        except OSError:
            pass
        _hard_close(client)


def _hard_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextmanager
def running_server(**kwargs: Any) -> Iterator[ServerProcess]:
    server = ServerProcess(**kwargs).start()
    try:
        yield server
    finally:
        server.kill()
