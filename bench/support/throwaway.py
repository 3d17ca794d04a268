"""A throwaway database for a bench run, and the device/officer plumbing the sync benches share.

`throwaway_database(url)` must run before `django.setup()`: it points FIELDSYNC_DATABASE_URL (and
FIELDSYNC_DATA_DIR) at a fresh SQLite file in a temporary folder, or at a fresh database created
next to the one a PostgreSQL URL names (`<name>_bench_<pid>`, dropped at the end). Nothing an
existing deployment or test run uses is touched.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))


@dataclass(frozen=True)
class BenchDatabase:
    vendor: str  # "sqlite" | "postgresql"
    description: str


def default_database_url() -> str | None:
    """FIELDSYNC_DATABASE_URL when it names PostgreSQL, else None (a temporary SQLite file)."""
    url = os.environ.get("FIELDSYNC_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@contextlib.contextmanager
def throwaway_database(database_url: str | None) -> Iterator[BenchDatabase]:
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-") as folder:
        os.environ["FIELDSYNC_DATA_DIR"] = folder
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
        if not database_url:
            os.environ["FIELDSYNC_DATABASE_URL"] = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
            yield BenchDatabase(vendor="sqlite", description=f"SQLite file in {folder}")
            return
        import psycopg

        parts = urlsplit(database_url)
        name = f"{parts.path.lstrip('/') or 'fieldsync'}_bench_{os.getpid()}"
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        os.environ["FIELDSYNC_DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
        try:
            yield BenchDatabase(vendor="postgresql", description=f"PostgreSQL database {name} on {parts.hostname}")
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_ready() -> None:
    """django.setup() and migrate the (empty) throwaway database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclass
class BenchDevice:
    device: Any
    officer: Any
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def device_for(*, officer: Any, label: str, password: str) -> BenchDevice:
    """Enroll a device for the officer's unit and log the officer in (the real services)."""
    from backend.accounts import services

    issued = services.enrollment_code_issue(actor=None, unit=officer.unit, label=label)
    enrolled = services.device_enroll(code=issued.code, label=label)
    pair = services.officer_login(
        device_id=str(enrolled.device.id),
        device_credential=enrolled.device_credential,
        username=officer.username,
        password=password,
    )
    return BenchDevice(device=pair.device, officer=pair.officer, access_token=pair.access_token)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def verdict(is_met: bool) -> str:
    return "MET" if is_met else "NOT MET"
