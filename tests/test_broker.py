"""Which Dramatiq broker a process builds from its settings."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from pydantic import ValidationError

from kade import redis_broker
from kade.config import Settings
from kade.errors import ConfigError
from kade.jobs import make_broker
from kade.redis_broker import PromptRedisBroker


def _settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[arg-type]


def test_embedded_without_urls_and_redis_with_one(tmp_path: Path) -> None:
    assert isinstance(make_broker(_settings(tmp_path)), StubBroker)
    assert isinstance(make_broker(_settings(tmp_path, redis_url="redis://127.0.0.1:6379/15")), RedisBroker)


def test_rabbitmq_needs_redis_beside_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs KADE_REDIS_URL"):
        make_broker(_settings(tmp_path, broker_url="amqp://guest:guest@127.0.0.1:5672"))


def test_rabbitmq_broker_is_built(tmp_path: Path) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = make_broker(_settings(tmp_path, broker_url="amqp://guest:guest@127.0.0.1:5672",
                                   redis_url="redis://127.0.0.1:6379/15"))
    assert isinstance(broker, RabbitmqBroker)
    broker.close()


def test_a_wrong_scheme_names_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="amqp://"):
        _settings(tmp_path, broker_url="mysql://x")


def test_a_busy_consumers_back_off_is_capped(tmp_path: Path) -> None:
    """Dramatiq's back-off grows to the worker timeout (1 s): a consumer with messages in hand
    (the delay queue's, holding delayed ones) would check them that late. Kade's broker caps it
    at KADE_BROKER_IDLE_POLL."""
    broker = make_broker(_settings(tmp_path, redis_url="redis://127.0.0.1:6379/15"))
    consumer = broker.consume("stock", prefetch=1, timeout=1000)
    assert consumer.timeout == 100  # type: ignore[attr-defined]
    slower = make_broker(_settings(tmp_path, redis_url="redis://127.0.0.1:6379/15", broker_idle_poll="0.5"))
    assert slower.consume("stock", prefetch=1, timeout=1000).timeout == 500  # type: ignore[attr-defined]
    broker.close()
    slower.close()


# --- idle consumers wait to be woken (kade.redis_broker) -------------------------------------

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


def _message(queue: str) -> dramatiq.Message[Any]:
    return dramatiq.Message(queue_name=queue, actor_name="noop", args=(), kwargs={}, options={})


def _blocked(broker: PromptRedisBroker) -> int:
    return int(broker.client.info("clients")["blocked_clients"])


def _one_more_blocked(broker: PromptRedisBroker, before: int, deadline: float = 10.0) -> bool:
    """Whether one more client of this Redis than ``before`` waits in a blocking call, looked at
    until ``deadline`` seconds pass."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if _blocked(broker) > before:
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def wake_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[PromptRedisBroker]:
    # A wait far longer than any deadline below: a consumer that returns was woken, not timed out.
    monkeypatch.setattr(redis_broker, "WAKE_WAIT", 60.0)
    broker = PromptRedisBroker(url=f"{REDIS_TEST_URL}?socket_timeout=120",
                               namespace=f"kade-wake-{uuid.uuid4().hex[:8]}")
    yield broker
    for key in broker.client.keys(f"{broker.namespace}:*"):
        broker.client.delete(key)
    broker.close()


def test_an_idle_consumer_sleeps_until_an_enqueue_wakes_it(wake_broker: PromptRedisBroker) -> None:
    consumer = wake_broker.consume("stock", prefetch=2, timeout=1000)
    got: list[Any] = []
    before = _blocked(wake_broker)
    waiter = threading.Thread(target=lambda: got.append(next(consumer)), daemon=True)
    waiter.start()
    assert _one_more_blocked(wake_broker, before), "an idle consumer should wait on its queue's wake list"
    assert waiter.is_alive()
    wake_broker.enqueue(_message("stock"))
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "the enqueue's token should have woken the idle consumer"
    assert got == [None]  # woken, it goes round the worker's loop once, then fetches
    message = next(consumer)
    assert message is not None and message.queue_name == "stock"


def test_a_delayed_enqueue_wakes_the_delay_queues_consumer(wake_broker: PromptRedisBroker) -> None:
    consumer = wake_broker.consume("stock.DQ", prefetch=2, timeout=1000)
    before = _blocked(wake_broker)
    waiter = threading.Thread(target=lambda: next(consumer), daemon=True)
    waiter.start()
    assert _one_more_blocked(wake_broker, before)
    wake_broker.enqueue(_message("stock"), delay=60_000)
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    message = next(consumer)
    assert message is not None and message.options["eta"] > 0


def test_a_consumer_with_a_message_in_hand_does_not_block(wake_broker: PromptRedisBroker) -> None:
    """Its acknowledgements and the delayed messages it holds are handled between its polls."""
    wake_broker.enqueue(_message("stock"))
    consumer = wake_broker.consume("stock", prefetch=2, timeout=1000)
    assert next(consumer) is not None
    wake_broker.client.delete(wake_broker.wake_key("stock"))  # no token left to end a wait early
    done = threading.Event()
    threading.Thread(target=lambda: (next(consumer), done.set()), daemon=True).start()
    assert done.wait(timeout=10), "a consumer holding a message must come back after its short back-off"


def test_wake_tokens_are_bounded_when_nobody_listens(wake_broker: PromptRedisBroker) -> None:
    for _ in range(redis_broker.WAKE_TOKENS + 20):
        wake_broker.enqueue(_message("shipments"))
    assert wake_broker.client.llen(wake_broker.wake_key("shipments")) == redis_broker.WAKE_TOKENS


def test_a_socket_timeout_shorter_than_the_wait_ends_the_wait_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py's default socket timeout (5 s) or an operator's shorter one must not become an
    error in every idle consumer: the wait just ends early."""
    monkeypatch.setattr(redis_broker, "WAKE_WAIT", 60.0)
    broker = PromptRedisBroker(url=f"{REDIS_TEST_URL}?socket_timeout=0.2", namespace="kade-wake-timeout")
    try:
        assert next(broker.consume("stock", prefetch=1, timeout=1000)) is None
    finally:
        broker.close()


# --- queues whose consumers hold one message at a time (kade.fair_prefetch) -------------------


def _taken_before_an_ack(consumer: Any, queued: int) -> int:
    """How many of ``queued`` messages the consumer hands out before it acknowledges any."""
    taken = []
    for _ in range(queued + 2):  # a None is a poll that found no room, or nothing queued
        message = next(consumer)
        if message is not None:
            taken.append(message)
    for message in taken:
        consumer.ack(message)
    return len(taken)


def test_the_recovery_queue_is_consumed_one_message_at_a_time_on_redis(tmp_path: Path) -> None:
    """A recovery job starts a drain and returns: a process holding sixteen of them at once took
    a whole recovery while the other process idled. Other queues keep Dramatiq's prefetch."""
    broker = make_broker(_settings(tmp_path, redis_url=REDIS_TEST_URL))
    assert isinstance(broker, PromptRedisBroker)
    broker.namespace = f"kade-fair-{uuid.uuid4().hex[:8]}"
    try:
        for queue in ("recovery", "orders"):
            for _ in range(3):
                broker.enqueue(_message(queue))
        assert _taken_before_an_ack(broker.consume("recovery", prefetch=16, timeout=50), 3) == 1
        assert _taken_before_an_ack(broker.consume("orders", prefetch=16, timeout=50), 3) == 3
    finally:
        for key in broker.client.keys(f"{broker.namespace}:*"):
            broker.client.delete(key)
        broker.close()


def test_the_recovery_queue_is_consumed_one_message_at_a_time_on_rabbitmq() -> None:
    import pika.exceptions

    from kade.fair_prefetch import KadeRabbitmqBroker

    fair, other = f"kade-fair-{uuid.uuid4().hex[:8]}", f"kade-other-{uuid.uuid4().hex[:8]}"
    broker = KadeRabbitmqBroker(url="amqp://guest:guest@127.0.0.1:5672", confirm_delivery=True,
                                one_at_a_time=frozenset({fair}))
    try:
        try:
            for queue in (fair, other):
                broker.declare_queue(queue)
                for _ in range(3):
                    broker.enqueue(_message(queue))
        except pika.exceptions.AMQPConnectionError as exc:
            pytest.fail(f"RabbitMQ is required at 127.0.0.1:5672 (start it, or run .ci/run): {exc}")
        assert _taken_before_an_ack(broker.consume(fair, prefetch=16, timeout=200), 3) == 1
        assert _taken_before_an_ack(broker.consume(other, prefetch=16, timeout=200), 3) == 3
    finally:
        for queue in (fair, other):
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                broker.channel.queue_delete(name)
        broker.close()
