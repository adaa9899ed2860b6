"""What needs a person: actions pending and failed (retry), quarantined records, notifications."""

from __future__ import annotations

from contextlib import suppress
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from kade.console.web import Ctx, Refused, checked_form, current, redirect
from kade.errors import NotFoundError, UserError
from kade.models import Action, ActionStatus, Connection
from kade.notifications import acknowledge, get_notification, list_notifications
from kade.quarantine import import_again, list_quarantine
from kade.recovery import list_actions, retry_actions

router = APIRouter()


def _names(ctx: Ctx) -> dict[int, str]:
    with ctx.session() as session:
        return {c.id: c.name for c in session.exec(select(Connection)).all() if c.id is not None}


@router.get("/actions", response_class=HTMLResponse)
def actions(ctx: Ctx = Depends(current), notice: str = "") -> HTMLResponse:
    with ctx.session() as session:
        failed = list_actions(session, statuses=[ActionStatus.FAILED], tenant_ids=ctx.tenant_ids, limit=200)
        pending = list_actions(session, statuses=[ActionStatus.PENDING, ActionStatus.RUNNING],
                               tenant_ids=ctx.tenant_ids, limit=200)
    return ctx.render("actions.html", failed=failed, pending=pending, names=_names(ctx), notice=notice)


@router.post("/actions/retry", response_model=None)
async def retry(ctx: Ctx = Depends(current)) -> Response:
    """One action (``id``) or every failed one the operator sees (``all``)."""
    form = await checked_form(ctx)
    with ctx.transaction() as session:
        if form.get("all"):
            rows = list_actions(session, statuses=[ActionStatus.FAILED], tenant_ids=ctx.tenant_ids, limit=10_000)
        else:
            raw = form.get("id", "")
            row = session.get(Action, int(raw)) if raw.isdigit() and 0 < int(raw) < 2**63 else None
            if row is None or not ctx.who.sees(row.tenant_id):
                raise Refused(404, f"no action {raw!r}")
            rows = [row]
        try:
            count = retry_actions(session, rows)
        except UserError as exc:
            raise Refused(409, str(exc)) from None
        ids = [r.id for r in rows if r.id is not None]
    if ids:
        with suppress(Exception):  # committed already: the sweeper re-drives pending actions
            await run_in_threadpool(ctx.runtime.dispatch, ids)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/actions?notice={count}+action(s)+queued+again")


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine(ctx: Ctx = Depends(current), notice: str = "") -> HTMLResponse:
    with ctx.session() as session:
        rows = list_quarantine(session, tenant_ids=ctx.tenant_ids)
    return ctx.render("quarantine.html", rows=rows, notice=notice)


@router.post("/quarantine/{quarantine_id}/import", response_model=None)
async def quarantine_import(quarantine_id: int, ctx: Ctx = Depends(current)) -> Response:
    await checked_form(ctx)
    with ctx.session() as session:
        if not any(q.id == quarantine_id for q, _ in list_quarantine(session, tenant_ids=ctx.tenant_ids,
                                                                      open_only=False)):
            raise Refused(404, f"no quarantined record {quarantine_id}")
    try:
        result = await run_in_threadpool(import_again, ctx.kade, quarantine_id, actor=ctx.actor)
        notice = "imported again" if result.resolved else f"still refused: {result.reason}"
    except UserError as exc:
        notice = str(exc)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/quarantine?notice={quote(notice)}")


@router.get("/notifications", response_class=HTMLResponse)
def notifications(ctx: Ctx = Depends(current), show: str = "open") -> HTMLResponse:
    with ctx.session() as session:
        notes = [n for n in list_notifications(session, None, open_only=show == "open", limit=500, all_tenants=True)
                 if ctx.who.sees(n.tenant_id)]
    notes.sort(key=lambda n: (n.acknowledged_at is not None, -(n.id or 0)))
    return ctx.render("notifications.html", notes=notes, show=show, names=_names(ctx))


@router.post("/notifications/{notification_id}/ack", response_model=None)
async def ack(notification_id: int, ctx: Ctx = Depends(current)) -> Response:
    await checked_form(ctx)
    with ctx.transaction() as session:
        try:
            note = get_notification(session, None, notification_id, all_tenants=True)
            if not ctx.who.sees(note.tenant_id):
                raise NotFoundError(f"no notification {notification_id}")
            acknowledge(session, None, notification_id, all_tenants=True)
        except NotFoundError as exc:
            raise Refused(404, str(exc)) from None
    return redirect(f"{ctx.request.scope.get('root_path', '')}/notifications")

