"""Django's SQLite backend with a small pool of open connections per database file, per process.

Opening a SQLite connection is cheap; its first statement is not: SQLite parses the whole schema
(about 160 tables and indexes here) for every new connection, about a millisecond of CPU, and Django
opens a connection per request (CONN_MAX_AGE 0; persistent connections do not fit ASGI, whose
requests each run in a new thread). Here `close()` hands a clean connection to the pool instead, and
the next `connect()`, in whatever thread, takes it back: the request lifecycle is Django's own (the
connection is still closed at the end of each request, as far as Django is concerned), only the
SQLite handle outlives it.

A handle is pooled only when nothing of its last user can leak into the next one:
* no transaction open (autocommit, not inside `atomic`, SQLite itself not in a transaction) and no
  error seen on it;
* every cursor Django made on it closed first: a SELECT not read to its end keeps a WAL read snapshot
  open, and the next user would read that old snapshot (a revoked token still valid). Closing the
  cursors resets their statements, so the next statement starts a fresh snapshot;
* its connection settings as `get_new_connection` left them (foreign keys on).
At most IDLE_CONNECTIONS_MAX handles wait per database; the others are closed for real. A handle is
used by one wrapper at a time (the pool hands it out once), so moving it between threads is safe:
Django opens every SQLite connection with check_same_thread=False and checks sharing itself. A
wrapper that is never closed (its thread gone) leaves its handle to the garbage collector, as Django
does without the pool. In-memory databases are never pooled (closing one destroys it).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from typing import Any, TypeGuard, cast

from django.db.backends.sqlite3 import base as sqlite_base

IDLE_CONNECTIONS_MAX = 4


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[sqlite3.Connection]] = {}

    def take(self, key: tuple[str, str]) -> sqlite3.Connection | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give(self, key: tuple[str, str], handle: sqlite3.Connection) -> bool:
        """Keep `handle` for the next taker; False (and the caller closes it) when the pool is full."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) >= IDLE_CONNECTIONS_MAX:
                return False
            idle.append(handle)
            return True

    def idle_count(self, key: tuple[str, str]) -> int:
        with self._lock:
            return len(self._idle.get(key, []))

    def close_idle(self, key: tuple[str, str]) -> None:
        """Close the handles waiting for `key`'s database (before its file is deleted, say)."""
        with self._lock:
            handles = self._idle.pop(key, [])
        for handle in handles:
            handle.close()


pool = _Pool()


class _Handle(sqlite3.Connection):
    """A SQLite connection that knows the cursors Django made on it (all closed before it is pooled)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.django_cursors: weakref.WeakSet[Any] = weakref.WeakSet()


class DatabaseWrapper(sqlite_base.DatabaseWrapper):
    def pool_key(self) -> tuple[str, str]:
        return (str(self.settings_dict["NAME"]), repr(sorted(self.settings_dict.get("OPTIONS", {}).items())))

    def get_connection_params(self) -> dict[str, Any]:
        return {**super().get_connection_params(), "factory": _Handle}

    def get_new_connection(self, conn_params: dict[str, Any]) -> sqlite3.Connection:
        if not self.is_in_memory_db():
            handle = pool.take(self.pool_key())
            if handle is not None:
                return handle
        return cast(sqlite3.Connection, super().get_new_connection(conn_params))

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = super().create_cursor(name)
        if isinstance(self.connection, _Handle):
            self.connection.django_cursors.add(cursor)
        return cursor

    def _close(self) -> None:  # BaseDatabaseWrapper._close (not in the stubs)
        handle = self.connection
        if handle is not None and not self.is_in_memory_db() and self._is_clean(handle):
            with self.wrap_database_errors:
                for cursor in list(handle.django_cursors):
                    cursor.close()
                if pool.give(self.pool_key(), handle):
                    return
        super()._close()  # type: ignore[misc]

    def _is_clean(self, handle: sqlite3.Connection) -> TypeGuard[_Handle]:
        if self.in_atomic_block or self.needs_rollback or self.errors_occurred or not self.get_autocommit():
            return False
        if not isinstance(handle, _Handle) or handle.in_transaction:
            return False
        try:
            (foreign_keys,) = handle.execute("PRAGMA foreign_keys").fetchone()
        except sqlite3.Error:
            return False
        return bool(foreign_keys)
