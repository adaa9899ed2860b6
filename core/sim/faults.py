"""One fault layer for every simulator: ASGI middleware applying scripted and random faults.

It sits outside the simulator's app (and outside any framework's error middleware), so a
dropped answer really is dropped: the app runs (or not) and the layer raises
``SimulatedTimeout`` instead of answering; ``SyncASGITransport`` turns that into the
``httpx.ReadTimeout`` a client sees when a store goes quiet.

What it does, per request, first match wins:

* a scripted fault (``ScriptedFaults``, deterministic, for tests, the kit and the demo);
* otherwise a random one rolled from ``Faults`` (error, timeout, timeout after apply, slow).

Kinds: ``error`` (the platform's error body with ``status``), ``rate_limit`` (429 with
``Retry-After``), ``timeout`` (no answer, nothing applied), ``timeout_after_apply`` (applied,
answer dropped), ``slow`` (answered late). A scripted fault of any other kind is handed to the
app in ``scope[FAULT_SCOPE_KEY]``, for faults only the platform can shape (Shopify's THROTTLED).
The error and rate-limit bodies come from the simulator, so each platform answers in its format.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kade.sim.base import Faults, ScriptedFault, ScriptedFaults, SimulatedTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_KINDS = frozenset({"error", "rate_limit", "timeout", "timeout_after_apply", "slow"})
#: where an app finds a scripted fault of a kind the layer does not do itself
FAULT_SCOPE_KEY = "kade.sim.fault"


@dataclass
class Answer:
    """A canned HTTP answer (an injected error or rate limit) in the platform's own format."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, send: Send) -> None:
        headers = [(b"content-type", self.content_type.encode()), (b"content-length", str(len(self.body)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class FaultSource(Protocol):
    """What the layer reads per request; a simulator's state provides both (tests swap ``faults``)."""

    faults: Faults
    scripted_faults: ScriptedFaults


def retry_after_text(seconds: float) -> str:
    """``Retry-After`` as whole seconds, or the fraction a test asked for."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class FaultLayer:
    """ASGI middleware injecting the faults of ``source`` in front of ``app``.

    :param error: the platform's error answer for a status (5xx, or whatever a test scripts).
    :param rate_limited: the platform's 429 for a wait in seconds (``Retry-After`` included).
    :param operations: the operation names a request body runs (only read while a scripted
        fault targets an operation).
    :param random_error_status: the status of a random ``error`` (what the platform's servers
        answer when they fall over).
    """

    def __init__(
        self,
        app: ASGIApp,
        source: FaultSource,
        *,
        error: Callable[[int], Answer],
        rate_limited: Callable[[float], Answer],
        operations: Callable[[bytes], frozenset[str]] | None = None,
        random_error_status: int = 503,
    ) -> None:
        self.app = app
        self.source = source
        self.error = error
        self.rate_limited = rate_limited
        self.operations = operations
        self.random_error_status = random_error_status
        self._lock = threading.Lock()

    @property
    def state(self) -> Any:
        """The wrapped app's ``state`` (``app.state.sim`` is every simulator's store)."""
        return getattr(self.app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        scripted = self.source.scripted_faults
        operations: frozenset[str] = frozenset()
        if self.operations is not None and scripted.wants_operations():
            body, receive = await _buffer(receive)
            operations = self.operations(body)
        fault = scripted.take(method, path, operations)
        kind, wait, status, retry_after = self._plan(fault, path)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "error":
            await self.error(status).send(send)
        elif kind == "rate_limit":
            await self.rate_limited(retry_after).send(send)
        elif kind == "timeout":
            await asyncio.sleep(wait)
            raise SimulatedTimeout(f"{method} {path}: no answer (not applied)")
        elif kind == "timeout_after_apply":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await asyncio.sleep(wait)
            raise SimulatedTimeout(f"{method} {path}: no answer (applied)")
        elif kind == "slow":
            await asyncio.sleep(wait)
            await self.app(scope, receive, send)
        else:
            scope[FAULT_SCOPE_KEY] = fault
            await self.app(scope, receive, send)

    def _plan(self, fault: ScriptedFault | None, path: str) -> tuple[str | None, float, int, float]:
        """(kind, seconds to wait, error status, Retry-After) for this request."""
        if fault is not None:
            return fault.kind, fault.seconds, fault.status, fault.retry_after
        faults = self.source.faults
        if not faults.applies(path):
            return None, 0.0, 0, 0.0
        with self._lock:
            if faults.roll(faults.error_rate):
                return "error", 0.0, self.random_error_status, 0.0
            if faults.roll(faults.timeout_rate):
                return "timeout", faults.timeout_seconds, 0, 0.0
            if faults.roll(faults.timeout_after_apply_rate):
                return "timeout_after_apply", faults.timeout_seconds, 0, 0.0
            if faults.roll(faults.slow_rate):
                return "slow", faults.slow_seconds, 0, 0.0
        return None, 0.0, 0, 0.0


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body and give back a ``receive`` that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
