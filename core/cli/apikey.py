"""``kade apikey``: keys for the warehouse's HTTP API (shown once, stored as a digest)."""

from __future__ import annotations

from typing import Annotated

import typer

app: typer.Typer = typer.Typer(help="API keys for the warehouse's HTTP API.", no_args_is_help=True)


@app.command("create")
def create(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="tenant the key acts for")] = None,
    scope: Annotated[str, typer.Option(help="read (GET only) or write; operator for --operator")] = "read",
    operator: Annotated[bool, typer.Option("--operator", help="a cross-tenant operator key")] = False,
    name: Annotated[str, typer.Option(help="what the key is for")] = "",
) -> None:
    """Create a key and print it once; Kade keeps only its digest."""
    from kade.apikeys import create_key
    from kade.cli.common import out, session_for
    from kade.errors import UserError
    from kade.tenants import get_tenant

    if operator == (tenant is not None):
        raise UserError("give either --tenant T (with --scope read|write) or --operator")
    with session_for() as (_, session):
        new = create_key(session, get_tenant(session, tenant) if tenant else None,
                         "operator" if operator else scope, name)
        out.print(f"key {new.key.key_id} ({new.key.scope}) created; it is shown only now:", highlight=False)
    print(new.token)


@app.command("list")
def list_cmd(tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False) -> None:
    """List keys (never their secrets) with when each was last used."""
    from kade.apikeys import list_keys
    from kade.cli.common import out, print_json, session_for, table
    from kade.listings import tenant_slugs
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        slugs = tenant_slugs(session)
        if as_json:
            print_json({"keys": [{"key_id": k.key_id, "tenant": slugs.get(k.tenant_id) if k.tenant_id else None,
                                  "scope": k.scope, "name": k.name, "created_at": k.created_at,
                                  "last_used_at": k.last_used_at, "revoked_at": k.revoked_at}
                                 for k in list_keys(session, get_tenant(session, tenant) if tenant else None)]})
            return
        t = table("API keys", "key id", "tenant", "scope", "name", "created", "last used", "revoked")
        for key in list_keys(session, get_tenant(session, tenant) if tenant else None):
            t.add_row(key.key_id, slugs.get(key.tenant_id, "(operator)") if key.tenant_id else "(operator)",
                      key.scope, key.name, key.created_at.isoformat(timespec="seconds"),
                      key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never",
                      key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "")
        out.print(t)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key id from `kade apikey list`")]) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from kade.apikeys import revoke_key
    from kade.cli.common import out, session_for

    with session_for() as (_, session):
        key = revoke_key(session, key_id)
        out.print(f"key {key.key_id} revoked")
