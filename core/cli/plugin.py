"""``kade plugin``: start a new platform plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app: typer.Typer = typer.Typer(help="Write a new platform plugin.", no_args_is_help=True)


@app.command("new")
def plugin_new(
    name: Annotated[str, typer.Argument(help="the platform's name, e.g. mystore")],
    directory: Annotated[Path | None, typer.Option("--dir", help="where to write it (default: ./kade-NAME)")] = None,
) -> None:
    """Write a plugin package (plugin, client, mapping, simulator, harness, tests) that passes the kit."""
    from kade.manager import make_plugin_manager
    from kade.scaffold import new_plugin

    slug = name.strip().lower().replace("-", "_")
    dest = directory or Path(f"kade-{slug.replace('_', '-')}")
    taken = set(make_plugin_manager().platforms())
    written = new_plugin(name, dest, taken=taken)
    typer.echo(f"wrote {len(written)} files to {dest}")
    typer.echo(f"next: pip install -e {dest} && pytest {dest}/tests   (see docs/plugins.md)")

plugin_app = app  # the name before every command module exposed ``app``
