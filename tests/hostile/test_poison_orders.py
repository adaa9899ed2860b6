"""One poison order costs only itself (issue: poison records), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import select

from kade import ingest
from kade.ingest import import_orders
from kade.mapping import MappingError, parse_timestamp
from kade.models import Connection, Event, Notification, Order, OrderLine, Quarantine
from kade.types import OrderPage, RemoteOrder, RemoteOrderLine
from tests.support.factories import make_connection

NOW = datetime.now(UTC).replace(microsecond=0)


def order(remote_id: str, *, minute: int = 0, line: dict | None = None, **fields) -> RemoteOrder:
    values = {"remote_line_id": f"{remote_id}-1", "sku": f"SKU-{remote_id}"[:100], "quantity": 1,
              "unit_price": Decimal("5")} | (line or {})
    when = NOW - timedelta(hours=1) + timedelta(minutes=minute)
    base = {"remote_id": remote_id, "number": remote_id[:100], "created_at": when, "updated_at": when,
            "lines": (RemoteOrderLine(**values),)}
    return RemoteOrder(**(base | fields))


POISON = {
    "quantity ≥ 2³¹": order("P-QTY", line={"quantity": 2**31}),
    "price ≥ 10¹⁰": order("P-PRICE", line={"unit_price": Decimal("10000000000")}),
    "total ≥ 10¹⁰": order("P-TOTAL", total=Decimal("1e12")),
    "id over the column": order("P-" + "9" * 120),
    "SKU over the column": order("P-SKU", line={"sku": "S" * 101}),
    "line id over the column": order("P-LINE", line={"remote_line_id": "L" * 101}),
    "NUL in the SKU": order("P-NUL", line={"sku": "A\x00B"}),
    "lone surrogate in the name": order("P-SURR", line={"name": "caf\udce9"}),
    "NUL in the address": order("P-ADDR", shipping_address={"name": "Jan\x00"}),
    "created before year 1 in UTC": order("P-OLD", created_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
    "updated after year 9999 in UTC": order(
        "P-NEW", updated_at=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))),
    "naive timestamp": order("P-NAIVE", created_at=datetime(2026, 1, 1)),
}


def _state(kade, conn_id):
    with kade.db.session() as session:
        orders = set(session.exec(select(Order.remote_id).where(Order.connection_id == conn_id)).all())
        quarantined = {q.remote_id: q.reason for q in session.exec(
            select(Quarantine).where(Quarantine.connection_id == conn_id))}
    return orders, quarantined


def test_each_poison_order_is_quarantined_and_the_rest_of_its_page_imports(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    good = [order(f"G{i}", minute=i) for i in range(5)]
    replay_store.pages[conn.id] = [OrderPage(orders=(good[0], *POISON.values(), *good[1:]))]
    stats = import_orders(replay_kade, conn.id)
    orders, quarantined = _state(replay_kade, conn.id)
    assert orders == {o.remote_id for o in good}
    assert stats.quarantined == len(POISON) == len(quarantined)
    assert all(reason for reason in quarantined.values())
    assert any("2147483647" in r for r in quarantined.values())
    assert any("NUL" in r for r in quarantined.values())
    assert any("surrogate" in r for r in quarantined.values())
    assert any("converted to UTC" in r for r in quarantined.values())
    assert all(len(key) <= 100 for key in quarantined)


def test_a_page_the_checks_let_through_is_saved_order_by_order(replay_kade, replay_store, monkeypatch) -> None:
    """Whatever the checks miss, the database refusal costs only the one order."""
    monkeypatch.setattr(ingest.apply, "check_order", lambda order: None)
    conn = make_connection(replay_kade, platform="replay", settings={})
    bad = POISON["created before year 1 in UTC"]
    good = [order(f"G{i}", minute=i) for i in range(3)]
    replay_store.pages[conn.id] = [OrderPage(orders=(good[0], bad, *good[1:]))]
    stats = import_orders(replay_kade, conn.id)
    orders, quarantined = _state(replay_kade, conn.id)
    assert orders == {o.remote_id for o in good} and stats.created == 3
    assert list(quarantined) == ["P-OLD"] and quarantined["P-OLD"].startswith("could not be stored: ")
    with replay_kade.db.session() as session:
        assert session.exec(select(Event).where(Event.kind == "orders_page_fallback")).first() is not None


def test_long_product_names_are_cut_and_fine_prices_rounded_not_refused(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    odd = order("W1", line={"name": "N" * 400, "unit_price": Decimal("8.264462809917354")})
    replay_store.pages[conn.id] = [OrderPage(orders=(odd,))]
    import_orders(replay_kade, conn.id)
    with replay_kade.db.session() as session:
        line = session.exec(select(OrderLine)).one()
    assert len(line.name) == 300 and line.unit_price == Decimal("8.2645")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_the_shared_timestamp_parser_refuses_overflowing_dates_with_a_reason(value: str) -> None:
    with pytest.raises(MappingError, match="converted to UTC"):
        parse_timestamp(value, "updated_at")


def test_a_future_dated_order_does_not_move_the_cursor_past_now(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    ahead = order("FUTURE", updated_at=NOW + timedelta(days=3650))
    replay_store.pages[conn.id] = [OrderPage(orders=(order("NOW1"), ahead))]
    import_orders(replay_kade, conn.id)
    with replay_kade.db.session() as session:
        cursor = session.get(Connection, conn.id).order_cursor
        warned = session.exec(select(Event).where(Event.kind == "order_clock_ahead")).first()
    ceiling = datetime.now(UTC) + timedelta(seconds=replay_kade.settings.order_clock_skew)
    assert cursor <= ceiling and warned is not None
    # The next poll still asks for what changed around now, so a later order is seen.
    replay_store.pages[conn.id] = [OrderPage(orders=(order("LATER", minute=30),))]
    import_orders(replay_kade, conn.id)
    assert replay_store.queries[-1].since <= datetime.now(UTC)
    assert "LATER" in _state(replay_kade, conn.id)[0]


def test_a_cursor_already_in_the_future_is_pulled_back(replay_kade, replay_store) -> None:
    conn = make_connection(replay_kade, platform="replay", settings={})
    with replay_kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        row.order_cursor = NOW + timedelta(days=3650)
        session.add(row)
    replay_store.pages[conn.id] = [OrderPage(orders=(order("AFTER"),))]
    import_orders(replay_kade, conn.id)
    assert replay_store.queries[-1].since <= datetime.now(UTC)
    with replay_kade.db.session() as session:
        assert session.get(Connection, conn.id).order_cursor <= datetime.now(UTC) + timedelta(minutes=10)


def test_an_import_that_keeps_failing_notifies_once_and_shows_in_health(replay_kade, replay_store) -> None:
    from kade.health import health

    conn = make_connection(replay_kade, platform="replay", settings={})

    def broken(ctx, query):
        raise KeyError("orders")  # a plugin bug, not a typed platform error

    replay_store.on_fetch = broken
    for _ in range(5):
        with pytest.raises(KeyError):
            import_orders(replay_kade, conn.id)
    with replay_kade.db.session() as session:
        notes = session.exec(select(Notification).where(Notification.kind == "import_failing")).all()
        failed = session.exec(select(Event).where(Event.kind == "orders_imported", Event.outcome == "failed")).all()
    assert len(notes) == 1 and notes[0].count == 1 and "KeyError" in notes[0].message
    assert len(failed) == 5
    alerts = [a for a in health(replay_kade).alerts if "order import failed" in a]
    assert len(alerts) == 1 and "shop" in alerts[0] and f"id {conn.id}" in alerts[0] and "KeyError" in alerts[0]
    replay_store.on_fetch = None
    import_orders(replay_kade, conn.id)
    assert not [a for a in health(replay_kade).alerts if "order import failed" in a]
    with replay_kade.db.session() as session:
        assert session.exec(select(Notification).where(Notification.kind == "import_failing")).one().cleared_at
