"""``kade stock``: warehouse stock."""

from __future__ import annotations

from typing import Annotated

import typer

from kade.cli.common import TenantOpt, say, session_for
from kade.cli.inputs import QUANTITY

app: typer.Typer = typer.Typer(help="Warehouse stock.", no_args_is_help=True)


@app.command("set")
def stock_set(sku: str, quantity: Annotated[int, typer.Argument(**QUANTITY)], tenant: TenantOpt) -> None:
    """Set a product's stock; pushes follow to every store that sends stock."""
    from kade.stock import set_stock
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        _, queued = set_stock(session, get_tenant(session, tenant), sku, quantity,
                              window=kade.settings.stock_window)
        say(f"{sku} = {quantity}; {queued} store push(es) queued")
