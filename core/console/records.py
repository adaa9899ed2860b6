"""The event log (with filters) and orders (lines, origin store, shipments)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlmodel import select

from kade.console.web import Ctx, Refused, current
from kade.errors import NotFoundError, UserError
from kade.eventlog import list_events
from kade.feed import order_detail, order_feed
from kade.models import Connection, OrderState
from kade.operators import visible_tenants

router = APIRouter()


@router.get("/events", response_class=HTMLResponse)
def events(ctx: Ctx = Depends(current), tenant: str = "", connection: str = "", kind: str = "",
           outcome: str = "", limit: int = 100) -> HTMLResponse:
    with ctx.session() as session:
        tenants = visible_tenants(session, ctx.who)
        tenant_ids = ctx.tenant_ids
        if tenant:
            tenant_ids = {ctx.tenant(session, tenant).id or 0}
        connection_id = None
        if connection:
            if not connection.isdigit():
                raise Refused(422, "connection must be a connection id")
            connection_id = ctx.connection(session, int(connection)).id
        rows = list_events(session, tenant_ids=tenant_ids, connection_id=connection_id, kind=kind or None,
                           outcome=outcome or None, limit=max(1, min(limit, 500)))
        conns = [c for c in session.exec(select(Connection)).all() if ctx.who.sees(c.tenant_id)]
    return ctx.render("events.html", rows=rows, tenants=tenants, conns=conns,
                      filters={"tenant": tenant, "connection": connection, "kind": kind, "outcome": outcome},
                      names={c.id: c.name for c in conns})


@router.get("/orders", response_class=HTMLResponse)
def orders(ctx: Ctx = Depends(current), tenant: str = "", state: str = "", cursor: str = "") -> HTMLResponse:
    with ctx.session() as session:
        tenants = visible_tenants(session, ctx.who)
        if not tenants:
            return ctx.render("orders.html", tenants=[], tenant=None, rows=[], state=state, next=None,
                              states=list(OrderState), names={})
        chosen = ctx.tenant(session, tenant) if tenant else tenants[0]
        states: tuple[OrderState, ...] = ()
        if state:
            try:
                states = (OrderState(state),)
            except ValueError:
                raise Refused(422, f"no order state {state!r}") from None
        try:
            rows, next_cursor, more = order_feed(session, chosen.id or 0, cursor=cursor or None, states=states,
                                                 limit=100)
        except UserError as exc:
            raise Refused(422, str(exc)) from None
        names = {c.id: c.name for c in session.exec(select(Connection).where(Connection.tenant_id == chosen.id)).all()}
    return ctx.render("orders.html", tenants=tenants, tenant=chosen, rows=rows, state=state, states=list(OrderState),
                      next=next_cursor if more else None, names=names)


@router.get("/tenants/{tenant}/orders/{order_id}", response_class=HTMLResponse)
def order(tenant: str, order_id: int, ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        chosen = ctx.tenant(session, tenant)
        try:
            detail = order_detail(session, chosen.id or 0, order_id)
        except NotFoundError as exc:
            raise Refused(404, str(exc)) from None
    return ctx.render("order.html", tenant=chosen, order=detail)
