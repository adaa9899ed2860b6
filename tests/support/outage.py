"""A store outage replayed on a controllable clock: stores down for hours, then back, then recovery.

Why: an outage of three hours cannot take three hours in CI. Kade decides what is due only from
the times stored with each action (``next_attempt_at``; ``updated_at`` for the recovery window),
so the scenario moves the clock by moving those times back: each simulated tick of ten minutes
adds orders in the stores, stock changes and shipments in the warehouse, lets the workers try
(and fail) against the down stores, then shifts every stored action time back by the tick. The
retries and their exhaustion happen as they would over three hours; only the waiting is skipped.

Half the stores answer 503 to everything, the other half refuse the token (401, so their
connections go to ``needs_reauth`` and wait for the operator). When the stores are back, the
operator re-authorises, looks at ``plan_recovery`` (the dry run) and runs ``run_recovery``; the
drain is timed against what the stores' own rate limits allow. Used by the e2e test (small) and
``benchmarks/bench_outage.py`` (large).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, select

from kade.app import Kade
from kade.connections import activate
from kade.models import Action, Connection, ConnectionRuntime, ConnectionStatus, Order, Tenant, utcnow
from kade.recovery import RecoveryPlan, plan_recovery, run_recovery
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.sim.server import BackgroundServer
from kade.stock import set_stock
from tests.e2e.harness import action_summary, all_settled, setup_shop
from tests.support import fakehttp
from tests.support.fakehttp import HttpStore, StoreFaults
from tests.support.storehost import RemoteStore, StoreHost

TICK = timedelta(minutes=10)


@dataclass
class Shop:
    store: HttpStore | RemoteStore
    #: the store's server when it runs in this process (None: in a ``StoreHost``)
    server: BackgroundServer | None
    connection_id: int
    refuses_login: bool
    products: list[str]
    orders_before: int


@dataclass
class OutageReport:
    shops: list[Shop]
    plan: RecoveryPlan
    #: from the start to the moment the harness saw everything done (it looks every 0.1 s)
    drain_seconds: float
    #: from the start to the last action's or import's end as recorded in the database: the drain
    #: itself, without the up to 0.1 s the harness's look took to see it
    recorded_seconds: float
    #: seconds ``run_recovery`` took to put the actions back and queue the jobs (part of the drain)
    queued_seconds: float
    #: the longest any one connection must take at its store's declared rate (connections drain in parallel)
    rate_limit_seconds: float
    #: per connection: (first order page, first stock push, first shipment report) after the start
    first_calls: list[tuple[float, float, float]] = field(default_factory=list)
    #: per connection: (last order page, last stock push, last shipment report) after the start
    last_calls: list[tuple[float, float, float]] = field(default_factory=list)
    requests: int = 0


def shift_clock(kade: Kade, delta: timedelta) -> None:
    """Advance Kade's clock by ``delta`` as far as the stored actions are concerned."""
    with kade.db.transaction() as session:
        session.execute(sa.text(
            "UPDATE actions SET next_attempt_at = next_attempt_at - :d, updated_at = updated_at - :d, "
            "created_at = created_at - :d"), {"d": delta})


def open_shops(kade: Kade, count: int, *, products: int, orders: int, host: StoreHost | None = None) -> list[Shop]:
    """``count`` stores with products and orders, each connected; served from threads of this
    process, or from ``host``'s process when given (as stores run: apart from Kade)."""
    shops = []
    for n in range(count):
        store: HttpStore | RemoteStore
        if host is not None:
            store, server, url = (remote := host.add_store()), None, remote.url
        else:
            store = HttpStore()
            server = BackgroundServer(store.app).start()
            url = server.url
        ids = store.add_products(products)
        store.add_orders(orders, products=ids)
        cid = setup_shop(kade, url, platform=fakehttp.LIMITED_PLATFORM, name=f"shop{n}")
        shops.append(Shop(store, server, cid, refuses_login=n % 2 == 1, products=ids, orders_before=orders))
    return shops


def close_shops(shops: list[Shop]) -> None:
    for shop in shops:
        if shop.server is not None:
            shop.server.stop()


def _settle(runtime: Runtime, timeout: float) -> None:
    runtime.sweep()
    runtime.join(timeout=timeout)


