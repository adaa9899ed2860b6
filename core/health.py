"""Health: connections by status, the outbox's backlog, and the alerts that must wake someone.

The active-connection alert exists because of the seed's outage: a release deactivated every
connection still on the old login and nobody noticed for three hours. A drop of more than
``alert_drop_share`` of the active connections within ``alert_window`` seconds raises it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from sqlmodel import col, func, select

from kade.app import Kade
from kade.audit import notify
from kade.models import Action, ActionStatus, Connection, ConnectionStatus, ConnectionStatusChange, utcnow
from kade.runstate import failing_imports


@dataclass
class HealthReport:
    connections: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    failed: int = 0
    oldest_pending_seconds: float | None = None
    alerts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.alerts


def active_drop(kade: Kade) -> tuple[int, int]:
    """(connections that left ``active`` within the window and are not back, active now)."""
    since = utcnow() - timedelta(seconds=kade.settings.alert_window)
    with kade.db.session() as session:
        left = session.exec(
            select(ConnectionStatusChange.connection_id)
            .join(Connection, col(Connection.id) == col(ConnectionStatusChange.connection_id))
            .where(col(ConnectionStatusChange.at) >= since,
                   col(ConnectionStatusChange.from_status) == ConnectionStatus.ACTIVE.value,
                   col(Connection.status) != ConnectionStatus.ACTIVE.value)
            .distinct()
        ).all()
        active: Any = session.exec(
            select(func.count()).select_from(Connection).where(Connection.status == ConnectionStatus.ACTIVE)
        ).one()
    return len(left), int(active)


def health(kade: Kade) -> HealthReport:
    report = HealthReport()
    with kade.db.session() as session:
        for status, count in session.exec(
            select(Connection.status, func.count()).group_by(col(Connection.status))
        ).all():
            report.connections[str(status)] = int(count)
        report.pending = int(session.exec(
            select(func.count()).select_from(Action).where(Action.status == ActionStatus.PENDING)).one())
        report.failed = int(session.exec(
            select(func.count()).select_from(Action).where(Action.status == ActionStatus.FAILED)).one())
        oldest = session.exec(select(func.min(Action.created_at)).where(Action.status == ActionStatus.PENDING)).one()
        failing = failing_imports(session)
    if oldest is not None:
        value = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
        report.oldest_pending_seconds = (utcnow() - value).total_seconds()
    dropped, active = active_drop(kade)
    if dropped and dropped / (dropped + active) > kade.settings.alert_drop_share:
        report.alerts.append(
            f"{dropped} of {dropped + active} active connections stopped being active within "
            f"{kade.settings.alert_window:.0f}s"
        )
    reauth = report.connections.get(ConnectionStatus.NEEDS_REAUTH.value, 0)
    if reauth:
        report.alerts.append(f"{reauth} connection(s) need re-authorisation")
    for connection_id, name, failures, since, reason in failing:
        when = f" since {since.isoformat(timespec='seconds')}" if since else ""
        report.alerts.append(
            f"connection {name} (id {connection_id}): order import failed {failures} times in a row{when}: {reason}"
        )
    if report.failed:
        report.alerts.append(f"{report.failed} action(s) failed after retries (`kade actions list --failed`)")
    return report


def check_alerts(kade: Kade) -> HealthReport:
    """Compute health and raise a notification for an active-connection drop (once per window)."""
    report = health(kade)
    drop = next((a for a in report.alerts if "stopped being active" in a), None)
    if drop is not None:
        bucket = int(utcnow().timestamp() // kade.settings.alert_window)
        with kade.db.transaction() as session:
            notify(session, "active_connections_dropped", drop, dedupe_key=f"active_drop:{bucket}")
    return report
