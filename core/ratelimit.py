"""Per-connection request rate limits shared by every worker process.

A GCRA (generic cell rate algorithm) limiter: ``rate`` requests per ``period`` seconds with a
burst of ``burst``. The Redis implementation is one Lua script, atomic across processes and
machines; the memory one serves the embedded mode. ``acquire`` never blocks: it either takes a
slot (returns 0) or says how many seconds to wait.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis

_GCRA = """
local key = KEYS[1]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
if tat < now then tat = now end
local allow_at = tat - (burst - 1) * interval
if now < allow_at then
  return allow_at - now
end
local new_tat = tat + interval
redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class RateLimiter(Protocol):
    def acquire(self, key: str) -> float:
        """Take one request slot for ``key``; 0 when taken, else seconds to wait first."""
        ...


class MemoryRateLimiter:
    """GCRA in process memory (embedded mode: one process)."""

    def __init__(self, rate: float, period: float = 1.0, burst: int = 1) -> None:
        self.interval = period / rate
        self.burst = max(1, burst)
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            allow_at = tat - (self.burst - 1) * self.interval
            if now < allow_at:
                return allow_at - now
            self._tat[key] = tat + self.interval
            return 0.0


class RedisRateLimiter:
    """GCRA in Redis, using the server's clock so every machine agrees."""

    def __init__(self, client: redis.Redis, rate: float, period: float = 1.0, burst: int = 1,
                 prefix: str = "kade:rate:") -> None:
        self.interval_us = int(period / rate * 1_000_000)
        self.burst = max(1, burst)
        self.prefix = prefix
        self._script = client.register_script(_GCRA)

    def acquire(self, key: str) -> float:
        wait_us = int(self._script(keys=[self.prefix + key], args=[self.interval_us, self.burst]))
        return wait_us / 1_000_000
