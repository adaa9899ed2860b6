"""Hostile CCV Shop answers through the real core: a bad record costs only itself, a bad or
unsigned answer gets a clear error, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection
from kade.db import Database
from kade.errors import PlatformError
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.models import ConnectionStatus, Order, Quarantine
from kade.plugins.ccv.harness import CcvHarness
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform


@pytest.fixture
def ccv(settings: Settings, database: Database) -> Iterator[tuple[Kade, CcvHarness, int]]:
    harness = CcvHarness()
    transport = SyncASGITransport(harness.app())
    kade = Kade(settings, db=database, pm=make_plugin_manager(), routes=dict.fromkeys(harness.hosts, transport))
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "hostile")
        enable_platform(session, kade.pm, tenant, "ccv")
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="ccv", name="shop",
                              base_url=harness.base_url, credentials=harness.credentials(),
                              auth_method=harness.auth_method, settings=harness.settings())
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="test", actor="test")
        session.flush()
        assert conn.id is not None
        conn_id = conn.id
    yield kade, harness, conn_id
    kade.close()
    transport.close()


ROW_POISON: dict[str, dict[str, Any]] = {
    "count ≥ 2³¹": {"count": float(2**31)},
    "count as text": {"count": "2"},
    "fractional count": {"count": 1.5},
    "negative count": {"count": -1.0},
    "count missing": {"count": None},
    "NUL in the product number": {"product_number": "A\x00B"},
    "product number longer than any column": {"product_number": "S" * 300},
    "price that is not a number": {"price": "twelve"},
    "price ≥ 10¹⁰": {"price": 99999999999.99},
    "row id as text": {"id": "12"},
}
ORDER_POISON: dict[str, dict[str, Any]] = {
    "create_date not a date": {"create_date": "gisteren"},
    "year 0": {"create_date": "0000-01-01T00:00:00Z"},
    "no order number": {"ordernumber_full": None, "ordernumber": None},
    "id as text": {"id": "1001"},
    "status as text": {"status": "5"},
    "currency not ISO": {"currency": "€"},
    "customer not an object": {"customer": "Jan"},
    "lone surrogate in the name": {"customer": {"billingaddress": {"full_name": "caf\udce9"}}},
}


def _run(kade: Kade, conn_id: int) -> tuple[set[str], dict[str, str], list[str]]:
    stats = import_orders(kade, conn_id)
    with kade.db.session() as session:
        orders = set(session.exec(select(Order.remote_id).where(Order.connection_id == conn_id)).all())
        held = {q.remote_id: q.reason for q in session.exec(select(Quarantine).where(
            Quarantine.connection_id == conn_id))}
    return orders, held, stats.errors


@pytest.mark.parametrize("patch", list(ROW_POISON.values()), ids=list(ROW_POISON))
def test_a_poisoned_order_row_costs_only_its_order(ccv, patch: dict[str, Any]) -> None:
    kade, harness, conn_id = ccv
    good = harness.seed_orders(3)
    bad = harness.sim.create_order([(harness._product(5), 1)])
    bad.rows[0].patch.update(patch)
    orders, held, errors = _run(kade, conn_id)
    assert errors == []
    assert {g.remote_id for g in good} <= orders and str(bad.id) not in orders
    assert list(held) == [str(bad.id)] and held[str(bad.id)].strip()


@pytest.mark.parametrize("patch", list(ORDER_POISON.values()), ids=list(ORDER_POISON))
def test_a_poisoned_order_costs_only_itself(ccv, patch: dict[str, Any]) -> None:
    kade, harness, conn_id = ccv
    good = harness.seed_orders(3)
    bad = harness.sim.create_order([(harness._product(5), 1)])
    bad.patch.update(patch)
    orders, held, errors = _run(kade, conn_id)
    assert errors == []
    assert {g.remote_id for g in good} <= orders
    assert str(bad.id) not in orders and len(held) == 1, held


def test_an_order_deleted_between_list_and_rows_costs_only_itself(ccv) -> None:
    kade, harness, conn_id = ccv
    good = harness.seed_orders(2)
    gone = harness.sim.create_order([(harness._product(5), 1)])
    harness.sim.inject("error", rf"/api/rest/v1/orders/{gone.id}/orderrows", method="GET", status=404)
    orders, held, errors = _run(kade, conn_id)
    assert errors == [] and {g.remote_id for g in good} <= orders
    assert "could not be read" in held[str(gone.id)]


def test_an_unsigned_order_list_is_an_error_not_an_empty_page(ccv) -> None:
    kade, harness, conn_id = ccv
    harness.seed_orders(2)
    harness.sim.tamper.extend(["missing"] * 10)
    with pytest.raises(PlatformError, match="not signed"):
        import_orders(kade, conn_id)
    with kade.db.session() as session:
        assert session.exec(select(Order).where(Order.connection_id == conn_id)).all() == []


def test_a_collection_without_items_is_an_error_not_an_empty_page(ccv, monkeypatch) -> None:
    kade, harness, conn_id = ccv
    harness.seed_orders(2)
    from kade.plugins.ccv.simulator import routes

    def broken(state, request):
        return routes.Response(200, {"href": request.uri, "developermessage": "Shop is in maintenance"})

    monkeypatch.setattr(harness.app(), "routes",
                        [(m, p, broken if h is routes.list_orders else h) for m, p, h in harness.app().routes])
    with pytest.raises(PlatformError, match="no items list"):
        import_orders(kade, conn_id)
