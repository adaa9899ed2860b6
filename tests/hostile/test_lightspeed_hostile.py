"""Hostile Lightspeed answers through the real core: a bad record costs only itself, a bad answer
gets a clear error, on SQLite and PostgreSQL alike."""

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
from kade.plugins.lightspeed.harness import LightspeedHarness
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform


@pytest.fixture
def lightspeed(settings: Settings, database: Database) -> Iterator[tuple[Kade, LightspeedHarness, int]]:
    harness = LightspeedHarness()
    transport = SyncASGITransport(harness.app())
    kade = Kade(settings, db=database, pm=make_plugin_manager(), routes=dict.fromkeys(harness.hosts, transport))
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "hostile")
        enable_platform(session, kade.pm, tenant, "lightspeed")
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="lightspeed", name="shop",
                              base_url=harness.base_url, credentials=harness.credentials(),
                              auth_method=harness.auth_method, settings=harness.settings())
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="test", actor="test")
        session.flush()
        assert conn.id is not None
        conn_id = conn.id
    yield kade, harness, conn_id
    kade.close()
    transport.close()


LINE_POISON: dict[str, dict[str, Any]] = {
    "quantity ≥ 2³¹": {"quantityOrdered": 2**31},
    "quantity as text": {"quantityOrdered": "2"},
    "negative quantity": {"quantityOrdered": -1},
    "NUL in the SKU": {"sku": "A\x00B"},
    "SKU longer than any column": {"sku": "S" * 300},
    "price that is not a number": {"priceIncl": "twelve"},
    "price ≥ 10¹⁰": {"priceIncl": "99999999999.99"},
    "variant id as text": {"variant": {"resource": {"id": "12", "url": "variants/12"}}},
}
ORDER_POISON: dict[str, dict[str, Any]] = {
    "createdAt not a date": {"createdAt": "gisteren"},
    "updatedAt without offset": {"updatedAt": "2026-03-02T12:00:00"},
    "year 0": {"createdAt": "0000-01-01T00:00:00+00:00"},
    "no number": {"number": None},
    "id as text": {"id": "1001"},
    "currency not ISO": {"currency": "€"},
    "lone surrogate in the name": {"addressShippingName": "caf\udce9"},
}


def _run(kade: Kade, conn_id: int) -> tuple[set[str], dict[str, str], list[str]]:
    stats = import_orders(kade, conn_id)
    with kade.db.session() as session:
        orders = set(session.exec(select(Order.remote_id).where(Order.connection_id == conn_id)).all())
        held = {q.remote_id: q.reason for q in session.exec(select(Quarantine).where(
            Quarantine.connection_id == conn_id))}
    return orders, held, stats.errors


@pytest.mark.parametrize("patch", list(LINE_POISON.values()), ids=list(LINE_POISON))
def test_a_poisoned_order_line_costs_only_its_order(lightspeed, patch: dict[str, Any]) -> None:
    kade, harness, conn_id = lightspeed
    good = harness.seed_orders(3)
    bad = harness.sim.create_order(harness.shop, [(harness._variant(5), 1)])
    bad.products[0].patch.update(patch)
    orders, held, errors = _run(kade, conn_id)
    assert errors == []
    assert {g.remote_id for g in good} <= orders and str(bad.id) not in orders
    assert list(held) == [str(bad.id)] and held[str(bad.id)].strip()


@pytest.mark.parametrize("patch", list(ORDER_POISON.values()), ids=list(ORDER_POISON))
def test_a_poisoned_order_costs_only_itself(lightspeed, patch: dict[str, Any]) -> None:
    kade, harness, conn_id = lightspeed
    good = harness.seed_orders(3)
    bad = harness.sim.create_order(harness.shop, [(harness._variant(5), 1)])
    bad.patch.update(patch)
    orders, held, errors = _run(kade, conn_id)
    assert errors == []
    assert {g.remote_id for g in good} <= orders
    assert str(bad.id) not in orders and len(held) == 1, held


def test_an_order_deleted_between_list_and_lines_costs_only_itself(lightspeed) -> None:
    kade, harness, conn_id = lightspeed
    good = harness.seed_orders(2)
    gone = harness.sim.create_order(harness.shop, [(harness._variant(5), 1)])
    harness.sim.inject("error", rf"/nl/orders/{gone.id}/products\.json", method="GET", status=404)
    orders, held, errors = _run(kade, conn_id)
    assert errors == [] and {g.remote_id for g in good} <= orders
    assert "could not be read" in held[str(gone.id)]


def test_an_error_body_on_a_200_is_an_error_not_an_empty_page(lightspeed, monkeypatch) -> None:
    kade, harness, conn_id = lightspeed
    harness.seed_orders(2)
    from kade.plugins.lightspeed.simulator import routes

    def broken(state, request):
        return routes.Response(200, {"error": {"code": 200, "method": "GET", "request": request.path,
                                               "message": "Shop is in maintenance"}})

    monkeypatch.setattr(harness.app(), "routes",
                        [(m, p, broken if h is routes.list_orders else h) for m, p, h in harness.app().routes])
    with pytest.raises(PlatformError, match="Shop is in maintenance"):
        import_orders(kade, conn_id)
