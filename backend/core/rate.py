"""Fixed-window rate counters in the Django cache (login attempts, face searches).

A window starts with `cache.add(key, 1, timeout)` and each later call does `cache.incr(key)`. The key
can expire between the two: then `incr` raises ValueError (LocMem, memcached, Django's RedisCache)
and the attempt starts a new window instead of failing with a 500. Django's RedisCache checks EXISTS
and then INCRs, so a key expiring between its own two commands is re-created by INCR with no timeout
(a counter that never resets, locking the officer out for good): a count of 1 from `incr` means the
key was re-created, and it gets its timeout back.
"""

from __future__ import annotations

from django.core.cache import cache

_ATTEMPTS = 3


def rate_counter_incr(*, key: str, timeout_seconds: int) -> int:
    """Count one event in the window of `key`; returns the count including this one. Never raises
    for a key that expired meanwhile (each retry either starts the window or increments it)."""
    for _ in range(_ATTEMPTS):
        if cache.add(key, 1, timeout=timeout_seconds):
            return 1
        try:
            count = int(cache.incr(key))
        except ValueError:  # expired between add and incr: the next add starts a new window
            continue
        if count == 1:  # incr re-created an expired key (Redis INCR): it would never expire
            cache.touch(key, timeout=timeout_seconds)
        return count
    # The key expired between add and incr at every attempt (a cache evicting it at once): count
    # this event alone rather than fail the request.
    cache.set(key, 1, timeout=timeout_seconds)
    return 1
