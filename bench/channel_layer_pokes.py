"""Pokes through the Redis channel layers, side by side: which fraction of group_sends from another process
reach a receiver that idled past channels_redis' blocking read (7 s), with and without the layer's Redis keys
being lost meanwhile (what a FLUSHDB by anyone sharing the Redis does). Needs FIELDSYNC_REDIS_URL.

    FIELDSYNC_REDIS_URL=redis://127.0.0.1:6379/0 uv run python bench/channel_layer_pokes.py [rounds]

Only keys under this run's own prefix are deleted.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import redis
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

LAYERS = {"core": RedisChannelLayer, "pubsub": RedisPubSubChannelLayer}
IDLE_SECONDS = RedisChannelLayer.brpop_timeout + 2


async def send_once(kind: str, url: str, prefix: str) -> None:
    layer = LAYERS[kind](hosts=[url], prefix=prefix)
    await layer.group_send("scope.bench", {"type": "device.poke"})
    if kind == "core":
        await layer.close_pools()
    else:
        await layer.flush()


async def delivered(kind: str, url: str, *, lose_keys: bool, rounds: int) -> int:
    prefix = f"bench-pokes-{uuid.uuid4().hex[:8]}"
    layer = LAYERS[kind](hosts=[url], prefix=prefix)
    channel = await layer.new_channel()
    await layer.group_add("scope.bench", channel)
    got = 0
    for _ in range(rounds):
        receiving = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(IDLE_SECONDS)
        if lose_keys:
            client = redis.Redis.from_url(url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()
        sender = await asyncio.create_subprocess_exec(sys.executable, __file__, "--send", kind, url, prefix)
        await sender.wait()
        try:
            await asyncio.wait_for(receiving, 5)
            got += 1
        except TimeoutError:
            pass
    await layer.group_discard("scope.bench", channel)
    return got


def main() -> None:
    if sys.argv[1:2] == ["--send"]:
        asyncio.run(send_once(sys.argv[2], sys.argv[3], sys.argv[4]))
        return
    url = os.environ.get("FIELDSYNC_REDIS_URL", "")
    if not url:
        raise SystemExit("set FIELDSYNC_REDIS_URL")
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for lose_keys in (False, True):
        for kind in LAYERS:
            got = asyncio.run(delivered(kind, url, lose_keys=lose_keys, rounds=rounds))
            what = "keys lost while idle" if lose_keys else "idle only"
            print(f"{kind:7} {what:21} pokes delivered {got}/{rounds} ({got / rounds:.0%})")


if __name__ == "__main__":
    main()
