"""Which Dramatiq broker a process builds from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from pydantic import ValidationError

from kade.config import Settings
from kade.errors import ConfigError
from kade.jobs import make_broker


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


def test_an_idle_redis_queue_is_polled_at_least_ten_times_a_second(tmp_path: Path) -> None:
    """Dramatiq's idle backoff grows to the worker timeout (1 s): a stock flush arriving on a quiet
    queue would wait that out. Kade's broker caps it at KADE_BROKER_IDLE_POLL."""
    broker = make_broker(_settings(tmp_path, redis_url="redis://127.0.0.1:6379/15"))
    consumer = broker.consume("stock", prefetch=1, timeout=1000)
    assert consumer.timeout == 100  # type: ignore[attr-defined]
    slower = make_broker(_settings(tmp_path, redis_url="redis://127.0.0.1:6379/15", broker_idle_poll="0.5"))
    assert slower.consume("stock", prefetch=1, timeout=1000).timeout == 500  # type: ignore[attr-defined]
    broker.close()
    slower.close()
