"""PostgreSQL race tests: run a step in a thread and wait until backends wait for a row lock.

A test holds a lock in its own transaction, starts the racing steps in threads, and waits (through
`pg_stat_activity`) until they queue for locks: the interleaving is then fixed, not left to timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, connections, transaction


def backends_waiting_for_a_lock() -> int:
    """How many backends of this database wait for a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
        return int(row[0]) if row is not None else 0


def wait_until_waiting(count: int, *, threads: list[threading.Thread]) -> bool:
    """Poll until `count` backends of this database wait for a lock (True) or a thread ended (False)."""
    deadline = time.monotonic() + 60  # a guard against a hang, not a timing assertion
    while time.monotonic() < deadline:
        if backends_waiting_for_a_lock() >= count:
            return True
        if not all(thread.is_alive() for thread in threads):
            return False
        time.sleep(0.005)
    raise AssertionError("neither waited for a lock nor ended")


def in_thread(target: Callable[[], Any], answers: list[Any]) -> threading.Thread:
    """A thread (not started) appending `target()`'s result, or what it raised, to `answers`."""

    def run() -> None:
        try:
            answers.append(target())
        except BaseException as error:  # reported by the assertions
            answers.append(error)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def second_waits_behind_first(
    *, hold: Callable[[], Any], first: threading.Thread, first_answers: list[Any], second: threading.Thread
) -> bool:
    """In a transaction holding `hold()`'s lock: start `first`, wait until it waits for a lock, start
    `second`, and see whether it waits too (returned). Both are joined once the lock is released."""
    with transaction.atomic():
        hold()
        first.start()
        assert wait_until_waiting(1, threads=[first]), first_answers
        second.start()
        second_waited = wait_until_waiting(2, threads=[first, second])
    first.join(timeout=60)
    second.join(timeout=60)
    return second_waited
