"""``kade health``: connections by status and the outbox backlog; exit 1 while an alert holds."""

from __future__ import annotations

import typer

from kade.cli.common import JsonOpt, err, kade_for, out, print_json, row, table

commands: typer.Typer = typer.Typer()  # top-level: ``kade health``


@commands.command("health")
def health_cmd(as_json: JsonOpt = False) -> None:
    """Connections by status, pending and failed actions; exits 1 while an alert holds."""
    from kade.health import check_alerts

    with kade_for() as kade:
        report = check_alerts(kade)
    if as_json:
        print_json({"ok": report.ok, "connections": dict(sorted(report.connections.items())),
                    "pending": report.pending, "failed": report.failed,
                    "oldest_pending_seconds": report.oldest_pending_seconds, "alerts": list(report.alerts)})
    else:
        t = table("Health", "what", "value")
        for status, count in sorted(report.connections.items()):
            row(t, f"connections {status}", count)
        row(t, "pending actions", report.pending)
        row(t, "failed actions", report.failed)
        age = report.oldest_pending_seconds
        row(t, "oldest pending", "-" if age is None else f"{age:.0f}s")
        out.print(t)
        for alert in report.alerts:
            err.print(f"ALERT: {alert}", markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
