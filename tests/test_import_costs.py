"""What an import spends its time on: an unchanged order is skipped on its fingerprint before any
check, and a large first import refreshes the planner's statistics on its way, not only at the end."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kade.ingest import import_orders
from kade.ingest import loop as ingest_loop
from kade.models import Order, Quarantine
from kade.types import OrderQuery
from tests.support.factories import make_connection


def test_an_unchanged_order_is_not_checked_again_but_a_changed_one_is(kade, store) -> None:
    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    assert import_orders(kade, conn.id).created == 1
    store.orders["R1"]["number"] = "N\x00R1"  # unstorable, but nothing the core applies again changed
    again = import_orders(kade, conn.id, full=True)
    assert (again.unchanged, again.quarantined) == (1, 0)
    store.orders["R1"]["lines"][0]["qty"] = 2  # now it changed: checked, and refused
    changed = import_orders(kade, conn.id, full=True)
    assert (changed.unchanged, changed.quarantined) == (0, 1)
    with kade.db.session() as session:
        assert [q.remote_id for q in session.exec(select(Quarantine))] == ["R1"]
        assert session.exec(select(Order)).one().number == "NR1"


def test_a_large_first_import_refreshes_statistics_once_on_its_way(kade, store, monkeypatch) -> None:
    conn = make_connection(kade)
    for n in range(12):
        store.add_order(f"R{n}", [("A", None, 1)], minute=n)
    store.page_size = 4
    calls: list[int] = []
    created: list[int] = []
    real_store_page = ingest_loop._store_page

    def store_page(*args: Any, **kwargs: Any) -> Any:
        stats = real_store_page(*args, **kwargs)
        created.append(stats.created)
        return stats

    monkeypatch.setattr(ingest_loop, "EARLY_ANALYZE", 5)
    monkeypatch.setattr(ingest_loop, "_store_page", store_page)
    monkeypatch.setattr(ingest_loop, "refresh_statistics", lambda session, *tables: calls.append(sum(created)))
    assert import_orders(kade, conn.id).created == 12
    assert calls == [8]  # after the page that passed 5 orders, once; not again at the end (< BULK_ANALYZE)


def test_the_import_lease_is_renewed_once_a_third_has_passed_not_per_page(kade, store, monkeypatch) -> None:
    conn = make_connection(kade)
    for n in range(12):
        store.add_order(f"R{n}", [("A", None, 1)], minute=n)
    store.page_size = 2
    renewals: list[int] = []
    real = ingest_loop.renew_import
    monkeypatch.setattr(ingest_loop, "renew_import", lambda *a, **k: renewals.append(1) or real(*a, **k))
    assert import_orders(kade, conn.id).created == 12
    assert renewals == []  # six pages within the first third of a ten-minute lease

    kade.settings.import_lease = 0.0001  # every page finds a third of the lease gone
    import_orders(kade, conn.id, full=True)
    assert len(renewals) == 6


def test_a_stale_hold_whose_lock_was_taken_writes_nothing(kade) -> None:
    from kade.models import ConnectionRuntime
    from kade.runstate import acquire_import

    conn = make_connection(kade)
    with kade.db.transaction() as session:
        assert acquire_import(session, conn.id, "ours", 0.0001)
    hold = ingest_loop._Hold("ours", 0.0001)
    with kade.db.transaction() as session:
        assert hold.keep(session, conn.id)  # still ours: renewed
        row = session.get(ConnectionRuntime, conn.id)
        row.import_holder = "another worker"  # our lease ran out and it took the lock
        session.add(row)
    with kade.db.transaction() as session:
        assert not hold.keep(session, conn.id)


def test_an_empty_poll_writes_no_event_but_notes_when_it_ended(kade, store) -> None:
    """At 50,000 connections an event per empty poll was 14 million rows a day (docs/scaling.md)."""
    from kade.models import ConnectionRuntime, Event

    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    import_orders(kade, conn.id)

    def seen() -> tuple[int, Any]:
        with kade.db.session() as session:
            events = session.exec(select(Event).where(Event.kind == "orders_imported")).all()
            return len(events), session.get(ConnectionRuntime, conn.id).last_import_at

    count, first = seen()
    assert count == 1 and first is not None
    import_orders(kade, conn.id)  # nothing new
    count, second = seen()
    assert count == 1 and second > first
    from kade.overview import connection_rows

    with kade.db.session() as session:  # what the console and the API show as the last import
        [row] = connection_rows(session, kade.pm, None)
    assert row["last_import_at"] is not None and row["last_import_at"].startswith(second.isoformat()[:19])
    store.add_order("R2", [("A", None, 1)], minute=5)
    import_orders(kade, conn.id)
    assert seen()[0] == 2


def _begins(kade) -> list[int]:
    """Counts the transactions the app's engine begins on the database (a list, so the listener
    can add to it); an autocommit connection's reads open none there."""
    import sqlalchemy as sa

    count = [0]

    def begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            count[0] += 1

    sa.event.listen(kade.db.engine, "begin", begin)
    return count


