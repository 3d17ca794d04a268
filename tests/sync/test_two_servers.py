"""Two stateless ASGI server processes on one PostgreSQL + Redis (DESIGN §8, invariant 10).

A device holds its WebSocket on process 2; a push through process 1 that changes its scope pokes
it (through the Redis channel layer); a pull of one cursor gives the same answer on either process.
In CI a missing PostgreSQL or Redis fails these tests.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connection
from websockets.sync.client import ClientConnection, connect

from backend.registry.models import Check
from mobile_contract.client import FieldsyncClient
from tests.conftest import IS_CI, make_device_session, make_officer, make_unit
from tests.live import ServerProcess
from tests.registry.conftest import CAPTURED_AT_MS, COMMUNE_A, make_person, make_wanted_notice

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 20.0
# Both servers share one Redis with a channel prefix of their own, so that other runs sharing this Redis
# cannot poke the test's socket.
CHANNEL_PREFIX = f"fieldsync-test-{uuid.uuid4().hex[:12]}"


def _require_postgres_and_redis() -> str:
    problems = []
    if connection.vendor != "postgresql":
        problems.append("PostgreSQL (FIELDSYNC_DATABASE_URL=postgres://...)")
    redis_url = str(settings.REDIS_URL)
    if not redis_url:
        problems.append("Redis (FIELDSYNC_REDIS_URL=redis://...)")
    else:
        import redis

        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {redis_url} ({exc})")
    if problems:
        message = "two-server tests need " + " and ".join(problems)
        if IS_CI:
            pytest.fail(message)
        pytest.skip(message)
    return redis_url


@pytest.fixture(scope="module")
def servers(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    redis_url = _require_postgres_and_redis()
    folder = tmp_path_factory.mktemp("two-servers")
    (folder / "media").mkdir()
    env = {"FIELDSYNC_REDIS_URL": redis_url, "FIELDSYNC_CHANNEL_PREFIX": CHANNEL_PREFIX}
    started: list[ServerProcess] = []
    try:
        for name in ("one", "two"):
            process = ServerProcess(media_root=folder / "media", log_path=folder / f"server-{name}.log", extra_env=env)
            started.append(process.start())
        yield started[0], started[1]
    finally:
        for process in started:
            process.kill()


@contextmanager
def device_socket(server: ServerProcess, token: str) -> Iterator[ClientConnection]:
    """The device's WebSocket, after its hello and a ping round trip (its groups are joined)."""
    with connect(
        f"ws://127.0.0.1:{server.port}/ws/v1/device",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=WAIT_SECONDS,
    ) as socket:
        hello = json.loads(socket.recv(timeout=WAIT_SECONDS))
        assert hello["type"] == "hello", hello
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=WAIT_SECONDS)) == {"type": "pong"}
        yield socket


