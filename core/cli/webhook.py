"""``kade webhook``: signed event subscriptions of a tenant's warehouse system."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="tenant name")]

app: typer.Typer = typer.Typer(help="Signed webhooks to the warehouse (events out).", no_args_is_help=True)


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="the endpoint, https://...")],
    tenant: TenantOpt,
    events: Annotated[str, typer.Option(help="comma-separated: orders.created,orders.changed,...")],
) -> None:
    """Subscribe URL to events; prints the signing secret once."""
    from kade.cli.common import out, session_for
    from kade.outbound import add_subscription
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        sub, secret = add_subscription(session, kade.vault, get_tenant(session, tenant), url, events.split(","))
        out.print(f"subscription {sub.id} added for {', '.join(sub.events)}; signing secret (shown only now):",
                  highlight=False)
    print(secret)


@app.command("list")
def list_cmd(tenant: TenantOpt,
             as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False) -> None:
    """A tenant's subscriptions."""
    from kade.cli.common import out, print_json, session_for, table
    from kade.outbound import list_subscriptions
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        if as_json:
            print_json({"subscriptions": [{"id": s.id, "url": s.url, "events": list(s.events),
                                           "created_at": s.created_at}
                                          for s in list_subscriptions(session, get_tenant(session, tenant))]})
            return
        t = table("Webhook subscriptions", "id", "url", "events", "since")
        for sub in list_subscriptions(session, get_tenant(session, tenant)):
            t.add_row(str(sub.id), sub.url, ", ".join(sub.events), sub.created_at.isoformat(timespec="seconds"))
        out.print(t)


@app.command("remove")
def remove(subscription: Annotated[int, typer.Argument(help="subscription id")], tenant: TenantOpt) -> None:
    """Remove a subscription; its undelivered events are dropped."""
    from kade.cli.common import out, session_for
    from kade.outbound import remove_subscription
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        dropped = remove_subscription(session, get_tenant(session, tenant), subscription)
        out.print(f"subscription {subscription} removed; {dropped} undelivered event(s) dropped")


@app.command("deliveries")
def deliveries(
    tenant: TenantOpt,
    subscription: Annotated[int | None, typer.Option(help="only this subscription")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="only deliveries given up on")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """The delivery log, newest first: event, status, attempts and the last answer."""
    from kade.cli.common import out, print_json, session_for, table
    from kade.outbound import attempts_of, list_deliveries
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        t = table("Webhook deliveries", "delivery", "event", "type", "status", "attempts", "last answer", "at")
        items = []
        for action, event in list_deliveries(session, get_tenant(session, tenant), subscription_id=subscription,
                                             failed=failed, limit=limit):
            assert action.id is not None
            tries = attempts_of(session, action.id)
            last = tries[-1] if tries else None
            answer = "" if last is None else (last.error or f"HTTP {last.status_code}")
            at = last.at if last else action.created_at
            items.append({"id": action.id, "event_id": event.event_id, "type": event.type, "status": action.status,
                          "attempts": len(tries), "last_answer": answer, "at": at})
            t.add_row(str(action.id), event.event_id, event.type, action.status, str(len(tries)), answer,
                      at.isoformat(timespec="seconds"))
        if as_json:
            print_json({"deliveries": items})
            return
        out.print(t)


@app.command("replay")
def replay_cmd(
    tenant: TenantOpt,
    ids: Annotated[list[int] | None, typer.Argument(help="delivery ids from `kade webhook deliveries`")] = None,
    subscription: Annotated[int | None, typer.Option(help="with --since: every delivery of it since then")] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time, e.g. 2026-12-01T08:00:00+00:00")] = None,
) -> None:
    """Send deliveries again, with their original event ids (receivers dedupe by them)."""
    from datetime import UTC

    from kade.cli.common import out, session_for
    from kade.outbound import replay
    from kade.tenants import get_tenant

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with session_for() as (_, session):
        count = replay(session, get_tenant(session, tenant), action_ids=ids or [], subscription_id=subscription,
                       since=since)
        out.print(f"{count} delivery(ies) queued again")