def test_a_reimport_of_unchanged_pages_reads_them_without_a_transaction_each(kade, store) -> None:
    """A re-import's pages are mostly unchanged: each is read in one statement, outside any
    transaction, so the transactions an import opens do not grow with its pages."""
    conn = make_connection(kade)
    for n in range(12):
        store.add_order(f"R{n}", [("A", None, 1)], minute=n)
    assert import_orders(kade, conn.id).created == 12
    begins = _begins(kade)
    per_size = {}
    for size in (12, 1):
        store.page_size = size
        begins[0] = 0
        again = import_orders(kade, conn.id, full=True)
        assert (again.unchanged, again.created, again.updated, again.pages) == (12, 0, 0, 12 // size)
        per_size[size] = begins[0]
    assert per_size[1] == per_size[12]  # twelve pages cost no more transactions than one

    store.orders["R7"]["lines"][0]["qty"] = 3  # one changed order: its page is written, in a transaction
    begins[0] = 0
    changed = import_orders(kade, conn.id, full=True)
    assert (changed.unchanged, changed.updated) == (11, 1)
    assert begins[0] == per_size[1] + 1
    assert import_orders(kade, conn.id, full=True).unchanged == 12  # its new fingerprint was stored


def test_an_unchanged_page_is_counted_as_applying_it_would(kade, store) -> None:
    """``unchanged_page`` answers only for pages ``apply_page`` would write nothing of, with the
    same figures, and always for a page of stored, unchanged orders: pages repeating an order,
    with a changed order, with an order not stored yet."""
    from kade.ingest.apply import apply_page, unchanged_page

    conn = make_connection(kade)

    def reset() -> None:  # R0-R3 as stored; R4, R5 never imported
        store.orders.clear()
        for n in range(4):
            store.add_order(f"R{n}", [("A", None, 1)], minute=n)

    reset()
    import_orders(kade, conn.id)
    platform, connection = kade.pm.platform("fake"), kade.load_connection(conn.id)

    @settings(max_examples=60, deadline=None)
    @given(picks=st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=12))
    def check(picks: list[tuple[int, bool]]) -> None:
        reset()
        page = []
        for n, changed in picks:
            store.add_order(f"R{n}", [("A", None, 2 if changed else 1)], minute=n)
            page.extend(o for o in platform.import_orders(kade.context(connection), OrderQuery()).orders
                        if o.remote_id == f"R{n}")
        with kade.db.reading() as db:
            quick = unchanged_page(db, connection, page)
        with kade.db.session() as session:  # applied, then rolled back: the same state for every example
            full = apply_page(session, connection, page, [])
            session.rollback()
        writes = full.created or full.updated or full.ignored or full.quarantined
        if writes:
            assert quick is None
        if all(n < 4 and not changed for n, changed in picks):  # the re-import's page: found so
            assert quick is not None
        # A page repeating an order changed, then unchanged, writes nothing (the last copy wins);
        # the quick look may still hand it to the transaction: that only costs time.
        if quick is not None:
            assert not writes
            assert (quick.pages, quick.unchanged, quick.newest) == (full.pages, full.unchanged, full.newest)

    check()
    with kade.db.session() as session:  # nothing was written by either
        assert sorted(session.exec(select(Order.remote_id)).all()) == ["R0", "R1", "R2", "R3"]
