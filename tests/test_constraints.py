"""The unique constraints that carry idempotency hold on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from kade.models import Action, ActionKind, Order, OrderLine, ProductLink
from kade.outbox import add_action
from tests.support.factories import make_connection


def _insert_twice(kade, make) -> None:
    with kade.db.transaction() as session:
        session.add(make())
    with pytest.raises(sa.exc.IntegrityError), kade.db.transaction() as session:
        session.add(make())
        session.flush()


def test_order_unique_per_connection_and_remote_id(kade) -> None:
    conn = make_connection(kade)
    _insert_twice(kade, lambda: Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="1"))
    other = make_connection(kade, name="other")
    with kade.db.transaction() as session:  # the same remote id on another connection is another order
        session.add(Order(tenant_id=conn.tenant_id, connection_id=other.id, remote_id="R1", number="1"))


def test_order_line_unique_per_order_and_remote_line(kade) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        order = Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="1")
        session.add(order)
        session.flush()
        order_id = order.id
    _insert_twice(kade, lambda: OrderLine(order_id=order_id, remote_line_id="L1", quantity=1))


def test_product_link_unique_per_connection_and_remote_product(kade) -> None:
    conn = make_connection(kade)
    _insert_twice(kade, lambda: ProductLink(connection_id=conn.id, remote_id="P1"))


def test_action_unique_per_idempotency_key_and_add_action_is_idempotent(kade) -> None:
    conn = make_connection(kade)
    _insert_twice(kade, lambda: Action(tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.SHIPMENT,
                                       idempotency_key="shipment:1"))
    with kade.db.transaction() as session:
        first, created = add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id,
                                    kind=ActionKind.SHIPMENT, key="shipment:2")
        again, created_again = add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id,
                                          kind=ActionKind.SHIPMENT, key="shipment:2")
    assert created and not created_again and first == again
