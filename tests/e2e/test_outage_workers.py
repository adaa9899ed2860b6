"""Rule R10's recovery as deployed, on each broker: ``kade worker`` processes drain the connections
on their drain threads (``kade.recovery_drain.DrainThreads``) and hand batches to each other over
Redis, then over RabbitMQ.

``test_outage.py`` replays the outage at more connections with the workers in this process, on
Redis only; here the workers are processes of their own, so the drain's threads, the jobs they
send and the acknowledgements run as they do in production, on both brokers.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import assert_shipments_exactly_once, assert_stock_converged
from tests.support.outage import close_shops, open_shops, outage, recover

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_outage_drains_in_worker_processes(e2e_kade, broker_runtime, workers) -> None:
    shops = open_shops(e2e_kade, 2, products=30, orders=10)
    try:
        workers.wait_ready(workers.start(processes=2, threads=4), processes=2)
        since = outage(e2e_kade, broker_runtime, shops, ticks=4, orders_per_tick=3, stock_per_tick=4,
                       shipments_per_tick=1)
        report = recover(e2e_kade, broker_runtime, shops, since, timeout=60)
        for orders_at, stock_at, shipment_at in report.first_calls:
            assert orders_at < stock_at < shipment_at, report.first_calls
        for shop in shops:
            assert shop.store.order_count() > shop.orders_before  # orders arrived during the outage
            assert assert_shipments_exactly_once(e2e_kade, shop.store, connection_id=shop.connection_id) > 0
            assert assert_stock_converged(e2e_kade, shop.store, shop.connection_id) == 30
    finally:
        close_shops(shops)

