"""Hostile Magento answers through the real plugin and core: a bad record costs only itself, a bad
answer gets a clear error, on SQLite and PostgreSQL alike.

The simulated store renders orders broken the ways a bad extension or a hand-edited database
breaks them (``MagentoState.malform``); some the plugin refuses while translating (an entity id
that is text, a date that is not one, a fractional quantity), some only the core's storage
checks catch (a quantity over 2³¹, a NUL byte). A property test feeds the mapping arbitrary
JSON: it translates or refuses with ``MappingError``, never anything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection
from kade.db import Database
from kade.errors import PlatformError
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.mapping import MappingError
from kade.models import ConnectionStatus, Order, Quarantine
from kade.plugins.magento.harness import MagentoHarness
from kade.plugins.magento.mapping import to_remote_order
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform
from kade.types import OrderStatus


@pytest.fixture
def magento(settings: Settings, database: Database) -> Iterator[tuple[Kade, MagentoHarness, int]]:
    harness = MagentoHarness()
    transport = SyncASGITransport(harness.app())
    kade = Kade(settings, db=database, pm=make_plugin_manager(), routes=dict.fromkeys(harness.hosts, transport))
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "hostile")
        enable_platform(session, kade.pm, tenant, "magento")
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="magento", name="shop",
                              base_url=harness.base_url, credentials=harness.credentials(),
                              auth_method=harness.auth_method, settings=harness.settings())
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="test", actor="test")
        session.flush()
        assert conn.id is not None
        conn_id = conn.id
    yield kade, harness, conn_id
    kade.close()
    transport.close()


def _item(**fields: Any) -> list[dict[str, Any]]:
    return [{"item_id": 9, "sku": "MAG-X", "qty_ordered": 1, "product_type": "simple", **fields}]


#: what a broken store can put in an order, field by field
POISON: dict[str, dict[str, Any]] = {
    "entity_id as text": {"entity_id": "12abc"},
    "no created_at": {"created_at": ...},
    "created_at not a date": {"created_at": "gisteren"},
    "year 0": {"created_at": "0000-01-01 00:00:00"},
    "items not a list": {"items": {"0": "x"}},
    "no items": {"items": []},
    "item not an object": {"items": ["MAG-X"]},
    "item without item_id": {"items": [{"sku": "MAG-X", "qty_ordered": 1}]},
    "no qty_ordered": {"items": [{"item_id": 9, "sku": "MAG-X"}]},
    "fractional quantity": {"items": _item(qty_ordered=1.5)},
    "quantity as words": {"items": _item(qty_ordered="two")},
    "quantity ≥ 2³¹": {"items": _item(qty_ordered=2**31)},
    "negative quantity": {"items": _item(qty_ordered=-1)},
    "empty sku": {"items": _item(sku="  ")},
    "NUL in the sku": {"items": _item(sku="MAG\x00X")},
    "SKU longer than any column": {"items": _item(sku="S" * 300)},
    "price that is not a number": {"items": _item(price="twelve")},
    "price ≥ 10¹⁰": {"items": _item(price=99999999999.99)},
    "currency not ISO": {"order_currency_code": "euro"},
    "grand total not a number": {"grand_total": "lots"},
    "lone surrogate in the name": {"extension_attributes": {"shipping_assignments": [
        {"items": [], "shipping": {"address": {"firstname": "caf\udce9", "lastname": "X"}}}]}},
}


def _run(kade: Kade, conn_id: int) -> tuple[set[str], dict[str, str], list[str]]:
    stats = import_orders(kade, conn_id)
    with kade.db.session() as session:
        orders = set(session.exec(select(Order.remote_id).where(Order.connection_id == conn_id)).all())
        held = {q.remote_id: q.reason for q in session.exec(select(Quarantine).where(
            Quarantine.connection_id == conn_id))}
    return orders, held, stats.errors


@pytest.mark.parametrize("patch", list(POISON.values()), ids=list(POISON))
def test_a_poisoned_order_costs_only_itself(magento, patch: dict[str, Any]) -> None:
    kade, harness, conn_id = magento
    good = harness.seed_orders(3)
    [bad] = harness.seed_orders(1)
    harness.sim.malform(harness.sim.orders[int(bad.remote_id)], **patch)
    orders, held, errors = _run(kade, conn_id)
    assert errors == []
    assert {g.remote_id for g in good} <= orders
    assert bad.remote_id not in orders and len(held) == 1, held
    assert next(iter(held.values())).strip(), "a quarantined record needs a reason"


def test_an_answer_that_is_not_a_search_result_is_an_error_not_an_empty_page(magento, monkeypatch) -> None:
    kade, harness, conn_id = magento
    harness.seed_orders(2)
    from kade.plugins.magento.simulator import handlers

    monkeypatch.setitem(handlers.HANDLERS, "GetV1Orders", lambda sim, request: (200, {"message": "maintenance"}))
    monkeypatch.setattr(harness.spec, "check_response", lambda *args: None)  # the store answers off-spec
    with pytest.raises(PlatformError, match="without an items list"):
        import_orders(kade, conn_id)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ORDER_KEYS = st.sampled_from(["entity_id", "increment_id", "created_at", "updated_at", "items", "grand_total",
                              "order_currency_code", "billing_address", "extension_attributes", "state"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(ORDER_KEYS, JSONISH, max_size=10), st.lists(
    st.dictionaries(st.sampled_from(["item_id", "sku", "qty_ordered", "qty_shipped", "qty_canceled",
                                     "qty_refunded", "parent_item_id", "product_type", "price", "name"]),
                    JSONISH, max_size=8), max_size=3))
def test_the_mapping_translates_or_refuses_anything(order: dict[str, Any], items: list[dict[str, Any]]) -> None:
    raw = {"entity_id": 1, "created_at": "2026-03-02 12:00:00", **order}
    if items:
        raw["items"] = items
    with contextlib.suppress(MappingError):
        to_remote_order(raw, OrderStatus.OPEN)
