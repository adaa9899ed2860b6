"""Dramatiq's Redis broker, with idle consumers that wait to be woken instead of polling.

Dramatiq's Redis consumer polls an empty queue with a back-off that grows to the worker timeout
(a second), so the first message into a quiet queue waited up to that long. Capping the back-off
at ``KADE_BROKER_IDLE_POLL`` (0.1 s) fixed the latency but made every idle worker process poll
its fourteen queues (seven, and their delay queues) ten times a second: 0.2 of a core for two idle
processes on a small machine, and the same Python work competing with real jobs for the
interpreter lock while a backlog drains (docs/decisions/broker-wake-on-enqueue.md).

Here every enqueue also pushes a token onto the queue's wake list, and a consumer with nothing
in hand and nothing fetched waits on that list (``BLPOP``) for up to ``WAKE_WAIT``: a message
reaches an idle worker at once, and an idle process makes one Redis call per queue a second. A
consumer with messages in hand keeps Dramatiq's short back-off: the delay queue's consumer
holds delayed messages until they are due, and acknowledgements go out between its polls.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from kade.fair_prefetch import OneAtATime

#: seconds an idle consumer waits for a wake token before it fetches anyway: what a message put
#: back without a token (a dead worker's, found by Dramatiq's maintenance) may wait, and how
#: often an idle consumer renews its heartbeat (Dramatiq's timeout is a minute)
WAKE_WAIT = 1.0
#: tokens kept per queue: enough to wake every idle consumer of a burst, bounded when none listens
WAKE_TOKENS = 64


class PromptRedisBroker(OneAtATime, RedisBroker):
    """Dramatiq's Redis broker whose idle consumers are woken by the next enqueue.

    ``idle_poll_ms`` caps the back-off of a consumer that is busy (it has messages in hand) yet
    found its queue empty: Dramatiq's own grows to a second. The consumers of the queues in
    ``one_at_a_time`` hold one message at a time (``kade.fair_prefetch``).
    """

    def __init__(self, *args: Any, idle_poll_ms: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # one_at_a_time goes to OneAtATime
        self.idle_poll_ms = idle_poll_ms

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return WakefulConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        return super().consume(queue_name, prefetch, min(timeout, self.idle_poll_ms))

    def wake_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}.wake"

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        """Dramatiq's enqueue, then a wake token for the queue's idle consumers (one round trip).

        Defined here, it takes precedence over the ``do_*`` commands Dramatiq's broker resolves
        in ``__getattr__``. The token goes after the message, so a consumer it wakes finds it.
        """
        result = self._dispatch("enqueue")(queue_name, message_id, data)  # type: ignore[no-untyped-call]
        key = self.wake_key(queue_name)
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(key, 1)
        pipe.ltrim(key, -WAKE_TOKENS, -1)
        pipe.execute()
        return result


class WakefulConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, except that when it is idle it waits on the queue's wake list."""

    broker: PromptRedisBroker

    def __init__(self, broker: PromptRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self.wake_key = broker.wake_key(queue_name)

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # Dramatiq's guard for a message gone from Redis (its #266)
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                room = self.prefetch - self.outstanding_message_count
                if room > 0:
                    self.message_cache = self.broker.do_fetch(self.queue_name, room)
                    if self.message_cache:
                        continue
                if room > 0 and not self.queued_message_ids:
                    # idle: nothing in hand, nothing queued; the next enqueue's token wakes us
                    with contextlib.suppress(redis.TimeoutError):  # a socket timeout below the wait
                        self.broker.client.blpop([self.wake_key], timeout=WAKE_WAIT)
                    return None
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                time.sleep(backoff_ms / 1000)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
