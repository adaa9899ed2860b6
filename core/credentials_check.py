"""The daily credentials check: prove each connection still logs in, and warn before expiry.

Bol's new login issues refresh tokens that die after 365 days; a warning weeks ahead beats a
connection that silently stops. A rejected login goes through the one audited status path.
"""

from __future__ import annotations

from datetime import timedelta

from kade.app import Kade
from kade.audit import notify, record_event
from kade.errors import AuthRejected, PlatformError
from kade.models import Connection, utcnow
from kade.status import login_rejected

WARN_DAYS = 30


def check_credentials(kade: Kade, connection_id: int) -> str:
    """Test one connection; returns "ok", "expiring", "failed" or "needs_reauth"."""
    connection = kade.load_connection(connection_id)
    platform = kade.pm.platform(connection.platform)
    try:
        result = platform.check_connection(kade.context(connection))
    except AuthRejected as exc:
        with kade.db.transaction() as session:
            row = session.get(Connection, connection_id)
            assert row is not None
            login_rejected(session, row, exc, actor="credentials-check")
        return "needs_reauth"
    except PlatformError as exc:
        result = None
        failure = str(exc)
    with kade.db.transaction() as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        if result is None or not result.ok:
            message = failure if result is None else result.message
            notify(session, "connection_test_failed", f"{row.name}: the daily connection test failed: {message}",
                   dedupe_key=f"test_failed:{row.id}:{utcnow().date()}", tenant_id=row.tenant_id,
                   connection_id=row.id)
            record_event(session, "credentials_check", "failed", message, tenant_id=row.tenant_id,
                         connection_id=row.id)
            return "failed"
        row.credentials_expire_at = result.credentials_expire_at
        session.add(row)
        record_event(session, "credentials_check", "ok", result.message, tenant_id=row.tenant_id,
                     connection_id=row.id)
        expires = result.credentials_expire_at
        if expires is not None and expires - utcnow() < timedelta(days=WARN_DAYS):
            notify(session, "credentials_expiring",
                   f"{row.name}: its {row.platform} authorisation expires on {expires:%Y-%m-%d}; "
                   "renew it (`kade connection migrate`) before then or the connection stops.",
                   dedupe_key=f"expiring:{row.id}:{expires.date()}", tenant_id=row.tenant_id,
                   connection_id=row.id)
            return "expiring"
    return "ok"
