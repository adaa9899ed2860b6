"""The warehouse's HTTP API (``/api/v1`` of ``kade serve``).

Routes only translate: every one calls the core function the CLI calls (``set_stocks``,
``create_shipment``, ``cancel_in_store``, ``upsert_products``...) inside one transaction, so a
rule lives in one place. Tenant keys see their own tenant only; another tenant's object is
answered exactly like a missing one. Operator keys use ``/operator/...``.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, col, select
from starlette.routing import Mount

from kade.apikeys import Principal, authenticate
from kade.app import Kade
from kade.feed import (
    connection_statuses,
    iso,
    order_detail,
    order_feed,
    product_page,
    shipment_dict,
    shipments_of,
    tenant_order,
)
from kade.idempotency import run_once
from kade.models import OrderState, Tenant
from kade.notifications import acknowledge, list_notifications, notification_dict
from kade.webapi import schemas as s
from kade.webapi.problems import ProblemError, install, responses

DESCRIPTION = """\
The warehouse's side of Kade: push products and stock, read the order feed, report shipments and
cancellations, read notifications and connection status; manage the signed webhooks Kade sends.

Authenticate with `Authorization: Bearer <key>`; keys come from `kade apikey create`. A `read` key
may only GET; a `write` key may do everything for its tenant; an `operator` key uses `/operator/...`.
Errors are RFC 9457 problem documents (`application/problem+json`) whose `type` is one of
`urn:kade:problem:{unauthorized, forbidden, not-found, method-not-allowed, invalid-cursor, validation,
invalid-value, rejected, origin, conflict, internal}`.
"""

IdempotencyKey = Annotated[s.IdemKey | None, Header(alias="Idempotency-Key",
                                                    description="a retry with the same key and body changes "
                                                                "nothing and gets the first answer")]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=500, pattern=r"^[A-Za-z0-9_-]*$",
                                     description="opaque; from the previous page")]


_bearer = HTTPBearer(auto_error=False, description="an API key from `kade apikey create`")


def _app(request: Request) -> Kade:
    kade: Kade = request.app.state.kade
    return kade


def principal(request: Request,
              creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is None:
        raise ProblemError("unauthorized", "send Authorization: Bearer <API key>", headers=challenge)
    with _app(request).db.transaction() as session:
        found = authenticate(session, creds.credentials)
    if found is None:
        raise ProblemError("unauthorized", "unknown or revoked API key", headers=challenge)
    return found


def reader(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.operator or p.tenant_id is None:
        raise ProblemError("forbidden", "an operator key acts across tenants: use /operator/...")
    return p


def writer(p: Annotated[Principal, Depends(reader)]) -> Principal:
    if not p.can_write():
        raise ProblemError("forbidden", "this key has scope read; writing needs a write key")
    return p


def operator(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.operator:
        raise ProblemError("forbidden", "this endpoint needs an operator key")
    return p


Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Operator = Annotated[Principal, Depends(operator)]
After = Annotated[int, Query(ge=0, le=2**63 - 1, description="only ids above this")]
OpenOnly = Annotated[bool, Query(alias="open", description="only those not cleared")]
Unacked = Annotated[bool, Query(description="only those nobody acknowledged")]
NoteId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SubscriptionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _query_names(dependant: Any) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def strict_query(request: Request) -> None:
    """Refuse query parameters the operation does not have: a typo (``?stat=open``) must not
    silently return everything."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        raise ProblemError("validation", f"unknown query parameter(s): {', '.join(unknown)}",
                           errors=[{"field": name, "location": "query", "message": "unknown parameter"}
                                   for name in unknown])


def mount_on(app: FastAPI, kade: Kade, prefix: str = "/api/v1") -> None:
    """Mount the API at ``prefix``. Starlette's mount pattern stops at a newline, so a path with an
    encoded newline (``/api/v1/orders/%0A``) would fall through to the outer app's plain 404; this
    mount takes every path under the prefix, and the API answers it with a problem document."""
    mount = Mount(prefix, app=warehouse_api(kade))
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    app.router.routes.append(mount)


