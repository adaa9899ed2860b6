"""``kade actions``: the outbox (stock pushes, shipment reports, cancellations)."""

from __future__ import annotations

from typing import Annotated

import typer

from kade.cli.common import JsonOpt, out, print_json, row, say, session_for, table
from kade.cli.inputs import LIMIT, ROW_ID

app: typer.Typer = typer.Typer(help="Outbox actions (stock pushes, shipment reports, cancellations).",
                               no_args_is_help=True)


@app.command("list")
def actions_list(
    failed: Annotated[bool, typer.Option("--failed", help="only failed actions")] = False,
    limit: Annotated[int, typer.Option(**LIMIT)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List outbox actions, newest first."""
    from kade.models import ActionStatus
    from kade.recovery import list_actions

    with session_for() as (_, session):
        items = [{"id": a.id, "kind": a.kind, "connection_id": a.connection_id, "status": a.status,
                  "attempts": a.attempts, "next_attempt_at": a.next_attempt_at, "last_error": a.last_error}
                 for a in list_actions(session, statuses=[ActionStatus.FAILED] if failed else [], limit=limit)]
    if as_json:
        print_json({"actions": items})
        return
    t = table("Actions", "id", "kind", "connection", "status", "attempts", "next attempt", "last error")
    for a in items:
        row(t, a["id"], a["kind"], a["connection_id"], a["status"], a["attempts"], a["next_attempt_at"],
            a["last_error"])
    out.print(t)


@app.command("retry")
def actions_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="action ids; none with --all-failed", **ROW_ID)] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="retry every failed action")] = False,
) -> None:
    """Put failed actions back in the queue (attempts reset)."""
    from kade.recovery import retry_failed_actions

    with session_for() as (_, session):
        say(f"{retry_failed_actions(session, ids or [], all_failed=all_failed)} action(s) queued again")
