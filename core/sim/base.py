"""Clock, rate limits and fault injection shared by every simulator.

Simulators are strict on purpose: a plugin that works against them should work against the
real service. These pieces make the strictness the same everywhere.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field


class SimClock:
    """Wall-clock time that tests can move forward (token expiry, async processing).

    A ``frozen`` clock moves only when advanced: what a test asserts about windows and waits
    (``Retry-After``, rate-limit resets) then cannot drift with how busy the machine is.
    """

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._frozen_at = (time.time() if start is None else start) if frozen else None
        self._offset = 0.0 if start is None or frozen else start - time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            base = time.time() if self._frozen_at is None else self._frozen_at
            return base + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class RateLimit:
    """At most ``limit`` requests per ``window`` seconds for one key (sliding window)."""

    limit: int
    window: float


class RateLimiter:
    """Sliding-window limits per (bucket, client key); answers how long to wait when exceeded."""

    def __init__(self, clock: SimClock, limits: dict[str, RateLimit]) -> None:
        self.clock = clock
        self.limits = limits
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        #: every request seen, as (bucket, key, time); tests read it to prove limits were kept
        self.log: list[tuple[str, str, float]] = []
        self.rejected = 0

    def hit(self, bucket: str, key: str) -> tuple[bool, float, int]:
        """Record a request. Returns (allowed, retry_after_seconds, remaining)."""
        rule = self.limits.get(bucket)
        now = self.clock.now()
        with self._lock:
            self.log.append((bucket, key, now))
            if rule is None:
                return True, 0.0, 1_000_000
            hits = self._hits.setdefault((bucket, key), deque())
            while hits and hits[0] <= now - rule.window:
                hits.popleft()
            if len(hits) >= rule.limit:
                self.rejected += 1
                retry_after = max(0.001, hits[0] + rule.window - now)
                return False, retry_after, 0
            hits.append(now)
            return True, 0.0, rule.limit - len(hits)


@dataclass
class Faults:
    """Failures to inject, for resilience tests and benchmarks.

    Rates are probabilities per request; ``timeout_after_apply`` applies the request and then
    fails to answer (the case that tempts clients into duplicates).
    """

    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_after_apply_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.5
    #: how long a dropped answer hangs before the connection gives up (0: at once, in-process)
    timeout_seconds: float = 0.0
    seed: int = 0
    #: only paths starting with one of these prefixes are affected (empty: all)
    paths: tuple[str, ...] = ()
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def applies(self, path: str) -> bool:
        return not self.paths or any(path.startswith(p) for p in self.paths)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate


@dataclass
class ScriptedFault:
    """A deterministic fault for the next ``count`` matching requests (tests, the demo, the kit).

    ``path`` is a regular expression matched at the start of the request path, so a plain prefix
    works as is and ``r"/orders/\\d+/notes$"`` picks one kind of write. ``operation`` narrows it
    to requests running that operation (a GraphQL operation or root field; ``"*"``: any
    operation), for APIs where one path serves everything. ``kade.sim.faults.FaultLayer`` does
    the kinds it knows (``FAULT_KINDS``); any other kind is handed to the app to do.
    """

    kind: str
    path: str = "/"
    method: str | None = None
    status: int = 503
    count: int = 1
    #: how long a "slow" answer takes, or how long a dropped one hangs first
    seconds: float = 0.0
    #: seconds announced in Retry-After (rate limits)
    retry_after: float = 1.0
    operation: str | None = None

    def matches(self, method: str, path: str, operations: frozenset[str] = frozenset()) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if re.match(self.path, path) is None:
            return False
        if self.operation is None:
            return True
        return bool(operations) and (self.operation == "*" or self.operation in operations)


class ScriptedFaults(list[ScriptedFault]):
    """The queue of scripted faults a simulator consults per request (a list, for easy asserts).

    ``fired`` keeps every fault that was used, once per request it hit, so a test can prove a
    control did something.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.fired: list[ScriptedFault] = []

    def add(self, fault: ScriptedFault) -> ScriptedFault:
        with self._lock:
            self.append(fault)
        return fault

    def wants_operations(self) -> bool:
        """Whether a pending fault needs the request's operation names (so its body is read)."""
        with self._lock:
            return any(fault.operation is not None for fault in self)

    def take(self, method: str, path: str, operations: frozenset[str] = frozenset()) -> ScriptedFault | None:
        """The first fault matching this request, used up by one; None when none applies."""
        with self._lock:
            for index, fault in enumerate(self):
                if fault.matches(method, path, operations):
                    fault.count -= 1
                    if fault.count <= 0:
                        del self[index]
                    self.fired.append(fault)
                    return fault
            return None


class SimulatedTimeout(Exception):
    """Raised by a simulator instead of answering (``SyncASGITransport`` turns it into a read timeout)."""
