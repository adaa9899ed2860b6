"""Token stores: where short-lived access tokens live so every worker reuses them.

``MemoryTokenStore`` serves the embedded mode (one process); ``RedisTokenStore`` is shared by
all worker processes and machines, with a Redis lock so only one of them refreshes at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class ScopedTokenStore:
    """One connection's view of a token store.

    Keys are prefixed with the connection and its auth method, so connections never see each
    other's tokens and a migrated connection never reuses a token of its old login. Values are
    encrypted with the credentials key: a token in Redis is as protected as one in the database.
    """

    def __init__(self, inner: Any, scope: str, fernet: Fernet | MultiFernet | None = None) -> None:
        self._inner = inner
        self._scope = scope
        self._fernet = fernet

    def get(self, key: str) -> str | None:
        value: str | None = self._inner.get(self._scope + key)
        if value is None or self._fernet is None:
            return value
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            return None  # written under another key: treat as absent, a fresh token is fetched

    def set(self, key: str, value: str, ttl: float) -> None:
        if self._fernet is not None:
            value = self._fernet.encrypt(value.encode()).decode()
        self._inner.set(self._scope + key, value, ttl)

    def delete(self, key: str) -> None:
        self._inner.delete(self._scope + key)

    def lock(self, key: str, timeout: float = 30.0) -> Any:
        return self._inner.lock(self._scope + key, timeout)


class MemoryTokenStore:
    """Process-local token store with per-key locks."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None or item[1] <= time.monotonic():
            return None
        return item[0]

    def set(self, key: str, value: str, ttl: float) -> None:
        self._values[key] = (value, time.monotonic() + ttl)

    def delete(self, key: str) -> None:
        self._values.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=timeout):
            raise TimeoutError(f"token lock {key!r} not acquired within {timeout}s")
        try:
            yield
        finally:
            lock.release()


class RedisTokenStore:
    """Token store shared through Redis; values expire with the token."""

    def __init__(self, client: redis.Redis, prefix: str = "kade:token:") -> None:
        self._redis = client
        self._prefix = prefix

    def get(self, key: str) -> str | None:
        value: Any = self._redis.get(self._prefix + key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl: float) -> None:
        self._redis.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        lock = self._redis.lock(self._prefix + "lock:" + key, timeout=timeout, blocking_timeout=timeout)
        if not lock.acquire():
            raise TimeoutError(f"token lock {key!r} not acquired within {timeout}s")
        try:
            yield
        finally:
            with suppress(redis.exceptions.LockError):  # expired meanwhile: someone else may hold it
                lock.release()
