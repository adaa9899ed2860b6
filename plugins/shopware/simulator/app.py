"""The simulated Admin API over ASGI: routing, OAuth, Bearer checks, spec checks.

Requests pass ``kade.sim``'s fault layer first (the shop's random ``faults`` and its
``scripted_faults`` from ``ShopwareState.inject``): errors and 429s in Shopware's envelope,
timeouts before and after the request was applied.

Only ``Accept: application/json`` is served (Shopware's default is JSON:API; asking for it is a
loud 501 here, as is every route the simulator does not implement).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.shopware.simulator import criteria as crit
from kade.plugins.shopware.simulator.errors import JSON, ShopwareError, ShopwareErrors, unimplemented
from kade.plugins.shopware.simulator.render import render_order, render_product, render_state
from kade.plugins.shopware.simulator.state import SHOPWARE_VERSION, ShopwareState, new_id
from kade.sim.faults import Answer, FaultLayer, Receive, Scope, Send, retry_after_text

#: fields of order_delivery the simulator lets a PATCH write
DELIVERY_WRITABLE = {"id", "trackingCodes", "customFields"}
#: fields of product the Sync API upsert accepts here; required ones for a new product
PRODUCT_WRITABLE = {"id", "stock", "productNumber", "name", "taxId", "price", "ean", "active"}
PRODUCT_REQUIRED = ("taxId", "price", "productNumber", "name")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ShopwareError(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", "The request body is not valid JSON.")\
                from None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


Handler = Callable[[Request, re.Match[str]], Response]


class ShopwareSimulator:
    def __init__(self, sim: ShopwareState) -> None:
        self.sim = sim
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(r"^/api/oauth/token$"), self.token),
            ("GET", re.compile(r"^/api/_info/version$"), self.version),
            ("POST", re.compile(r"^/api/search/(order|product)$"), self.search),
            ("PATCH", re.compile(r"^/api/order-delivery/([0-9a-f]{32})$"), self.patch_delivery),
            ("POST", re.compile(r"^/api/_action/(order|order_delivery)/([0-9a-f]{32})/state/([a-z_]+)$"),
             self.transition),
            ("POST", re.compile(r"^/api/_action/sync$"), self.sync),
        ]

        self._faults = FaultLayer(self._serve, sim, error=_error_answer, rate_limited=_rate_limited_answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._faults(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        request = Request(scope["method"].upper(), scope["path"], query, headers, body)
        response = self.handle(request)
        payload = response.payload()
        out = [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()]
        if payload:
            out.append((b"content-type", b"application/json"))
        out.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    def handle(self, request: Request) -> Response:
        with self.sim.lock:
            response = self._dispatch(request)
            if self.sim.spec is not None:
                self.sim.spec.check(request.method, request.path, request.body, response.status,
                                    "application/json", response.payload())
            return response

    def _dispatch(self, request: Request) -> Response:
        try:
            for method, pattern, handler in self.routes:
                match = pattern.match(request.path)
                if match is not None and method == request.method:
                    if handler != self.token:
                        self._check_accept(request)
                        self.sim.authenticate(request.headers.get("authorization"))
                    return handler(request, match)
            raise unimplemented(request.method, request.path)
        except ShopwareError as err:
            return Response(err.status, err.body(), err.headers)

    @staticmethod
    def _check_accept(request: Request) -> None:
        accept = request.headers.get("accept", "*/*")
        if "application/json" not in accept:
            raise ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                                f"Accept {accept!r} means JSON:API (Shopware's default), which the simulator does "
                                "not implement; send Accept: application/json")

    # ------------------------------------------------------------------ OAuth

    def token(self, request: Request, match: re.Match[str]) -> Response:
        sim = self.sim
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type:
            body: Any = dict(parse_qsl(request.body.decode()))
        else:
            body = request.json()
        if not isinstance(body, dict) or "grant_type" not in body:
            raise ShopwareError(400, "3", "The request is missing a required parameter, includes an invalid "
                                "parameter value, includes a parameter more than once, or is otherwise malformed.",
                                meta={"hint": 'Check the `grant_type` parameter'})
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):  # client_credentials may come as HTTP Basic
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = ""
            body.setdefault("client_id", client_id)
            body.setdefault("client_secret", secret)
        allowed, retry_after, _ = sim.limiter.hit("oauth", str(body.get("client_id") or body.get("username")))
        if not allowed:
            raise ShopwareError(429, "FRAMEWORK__RATE_LIMIT_EXCEEDED",
                                f"Too many requests, try again in {math.ceil(retry_after)} seconds.",
                                headers={"Retry-After": str(math.ceil(retry_after))})
        grant = body["grant_type"]
        if grant == "client_credentials":
            integration = sim.integrations.get(str(body.get("client_id")))
            if integration is None or not integration.active or integration.secret != body.get("client_secret"):
                raise ShopwareError(401, "1", "Client authentication failed", meta={"parameters": []})
            return Response(200, sim.issue_token(integration.access_key))
        if grant == "password":
            if body.get("client_id") != "administration":
                raise ShopwareError(401, "1", "Client authentication failed", meta={"parameters": []})
            user = sim.users.get(str(body.get("username")))
            if user is None or not user.active or user.password != body.get("password"):
                raise ShopwareError(400, "6", "The user credentials were incorrect.", meta={"parameters": []})
            return Response(200, sim.issue_token(f"user:{user.username}", refresh=True))
        if grant == "refresh_token":
            principal = sim.refresh_tokens.pop(str(body.get("refresh_token")), None)
            if principal is None or not sim.principal_active(principal):
                raise ShopwareError(401, "10", "The refresh token is invalid.", meta={"parameters": []})
            return Response(200, sim.issue_token(principal, refresh=True))
        raise ShopwareError(400, "2", "The authorization grant type is not supported by the authorization server.",
                            meta={"hint": "Check that all required parameters have been provided"})

    def version(self, request: Request, _: re.Match[str]) -> Response:
        return Response(200, {"version": SHOPWARE_VERSION})

    # ------------------------------------------------------------------ reads

    def search(self, request: Request, match: re.Match[str]) -> Response:
        entity = match.group(1)
        criteria = crit.parse(entity, request.json() if request.body else {})
        sim = self.sim
        records: list[Any] = list(sim.orders.values()) if entity == "order" else list(sim.products.values())
        page, total = crit.search(criteria, records)
        if entity == "order":
            data = [render_order(o, criteria.associations) for o in page]
        else:
            data = [render_product(p) for p in page]
        return Response(200, {"total": total, "data": data, "aggregations": []})

    # ------------------------------------------------------------------ writes

    def patch_delivery(self, request: Request, match: re.Match[str]) -> Response:
        sim = self.sim
        order, delivery = sim.delivery(match.group(1))
        body = request.json()
        if not isinstance(body, dict):
            raise ShopwareError(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", "The body must be a JSON object.")
        unknown = set(body) - DELIVERY_WRITABLE
        if unknown:
            raise ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                                f"writing {', '.join(sorted(unknown))} of order_delivery is not implemented")
        codes = body.get("trackingCodes", delivery.tracking_codes)
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise ShopwareError(400, "VIOLATION::TYPE_ERROR", "trackingCodes must be a list of non-empty strings.",
                                pointer="/trackingCodes")
        extra = body.get("customFields", {})
        if not isinstance(extra, dict):
            raise ShopwareError(400, "VIOLATION::TYPE_ERROR", "customFields must be an object.",
                                pointer="/customFields")
        delivery.tracking_codes = list(codes)  # a PATCH replaces the list
        delivery.custom_fields.update(extra)  # JSON fields merge key by key
        delivery.updated_at = order.updated_at = sim.now()
        sim.emit("order_delivery.written", "order_delivery", delivery.id)
        if "_response" not in request.query:
            return Response(204)
        rendered = render_order(order, {"deliveries": {}})["deliveries"]
        return Response(200, {"data": next(d for d in rendered if d["id"] == delivery.id)})

    def transition(self, request: Request, match: re.Match[str]) -> Response:
        entity, entity_id, transition = match.groups()
        body = request.json() if request.body else {}
        if body is not None and not isinstance(body, dict):
            raise ShopwareError(400, "FRAMEWORK__INVALID_REQUEST_PARAMETER", "The body must be a JSON object.")
        if entity == "order":
            machine, target = self.sim.transition_order(entity_id, transition)
        else:
            machine, target = self.sim.transition_delivery(entity_id, transition)
        return Response(200, {"data": render_state(machine, target)})

    def sync(self, request: Request, _: re.Match[str]) -> Response:
        """Upserts of product stock, in one transaction: any bad item fails the whole request."""
        if request.headers.get("fail-on-error", "true").lower() in ("0", "false"):
            raise ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                                "fail-on-error: false is not modelled; every sync is one transaction here")
        body = request.json()
        if isinstance(body, dict):
            operations = list(body.items())
        elif isinstance(body, list):
            operations = [(str(op.get("key", i)) if isinstance(op, dict) else str(i), op)
                          for i, op in enumerate(body)]
        else:
            raise ShopwareError(400, "FRAMEWORK__INVALID_SYNC_OPERATION", "The sync body must list operations.")
        sim = self.sim
        errors: list[ShopwareError] = []
        writes: list[tuple[str | None, JSON]] = []
        for key, op in operations:
            if not isinstance(op, dict) or op.get("entity") != "product" or op.get("action") != "upsert":
                entity = op.get("entity") if isinstance(op, dict) else None
                action = op.get("action") if isinstance(op, dict) else None
                raise ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                                    f"sync {action!r} of {entity!r} is not implemented (only product upserts)")
            payload = op.get("payload")
            if not isinstance(payload, list):
                raise ShopwareError(400, "FRAMEWORK__INVALID_SYNC_OPERATION",
                                    f"operation {key} needs a payload list", pointer=f"/{key}")
            for i, item in enumerate(payload):
                pointer = f"/{key}/{i}"
                if not isinstance(item, dict):
                    errors.append(ShopwareError(400, "FRAMEWORK__WRITE_MALFORMED_INPUT", "Expected an object.",
                                                pointer=pointer))
                    continue
                unknown = set(item) - PRODUCT_WRITABLE
                if unknown:
                    raise ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                                        f"writing {', '.join(sorted(unknown))} of product is not implemented")
                stock = item.get("stock")
                if "stock" in item and (not isinstance(stock, int) or isinstance(stock, bool)):
                    errors.append(ShopwareError(400, "VIOLATION::TYPE_ERROR", "This value should be of type int.",
                                                pointer=f"{pointer}/stock"))
                    continue
                product_id = item.get("id")
                if product_id not in sim.products:
                    missing = [f for f in PRODUCT_REQUIRED if f not in item]
                    errors += [ShopwareError(400, "VIOLATION::IS_BLANK_ERROR", "This value should not be blank.",
                                             pointer=f"{pointer}/{f}") for f in missing]
                    if missing:
                        continue
                writes.append((product_id, item))
        if errors:
            raise ShopwareErrors(400, errors)  # nothing was written: the transaction rolled back
        written: list[str] = []
        for product_id, item in writes:
            if product_id is None or product_id not in sim.products:
                product = sim.add_product(str(item["productNumber"]), stock=int(item.get("stock", 0)),
                                          name=str(item["name"]))
                written.append(product.id)
                continue
            product = sim.products[product_id]
            if "stock" in item:
                product.stock = int(item["stock"])
            product.updated_at = sim.now()
            written.append(product.id)
            sim.emit("product.written", "product", product.id)
        return Response(200, {"data": {"product": written}, "notFound": {}, "deleted": {}})


def _error_answer(status: int) -> Answer:
    error = ShopwareError(status, "FRAMEWORK__INTERNAL_ERROR" if status >= 500 else "SIMULATOR__SCRIPTED_FAULT",
                          "simulated fault")
    return Answer(status, json.dumps(error.body()).encode())


def _rate_limited_answer(retry_after: float) -> Answer:
    error = ShopwareError(429, "FRAMEWORK__RATE_LIMIT_EXCEEDED", "Too many requests.")
    return Answer(429, json.dumps(error.body()).encode(), headers={"Retry-After": retry_after_text(retry_after)})


def create_app(sim: ShopwareState | None = None) -> ShopwareSimulator:
    """The ASGI app over a shop (a fresh one with an integration when none is given)."""
    if sim is None:
        sim = ShopwareState()
        sim.add_integration()
    return ShopwareSimulator(sim)


__all__ = ["ShopwareSimulator", "create_app", "new_id"]
