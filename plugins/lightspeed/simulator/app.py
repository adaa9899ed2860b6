"""The ASGI app: faults (``kade.sim.faults``), hosts, the language segment, Basic auth, rate-limit
headers, routing.

Every answer is JSON whose first key is the resource (``{"order": ...}``, ``{"orders": [...]}``,
``{"count": n}``) or ``error``: ``{"error": {"code", "method", "request", "message"}}``. A path the
simulator does not implement answers 501 naming it — never an empty success.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.lightspeed.simulator.state import CLUSTERS, LightspeedState
from kade.sim.faults import Answer, FaultLayer, Receive, Scope, Send, retry_after_text

JSON = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    language: str = ""
    #: the resource path without language and ``.json``, e.g. ``orders/12/products``
    resource: str = ""
    shop_id: int = 0
    budget_key: str = ""
    match: dict[str, str] = field(default_factory=dict)

    def json(self, wrapper: str) -> JSON:
        """The write body, unwrapped from its singular resource name."""
        if "application/json" not in self.headers.get("content-type", ""):
            raise ApiError(415, "Content-Type must be application/json")
        try:
            body = json.loads(self.body or b"null")
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
            raise ApiError(400, f"Request body must be an object wrapped in {wrapper!r}")
        inner: JSON = body[wrapper]
        return inner

    def int_arg(self, name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"\d+", raw):
            raise ApiError(400, f"Invalid value for {name}: {raw!r} is not a positive integer")
        value = int(raw)
        if value < low or (high is not None and value > high):
            raise ApiError(400, f"Invalid value for {name}: must be between {low} and {high}")
        return value


@dataclass
class Response:
    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[LightspeedState, Request], Response]
#: (method, path) of the request being served, for the fault layer's error bodies
_CURRENT: ContextVar[tuple[str, str]] = ContextVar("lightspeed_request", default=("", ""))
#: hosts a served simulator answers for any cluster (``kade demo --serve``)
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_PATH = re.compile(r"^/(?P<lang>[a-z]{2})/(?P<resource>[a-z0-9_/]+)\.json$")


class LightspeedSimulator:
    """ASGI entry point; the shop data is ``state`` (also ``app.state.sim``)."""

    def __init__(self, state: LightspeedState) -> None:
        from kade.plugins.lightspeed.simulator.routes import ROUTES

        self.sim = state
        self.state = _AppState(state)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in ROUTES
        ]
        self._faults = FaultLayer(self._serve, state, error=_error_answer, rate_limited=_rate_limited_answer,
                                  random_error_status=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # the fault layer's canned errors name the request, as Lightspeed's error body does
            _CURRENT.set((str(scope["method"]).upper(), str(scope["path"])))
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
        host = headers.get("host", "").split(":")[0].lower()
        request = Request(method=scope["method"].upper(), host=host, path=scope["path"], query=query,
                          headers=headers, body=body)
        response = self.handle(request)
        payload = json.dumps(response.body).encode()
        out = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(payload)).encode())]
        out += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    def handle(self, request: Request) -> Response:
        state = self.sim
        with state.lock:
            state.requests.append((request.method, request.path))
            try:
                return self._handle(request)
            except ApiError as err:
                return error(request, err.status, err.message, err.headers)

    def _handle(self, request: Request) -> Response:
        state = self.sim
        if request.host not in CLUSTERS.values() and request.host not in LOCAL_HOSTS:
            raise ApiError(404, f"Unknown API host {request.host!r}")
        match = _PATH.match(request.path)
        if match is None:
            raise ApiError(404, "Resource not found: paths are /<language>/<resource>.json")
        request.language, request.resource = match["lang"], match["resource"]
        self._authenticate(request)
        shop = state.shops[request.shop_id]
        if request.host not in LOCAL_HOSTS and CLUSTERS[shop.cluster] != request.host:
            raise ApiError(401, "Invalid API credentials for this cluster")
        verdict = state.limiter.hit(request.budget_key)
        if not verdict.allowed:
            raise ApiError(429, "Too Many Requests: rate limit exceeded", verdict.headers)
        limits = verdict.headers
        if request.language not in shop.languages:
            raise ApiError(404, f"Language {request.language!r} is not active in this shop "
                                f"(active: {', '.join(shop.languages)})", limits)
        try:
            response = self._route(request)
        except ApiError as err:  # a counted request: its error answer carries the budget too
            err.headers = {**limits, **err.headers}
            raise
        response.headers.update(limits)
        return response

    def _authenticate(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic" or not value:
            raise ApiError(401, "Missing API credentials: use HTTP Basic authentication")
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Malformed Basic credentials") from None
        found = self.sim.authenticate(user, password)
        if found is None:
            raise ApiError(401, "Invalid API credentials")
        request.shop_id, request.budget_key = found

    def _route(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self.routes:
            match = pattern.match(request.resource)
            if match is None:
                continue
            allowed = True
            if method == request.method:
                request.match = match.groupdict()
                return handler(self.sim, request)
        if allowed:
            raise ApiError(405, f"Method {request.method} is not allowed on {request.resource}")
        raise ApiError(501, f"The Lightspeed simulator does not implement {request.method} {request.path}")


def error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"code": status, "method": request.method, "request": request.path, "message": message}}
    return Response(status, body, dict(headers or {}))


def _error_body(status: int, message: str) -> bytes:
    method, path = _CURRENT.get()
    return json.dumps({"error": {"code": status, "method": method, "request": path, "message": message}}).encode()


def _error_answer(status: int) -> Answer:
    """A scripted or random failure, in Lightspeed's error body."""
    message = {404: "Not found", 429: "Too Many Requests"}.get(status, "Internal server error")
    return Answer(status, _error_body(status, message), "application/json; charset=utf-8")


def _rate_limited_answer(wait: float) -> Answer:
    """A 429 the fault layer answers (another client spent the budget): ``Retry-After`` only."""
    return Answer(429, _error_body(429, "Too Many Requests: rate limit exceeded"), "application/json; charset=utf-8",
                  {"Retry-After": retry_after_text(wait)})


class _AppState:
    def __init__(self, sim: LightspeedState) -> None:
        self.sim = sim
