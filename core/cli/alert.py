"""``kade alert``: channels through which notifications reach a person (Apprise URLs)."""

from __future__ import annotations

from typing import Annotated

import typer

app: typer.Typer = typer.Typer(help="Alert channels: e-mail, Slack, Teams, generic webhooks (Apprise URLs).",
                  no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="a name for the channel")],
    url: Annotated[str, typer.Argument(help="Apprise URL: mailto://..., slack://..., msteams://..., json://...")],
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant's; default all")] = None,
    kinds: Annotated[str, typer.Option(help="comma-separated notification kinds; default all")] = "",
) -> None:
    """Add a channel: operator-wide (every notification), or one tenant's."""
    from kade.alerts import add_channel
    from kade.cli.common import out, session_for
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        channel = add_channel(session, kade.vault, get_tenant(session, tenant) if tenant else None, name, url,
                              [k.strip() for k in kinds.split(",") if k.strip()])
        out.print(f"alert channel {channel.id} ({channel.name}) added")


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False) -> None:
    """Alert channels (their URLs hold secrets and are not shown)."""
    from kade.alerts import list_channels
    from kade.cli.common import out, print_json, session_for, table
    from kade.listings import tenant_slugs

    with session_for() as (_, session):
        slugs = tenant_slugs(session)
        if as_json:
            print_json({"channels": [{"id": c.id, "name": c.name, "tenant": slugs.get(c.tenant_id) if c.tenant_id
                                      else None, "kinds": list(c.kinds)} for c in list_channels(session)]})
            return
        t = table("Alert channels", "id", "name", "tenant", "kinds")
        for channel in list_channels(session):
            t.add_row(str(channel.id), channel.name,
                      slugs.get(channel.tenant_id, "?") if channel.tenant_id else "(all)",
                      ", ".join(channel.kinds) or "(all)")
        out.print(t)


@app.command("remove")
def remove(channel_id: int) -> None:
    """Remove a channel."""
    from kade.alerts import remove_channel
    from kade.cli.common import out, session_for

    with session_for() as (_, session):
        channel = remove_channel(session, channel_id)
        out.print(f"alert channel {channel_id} ({channel.name}) removed")


@app.command("test")
def test(channel_id: int) -> None:
    """Send a test message through a channel now."""
    from kade.alerts import send
    from kade.cli.common import out, session_for
    from kade.errors import UserError
    from kade.models import AlertChannel

    with session_for() as (kade, session):
        channel = session.get(AlertChannel, channel_id)
        if channel is None:
            raise UserError(f"no alert channel {channel_id}")
        url = kade.vault.decrypt(channel.url_encrypted)["url"]
    if not send(url, "Kade: test", "This channel receives Kade's alerts."):
        raise UserError(f"channel {channel_id} refused the message or could not be reached")
    out.print(f"test message sent through {channel.name}")
