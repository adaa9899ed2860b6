"""Call an ASGI app from synchronous code without a socket.

``httpx.ASGITransport`` is async-only; Kade's workers are synchronous. This transport runs the
app on an event loop in a helper thread (an anyio blocking portal) shared by all calls.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any

import anyio.from_thread
import httpx
from anyio.from_thread import BlockingPortal

from kade.sim.base import SimulatedTimeout


class SyncASGITransport(httpx.BaseTransport):
    """An ``httpx`` transport that serves requests from an in-process ASGI app."""

    def __init__(self, app: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._lock = threading.Lock()
        self._cm: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    def _get_portal(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._cm = anyio.from_thread.start_blocking_portal()
                self._portal = self._cm.__enter__()
            return self._portal

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        response = await self._asgi.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            return self._get_portal().call(self._handle, request)
        except SimulatedTimeout as exc:
            # A simulator that drops its answer looks, to the client, like a read timeout.
            raise httpx.ReadTimeout(str(exc), request=request) from exc

    def close(self) -> None:
        with self._lock:
            if self._cm is not None:
                self._cm.__exit__(None, None, None)
            self._cm = None
            self._portal = None
