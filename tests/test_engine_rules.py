"""The core's rules end to end on the embedded runtime (in-process broker) and both databases."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kade.executor import run_action
from kade.ingest import import_orders
from kade.models import (
    Action,
    ActionStatus,
    Connection,
    ConnectionStatus,
    Notification,
    Order,
    OrderLine,
    OrderState,
    Product,
    ProductLink,
    Quarantine,
    Shipment,
    ShipmentStatus,
)
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.stock import set_stock
from tests.support.factories import make_connection, tenant_of


@pytest.fixture
def runtime(kade):
    rt = Runtime(kade).start(threads=2, tick=0)
    yield rt
    rt.stop()


def _orders(kade, conn_id):
    with kade.db.session() as session:
        return {o.remote_id: o for o in session.exec(select(Order).where(Order.connection_id == conn_id))}


def test_import_is_idempotent_and_records_origin(kade, store) -> None:
    for i in range(7):
        store.add_order(f"R{i}", [("SKU1", "871", 1)], minute=i)
    store.page_size = 3
    conn = make_connection(kade)
    first = import_orders(kade, conn.id)
    again = import_orders(kade, conn.id, full=True)
    assert (first.created, first.pages) == (7, 3)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    orders = _orders(kade, conn.id)
    assert len(orders) == 7 and {o.connection_id for o in orders.values()} == {conn.id}


def test_r2_marketplace_fulfilled_lines_removed_and_full_fbb_orders_ignored(kade, store) -> None:
    store.add_order("MIX", [("A", None, 1), ("B", None, 2)], fbm=[False, True])
    store.add_order("FBB", [("C", None, 1)], fbm=[True])
    conn = make_connection(kade)
    stats = import_orders(kade, conn.id)
    assert stats.ignored == 1
    orders = _orders(kade, conn.id)
    assert set(orders) == {"MIX"}
    with kade.db.session() as session:
        lines = session.exec(select(OrderLine).where(OrderLine.order_id == orders["MIX"].id)).all()
    assert [(li.sku, li.quantity) for li in lines] == [("A", 1)]


def test_malformed_order_is_quarantined_and_the_rest_of_the_page_imports(kade, store) -> None:
    store.add_order("OK1", [("A", None, 1)])
    store.add_order("BAD", [("A", None, 1)], malformed=True)
    store.add_order("NOLINES", [])
    store.add_order("OK2", [("A", None, 1)], minute=1)
    conn = make_connection(kade)
    stats = import_orders(kade, conn.id)
    assert (stats.created, stats.quarantined) == (2, 2)
    with kade.db.session() as session:
        reasons = {q.remote_id: q.reason for q in session.exec(select(Quarantine))}
    assert reasons == {"BAD": "order has no lines array", "NOLINES": "order has no lines"}


def test_r6_matching_by_setting_and_auto_import(kade, store) -> None:
    conn = make_connection(kade, settings={"product_match": "ean_first"})
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        session.add(Product(tenant_id=tenant.id, sku="BY-SKU", ean="111"))
        session.add(Product(tenant_id=tenant.id, sku="BY-EAN-1", ean="222"))
        session.add(Product(tenant_id=tenant.id, sku="BY-EAN-2", ean="222"))
    store.add_order("R1", [("BY-SKU", "222", 1), ("NEW-SKU", "333", 1)])
    import_orders(kade, conn.id)
    with kade.db.session() as session:
        lines = {li.remote_line_id: li for li in session.exec(select(OrderLine))}
        products = {p.id: p for p in session.exec(select(Product))}
    # ean_first: the barcode wins over the SKU, and of two barcode matches the first is taken
    assert products[lines["R1-0"].product_id].sku == "BY-EAN-1"
    # unknown product auto-imported
    assert products[lines["R1-1"].product_id].sku == "NEW-SKU"


def test_r6_product_import_off_leaves_unknown_products_unlinked(kade, store) -> None:
    conn = make_connection(kade, settings={"import_products": "off"})
    store.add_order("R1", [("UNKNOWN", "999", 1)])
    stats = import_orders(kade, conn.id)
    assert stats.products_created == 0
    with kade.db.session() as session:
        assert session.exec(select(OrderLine)).one().product_id is None
        assert session.exec(select(Product)).all() == []


def test_r3_store_cancellation_cancels_unless_picked(kade, store) -> None:
    store.add_order("C1", [("A", None, 1)])
    store.add_order("C2", [("A", None, 1)])
    store.add_order("C3", [("A", None, 2), ("B", None, 1)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        picked = session.exec(select(Order).where(Order.remote_id == "C2")).one()
        picked.picked = True
        session.add(picked)
    store.orders["C1"].update(status="cancelled", updated=store.orders["C1"]["updated"].replace(hour=5))
    store.orders["C2"].update(status="cancelled", updated=store.orders["C2"]["updated"].replace(hour=5))
    store.orders["C3"]["lines"][0]["cancelled"] = 1
    store.orders["C3"]["updated"] = store.orders["C3"]["updated"].replace(hour=5)
    import_orders(kade, conn.id)
    orders = _orders(kade, conn.id)
    assert orders["C1"].status == OrderState.CANCELLED
    assert orders["C2"].status == OrderState.OPEN
    assert orders["C3"].status == OrderState.OPEN
    with kade.db.session() as session:
        kinds = sorted(n.kind for n in session.exec(select(Notification)))
    assert kinds == ["cancel_after_pick", "partial_cancellation"]


def _shipment_setup(kade, store, *, capabilities=None):
    store.add_order("S1", [("A", None, 2), ("B", None, 1)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    return conn, _orders(kade, conn.id)["S1"]


def test_shipment_reported_once_to_origin(kade, store, runtime) -> None:
    _conn, order = _shipment_setup(kade, store)
    with kade.db.transaction() as session:
        shipment = create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S1")
    runtime.drain()
    assert len(store.shipments) == 1 and store.shipments[0]["tracking"] == "3S1"
    with kade.db.session() as session:
        assert session.get(Shipment, shipment.id).status == ShipmentStatus.REPORTED
        assert session.get(Order, order.id).status == OrderState.SHIPPED


def test_unknown_outcome_checks_the_store_before_resending(kade, store, runtime) -> None:
    _conn, order = _shipment_setup(kade, store)
    store.fail_next("report_shipment", "unknown")
    with kade.db.transaction() as session:
        shipment = create_shipment(session, session.get(Order, order.id), carrier="DHL", tracking_code="JVGL1")
        session.flush()
        shipment_id = shipment.id
    with kade.db.session() as session:
        action = session.exec(select(Action)).one()
    assert run_action(kade, action.id).status == "retry"
    with kade.db.transaction() as session:  # make the retry due now
        row = session.get(Action, action.id)
        row.next_attempt_at = row.created_at
        session.add(row)
    assert run_action(kade, action.id).status == "done"
    assert len(store.shipments) == 1  # applied once despite two attempts
    assert store.calls.get("check_shipment") == 1
    with kade.db.session() as session:
        assert session.get(Shipment, shipment_id).status == ShipmentStatus.REPORTED


def test_r4_store_cancelled_order_refuses_shipment_and_notifies(kade, store, runtime) -> None:
    _conn, order = _shipment_setup(kade, store)
    store.orders["S1"]["status"] = "cancelled"  # cancelled in the store, not yet imported
    with kade.db.transaction() as session:
        shipment = create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S")
    runtime.drain()
    with kade.db.session() as session:
        assert session.get(Shipment, shipment.id).status == ShipmentStatus.REFUSED
        note = session.exec(select(Notification)).one()
    assert note.kind == "shipment_for_cancelled_order" and "stop the parcel" in note.message


def test_auth_rejected_sets_needs_reauth_and_holds_jobs(kade, store, runtime) -> None:
    conn, order = _shipment_setup(kade, store)
    store.fail_next("report_shipment", "auth")
    with kade.db.transaction() as session:
        create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S")
    runtime.drain()
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).status == ConnectionStatus.NEEDS_REAUTH
        action = session.exec(select(Action)).one()
        assert action.status == ActionStatus.PENDING
        assert [n.kind for n in session.exec(select(Notification))] == ["needs_reauth"]
    assert store.shipments == []


def test_stock_changes_coalesce_skip_unchanged_and_batch(kade, store, runtime) -> None:
    conn = make_connection(kade)
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        for i in range(5):
            p = Product(tenant_id=tenant.id, sku=f"P{i}", ean=f"10{i}", stock=1)
            session.add(p)
            session.flush()
            store.add_product(f"rp{i}", f"P{i}", f"10{i}", stock=1)
            session.add(ProductLink(connection_id=conn.id, product_id=p.id, remote_id=f"rp{i}",
                                    last_pushed_stock=1))
    with kade.db.transaction() as session:
        for value in (5, 6, 7):  # three changes of one product → one push of the last value
            set_stock(session, tenant, "P0", value, window=0)
        set_stock(session, tenant, "P1", 9, window=0)
        set_stock(session, tenant, "P2", 1, window=0)  # unchanged vs last pushed → nothing sent
    runtime.drain()
    assert store.stock_calls == [[("rp0", 7), ("rp1", 9)]]


def test_r7_shared_ean_takes_the_last_modified_products_stock(kade, store, runtime) -> None:
    conn = make_connection(kade)
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        a = Product(tenant_id=tenant.id, sku="A", ean="555", stock=1)
        b = Product(tenant_id=tenant.id, sku="B", ean="555", stock=1)
        session.add_all([a, b])
        session.flush()
        store.add_product("r555", "A", "555", stock=1)
        session.add(ProductLink(connection_id=conn.id, product_id=a.id, remote_id="r555", last_pushed_stock=1))
    with kade.db.transaction() as session:
        set_stock(session, tenant, "A", 4, window=0)
    with kade.db.transaction() as session:
        set_stock(session, tenant, "B", 8, window=0)  # B is modified last: its stock wins
    runtime.drain()
    assert store.products["r555"]["stock"] == 8


def test_import_auth_rejected_moves_connection_to_needs_reauth(kade, store) -> None:
    store.add_order("R1", [("A", None, 1)])
    conn = make_connection(kade)
    store.fail_next("import_orders", "auth")
    stats = import_orders(kade, conn.id)
    assert stats.errors and stats.created == 0
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).status == ConnectionStatus.NEEDS_REAUTH


def test_import_rides_out_rate_limits_and_a_transient_error(kade, store) -> None:
    store.add_order("R1", [("A", None, 1)])
    conn = make_connection(kade)
    store.fail_next("import_orders", "rate", "transient")
    stats = import_orders(kade, conn.id)
    assert stats.created == 1 and store.calls["import_orders"] == 3


def test_r9_switching_store_skips_orders_the_old_connection_imported(kade, store) -> None:
    from kade.connections import add_connection
    from kade.tenants import get_tenant

    old = make_connection(kade, name="old-shop")
    store.add_order("R1", [("A", None, 1)])
    store.add_order("R2", [("A", None, 1)], minute=1)
    import_orders(kade, old.id)
    store.add_order("R3", [("A", None, 1)], minute=2)
    with kade.db.transaction() as session:
        new = add_connection(session, kade.pm, kade.vault, get_tenant(session, "acme"), platform_name="fake",
                             name="new-shop", base_url="https://store.example", credentials={"token": "good"},
                             replaces="old-shop")
        session.flush()
        new_id = new.id
    stats = import_orders(kade, new_id)
    assert (stats.created, stats.already_imported) == (1, 2)
    assert set(_orders(kade, new_id)) == {"R3"}


def test_r9_first_activation_pushes_all_stock_of_the_new_store(kade, store) -> None:
    from kade.connections import activate

    conn = make_connection(kade, active=False)
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        for i in range(3):
            p = Product(tenant_id=tenant.id, sku=f"P{i}", stock=5 + i)
            session.add(p)
            session.flush()
            store.add_product(f"r{i}", f"P{i}", None, stock=0)
            # r2 already shows the right value: it is not pushed again
            session.add(ProductLink(connection_id=conn.id, product_id=p.id, remote_id=f"r{i}",
                                    last_pushed_stock=7 if i == 2 else None))
    with kade.db.transaction() as session:
        assert activate(session, session.get(Connection, conn.id), actor="test")
    rt = Runtime(kade).start(threads=1, tick=0)
    try:
        rt.drain()
    finally:
        rt.stop()
    assert store.stock_calls == [[("r0", 5), ("r1", 6)]]
