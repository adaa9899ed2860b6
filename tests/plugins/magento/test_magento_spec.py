"""The simulator against Magento's official 2.4.9 admin REST description.

The simulator checks every exchange it serves (``SpecCheck``); these tests prove that its
shipped extract is the official text, that a realistic plugin session touches every served
operation with every answer validated, and that a broken answer or request fails loudly.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from magento_testkit import Magento

from kade.errors import AuthRejected, NotFound, RejectedByStore
from kade.plugins.magento import plugin
from kade.plugins.magento.simulator import SpecViolation, render
from kade.plugins.magento.simulator.extract import EXTRACT, OPERATIONS, cut, load_yaml
from kade.types import CancelRequest, OrderQuery, ShipmentRequest, ShipmentRequestLine, StockUpdate, iter_pages

REPO = Path(__file__).resolve().parents[3]
#: shared/ sits beside the repository (a worktree is one level deeper)
SPEC = next((p / "shared" / "specs" / "magento-admin-rest-2.4.9.yaml" for p in (REPO.parent, REPO.parent.parent)
             if (p / "shared" / "specs" / "magento-admin-rest-2.4.9.yaml").is_file()),
            REPO.parent / "shared" / "specs" / "magento-admin-rest-2.4.9.yaml")


def test_the_shipped_extract_is_the_official_spec_text() -> None:
    if not SPEC.is_file():
        pytest.skip(f"Magento spec not found at {SPEC} (shared/ is not checked out next to the repo)")
    pytest.importorskip("yaml", reason="PyYAML reads the official spec")
    official = load_yaml(SPEC)
    shipped = json.loads(gzip.decompress(EXTRACT.read_bytes()))
    assert official["info"]["version"] == "2.4.9"
    assert shipped == json.loads(json.dumps(cut(official))), "regenerate with python -m ...simulator.extract"
    assert len(shipped["paths"]) == len({t for t, _ in OPERATIONS})


def _shipment(order_id: int, item_id: int, qty: int, key: str, tracking: str | None = "3SMAG01") -> ShipmentRequest:
    return ShipmentRequest(shipment_id=1, order_remote_id=str(order_id), order_number=str(order_id),
                           lines=(ShipmentRequestLine(remote_line_id=str(item_id), quantity=qty),), carrier="PostNL",
                           tracking_code=tracking, idempotency_key=key)


def _session(m: Magento) -> None:
    """Every hook the plugin has, the ugly cases included, against one store."""
    sim = m.sim
    simple = sim.add_product("MAG-1", stock=20, ean="8712345678906")
    child = sim.add_product("MAG-RED-M", stock=5)
    parent = sim.add_configurable("MAG-SHIRT", [child])
    orders = [sim.place_order([(simple, 2)], invoice=False) for _ in range(3)]
    configurable = sim.place_order([(child, 1)], child_of={child.id: parent})
    ctx = m.ctx()

    page, pages = plugin.import_orders(ctx, OrderQuery()), 1
    while page.next_page_token:
        page = plugin.import_orders(ctx, OrderQuery(page_token=page.next_page_token))
        pages += 1
    since = plugin.import_orders(ctx, OrderQuery(since=sim.now()))
    assert {o.remote_id for o in since.orders} >= {str(configurable.entity_id)}
    assert list(iter_pages(lambda t: plugin.read_stock(ctx, t)))
    assert plugin.read_products(ctx, None).products
    plugin.push_stock(ctx, [StockUpdate(remote_product_id="MAG-1", quantity=7),
                            StockUpdate(remote_product_id="NO-SUCH-SKU", quantity=1)])
    legacy = m.ctx(stock_api="legacy")
    plugin.push_stock(legacy, [StockUpdate(remote_product_id="MAG-1", quantity=8),
                               StockUpdate(remote_product_id="GONE", quantity=1)])
    assert list(iter_pages(lambda t: plugin.read_stock(legacy, t)))

    first = orders[0]
    item = first.items[0].item_id
    plugin.report_shipment(ctx, _shipment(first.entity_id, item, 1, "k1"))
    assert plugin.check_shipment(ctx, _shipment(first.entity_id, item, 1, "k1"), None) is not None
    assert plugin.check_shipment(ctx, _shipment(first.entity_id, item, 1, "never", tracking=None), None) is None
    with pytest.raises(RejectedByStore):  # more than is left to ship: Magento's 400 with %1
        plugin.report_shipment(ctx, _shipment(first.entity_id, item, 5, "k2", tracking="3SMAG02"))
    plugin.report_shipment(ctx, _shipment(configurable.entity_id, configurable.items[0].item_id, 1, "k3"))
    plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(orders[1].entity_id), order_number="2"))
    with pytest.raises(RejectedByStore):  # invoiced and shipped: the cancel answers false
        plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(configurable.entity_id), order_number="4"))
    with pytest.raises(NotFound):
        plugin.report_shipment(ctx, _shipment(999, 1, 1, "k4"))
    assert plugin.check_connection(ctx).ok
    with pytest.raises(AuthRejected):  # bearer is off on this store
        plugin.import_orders(m.ctx("bearer"), OrderQuery())
    bearer_store = m.ctx("bearer")
    sim.bearer_enabled = True
    plugin.import_orders(bearer_store, OrderQuery())
    plugin.migrate_connection(bearer_store, "oauth1", m.oauth())
    # the legacy stock item of a product Magento does not manage: refused per item, by the plugin
    sim.add_product("UNMANAGED", manage_stock=False)
    [refused] = plugin.push_stock(legacy, [StockUpdate(remote_product_id="UNMANAGED", quantity=3)])
    assert not refused.ok and refused.error_kind == "not_managed"
    # a page past the end repeats the last page; shipments and invoices listings
    assert m.raw("GET", "/rest/default/V1/orders", params={"searchCriteria[pageSize]": "2",
                                                           "searchCriteria[currentPage]": "99"}).status_code == 200
    assert m.raw("GET", "/rest/all/V1/invoices", params={"searchCriteria[pageSize]": "5"}).status_code == 200
    shipment_id = sim.shipments_of(first)[0].entity_id
    assert m.raw("GET", f"/rest/V1/shipment/{shipment_id}").status_code == 200
    assert m.raw("GET", "/rest/default/V1/shipment/4242").status_code == 404
    assert m.raw("GET", "/rest/default/V1/products/MAG-1").status_code == 200
    assert m.raw("POST", f"/rest/default/V1/order/{orders[2].entity_id}/invoice", json={"capture": True}).json()


def test_every_exchange_of_a_plugin_session_matches_the_official_spec(magento: Magento) -> None:
    _session(magento)
    check = magento.spec
    served = {op.operation_id for op in check.operations}
    assert check.operation_ids == served, f"operations never exercised: {served - check.operation_ids}"
    statuses = {status for _, status in check.checked}
    assert {200, 400, 401, 404} <= statuses
    api = [r for r, _ in magento.transport.exchanges if "/V1/" in r.url.path]
    assert check.exchanges == len(api), "every answer from /rest/.../V1 was checked against the spec"
    print(f"\nMagento 2.4.9 spec check: {len(check.operation_ids)} operations, {check.exchanges} exchanges "
          f"validated ({len(check.checked)} operation/status pairs; {check.wire_parameters} error bodies with "
          "wire-shaped parameters)")


def test_an_answer_outside_the_spec_fails_loudly(magento: Magento, monkeypatch: pytest.MonkeyPatch) -> None:
    order = magento.sim.place_order([(magento.sim.add_product("MAG-1", stock=3), 1)])
    drawn = render.order

    def broken(o: object) -> dict[str, object]:
        body = drawn(o)  # type: ignore[arg-type]
        body.pop("customer_email")  # required by sales-data-order-interface
        return body

    monkeypatch.setattr(render, "order", broken)
    with pytest.raises(SpecViolation, match="customer_email"):
        magento.raw("GET", f"/rest/default/V1/orders/{order.entity_id}")


def test_a_request_outside_the_spec_is_a_loud_400(magento: Magento) -> None:
    order = magento.sim.place_order([(magento.sim.add_product("MAG-1", stock=3), 1)])
    answer = magento.raw("POST", f"/rest/default/V1/order/{order.entity_id}/ship",
                         json={"tracks": [{"track_number": "X1"}]})  # title and carrier_code are required
    assert answer.status_code == 400
    assert "title" in answer.json()["parameters"][0]
    bad_query = magento.raw("GET", "/rest/default/V1/orders", params={"searchCriteria[pagesize]": "5"})
    assert bad_query.status_code == 400 and "not declared" in bad_query.json()["parameters"][0]
    assert magento.sim.shipments == {}


def test_unimplemented_and_unknown_requests_are_loud(magento: Magento) -> None:
    unimplemented = magento.raw("GET", "/rest/default/V1/customers/search", params={"searchCriteria[pageSize]": "1"})
    assert unimplemented.status_code == 501
    assert unimplemented.json()["parameters"] == ["GET", "/V1/customers/search"]
    unknown = magento.raw("GET", "/rest/default/V1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json() == {"message": "Request does not match any route."}
    assert magento.raw("GET", "/rest/default/async/V1/orders").status_code == 501
    assert magento.raw("GET", "/rest/default/V1/orders",
                       params={"searchCriteria[pageSize]": "1", "fields": "items[entity_id]"}).status_code == 501
