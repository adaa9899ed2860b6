"""The ASGI app: dispatch, the route table, the fault layer and ``create_app``."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.woocommerce.simulator.api import ApiBase
from kade.plugins.woocommerce.simulator.models import JSON, ORDER_STATUSES, WPError
from kade.plugins.woocommerce.simulator.state import WooState
from kade.plugins.woocommerce.simulator.tracking import TrackingApi
from kade.plugins.woocommerce.simulator.wp import COLLECTION, Arg, Request, Response, Route, _validate
from kade.sim.base import Faults, SimClock
from kade.sim.faults import Answer, FaultLayer, Receive, Scope, Send, retry_after_text

CRITICAL_ERROR = "<p>There has been a critical error on this website.</p>"


class WooSimulator(TrackingApi):
    """The ASGI application; ``sim`` (also ``state.sim``) is the store behind it.

    Requests pass ``kade.sim``'s fault layer first (the store's ``faults`` at random, its
    ``scripted_faults`` from ``WooState.inject``), then the host's rate limit, then WordPress.
    """

    def __init__(self, sim: WooState) -> None:
        self.sim = sim
        #: Starlette-style namespace, so every simulator exposes its store as ``app.state.sim``
        self.state = _AppState(sim)
        self.routes = self._routes()
        self._faults = FaultLayer(self._serve, sim, error=_error_answer, rate_limited=_rate_limited_answer,
                                  random_error_status=500)

    # ASGI entry point ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._faults(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        client = scope.get("client") or ("sim-client", 0)
        request = Request(
            method=scope["method"].upper(),
            scheme=scope.get("scheme", "http"),
            host=headers.get("host", "shop.example"),
            path=scope["path"],
            query=query,
            headers=headers,
            body=body,
            client=str(client[0]),
        )
        response = self.handle(request)
        payload = response.raw if response.raw is not None else json.dumps(response.body).encode()
        out_headers = [(b"content-type", response.content_type.encode())]
        out_headers += [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()]
        out_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})

    # Dispatch ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        state = self.sim
        with state.lock:
            allowed, retry_after, _ = state.limiter.hit("host", request.client)
            if not allowed:
                return _rate_limited(max(1, math.ceil(retry_after)))
            try:
                if request.path.startswith("/wc-auth/v1/"):
                    response = self._wc_auth(request)
                elif request.path.rstrip("/") == "/wp-json" or request.path.startswith("/wp-json/"):
                    response = self._rest(request)
                else:
                    response = Response(404, None, raw=b"<h1>Not Found</h1>", content_type="text/html")
            except WPError as err:
                response = self._error(err)
            return response


    def _rest(self, request: Request) -> Response:
        route_path = request.path[len("/wp-json") :] or "/"
        if route_path.rstrip("/") in ("", "/wc/v3"):
            return self._index(route_path.rstrip("/"))
        for route in self.routes:
            match = route.regex.match(route_path)
            if match is None:
                continue
            if request.method == "OPTIONS":
                return Response(200, self._describe(route), {"Allow": ", ".join(route.methods)})
            if request.method not in route.methods:
                break
            handler, args = route.methods[request.method]
            request.match = match.groupdict()
            self._authenticate(request)
            params: dict[str, Any] = dict(request.query)
            if request.method in ("POST", "PUT", "PATCH"):
                body = request.json()
                if isinstance(body, dict):
                    params.update(body)
            params.update(request.match)
            _validate(args, params)
            request.params = params
            return handler(request)
        raise WPError(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _index(self, prefix: str) -> Response:
        routes: JSON = {}
        for route in self.routes:
            if prefix and route.namespace != "wc/v3":
                continue
            routes[route.pattern] = self._describe(route)
        namespaces = sorted({r.namespace for r in self.routes})
        if prefix:
            return Response(200, {"namespace": "wc/v3", "routes": routes})
        return Response(
            200, {"name": "Shop", "url": "https://shop.example", "namespaces": namespaces, "routes": routes}
        )

    @staticmethod
    def _describe(route: Route) -> JSON:
        def arg(spec: Arg) -> JSON:
            out: JSON = {"required": spec.required, "type": "string" if spec.type == "date-time" else spec.type}
            if spec.type == "date-time":
                out["format"] = "date-time"
            if spec.enum:
                out["enum"] = list(spec.enum)
            if spec.minimum is not None:
                out["minimum"] = spec.minimum
            if spec.maximum is not None:
                out["maximum"] = spec.maximum
            return out

        return {
            "namespace": route.namespace,
            "methods": list(route.methods),
            "endpoints": [
                {"methods": [m], "args": {name: arg(spec) for name, spec in args.items()}}
                for m, (_, args) in route.methods.items()
            ],
        }

    # Authentication (WC_REST_Authentication) -------------------------------------------

    def _routes(self) -> list[Route]:
        wc = "/wc/v3"
        order_list = {
            **COLLECTION,
            "orderby": Arg(enum=("date", "id", "include", "title", "slug", "modified")),
            "status": Arg("array", enum=("any", *ORDER_STATUSES, "trash", "checkout-draft")),
            "modified_after": Arg("date-time"),
            "modified_before": Arg("date-time"),
            "dates_are_gmt": Arg("boolean"),
            "customer": Arg("integer"),
            "product": Arg("integer"),
            "dp": Arg("integer"),
        }
        product_list = {
            **COLLECTION,
            "orderby": Arg(
                enum=("date", "id", "include", "title", "slug", "price", "popularity", "rating", "modified")
            ),
            "status": Arg(enum=("any", "draft", "pending", "private", "publish")),
            "type": Arg(enum=("simple", "grouped", "external", "variable")),
            "sku": Arg(),
            "modified_after": Arg("date-time"),
            "modified_before": Arg("date-time"),
            "dates_are_gmt": Arg("boolean"),
        }
        stock_fields = {"stock_quantity": Arg("integer"), "manage_stock": Arg(), "sku": Arg()}
        tracking = "/wc-shipment-tracking/v3/orders/(?P<order_id>[\\d]+)/shipment-trackings"
        return [
            Route("wc/v3", wc + "/orders", {"GET": (self.list_orders, order_list)}),
            Route(
                "wc/v3",
                wc + "/orders/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_order, {"id": Arg("integer")}),
                    "PUT": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                    "POST": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                    "PATCH": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/orders/(?P<order_id>[\\d]+)/notes",
                {
                    "GET": (
                        self.list_notes,
                        {"order_id": Arg("integer"), "type": Arg(enum=("any", "customer", "internal"))},
                    ),
                    "POST": (
                        self.create_note,
                        {
                            "order_id": Arg("integer"),
                            "note": Arg(required=True),
                            "customer_note": Arg("boolean"),
                            "added_by_user": Arg("boolean"),
                        },
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/orders/(?P<order_id>[\\d]+)/refunds",
                {
                    "GET": (self.list_refunds, {"order_id": Arg("integer"), **COLLECTION}),
                },
            ),
            Route("wc/v3", wc + "/products", {"GET": (self.list_products, product_list)}),
            Route("wc/v3", wc + "/products/batch", {m: (self.batch_products, {}) for m in ("POST", "PUT", "PATCH")}),
            Route(
                "wc/v3",
                wc + "/products/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_product, {"id": Arg("integer")}),
                    "PUT": (self.update_product, {"id": Arg("integer"), **stock_fields}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations",
                {
                    "GET": (self.list_variations, {"product_id": Arg("integer"), **product_list}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations/batch",
                {m: (self.batch_variations, {"product_id": Arg("integer")}) for m in ("POST", "PUT", "PATCH")},
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_variation, {"product_id": Arg("integer"), "id": Arg("integer")}),
                    "PUT": (
                        self.update_variation,
                        {"product_id": Arg("integer"), "id": Arg("integer"), **stock_fields},
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/webhooks",
                {
                    "GET": (self.list_webhooks, COLLECTION),
                    "POST": (
                        self.create_webhook,
                        {
                            "name": Arg(),
                            "topic": Arg(required=True),
                            "secret": Arg(required=True),
                            "delivery_url": Arg(required=True),
                            "status": Arg(enum=("active", "paused", "disabled")),
                        },
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/webhooks/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_webhook, {"id": Arg("integer")}),
                    "PUT": (
                        self.update_webhook,
                        {"id": Arg("integer"), "status": Arg(enum=("active", "paused", "disabled"))},
                    ),
                    "DELETE": (self.delete_webhook, {"id": Arg("integer"), "force": Arg("boolean")}),
                },
            ),
            Route("wc/v3", wc + "/system_status", {"GET": (self.system_status, {})}),
            *(
                [
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking,
                        {
                            "GET": (self.list_trackings, {"order_id": Arg("integer")}),
                            "POST": (
                                self.create_tracking,
                                {
                                    "order_id": Arg("integer"),
                                    "tracking_number": Arg(required=True),
                                    "tracking_provider": Arg(),
                                    "custom_tracking_provider": Arg(),
                                    "custom_tracking_link": Arg(),
                                    "date_shipped": Arg(),
                                },
                            ),
                        },
                    ),
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking + "/providers",
                        {
                            "GET": (self.list_providers, {"order_id": Arg("integer")}),
                        },
                    ),
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking + "/(?P<tracking_id>[\\w]+)",
                        {
                            "GET": (self.get_tracking, {"order_id": Arg("integer")}),
                            "DELETE": (self.delete_tracking, {"order_id": Arg("integer")}),
                        },
                    ),
                ]
                if self.sim.shipment_tracking
                else []
            ),
        ]

    # Paging ---------------------------------------------------------------------------

def _rate_limited(wait: float) -> Response:
    """A host limiter's 429; ``Retry-After`` in whole seconds, or the fraction a test asked for."""
    text = retry_after_text(wait)
    return Response(
        429,
        {
            "code": "rate_limit_exceeded",
            "message": f"Too many requests. Please wait {text} seconds before trying again.",
            "data": {"status": 429},
        },
        {"Retry-After": text},
    )


