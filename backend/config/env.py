"""Small typed helpers that read FIELDSYNC_* environment variables (the only place that reads os.environ)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if not value else int(value)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def database_from_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """Turn `sqlite:///path` or `postgres://user:pw@host:port/name` into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        raw_path = unquote(parsed.path)
        # sqlite:///relative.db -> "/relative.db"; sqlite:////abs/path.db -> "//abs/path.db"
        path = Path(raw_path[1:]) if raw_path.startswith("//") else Path(raw_path.lstrip("/"))
        if raw_path.startswith("//"):
            path = Path("/" + raw_path.lstrip("/"))
        elif not path.is_absolute():
            path = base_dir / path
        return {
            "ENGINE": "backend.core.sqlite_pool",  # django.db.backends.sqlite3 with a pool of open connections
            "NAME": str(path),
            "OPTIONS": {
                # IMMEDIATE: a writing transaction takes the write lock at BEGIN, so two writers queue
                # on busy_timeout instead of failing on a lock upgrade; a pull is one snapshot.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
            # One test database per process: concurrent test runs on one machine never share a file.
            "TEST": {"NAME": str(path.with_name(f"{path.stem}_test_{os.getpid()}.db"))},
        }
    if parsed.scheme in {"postgres", "postgresql"}:
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "fieldsync",
            "USER": unquote(parsed.username or "postgres"),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "127.0.0.1",
            "PORT": str(parsed.port or 5432),
            "CONN_MAX_AGE": 0,
            "OPTIONS": options,
            # One test database per process, as for SQLite: concurrent runs never drop each other's.
            "TEST": {"NAME": f"test_{unquote(parsed.path.lstrip('/')) or 'fieldsync'}_{os.getpid()}"},
        }
    raise ValueError(f"FIELDSYNC_DATABASE_URL: unsupported scheme {parsed.scheme!r}")
