"""The ``kade`` command line (Typer + Rich): the app, the error wrapper and the command groups.

Every command module under ``kade.cli`` holds one group and exposes ``app`` (a group, registered
here under its name) or ``commands`` (top-level commands, merged into the root). Every user error
is one line on stderr with exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kade import __version__
from kade.cli import (
    actions,
    alert,
    apikey,
    connection,
    db,
    demo,
    events,
    health,
    orders,
    plugin,
    plugins,
    processes,
    product,
    recover,
    secrets,
    stock,
    tenant,
    webhook,
)
from kade.cli.common import Exit2, err

# modules written against the single-file CLI import these from here
from kade.cli.common import make_kade as make_kade
from kade.cli.common import out as out
from kade.cli.common import session_for as session_for
from kade.cli.common import table as table
from kade.cli.errors import one_line
from kade.errors import KadeError

app = typer.Typer(help="Kade: the integration hub between your warehouse and your stores.", no_args_is_help=True,
                  pretty_exceptions_enable=False)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="show the version and exit")] = False,
) -> None:
    if version:
        out.print(f"kade {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(2)


# command groups: one module each, one line each
app.add_typer(db.app, name="db")
app.add_typer(tenant.app, name="tenant")
app.add_typer(plugins.app, name="plugins")
app.add_typer(connection.app, name="connection")
app.add_typer(product.app, name="product")
app.add_typer(stock.app, name="stock")
app.add_typer(actions.app, name="actions")
app.add_typer(orders.app, name="orders")
app.add_typer(plugin.app, name="plugin")
app.add_typer(secrets.app, name="secrets")
app.add_typer(apikey.app, name="apikey")
app.add_typer(webhook.app, name="webhook")
app.add_typer(alert.app, name="alert")
app.add_typer(__import__("kade.cli.operator", fromlist=["app"]).app, name="operator")
# top-level commands
for _module in (orders, demo, processes, health, events, recover):
    app.registered_commands.extend(_module.commands.registered_commands)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every user error into one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="kade", standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) comes back as a return value here
            sys.exit(code)
    except (KadeError, Exit2) as exc:
        _fail(str(exc))
    except typer.Abort:
        _fail("aborted", prefix="kade: ")
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        message = one_line(exc)
        if message is None:
            raise
        _fail(message)


def _fail(message: str, *, prefix: str = "kade: error: ") -> None:
    err.print(prefix + message, markup=False, highlight=False, soft_wrap=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
