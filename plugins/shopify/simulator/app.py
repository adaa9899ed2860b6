"""The simulator app: endpoints, the fault layer and ``create_app``."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kade.plugins.shopify.queries import GRAPHQL_PATH, TOKEN_PATH
from kade.plugins.shopify.simulator.bulkops import RESULT_PATH
from kade.plugins.shopify.simulator.faults import operation_names
from kade.plugins.shopify.simulator.models import BUCKET_SIZE, RESTORE_RATE, SCOPES
from kade.plugins.shopify.simulator.state import SimState
from kade.sim.base import Faults, SimClock
from kade.sim.faults import FAULT_SCOPE_KEY, Answer, FaultLayer, retry_after_text


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _graphql(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    app = sim.app_for_token(request.headers.get("x-shopify-access-token"))
    if app is None:
        return _json({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, 401)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return _json({"errors": {"variables": "must be a JSON object"}}, 400)
    sim.download_base = f"{request.url.scheme}://{request.url.netloc}"
    fault = request.scope.get(FAULT_SCOPE_KEY)  # a "throttle" the fault layer leaves to us
    short = sim.throttle_pause if fault is not None and fault.kind == "throttle" else None
    result = sim.execute(app, body["query"], variables, body.get("operationName"), short_by=short)
    return _json(result)


async def _access_token(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    try:
        body = await request.json()
    except ValueError:
        body = dict((await request.form()).items())
    if not isinstance(body, dict):
        body = {}
    if body.get("grant_type") != "client_credentials":
        return _json(
            {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type {body.get('grant_type')!r} is not supported",
            },
            400,
        )
    client_id, secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
    known = sim.apps.get(client_id)
    if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
        return _json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
    token = sim.issue_app_token(client_id)
    return _json({"access_token": token, "scope": SCOPES, "expires_in": sim.token_lifetime})


def _storage_error(code: str, status: int) -> Response:
    """Google Cloud Storage's XML error body, which is what a bad result URL gets from Shopify."""
    body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>"
    return Response(body, status_code=status, media_type="application/xml")


async def _bulk_result(request: Request) -> Response:
    """A bulk operation's JSONL file, streamed; ``Range: bytes=a-b`` answers 206 like the storage does."""
    sim: SimState = request.app.state.sim
    name = request.path_params["name"]
    number = int(name.removesuffix(".jsonl")) if name.endswith(".jsonl") and name[:-6].isdigit() else -1
    found = sim.result_file(number, request.query_params.get("Expires", ""), request.query_params.get("Signature", ""))
    if isinstance(found, str):
        return _storage_error(found, 404 if found == "NoSuchKey" else 400 if found == "ExpiredToken" else 403)
    size = found.file_size
    start, end, status = 0, size - 1, 200
    wanted = request.headers.get("range")
    if wanted:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
        if match is None:
            return _storage_error("InvalidArgument", 400)
        start = int(match.group(1))
        end = min(size - 1, int(match.group(2))) if match.group(2) else size - 1
        if start >= size or end < start:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
    headers = {"Content-Length": str(end - start + 1), "Accept-Ranges": "bytes"}
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(iterate_in_threadpool(sim.read_result(found, start, end)), status_code=status,
                             headers=headers, media_type="application/jsonl")


async def _not_found(request: Request) -> Response:
    return _json({"errors": "Not Found"}, 404)


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body).encode(), "application/json", dict(headers or {}))


def _error_answer(status: int) -> Answer:
    return _answer(status, {"errors": "Internal Server Error"})


def _rate_limited_answer(seconds: float) -> Answer:
    """What Shopify's REST edge answers when over its request limit (GraphQL throttles in-band)."""
    return _answer(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                                   "uninterrupted service."}, {"Retry-After": retry_after_text(seconds)})


class ShopifySimulator(FaultLayer):
    """The simulator app: Shopify's endpoints behind ``kade.sim``'s fault layer (``app.state.sim``)."""

    def __init__(self, app: Starlette, state: SimState) -> None:
        super().__init__(app, state, error=_error_answer, rate_limited=_rate_limited_answer,
                         operations=operation_names, random_error_status=500)


def create_app(
    state: SimState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    catalog_size: int = 20,
    bucket_size: float = BUCKET_SIZE,
    restore_rate: float = RESTORE_RATE,
) -> ShopifySimulator:
    """The simulator app; its ``SimState`` is ``app.state.sim``.

    Without a ``state`` the shop starts with one location and ``catalog_size`` seeded products;
    ``bucket_size``/``restore_rate`` set its cost bucket (benchmarks raise them).
    """
    if state is None:
        state = SimState(seed=seed, clock=clock, bucket_size=bucket_size, restore_rate=restore_rate)
        state.seed_catalog(catalog_size)
    elif clock is not None:
        state.clock = clock
    if faults is not None:
        state.faults = faults
    app = Starlette(
        routes=[
            Route(GRAPHQL_PATH, _graphql, methods=["POST"]),
            Route(TOKEN_PATH, _access_token, methods=["POST"]),
            Route(RESULT_PATH + "/{name}", _bulk_result, methods=["GET"]),
            Route("/admin/api/{version}/graphql.json", _not_found, methods=["POST"]),
        ],
    )
    app.state.sim = state
    return ShopifySimulator(app, state)
