"""``kade demo``: Kade's main job end to end against simulated stores."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from kade.cli.common import Exit2, load_settings, out, show_warning

commands: typer.Typer = typer.Typer()  # top-level: ``kade demo``


@commands.command("demo")
def demo_cmd(
    orders: Annotated[int, typer.Option(min=1, max=5000, help="orders per simulated store")] = 40,
    serve: Annotated[bool, typer.Option(help="keep the simulators running on localhost afterwards")] = False,
) -> None:
    """Run Kade's main job end to end against simulated stores (embedded mode, no setup)."""
    from kade.demo import run_demo
    from kade.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_format, "ERROR")
    warnings.showwarning = show_warning
    summary = run_demo(settings, out, orders=orders, serve=serve)
    if not (summary.orders_imported and summary.stock_pushed and summary.shipments_confirmed):
        raise Exit2("the demo finished with an empty summary; see the events above")
