"""Keeping to Lightspeed's three rate-limit windows without ever being refused.

Every answer says, per window (5 minutes / hour / day), the limit, what remains and the seconds
until the window resets. The ``Pacer`` keeps that picture in the connection's shared token
store, takes one request off every window *before* sending (so concurrent workers share one
count), and when a window is down to its reserve waits until that window resets. A 429 (another
client of the same key spent the budget) marks the refused windows as spent until their reset,
so every worker waits instead of hammering.

The reserve is 1 % of each window (at least one request): room for another client's stray
request, at a cost of 1 % of the budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from kade.errors import RateLimited
from kade.httpkit import parse_retry_after
from kade.types import TokenStore

WINDOWS = (300.0, 3600.0, 86400.0)
NAMES = ("5min", "hour", "day")
#: wake this long after a reset, so a rounded Reset never sends a request into the old window
MARGIN = 0.5

_sleep_lock = threading.Lock()
_sleep: Callable[[float], None] = time.sleep


@contextmanager
def sleeping_with(sleep: Callable[[float], None]) -> Iterator[None]:
    """Make the pacer wait through ``sleep`` (a simulator clock's ``advance``, for benchmarks)."""
    global _sleep
    with _sleep_lock:
        previous, _sleep = _sleep, sleep
    try:
        yield
    finally:
        with _sleep_lock:
            _sleep = previous


def _triple(value: str | None) -> tuple[int, int, int] | None:
    if not value:
        return None
    parts = value.split("/")
    if len(parts) != 3:
        return None
    try:
        a, b, c = (int(p.strip()) for p in parts)
    except ValueError:
        return None
    return a, b, c


@dataclass
class Budget:
    limits: list[int]
    remaining: list[int]
    #: absolute clock time each window resets
    reset_at: list[float]

    def dump(self) -> str:
        return json.dumps({"l": self.limits, "r": self.remaining, "t": self.reset_at})

    @classmethod
    def load(cls, raw: str | None) -> Budget | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(list(data["l"]), list(data["r"]), [float(t) for t in data["t"]])
        except (ValueError, KeyError, TypeError):
            return None

    def roll(self, now: float) -> None:
        """Windows whose reset passed are full again, until their next reset."""
        for i, length in enumerate(WINDOWS):
            if now >= self.reset_at[i]:
                self.remaining[i] = self.limits[i]
                self.reset_at[i] += length * max(1, math.ceil((now - self.reset_at[i]) / length))


def parse_budget(headers: Mapping[str, str], now: float) -> Budget | None:
    """The three windows from ``X-RateLimit-*`` headers (None when absent or unreadable)."""
    limits = _triple(headers.get("x-ratelimit-limit"))
    remaining = _triple(headers.get("x-ratelimit-remaining"))
    resets = _triple(headers.get("x-ratelimit-reset"))
    if limits is None or remaining is None or resets is None:
        return None
    return Budget(list(limits), [max(0, r) for r in remaining], [now + max(0, s) for s in resets])


def reserve(limit: int) -> int:
    return max(1, limit // 100)


class Pacer:
    """Per API login; ``now`` is the connection's clock in seconds."""

    def __init__(self, tokens: TokenStore, login: str, now: Callable[[], float]) -> None:
        self.tokens = tokens
        self.key = "lightspeed:budget:" + hashlib.sha256(login.encode()).hexdigest()[:16]
        self.now = now
        #: seconds waited so far by this pacer (the benchmark reports it)
        self.waited = 0.0

    def _save(self, budget: Budget, now: float) -> None:
        self.tokens.set(self.key, budget.dump(), ttl=max(60.0, max(budget.reset_at) - now + 60.0))

    def acquire(self, max_wait: float) -> None:
        """Reserve one request in every window, waiting for resets up to ``max_wait`` seconds."""
        while True:
            with self.tokens.lock(self.key):
                now = self.now()
                budget = Budget.load(self.tokens.get(self.key))
                if budget is None:
                    return  # nothing known yet: the first answer tells
                budget.roll(now)
                spent = [i for i in range(3) if budget.remaining[i] <= reserve(budget.limits[i])]
                if not spent:
                    budget.remaining = [r - 1 for r in budget.remaining]
                    self._save(budget, now)
                    return
                wait = max(budget.reset_at[i] for i in spent) - now + MARGIN
            if wait > max_wait:
                names = ", ".join(NAMES[i] for i in spent)
                raise RateLimited(f"Lightspeed {names} request budget is spent; it resets in {wait:.0f}s",
                                  retry_after=wait, code="budget_spent")
            self.waited += wait
            _sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Merge an answer's windows: within one window the lower count wins (others are in flight)."""
        now = self.now()
        seen = parse_budget(headers, now)
        if seen is None:
            return
        with self.tokens.lock(self.key):
            known = Budget.load(self.tokens.get(self.key))
            if known is not None:
                known.roll(now)
                for i in range(3):
                    same_window = abs(known.reset_at[i] - seen.reset_at[i]) < 2.0 and known.limits[i] == seen.limits[i]
                    if same_window:
                        seen.remaining[i] = min(seen.remaining[i], known.remaining[i])
                        seen.reset_at[i] = min(seen.reset_at[i], known.reset_at[i])
            self._save(seen, now)

    def pause(self, seconds: float) -> None:
        """Wait without a budget to go by (a 429 that carried no rate-limit headers)."""
        self.waited += seconds
        _sleep(seconds)

    def refused(self, headers: Mapping[str, str]) -> tuple[float, bool]:
        """A 429: mark the spent windows; how long to wait, and whether ``acquire`` now knows it."""
        now = self.now()
        seen = parse_budget(headers, now)
        retry_after = headers.get("retry-after")
        raw_remaining = _triple(headers.get("x-ratelimit-remaining"))
        if seen is None:
            return parse_retry_after(retry_after, default=WINDOWS[0]), False
        spent = [i for i in range(3) if raw_remaining is not None and raw_remaining[i] <= 0] or [0]
        wait = (parse_retry_after(retry_after) if retry_after is not None
                else max(seen.reset_at[i] for i in spent) - now + MARGIN)
        with self.tokens.lock(self.key):
            for i in spent:
                seen.remaining[i] = 0
                if retry_after is not None:  # the store's word beats the rounded Reset
                    seen.reset_at[i] = now + wait
            self._save(seen, now)
        return wait, True
