"""The SQLite backend's pool of open connections: what is reused, what is closed for real, and that a
reused connection never shows its next user an old snapshot."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db.utils import ConnectionHandler

from backend.config.env import database_from_url
from backend.core.sqlite_pool import base as sqlite_pool


def _wrapper(path: Path) -> Any:
    """A connection of its own (not the test database's) to the SQLite file `path`, as settings make it."""
    return ConnectionHandler({"default": database_from_url(f"sqlite:///{path}", base_dir=path.parent)})["default"]


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Any:
    """A SQLite file of its own (pytest-django guards only the test database: unblocked here)."""
    path = tmp_path / "pool.sqlite3"
    with django_db_blocker.unblock():
        setup = _wrapper(path)
        with setup.cursor() as cursor:
            cursor.execute("CREATE TABLE token (id INTEGER PRIMARY KEY, revoked INTEGER NOT NULL)")
            cursor.executemany("INSERT INTO token (id, revoked) VALUES (%s, 0)", [(1,), (2,), (3,)])
        key = setup.pool_key()
        setup.close()
        yield path
        sqlite_pool.pool.close_idle(key)


def _revoke_elsewhere(path: Path, token_id: int) -> None:
    """Another process' commit, as a plain SQLite connection of its own."""
    writer = sqlite3.connect(path)
    with writer:
        writer.execute("UPDATE token SET revoked = 1 WHERE id = ?", (token_id,))
    writer.close()


def test_the_default_sqlite_database_uses_the_pooled_backend() -> None:
    assert database_from_url("sqlite:///var/x.sqlite3", base_dir=Path("/srv"))["ENGINE"] == "backend.core.sqlite_pool"


def test_a_closed_connection_is_taken_by_the_next_connect_in_another_thread(database: Path) -> None:
    first = _wrapper(database)
    first.ensure_connection()
    handle = first.connection
    first.close()
    taken: list[Any] = []

    def request_in_a_new_thread() -> None:
        second = _wrapper(database)
        with second.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM token")
            taken.append((second.connection, cursor.fetchone()))
        second.close()

    thread = threading.Thread(target=request_in_a_new_thread)
    thread.start()
    thread.join()

    assert first.connection is None
    assert taken == [(handle, (3,))]
    assert sqlite_pool.pool.idle_count(first.pool_key()) == 1


def test_a_reused_connection_sees_a_commit_made_after_its_last_user_left_a_select_half_read(database: Path) -> None:
    """A SELECT not read to its end holds a WAL read snapshot: without closing it before pooling, the
    next request would be answered from the data as it was then (a revoked token still accepted)."""
    first = _wrapper(database)
    cursor = first.cursor()
    cursor.execute("SELECT id, revoked FROM token ORDER BY id")
    assert cursor.fetchone() == (1, 0)  # two rows left unread
    first.close()
    _revoke_elsewhere(database, 1)

    second = _wrapper(database)
    with second.cursor() as reading:
        reading.execute("SELECT revoked FROM token WHERE id = 1")
        revoked = reading.fetchone()

    assert second.connection is not None
    assert revoked == (1,)
    second.close()


def test_a_connection_closed_inside_a_transaction_is_closed_for_real_and_its_writes_dropped(database: Path) -> None:
    first = _wrapper(database)
    first.set_autocommit(False)
    with first.cursor() as cursor:
        cursor.execute("UPDATE token SET revoked = 1 WHERE id = 2")
    handle = first.connection
    first.close()

    assert sqlite_pool.pool.idle_count(first.pool_key()) == 0
    with pytest.raises(sqlite3.ProgrammingError):
        handle.execute("SELECT 1")
    second = _wrapper(database)
    with second.cursor() as cursor:
        cursor.execute("SELECT revoked FROM token WHERE id = 2")
        assert cursor.fetchone() == (0,)
    assert second.connection is not handle
    second.close()


def test_a_connection_sqlite_left_in_a_transaction_is_not_pooled(database: Path) -> None:
    first = _wrapper(database)
    with first.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("UPDATE token SET revoked = 1 WHERE id = 3")
    first.close()

    assert sqlite_pool.pool.idle_count(first.pool_key()) == 0
    assert sqlite3.connect(database).execute("SELECT revoked FROM token WHERE id = 3").fetchone() == (0,)


def test_a_connection_with_foreign_keys_turned_off_is_not_pooled(database: Path) -> None:
    first = _wrapper(database)
    with first.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys = OFF")
    first.close()

    assert sqlite_pool.pool.idle_count(first.pool_key()) == 0


def test_at_most_four_connections_wait_and_the_others_are_closed(database: Path) -> None:
    wrappers = [_wrapper(database) for _ in range(6)]
    for wrapper in wrappers:
        wrapper.ensure_connection()
    handles = [wrapper.connection for wrapper in wrappers]

    for wrapper in wrappers:
        wrapper.close()

    assert sqlite_pool.IDLE_CONNECTIONS_MAX == 4
    assert sqlite_pool.pool.idle_count(wrappers[0].pool_key()) == 4
    closed = 0
    for handle in handles:
        try:
            handle.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            closed += 1
    assert closed == 2
