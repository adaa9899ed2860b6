"""Connections: the list, one connection's page, imports with progress, migrating the login."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kade.connections import pause, settings_summary
from kade.console.connect import first_link
from kade.console.jobs import Jobs
from kade.console.web import Ctx, Refused, checked_form, current, redirect
from kade.errors import UserError
from kade.migration import migrate
from kade.operators import visible_tenants
from kade.overview import connection_rows

router = APIRouter()


def _jobs(ctx: Ctx) -> Jobs:
    jobs: Jobs = ctx.request.app.state.jobs
    return jobs


@router.get("/connections", response_class=HTMLResponse)
def connections(ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        rows = connection_rows(session, ctx.kade.pm, ctx.tenant_ids)
        slugs = {t.id: t.slug for t in visible_tenants(session, ctx.who)}
    return ctx.render("connections.html", rows=rows, slugs=slugs)


@router.get("/connections/{connection_id}", response_class=HTMLResponse)
def connection(connection_id: int, ctx: Ctx = Depends(current), notice: str = "") -> HTMLResponse:
    with ctx.session() as session:
        conn = ctx.connection(session, connection_id)
        row = next(r for r in connection_rows(session, ctx.kade.pm, {conn.tenant_id}) if r["id"] == connection_id)
    platform = ctx.kade.pm.platform(conn.platform)
    targets = [m for m in platform.spec.auth_methods if m != conn.auth_method]
    return ctx.render("connection.html", conn=conn, row=row, rows=settings_summary(ctx.kade.pm, conn),
                      jobs=_jobs(ctx).of_connection(connection_id), targets=targets, notice=notice,
                      fields={m: platform.spec.credential_fields.get(m, ()) for m in targets})


@router.post("/connections/{connection_id}/import", response_model=None)
async def import_now(connection_id: int, ctx: Ctx = Depends(current)) -> Response:
    """A full order import (or, with ``what=products``, the product link) as a job with progress."""
    form = await checked_form(ctx)
    with ctx.session() as session:
        conn = ctx.connection(session, connection_id)
    if form.get("what") == "products":
        job = first_link(ctx, _jobs(ctx), conn.tenant_id, connection_id)
    else:
        from kade.ingest import import_orders

        def orders() -> str:
            s = import_orders(ctx.kade, connection_id, full=True)
            return f"{s.created} new, {s.updated} changed, {s.quarantined} quarantined"

        job = _jobs(ctx).start("Full order import", conn.tenant_id, connection_id, [("orders imported", orders)])
    return redirect(f"{ctx.request.scope.get('root_path', '')}/jobs/{job.id}")


@router.post("/connections/{connection_id}/pause", response_model=None)
async def pause_submit(connection_id: int, ctx: Ctx = Depends(current)) -> Response:
    form = await checked_form(ctx)
    with ctx.transaction() as session:
        conn = ctx.connection(session, connection_id)
        pause(session, conn, reason=form.get("reason") or "paused from the console", actor=ctx.actor)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/connections/{connection_id}")


@router.post("/connections/{connection_id}/migrate", response_model=None)
async def migrate_submit(connection_id: int, ctx: Ctx = Depends(current)) -> Response:
    form = await checked_form(ctx)
    with ctx.session() as session:
        conn = ctx.connection(session, connection_id)
    target = form.get("auth_method", "")
    platform = ctx.kade.pm.platform(conn.platform)
    if target not in platform.spec.auth_methods:
        raise Refused(422, f"{conn.platform} has no auth method {target!r}")
    creds = {f: form.get(f"cred_{target}_{f}", "") for f in platform.spec.credential_fields.get(target, ())}
    try:
        result = await run_in_threadpool(migrate, ctx.kade, connection_id, target, creds, actor=ctx.actor)
        notice = f"now logs in with {result.auth_method}"
    except UserError as exc:
        notice = str(exc)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/connections/{connection_id}?notice="
                    + quote(notice))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, ctx: Ctx = Depends(current), fragment: int = 0) -> HTMLResponse:
    job = _jobs(ctx).get(job_id)
    if job is None or not ctx.who.sees(job.tenant_id):
        raise Refused(404, "no such job (jobs are kept while the server runs)")
    return ctx.render("job_fragment.html" if fragment else "job.html", job=job)
