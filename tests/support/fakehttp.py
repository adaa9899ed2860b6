"""An HTTP fake store and the platform plugin that talks to it.

Why: the in-memory ``FakePlatform`` shares Python objects with the test, so it cannot sit behind
Dramatiq worker *processes*. ``HttpStore`` is a small stateful ASGI app; served with
``kade.sim.server.BackgroundServer`` its state lives in the test process while workers reach it
over real HTTP through ``ctx.http`` — and so through Kade's shared rate limiter. It records every
request with a timestamp and the caller's pid, every shipment report and every stock push, and
injects 5xx answers and timeouts-after-apply (the case that tempts clients into duplicates).

The store deliberately does *not* deduplicate shipment reports: a second report of the same
shipment is recorded as a second report, so a test sees every duplicate Kade would cause.

The plugin half (``kade_register_platforms`` and the operation hooks below) is loaded in worker
processes through a ``kade`` entry point written by ``install_fakehttp_dist``.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kade import hookimpl
from kade.errors import AuthRejected, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.types import (
    CancelRequest,
    CancelResult,
    Capabilities,
    ConnectionContext,
    ConnectionTestResult,
    OrderPage,
    OrderQuery,
    PlatformSpec,
    ProductPage,
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
    RemoteProduct,
    RemoteShipmentState,
    RemoteStock,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
)
from tests.support.dists import install_plugin_dist

PLATFORM = "fakehttp"
#: the same store behind a platform that declares a request rate (Kade enforces it for all workers)
LIMITED_PLATFORM = "fakehttp_limited"
LIMITED_RPS = 20.0
LIMITED_BURST = 1
STOCK_BATCH = 50
TOKEN = "fake-http-token"
#: read timeout of mutating calls; the store hangs longer after a "timeout after apply"
READ_TIMEOUT = 1.0
HANG_SECONDS = 1.3
REPO_ROOT = Path(__file__).resolve().parents[2]


def iso(value: datetime) -> str:
    """A fixed-width UTC timestamp, so the store can compare them as strings."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


# ---------------------------------------------------------------------------------------------
# The store


@dataclass
class RequestRecord:
    """One request as the store saw it: wall-clock arrival time, route, caller pid, answer."""

    at: float
    method: str
    path: str
    pid: str
    status: int = 0


@dataclass
class StoreFaults:
    """What goes wrong, per request. ``latency`` slows mutations so work is in flight long
    enough for a test to kill a worker in the middle of it."""

    error_rate: float = 0.0
    timeout_after_apply_rate: float = 0.0
    latency: float = 0.0
    seed: int = 7


@dataclass
class ShipmentReport:
    key: str
    order: str
    lines: list[tuple[str, int]]
    carrier: str
    tracking: str | None
    at: float


@dataclass
class StockPush:
    at: float
    product: str
    quantity: int
    previous: int


