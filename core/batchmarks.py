"""Batch marks: one message in flight per connection and kind of batched action, not one per action.

A worker handed a shipment's or a cancellation's message claims every due action of that
connection and kind, up to ``KADE_ACTION_BATCH`` (``kade.claims.claim_batch``). Once such a
message is queued, another one for the same connection and kind adds nothing but a claim that
finds the work already taken. So a process that creates an action sets a mark before sending
(``SET NX`` with an expiry) and sends only when it set it; the worker clears the mark *before* it
claims. An action committed before the clear is claimed by that worker; one committed after
finds the mark gone and sends its own message. A mark whose message was lost expires after
``KADE_SWEEP_AFTER``, the moment the sweeper re-sends the action anyway (the sweeper sends
regardless of marks). Redis holds the marks when Kade has one (shared by every process);
without it the embedded mode's in-process broker keeps them beside itself.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import dramatiq
import redis
from dramatiq.brokers.stub import StubBroker

from kade.app import Kade
from kade.logs import get_logger

log = get_logger(__name__)


def mark_key(kind: str, connection_id: int) -> str:
    return f"kade:batch:{kind}:{connection_id}"


class BatchMarks(Protocol):
    def mark(self, key: str, ttl: float) -> bool:
        """Set ``key`` unless set; True when this call set it (then send a message)."""

    def clear(self, key: str) -> None:
        """Remove ``key``: the next action of this connection and kind sends a message again."""


class RedisBatchMarks:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def mark(self, key: str, ttl: float) -> bool:
        try:
            return bool(self.client.set(key, b"1", nx=True, px=max(1, int(ttl * 1000))))
        except redis.RedisError as exc:  # better a message too many than an action left waiting
            log.warning("batch_mark_failed", key=key, error=f"{type(exc).__name__}: {exc}")
            return True

    def clear(self, key: str) -> None:
        self.client.delete(key)


class MemoryBatchMarks:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return False
            self._until[key] = now + ttl
            return True

    def clear(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)


#: kinds whose actors run batches; their messages carry ``connection_id`` for the mark
BATCHED_KINDS = frozenset({"shipment", "cancel"})
#: how long a mark stands without its message being taken: a queue slower than this gets one
#: more message per connection and kind; a lost message holds new ones back no longer than this
MARK_TTL = 10.0

_lock = threading.Lock()


def batch_marks(kade: Kade, broker: dramatiq.Broker) -> BatchMarks | None:
    """The marks for messages on ``broker``: in Redis when Kade has one (shared by every process),
    in memory beside an in-process broker, and none otherwise (then every action sends)."""
    with _lock:
        if kade.redis is not None:
            found: BatchMarks | None = getattr(kade, "_batch_marks", None)
            if found is None:
                found = RedisBatchMarks(kade.redis)
                kade._batch_marks = found  # type: ignore[attr-defined]
            return found
        if isinstance(broker, StubBroker):
            found = getattr(broker, "_kade_batch_marks", None)
            if found is None:
                found = MemoryBatchMarks()
                broker._kade_batch_marks = found  # type: ignore[attr-defined]
            return found
        return None
