"""Hostile Shopware answers: each poison order costs only itself, through the real plugin and core.

The simulated shop answers POST /api/search/order with orders broken the ways real shops and
broken extensions break them — some the plugin refuses while translating (no offset on a date,
a line that is not a product record, a currency that is no ISO code), some only the core's
storage checks catch (a quantity over 2³¹, a NUL byte, a number longer than the column). Every
one is quarantined with a reason and the good orders of the same page import, on SQLite and
PostgreSQL alike. A property test feeds the mapping arbitrary JSON: it translates or refuses
with ``MappingError``, never anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection
from kade.db import Database
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.mapping import MappingError
from kade.models import ConnectionStatus, Order, Quarantine
from kade.plugins.shopware.harness import ShopwareHarness
from kade.plugins.shopware.mapping import to_remote_order
from kade.plugins.shopware.simulator.state import Order as ShopOrder
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform


def _line(field: str, value: Any) -> Callable[[ShopOrder], None]:
    def apply(order: ShopOrder) -> None:
        setattr(order.line_items[0], field, value)
    return apply


def _huge_quantity(order: ShopOrder) -> None:
    order.line_items[0].quantity = 2**31
    order.line_items[0].unit_price = order.line_items[0].unit_price * 0  # the total stays storable


def _field(**patch: Any) -> Callable[[ShopOrder], None]:
    def apply(order: ShopOrder) -> None:
        order.malformed.update(patch)
    return apply


#: poison → (how the shop gets it wrong, a word the quarantine reason must contain)
POISON: dict[str, tuple[Callable[[ShopOrder], None], str]] = {
    "date without offset": (_field(orderDateTime="2026-03-01T10:00:00"), "no UTC offset"),
    "MySQL zero date": (_field(orderDateTime="0000-00-00 00:00:00"), "ISO 8601"),
    "no order number": (_field(orderNumber=""), "orderNumber"),
    "currency not ISO": (_field(currency={"isoCode": "euro"}), "ISO 4217"),
    "lineItems not a list": (_field(lineItems="[]"), "lineItems"),
    "line not an object": (_field(lineItems=[["product", 1]]), "not an object"),
    "total with a comma": (_field(amountTotal="12,50"), "not a number"),
    "state not loaded": (_field(stateMachineState=None), "stateMachineState"),
    "quantity true": (_line("quantity", True), "quantity"),
    "quantity over 2³¹": (_huge_quantity, "2147483647"),
    "NUL in a label": (_line("label", "Shirt\x00"), "NUL"),
    "number over the column": (_field(orderNumber="9" * 150), "100"),
}


@pytest.fixture
def shop(settings: Settings, database: Database) -> Iterator[tuple[Kade, ShopwareHarness, int]]:
    harness = ShopwareHarness(auth_method="client_credentials")
    transport = SyncASGITransport(harness.app())
    kade = Kade(settings, db=database, pm=make_plugin_manager(), routes=dict.fromkeys(harness.hosts, transport))
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "hostile")
        enable_platform(session, kade.pm, tenant, "shopware")
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="shopware", name="shop",
                              base_url=harness.base_url, credentials=harness.credentials(),
                              auth_method=harness.auth_method, settings=harness.settings())
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="hostile", actor="test")
        session.flush()
        assert conn.id is not None
        connection_id = conn.id
    yield kade, harness, connection_id
    kade.close()
    transport.close()


def test_each_poison_order_is_quarantined_and_its_page_imports(shop: tuple[Kade, ShopwareHarness, int]) -> None:
    kade, harness, connection_id = shop
    good = harness.seed_orders(2)
    poisoned = {}
    for name, (spoil, _) in POISON.items():
        [seeded] = harness.seed_orders(1)
        spoil(harness.sim.orders[seeded.remote_id])
        poisoned[seeded.remote_id] = name
    good += harness.seed_orders(2)
    stats = import_orders(kade, connection_id)
    with kade.db.session() as session:
        imported = set(session.exec(select(Order.remote_id).where(Order.connection_id == connection_id)).all())
        held = {q.remote_id: q.reason for q in session.exec(select(Quarantine))}
    assert imported == {s.remote_id for s in good}, "one bad record must cost only itself"
    assert stats.quarantined == len(POISON)
    for remote_id, name in poisoned.items():
        assert remote_id in held, f"{name}: not quarantined"
        assert POISON[name][1] in held[remote_id], f"{name}: reason {held[remote_id]!r}"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=3), max_leaves=12)
_keys = st.sampled_from(["id", "orderNumber", "orderDateTime", "updatedAt", "lineItems", "currency", "amountTotal",
                         "stateMachineState", "deliveries", "orderCustomer", "billingAddress",
                         "primaryOrderDeliveryId"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _json, max_size=12))
def test_the_mapping_translates_or_refuses_any_json(raw: dict[str, Any]) -> None:
    try:
        to_remote_order(raw)
    except MappingError as exc:
        assert str(exc)
