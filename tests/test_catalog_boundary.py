"""Store catalogue products pass the same boundary checks as orders: a product the schema cannot
hold is quarantined with its reason, and the rest of its page imports (on SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select

from kade.catalog import link_store_products
from kade.manager import Platform
from kade.models import Product, ProductLink, Quarantine
from kade.types import ProductPage, RemoteProduct
from tests.support.factories import make_connection

BAD: list[tuple[dict[str, Any], str]] = [
    ({"sku": "S" * 101}, "SKU is 101 characters long; Kade keeps at most 100"),
    ({"sku": "A\x00B"}, "SKU contains a NUL character"),
    ({"sku": "caf\udce9"}, "SKU contains a lone surrogate"),
    ({"ean": "8" * 33}, "barcode is 33 characters long; Kade keeps at most 32"),
    ({"name": "lamp \x00"}, "name contains a NUL character"),
    ({"price": Decimal("1e12")}, "price 1E+12 is too large"),
    ({"stock": 2**40}, f"stock {2**40} is outside what Kade can store"),
    ({"remote_id": "p" * 101}, "product id is 101 characters long"),
]


def _serve(monkeypatch: pytest.MonkeyPatch, *products: RemoteProduct) -> None:
    monkeypatch.setattr(Platform, "read_products",
                        lambda self, ctx, token: ProductPage(products=products))


@pytest.mark.parametrize(("fields", "reason"), BAD, ids=[r.split(" ")[0] + str(i) for i, (_, r) in enumerate(BAD)])
def test_an_unstorable_product_is_quarantined_and_the_rest_of_its_page_imports(
        kade, monkeypatch, fields: dict[str, Any], reason: str) -> None:
    conn = make_connection(kade)
    bad = RemoteProduct(**{"remote_id": "bad", "sku": "BAD-1", "name": "bad", **fields})
    good = [RemoteProduct(remote_id=f"g{n}", sku=f"GOOD-{n}", name="Lamp", price=Decimal("9.123456"), stock=3)
            for n in range(2)]
    _serve(monkeypatch, good[0], bad, good[1])
    stats = link_store_products(kade, conn.id)
    assert (stats.created, stats.linked, stats.quarantined) == (2, 2, 1)
    with kade.db.session() as session:
        assert sorted(p.sku for p in session.exec(select(Product))) == ["GOOD-0", "GOOD-1"]
        assert {p.price for p in session.exec(select(Product))} == {Decimal("9.1235")}
        assert sorted(link.remote_id for link in session.exec(select(ProductLink))) == ["g0", "g1"]
        (row,) = session.exec(select(Quarantine)).all()
    assert row.kind == "product" and reason in row.reason
    # The store sends the same product again: still one quarantine row, reopened.
    link_store_products(kade, conn.id)
    with kade.db.session() as session:
        assert len(session.exec(select(Quarantine)).all()) == 1


def test_a_long_name_is_cut_to_its_column_not_refused(kade, monkeypatch) -> None:
    conn = make_connection(kade)
    _serve(monkeypatch, RemoteProduct(remote_id="p1", sku="LONG", name="n" * 1000))
    assert link_store_products(kade, conn.id).created == 1
    with kade.db.session() as session:
        assert session.exec(select(Product)).one().name == "n" * 300
