"""Rule R10 after a long outage: stores down for three simulated hours (5xx, refused logins) across
several connections while orders, stock changes and shipments pile up, then back.

The clock is moved, not waited for (``tests.support.outage``). The recovery ends with every order
imported once, every shipment reported exactly once, every store's stock equal to the warehouse's,
and per connection the first order page fetched before the first stock push, which comes before
the first shipment report.
"""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from kade.models import Order
from tests.e2e.harness import assert_shipments_exactly_once, assert_stock_converged
from tests.support.outage import close_shops, open_shops, outage, recover

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def broker_url(redis_url: str) -> str:
    """Redis only: the workers run in this process here, and the RabbitMQ broker's shared pika
    connection broke under in-process workers plus the test's own sends (UNEXPECTED_FRAME); the
    RabbitMQ path is covered by the subprocess scenarios in ``test_resilience.py``."""
    return redis_url


def test_three_hour_outage_drains_orders_then_stock_then_shipments(e2e_kade, broker_runtime) -> None:
    shops = open_shops(e2e_kade, 4, products=40, orders=20)
    try:
        broker_runtime.start(threads=8, tick=0)
        since = outage(e2e_kade, broker_runtime, shops, ticks=18, orders_per_tick=3, stock_per_tick=4,
                       shipments_per_tick=1)
        gaps = {g.connection_id: g for g in _plan_gaps(e2e_kade, since)}
        # three simulated hours exhaust the early actions' retries: the dry run names them
        assert sum(g.failed.get("shipment", 0) for g in gaps.values()) > 0
        assert sum(g.pending.get("stock", 0) + g.failed.get("stock", 0) for g in gaps.values()) > 0
        assert {g.status for g in gaps.values()} == {"active", "needs_reauth"}

        report = recover(e2e_kade, broker_runtime, shops, since, timeout=45)
        for orders_at, stock_at, shipment_at in report.first_calls:
            assert orders_at < stock_at < shipment_at, report.first_calls
        with e2e_kade.db.session() as session:
            rows = session.exec(select(Order.remote_id, Order.connection_id)).all()
            assert int(session.exec(select(func.count()).select_from(Order)).one()) == len(set(rows))
        for shop in shops:
            assert {r for r, c in rows if c == shop.connection_id} == set(shop.store.orders)
            assert assert_shipments_exactly_once(e2e_kade, shop.store, connection_id=shop.connection_id) > 0
            assert assert_stock_converged(e2e_kade, shop.store, shop.connection_id) == 40
        print(f"drain {report.drain_seconds:.2f}s, rate limits allow {report.rate_limit_seconds:.2f}s")
    finally:
        close_shops(shops)


def _plan_gaps(kade, since):
    from kade.recovery import plan_recovery

    with kade.db.session() as session:
        return plan_recovery(session, since).connections
