"""The live-server helpers moved to tests/live.py; this module keeps the old import path working."""

from __future__ import annotations

from tests.live import (
    SERVER_START_SECONDS,
    CuttingProxy,
    ServerProcess,
    SlowRequest,
    database_url_for_subprocess,
    file_size,
    free_port,
    running_server,
    vm_hwm_bytes,
    vm_rss_bytes,
    wait_until,
)

__all__ = [
    "SERVER_START_SECONDS",
    "CuttingProxy",
    "ServerProcess",
    "SlowRequest",
    "database_url_for_subprocess",
    "file_size",
    "free_port",
    "running_server",
    "vm_hwm_bytes",
    "vm_rss_bytes",
    "wait_until",
]
