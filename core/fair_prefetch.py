"""Queues whose consumers hold one message at a time, on Redis and on RabbitMQ.

Dramatiq gives every queue's consumer one prefetch: twice the process's worker threads. That
suits jobs that run until they are done. A ``recover_connection`` job only starts a drain on a
thread of its own and returns (``kade.recovery_drain``), so the first process whose consumer
polled took the ten jobs of a recovery at once, ran every drain and its imports under one
interpreter lock, and left the other process the hand-offs (docs/decisions/recovery-queue.md).
Holding one message at a time, a process takes the next job only once it has started the last,
and a busier process, slower to come back, takes fewer.
"""

from __future__ import annotations

from typing import Any

from dramatiq.broker import Consumer
from dramatiq.brokers.rabbitmq import RabbitmqBroker


class OneAtATime:
    """Broker mixin: consumers of the queues in ``one_at_a_time`` prefetch one message."""

    def __init__(self, *args: Any, one_at_a_time: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_at_a_time = frozenset(one_at_a_time)

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        if queue_name in self.one_at_a_time:
            prefetch = 1
        return super().consume(queue_name, prefetch, timeout)  # type: ignore[misc,no-any-return]


class KadeRabbitmqBroker(OneAtATime, RabbitmqBroker):
    """Dramatiq's RabbitMQ broker (``basic_qos`` per consumer) with Kade's one-at-a-time queues."""
