"""Stock pushes per offer, and products/stock read through the CSV offer export."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from bol_testkit import Bol, BolFactory

from kade.errors import RateLimited, TransientError
from kade.plugins.bol import exports, plugin
from kade.types import StockPage, StockUpdate, iter_pages


def test_push_stock_per_item_with_one_failing(bol: Bol) -> None:
    good = bol.sim.add_offer(stock=1)
    bol_stock = bol.sim.add_offer(fulfilment="FBB", stock=5)
    results = plugin.push_stock(
        bol.ctx(),
        [
            StockUpdate(remote_product_id=good.offer_id, quantity=1500),
            StockUpdate(remote_product_id=bol_stock.offer_id, quantity=3),
            StockUpdate(remote_product_id="no-such-offer", quantity=3),
        ],
    )
    by_id = {r.remote_product_id: r for r in results}
    bol.sim.settle()
    assert by_id[good.offer_id].ok and by_id[good.offer_id].remote_reference
    assert good.stock == 999 and good.managed_by_retailer is True  # capped at bol's maximum
    assert not by_id[bol_stock.offer_id].ok
    assert "fulfilled by bol" in (by_id[bol_stock.offer_id].error or "")
    assert by_id[bol_stock.offer_id].error_kind == "rejected"
    assert "does not exist" in (by_id["no-such-offer"].error or "")
    assert bol_stock.stock == 5


def test_push_stock_transient_failure_of_the_whole_call_raises(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    bol.sim.inject("error", "/retailer/offers", status=503)
    with pytest.raises(TransientError):
        plugin.push_stock(bol.ctx(), [StockUpdate(remote_product_id=offer.offer_id, quantity=1)])


def test_push_stock_keeps_done_items_when_a_later_one_is_throttled(bol: Bol) -> None:
    first, second = bol.sim.add_offer(), bol.sim.add_offer()
    bol.sim.inject("error", f"/retailer/offers/{second.offer_id}", status=502)
    results = plugin.push_stock(
        bol.ctx(),
        [
            StockUpdate(remote_product_id=first.offer_id, quantity=4),
            StockUpdate(remote_product_id=second.offer_id, quantity=4),
        ],
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].error_kind == "transient"


def test_push_stock_managed_by_retailer_setting(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    plugin.push_stock(
        bol.ctx(settings={"stock_managed_by_retailer": "false"}),
        [StockUpdate(remote_product_id=offer.offer_id, quantity=2)],
    )
    bol.sim.settle()  # bol applies it asynchronously
    assert offer.managed_by_retailer is False


def test_read_stock_through_the_offer_export_in_pages(bol: Bol) -> None:
    offers = [bol.sim.add_offer(reference=f"SKU-{n}", stock=n) for n in range(7)]
    bol.sim.add_offer(fulfilment="FBB", stock=40)
    ctx = bol.ctx(settings={"export_page_size": 3})
    tokens: list[str | None] = []

    def fetch(token: str | None) -> StockPage:
        tokens.append(token)
        return plugin.read_stock(ctx, token)

    items = list(iter_pages(fetch))
    assert {(i.remote_product_id, i.sku, i.quantity) for i in items} == {
        (o.offer_id, o.reference, o.stock) for o in offers
    }  # the bol-fulfilled offer is not ours to check
    assert len(tokens) == 3
    assert bol.sim.count_requests("POST", "/retailer/offers/export") == 1
    assert bol.sim.count_requests("GET", "/retailer/offers/export/") == 1  # downloaded once
    assert not list(exports.export_dir().glob(f"{ctx.connection_id}-*"))  # cleaned up after the last page


def test_read_products_reuses_a_recent_export(bol: Bol) -> None:
    bol.sim.add_offer("8712345678906", reference="SKU-A", price="12.50", stock=3)
    bol.sim.add_offer("8712345678913", fulfilment="FBB")
    ctx = bol.ctx()
    stock = list(iter_pages(lambda t: plugin.read_stock(ctx, t)))
    page = plugin.read_products(ctx, None)
    assert page.next_page_token is None and len(stock) == 1
    first = next(p for p in page.products if p.ean == "8712345678906")
    assert (first.sku, first.price, first.stock, first.manages_stock) == ("SKU-A", Decimal("12.50"), 3, True)
    assert not next(p for p in page.products if p.ean == "8712345678913").manages_stock
    assert bol.sim.count_requests("POST", "/retailer/offers/export") == 1


def test_export_still_running_gives_an_empty_page_to_ask_again(bol_factory: BolFactory) -> None:
    bol = bol_factory(process_delays={"CREATE_OFFER_EXPORT": 120.0})
    bol.sim.add_offer(stock=2)
    ctx = bol.ctx(settings={"process_wait_seconds": 5})
    page = plugin.read_stock(ctx, None)
    assert page.items == () and page.next_page_token and page.next_page_token.startswith("p:")
    bol.clock.advance(120)
    page = plugin.read_stock(ctx, page.next_page_token)
    assert len(page.items) == 1 and page.next_page_token is None


def test_export_rate_limit_is_reported(bol: Bol) -> None:
    ctx = bol.ctx(settings={"offer_export_reuse_seconds": 0})
    for _ in range(9):
        list(iter_pages(lambda t: plugin.read_stock(ctx, t)))
    with pytest.raises(RateLimited) as caught:
        plugin.read_stock(ctx, None)
    assert caught.value.retry_after > 3000


def test_malformed_export_rows_are_rejected_with_reason(bol: Bol) -> None:
    good = bol.sim.add_offer(stock=1)
    bad = bol.sim.add_offer(stock=1)
    bad.fulfilment = "XYZ"  # type: ignore[assignment]
    page = plugin.read_products(bol.ctx(), None)
    assert [p.remote_id for p in page.products] == [good.offer_id]
    assert page.rejected[0].remote_id == bad.offer_id
    assert "neither FBR nor FBB" in page.rejected[0].reason


def test_csv_records_with_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b'offerId,conditionComment,stockAmount\na,"two\nlines",1\nb,plain,2\nc,"x",3\n')
    rows, offset = exports.read_rows(path, 0, 2)
    assert [r["offerId"] for r in rows] == ["a", "b"] and rows[0]["conditionComment"] == "two\nlines"
    assert offset is not None
    rows, offset = exports.read_rows(path, offset, 2)
    assert [r["offerId"] for r in rows] == ["c"] and offset is None
