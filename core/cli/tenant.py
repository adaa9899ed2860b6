"""``kade tenant``: tenants (webshops / fulfilment customers)."""

from __future__ import annotations

from typing import Annotated

import typer

from kade.cli.common import JsonOpt, out, print_json, row, say, session_for, table

app: typer.Typer = typer.Typer(help="Tenants (webshops / fulfilment customers).", no_args_is_help=True)


@app.command("add")
def tenant_add(slug: str, name: Annotated[str | None, typer.Option(help="display name")] = None) -> None:
    """Add a tenant."""
    from kade.tenants import add_tenant

    with session_for() as (_, session):
        tenant = add_tenant(session, slug, name)
        say(f"tenant {tenant.slug} added")


@app.command("list")
def tenant_list(as_json: JsonOpt = False) -> None:
    """List tenants."""
    from kade.listings import connection_counts
    from kade.tenants import enabled_platforms, list_tenants

    with session_for() as (_, session):
        counts = connection_counts(session)
        items: list[dict[str, object]] = [
            {"id": t.id, "tenant": t.slug, "name": t.name, "platforms": sorted(enabled_platforms(session, t)),
             "connections": counts.get(t.id or 0, 0)} for t in list_tenants(session)]
    if as_json:
        print_json({"tenants": items})
        return
    t = table("Tenants", "tenant", "name", "platforms", "connections")
    for item in items:
        platforms = item["platforms"]
        assert isinstance(platforms, list)
        row(t, item["tenant"], item["name"], ", ".join(platforms), item["connections"])
    out.print(t)
