"""``kade db``: the database schema."""

from __future__ import annotations

import typer

from kade.cli.common import kade_for, say

app: typer.Typer = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version of Kade."""
    from kade.secrets import store_key_check

    with kade_for(check_schema=False) as kade:
        kade.db.upgrade()
        # the embedded mode's key is made (and announced) here, once; the key check is stored
        with kade.db.transaction() as session:
            store_key_check(session, kade.vault)
        say(f"database at the newest schema ({kade.db.engine.url.render_as_string(hide_password=True)})")


@app.command("status")
def db_status() -> None:
    """Show the schema revision of the database."""
    from kade.db import current_revision, head_revision

    with kade_for(check_schema=False) as kade:
        current = current_revision(kade.db.engine)
        say(f"database: {kade.db.engine.url.render_as_string(hide_password=True)}")
        say(f"revision: {current or 'none'} (newest: {head_revision()})")
