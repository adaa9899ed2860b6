"""The nightly full stock check (rule R7): stream the store's stock, correct only the drift.

No product-count cap: one page of the store's stock is in memory at a time, and only the
links of that page are loaded. A drifted product gets a normal (coalesced) stock push.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from kade.app import Kade
from kade.audit import record_event
from kade.models import ActionKind, Connection, Product, ProductLink
from kade.outbox import add_action
from kade.stock import effective_stocks, pending_key


@dataclass
class CheckStats:
    seen: int = 0
    drifted: int = 0
    unlinked: int = 0
    pages: int = 0


def full_stock_check(kade: Kade, connection_id: int) -> CheckStats:
    with kade.db.session() as session:
        connection = session.get(Connection, connection_id)
        assert connection is not None
        session.expunge(connection)
    stats = CheckStats()
    if not connection.send_stock:
        return stats
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    token: str | None = None
    while True:
        page = platform.read_stock(ctx, token)
        stats.pages += 1
        with kade.db.transaction() as session:
            ids = [item.remote_product_id for item in page.items]
            links = {
                link.remote_id: link
                for link in session.exec(
                    select(ProductLink).where(ProductLink.connection_id == connection_id,
                                              col(ProductLink.remote_id).in_(ids))
                ).all()
            }
            products = {
                p.id: p
                for p in session.exec(
                    select(Product).where(col(Product.id).in_([li.product_id for li in links.values()]))
                ).all()
            }
            stocks = effective_stocks(session, products.values())
            for item in page.items:
                stats.seen += 1
                link = links.get(item.remote_product_id)
                if link is None or link.product_id is None or not link.manages_stock:
                    stats.unlinked += 1
                    continue
                want = stocks[link.product_id]
                if item.quantity == want:
                    if link.last_pushed_stock != want:
                        link.last_pushed_stock = want
                        session.add(link)
                    continue
                stats.drifted += 1
                # Record what the store really has, so the push is not skipped as "unchanged".
                link.last_pushed_stock = item.quantity
                session.add(link)
                assert link.id is not None
                add_action(session, tenant_id=connection.tenant_id, connection_id=connection_id,
                           kind=ActionKind.STOCK, key=pending_key(connection_id, link.id),
                           payload={"link_id": link.id})
        if page.next_page_token is None:
            break
        token = page.next_page_token
    with kade.db.transaction() as session:
        record_event(session, "stock_check", "ok",
                     f"{stats.seen} checked, {stats.drifted} corrected, {stats.unlinked} not linked",
                     tenant_id=connection.tenant_id, connection_id=connection_id,
                     data={"seen": stats.seen, "drifted": stats.drifted})
    return stats
