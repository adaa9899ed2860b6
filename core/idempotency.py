"""Client-keyed writes done once (``Idempotency-Key`` on the HTTP API).

The work and the record of its answer commit together: a repeat with the same key and body
gets the stored answer and changes nothing; the same key with another body is refused. Two
concurrent first requests race on the unique constraint and the loser returns the winner's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from kade.db import Database
from kade.errors import ConflictError
from kade.models import IdempotentRequest

Work = Callable[[Session], tuple[int, dict[str, Any]]]


def request_digest(request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _stored(session: Session, tenant_id: int, operation: str, key: str,
            digest: str) -> tuple[int, dict[str, Any]] | None:
    row = session.exec(select(IdempotentRequest).where(
        IdempotentRequest.tenant_id == tenant_id, IdempotentRequest.operation == operation,
        IdempotentRequest.key == key)).first()
    if row is None:
        return None
    if row.request_digest != digest:
        raise ConflictError(f"idempotency key {key!r} was used before with a different request")
    return row.status_code, dict(row.response)


def run_once(db: Database, tenant_id: int, operation: str, key: str | None, request: Any,
             work: Work) -> tuple[int, dict[str, Any], bool]:
    """(status, body, replayed): run ``work`` in a transaction unless ``key`` was seen with this request."""
    if key is None:
        with db.transaction() as session:
            status, body = work(session)
        return status, body, False
    digest = request_digest(request)
    try:
        with db.transaction() as session:
            found = _stored(session, tenant_id, operation, key, digest)
            if found is not None:
                return found[0], found[1], True
            status, body = work(session)
            session.add(IdempotentRequest(tenant_id=tenant_id, operation=operation, key=key,
                                          request_digest=digest, status_code=status, response=body))
            session.flush()
        return status, body, False
    except sa.exc.IntegrityError:
        with db.session() as session:
            found = _stored(session, tenant_id, operation, key, digest)
        if found is None:
            raise
        return found[0], found[1], True
