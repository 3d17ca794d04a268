"""The device WebSocket against bad tokens: refused with the error code, never joined to any group."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator

from backend.accounts import services
from tests.conftest import make_device_session, make_officer, make_unit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def connect(*, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> list[dict[str, Any]]:
    from backend.config.asgi import application

    socket = ApplicationCommunicator(
        application,
        {
            "type": "websocket",
            "path": "/ws/v1/device",
            "raw_path": b"/ws/v1/device",
            "query_string": query,
            "headers": headers or [],
            "subprotocols": [],
        },
    )
    await socket.send_input({"type": "websocket.connect"})
    messages = [await socket.receive_output(timeout=5) for _ in range(3)]
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    return messages


def session() -> Any:
    officer = make_officer(username="patrol.ws", unit=make_unit(code="WS", communes=("20215",)))
    return make_device_session(officer=officer)


@pytest.mark.parametrize(
    ("query", "headers", "code"),
    [
        (b"", [], "token_invalid"),
        (b"token=garbage", [], "token_invalid"),
        (b"token=%00", [], "token_invalid"),
        (b"token=%ff%fe", [], "token_invalid"),
        (b"", [(b"authorization", b"Bearer \xff\xfe")], "token_invalid"),
        (b"token=" + b"a" * 20_000, [], "token_invalid"),
    ],
)
async def test_a_socket_with_a_bad_token_gets_the_error_code_and_is_closed(
    query: bytes, headers: list[tuple[bytes, bytes]], code: str
) -> None:
    messages = await connect(query=query, headers=headers)

    assert [m["type"] for m in messages] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert messages[1]["text"] == f'{{"type": "error", "code": "{code}"}}'
    assert messages[2]["code"] == 4401


async def test_a_revoked_devices_socket_is_told_to_wipe_and_a_refresh_token_is_not_an_access_token() -> None:
    pair = await sync_to_async(session)()
    refresh_used = await connect(query=b"token=" + pair.refresh_token.encode())
    await sync_to_async(services.device_revoke)(actor=None, device=pair.device)
    revoked = await connect(query=b"token=" + pair.access_token.encode())

    assert refresh_used[1]["text"] == '{"type": "error", "code": "token_invalid"}'
    assert revoked[1]["text"] == '{"type": "error", "code": "device_wipe_required"}'
    assert revoked[2]["code"] == 4401
