"""Kade's HTTP surface (``kade serve``): webhook intake, health and metrics.

``create_api`` builds the app from routers; another surface joins it with one
``api.include_router(...)`` line, and may protect itself with the ``require_admin`` dependency.

Webhook URLs name a connection by an unguessable token. Every URL that names no connection
taking webhooks — an unknown token, a sequential id, a platform without webhooks — is answered
exactly like a path that does not exist, so the answers reveal nothing. Bodies are read while
streaming up to ``KADE_WEBHOOK_MAX_BODY`` (413 beyond), after the token was found.

Admin endpoints (/metrics, the details of /health) need ``KADE_ADMIN_TOKEN`` as a bearer token
when one is set; without one they are served only by a server bound to loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.concurrency import run_in_threadpool

from kade.app import Kade
from kade.console import console_app
from kade.errors import ConfigError, UserError, WebhookRejected
from kade.health import health
from kade.logs import get_logger
from kade.runtime import Runtime
from kade.webapi import mount_on
from kade.webhooks import BadDelivery, find_connection, receive

WEBHOOKS = Counter("kade_webhooks_total", "Webhook deliveries by outcome", ["outcome"])
#: the body of every "no such URL" answer: the one Starlette gives a path with no route
NOT_FOUND = {"detail": "Not Found"}
log = get_logger(__name__)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def not_found() -> JSONResponse:
    return JSONResponse(NOT_FOUND, status_code=404)


def admin_guard(kade: Kade, *, public: bool) -> Callable[[Request], None]:
    """A dependency: the admin token when one is set; otherwise only on a loopback-bound server."""
    token = kade.settings.admin_token

    def require_admin(request: Request) -> None:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise HTTPException(status_code=401, detail="admin token required",
                                    headers={"WWW-Authenticate": "Bearer"})
            return
        if public:
            raise HTTPException(status_code=404, detail=NOT_FOUND["detail"])

    return require_admin


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` bytes (never read whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_router(kade: Kade, runtime: Runtime) -> APIRouter:
    router = APIRouter()
    limit = kade.settings.webhook_max_body

    @router.post("/webhooks/{token}", response_model=None)
    async def webhook(token: str, request: Request) -> dict[str, str | None] | JSONResponse:
        connection = await run_in_threadpool(find_connection, kade, token)
        if connection is None:
            WEBHOOKS.labels("unknown").inc()
            return not_found()
        body = await read_limited(request, limit)
        if body is None:
            WEBHOOKS.labels("too_large").inc()
            return JSONResponse({"detail": f"the body is larger than {limit} bytes"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            # verification and the database are blocking work: keep them off the event loop
            outcome = await run_in_threadpool(receive, kade, connection, headers, body)
        except WebhookRejected as exc:
            WEBHOOKS.labels("rejected").inc()
            return JSONResponse({"detail": str(exc)}, status_code=401)
        except BadDelivery as exc:
            WEBHOOKS.labels("bad").inc()
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except ConfigError as exc:  # this process's setup, not the store's fault: it may retry
            log.error("webhook_failed", error=str(exc))
            WEBHOOKS.labels("error").inc()
            return JSONResponse({"detail": "temporarily unavailable"}, status_code=503)
        except UserError as exc:
            WEBHOOKS.labels("refused").inc()
            return JSONResponse({"detail": str(exc)}, status_code=422)
        if outcome.action_ids and not runtime.sends_on_commit:  # else sent as the request committed
            try:
                await run_in_threadpool(runtime.dispatch, outcome.action_ids)
            except Exception as exc:  # the request is committed: the sweeper re-drives it
                log.warning("webhook_dispatch_failed", error=str(exc), actions=outcome.action_ids)
        WEBHOOKS.labels(outcome.status).inc()
        return {"status": outcome.status, "delivery_id": outcome.delivery_id}

    return router


def ops_router(kade: Kade, require_admin: Callable[[Request], None]) -> APIRouter:
    router = APIRouter()

    @router.get("/health")
    def health_endpoint(request: Request, response: Response) -> dict[str, Any]:
        report = health(kade)
        if not report.ok:
            response.status_code = 503
        try:
            require_admin(request)
        except HTTPException:
            return {"ok": report.ok}  # liveness for load balancers; the details are for admins
        return {"ok": report.ok, "alerts": report.alerts, "connections": report.connections,
                "pending": report.pending, "failed": report.failed}

    @router.get("/metrics", dependencies=[Depends(require_admin)])
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def create_api(kade: Kade, runtime: Runtime, *, public: bool = False) -> FastAPI:
    """The ASGI app for one process's ``Kade`` and ``Runtime``.

    ``public``: the server listens beyond loopback (``kade serve --host 0.0.0.0``).
    """
    api = FastAPI(title="Kade", docs_url=None, redoc_url=None, openapi_url=None)
    require_admin = admin_guard(kade, public=public)
    api.state.require_admin = require_admin
    api.include_router(webhook_router(kade, runtime))
    api.include_router(ops_router(kade, require_admin))
    mount_on(api, kade)  # the warehouse's API at /api/v1, its own OpenAPI at /api/v1/openapi.json
    api.mount("/console", console_app(kade, runtime))  # the operator console
    return api
