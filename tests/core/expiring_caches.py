"""Local-memory caches that hit the expiry window of a rate counter on purpose (no sleeping).

A rate check does `add(key, 1)` (the key is there: False) and then `incr(key)`. With a real cache
the key can expire between the two: `incr` then raises ValueError (LocMem, memcached, Django's
RedisCache when its EXISTS misses) or, in RedisCache, is re-created by INCR without a timeout (the
key expired between its EXISTS and its INCR). These caches make that happen once, deterministically.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache


class ExpiresAfterAddCache(LocMemCache):
    """The first time `add` finds a key, the key expires right after (before the caller's incr)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expiries_left = 1

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        added = bool(super().add(key, value, timeout=timeout, version=version))
        if not added and self.expiries_left:
            self.expiries_left -= 1
            self.delete(key, version=version)
        return added


class IncrRecreatesWithoutTimeoutCache(LocMemCache):
    """The first `incr` finds its key expired and re-creates it with no timeout, as Redis INCR does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expiries_left = 1

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        if self.expiries_left and self.has_key(key, version=version):
            self.expiries_left -= 1
            self.delete(key, version=version)
            self.set(key, delta, timeout=None, version=version)
            return delta
        return int(super().incr(key, delta, version=version))

    def expires_at(self, key: str) -> float | None:
        return self._expire_info.get(self.make_and_validate_key(key))
