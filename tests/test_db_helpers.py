"""kade.db's bulk helpers write and match exactly what the row-wise statements did, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import col, select

from kade.db import insert_many, one_of
from kade.models import Action, ActionKind, ActionStatus, Order, OrderState
from tests.support.factories import make_connection


def _order(conn, remote_id: str, **values) -> dict:
    now = datetime.now(UTC)
    return {"tenant_id": conn.tenant_id, "connection_id": conn.id, "remote_id": remote_id, "number": f"#{remote_id}",
            "status": OrderState.PARTIALLY_SHIPPED, "cancellation_requested": False, "currency": "EUR",
            "total": Decimal("12.3456"), "billing_address": {"name": "Zoë <b>"}, "shipping_address": {},
            "raw": {"nested": [1, None, "ü"]}, "picked": False, "remote_created_at": None,
            "remote_updated_at": now, "remote_digest": "d" * 64, "imported_at": now, "updated_at": now, **values}


def test_insert_many_stores_enums_by_value_json_decimals_and_times(kade) -> None:
    conn = make_connection(kade)
    plus_two = timezone(timedelta(hours=2))
    with kade.db.transaction() as session:
        returned = insert_many(session, Order.__table__, [  # type: ignore[attr-defined]
            _order(conn, "A"), _order(conn, "B", remote_created_at=datetime(2026, 1, 1, 12, tzinfo=plus_two))],
            returning=("id", "remote_id"))
    assert sorted(r[1] for r in returned) == ["A", "B"]
    with kade.db.session() as session:
        a, b = session.exec(select(Order).order_by(col(Order.remote_id))).all()
    assert a.status == OrderState.PARTIALLY_SHIPPED and a.total == Decimal("12.3456")
    assert a.billing_address == {"name": "Zoë <b>"} and a.raw == {"nested": [1, None, "ü"]}
    assert a.remote_created_at is None and b.remote_created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert {o.id for o in (a, b)} == {r[0] for r in returned}


def test_insert_many_applies_the_utc_rule_and_skips_conflicts(kade) -> None:
    conn = make_connection(kade)
    with pytest.raises(Exception, match="UTC|aware|overflow|out of range|year"), kade.db.transaction() as session:
        insert_many(session, Order.__table__,  # type: ignore[attr-defined]
                    [_order(conn, "C", remote_updated_at=datetime(2026, 1, 1))])  # naive: refused as row-wise
    now = datetime.now(UTC)
    rows = [{"tenant_id": conn.tenant_id, "connection_id": conn.id, "kind": ActionKind.CANCEL,
             "idempotency_key": key, "status": ActionStatus.PENDING, "payload": {"order_id": 1}, "attempts": 0,
             "next_attempt_at": now, "created_at": now, "updated_at": now} for key in ("k1", "k2")]
    with kade.db.transaction() as session:
        assert len(insert_many(session, Action.__table__, rows[:1], returning=("id",),  # type: ignore[attr-defined]
                               skip_conflicts_on="idempotency_key")) == 1
        assert len(insert_many(session, Action.__table__, rows, returning=("id",),  # type: ignore[attr-defined]
                               skip_conflicts_on="idempotency_key")) == 1  # k1 is there already
    with kade.db.session() as session:
        keys = session.exec(select(Action.idempotency_key).where(one_of(session, col(Action.kind), ["cancel"]))).all()
    assert sorted(keys) == ["k1", "k2"]


HOSTILE_TEXTS = ['quote " and \' both', "back\\slash \\u0000 \\n literal", "line\nbreak\ttab\r", "emoji 🚚 Zoë ß 中",
                 '{"looks": "like json"}', "<script>alert(1)</script> [/] [bold]", "x" * 5000, ""]


def test_insert_many_keeps_hostile_text_and_json_exactly(kade) -> None:
    """The rows travel as one JSON document on PostgreSQL: nothing in them may change on the way."""
    conn = make_connection(kade)
    rows = [_order(conn, f"H{i}{text[:40]}", number=text[:100], currency="EUR", total=Decimal("99999999.9999"),
                   raw={"text": text, "list": [text, {"k": text}], "n": 2**53 + 1, "f": 1.5, "none": None})
            for i, text in enumerate(HOSTILE_TEXTS)]
    with kade.db.transaction() as session:
        returned = insert_many(session, Order.__table__, rows, returning=("id", "remote_id"))  # type: ignore[attr-defined]
    assert sorted(r[1] for r in returned) == sorted(r["remote_id"] for r in rows)
    with kade.db.session() as session:
        stored = {o.remote_id: o for o in session.exec(select(Order))}
    for row in rows:
        order = stored[row["remote_id"]]
        assert (order.number, order.raw, order.total, order.currency) == (
            row["number"], row["raw"], row["total"], "EUR")
