"""``kade product``: warehouse products (CSV/JSON import, store catalogue linking, listing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kade.cli.common import Exit2, JsonOpt, TenantOpt, kade_for, out, print_json, row, say, session_for, table

app: typer.Typer = typer.Typer(help="Warehouse products.", no_args_is_help=True)


@app.command("import")
def product_import(
    tenant: TenantOpt,
    file: Annotated[Path | None, typer.Argument(help="CSV (sku,ean,name,price,stock) or JSON list")] = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c",
                                                   help="import and link a store's products instead")] = None,
) -> None:
    """Import warehouse products from a file (upsert by SKU; all rows validated first), or link a
    store's products to warehouse products (R6), creating unknown ones unless import is off."""
    if (file is None) == (connection is None):
        raise Exit2("give either a product FILE or --connection NAME")
    if file is not None:
        from kade.products import read_product_file, upsert_products
        from kade.tenants import get_tenant

        rows = list(read_product_file(file))  # read and checked before any database work
        with session_for() as (_, session):
            created, updated = upsert_products(session, get_tenant(session, tenant), rows)
        say(f"{created} products created, {updated} updated")
        return
    from kade.catalog import link_store_products
    from kade.connections import connection_id

    with kade_for() as kade:
        stats = link_store_products(kade, connection_id(kade.db, tenant, connection or ""))
    say(f"{stats.linked} store products linked ({stats.created} created in the warehouse), "
        f"{stats.unmatched} without a match, {stats.quarantined} quarantined")


@app.command("list")
def product_list(tenant: TenantOpt, limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
                 as_json: JsonOpt = False) -> None:
    """List warehouse products."""
    from kade.products import list_products
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        items = [{"id": p.id, "sku": p.sku, "ean": p.ean, "name": p.name, "price": p.price, "stock": p.stock}
                 for p in list_products(session, get_tenant(session, tenant), limit)]
    if as_json:
        print_json({"products": items})
        return
    t = table("Products", "sku", "ean", "name", "price", "stock")
    for p in items:
        row(t, p["sku"], p["ean"], p["name"], p["price"], p["stock"])
    out.print(t)
