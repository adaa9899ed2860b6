"""A stock push that is slow to land must not overwrite a newer one (principle 2, rule R7).

With several workers, two flushes of one connection run at once. When a change arrives while an
older push of the same product is still on its way, the newer action is pending and may be
claimed, sent and landed *before* the older push lands. The store then ends on the older value
and, since ``last_pushed_stock`` equals the store's value, nothing ever corrects it until the
nightly check. Deterministic here: the plugin holds the first push until the second has landed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from kade import hookimpl
from kade.app import Kade
from kade.catalog import link_store_products
from kade.manager import make_plugin_manager
from kade.stock import set_stock
from kade.stockpush import flush_stock
from kade.types import ConnectionContext, StockResult, StockUpdate
from tests.support.factories import make_connection, tenant_of
from tests.support.fakeplatform import FakePlatform, FakeStore
from tests.support.pglocks import lock_waits


class HeldFirstPush(FakePlatform):
    """Holds the first push call on the wire until ``release`` is set; later calls go straight through."""

    def __init__(self, store: FakeStore) -> None:
        super().__init__(store)
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self._calls = 0

    @hookimpl
    def push_stock(self, ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> list[StockResult]:
        self._calls += 1
        if self._calls == 1:
            self.in_flight.set()
            assert self.release.wait(10)
        return super().push_stock(ctx, updates)



def test_older_push_landing_late_does_not_win(settings, database) -> None:
    store = FakeStore()
    store.add_product("R1", "SKU1", None, stock=0)
    plugin = HeldFirstPush(store)
    kade = Kade(settings, db=database, pm=make_plugin_manager(load_entrypoints=False, plugins=[(plugin, "fake")]))
    try:
        conn = make_connection(kade)
        link_store_products(kade, conn.id)
        tenant = tenant_of(kade)
        with kade.db.transaction() as session:
            set_stock(session, tenant, "SKU1", 5, window=0)
        older = threading.Thread(target=flush_stock, args=(kade, conn.id))
        older.start()
        assert plugin.in_flight.wait(10)  # the push of 5 is on its way
        with kade.db.transaction() as session:
            set_stock(session, tenant, "SKU1", 7, window=0)
        flush_stock(kade, conn.id)  # another worker: claims the newer action
        plugin.release.set()
        older.join(10)
        flush_stock(kade, conn.id)  # anything still due goes out now
        assert store.products["R1"]["stock"] == 7, (
            f"store ended on {store.products['R1']['stock']} while the warehouse has 7; pushes: {store.stock_calls}"
        )
    finally:
        kade.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_change_committed_while_its_push_is_claimed_is_not_lost(settings, database) -> None:
    """A change finds the product's pending push and adds nothing (coalescing) — but a worker
    sets out to claim that push while the change has not committed. Had it claimed the push, it
    would have read the *old* stock. The change holds the connection's stock slots (the slot
    lock), which a claim takes shared: the worker waits for the commit and the new value goes
    out. (PostgreSQL: SQLite serialises the two writers, so it cannot interleave them.)"""
    import time

    store = FakeStore()
    store.add_product("R1", "SKU1", None, stock=0)
    kade = Kade(settings, db=database, pm=make_plugin_manager(load_entrypoints=False,
                                                             plugins=[(FakePlatform(store), "fake")]))
    try:
        conn = make_connection(kade)
        link_store_products(kade, conn.id)
        tenant = tenant_of(kade)
        with kade.db.transaction() as session:
            set_stock(session, tenant, "SKU1", 5, window=0)
        change = kade.db.session()
        change.begin()
        set_stock(change, change.merge(tenant), "SKU1", 7, window=0)  # coalesces into the pending push...
        errors: list[BaseException] = []

        def flush() -> None:  # ...which another worker sets out to send meanwhile
            try:
                flush_stock(kade, conn.id)
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=flush)
        worker.start()
        deadline = time.monotonic() + 10
        while not lock_waits(kade):  # until the worker waits for the change
            assert time.monotonic() < deadline, "the worker never waited for the change"
            assert worker.is_alive(), "the worker went on without waiting for the change"
            time.sleep(0.01)
        assert store.products["R1"]["stock"] == 0  # nothing sent while the change was open
        change.commit()
        change.close()
        worker.join(timeout=20)
        assert not worker.is_alive() and errors == []
        assert store.products["R1"]["stock"] == 7, f"store ended on {store.products['R1']['stock']}, warehouse 7"
    finally:
        kade.close()