class HttpStore:
    """The state of one fake store plus the ASGI app (``.app``) that serves it."""

    def __init__(self, *, page_size: int = 100, token: str = TOKEN, faults: StoreFaults | None = None) -> None:
        self.page_size = page_size
        self.token = token
        self.faults = faults or StoreFaults()
        self._rng = random.Random(self.faults.seed)
        self.lock = threading.Lock()
        self.orders: dict[str, dict[str, Any]] = {}
        self.stock: dict[str, int] = {}
        self.skus: dict[str, str] = {}
        self.shipments: list[ShipmentReport] = []
        self.stock_pushes: list[StockPush] = []
        #: (arrival time, items) per stock call
        self.stock_calls: list[tuple[float, int]] = []
        self.cancellations: list[str] = []
        self.requests: list[RequestRecord] = []
        self._last_updated = datetime.now(UTC)
        self._order_ids: list[str] = []
        self._updated: list[str] = []
        self.app = Starlette(routes=[
            Route("/api/ping", self._ping, methods=["GET"]),
            Route("/api/orders", self._list_orders, methods=["GET"]),
            Route("/api/orders/{oid}/shipments", self._create_shipment, methods=["POST"]),
            Route("/api/orders/{oid}/shipments", self._list_shipments, methods=["GET"]),
            Route("/api/orders/{oid}/cancel", self._cancel, methods=["POST"]),
            Route("/api/products", self._list_products, methods=["GET"]),
            Route("/api/stock", self._push_stock, methods=["PUT"]),
        ])

    # -- test-side helpers ------------------------------------------------------------------

    def set_faults(self, faults: StoreFaults) -> None:
        with self.lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def set_token(self, token: str) -> None:
        """The token the store accepts from now on (another one: every call gets a 401)."""
        with self.lock:
            self.token = token

    def order_count(self) -> int:
        with self.lock:
            return len(self.orders)

    def stock_of(self, remote_ids: Sequence[str]) -> dict[str, int | None]:
        """The store's stock of these products (None: no such product)."""
        with self.lock:
            return {rid: self.stock.get(rid) for rid in remote_ids}

    def add_products(self, count: int, *, prefix: str = "P", stock: int = 0) -> list[str]:
        ids = []
        with self.lock:
            for i in range(count):
                remote = f"{prefix}{i}"
                self.stock[remote] = stock
                self.skus[remote] = f"SKU-{remote}"
                ids.append(remote)
        return ids

    def add_orders(self, count: int, *, products: Sequence[str], lines: int = 2, prefix: str = "O",
                   start: int = 0) -> list[str]:
        """Orders whose lines cycle through ``products``; each gets a strictly later ``updated``."""
        ids = []
        with self.lock:
            for n in range(start, start + count):
                self._last_updated = max(datetime.now(UTC), self._last_updated + timedelta(microseconds=1))
                remote = f"{prefix}{n}"
                self.orders[remote] = {
                    "id": remote, "number": f"#{remote}", "status": "open",
                    "created": iso(self._last_updated), "updated": iso(self._last_updated),
                    "lines": [
                        {"id": f"{remote}-{k}", "product_id": (pid := products[(n + k) % len(products)]),
                         "sku": self.skus.get(pid, f"SKU-{pid}"), "qty": 1 + (n + k) % 3, "price": "9.95"}
                        for k in range(lines)
                    ],
                }
                self._order_ids.append(remote)
                self._updated.append(iso(self._last_updated))
                ids.append(remote)
        return ids

    def report_counts(self) -> Counter[str]:
        """How often each shipment (by Kade's idempotency key) was reported."""
        with self.lock:
            return Counter(s.key for s in self.shipments)

    def snapshot_requests(self) -> list[RequestRecord]:
        with self.lock:
            return list(self.requests)

    # -- request plumbing -------------------------------------------------------------------

    def _roll(self, rate: float) -> bool:
        with self.lock:
            return rate > 0 and self._rng.random() < rate

    def _begin(self, request: Request) -> tuple[RequestRecord, JSONResponse | None]:
        record = RequestRecord(at=time.time(), method=request.method, path=request.url.path,
                               pid=request.headers.get("x-kade-pid", ""))
        with self.lock:
            self.requests.append(record)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return record, self._answer(record, 401, {"error": "bad token"})
        if self._roll(self.faults.error_rate):
            return record, self._answer(record, 503, {"error": "injected failure"})
        return record, None

    @staticmethod
    def _answer(record: RequestRecord, status: int, body: Any) -> JSONResponse:
        record.status = status
        return JSONResponse(body, status_code=status)

    async def _after_apply(self, record: RequestRecord, status: int, body: Any) -> JSONResponse:
        """Answer a mutation — or, sometimes, apply it and then hang past the client's timeout."""
        if self._roll(self.faults.timeout_after_apply_rate):
            await asyncio.sleep(HANG_SECONDS)
        return self._answer(record, status, body)

    # -- routes -----------------------------------------------------------------------------

    async def _ping(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        return early or self._answer(record, 200, {"ok": True})

    async def _list_orders(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        since = request.query_params.get("since")
        start = int(request.query_params.get("page") or 0)
        with self.lock:
            # Orders are added with strictly increasing ``updated``: insertion order is sorted order.
            first = bisect.bisect_left(self._updated, since) if since else 0
            ids = self._order_ids[first + start : first + start + self.page_size]
            chunk = [dict(self.orders[i]) for i in ids]
            more = first + start + self.page_size < len(self._order_ids)
        return self._answer(record, 200, {"orders": chunk, "next": str(start + self.page_size) if more else None})

    async def _list_products(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        start = int(request.query_params.get("page") or 0)
        with self.lock:
            ids = sorted(self.stock)
            chunk = [{"id": i, "sku": self.skus[i], "stock": self.stock[i]}
                     for i in ids[start : start + self.page_size]]
            more = start + self.page_size < len(ids)
        return self._answer(record, 200, {"products": chunk, "next": str(start + self.page_size) if more else None})

    async def _push_stock(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        items = (await request.json())["items"]
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        results = []
        now = time.time()
        with self.lock:
            self.stock_calls.append((record.at, len(items)))
            for item in items:
                pid, qty = item["id"], int(item["quantity"])
                if pid not in self.stock:
                    results.append({"id": pid, "ok": False, "error": "no such product"})
                    continue
                self.stock_pushes.append(StockPush(at=now, product=pid, quantity=qty, previous=self.stock[pid]))
                self.stock[pid] = qty
                results.append({"id": pid, "ok": True})
        return await self._after_apply(record, 200, {"results": results})

    async def _create_shipment(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        body = await request.json()
        oid = request.path_params["oid"]
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        with self.lock:
            order = self.orders.get(oid)
            if order is None or order["status"] == "cancelled":
                return self._answer(record, 422, {"code": "order_cancelled", "error": f"order {oid} is cancelled"})
            self.shipments.append(ShipmentReport(
                key=body["key"], order=oid, lines=[(li["line"], int(li["qty"])) for li in body["lines"]],
                carrier=body["carrier"], tracking=body.get("tracking"), at=time.time()))
        return await self._after_apply(record, 201, {"id": body["key"]})

    async def _list_shipments(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        oid = request.path_params["oid"]
        with self.lock:
            found = [{"id": s.key} for s in self.shipments if s.order == oid]
        return self._answer(record, 200, {"shipments": found})

    async def _cancel(self, request: Request) -> JSONResponse:
        record, early = self._begin(request)
        if early:
            return early
        oid = request.path_params["oid"]
        with self.lock:
            self.cancellations.append(oid)
            if oid in self.orders:
                self.orders[oid]["status"] = "cancelled"
        return await self._after_apply(record, 200, {"ok": True})


# ---------------------------------------------------------------------------------------------
# The plugin (translate only: typed inputs → HTTP calls, responses → typed results)


def _spec(name: str, caps: Capabilities) -> PlatformSpec:
    return PlatformSpec(name=name, title=f"Fake HTTP store ({name})", auth_methods=("token",),
                        default_auth_method="token", capabilities=caps, credential_fields={"token": ("token",)})


@hookimpl
def kade_register_platforms() -> list[PlatformSpec]:
    plain = Capabilities(stock_batch_size=STOCK_BATCH, order_poll_interval=10, stock_read=True, cancel_order=True)
    limited = Capabilities(stock_batch_size=STOCK_BATCH, order_poll_interval=10, stock_read=True, cancel_order=True,
                           requests_per_second=LIMITED_RPS, request_burst=LIMITED_BURST)
    return [_spec(PLATFORM, plain), _spec(LIMITED_PLATFORM, limited)]


def _call(ctx: ConnectionContext, method: str, path: str, *, mutating: bool = False, **kwargs: Any) -> Any:
    """One request with typed errors; a mutation whose answer is lost is ``OutcomeUnknown``."""
    headers = {"Authorization": f"Bearer {ctx.credentials['token']}", "X-Kade-Pid": str(os.getpid())}
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT) if mutating else httpx.Timeout(30.0)
    try:
        response = ctx.http.request(method, path, headers=headers, timeout=timeout, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise TransientError(f"cannot reach the store: {exc}") from exc
    except httpx.TransportError as exc:  # read timeout, reset after sending
        if mutating:
            raise OutcomeUnknown(f"{method} {path}: no answer ({type(exc).__name__})") from exc
        raise TransientError(f"{method} {path}: {type(exc).__name__}") from exc
    if response.status_code == 401:
        raise AuthRejected("401 Unauthorized", status_code=401)
    if response.status_code == 429:
        raise RateLimited(retry_after=float(response.headers.get("retry-after", "1")))
    if response.status_code >= 500:
        raise TransientError(f"{response.status_code} from the store", status_code=response.status_code)
    if response.status_code >= 400:
        body = response.json()
        raise RejectedByStore(body.get("error", "refused"), code=body.get("code"), status_code=response.status_code)
    return response.json()


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
    params: dict[str, str] = {}
    if query.since is not None:
        params["since"] = iso(query.since)
    if query.page_token:
        params["page"] = query.page_token
    body = _call(ctx, "GET", "/api/orders", params=params)
    orders = tuple(
        RemoteOrder(
            remote_id=o["id"], number=o["number"],
            status=RemoteOrderStatus.CANCELLED if o["status"] == "cancelled" else RemoteOrderStatus.OPEN,
            created_at=datetime.fromisoformat(o["created"]), updated_at=datetime.fromisoformat(o["updated"]),
            lines=tuple(RemoteOrderLine(remote_line_id=li["id"], sku=li["sku"], quantity=li["qty"],
                                        unit_price=Decimal(li["price"]), remote_product_id=li["product_id"])
                        for li in o["lines"]),
            raw={"id": o["id"]},
        )
        for o in body["orders"]
    )
    return OrderPage(orders=orders, next_page_token=body["next"])


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage:
    body = _call(ctx, "GET", "/api/products", params={"page": page_token} if page_token else {})
    return ProductPage(products=tuple(RemoteProduct(remote_id=p["id"], sku=p["sku"], stock=p["stock"])
                                      for p in body["products"]), next_page_token=body["next"])


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage:
    body = _call(ctx, "GET", "/api/products", params={"page": page_token} if page_token else {})
    return StockPage(items=tuple(RemoteStock(remote_product_id=p["id"], sku=p["sku"], quantity=p["stock"])
                                 for p in body["products"]), next_page_token=body["next"])


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> list[StockResult]:
    body = _call(ctx, "PUT", "/api/stock", mutating=True,
                 json={"items": [{"id": u.remote_product_id, "quantity": u.quantity} for u in updates]})
    return [StockResult(remote_product_id=r["id"], ok=r["ok"], error=r.get("error")) for r in body["results"]]


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    body = _call(ctx, "POST", f"/api/orders/{shipment.order_remote_id}/shipments", mutating=True, json={
        "key": shipment.idempotency_key, "carrier": shipment.carrier, "tracking": shipment.tracking_code,
        "lines": [{"line": li.remote_line_id, "qty": li.quantity} for li in shipment.lines]})
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=body["id"])


@hookimpl
def check_shipment(ctx: ConnectionContext, shipment: ShipmentRequest,
                   remote_reference: str | None) -> ShipmentResult | None:
    body = _call(ctx, "GET", f"/api/orders/{shipment.order_remote_id}/shipments")
    for row in body["shipments"]:
        if row["id"] == shipment.idempotency_key:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=row["id"])
    return None


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    _call(ctx, "POST", f"/api/orders/{request.order_remote_id}/cancel", mutating=True, json={"reason": request.reason})
    return CancelResult(ok=True)


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult:
    _call(ctx, "GET", "/api/ping")
    return ConnectionTestResult(ok=True, message="fake HTTP store reachable")


HOOKS = ("kade_register_platforms", "import_orders", "read_products", "read_stock", "push_stock",
         "report_shipment", "check_shipment", "cancel_order", "check_connection")


def install_fakehttp_dist(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write a distribution whose ``kade`` entry point loads this plugin; returns its sys.path root.

    Worker processes need ``root`` and the repository root on PYTHONPATH (see ``worker_pythonpath``).
    """
    install_plugin_dist(root, monkeypatch, dist="kade-fakehttp", module="kade_fakehttp", entry_name=PLATFORM,
                        source=f"from tests.support.fakehttp import {', '.join(HOOKS)}  # noqa: F401\n")
    return root


def worker_pythonpath(root: Path) -> str:
    return os.pathsep.join([str(root), str(REPO_ROOT)])


@dataclass
class Windows:
    """Requests per sliding window, for checking a rate limit from the store's side."""

    times: list[float] = field(default_factory=list)

    def max_in(self, width: float) -> int:
        """The most requests whose arrival times fall within any window of ``width`` seconds."""
        times = sorted(self.times)
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= width:
                lo += 1
            best = max(best, hi - lo + 1)
        return best
