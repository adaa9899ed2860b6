"""Lightspeed's three rate-limit windows (5 minutes, hour, day) on a controllable clock.

Each API key has a fixed budget per window; windows start on the clock's multiples of their
length, so every window resets at a known moment. Every answer carries the three windows as
``X-RateLimit-Limit/Remaining/Reset: 5min/hour/day``; a request over any budget is refused with
429 and does not count. An exhausted window reports ``-1`` remaining.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from kade.sim.base import SimClock

#: window lengths in seconds, in header order
WINDOWS = (300, 3600, 86400)
#: the simulator's default plan (Lightspeed's documented example)
DEFAULT_LIMITS = (300, 3000, 12000)
#: a larger plan (the account endpoint example: 1000/12000/288000)
LARGE_LIMITS = (1000, 12000, 288000)


@dataclass
class _Usage:
    #: window start → requests counted in it, per window
    starts: list[float] = field(default_factory=lambda: [-1.0, -1.0, -1.0])
    used: list[int] = field(default_factory=lambda: [0, 0, 0])


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]


class WindowLimiter:
    """Fixed windows per key. ``log`` keeps every accepted request's time for benchmarks."""

    def __init__(self, clock: SimClock, limits: tuple[int, int, int] = DEFAULT_LIMITS) -> None:
        self.clock = clock
        self.limits = limits
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()
        #: (key, time) of every counted request
        self.log: list[tuple[str, float]] = []
        #: requests refused with 429 because a window was spent
        self.rejected = 0

    def _roll(self, usage: _Usage, now: float) -> None:
        for i, length in enumerate(WINDOWS):
            start = now - (now % length)
            if usage.starts[i] != start:
                usage.starts[i] = start
                usage.used[i] = 0

    def _headers(self, usage: _Usage, now: float) -> dict[str, str]:
        remaining = [limit - used if used < limit else -1 for limit, used in zip(self.limits, usage.used, strict=True)]
        resets = [max(1, math.ceil(start + length - now)) for start, length in zip(usage.starts, WINDOWS, strict=True)]
        return {
            "X-RateLimit-Limit": "/".join(str(v) for v in self.limits),
            "X-RateLimit-Remaining": "/".join(str(v) for v in remaining),
            "X-RateLimit-Reset": "/".join(str(v) for v in resets),
        }

    def hit(self, key: str) -> Verdict:
        """Count one request for ``key`` unless a window is spent."""
        now = self.clock.now()
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            self._roll(usage, now)
            if any(used >= limit for used, limit in zip(usage.used, self.limits, strict=True)):
                self.rejected += 1
                return Verdict(False, self._headers(usage, now))
            for i in range(3):
                usage.used[i] += 1
            self.log.append((key, now))
            return Verdict(True, self._headers(usage, now))

    def peek(self, key: str) -> dict[str, str]:
        """The headers a request would see now, without counting one (auth failures, faults)."""
        now = self.clock.now()
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            self._roll(usage, now)
            return self._headers(usage, now)

    def spend(self, key: str, count: int) -> None:
        """Another client of the same key uses ``count`` requests of every window."""
        now = self.clock.now()
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            self._roll(usage, now)
            for i, limit in enumerate(self.limits):
                usage.used[i] = min(limit, usage.used[i] + count)

    def account(self, key: str) -> dict[str, dict[str, object]]:
        """The ``/account/ratelimit.json`` body for ``key``."""
        now = self.clock.now()
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            self._roll(usage, now)
            out: dict[str, dict[str, object]] = {}
            for name, i in (("limit5Min", 0), ("limitHour", 1), ("limitDay", 2)):
                limit, used = self.limits[i], usage.used[i]
                out[name] = {
                    "limit": limit,
                    "remaining": limit - used if used < limit else -1,
                    "reset": max(1, math.ceil(usage.starts[i] + WINDOWS[i] - now)),
                }
            return out