def outage(kade: Kade, runtime: Runtime, shops: list[Shop], *, ticks: int = 18, orders_per_tick: int = 5,
           stock_per_tick: int = 20, shipments_per_tick: int = 3, seed: int = 1) -> datetime:
    """Stores down for ``ticks`` × 10 simulated minutes while work piles up; returns the outage's start."""
    rng = random.Random(seed)
    for shop in shops:
        if shop.refuses_login:
            shop.store.set_token("rotated-by-the-store")
        else:
            shop.store.set_faults(StoreFaults(error_rate=1.0))
    start = utcnow()
    with kade.db.session() as session:
        tenant = session.exec(select(Tenant)).one()
    shipped: set[int] = set()
    for tick in range(ticks):
        with kade.db.transaction() as session:
            tenant = session.merge(tenant)
            for shop in shops:
                shop.store.add_orders(orders_per_tick, products=shop.products,
                                      start=shop.orders_before + tick * orders_per_tick)
                for _ in range(stock_per_tick):
                    sku = f"SKU-{rng.choice(shop.products)}"
                    set_stock(session, tenant, sku, rng.randint(0, 60), window=kade.settings.stock_window)
                # orders Kade imported before the outage get shipped meanwhile
                candidates = session.exec(select(Order).where(Order.connection_id == shop.connection_id,
                                                              col(Order.id).not_in(shipped or {0}))
                                          .order_by(col(Order.id)).limit(shipments_per_tick)).all()
                for order in candidates:
                    assert order.id is not None
                    shipped.add(order.id)
                    create_shipment(session, order, carrier="PostNL", tracking_code=f"3S{order.remote_id}")
        for shop in shops:  # the scheduler keeps polling; every poll fails
            runtime.import_orders(shop.connection_id)
        _settle(runtime, timeout=30)
        shift_clock(kade, TICK)
    return start - ticks * TICK


def _rate_limit_bound(kade: Kade, shop: Shop, plan: RecoveryPlan) -> float:
    """Seconds the store's own limit needs for what this connection must send and fetch."""
    gap = next(g for g in plan.connections if g.connection_id == shop.connection_id)
    with kade.db.session() as session:
        known = int(session.exec(select(func.count()).select_from(Order)
                                 .where(Order.connection_id == shop.connection_id)).one())
    missed_orders = shop.store.order_count() - known
    pages = math.ceil((missed_orders + 1) / shop.store.page_size)
    # products to push, as the plan counts them: one push carries a product's latest stock
    stock_calls = math.ceil(gap.stock_products / fakehttp.STOCK_BATCH)
    shipments = gap.pending.get("shipment", 0) + gap.failed.get("shipment", 0)
    return max(0, pages + stock_calls + shipments - fakehttp.LIMITED_BURST) / fakehttp.LIMITED_RPS


def recover(kade: Kade, runtime: Runtime, shops: list[Shop], since: datetime, *, timeout: float) -> OutageReport:
    """Stores back, logins re-authorised, the dry-run plan read, then the plan run and timed."""
    for shop in shops:
        shop.store.set_token(fakehttp.TOKEN)
        shop.store.set_faults(StoreFaults())
    with kade.db.transaction() as session:
        for shop in shops:
            conn = session.get(Connection, shop.connection_id)
            assert conn is not None
            if conn.status != ConnectionStatus.ACTIVE:
                activate(session, conn, actor="operator")
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    bound = max(_rate_limit_bound(kade, shop, plan) for shop in shops)
    in_stores = sum(s.store.order_count() for s in shops)  # no order is added during the drain
    begin_wall = time.time()
    begin_at = utcnow()
    begin = time.monotonic()
    run_recovery(kade, runtime.actors, plan, settle=timeout)
    queued = time.monotonic() - begin
    deadline = begin + timeout

    def imported_all() -> bool:
        with kade.db.session() as session:
            total = int(session.exec(select(func.count()).select_from(Order)).one())
        return total == in_stores

    swept = begin
    # looked at every 0.1 s and swept every second, as the scheduler's tick does: the harness's
    # own queries share the process (and its interpreter lock) with the drain it times
    while not (all_settled(kade) and imported_all()):
        if time.monotonic() > deadline:
            raise AssertionError(f"recovery not drained after {timeout}s; imported all: {imported_all()}; "
                                 f"actions: {dict(action_summary(kade))}")
        if time.monotonic() - swept >= 1.0:
            runtime.sweep()
            swept = time.monotonic()
        time.sleep(0.1)
    drain = time.monotonic() - begin
    with kade.db.session() as session:
        ends = [session.exec(select(func.max(Action.done_at)).where(col(Action.done_at) >= begin_at)).one(),
                session.exec(select(func.max(ConnectionRuntime.last_import_at)).where(
                    col(ConnectionRuntime.connection_id).in_([s.connection_id for s in shops]))).one()]
    recorded = max(((end - begin_at).total_seconds() for end in ends if end is not None), default=drain)
    report = OutageReport(shops=shops, plan=plan, drain_seconds=drain, recorded_seconds=recorded,
                          queued_seconds=queued, rate_limit_seconds=bound)
    for shop in shops:
        after = [r for r in shop.store.snapshot_requests() if r.at >= begin_wall]
        report.requests += len(after)

        def times(method: str, part: str, rows: list[fakehttp.RequestRecord] = after) -> list[float]:
            return [r.at - begin_wall for r in rows if r.method == method and part in r.path and r.status < 300]

        calls = [times("GET", "/api/orders"), times("PUT", "/api/stock"), times("POST", "/shipments")]
        first = [min(t) if t else math.inf for t in calls]
        last = [max(t) if t else math.inf for t in calls]
        report.first_calls.append((first[0], first[1], first[2]))
        report.last_calls.append((last[0], last[1], last[2]))
    return report
