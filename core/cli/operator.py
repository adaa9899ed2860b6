"""``kade operator``: the accounts that log in to the console (``kade serve``, /console)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

app: typer.Typer = typer.Typer(help="Console operators: add, list, remove.", no_args_is_help=True)


@app.command("add")
def add(
    username: str,
    tenant: Annotated[list[str] | None, typer.Option("--tenant", "-t",
                                                     help="only this tenant (repeatable); default all")] = None,
) -> None:
    """Add an operator; the password is read from KADE_OPERATOR_PASSWORD or asked for (twice)."""
    from kade.cli.main import out, session_for
    from kade.operators import add_operator

    password = os.environ.get("KADE_OPERATOR_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    with session_for() as (_, session):
        op = add_operator(session, username, password, tenant or [])
        scope = ", ".join(tenant) if tenant else "all tenants"
        out.print(f"operator {op.username} added ({scope})", markup=False)


@app.command("list")
def list_cmd() -> None:
    """Operators and the tenants each may see."""
    from kade.cli.main import out, session_for, table
    from kade.operators import list_operators

    with session_for() as (_, session):
        t = table("Operators", "username", "tenants")
        for op in list_operators(session):
            t.add_row(op.username, "all" if op.tenant_ids is None else ", ".join(op.tenant_slugs) or "(none)")
        out.print(t)


@app.command("remove")
def remove(username: str) -> None:
    """Remove an operator and end their console sessions."""
    from kade.cli.main import out, session_for
    from kade.operators import remove_operator

    with session_for() as (_, session):
        remove_operator(session, username)
        out.print(f"operator {username} removed", markup=False)
