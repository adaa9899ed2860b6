"""JSON of the simulated shop's resources, in CCV's field names (snake_case, float counts)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kade.plugins.ccv.simulator.state import Combination, Order, Product, Row

PREFIX = "/api/rest/v1/"
JSON = dict[str, Any]


def timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def href(host: str, path: str) -> str:
    return f"https://{host}{PREFIX}{path}"


def order(host: str, o: Order) -> JSON:
    body: JSON = {
        "href": href(host, f"orders/{o.id}/"), "id": o.id, "ordernumber_prefix": "", "ordernumber": o.ordernumber,
        "ordernumber_full": str(o.ordernumber), "invoicenumber": None, "create_date": timestamp(o.create_date),
        "deliver_method": "shipping", "status": o.status, "is_completed": o.is_completed, "paid": o.paid,
        "currency": o.currency, "total_price": float(o.total_price), "total_shipping": 0.0, "total_tax": 0.0,
        "total_weight": 0.0, "track_and_trace_code": o.track_and_trace_code or None,
        "track_and_trace_carrier": o.track_and_trace_carrier or None, "track_and_trace_deeplink": None,
        "customer": o.customer, "orderrows": {"href": href(host, f"orders/{o.id}/orderrows/")},
    }
    body.update(o.patch)
    return body


def row(host: str, r: Row) -> JSON:
    body: JSON = {
        "href": href(host, f"orderrows/{r.id}/"), "id": r.id, "order_id": r.order_id, "product_type": r.product_type,
        "product_id": r.product_id, "product_name": r.product_name, "product_number": r.product_number,
        "sub_product_number": r.sub_product_number or None, "sub_sku_number": r.sub_sku_number or None,
        "sub_ean_number": r.sub_ean_number or None, "count": r.count, "price": float(r.price),
        "total_price": float(r.price) * r.count, "weight": 0.0, "stock_location": None, "supplier": None,
        "attributes": [],
    }
    body.update(r.patch)
    return body


def product(host: str, p: Product) -> JSON:
    body: JSON = {
        "href": href(host, f"products/{p.id}/"), "id": p.id, "productnumber": p.productnumber,
        "eannumber": p.eannumber or None, "mpnnumber": None, "name": p.name, "price": float(p.price),
        "stockenabled": p.stockenabled, "stocktype": p.stocktype, "stock": p.stock, "stocklocation": None,
        "attributecombinations": {"href": href(host, f"products/{p.id}/attributecombinations/")},
    }
    body.update(p.patch)
    return body


def combination(host: str, c: Combination) -> JSON:
    body: JSON = {
        "href": href(host, f"attributecombinations/{c.id}/"), "id": c.id, "product_id": c.product_id,
        "product_number": c.product_number, "sku_number": c.sku_number or None, "ean_number": c.ean_number or None,
        "stock": c.stock, "active": c.active,
    }
    body.update(c.patch)
    return body


def collection(host: str, path: str, items: list[JSON], start: int, size: int, total: int,
               query: dict[str, str]) -> JSON:
    """``{"href", "items", "next", "previous"}``; next/previous keep the other query parameters."""
    def link(at: int) -> str:
        params = "&".join(f"{k}={v}" for k, v in {**query, "start": str(at), "size": str(size)}.items())
        return href(host, f"{path}/?{params}")

    return {"href": link(start), "items": items,
            "next": link(start + size) if start + size < total else None,
            "previous": link(max(0, start - size)) if start > 0 else None}
