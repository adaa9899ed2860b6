"""What bol's API gateway does before a handler: problem bodies, auth, media types, rate limits."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kade.plugins.bol.protocol import JSON_TYPE
from kade.plugins.bol.simulator.models import PROBLEM_TYPE, iso
from kade.plugins.bol.simulator.state import BolSimState

# --------------------------------------------------------------------------------------------
# HTTP plumbing


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str = "",
    violations: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    media_type: str = JSON_TYPE,
) -> Response:
    """Bol's problem body (``Problem`` in the spec), in the vendor media type."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "host": "Instance-sim",
        "violations": [{"name": name, "reason": reason} for name, reason in violations],
    }
    if instance:
        body["instance"] = instance
    return Response(json.dumps(body), status, headers=headers, media_type=media_type)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, media_type=JSON_TYPE)


def _invalid_value(name: str, value: object, allowed: Iterable[str]) -> tuple[str, str]:
    return name, f"Request contains invalid value(s): '{value}', allowed values: {', '.join(allowed)}."


@dataclass
class Call:
    """One authenticated API request, as a handler sees it."""

    method: str
    url: str
    base_url: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: Any
    client_id: str
    headers: dict[str, str]


Handler = Callable[[BolSimState, Call], Response]


def _endpoint(bucket: str, handler: Handler, *, accept: str = JSON_TYPE) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with what the gateway does first: auth, media types, rate limits."""

    async def endpoint(request: Request) -> Response:
        sim: BolSimState = request.app.state.sim
        raw = await request.body()
        url = str(request.url)
        with sim.lock:
            sim.requests.append((request.method, request.url.path))
            sim.settle()
            client_id, denied = _authenticate(sim, request.headers.get("authorization", ""), url)
            if denied is not None:
                return denied
            assert client_id is not None
            accepted = [part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
            if accept not in accepted:
                return problem(406, "Not Acceptable", f"The Accept header must be {accept}.", instance=url)
            body: Any = None
            if request.method in ("POST", "PUT"):
                content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type != JSON_TYPE:
                    return problem(
                        415, "Unsupported Media Type", f"The Content-Type must be {JSON_TYPE}.", instance=url
                    )
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    return problem(400, "Bad Request", "The request body is not valid JSON.", instance=url)
            allowed, retry_after, remaining = sim.limiter.hit(bucket, client_id)
            rule = sim.limiter.limits.get(bucket)
            limit_headers = {}
            seconds = max(1, math.ceil(retry_after))
            if rule is not None:
                limit_headers = {
                    "X-RateLimit-Limit": str(rule.limit),
                    "X-RateLimit-Remaining": str(remaining),
                    # seconds until the window frees a slot (a whole window while there is room)
                    "X-RateLimit-Reset": str(seconds if not allowed else math.ceil(rule.window)),
                }
            if not allowed:
                return problem(
                    429,
                    "Too Many Requests",
                    f"Too many requests, retry in {seconds} seconds.",
                    instance=url,
                    headers={**limit_headers, "Retry-After": str(seconds)},
                )
            call = Call(
                method=request.method,
                url=url,
                base_url=str(request.base_url),
                path_params={k: str(v) for k, v in request.path_params.items()},
                query=dict(request.query_params),
                body=body,
                client_id=client_id,
                headers=dict(request.headers),
            )
            response = handler(sim, call)
            response.headers.update(limit_headers)
            response.headers["X-Request-ID"] = sim._uuid()
            return response

    return endpoint


def _authenticate(sim: BolSimState, header: str, url: str) -> tuple[str | None, Response | None]:
    if not header.startswith("Bearer "):
        return None, problem(
            401, "Unauthorized", "Full authentication is required to access this resource.", instance=url
        )
    record = sim.access_tokens.get(header[len("Bearer ") :].strip())
    if record is None:
        return None, problem(401, "Unauthorized", "JWT could not be verified.", instance=url)
    now = sim.now()
    if now > record.expires_at + 1.0:  # bol allows 1 s of clock skew
        late = int((now - record.expires_at) * 1000)
        return None, problem(
            401,
            "Expired JWT",
            f"JWT expired at {iso(record.expires_at)}. Current time: {iso(now)}, a difference of {late} "
            "milliseconds.  Allowed clock skew: 1000 milliseconds.",
            instance=url,
        )
    if record.client_id in sim.inactive_clients:
        return None, problem(
            403, "Forbidden", "Account is not active, access denied. Please contact partner service.", instance=url
        )
    return record.chain_id or record.client_id, None


def _page(call: Call, violations: list[tuple[str, str]]) -> int:
    raw = call.query.get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        page = 0
    if page < 1:
        violations.append(("page", f"Request contains invalid value(s): '{raw}', must be at least 1."))
    return page


