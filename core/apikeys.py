"""HTTP API keys: made once, stored as a digest, checked on every request.

A key reads ``kade_<key id>_<secret>``. The key id finds the row; the secret is 32 random bytes
and only its SHA-256 is stored. A password KDF (scrypt, Argon2) exists to slow guessing of
*low-entropy* secrets; a 256-bit random secret cannot be guessed however fast the hash, and a
KDF would cost every request tens of milliseconds (docs/decisions/api-key-hashing.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.errors import UserError
from kade.models import ApiKey, Tenant, utcnow

PREFIX = "kade_"
#: read: GET only; write: everything of the key's tenant; operator: the cross-tenant endpoints
SCOPES = ("read", "write", "operator")
#: ``last_used_at`` is written at most this often per key, so reads stay reads
TOUCH_EVERY = timedelta(seconds=60)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    #: the full key, shown once
    token: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its tenant (None for an operator key) and scope."""

    key_id: int
    tenant_id: int | None
    scope: str

    @property
    def operator(self) -> bool:
        return self.scope == "operator"

    def can_write(self) -> bool:
        return self.scope == "write"


def create_key(session: Session, tenant: Tenant | None, scope: str, name: str = "") -> NewKey:
    """A tenant key (scope read|write) or, with no tenant, an operator key."""
    if scope not in SCOPES:
        raise UserError(f"unknown scope {scope!r} (known: {', '.join(SCOPES)})")
    if (tenant is None) != (scope == "operator"):
        raise UserError("operator keys have no tenant; tenant keys have scope read or write")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(key_id=key_id, tenant_id=tenant.id if tenant else None, scope=scope, name=name,
                 secret_hash=digest(secret))
    session.add(row)
    session.flush()
    record_event(session, "api_key_created", "ok", f"key {key_id} ({scope})", tenant_id=row.tenant_id)
    return NewKey(row, f"{PREFIX}{key_id}_{secret}")


def list_keys(session: Session, tenant: Tenant | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(col(ApiKey.id))
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    return list(session.exec(query).all())


def revoke_key(session: Session, key_id: str) -> ApiKey:
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None:
        raise UserError(f"no API key {key_id!r} (see `kade apikey list`)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        record_event(session, "api_key_revoked", "ok", f"key {key_id}", tenant_id=row.tenant_id)
    return row


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal for ``token``, or None for a malformed, unknown or revoked key."""
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 32:
        return None
    row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        session.execute(sa.update(ApiKey).where(col(ApiKey.id) == row.id).values(last_used_at=now))
    assert row.id is not None
    return Principal(row.id, row.tenant_id, row.scope)
