"""Moving a connection to another login method without a moment of downtime (rule R10).

The plugin verifies the new credentials with a live call first. Only then, in one transaction,
the connection switches; until that commit the old credentials stay in place and keep working.
A failure leaves the connection exactly as it was — active, on the old method — and notifies.
"""

from __future__ import annotations

from collections.abc import Mapping

from kade.app import Kade
from kade.audit import notify, record_event
from kade.errors import PlatformError, UserError
from kade.logs import register_secrets
from kade.models import Connection, utcnow
from kade.types import MigrationResult


def migrate(kade: Kade, connection_id: int, target_auth_method: str, new_credentials: Mapping[str, str],
            *, actor: str) -> MigrationResult:
    register_secrets(new_credentials.values())
    connection = kade.load_connection(connection_id)
    if connection.auth_method == target_auth_method:
        raise UserError(f"{connection.name} already uses {target_auth_method}")
    platform = kade.pm.platform(connection.platform)
    try:
        result = platform.migrate_connection(kade.context(connection), target_auth_method, dict(new_credentials))
    except PlatformError as exc:
        with kade.db.transaction() as session:
            notify(session, "migration_failed",
                   f"Moving {connection.name} to {target_auth_method} failed: {exc}. It keeps working with "
                   f"{connection.auth_method}.", dedupe_key=f"migration_failed:{connection_id}",
                   tenant_id=connection.tenant_id, connection_id=connection_id)
            record_event(session, "connection_migration", "failed", str(exc), tenant_id=connection.tenant_id,
                         connection_id=connection_id, data={"target": target_auth_method, "actor": actor})
        raise UserError(f"migration of {connection.name} failed, nothing changed: {exc}") from exc
    register_secrets(result.credentials.values())
    with kade.db.transaction() as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        previous = row.auth_method
        row.auth_method = result.auth_method
        row.credentials_encrypted = kade.vault.encrypt(dict(result.credentials))
        row.updated_at = utcnow()
        session.add(row)
        record_event(session, "connection_migration", "ok",
                     f"{row.name}: {previous} → {result.auth_method}. {result.message}".strip(),
                     tenant_id=row.tenant_id, connection_id=connection_id,
                     data={"from": previous, "to": result.auth_method, "actor": actor})
    return result
