"""Settings, read once from ``KADE_*`` environment variables and an optional ``.env`` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The per-user data directory of the embedded mode (XDG on Linux)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kade"


class Settings(BaseSettings):
    """Every knob Kade has. The README's configuration table lists the same names."""

    model_config = SettingsConfigDict(env_prefix="KADE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    #: SQLAlchemy URL; empty means SQLite in ``data_dir`` (the embedded default)
    database_url: str = ""
    #: Redis URL for the Dramatiq broker, rate limits and locks; empty means the in-process broker
    redis_url: str = ""
    #: Dramatiq broker URL when it is not Redis: ``amqp://`` for RabbitMQ (durable queues). Empty:
    #: the broker is Redis at ``redis_url`` (or the in-process broker). Redis stays required for
    #: the shared rate limits and tokens either way.
    broker_url: str = ""
    #: Fernet key (urlsafe base64, 32 bytes) for credentials at rest; empty: generated into data_dir
    secret_key: str = Field(default="", repr=False)
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    #: fail instead of warn when a plugin cannot be loaded (for CI)
    plugins_strict: bool = False
    #: comma-separated plugin names not to load
    disabled_plugins: str = ""
    #: seconds a stock change waits so later changes to the same product coalesce into one push
    stock_window: float = Field(default=1.0, ge=0)
    #: seconds after which a pending outbox action counts as lost and is re-enqueued, and a
    #: running one whose claim was not renewed as abandoned; never shorter than the longest call
    sweep_after: float = Field(default=120.0, gt=0)
    #: maximum attempts of an outbox action before it is marked failed
    max_attempts: int = Field(default=8, ge=1)
    #: at most this many due shipments or cancellations of one connection a worker takes under
    #: one claim and records in one transaction (1: one at a time); their store calls stay one each
    action_batch: int = Field(default=10, ge=1, le=500)
    #: connections one worker process drains at once after an outage, each on a thread of its
    #: own beside the worker's (``kade.recovery_drain.DrainThreads``); more wait their turn
    recovery_threads: int = Field(default=16, ge=1, le=1000)
    #: alert when the share of active connections drops by more than this within ``alert_window``
    alert_drop_share: float = Field(default=0.2, gt=0, le=1)
    alert_window: float = Field(default=60.0, gt=0)
    #: days the integration event log is kept
    event_retention_days: int = Field(default=90, ge=1)
    #: days a done or cancelled outbox action is kept (failed ones stay until retried)
    action_retention_days: int = Field(default=30, ge=1)
    #: queue priority, most urgent first: alerts; after an outage orders are re-driven first,
    #: then stock, then shipments (rule R10); then cancellations, warehouse events, maintenance
    queue_order: str = "alerts,orders,recovery,stock,shipments,cancellations,warehouse,maintenance"
    #: longest pause, in seconds, of a worker's poll of an idle Redis queue (Dramatiq backs off
    #: up to a second, which a message arriving on a quiet queue waits out — stock latency)
    broker_idle_poll: float = Field(default=0.1, gt=0, le=10)
    #: seconds between sweeps of the outbox in the embedded mode (the scheduler sweeps otherwise)
    embedded_tick: float = Field(default=1.0, gt=0)
    #: seconds of overlap when polling orders since the last cursor (clock skew, late commits)
    order_overlap: float = Field(default=300.0, ge=0)
    #: seconds a store's clock may run ahead of Kade's: the order cursor never passes now + this
    order_clock_skew: float = Field(default=300.0, ge=0)
    #: seconds an import holds its connection's lock without finishing a page (a dead worker's
    #: lock frees after this)
    import_lease: float = Field(default=600.0, gt=0)
    #: largest webhook body accepted, in bytes (read while streaming; beyond it: 413)
    webhook_max_body: int = Field(default=10 * 1024 * 1024, ge=1024)
    #: seconds within which the same webhook body again is a duplicate, whatever its delivery id
    webhook_replay_window: float = Field(default=86400.0, ge=0)
    #: seconds a platform-signed webhook timestamp may differ from now
    webhook_timestamp_tolerance: float = Field(default=300.0, gt=0)
    #: bearer token for /metrics and /health details; empty: only served when bound to loopback
    admin_token: str = Field(default="", repr=False)
    #: the public base URL of ``kade serve`` (shown in webhook URLs), e.g. https://kade.example.com
    public_url: str = ""
    #: seconds a store may take to answer one request (read) and to accept a connection
    http_timeout: float = Field(default=30.0, gt=0)
    http_connect_timeout: float = Field(default=10.0, gt=0)
    #: longest wait for the connection's shared rate limit before a request is given up
    rate_limit_wait: float = Field(default=60.0, gt=0)

    @property
    def longest_call(self) -> float:
        """The longest one store request can take: the rate-limit wait, connecting, the answer."""
        return self.rate_limit_wait + self.http_connect_timeout + self.http_timeout

    @model_validator(mode="after")
    def _sweep_outlasts_calls(self) -> Settings:
        # A claim swept while its call still runs would let two workers act on one action.
        if self.sweep_after < self.longest_call:
            raise ValueError(
                f"KADE_SWEEP_AFTER ({self.sweep_after:g}s) is shorter than the longest possible store call "
                f"({self.longest_call:g}s = rate-limit wait {self.rate_limit_wait:g} + connect "
                f"{self.http_connect_timeout:g} + read {self.http_timeout:g}): raise it or lower those"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _normalise_db(cls, value: str) -> str:
        # Heroku-style URLs and the bare driver name both mean psycopg 3 here.
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        if not value:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL; expected postgresql://USER:PASSWORD@HOST/DB or "
                             "sqlite:///PATH") from None
        if url.get_backend_name() not in ("postgresql", "sqlite"):
            raise ValueError(f"{url.get_backend_name()} is not supported; Kade runs on PostgreSQL or SQLite")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        from urllib.parse import urlsplit

        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://HOST:PORT/DB, rediss:// or unix:// URL (or empty for embedded mode)")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("the URL has no host name")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("amqp://", "amqps://", "redis://", "rediss://")):
            raise ValueError("KADE_BROKER_URL must be an amqp://, amqps:// or redis:// URL (or empty)")
        return value

    @property
    def embedded(self) -> bool:
        return not self.redis_url

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'kade.sqlite3'}"

    def disabled(self) -> set[str]:
        return {name.strip() for name in self.disabled_plugins.split(",") if name.strip()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