def raw_pull(server: ServerProcess, token: str, cursor: int | None) -> bytes:
    response = httpx.get(
        f"{server.base_url}/api/v1/sync/pull",
        params={"last_pulled_at": "null" if cursor is None else str(cursor), "schema_version": "1"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.content


def without_timestamp(body: bytes) -> tuple[bytes, int]:
    """The body with its cursor blanked (each pull issues a checkpoint of its own), and the cursor."""
    match = re.search(rb',"timestamp":(\d+),', body)
    assert match is not None, body[:200]
    return body[: match.start(1)] + b"_" + body[match.end(1) :], int(match.group(1))


def test_a_push_through_process_one_pokes_a_socket_held_by_process_two(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = servers
    unit = make_unit(code="DD", communes=(COMMUNE_A,))
    writer_token = make_device_session(officer=make_officer(username="dd.a", unit=unit), label="a").access_token
    listener_token = make_device_session(officer=make_officer(username="dd.b", unit=unit), label="b").access_token
    make_person(full_name="Chu Văn Thắng")
    writer = FieldsyncClient(one.base_url)
    writer.use_token(writer_token)
    writer.synchronize()
    with device_socket(two, listener_token) as socket:
        check_id = str(uuid.uuid4())
        writer.store.create(
            "checks",
            {
                "id": check_id,
                "full_name_seen": "Lâm Thị Hoa",
                "commune_code": COMMUNE_A,
                "captured_at": CAPTURED_AT_MS,
                "purpose": "PATROL_STOP",
                "result": "NO_HIT",
            },
        )

        report = writer.synchronize()

        assert (report.pushed_rows, report.rejected) == (1, {})
        assert Check.objects.filter(pk=check_id, unit=unit).count() == 1
        assert json.loads(socket.recv(timeout=WAIT_SECONDS)) == {"type": "poke"}


def test_pulls_of_one_cursor_through_either_process_return_identical_bodies(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = servers
    unit = make_unit(code="CM", communes=(COMMUNE_A,))
    token = make_device_session(officer=make_officer(username="cm.a", unit=unit), label="a").access_token
    writer_token = make_device_session(officer=make_officer(username="cm.b", unit=unit), label="b").access_token
    for name in ("Hứa Văn Phúc", "Đàm Thị Nga", "Mã Văn Cường"):
        make_person(full_name=name)
    make_wanted_notice()

    initial_one, cursor_one = without_timestamp(raw_pull(one, token, None))
    initial_two, cursor_two = without_timestamp(raw_pull(two, token, None))
    assert initial_one == initial_two
    assert (
        len(json.loads(initial_one.replace(b'"timestamp":_', b'"timestamp":0'))["changes"]["persons"]["created"]) == 3
    )

    writer = FieldsyncClient(two.base_url)
    writer.use_token(writer_token)
    writer.synchronize()
    check_id = str(uuid.uuid4())
    writer.store.create(
        "checks",
        {
            "id": check_id,
            "full_name_seen": "Bế Văn Hải",
            "commune_code": COMMUNE_A,
            "captured_at": CAPTURED_AT_MS,
            "purpose": "RESIDENT_CHECK",
            "result": "NO_HIT",
        },
    )
    assert writer.synchronize().rejected == {}

    delta_one, next_one = without_timestamp(raw_pull(one, token, cursor_two))
    delta_two, next_two = without_timestamp(raw_pull(two, token, cursor_two))
    assert delta_one == delta_two
    changes = json.loads(delta_one.replace(b'"timestamp":_', b'"timestamp":0'))["changes"]
    assert [row["id"] for row in changes["checks"]["created"]] == [check_id]
    assert sum(len(lists[kind]) for lists in changes.values() for kind in lists) == 1
    assert len({cursor_one, cursor_two, next_one, next_two}) == 4  # each pull is a checkpoint of its own
    empty_one, _ = without_timestamp(raw_pull(one, token, next_two))
    empty_two, _ = without_timestamp(raw_pull(two, token, next_one))
    assert empty_one == empty_two
    assert all(
        lists == {"created": [], "updated": [], "deleted": []}
        for lists in json.loads(empty_one.replace(b'"timestamp":_', b'"timestamp":0'))["changes"].values()
    )


def idle_past_the_layers_blocking_read(socket: ClientConnection) -> None:
    """Leave the socket quiet for longer than channels_redis' blocking BZPOPMIN, then ping it."""
    time.sleep(RedisChannelLayer.brpop_timeout + 2)
    socket.send(json.dumps({"type": "ping"}))
    assert json.loads(socket.recv(timeout=WAIT_SECONDS)) == {"type": "pong"}


def test_an_idle_device_socket_stays_open(servers: tuple[ServerProcess, ServerProcess]) -> None:
    # With redis-py 8 (default read timeout 5 s = channels_redis' blocking read) every socket died
    # after 5 s of quiet with "Timeout reading from Redis"; pyproject pins redis<8.
    _, two = servers
    unit = make_unit(code="TK", communes=(COMMUNE_A,))
    token = make_device_session(officer=make_officer(username="tk.a", unit=unit), label="a").access_token

    with device_socket(two, token) as socket:
        idle_past_the_layers_blocking_read(socket)
        idle_past_the_layers_blocking_read(socket)


def forget_the_layers_keys() -> int:
    """What another client of a shared Redis does with FLUSHDB (every test run on this machine did,
    through Django's cache.clear()), or a Redis restart without persistence: the channel layer's keys
    are gone. Only this module's keys (its own prefix) are deleted, so parallel runs are not disturbed."""
    import redis

    client = redis.Redis.from_url(str(settings.REDIS_URL))
    keys = list(client.scan_iter(match=f"{CHANNEL_PREFIX}*"))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


def test_a_socket_is_poked_by_each_push_through_the_other_process_after_idling_and_losing_the_layers_keys(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    # Invariant 10 must not rest on Redis keys that a FLUSHDB by anyone sharing the Redis (or a restart)
    # removes: with channels_redis' RedisChannelLayer a socket's group memberships were keys written once at
    # connect, so after such a flush the socket stayed open and never got a poke again.
    one, two = servers
    unit = make_unit(code="ID", communes=(COMMUNE_A,))
    writer_token = make_device_session(officer=make_officer(username="id.a", unit=unit), label="a").access_token
    listener_token = make_device_session(officer=make_officer(username="id.b", unit=unit), label="b").access_token
    writer = FieldsyncClient(one.base_url)
    writer.use_token(writer_token)
    writer.synchronize()
    with device_socket(two, listener_token) as socket:
        for round_number in range(3):
            idle_past_the_layers_blocking_read(socket)
            forget_the_layers_keys()
            writer.store.create(
                "checks",
                {
                    "id": str(uuid.uuid4()),
                    "full_name_seen": f"Vi Văn Tâm {round_number}",
                    "commune_code": COMMUNE_A,
                    "captured_at": CAPTURED_AT_MS,
                    "purpose": "PATROL_STOP",
                    "result": "NO_HIT",
                },
            )
            assert writer.synchronize().pushed_rows == 1

            assert (round_number, json.loads(socket.recv(timeout=WAIT_SECONDS))) == (round_number, {"type": "poke"})
