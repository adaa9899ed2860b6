"""HTTP plumbing the core puts under every plugin's ``ctx.http``.

The transport chain is: rate limit (shared by all workers) → host routing (in-process
simulators in tests and the demo) → the real network transport. Plugins see a plain
``httpx.Client`` and cannot bypass the limit.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Mapping
from functools import cache

import httpx

from kade.ratelimit import RateLimiter

_ssl_lock = threading.Lock()


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def shared_ssl_context() -> ssl.SSLContext:
    """The process's one verifying TLS context. Each new one loads the CA bundle (~20 ms and
    ~0.8 MB): one per connection cost a worker 0.8 MB for every connection it ever served."""
    with _ssl_lock:
        return _ssl_context()


class HostRouter(httpx.BaseTransport):
    """Send requests for some hosts to other transports (e.g. in-process simulators)."""

    def __init__(self, routes: Mapping[str, httpx.BaseTransport], default: httpx.BaseTransport | None = None) -> None:
        self._routes = {host.lower(): transport for host, transport in routes.items()}
        self._default = default or httpx.HTTPTransport(retries=0, verify=shared_ssl_context())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._routes.get(request.url.host.lower(), self._default)
        return transport.handle_request(request)

    def close(self) -> None:
        self._default.close()


class RateLimitedTransport(httpx.BaseTransport):
    """Wait for the connection's shared rate limit before every request."""

    def __init__(self, inner: httpx.BaseTransport, limiter: RateLimiter, key: str, max_wait: float = 60.0) -> None:
        self._inner = inner
        self._limiter = limiter
        self._key = key
        self._max_wait = max_wait

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self._max_wait
        while True:
            wait = self._limiter.acquire(self._key)
            if wait <= 0:
                break
            if time.monotonic() + wait > deadline:
                # Nothing was sent: a pool timeout, never mistaken for "may have been applied".
                raise httpx.PoolTimeout(f"rate limit wait for {self._key} exceeded {self._max_wait}s",
                                        request=request)
            time.sleep(wait)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