def _answer(response: Response) -> Answer:
    payload = response.raw if response.raw is not None else json.dumps(response.body).encode()
    return Answer(response.status, payload, response.content_type, dict(response.headers))


def _error_answer(status: int) -> Answer:
    """What a PHP fatal error looks like through WordPress."""
    return _answer(ApiBase._error(WPError(status, "internal_server_error", CRITICAL_ERROR)))


def _rate_limited_answer(seconds: float) -> Answer:
    return _answer(_rate_limited(seconds))


def create_app(
    state: WooState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    https: bool = True,
    **settings: Any,
) -> WooSimulator:
    """Build a simulated store; its state is at ``app.state.sim``.

    ``settings`` are passed to ``WooState`` (``wc_version``, ``timezone``, ``shipment_tracking``,
    ``rate_limit``, ``strips_authorization``, ``currency``) when no state is given; with a state,
    only ``faults`` is applied to it.
    """
    if state is None:
        state = WooState(seed=seed, clock=clock, faults=faults, https=https, **settings)
    elif faults is not None:
        state.faults = faults
    return WooSimulator(state)


class _AppState:
    """Starlette-style ``app.state`` namespace so every simulator exposes ``app.state.sim``."""

    def __init__(self, sim: WooState) -> None:
        self.sim = sim
