"""Connecting stores: creation with validated credentials and settings, activation (rule R5).

A new connection imports products and orders only. Sending stock and shipments stays off until
the operator turns it on, and activation happens explicitly, after a summary of the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.db import Database
from kade.errors import UserError
from kade.inputs import check_name, check_url, parse_json, read_text
from kade.logs import MASK, mask_url, register_secrets
from kade.manager import KadePluginManager, Platform
from kade.models import Connection, ConnectionStatus, Tenant
from kade.secrets import Vault, is_encrypted
from kade.status import change_status
from kade.stock import queue_full_push
from kade.tenants import enabled_platforms
from kade.types import SettingSpec

#: settings every connection has, whatever its platform (rules R5, R6)
CORE_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(name="import_products", type="bool", default=True,
                description="create warehouse products for unknown store products, from orders and the "
                            "catalogue link (off: existing ones are still linked, none are created)"),
    SettingSpec(name="product_match", type="choice", choices=("sku_first", "ean_first"), default="sku_first",
                description="link products by product code then barcode, or the reverse"),
    SettingSpec(name="order_poll_interval", type="int", default=None, minimum=10, maximum=7 * 86400,
                description="seconds between order polls (default: the platform's)"),
)
SWITCHES = ("send_stock", "send_shipments")
NAME_LENGTH = 100  # connections.name
URL_LENGTH = 500  # connections.base_url


def read_credentials_file(path: Path) -> dict[str, str]:
    """Load a credentials JSON file (an object of strings), with a clear error for anything else."""
    what = f"credentials file {str(path)!r}"
    data = parse_json(read_text(path, "credentials file"), what)
    if not isinstance(data, dict):
        raise UserError(f"{what} holds a JSON {type(data).__name__.replace('dict', 'object')}; "
                        f'expected one object such as {{"api_key": "..."}}')
    if not all(isinstance(v, str) for v in data.values()):
        raise UserError(f"{what} must hold one JSON object of string values")
    return {str(k): v for k, v in data.items()}


def _check_credentials(platform: Platform, auth_method: str, credentials: dict[str, str]) -> None:
    if auth_method not in platform.spec.auth_methods:
        raise UserError(
            f"platform {platform.name!r} has no auth method {auth_method!r} "
            f"(known: {', '.join(platform.spec.auth_methods)})"
        )
    needed = platform.spec.credential_fields.get(auth_method, ())
    missing = [name for name in needed if not credentials.get(name)]
    if missing:
        raise UserError(f"credentials for {platform.name} ({auth_method}) lack: {', '.join(missing)}")


def parse_setting_args(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs (``--set``), each name once."""
    settings: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r}: expected NAME=VALUE")
        if key in settings:
            raise UserError(f"--set {key}: given twice")
        settings[key] = value
    return settings


def setting_specs(platform: Platform) -> dict[str, SettingSpec]:
    specs = {s.name: s for s in CORE_SETTINGS}
    specs.update({s.name: s for s in platform.spec.settings})
    return specs


def parse_setting(platform: Platform, name: str, raw: str | int | bool) -> Any:
    specs = setting_specs(platform)
    spec = specs.get(name)
    if spec is None:
        known = ", ".join(sorted([*specs, *SWITCHES]))
        raise UserError(f"{platform.name} has no setting {name!r} (known: {known})")
    try:
        return spec.parse(raw)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def default_settings(platform: Platform) -> dict[str, Any]:
    return {name: spec.default for name, spec in setting_specs(platform).items() if spec.default is not None}


def add_connection(
    session: Session,
    pm: KadePluginManager,
    vault: Vault,
    tenant: Tenant,
    *,
    platform_name: str,
    name: str,
    base_url: str,
    credentials: dict[str, str],
    auth_method: str | None = None,
    settings: dict[str, str] | None = None,
    replaces: str | None = None,
    actor: str = "cli",
) -> Connection:
    """Create a connection in status ``new`` with stock and shipments off (rule R5)."""
    platform = pm.platform(platform_name)
    if platform_name not in enabled_platforms(session, tenant):
        raise UserError(
            f"platform {platform_name!r} is not enabled for tenant {tenant.slug!r} "
            f"(enable it with `kade plugins enable {platform_name} --tenant {tenant.slug}`)"
        )
    check_name(name, "connection name", NAME_LENGTH)
    check_url(base_url, "base URL", URL_LENGTH)
    method = auth_method or platform.spec.default_auth_method
    _check_credentials(platform, method, credentials)
    if session.exec(select(Connection).where(Connection.tenant_id == tenant.id, Connection.name == name)).first():
        raise UserError(f"tenant {tenant.slug!r} already has a connection named {name!r}")
    values = default_settings(platform)
    for key, raw in (settings or {}).items():
        values[key] = parse_setting(platform, key, raw)
    missing = [s.name for s in platform.spec.settings if s.required and values.get(s.name) in (None, "")]
    if missing:
        raise UserError(f"{platform_name} connections need the setting(s): {', '.join(missing)}")
    values = _seal(platform, vault, values)
    register_secrets([base_url_password(base_url)])
    replaced_id = None
    if replaces is not None:
        replaced_id = get_connection(session, tenant, replaces).id
    assert tenant.id is not None
    connection = Connection(
        tenant_id=tenant.id,
        platform=platform.name,
        name=name,
        base_url=base_url.rstrip("/"),
        auth_method=method,
        credentials_encrypted=vault.encrypt(credentials),
        settings=values,
        replaces_id=replaced_id,
    )
    session.add(connection)
    session.flush()
    record_event(
        session, "connection_added", "ok", f"{name} ({platform.name}) added; stock and shipments off until enabled",
        tenant_id=tenant.id, connection_id=connection.id, data={"actor": actor, "auth_method": method},
    )
    return connection


