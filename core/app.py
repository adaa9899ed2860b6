"""The application object: settings, database, plugins, secrets and HTTP clients of one process.

Built once per process (CLI command, worker, test) — never a module global — so tests can make
as many isolated instances as they like.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
import redis
import sqlalchemy as sa

from kade.config import Settings
from kade.db import Database
from kade.errors import UserError
from kade.http import HostRouter, RateLimitedTransport
from kade.logs import register_secrets
from kade.manager import KadePluginManager, make_plugin_manager
from kade.models import Connection, utcnow
from kade.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from kade.secrets import Vault, load_key
from kade.tokens import MemoryTokenStore, RedisTokenStore, ScopedTokenStore
from kade.types import ConnectionContext, TokenStore

if TYPE_CHECKING:
    from kade.recovery_drain import DrainThreads


class Kade:
    """One process's view of Kade."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: Database | None = None,
        pm: KadePluginManager | None = None,
        routes: dict[str, httpx.BaseTransport] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.db = db or Database.from_settings(self.settings)
        self._pm = pm
        #: host → transport, e.g. in-process simulators: {"api.bol.com": SyncASGITransport(app)}
        self.routes: dict[str, httpx.BaseTransport] = dict(routes or {})
        self._clients: dict[int, httpx.Client] = {}
        self._lock = threading.Lock()

    @property
    def pm(self) -> KadePluginManager:
        if self._pm is None:
            self._pm = make_plugin_manager(
                strict=self.settings.plugins_strict, disabled=self.settings.disabled()
            )
        return self._pm

    @cached_property
    def vault(self) -> Vault:
        return Vault(load_key(self.settings, holds_secrets=self._holds_secrets))

    def _holds_secrets(self) -> bool:
        from kade.secrets import holds_secrets

        try:
            with self.db.session() as session:
                return holds_secrets(session)
        except sa.exc.DatabaseError:  # no schema yet: nothing can be encrypted in it
            return False

    def check(self) -> None:
        """Refuse to run (``ConfigError``, one line) on a stale schema or a key that does not fit."""
        from kade.secrets import verify_key

        self.db.check()
        with self.db.session() as session:
            verify_key(session, self.vault)

    @cached_property
    def redis(self) -> redis.Redis | None:
        if not self.settings.redis_url:
            return None
        return redis.Redis.from_url(self.settings.redis_url)

    @cached_property
    def drains(self) -> DrainThreads:
        """This process's recovery drains (``kade.recovery_drain``): threads only once one starts."""
        from kade.recovery_drain import DrainThreads

        return DrainThreads(self.settings.recovery_threads)

    def wait_for_drains(self, timeout: float) -> bool:
        """Whether every recovery drain this process started has ended, waiting up to ``timeout``."""
        return "drains" not in self.__dict__ or self.drains.wait(timeout)

    @cached_property
    def tokens(self) -> TokenStore:
        client = self.redis
        return RedisTokenStore(client) if client is not None else MemoryTokenStore()

    def load_connection(self, connection_id: int) -> Connection:
        """A connection row detached from its session (jobs hold it across transactions)."""
        with self.db.session() as session:
            connection = session.get(Connection, connection_id)
            if connection is None:
                raise UserError(f"no connection {connection_id}")
            session.expunge(connection)
            return connection

    def credentials(self, connection: Connection) -> dict[str, str]:
        creds = self.vault.decrypt(connection.credentials_encrypted)
        register_secrets(creds.values())
        return creds

    def settings_of(self, connection: Connection) -> dict[str, Any]:
        """The connection's settings with secret ones decrypted (for the plugin only)."""
        from kade.secrets import is_encrypted

        values = dict(connection.settings)
        for name, value in values.items():
            if is_encrypted(value):
                values[name] = self.vault.decrypt_text(value)
                register_secrets([values[name]])
        return values

    def http_client(self, connection: Connection) -> httpx.Client:
        """One HTTP client per connection, reused across calls (keep-alive, shared limits)."""
        assert connection.id is not None
        with self._lock:
            client = self._clients.get(connection.id)
            if client is None or str(client.base_url).rstrip("/") != connection.base_url.rstrip("/"):
                client = httpx.Client(
                    base_url=connection.base_url,
                    transport=self._transport(connection),
                    timeout=httpx.Timeout(self.settings.http_timeout, connect=self.settings.http_connect_timeout),
                    headers={"User-Agent": "Kade/0.1"},
                )
                self._clients[connection.id] = client
            return client

    def _transport(self, connection: Connection) -> httpx.BaseTransport:
        transport: httpx.BaseTransport = HostRouter(self.routes)
        caps = self.pm.platform(connection.platform).spec.capabilities
        rate = _requests_per_second(connection, caps.requests_per_second)
        if rate:
            limiter: RateLimiter
            if self.redis is not None:
                limiter = RedisRateLimiter(self.redis, rate, burst=caps.request_burst)
            else:
                limiter = MemoryRateLimiter(rate, burst=caps.request_burst)
            transport = RateLimitedTransport(transport, limiter, key=f"connection:{connection.id}",
                                             max_wait=self.settings.rate_limit_wait)
        return transport

    def context(self, connection: Connection, *, credentials: dict[str, str] | None = None) -> ConnectionContext:
        """The ``ConnectionContext`` a plugin gets for ``connection``."""
        assert connection.id is not None
        creds = credentials if credentials is not None else self.credentials(connection)
        connection_id = connection.id

        def save_credentials(new: dict[str, str]) -> None:
            register_secrets(new.values())
            with self.db.transaction() as session:
                row = session.get(Connection, connection_id)
                if row is not None:
                    row.credentials_encrypted = self.vault.encrypt(dict(new))
                    row.updated_at = utcnow()
                    session.add(row)
            creds.clear()
            creds.update(new)

        return ConnectionContext(
            connection_id=connection_id,
            tenant_id=connection.tenant_id,
            platform=connection.platform,
            name=connection.name,
            auth_method=connection.auth_method,
            base_url=connection.base_url,
            credentials=creds,
            settings=self.settings_of(connection),
            http=self.http_client(connection),
            tokens=ScopedTokenStore(self.tokens, f"c{connection_id}:{connection.auth_method}:", self.vault.fernet),
            save_credentials=save_credentials,
        )

    def stop_drains(self) -> None:
        """Stop this process's recovery drains at their next batch (shutdown); none started: nothing."""
        drains = self.__dict__.pop("drains", None)  # the next recovery in this process gets a new pool
        if drains is not None:
            drains.close()

    def close(self) -> None:
        self.stop_drains()  # before the clients and the database they use
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.db.dispose()

    def __enter__(self) -> Kade:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _requests_per_second(connection: Connection, declared: float | None) -> float | None:
    """The connection's ``requests_per_second`` setting (platforms that offer one, e.g. stores with
    no rate limit of their own), else the platform's capability; 0 switches the limit off."""
    raw = (connection.settings or {}).get("requests_per_second")
    if raw is None or raw == "":
        return declared
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return declared
    return value if value > 0 else None
