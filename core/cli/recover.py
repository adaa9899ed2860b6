"""``kade recover``: after an outage, show what each connection missed, then re-drive it (R10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from kade.cli.common import Exit2, JsonOpt, err, make_kade, out, print_json, table

commands: typer.Typer = typer.Typer()  # top-level: ``kade recover``


def _moment(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Exit2(f"{option} must be an ISO 8601 time such as 2026-12-01T09:00:00Z, not {value!r}") from None
    if moment.tzinfo is None:
        raise Exit2(f"{option} needs a time zone, e.g. {value}Z or {value}+01:00")
    return moment


@commands.command("recover")
def recover(
    since: Annotated[str, typer.Option(help="start of the outage (ISO 8601 with a time zone)")],
    until: Annotated[str | None, typer.Option(help="end of the outage (default: now)")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only show what would be sent")] = False,
    phase_timeout: Annotated[float, typer.Option(
        min=0, max=86400, help="with a broker: the longest a connection's stock waits for its import, and its "
                               "shipments for its stock (0: no phase waits)")] = 600,
    as_json: JsonOpt = False,
) -> None:
    """Show what each connection missed between --since and --until, then re-drive exactly that:
    orders first, then stock, then shipments and cancellations."""
    from kade.recovery import plan_recovery, run_recovery
    from kade.runtime import Runtime
    from kade.tenants import get_tenant

    start = _moment(since, "--since")
    end = _moment(until, "--until") if until else None
    kade = make_kade()
    try:
        with kade.db.session() as session:
            tenant_id = get_tenant(session, tenant).id if tenant else None
            plan = plan_recovery(session, start, end, tenant_id=tenant_id)
        document = {
            "since": plan.since, "until": plan.until, "dry_run": dry_run, "totals": plan.totals(),
            "stock_products": plan.stock_products(),
            "connections": [{"id": g.connection_id, "tenant": g.tenant, "name": g.name, "platform": g.platform,
                             "status": g.status, "import_since": g.import_since, "pending": g.pending,
                             "failed": g.failed, "stock_products": g.stock_products} for g in plan.connections],
        }
        if as_json and dry_run:
            print_json(document)
            return
        t = table(f"Recovery {plan.since.isoformat(timespec='seconds')} → {plan.until.isoformat(timespec='seconds')}",
                  "id", "tenant", "connection", "platform", "status", "orders again since", "pending", "failed")
        for gap in plan.connections:
            since_text = gap.import_since.isoformat(timespec="seconds") if gap.import_since else "first import"
            t.add_row(str(gap.connection_id), gap.tenant, gap.name, gap.platform, gap.status, since_text,
                      ", ".join(f"{k} {n}" for k, n in sorted(gap.pending.items())) or "-",
                      ", ".join(f"{k} {n}" for k, n in sorted(gap.failed.items())) or "-")
        for column in t.columns:
            column.highlight = False
        if not as_json:
            out.print(t, markup=False)
        totals = plan.totals()
        summary = ", ".join(f"{kind} {n}" + (f" (for {plan.stock_products()} products)" if kind == "stock" else "")
                            for kind, n in sorted(totals.items())) or "nothing"
        if dry_run:
            out.print(f"dry run: would import orders for the active connections, then send {summary}",
                      markup=False)
            return
        if kade.settings.embedded:
            err.print("kade: embedded mode: the running `kade worker` sends the actions at its next sweep and "
                      "polls the orders on its schedule", markup=False)
            result = run_recovery(kade, None, plan)
        else:
            err.print("kade: one job per connection on the workers: its orders first, then its stock, then its "
                      f"shipments (a phase waits at most {phase_timeout:g} s for the one before)", markup=False)
            result = run_recovery(kade, Runtime(kade).actors, plan, settle=phase_timeout)
        if as_json:
            print_json({**document, "result": {"imports_requested": result.imports_requested,
                                               "retried": result.retried, "superseded": result.superseded,
                                               "rescheduled": result.rescheduled}})
            return
        out.print(f"recovery queued for {result.imports_requested} connection(s); {result.retried} failed "
                  f"action(s) retried, {result.superseded} stock push(es) superseded by a newer one of the same "
                  f"product, {result.rescheduled} waiting action(s) due now; `kade actions list` and `kade status` "
                  "show the progress", markup=False)
    finally:
        kade.close()
