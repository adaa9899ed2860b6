"""``kade events``: the integration event log."""

from __future__ import annotations

from typing import Annotated

import typer

from kade.cli.common import Exit2, JsonOpt, out, print_json, row, session_for, table
from kade.cli.inputs import LIMIT

commands: typer.Typer = typer.Typer()  # top-level: ``kade events``


@commands.command("events")
def events_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c")] = None,
    kind: Annotated[str | None, typer.Option(help="event kind, e.g. shipment_report")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, failed, retry, rejected...")] = None,
    limit: Annotated[int, typer.Option(**LIMIT)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The integration event log, newest first."""
    from kade.connections import get_connection
    from kade.eventlog import list_events
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        tenant_ids, connection_id = None, None
        if tenant:
            t_row = get_tenant(session, tenant)
            tenant_ids = [t_row.id or 0]
            if connection:
                connection_id = get_connection(session, t_row, connection).id
        elif connection:
            raise Exit2("--connection needs --tenant")
        items = [{"id": e.id, "at": e.at, "kind": e.kind, "outcome": e.outcome, "tenant_id": e.tenant_id,
                  "connection_id": e.connection_id, "message": e.message}
                 for e in list_events(session, tenant_ids=tenant_ids, connection_id=connection_id, kind=kind,
                                      outcome=outcome, limit=limit)]
    if as_json:
        print_json({"events": items})
        return
    t = table("Events", "at", "kind", "outcome", "connection", "message")
    for e in items:
        row(t, e["at"], e["kind"], e["outcome"], e["connection_id"], e["message"])
    out.print(t)
