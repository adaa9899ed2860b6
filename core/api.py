"""Kade's HTTP surface: webhook intake, health and metrics (``kade serve``)."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from starlette.concurrency import run_in_threadpool

from kade.app import Kade
from kade.errors import UserError, WebhookRejected
from kade.health import health
from kade.runtime import Runtime
from kade.webapi import warehouse_api
from kade.webhooks import receive

WEBHOOKS = Counter("kade_webhooks_total", "Webhook deliveries by outcome", ["outcome"])


def create_api(kade: Kade, runtime: Runtime) -> FastAPI:
    """The ASGI app for one process's ``Kade`` and ``Runtime``."""
    api = FastAPI(title="Kade", docs_url=None, redoc_url=None)

    @api.post("/webhooks/{connection_id}")
    async def webhook(connection_id: int, request: Request) -> dict[str, str | None]:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            # verification and the database are blocking work: keep them off the event loop
            outcome = await run_in_threadpool(receive, kade, connection_id, headers, body, runtime.import_orders)
        except WebhookRejected as exc:
            WEBHOOKS.labels("rejected").inc()
            raise HTTPException(status_code=401, detail=str(exc)) from None
        except UserError as exc:
            WEBHOOKS.labels("refused").inc()
            raise HTTPException(status_code=404, detail=str(exc)) from None
        WEBHOOKS.labels(outcome.status).inc()
        return {"status": outcome.status, "delivery_id": outcome.delivery_id}

    @api.get("/health")
    def health_endpoint(response: Response) -> dict[str, object]:
        report = health(kade)
        if not report.ok:
            response.status_code = 503
        return {"ok": report.ok, "alerts": report.alerts, "connections": report.connections,
                "pending": report.pending, "failed": report.failed}

    api.mount("/api/v1", warehouse_api(kade))  # the warehouse's API, its own OpenAPI at /api/v1/openapi.json

    @api.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return api