def secret_settings(platform: Platform) -> set[str]:
    return {name for name, spec in setting_specs(platform).items() if spec.secret}


def _seal(platform: Platform, vault: Vault | None, values: dict[str, Any]) -> dict[str, Any]:
    """Encrypt the values of secret settings (like credentials); other settings stay readable."""
    secret = secret_settings(platform)
    sealed = dict(values)
    for name in secret & set(values):
        value = values[name]
        if value in (None, "") or is_encrypted(value):
            continue
        if vault is None:
            raise UserError(f"{name} is a secret setting: it needs the secret key to be stored")
        register_secrets([str(value)])
        sealed[name] = vault.encrypt_text(str(value))
    return sealed


def base_url_password(url: str) -> str:
    """The password in a URL's userinfo (``https://user:pw@host``), or "" when there is none."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def get_connection(session: Session, tenant: Tenant, name: str) -> Connection:
    conn = session.exec(select(Connection).where(Connection.tenant_id == tenant.id, Connection.name == name)).first()
    if conn is None:
        raise UserError(f"tenant {tenant.slug!r} has no connection named {name!r}")
    return conn


def connection_id(kade_db: Database, tenant: str, name: str) -> int:
    """The id of a tenant's connection by name, for work that opens its own sessions."""
    from kade.tenants import get_tenant

    with kade_db.session() as session:
        conn_id = get_connection(session, get_tenant(session, tenant), name).id
    assert conn_id is not None
    return conn_id


def list_connections(session: Session, tenant: Tenant | None = None) -> list[Connection]:
    query = select(Connection).order_by(col(Connection.tenant_id), col(Connection.name))
    if tenant is not None:
        query = query.where(Connection.tenant_id == tenant.id)
    return list(session.exec(query).all())


def update_setting(
    session: Session, pm: KadePluginManager, connection: Connection, name: str, raw: str, *, actor: str = "cli",
    vault: Vault | None = None,
) -> Any:
    """Change one setting (or the ``send_stock`` / ``send_shipments`` switches).

    A secret setting is stored encrypted with ``vault``; the event says it changed, never to what.
    """
    platform = pm.platform(connection.platform)
    if name in SWITCHES:
        spec = SettingSpec(name=name, type="bool")
        try:
            value: Any = spec.parse(raw)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        was = getattr(connection, name)
        setattr(connection, name, value)
        if name == "send_stock" and value and not was and connection.status == ConnectionStatus.ACTIVE:
            queue_full_push(session, connection)  # stock was not kept in sync meanwhile
    else:
        value = parse_setting(platform, name, raw)
        connection.settings = {**connection.settings, **_seal(platform, vault, {name: value})}
    session.add(connection)
    shown = f"{MASK} (secret)" if name in secret_settings(platform) else repr(value)
    record_event(
        session, "connection_setting", "ok", f"{connection.name}: {name} = {shown}",
        tenant_id=connection.tenant_id, connection_id=connection.id, data={"actor": actor, "setting": name},
    )
    return MASK if name in secret_settings(platform) else value


def settings_summary(pm: KadePluginManager, connection: Connection) -> list[tuple[str, str, str]]:
    """(setting, value, meaning) rows shown before activation (rule R5)."""
    platform = pm.platform(connection.platform)
    rows = [
        ("platform", platform.spec.title, ""),
        ("base_url", mask_url(connection.base_url), ""),
        ("auth_method", connection.auth_method, ""),
        ("send_stock", "on" if connection.send_stock else "off", "push warehouse stock to the store"),
        ("send_shipments", "on" if connection.send_shipments else "off", "report shipments and tracking"),
    ]
    for name, spec in setting_specs(platform).items():
        value = connection.settings.get(name, spec.default)
        if spec.secret and value not in (None, ""):
            value = f"{MASK} (set)"
        rows.append((name, "" if value is None else str(value), spec.description))
    return rows


def activate(session: Session, connection: Connection, *, actor: str = "cli") -> bool:
    """Activate after the settings review; a first activation that sends stock pushes all of it."""
    first = connection.activated_at is None
    changed = change_status(session, connection, ConnectionStatus.ACTIVE, reason="activated after settings review",
                            actor=actor)
    if changed and first and connection.send_stock:
        queue_full_push(session, connection)
    return changed


def pause(session: Session, connection: Connection, *, reason: str, actor: str = "cli") -> bool:
    return change_status(session, connection, ConnectionStatus.PAUSED, reason=reason, actor=actor)