def warehouse_api(kade: Kade) -> FastAPI:
    """The API app for one process's ``Kade`` (mounted at ``/api/v1`` by ``kade.api``)."""
    api = FastAPI(title="Kade warehouse API", version="1", description=DESCRIPTION, docs_url="/docs",
                  redoc_url=None, dependencies=[Depends(strict_query)])
    install(api)
    api.state.kade = kade

    def tenant(session: Session, p: Principal) -> Tenant:
        row = session.get(Tenant, p.tenant_id)
        assert row is not None
        return row

    # ----------------------------------------------------------------------------------- products

    @api.get("/products", response_model=s.ProductPage, responses=responses("invalid-cursor"), tags=["products"])
    def list_products(p: Reader, cursor: Cursor = None, limit: Limit = 100) -> Any:
        """Products by SKU, a page at a time."""
        assert p.tenant_id is not None
        with kade.db.session() as session:
            items, next_cursor = product_page(session, p.tenant_id, cursor=cursor, limit=limit)
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    @api.post("/products", response_model=s.ProductUpsertResult, responses=responses("rejected", "invalid-value"),
              tags=["products"])
    def upsert_products(p: Writer, body: s.ProductUpsert) -> Any:
        """Create or update products by SKU (all validated first: one bad item refuses the batch)."""
        from kade.products import upsert_products

        with kade.db.transaction() as session:
            rows = [item.model_dump(exclude_unset=True) for item in body.items]
            created, updated = upsert_products(session, tenant(session, p), rows)
        return {"created": created, "updated": updated}

    # -------------------------------------------------------------------------------------- stock

    @api.post("/stock", status_code=202, response_model=s.StockResult,
              responses=responses("rejected", "conflict", "invalid-value"), tags=["stock"])
    def change_stock(p: Writer, body: s.StockChange, idempotency_key: IdempotencyKey = None) -> Any:
        """Set absolute stock quantities; pushes to the stores follow, coalesced like `kade stock set`."""
        from kade.stock import set_stocks

        assert p.tenant_id is not None
        changes = {item.sku: item.quantity for item in body.items}

        def work(session: Session) -> tuple[int, dict[str, Any]]:
            products, queued = set_stocks(session, tenant(session, p), changes, window=kade.settings.stock_window)
            return 202, {"accepted": len(products), "pushes_queued": queued}

        status, result, replayed = run_once(kade.db, p.tenant_id, "stock", idempotency_key, changes, work)
        return JSONResponse({**result, "replayed": replayed}, status_code=status)

    # ------------------------------------------------------------------------------------- orders

    @api.get("/orders", response_model=s.OrderFeed, responses=responses("invalid-cursor"), tags=["orders"])
    def feed(p: Reader, cursor: Cursor = None, state: Annotated[list[s.OrderStateName] | None, Query()] = None,
             connection_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None, limit: Limit = 100) -> Any:
        """Orders new or changed since ``cursor``, oldest change first (optionally of some states)."""
        assert p.tenant_id is not None
        with kade.db.session() as session:
            orders, next_cursor, more = order_feed(
                session, p.tenant_id, cursor=cursor, states=[OrderState(v) for v in state or []],
                connection_id=connection_id, limit=limit)
        return JSONResponse({"orders": orders, "next_cursor": next_cursor, "has_more": more})

    @api.get("/orders/{order_id}", response_model=s.OrderDetail, responses=responses("not-found"), tags=["orders"])
    def get_order(p: Reader, order_id: OrderId) -> Any:
        """One order with its lines, origin connection and shipments."""
        assert p.tenant_id is not None
        with kade.db.session() as session:
            return JSONResponse(order_detail(session, p.tenant_id, order_id))

    @api.post("/orders/{order_id}/shipments", status_code=201, response_model=s.ShipmentOut,
              responses=responses("not-found", "rejected", "origin", "conflict", "invalid-value"),
              tags=["orders"])
    def ship(p: Writer, order_id: OrderId, body: s.ShipmentIn, idempotency_key: IdempotencyKey = None) -> Any:
        """Record a shipment; it is reported to the order's origin store only, as the platform allows."""
        from kade.shipments import create_shipment, line_map

        assert p.tenant_id is not None
        lines = line_map((line.sku, line.quantity) for line in body.lines or [])

        def work(session: Session) -> tuple[int, dict[str, Any]]:
            order = tenant_order(session, p.tenant_id or 0, order_id)
            shipment = create_shipment(session, order, carrier=body.carrier, tracking_code=body.tracking_code,
                                       tracking_url=body.tracking_url, lines=lines or None)
            session.flush()
            assert shipment.id is not None
            view = shipments_of(session, [order_id]).get(order_id, [])
            return 201, next((v for v in view if v["id"] == shipment.id), shipment_dict(shipment, []))

        request = {"order_id": order_id, **body.model_dump(mode="json")}
        status, result, replayed = run_once(kade.db, p.tenant_id, "shipment", idempotency_key, request, work)
        return JSONResponse(result, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()})

    @api.post("/orders/{order_id}/cancel", response_model=s.CancelResult,
              responses=responses("not-found", "rejected", "origin"), tags=["orders"])
    def cancel(p: Writer, order_id: OrderId, body: s.CancelIn | None = None) -> Any:
        """Cancel an order from the warehouse; the cancellation goes to its origin store only."""
        from kade.shipments import cancel_in_store

        with kade.db.transaction() as session:
            order = tenant_order(session, p.tenant_id or 0, order_id)
            cancel_in_store(session, order, reason=(body or s.CancelIn()).reason)
            return {"order_id": order_id, "state": str(order.status)}

    # ------------------------------------------------------------------- notifications, status

    def _notes(tenant_id: int | None, after: int, open_only: bool, unacknowledged: bool, limit: int,
               everyone: bool) -> dict[str, Any]:
        with kade.db.session() as session:
            notes = list_notifications(session, tenant_id, open_only=open_only, unacknowledged=unacknowledged,
                                       after_id=after, limit=limit, all_tenants=everyone)
        items = [notification_dict(n) for n in notes]
        return {"items": items, "next_after": items[-1]["id"] if len(items) == limit else None}

    @api.get("/notifications", response_model=s.NotificationList, tags=["notifications"],
             responses=responses())
    def notifications(p: Reader, after: After = 0, open_only: OpenOnly = False, unacknowledged: Unacked = False,
                      limit: Limit = 100) -> Any:
        """This tenant's notifications, oldest first."""
        return JSONResponse(_notes(p.tenant_id, after, open_only, unacknowledged, limit, False))

    @api.post("/notifications/{notification_id}/ack", response_model=s.NotificationOut,
              responses=responses("not-found"), tags=["notifications"])
    def ack(p: Writer, notification_id: NoteId) -> Any:
        """Acknowledge a notification (a person saw it)."""
        with kade.db.transaction() as session:
            return JSONResponse(notification_dict(acknowledge(session, p.tenant_id, notification_id)))

    @api.get("/connections", response_model=s.ConnectionList, responses=responses(), tags=["connections"])
    def connections(p: Reader) -> Any:
        """This tenant's store connections and their status."""
        with kade.db.session() as session:
            return JSONResponse({"items": connection_statuses(session, p.tenant_id)})

    # ----------------------------------------------------------------------------------- webhooks

    def _webhook(sub: Any) -> dict[str, Any]:
        return {"id": sub.id, "url": sub.url, "events": sub.events, "created_at": iso(sub.created_at)}

    @api.post("/webhooks", status_code=201, response_model=s.WebhookCreated, responses=responses("rejected"),
              tags=["webhooks"])
    def add_webhook(p: Writer, body: s.WebhookIn) -> Any:
        """Subscribe a URL to events (like `kade webhook add`); the signing secret is in this answer only."""
        from kade.outbound import add_subscription

        with kade.db.transaction() as session:
            sub, secret = add_subscription(session, kade.vault, tenant(session, p), body.url, list(body.events))
            return JSONResponse({**_webhook(sub), "secret": secret}, status_code=201)

    @api.get("/webhooks", response_model=s.WebhookList, responses=responses(), tags=["webhooks"])
    def list_webhooks(p: Reader) -> Any:
        """This tenant's subscriptions (never their secrets)."""
        from kade.outbound import list_subscriptions

        with kade.db.session() as session:
            return JSONResponse({"items": [_webhook(sub) for sub in list_subscriptions(session, tenant(session, p))]})

    @api.delete("/webhooks/{subscription_id}", response_model=s.WebhookRemoved, responses=responses("not-found"),
                tags=["webhooks"])
    def remove_webhook(p: Writer, subscription_id: SubscriptionId) -> Any:
        """Remove a subscription; its undelivered events are cancelled."""
        from kade.outbound import remove_subscription

        with kade.db.transaction() as session:
            dropped = remove_subscription(session, tenant(session, p), subscription_id)
        return {"id": subscription_id, "dropped": dropped}

    @api.get("/webhooks/{subscription_id}/deliveries", response_model=s.DeliveryList,
             responses=responses("not-found"), tags=["webhooks"])
    def webhook_deliveries(p: Reader, subscription_id: SubscriptionId,
                           failed: Annotated[bool, Query(description="only those given up on")] = False,
                           limit: Limit = 50) -> Any:
        """A subscription's delivery log, newest first, with the last answer of each."""
        from kade.outbound import attempts_of, get_subscription, list_deliveries

        items = []
        with kade.db.session() as session:
            owner = tenant(session, p)
            get_subscription(session, owner, subscription_id)
            for action, event in list_deliveries(session, owner, subscription_id=subscription_id, failed=failed,
                                                 limit=limit):
                assert action.id is not None
                tries = attempts_of(session, action.id)
                last = tries[-1] if tries else None
                items.append({"id": action.id, "subscription_id": subscription_id, "event_id": event.event_id,
                              "type": event.type, "status": str(action.status), "attempts": len(tries),
                              "last_status_code": last.status_code if last else None,
                              "last_error": last.error if last else None, "created_at": iso(action.created_at),
                              "last_attempt_at": iso(last.at) if last else None})
        return JSONResponse({"items": items})

    @api.post("/webhooks/{subscription_id}/replay", status_code=202, response_model=s.ReplayResult,
              responses=responses("not-found", "rejected"), tags=["webhooks"])
    def replay_webhook(p: Writer, subscription_id: SubscriptionId, body: s.ReplayIn) -> Any:
        """Send deliveries of a subscription again, with their original event ids (receivers dedupe by them)."""
        from kade.outbound import replay

        if (body.delivery_ids is None) == (body.since is None):
            raise ProblemError("validation", "give delivery_ids or since (one of them)",
                               errors=[{"field": "delivery_ids", "location": "body",
                                        "message": "exactly one of delivery_ids and since"}])
        since = body.since
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        with kade.db.transaction() as session:
            queued = replay(session, tenant(session, p), action_ids=body.delivery_ids or [],
                            subscription_id=subscription_id, since=since)
        return JSONResponse({"queued": queued}, status_code=202)

    # ---------------------------------------------------------------------------------- operator

    @api.get("/operator/tenants", response_model=s.TenantList, responses=responses(), tags=["operator"])
    def tenants(p: Operator) -> Any:
        """Every tenant."""
        with kade.db.session() as session:
            rows = session.exec(select(Tenant).order_by(col(Tenant.id))).all()
            return {"items": [{"id": t.id, "slug": t.slug, "name": t.name} for t in rows]}

    @api.get("/operator/connections", response_model=s.ConnectionList, responses=responses(), tags=["operator"])
    def all_connections(p: Operator) -> Any:
        """Every tenant's connections and their status."""
        with kade.db.session() as session:
            return JSONResponse({"items": connection_statuses(session, None)})

    @api.get("/operator/notifications", response_model=s.NotificationList, responses=responses(),
             tags=["operator"])
    def all_notifications(p: Operator, after: After = 0, open_only: OpenOnly = False,
                          unacknowledged: Unacked = False, limit: Limit = 100) -> Any:
        """Every notification, Kade's own (no tenant) included."""
        return JSONResponse(_notes(None, after, open_only, unacknowledged, limit, True))

    @api.post("/operator/notifications/{notification_id}/ack", response_model=s.NotificationOut,
              responses=responses("not-found"), tags=["operator"])
    def operator_ack(p: Operator, notification_id: NoteId) -> Any:
        """Acknowledge any notification."""
        with kade.db.transaction() as session:
            return JSONResponse(notification_dict(acknowledge(session, None, notification_id, all_tenants=True)))

    @api.get("/operator/health", response_model=s.HealthOut, responses=responses(), tags=["operator"])
    def operator_health(p: Operator) -> Any:
        """Connections by status, the outbox backlog and the alerts that hold now."""
        from kade.health import health

        report = health(kade)
        return {"ok": report.ok, "alerts": report.alerts, "connections": report.connections,
                "pending": report.pending, "failed": report.failed,
                "oldest_pending_seconds": report.oldest_pending_seconds}

    return api
