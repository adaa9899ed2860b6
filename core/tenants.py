"""Tenants and which platforms each may use."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.errors import UserError
from kade.inputs import check_name
from kade.manager import KadePluginManager
from kade.models import Connection, ConnectionStatus, PluginEnablement, Tenant

NAME_LENGTH = 200  # tenants.name
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def add_tenant(session: Session, slug: str, name: str | None = None) -> Tenant:
    if not _SLUG.fullmatch(slug):
        raise UserError(f"tenant name {slug!r} is not valid: use 1 to 63 lowercase letters, digits and dashes, "
                        f"starting with a letter or digit")
    if session.exec(select(Tenant).where(Tenant.slug == slug)).first() is not None:
        raise UserError(f"tenant {slug!r} already exists")
    if name is not None:
        check_name(name, "tenant display name", NAME_LENGTH)
    tenant = Tenant(slug=slug, name=name or slug)
    session.add(tenant)
    session.flush()
    record_event(session, "tenant_added", "ok", f"tenant {slug} added", tenant_id=tenant.id)
    return tenant


def get_tenant(session: Session, slug: str) -> Tenant:
    tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        raise UserError(f"unknown tenant {slug!r} (add it with `kade tenant add {slug}`)")
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.exec(select(Tenant).order_by(Tenant.slug)).all())


def enabled_platforms(session: Session, tenant: Tenant) -> set[str]:
    rows = session.exec(select(PluginEnablement.platform).where(PluginEnablement.tenant_id == tenant.id)).all()
    return set(rows)


def tenants_by_platform(session: Session) -> dict[str, list[str]]:
    rows = session.exec(
        select(PluginEnablement.platform, Tenant.slug).join(Tenant, col(Tenant.id) == col(PluginEnablement.tenant_id))
    ).all()
    result: dict[str, list[str]] = {}
    for platform, slug in rows:
        result.setdefault(platform, []).append(slug)
    return result


def enable_platform(session: Session, pm: KadePluginManager, tenant: Tenant, platform: str) -> bool:
    """Allow ``tenant`` to connect stores of ``platform``; False when already allowed."""
    pm.platform(platform)  # unknown platform → UserError
    if platform in enabled_platforms(session, tenant):
        return False
    assert tenant.id is not None
    try:
        with session.begin_nested():
            session.add(PluginEnablement(tenant_id=tenant.id, platform=platform))
    except sa.exc.IntegrityError:
        return False
    record_event(session, "plugin_enabled", "ok", f"{platform} enabled for {tenant.slug}", tenant_id=tenant.id)
    return True


def disable_platform(session: Session, tenant: Tenant, platform: str) -> bool:
    """Withdraw a platform; refused while the tenant still has running connections on it."""
    row = session.exec(
        select(PluginEnablement).where(PluginEnablement.tenant_id == tenant.id, PluginEnablement.platform == platform)
    ).first()
    if row is None:
        return False
    busy = session.exec(
        select(Connection.name).where(
            Connection.tenant_id == tenant.id,
            Connection.platform == platform,
            Connection.status != ConnectionStatus.DISABLED,
        )
    ).all()
    if busy:
        raise UserError(
            f"cannot disable {platform} for {tenant.slug}: connections still use it ({', '.join(busy)}); "
            "disable them first"
        )
    session.delete(row)
    record_event(session, "plugin_disabled", "ok", f"{platform} disabled for {tenant.slug}", tenant_id=tenant.id)
    return True
