"""The ASGI app: signatures, the two per-minute limits, faults (``kade.sim.faults``), routing.

Layers, outside in: ``SigningLayer`` signs every answer (also injected faults), ``FaultLayer``
applies scripted and random faults, then the shop checks ``x-public``/``x-date``/``x-hash``,
counts the request against its per-minute limits (``429.10`` per resource and method, ``429.11``
in total) and routes it. Errors are CCV's body ``{"code", "status", "developermessage",
"moreinfo"}``; a request the simulator does not implement gets ``501.20`` naming it.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.ccv.simulator.render import PREFIX
from kade.plugins.ccv.simulator.signing import MAX_SKEW, SigningLayer, digest, parse_x_date, uri_of
from kade.plugins.ccv.simulator.state import RESOURCES, CcvState
from kade.sim.faults import Answer, FaultLayer, Receive, Scope, Send, retry_after_text

JSON = dict[str, Any]
LOCAL_HOSTS = ("127.0.0.1", "localhost")


class ApiError(Exception):
    """An error answer; ``code`` is CCV's ``<status>.<sub>``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(status: int, code: str, message: str) -> bytes:
    return json.dumps({"code": code, "status": status, "developermessage": message,
                       "moreinfo": "https://demo.ccvshop.nl/API/Docs/"}).encode()


@dataclass
class Request:
    method: str
    path: str
    uri: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    public: str = ""
    match: dict[str, str] = field(default_factory=dict)

    def json(self) -> JSON:
        if "json" not in self.headers.get("content-type", ""):
            raise ApiError(415, "415.10", "Content-Type must be application/json")
        try:
            body = json.loads(self.body or b"null")
        except ValueError:
            raise ApiError(400, "400.10", "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "400.10", "Request body must be a JSON object")
        return body

    def int_arg(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
            raise ApiError(400, "400.20", f"Invalid value for '{name}': {raw!r} (from {low} to {high})")
        return int(raw)


@dataclass
class Response:
    status: int
    body: JSON | None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[CcvState, Request], Response]


def resource_of(path: str) -> str:
    names = [p for p in path.strip("/").split("/") if p and not p.isdigit()]
    return names[-1] if names else "root"


class CcvSimulator:
    """ASGI entry point; the shop is ``sim`` (also ``app.state.sim``)."""

    def __init__(self, state: CcvState) -> None:
        from kade.plugins.ccv.simulator.routes import ROUTES

        self.sim = state
        self.state = _AppState(state)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES
        ]
        faults = FaultLayer(self._serve, state, error=_error_answer, rate_limited=self._rate_limited_answer,
                            random_error_status=500)
        self._outer = SigningLayer(faults, self._secret_for, state.clock.now, state.take_tamper)

    def _secret_for(self, public: str) -> str | None:
        key = self.sim.keys.get(public)
        return key.secret if key is not None else None

    def _rate_limited_answer(self, wait: float) -> Answer:
        headers = {"Retry-After": retry_after_text(wait)} if self.sim.send_retry_after else {}
        return Answer(429, error_body(429, "429.11", "Total API request limit per minute reached"),
                      headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._outer(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        request = Request(method=str(scope["method"]).upper(), path=scope["path"], uri=uri_of(scope), query=query,
                          headers=headers, body=body)
        response = self.handle(request)
        payload = json.dumps(response.body).encode() if response.body is not None else b""
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        out += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    def handle(self, request: Request) -> Response:
        with self.sim.lock:
            self.sim.requests.append((request.method, request.uri))
            try:
                return self._handle(request)
            except ApiError as err:
                return Response(err.status, json.loads(error_body(err.status, err.code, err.message)), err.headers)

    def _handle(self, request: Request) -> Response:
        host = request.headers.get("host", "").split(":")[0].lower()
        if host != self.sim.host and host not in LOCAL_HOSTS:
            raise ApiError(404, "404.10", f"No web shop at {host!r}")
        if not request.path.startswith(PREFIX.rstrip("/")):
            raise ApiError(404, "404.20", f"Invalid resource: the API lives under {PREFIX}")
        self._authenticate(request)
        resource_path = request.path[len(PREFIX):].strip("/") if len(request.path) >= len(PREFIX) else ""
        self._count(request, resource_of(resource_path))
        return self._route(request, resource_path)

    def _authenticate(self, request: Request) -> None:
        public = request.headers.get("x-public", "")
        date = request.headers.get("x-date", "")
        given = request.headers.get("x-hash", "")
        if not public or not date or not given:
            raise ApiError(401, "401.10", "Missing authentication headers (x-public, x-date, x-hash)")
        key = self.sim.keys.get(public)
        if key is None or not key.active:
            raise ApiError(401, "401.20", "Unknown or revoked public key")
        moment = parse_x_date(date)
        if moment is None:
            raise ApiError(401, "401.30", f"x-date {date!r} is not an ISO-8601 timestamp with an offset")
        if abs(moment - self.sim.clock.now()) > MAX_SKEW:
            raise ApiError(401, "401.31", "x-date is more than 5 minutes off the server time")
        expected = digest(public, request.method, request.uri, request.body, date, key.secret)
        if not hmac.compare_digest(expected, given.strip().lower()):
            raise ApiError(401, "401.40", "x-hash does not match the request")
        request.public = public

    def _count(self, request: Request, resource: str) -> None:
        limiter = self.sim.limiter
        allowed, wait, _ = limiter.hit("method", f"{request.public}|{resource}|{request.method}")
        code, message = "429.10", f"Request limit per minute reached for {request.method} {resource}"
        if allowed:
            allowed, wait, _ = limiter.hit("total", request.public)
            code, message = "429.11", "Total API request limit per minute reached"
        if not allowed:
            headers = {"Retry-After": retry_after_text(round(wait + 0.5))} if self.sim.send_retry_after else {}
            raise ApiError(429, code, message, headers)

    def _route(self, request: Request, resource_path: str) -> Response:
        allowed: list[str] = []
        for method, pattern, handler in self.routes:
            match = pattern.match(resource_path)
            if match is None:
                continue
            allowed.append(method)
            if method == request.method:
                key = self.sim.keys[request.public]
                name = resource_of(resource_path)
                if name != "root" and name in RESOURCES and name not in key.resources:
                    raise ApiError(403, "403.10", f"This API key has no access to {name}")
                request.match = match.groupdict()
                return handler(self.sim, request)
        if allowed:
            raise ApiError(405, "405.10", f"Method {request.method} is not allowed on {request.path} "
                                          f"(allowed: {', '.join(sorted(set(allowed)))})")
        raise ApiError(501, "501.20", f"The CCV Shop simulator does not implement {request.method} {request.path}")


def _error_answer(status: int) -> Answer:
    """A scripted or random failure, in CCV's error body."""
    code, message = {404: ("404.20", "Invalid resource"), 429: ("429.11", "Total API request limit per minute reached"),
                     503: ("503.10", "Service unavailable")}.get(status, (f"{status}.10", "Internal server error"))
    return Answer(status, error_body(status, code, message))


class _AppState:
    def __init__(self, sim: CcvState) -> None:
        self.sim = sim
