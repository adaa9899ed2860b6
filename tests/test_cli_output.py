"""CLI output people and scripts can use: data is never markup, --json, 80 columns, order ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from kade.config import Settings
from kade.db import Database
from kade.models import Connection, Event, Order, OrderLine, Quarantine
from tests.test_cli import _creds, assert_user_error, cli  # noqa: F401 - the fixture

MARKUP = "[/]x[bold]"


def _world(cli, tmp_path: Path) -> Database:  # noqa: F811
    assert cli("db", "upgrade")[0] == 0
    assert cli("tenant", "add", "shop")[0] == 0
    assert cli("plugins", "enable", "acme", "-t", "shop")[0] == 0
    creds = _creds(tmp_path, {"api_key": "k-123456"})
    for name in ("c1", "c2"):
        assert cli("connection", "add", "acme", name, "-t", "shop", "--url", "https://s.example",
                   "--credentials", creds)[0] == 0
    products = tmp_path / "p.csv"
    products.write_text(f"sku,ean,name,price,stock\nSKU1,,{MARKUP} mug,9.95,5\n")
    assert cli("product", "import", "-t", "shop", str(products))[0] == 0
    db = Database(Settings().resolved_database_url())
    with db.transaction() as session:
        c1, c2 = session.exec(select(Connection).order_by(Connection.name)).all()
        for conn, number in ((c1, "1001"), (c2, "1001"), (c1, MARKUP)):
            order = Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id=f"R{conn.id}{number}",
                          number=number)
            session.add(order)
            session.flush()
            session.add(OrderLine(order_id=order.id, remote_line_id="L1", sku="SKU1", quantity=2))
        session.add(Quarantine(connection_id=c1.id, kind="order", remote_id=MARKUP, reason=f"bad {MARKUP}",
                               payload={}))
        session.add(Event(tenant_id=c1.tenant_id, connection_id=c1.id, kind="note", outcome="ok",
                          message=f"said {MARKUP}"))
    return db


def test_store_text_is_never_markup(cli, tmp_path) -> None:  # noqa: F811
    _world(cli, tmp_path).dispose()
    for args in (("product", "list", "-t", "shop"), ("orders", "list", "-t", "shop"),
                 ("orders", "quarantine", "-t", "shop"), ("events", "-t", "shop")):
        code, out, err = cli(*args)
        assert code == 0, (args, err)
        assert MARKUP in out, (args, out)


def test_every_listing_takes_json(cli, tmp_path) -> None:  # noqa: F811
    _world(cli, tmp_path).dispose()
    expected = {
        ("tenant", "list"): "tenants",
        ("connection", "list"): "connections",
        ("connection", "settings", "c1", "-t", "shop"): "settings",
        ("product", "list", "-t", "shop"): "products",
        ("orders", "list", "-t", "shop"): "orders",
        ("orders", "quarantine", "-t", "shop"): "quarantine",
        ("actions", "list"): "actions",
        ("events",): "events",
        ("plugins", "list"): "plugins",
        ("apikey", "list"): "keys",
        ("alert", "list"): "channels",
        ("webhook", "list", "-t", "shop"): "subscriptions",
        ("connection", "show", "c1", "-t", "shop"): "history",
        ("health",): "pending",
    }
    for args, key in expected.items():
        code, out, err = cli(*args, "--json")
        assert code in (0, 1), (args, err)
        document = json.loads(out)  # one document, nothing else on stdout
        assert key in document, (args, document)
    orders = json.loads(cli("orders", "list", "-t", "shop", "--json")[1])["orders"]
    assert {"id", "number", "connection", "status", "total"} <= set(orders[0])
    assert MARKUP in {o["number"] for o in orders}


def test_an_order_number_on_two_connections_is_reached_by_connection_or_id(cli, tmp_path) -> None:  # noqa: F811
    db = _world(cli, tmp_path)
    assert_user_error(cli("ship", "1001", "-t", "shop", "--carrier", "PostNL"), "give --connection NAME or the id")
    code, out, err = cli("ship", "1001", "-t", "shop", "--carrier", "PostNL", "-c", "c2")
    assert code == 0, err
    with db.session() as session:
        first = session.exec(select(Order).where(Order.number == "1001").order_by(Order.id)).first()
        assert first is not None
        first_id = first.id
    assert f"#{first_id}" in cli("orders", "list", "-t", "shop")[1]
    code, out, err = cli("orders", "cancel", f"#{first_id}", "-t", "shop")
    assert code == 0 and "cancelled" in out, err
    with db.session() as session:
        states = {o.connection_id: o.status for o in session.exec(select(Order).where(Order.number == "1001"))}
    assert sorted(states.values()) == ["cancelled", "shipped"]
    db.dispose()


def test_plugins_list_before_db_upgrade_in_80_columns(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr("kade.cli.main.out.width", 80, raising=False)
    code, out, err = cli("plugins", "list")
    assert code == 0, err
    assert "acme" in out and "kade db upgrade" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "api_key" in out  # the auth method survives the narrow table
