"""The nightly full stock check (rule R7): stream the store's stock, correct only the drift.

No product-count cap: one page of the store's stock is in memory at a time, and only the
links of that page are loaded. A drifted product gets a normal (coalesced) stock push.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import notify, record_event
from kade.boundary import scrub
from kade.errors import AuthRejected, PlatformError, RateLimited
from kade.models import ActionKind, Connection, Product, ProductLink, utcnow
from kade.outbox import NewAction, add_actions
from kade.status import login_rejected
from kade.stock import effective_stocks, pending_key
from kade.types import RemoteStock


@dataclass
class CheckStats:
    seen: int = 0
    drifted: int = 0
    unlinked: int = 0
    pages: int = 0


#: seconds after each failed nightly check before it is tried again the same night; then the
#: next night's check is the next chance, and the operator is told
CHECK_RETRIES = (600.0, 1800.0, 5400.0)


def nightly_check(kade: Kade, connection_id: int, attempt: int = 1) -> float | None:
    """The nightly check of one connection (``full_stock_check``), failures included.

    A store that fails the check (a 503 at 03:00, a timeout halfway through a million items) is
    tried again the same night, after ``CHECK_RETRIES``; the delay is returned, or None when the
    check is done or may not be tried again. A rejected login moves the connection to
    ``needs_reauth`` (its stock waits anyway). Each failure is an event; the last one notifies.
    """
    try:
        full_stock_check(kade, connection_id)
        return None
    except PlatformError as exc:
        reason = scrub(f"{type(exc).__name__}: {exc}")
        with kade.db.transaction() as session:
            connection = session.get(Connection, connection_id)
            if connection is None:
                return None
            if isinstance(exc, AuthRejected):
                login_rejected(session, connection, exc)
                return None
            delay = CHECK_RETRIES[attempt - 1] if attempt <= len(CHECK_RETRIES) else None
            if delay is not None and isinstance(exc, RateLimited):
                delay = max(delay, exc.retry_after)
            record_event(session, "stock_check", "retry" if delay is not None else "failed",
                         f"attempt {attempt}: {reason}" + (f"; again in {delay:g} s" if delay is not None else ""),
                         tenant_id=connection.tenant_id, connection_id=connection_id,
                         data={"attempt": attempt, "retry_in": delay})
            if delay is None:
                notify(session, "stock_check_failed",
                       f"The nightly stock check of {connection.name!r} failed {attempt} times: {reason}. "
                       "Store stock may differ from the warehouse until the next night's check.",
                       dedupe_key=f"stock_check_failed:{connection_id}:{utcnow().date().isoformat()}",
                       tenant_id=connection.tenant_id, connection_id=connection_id)
        return delay


def full_stock_check(kade: Kade, connection_id: int) -> CheckStats:
    connection = kade.load_connection(connection_id)
    stats = CheckStats()
    if not connection.send_stock:
        return stats
    platform = kade.pm.platform(connection.platform)
    if not platform.spec.capabilities.stock_read:
        return stats  # the platform declares it cannot read stock back: nothing to compare
    ctx = kade.context(connection)
    token: str | None = None
    while True:
        page = platform.read_stock(ctx, token)
        stats.pages += 1
        with kade.db.transaction() as session:
            _check_page(session, connection, page.items, stats)
        if page.next_page_token is None:
            break
        token = page.next_page_token
    with kade.db.transaction() as session:
        record_event(session, "stock_check", "ok",
                     f"{stats.seen} checked, {stats.drifted} corrected, {stats.unlinked} not linked",
                     tenant_id=connection.tenant_id, connection_id=connection_id,
                     data={"seen": stats.seen, "drifted": stats.drifted})
    return stats


def _check_page(session: Session, connection: Connection, items: Sequence[RemoteStock], stats: CheckStats) -> None:
    """Compare one page with the warehouse; set-based, since a night may hold a million items."""
    assert connection.id is not None
    links = {
        remote_id: (link_id, product_id, last)
        for link_id, remote_id, product_id, last in session.exec(
            select(ProductLink.id, ProductLink.remote_id, ProductLink.product_id, ProductLink.last_pushed_stock)
            .where(ProductLink.connection_id == connection.id, ProductLink.manages_stock == sa.true(),
                   col(ProductLink.remote_id).in_([item.remote_product_id for item in items]))
        ).all()
    }
    product_ids = {product_id for _, product_id, _ in links.values() if product_id is not None}
    products = session.exec(select(Product).where(col(Product.id).in_(product_ids))).all()
    stocks = effective_stocks(session, products)
    remember: list[dict[str, int | None]] = []
    drifted: list[int] = []
    for item in items:
        stats.seen += 1
        entry = links.get(item.remote_product_id)
        if entry is None or entry[1] is None:
            stats.unlinked += 1
            continue
        link_id, product_id, last = entry
        assert link_id is not None and product_id is not None
        want = stocks[product_id]
        if item.quantity == want:
            if last != want:
                remember.append({"b_id": link_id, "b_value": want})
            continue
        stats.drifted += 1
        # Record what the store really has, so the push is not skipped as "unchanged".
        remember.append({"b_id": link_id, "b_value": item.quantity})
        drifted.append(link_id)
    if remember:
        table = ProductLink.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            table.update().where(table.c.id == sa.bindparam("b_id")).values(last_pushed_stock=sa.bindparam("b_value")),
            remember,
        )
    if drifted:
        add_actions(session, [NewAction(connection.tenant_id, connection.id, ActionKind.STOCK,
                                        pending_key(connection.id, link_id), {"link_id": link_id})
                              for link_id in drifted])
