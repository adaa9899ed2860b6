"""The simulated Magento as an ASGI app: routing, authentication, faults and the spec check.

Requests pass ``kade.sim``'s fault layer first (the installation's ``faults`` at random, its
``scripted_faults`` from ``MagentoState.inject``). Every request under ``/rest/[<store>/]V1/...``
is matched to an operation of the official 2.4.9 spec, authenticated, checked against the spec,
served, and its answer checked again before it leaves (``spec.SpecCheck``). A path Magento has
but the simulator does not implement answers a loud 501 naming it; a path Magento does not
have answers Magento's own 404.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.magento.simulator import handlers
from kade.plugins.magento.simulator.oauth import authenticate
from kade.plugins.magento.simulator.spec import RequestViolation, SpecCheck, load_spec
from kade.plugins.magento.simulator.state import MagentoError, MagentoState
from kade.sim.faults import Answer, FaultLayer, Receive, Scope, Send, retry_after_text

NO_ROUTE = "Request does not match any route."
#: the ACL resource each operation needs (the 401 names it)
RESOURCES = {
    "orders": "Magento_Sales::actions_view",
    "order": "Magento_Sales::ship",
    "shipments": "Magento_Sales::shipment",
    "shipment": "Magento_Sales::shipment",
    "invoices": "Magento_Sales::sales_invoice",
    "products": "Magento_Catalog::products",
    "stockItems": "Magento_CatalogInventory::cataloginventory",
    "inventory": "Magento_InventoryApi::source",
    "store": "Magento_Backend::store",
}


@dataclass
class Request:
    method: str
    scheme: str
    host: str
    path: str
    #: the path from ``/V1`` on
    v1: str
    store: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    params: dict[str, str] = field(default_factory=dict)
    #: the answer carries a record a test broke on purpose (``MagentoState.malform``)
    off_spec: bool = False


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _error(err: MagentoError) -> Response:
    return Response(err.status, err.body())


def _error_answer(status: int) -> Answer:
    """What Magento's webapi answers when PHP falls over (the details go to its log)."""
    body = {"message": "Internal Error. Details are available in Magento log file. Report ID: webapi-%1",
            "parameters": ["6a1b2c3d"]}
    return Answer(status, json.dumps(body).encode())


def _rate_limited_answer(seconds: float) -> Answer:
    """Magento has no REST rate limit; a CDN or WAF in front of it answers this."""
    return Answer(429, json.dumps({"message": "Too many requests."}).encode(),
                  headers={"Retry-After": retry_after_text(seconds)})


class MagentoSimulator:
    """The ASGI application; ``state.sim`` is the installation behind it."""

    def __init__(self, sim: MagentoState, *, spec: SpecCheck | None = None) -> None:
        self.sim = sim
        self.spec = spec or SpecCheck()
        self.state = _AppState(sim)
        #: literal paths before templated ones (/V1/customers/search before /V1/customers/{customerId})
        self._all = sorted(((m, t) for m, t in load_spec()["all_operations"]), key=lambda mt: mt[1].count("{"))
        self._faults = FaultLayer(self._asgi, sim, error=_error_answer, rate_limited=_rate_limited_answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._faults(scope, receive, send)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self.sim.lock:
            response = self._serve(scope["method"].upper(), scope.get("scheme", "http"), headers, scope["path"],
                                   scope.get("query_string", b"").decode("latin-1"), raw)
        payload = json.dumps(response.body).encode()
        out = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(payload)).encode())]
        out += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    def _serve(self, method: str, scheme: str, headers: dict[str, str], path: str, query_string: str,
               raw: bytes) -> Response:
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "rest":
            return Response(404, {"message": NO_ROUTE})
        store = "default" if parts[2] == "V1" else parts[2]
        rest = parts[2:] if parts[2] == "V1" else parts[3:]
        if rest[:1] == ["async"] or parts[2] == "async":
            return Response(501, {"message": "The Magento simulator does not implement the asynchronous API (%1).",
                                  "parameters": [path]})
        v1 = "/" + "/".join(rest)
        if not v1.startswith("/V1/"):
            return Response(404, {"message": NO_ROUTE})
        if store != "all" and self.sim.store(store) is None:
            return Response(404, {"message": "The store that was requested wasn't found. Verify the store and "
                                             "try again."})
        op = self.spec.match(method, v1)
        if op is None:
            template = self._template(method, v1)
            if template is not None:
                return Response(501, {"message": "The Magento simulator does not implement %1 %2.",
                                      "parameters": [method, template]})
            return Response(404, {"message": NO_ROUTE})
        if op.template.startswith("/V1/inventory/") and not self.sim.msi:
            return Response(404, {"message": NO_ROUTE})  # Magento_Inventory* modules disabled
        query = parse_qsl(query_string, keep_blank_values=True)
        request = Request(method, scheme, headers.get("host", "magento.test"), path, v1, store, query, headers, None,
                          op.path_params(v1))
        try:
            response = self._operation(op, request, raw)
        except MagentoError as err:
            response = _error(err)
        if request.off_spec:
            self.spec.tolerate(op, response.status, response.body)
        else:
            self.spec.check_response(op, response.status, response.body)
        return response

    def _operation(self, op: Any, request: Request, raw: bytes) -> Response:
        resource = RESOURCES.get(request.v1.split("/")[2], "Magento_Backend::admin")
        url = f"{request.scheme}://{request.host}{request.path}"
        authenticate(self.sim, method=request.method, url=url, query=request.query,
                     authorization=request.headers.get("authorization", ""), resource=resource)
        if any(k == "fields" for k, _ in request.query):
            return Response(501, {"message": "The Magento simulator does not implement ?fields= filtering."})
        if raw:
            if "json" not in request.headers.get("content-type", ""):
                return Response(501, {"message": "The Magento simulator speaks JSON only, not %1.",
                                      "parameters": [request.headers.get("content-type", "")]})
            try:
                request.body = json.loads(raw)
            except ValueError as exc:
                raise MagentoError(400, "Decoding error: %1", [str(exc)]) from None
        try:
            self.spec.check_request(op, request.v1, request.query, request.body)
        except RequestViolation as exc:
            raise MagentoError(400, "The request does not match the 2.4.9 admin REST spec: %1", [str(exc)]) from None
        handler = handlers.HANDLERS.get(op.operation_id)
        if handler is None:
            return Response(501, {"message": "The Magento simulator does not implement %1.",
                                  "parameters": [op.operation_id]})
        status, body = handler(self.sim, request)
        return Response(status, body)

    def _template(self, method: str, v1: str) -> str | None:
        for m, template in self._all:
            if m == method and re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), v1):
                return str(template)
        return None


class _AppState:
    """Starlette-style ``app.state`` so every simulator exposes its store as ``app.state.sim``."""

    def __init__(self, sim: MagentoState) -> None:
        self.sim = sim


def create_app(state: MagentoState | None = None, **settings: Any) -> MagentoSimulator:
    """A simulated Magento; ``settings`` go to ``MagentoState`` when no state is given."""
    return MagentoSimulator(state if state is not None else MagentoState(**settings))
