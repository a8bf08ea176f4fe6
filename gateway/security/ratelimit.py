"""Token-bucket rate limits: in-process by default, shared through Redis when configured."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol


class Limiter(Protocol):
    async def hit(self, key: str) -> float | None:
        """None when allowed; otherwise seconds until a token is available."""


class MemoryBuckets:
    """Buckets in this process; a bounded LRU so many distinct keys cannot exhaust memory."""

    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def hit(self, key: str) -> float | None:
        now = time.monotonic()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate


# Atomic refill-and-take in Redis, so every gateway shares one bucket per key.
_LUA = """
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2]); local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - last) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'last', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis (MELANCIA_REDIS_URL), shared by every gateway instance."""

    def __init__(
        self, url: str, *, per_minute: float, burst: int, prefix: str = "melancia:rl:"
    ) -> None:
        import redis.asyncio as redis

        self.client: Any = redis.from_url(url)
        self.rate = per_minute / 60.0
        self.burst = burst
        self.prefix = prefix
        self._script = self.client.register_script(_LUA)

    async def hit(self, key: str) -> float | None:
        wait = float(
            await self._script(keys=[self.prefix + key], args=[self.rate, self.burst, time.time()])
        )
        return None if wait <= 0 else wait

    async def close(self) -> None:
        await self.client.aclose()
