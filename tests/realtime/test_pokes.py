"""send_to_groups: every group gets its poke, in one call, even when a send to one group fails."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from backend.realtime.pokes import send_to_groups


def test_each_group_gets_the_message_and_a_failed_send_does_not_stop_the_rest(settings) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.pop("default", None)
    layer = get_channel_layer()
    assert layer is not None
    channels = {}
    for group in ("scope.a", "scope.b"):
        channels[group] = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, channels[group])

    # A name the layer refuses (spaces are not allowed in group names): its send raises TypeError.
    send_to_groups(["scope.a", "not a valid group", "scope.b"], {"type": "device.poke", "seq": 7})

    async def receive(channel: str) -> dict[str, object]:
        return await asyncio.wait_for(layer.receive(channel), 5)  # fails instead of hanging if nothing came

    for group, channel in channels.items():
        assert async_to_sync(receive)(channel) == {"type": "device.poke", "seq": 7}, group
    channel_layers.backends.pop("default", None)
