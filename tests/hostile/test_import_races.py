"""Imports of one connection run one at a time; product creation survives a concurrent job."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from kade import products as products_module
from kade.ingest import import_orders
from kade.models import Order, Product
from kade.types import OrderPage
from tests.hostile.test_poison_orders import order
from tests.support.factories import make_connection


def test_an_import_asked_for_while_one_runs_is_coalesced_into_one_more_run(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    replay_store.pages[conn.id] = [OrderPage(orders=(order("A"),))]
    inner: list = []

    def webhook_burst(ctx, query):
        if not inner:  # three deliveries arrive while the first import is fetching
            inner.extend(import_orders(replay_kade, conn.id) for _ in range(3))

    replay_store.on_fetch = webhook_burst
    stats = import_orders(replay_kade, conn.id)
    assert [s.coalesced for s in inner] == [True, True, True]
    assert stats.runs == 2  # the burst costs exactly one more run, not three
    assert len(replay_store.queries) == 2


def test_concurrent_imports_of_one_connection_never_overlap(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    replay_store.pages[conn.id] = [OrderPage(orders=tuple(order(f"O{i}", minute=i) for i in range(20)))]
    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def track(ctx, query):
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        threading.Event().wait(0.01)  # hold the fetch open so other threads arrive meanwhile
        with lock:
            running["now"] -= 1

    replay_store.on_fetch = track
    errors: list[BaseException] = []

    def run() -> None:
        try:
            import_orders(replay_kade, conn.id)
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and running["most"] == 1
    with replay_kade.db.session() as session:
        assert len(session.exec(select(Order)).all()) == 20


def test_a_product_created_meanwhile_by_another_job_is_matched_not_a_failed_import(
        replay_kade, replay_store, monkeypatch) -> None:
    if replay_kade.db.dialect == "sqlite":
        pytest.skip("SQLite runs one writer at a time: the other job cannot commit mid-import there")
    conn = make_connection(replay_kade, platform="replay", settings={})
    replay_store.pages[conn.id] = [OrderPage(orders=(order("R1", line={"sku": "RACE"}),))]
    real_match = products_module.match_product
    raced: list[bool] = []

    def match_then_lose_the_race(session, tenant_id, sku, ean, order="sku_first"):
        found = real_match(session, tenant_id, sku, ean, order)
        if found is None and not raced:
            raced.append(True)  # the product-linking job commits the same SKU right now
            with replay_kade.db.transaction() as other:
                other.add(Product(tenant_id=tenant_id, sku=sku, name="from the catalogue",
                                  updated_at=datetime.now(UTC)))
        return found

    monkeypatch.setattr(products_module, "match_product", match_then_lose_the_race)
    stats = import_orders(replay_kade, conn.id)
    assert raced and stats.created == 1 and stats.products_created == 0
    with replay_kade.db.session() as session:
        assert [p.name for p in session.exec(select(Product).where(Product.sku == "RACE"))] == ["from the catalogue"]
