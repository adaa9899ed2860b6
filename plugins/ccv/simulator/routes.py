"""The resources the simulator serves: the API root, orders and their rows, products, combinations.

Writes are validated field by field the way CCV's JSON schemas do: an unknown field, a wrong
type or a status id that does not exist is a 400 naming it, never silently ignored.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.ccv.simulator import render
from kade.plugins.ccv.simulator.app import ApiError, Request, Response
from kade.plugins.ccv.simulator.signing import parse_x_date
from kade.plugins.ccv.simulator.state import STATUS_IDS, CcvState

MAX_SIZE = 250
DEFAULT_SIZE = 25
#: order fields a PATCH may carry, with their JSON types
ORDER_PATCH: dict[str, tuple[type, ...]] = {
    "status": (int,), "track_and_trace_code": (str,), "track_and_trace_carrier": (str,),
    "track_and_trace_deeplink": (str,), "mail": (bool,), "note": (str,), "paid": (bool,),
}
STOCK_PATCH: dict[str, tuple[type, ...]] = {"stock": (int, float)}


def _host(request: Request) -> str:
    return request.headers.get("host", "").split(":")[0]


def _paging(request: Request) -> tuple[int, int]:
    return (request.int_arg("start", 0, low=0, high=10**9),
            request.int_arg("size", DEFAULT_SIZE, low=1, high=MAX_SIZE))


def _date_arg(request: Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    moment = parse_x_date(raw if "T" in raw else f"{raw}T00:00:00Z")
    if moment is None:
        raise ApiError(400, "400.20", f"Invalid value for '{name}': {raw!r} is not a date")
    return moment


def _validate(body: dict[str, Any], allowed: dict[str, tuple[type, ...]], what: str) -> None:
    for name, value in body.items():
        if name not in allowed:
            raise ApiError(400, "400.30", f"Property '{name}' is not allowed in a {what} PATCH")
        types = allowed[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ApiError(400, "400.31", f"Property '{name}' must be {'/'.join(t.__name__ for t in types)}")


def root(state: CcvState, request: Request) -> Response:
    key = state.keys[request.public]
    items = [{"name": name, "href": render.href(_host(request), f"{name}/")} for name in key.resources]
    return Response(200, {"href": render.href(_host(request), ""), "items": items})


def list_orders(state: CcvState, request: Request) -> Response:
    start, size = _paging(request)
    low, high = _date_arg(request, "min_create_date"), _date_arg(request, "max_create_date")
    completed = request.query.get("is_completed", "true").lower() != "false"
    status = request.query.get("status")
    orderby = request.query.get("orderby", "id")
    if orderby not in ("id", "create_date", "ordernumber"):
        raise ApiError(400, "400.20", f"Invalid value for 'orderby': {orderby!r}")
    found = [o for o in state.orders.values() if o.is_completed == completed
             and (low is None or o.create_date >= low) and (high is None or o.create_date <= high)
             and (status is None or str(o.status) == status)]
    found.sort(key=lambda o: (getattr(o, orderby), o.id))
    page = [render.order(_host(request), o) for o in found[start:start + size]]
    return Response(200, render.collection(_host(request), "orders", page, start, size, len(found), request.query))


def _order(state: CcvState, request: Request) -> Any:
    order = state.orders.get(int(request.match["id"]))
    if order is None:
        raise ApiError(404, "404.30", f"Order {request.match['id']} does not exist")
    return order


def get_order(state: CcvState, request: Request) -> Response:
    return Response(200, render.order(_host(request), _order(state, request)))


def patch_order(state: CcvState, request: Request) -> Response:
    order = _order(state, request)
    body = request.json()
    _validate(body, ORDER_PATCH, "order")
    if "status" in body and body["status"] not in STATUS_IDS:
        raise ApiError(400, "400.31", f"Status {body['status']} does not exist (1-14)")
    if body.get("status") == 5:
        order.sent_reports.append(str(body.get("track_and_trace_code") or order.track_and_trace_code))
    for name in ("status", "track_and_trace_code", "track_and_trace_carrier", "paid"):
        if name in body:
            setattr(order, name, body[name])
    if body.get("mail"):
        order.mails += 1
    return Response(204, None)


def order_rows(state: CcvState, request: Request) -> Response:
    order = _order(state, request)
    start, size = _paging(request)
    page = [render.row(_host(request), r) for r in order.rows[start:start + size]]
    return Response(200, render.collection(_host(request), f"orders/{order.id}/orderrows", page, start, size,
                                           len(order.rows), request.query))


def get_row(state: CcvState, request: Request) -> Response:
    row = state.rows.get(int(request.match["id"]))
    if row is None:
        raise ApiError(404, "404.30", f"Order row {request.match['id']} does not exist")
    return Response(200, render.row(_host(request), row))


def list_products(state: CcvState, request: Request) -> Response:
    start, size = _paging(request)
    number, ean = request.query.get("productnumber"), request.query.get("eannumber")
    found = sorted((p for p in state.products.values() if (number is None or p.productnumber == number)
                    and (ean is None or p.eannumber == ean)), key=lambda p: p.id)
    page = [render.product(_host(request), p) for p in found[start:start + size]]
    return Response(200, render.collection(_host(request), "products", page, start, size, len(found), request.query))


def _product(state: CcvState, request: Request) -> Any:
    product = state.products.get(int(request.match["id"]))
    if product is None:
        raise ApiError(404, "404.30", f"Product {request.match['id']} does not exist")
    return product


def get_product(state: CcvState, request: Request) -> Response:
    return Response(200, render.product(_host(request), _product(state, request)))


def patch_product(state: CcvState, request: Request) -> Response:
    product = _product(state, request)
    body = request.json()
    _validate(body, STOCK_PATCH, "product")
    if "stock" in body and product.stocktype == "attribute":
        raise ApiError(400, "400.32", f"Product {product.id} keeps its stock on attribute combinations")
    if "stock" in body:
        product.stock = float(body["stock"])
    return Response(204, None)


def product_combinations(state: CcvState, request: Request) -> Response:
    product = _product(state, request)
    start, size = _paging(request)
    combos = sorted(state.combinations_of(product), key=lambda c: c.id)
    page = [render.combination(_host(request), c) for c in combos[start:start + size]]
    return Response(200, render.collection(_host(request), f"products/{product.id}/attributecombinations", page,
                                           start, size, len(combos), request.query))


def _combination(state: CcvState, request: Request) -> Any:
    combo = state.combinations.get(int(request.match["id"]))
    if combo is None:
        raise ApiError(404, "404.30", f"Attribute combination {request.match['id']} does not exist")
    return combo


def get_combination(state: CcvState, request: Request) -> Response:
    return Response(200, render.combination(_host(request), _combination(state, request)))


def patch_combination(state: CcvState, request: Request) -> Response:
    combo = _combination(state, request)
    body = request.json()
    _validate(body, STOCK_PATCH, "attribute combination")
    if "stock" in body:
        combo.stock = float(body["stock"])
    return Response(204, None)



ROUTES = [
    ("GET", r"", root),
    ("GET", r"orders", list_orders),
    ("GET", r"orders/(?P<id>\d+)", get_order),
    ("PATCH", r"orders/(?P<id>\d+)", patch_order),
    ("GET", r"orders/(?P<id>\d+)/orderrows", order_rows),
    ("GET", r"orderrows/(?P<id>\d+)", get_row),
    ("GET", r"products", list_products),
    ("GET", r"products/(?P<id>\d+)", get_product),
    ("PATCH", r"products/(?P<id>\d+)", patch_product),
    ("GET", r"products/(?P<id>\d+)/attributecombinations", product_combinations),
    ("GET", r"attributecombinations/(?P<id>\d+)", get_combination),
    ("PATCH", r"attributecombinations/(?P<id>\d+)", patch_combination),
]
