"""What an operator needs to see of each connection, in one query set (console; the CLI's later).

Status and its last change come from ``kade.feed.connection_statuses`` (the warehouse API's
answer too); this adds the last successful order import, the last error, the login's expiry and
the webhook path.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlmodel import Session, col, select

from kade.feed import connection_statuses, iso
from kade.manager import KadePluginManager
from kade.models import Connection, ConnectionRuntime, Event


def connection_rows(session: Session, pm: KadePluginManager,
                    tenant_ids: Collection[int] | None) -> list[dict[str, Any]]:
    """``tenant_ids`` None: every tenant's connections."""
    rows = connection_statuses(session, None)
    if tenant_ids is not None:
        rows = [r for r in rows if r["tenant_id"] in tenant_ids]
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    last_failed: dict[int, Event] = {}
    for ev in session.exec(select(Event).where(col(Event.connection_id).in_(ids), Event.outcome == "failed")
                           .order_by(col(Event.id))).all():
        assert ev.connection_id is not None
        last_failed[ev.connection_id] = ev
    runtime = {r.connection_id: r for r in session.exec(
        select(ConnectionRuntime).where(col(ConnectionRuntime.connection_id).in_(ids))).all()}
    conns = {c.id: c for c in session.exec(select(Connection).where(col(Connection.id).in_(ids))).all()}
    for row in rows:
        conn = conns[row["id"]]
        rt = runtime.get(row["id"])
        failed = last_failed.get(row["id"])
        row["last_import_at"] = iso(rt.last_import_at if rt is not None else None)
        row["last_error"] = (rt.import_error if rt and rt.import_error else
                             (f"{failed.kind}: {failed.message}" if failed else None))
        row["login_expires_at"] = iso(conn.credentials_expire_at)
        takes_webhooks = conn.platform in pm.platforms() and pm.platform(conn.platform).spec.capabilities.webhooks
        row["webhook_path"] = f"/webhooks/{conn.webhook_token}" if takes_webhooks and conn.webhook_token else None
        row["base_url"] = conn.base_url
    return rows
