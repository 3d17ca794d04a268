"""One WebSocket per device. Authenticated by the device's access token (header or ?token=)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from backend.accounts.services import DeviceContext, device_context_for_access_token
from backend.core.errors import DomainError
from backend.realtime.groups import device_group, scope_group
from sync.registry import scope_keys_for


def _token_from_scope(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = bytes(value).decode("latin-1").partition(" ")
            if kind.lower() == "bearer":
                return token.strip()
    query = parse_qs(bytes(scope.get("query_string", b"")).decode())
    return str((query.get("token") or [""])[0])


def _authenticate_sync(token: str) -> tuple[DeviceContext, list[str]] | str:
    try:
        ctx = device_context_for_access_token(token=token)
    except DomainError as exc:
        return str(exc.code)
    keys = scope_keys_for(device=ctx.device, officer=ctx.officer)
    return ctx, sorted(keys)


_authenticate = database_sync_to_async(_authenticate_sync)


class DeviceConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    groups_joined: list[str]

    async def connect(self) -> None:
        self.groups_joined = []
        outcome = await _authenticate(_token_from_scope(self.scope))
        await self.accept()
        if isinstance(outcome, str):
            await self.send_json({"type": "error", "code": outcome})
            await self.close(code=4401)
            return
        ctx, keys = outcome
        self.groups_joined = [device_group(str(ctx.device.id))] + [scope_group(k) for k in keys]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"type": "hello", "device_id": str(ctx.device.id)})

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def device_poke(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "poke"})

    async def device_alert(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "alert", **event.get("alert", {})})

    async def device_wipe(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "wipe"})
        await self.close(code=4403)
