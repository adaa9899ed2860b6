"""``kade secrets``: the secret key (generate, check, rotate) and connections' webhook URL tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from kade.app import Kade
from kade.models import Connection

secrets_app = typer.Typer(help="Secret key and webhook URL tokens.", no_args_is_help=True)


def webhook_url(kade: Kade, connection: Connection) -> str:
    """Where the store sends this connection's webhooks (the token is the secret part)."""
    base = kade.settings.public_url.rstrip("/")
    path = f"/webhooks/{connection.webhook_token}"
    return base + path if base else f"{path}  (prefix the public address of `kade serve`; set KADE_PUBLIC_URL)"


@secrets_app.command("generate-key")
def generate_key() -> None:
    """Print a new key for KADE_SECRET_KEY (nothing is stored)."""
    from cryptography.fernet import Fernet

    from kade.cli.main import out

    out.print(Fernet.generate_key().decode(), markup=False, highlight=False)


@secrets_app.command("check")
def check() -> None:
    """Check the configured key against the database; count secrets under an older key."""
    from sqlmodel import select

    from kade.cli.main import make_kade, out
    from kade.secrets import encrypted_columns, is_encrypted

    kade = make_kade()  # refuses with one line when the key does not fit
    try:
        tokens: list[str] = []
        with kade.db.session() as session:
            for credentials, settings in session.exec(select(Connection.credentials_encrypted, Connection.settings)):
                tokens += [credentials, *(v for v in settings.values() if is_encrypted(v))]
            for model, name in encrypted_columns():
                tokens += session.exec(select(getattr(model, name))).all()
        total = len(tokens)
        stale = sum(not kade.vault.is_current(token) for token in tokens)
        out.print(f"the key opens this database's secrets; {total} stored, {stale} under an older key"
                  + (" (run `kade secrets rotate`)" if stale else ""))
    finally:
        kade.close()


@secrets_app.command("rotate")
def rotate(batch: Annotated[int, typer.Option(min=1, help="connections per transaction")] = 200) -> None:
    """Re-encrypt every stored secret under the first key of KADE_SECRET_KEY=NEW,OLD.

    Safe while workers run (each must already have NEW,OLD); resumable: run it again after an
    interruption. Afterwards the key check is renewed and OLD can be dropped from the setting.
    """
    from kade.cli.main import Exit2, err, make_kade, out
    from kade.secrets import RotateStats, rotate_secrets

    kade = make_kade()
    try:
        if not kade.vault.rotating:
            err.print("kade: KADE_SECRET_KEY holds one key: every secret is re-encrypted under it (set NEW,OLD "
                      "to move to a new key)", markup=False, soft_wrap=True)

        def progress(stats: RotateStats) -> None:
            err.print(f"kade: {stats.rotated} re-encrypted, {stats.current} already current", markup=False)

        stats = rotate_secrets(kade.db, kade.vault, batch=batch, progress=progress)
    finally:
        kade.close()
    if stats.conflicts:
        raise Exit2(f"{stats.conflicts} row(s) changed during every pass; run `kade secrets rotate` again")
    out.print(f"{stats.rotated} row(s) re-encrypted, {stats.current} already under the new key; the key "
              "check is renewed: the old key can be removed from KADE_SECRET_KEY")


@secrets_app.command("webhook-token")
def webhook_token(
    connection: Annotated[str, typer.Argument(help="connection name")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="tenant name")],
    rotate_token: Annotated[bool, typer.Option("--rotate", help="issue a new URL; the old one stops working")]
    = False,
) -> None:
    """Show a connection's webhook URL, or rotate its token."""
    from kade.cli.main import out, session_for
    from kade.connections import get_connection
    from kade.tenants import get_tenant
    from kade.webhooks import rotate_webhook_token

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), connection)
        if rotate_token:
            rotate_webhook_token(session, conn)
        out.print(f"webhook URL: {webhook_url(kade, conn)}", markup=False, highlight=False, soft_wrap=True)
