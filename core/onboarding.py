"""Connecting a store with its credentials tested live before the connection is kept.

``add_connection`` (kade.connections) holds the rules; this adds the live check the console's
connect-a-store flow needs: the connection is created in status ``new`` (rule R5), the plugin's
``check_connection`` is called with it, and a refused check removes it again, so a typo leaves
nothing behind.
"""

from __future__ import annotations

from sqlmodel import select

from kade.app import Kade
from kade.audit import record_event
from kade.connections import add_connection
from kade.errors import PlatformError, UserError
from kade.models import Connection, ConnectionStatusChange
from kade.tenants import get_tenant


def add_tested_connection(kade: Kade, *, tenant_slug: str, platform_name: str, name: str, base_url: str,
                          auth_method: str, credentials: dict[str, str], settings: dict[str, str] | None = None,
                          actor: str) -> int:
    """The new connection's id once the store accepted the credentials; a ``UserError`` saying why not."""
    with kade.db.transaction() as session:
        tenant = get_tenant(session, tenant_slug)
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name=platform_name, name=name,
                              base_url=base_url, credentials=credentials, auth_method=auth_method,
                              settings=settings, actor=actor)
        connection_id = conn.id
        tenant_id = tenant.id
    assert connection_id is not None
    try:
        connection = kade.load_connection(connection_id)
        result = kade.pm.platform(platform_name).check_connection(kade.context(connection))
        ok, message, expires = result.ok, result.message, result.credentials_expire_at
    except (PlatformError, UserError) as exc:
        ok, message = False, str(exc)
    except Exception as exc:  # a store that cannot be reached at all is a refusal too
        ok, message = False, f"{type(exc).__name__}: {exc}"
    if ok:
        with kade.db.transaction() as session:
            kept = session.get(Connection, connection_id)
            assert kept is not None
            kept.credentials_expire_at = expires
            session.add(kept)
            record_event(session, "credentials_check", "ok", message, tenant_id=tenant_id,
                         connection_id=connection_id)
        return connection_id
    with kade.db.transaction() as session:
        for change in session.exec(select(ConnectionStatusChange)
                                   .where(ConnectionStatusChange.connection_id == connection_id)).all():
            session.delete(change)
        session.flush()
        row = session.get(Connection, connection_id)
        if row is not None:
            session.delete(row)  # its events stay: the log shows it was added, then refused
        record_event(session, "connection_check", "failed", f"{name} ({platform_name}) refused: {message}",
                     tenant_id=tenant_id, data={"actor": actor})
    raise UserError(f"the store did not accept these credentials: {message or 'no reason given'}")
