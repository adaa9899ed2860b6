"""Console operators: accounts with scrypt-hashed passwords, tenant scopes and login sessions.

One place for these rules: ``kade operator`` (CLI) and the console both call them. A session
token lives only in the operator's cookie; the database keeps its SHA-256, so a copy of the
database opens no session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, col, select

from kade.errors import UserError
from kade.models import Operator, OperatorSession, OperatorTenant, Tenant, utcnow
from kade.tenants import get_tenant

#: scrypt cost: 2**15 × 8 × 128 B = 32 MiB and ~50 ms per hash on a laptop core
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=64 * 1024 * 1024, dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


#: verified against when the username is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass
class OperatorView:
    id: int
    username: str
    #: None: every tenant
    tenant_ids: set[int] | None
    tenant_slugs: list[str] = field(default_factory=list)

    def sees(self, tenant_id: int | None) -> bool:
        """Operator-wide rows (tenant None) are for all-tenant operators only."""
        if self.tenant_ids is None:
            return True
        return tenant_id is not None and tenant_id in self.tenant_ids


def add_operator(session: Session, username: str, password: str, tenants: list[str] | None = None) -> Operator:
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise UserError("an operator name is 1-100 characters without spaces")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if session.exec(select(Operator).where(Operator.username == username)).first():
        raise UserError(f"operator {username!r} already exists")
    rows = [get_tenant(session, slug) for slug in tenants or []]
    op = Operator(username=username, password_hash=hash_password(password), all_tenants=not rows)
    session.add(op)
    session.flush()
    assert op.id is not None
    for tenant in rows:
        assert tenant.id is not None
        session.add(OperatorTenant(operator_id=op.id, tenant_id=tenant.id))
    return op


def _get(session: Session, username: str) -> Operator:
    op = session.exec(select(Operator).where(Operator.username == username)).first()
    if op is None:
        raise UserError(f"no operator {username!r}")
    return op


def remove_operator(session: Session, username: str) -> None:
    op = _get(session, username)
    for model in (OperatorSession, OperatorTenant):
        for row in session.exec(select(model).where(model.operator_id == op.id)).all():
            session.delete(row)
    session.flush()
    session.delete(op)


def view(session: Session, op: Operator) -> OperatorView:
    assert op.id is not None
    if op.all_tenants:
        return OperatorView(op.id, op.username, None)
    tenants = session.exec(select(Tenant).join(OperatorTenant, col(OperatorTenant.tenant_id) == col(Tenant.id))
                           .where(OperatorTenant.operator_id == op.id).order_by(col(Tenant.slug))).all()
    return OperatorView(op.id, op.username, {t.id for t in tenants if t.id is not None}, [t.slug for t in tenants])


def list_operators(session: Session) -> list[OperatorView]:
    return [view(session, op) for op in session.exec(select(Operator).order_by(col(Operator.username))).all()]


def visible_tenants(session: Session, who: OperatorView) -> list[Tenant]:
    query = select(Tenant).order_by(col(Tenant.slug))
    if who.tenant_ids is not None:
        query = query.where(col(Tenant.id).in_(who.tenant_ids or {-1}))
    return list(session.exec(query).all())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, username: str, password: str) -> tuple[str, OperatorSession]:
    """A new session token for a right name and password; the same vague error for anything else."""
    op = session.exec(select(Operator).where(Operator.username == username)).first()
    if op is None:
        verify_password(password, _DUMMY_HASH)
        raise UserError("unknown operator or wrong password")
    if not verify_password(password, op.password_hash):
        raise UserError("unknown operator or wrong password")
    assert op.id is not None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = OperatorSession(token_hash=_token_hash(token), operator_id=op.id, csrf_token=secrets.token_urlsafe(32),
                          created_at=now, expires_at=now + SESSION_LIFETIME)
    session.add(row)
    return token, row


def session_of(session: Session, token: str) -> tuple[OperatorSession, OperatorView] | None:
    """The live session a cookie names (None when unknown or expired) with who it belongs to."""
    if not token:
        return None
    row = session.exec(select(OperatorSession).where(OperatorSession.token_hash == _token_hash(token))).first()
    if row is None or row.expires_at <= utcnow():
        return None
    op = session.get(Operator, row.operator_id)
    if op is None:
        return None
    return row, view(session, op)


def logout(session: Session, token: str) -> None:
    row = session.exec(select(OperatorSession).where(OperatorSession.token_hash == _token_hash(token))).first()
    if row is not None:
        session.delete(row)
