"""Hypothesis invariants: import idempotency and stock coalescing (SQLite, a fresh DB per example)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kade.app import Kade
from kade.db import Database
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.models import Order, OrderLine, Product, ProductLink
from kade.stock import set_stock
from kade.stockpush import flush_stock
from tests.support.factories import make_connection, tenant_of
from tests.support.fakeplatform import FakePlatform, FakeStore

SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _fresh(template: Path, settings_obj, store: FakeStore) -> tuple[Kade, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "k.sqlite3"
    shutil.copy(template, path)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(FakePlatform(store), "fake")])
    return Kade(settings_obj, db=Database(f"sqlite:///{path}"), pm=pm), tmp


orders_strategy = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 30), st.lists(st.integers(1, 3), min_size=1, max_size=3)),
    min_size=1, max_size=30,
)


@SLOW
@given(orders=orders_strategy, page_size=st.integers(1, 7), repeats=st.integers(1, 3))
def test_import_is_idempotent_for_any_paging(sqlite_template, settings, orders, page_size, repeats) -> None:
    store = FakeStore(page_size=page_size)
    for remote, minute, qtys in orders:
        store.add_order(f"R{remote}", [(f"S{i}", None, q) for i, q in enumerate(qtys)], minute=minute)
    kade, tmp = _fresh(sqlite_template, settings, store)
    try:
        conn = make_connection(kade)
        for _ in range(repeats):
            import_orders(kade, conn.id, full=True)
        with kade.db.session() as session:
            remote_ids = sorted(o.remote_id for o in session.exec(select(Order)))
            line_count = len(session.exec(select(OrderLine)).all())
        assert remote_ids == sorted(store.orders)
        assert line_count == sum(len(o["lines"]) for o in store.orders.values())
    finally:
        kade.close()
        tmp.cleanup()


@SLOW
@given(
    changes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20)), min_size=1, max_size=40),
    flush_every=st.integers(1, 40),
)
def test_stock_coalescing_invariants(sqlite_template, settings, changes, flush_every) -> None:
    """Each flush pushes a product at most once, never an unchanged value, and the store ends
    with the warehouse's stock."""
    store = FakeStore()
    kade, tmp = _fresh(sqlite_template, settings, store)
    try:
        conn = make_connection(kade)
        tenant = tenant_of(kade)
        with kade.db.transaction() as session:
            for i in range(6):
                p = Product(tenant_id=tenant.id, sku=f"P{i}", stock=0)
                session.add(p)
                session.flush()
                store.add_product(f"r{i}", f"P{i}", None, stock=0)
                session.add(ProductLink(connection_id=conn.id, product_id=p.id, remote_id=f"r{i}",
                                        last_pushed_stock=0))
        store_seen = {f"r{i}": 0 for i in range(6)}
        for n, (product, value) in enumerate(changes, 1):
            with kade.db.transaction() as session:
                set_stock(session, tenant, f"P{product}", value, window=0)
            if n % flush_every == 0 or n == len(changes):
                before = len(store.stock_calls)
                flush_stock(kade, conn.id)
                for call in store.stock_calls[before:]:
                    ids = [rid for rid, _ in call]
                    assert len(ids) == len(set(ids)), "a product pushed twice in one flush"
                    for rid, qty in call:
                        assert store_seen[rid] != qty, "an unchanged value was pushed"
                        store_seen[rid] = qty
        with kade.db.session() as session:
            warehouse = {f"r{p.sku[1:]}": p.stock for p in session.exec(select(Product))}
        assert {rid: p["stock"] for rid, p in store.products.items()} == warehouse
    finally:
        kade.close()
        tmp.cleanup()
