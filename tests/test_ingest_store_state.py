"""Store-side state on import: orders the store already shipped, and shipments made there later."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from kade.ingest import import_orders
from kade.models import Notification, Order, OrderLine, OrderState
from kade.shipments import create_shipment
from tests.support.factories import make_connection
from tests.support.fakeplatform import T0


def _order(kade, conn_id, remote_id):
    with kade.db.session() as session:
        order = session.exec(select(Order).where(Order.connection_id == conn_id, Order.remote_id == remote_id)).one()
        lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)
                             .order_by(OrderLine.remote_line_id)).all()
        return order, [(li.quantity, li.quantity_shipped) for li in lines]


def _notes(kade, kind):
    with kade.db.session() as session:
        return session.exec(select(Notification).where(Notification.kind == kind)).all()


def test_orders_the_store_already_shipped_import_as_shipped_or_partly_shipped(kade, store) -> None:
    store.add_order("DONE", [("A", None, 2)], status="shipped")
    store.add_order("HALF", [("A", None, 3), ("B", None, 1)])
    store.orders["HALF"]["lines"][0]["shipped"] = 1
    store.add_order("OPEN", [("A", None, 1)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    done, done_lines = _order(kade, conn.id, "DONE")
    half, half_lines = _order(kade, conn.id, "HALF")
    still, _ = _order(kade, conn.id, "OPEN")
    assert (done.status, done_lines) == (OrderState.SHIPPED, [(2, 2)])
    assert (half.status, half_lines) == (OrderState.PARTIALLY_SHIPPED, [(3, 1), (1, 0)])
    assert still.status == OrderState.OPEN
    # The warehouse can ship only what is still open.
    with kade.db.transaction() as session:
        order = session.get(Order, half.id)
        shipment = create_shipment(session, order, carrier="PostNL", tracking_code="T1")
        shipped = {li.order_line_id: li.quantity for li in shipment_lines(session, shipment.id)}
    assert sorted(shipped.values()) == [1, 2]


def shipment_lines(session, shipment_id):
    from kade.models import ShipmentLine

    return session.exec(select(ShipmentLine).where(ShipmentLine.shipment_id == shipment_id)).all()


def test_shipped_in_store_after_import_updates_kade_and_notifies_when_the_warehouse_is_on_it(kade, store) -> None:
    store.add_order("QUIET", [("A", None, 1)])
    store.add_order("BUSY", [("A", None, 2)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        busy = session.exec(select(Order).where(Order.remote_id == "BUSY")).one()
        busy.picked = True
        session.add(busy)
    for remote_id in ("QUIET", "BUSY"):
        store.orders[remote_id]["status"] = "shipped"
        store.orders[remote_id]["updated"] = T0 + timedelta(minutes=5)
    stats = import_orders(kade, conn.id)
    quiet, quiet_lines = _order(kade, conn.id, "QUIET")
    busy, busy_lines = _order(kade, conn.id, "BUSY")
    assert (quiet.status, quiet_lines) == (OrderState.SHIPPED, [(1, 1)])
    assert (busy.status, busy_lines) == (OrderState.SHIPPED, [(2, 2)])
    notes = _notes(kade, "shipped_in_store")
    assert [n.dedupe_key for n in notes] == [f"shipped_in_store:{busy.id}"]
    assert stats.notifications == 1


def test_our_own_shipment_coming_back_from_the_store_changes_nothing(kade, store) -> None:
    store.add_order("MINE", [("A", None, 2)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        order = session.exec(select(Order).where(Order.remote_id == "MINE")).one()
        create_shipment(session, order, carrier="PostNL", tracking_code="T1", lines={"A": 1})
    store.orders["MINE"]["lines"][0]["shipped"] = 1
    store.orders["MINE"]["updated"] = T0 + timedelta(minutes=5)
    import_orders(kade, conn.id)
    order, lines = _order(kade, conn.id, "MINE")
    assert (order.status, lines) == (OrderState.PARTIALLY_SHIPPED, [(2, 1)])
    assert _notes(kade, "shipped_in_store") == []
