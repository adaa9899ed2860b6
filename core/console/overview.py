"""The overview (health, connections needing attention) and the tenants page."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from kade.console.web import Ctx, current
from kade.health import health
from kade.models import ActionStatus
from kade.notifications import list_notifications
from kade.operators import visible_tenants
from kade.overview import connection_rows
from kade.recovery import list_actions
from kade.tenants import enabled_platforms

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        rows = connection_rows(session, ctx.kade.pm, ctx.tenant_ids)
        failed = list_actions(session, statuses=[ActionStatus.FAILED], tenant_ids=ctx.tenant_ids, limit=500)
        pending = list_actions(session, statuses=[ActionStatus.PENDING], tenant_ids=ctx.tenant_ids, limit=500)
        notes = [n for n in list_notifications(session, None, open_only=True, unacknowledged=True, limit=500,
                                               all_tenants=True) if ctx.who.sees(n.tenant_id)]
    report = health(ctx.kade) if ctx.tenant_ids is None else None
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    attention = [r for r in rows if r["status"] != "active" or r["last_error"]]
    return ctx.render("overview.html", report=report, by_status=by_status, attention=attention,
                      failed=len(failed), pending=len(pending), notes=len(notes))


@router.get("/tenants", response_class=HTMLResponse)
def tenants(ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        rows = [(t, sorted(enabled_platforms(session, t))) for t in visible_tenants(session, ctx.who)]
    return ctx.render("tenants.html", tenants=rows)
