"""The simulator and the plugin's requests checked against Shopware's official Admin API spec.

A realistic session — both logins, order import with every association, shipments (partial,
final, an illegal transition), a cancellation, stock with a missing product, errors — runs with
the simulator's spec checker on: every request body, status and response body must match the
operation the spec documents. The figures are printed (``pytest -s``) for the report.
"""

from __future__ import annotations

import pytest
from conftest import Shop, make_shop

from kade.errors import AuthRejected, RejectedByStore
from kade.plugins.shopware import plugin
from kade.plugins.shopware.simulator.spec import SpecReport
from kade.types import CancelRequest, OrderQuery, ShipmentRequest, ShipmentRequestLine, StockUpdate, iter_pages


def _session(shop: Shop) -> None:
    ctx = shop.ctx()
    orders = shop.harness.seed_orders(3, units=2)
    plugin.check_connection(ctx)
    page = plugin.import_orders(ctx, OrderQuery())
    assert page is not None and len(page.orders) == 3
    plugin.import_orders(ctx, OrderQuery(since=shop.sim.now()))
    first, second, third = orders
    for n, completes in ((1, False), (2, True)):
        plugin.report_shipment(ctx, ShipmentRequest(
            shipment_id=n, order_remote_id=first.remote_id, order_number=first.number,
            lines=(ShipmentRequestLine(remote_line_id=next(iter(first.lines)), quantity=1),), carrier="DHL",
            tracking_code=f"JVGL{n}", completes_order=completes, first=n == 1, idempotency_key=f"k{n}"))
    shop.sim.transition_delivery(shop.sim.orders[first.remote_id].deliveries[0].id, "retour")
    with pytest.raises(RejectedByStore):  # returned: "ship" is illegal, a 400 the spec must describe
        plugin.report_shipment(ctx, ShipmentRequest(
            shipment_id=3, order_remote_id=first.remote_id, order_number=first.number, lines=(), carrier="DHL",
            tracking_code="JVGL3", completes_order=True, first=False, idempotency_key="k3"))
    plugin.cancel_order(ctx, CancelRequest(order_remote_id=second.remote_id, order_number=second.number))
    shop.sim.transition_order(first.remote_id, "process")
    shop.sim.transition_order(first.remote_id, "complete")
    with pytest.raises(RejectedByStore):  # completed orders only reopen
        plugin.cancel_order(ctx, CancelRequest(order_remote_id=first.remote_id, order_number=first.number))
    products = shop.harness.seed_products(3)
    plugin.push_stock(ctx, [StockUpdate(remote_product_id=rid, quantity=5) for rid, _ in products]
                      + [StockUpdate(remote_product_id="a" * 32, quantity=1)])
    list(iter_pages(lambda token: plugin.read_stock(ctx, token)))  # type: ignore[arg-type,return-value]
    plugin.read_products(ctx, None)
    shop.sim.tokens.clear()
    plugin.check_shipment(ctx, ShipmentRequest(
        shipment_id=9, order_remote_id=third.remote_id, order_number=third.number, lines=(), carrier="DHL",
        idempotency_key="never"), None)
    admin = shop.ctx(auth_method="password", credentials={"username": "kade-admin",
                                                          "password": shop.harness.user.password})
    plugin.import_orders(admin, OrderQuery())
    with pytest.raises(AuthRejected):
        plugin.check_connection(shop.ctx(credentials={"client_id": "SWIANOPE", "client_secret": "x"}))


def test_every_exchange_matches_the_official_spec() -> None:
    shop = make_shop(spec=True)
    try:
        _session(shop)
    finally:
        shop.http.close()
        shop.transport.close()
    checker = shop.sim.spec
    report: SpecReport = checker.report
    print(f"\nShopware Admin API spec {checker.version}: {report.summary()}")
    for name, count in sorted(report.operations.items()):
        print(f"  {count:4d}  {name}")
    assert report.violations == [], "\n".join(sorted(set(report.violations)))
    assert len(report.operations) >= 7 and report.responses == report.requests == len(shop.transport.requests)


def test_the_checker_catches_a_wrong_answer() -> None:
    """A response the spec forbids is reported (so a clean report above means something)."""
    shop = make_shop(spec=True)
    try:
        [order] = shop.harness.seed_orders(1)
        shop.sim.orders[order.remote_id].malformed = {"orderDateTime": "not a date", "stateId": 7}
        plugin.import_orders(shop.ctx(), OrderQuery())
    finally:
        shop.http.close()
        shop.transport.close()
    violations = shop.sim.spec.report.violations
    assert any("POST /search/order 200 response" in v and "stateId" in v for v in violations), violations
    assert any("not a date" in v for v in violations), violations
