"""The order feed's cursor: a reader that keeps its cursor sees every committed change, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from kade.app import Kade
from kade.feed import CursorError, _b64, order_feed
from kade.ingest import import_orders
from kade.models import Order, utcnow
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakeStore


def _two_orders(kade: Kade, store: FakeStore) -> tuple[int, list[int]]:
    conn = make_connection(kade, tenant="acme", name="shop")
    assert conn.id is not None
    for i in range(2):
        store.add_order(f"R{i}", [("SKU-1", None, 1)], minute=i)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        rows = session.exec(select(Order.id, Order.tenant_id).order_by(col(Order.id))).all()
    return rows[0][1], [r[0] for r in rows if r[0] is not None]


def _read(kade: Kade, tenant_id: int, cursor: str | None) -> tuple[list[int], str | None]:
    with kade.db.transaction() as session:
        orders, cursor, _more = order_feed(session, tenant_id, cursor=cursor)
    return [o["id"] for o in orders], cursor


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_older_change_committing_last_is_not_skipped(kade: Kade, store: FakeStore) -> None:
    """Two transactions; the one with the older ``updated_at`` commits after a reader passed the newer."""
    tenant_id, (first, second) = _two_orders(kade, store)
    assert _read(kade, tenant_id, None)[0] == [first, second]
    _seen, cursor = _read(kade, tenant_id, None)
    t0 = utcnow()
    late = kade.db.session()
    try:
        order = late.get(Order, first)
        assert order is not None
        order.updated_at, order.picked = t0, True
        late.flush()  # written, not committed
        with kade.db.transaction() as session:
            other = session.get(Order, second)
            assert other is not None
            other.updated_at = t0 + timedelta(seconds=1)
        passed, cursor = _read(kade, tenant_id, cursor)
        assert passed == [second]
        late.commit()
    finally:
        late.close()
    caught_up, cursor = _read(kade, tenant_id, cursor)
    assert caught_up == [first]
    assert _read(kade, tenant_id, cursor)[0] == []


def test_each_change_is_seen_once_in_commit_order(kade: Kade, store: FakeStore) -> None:
    tenant_id, (first, second) = _two_orders(kade, store)
    ids, cursor = _read(kade, tenant_id, None)
    assert ids == [first, second]
    for order_id in (second, first):
        with kade.db.transaction() as session:
            order = session.get(Order, order_id)
            assert order is not None
            order.updated_at = utcnow() - timedelta(days=1)  # an older stamp must not matter
    ids, cursor = _read(kade, tenant_id, cursor)
    assert ids == [second, first]
    with kade.db.transaction() as session:
        order = session.get(Order, first)
        assert order is not None
        order.remote_digest = "unchanged-feed"  # no updated_at change: not a feed change
    assert _read(kade, tenant_id, cursor)[0] == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("cursor", "message"), [
    (_b64("o1|2026-12-01T10:00:00+00:00|4"), r"earlier \(updated_at\) format"),
    (_b64("o2|-1"), "not one Kade handed out"),
    (_b64("o2|x"), "not one Kade handed out"),
    ("!!!", "not one Kade handed out"),
])
def test_foreign_cursors_are_refused_clearly(kade: Kade, cursor: str, message: str) -> None:
    with kade.db.transaction() as session, pytest.raises(CursorError, match=message):
        order_feed(session, 1, cursor=cursor)
