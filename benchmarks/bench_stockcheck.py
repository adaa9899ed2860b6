"""Nightly full stock check over N products (default 1,000,000) in bounded memory.

Target (BRIEF): 1,000,000 products — ten times Picqer's cap — streamed with peak memory
≤ 500 MB. The store side is a plugin that generates its pages on the fly (so the store does not
inflate this process's memory); 1% of the products have drifted and must be corrected.

    .venv/bin/python benchmarks/bench_stockcheck.py [--products 1000000]
"""

from __future__ import annotations

import argparse
import time
import uuid

import sqlalchemy as sa
from _common import copy_linked_products, rss_mb
from cryptography.fernet import Fernet
from sqlmodel import func, select

from kade import hookimpl
from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection, update_setting
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.models import Action, ConnectionStatus
from kade.status import change_status
from kade.stockcheck import full_stock_check
from kade.tenants import add_tenant, enable_platform
from kade.types import Capabilities, PlatformSpec, RemoteStock, StockPage

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
PAGE = 1000


class StreamingStore:
    """A store whose stock pages are computed, not stored: product i has stock i % 50,
    except every 100th, which drifted to 999."""

    def __init__(self, products: int) -> None:
        self.products = products

    @hookimpl
    def kade_register_platforms(self) -> list[PlatformSpec]:
        return [PlatformSpec(name="stream", title="Streaming store", auth_methods=("token",),
                             default_auth_method="token",
                             capabilities=Capabilities(stock_batch_size=100, stock_read=True))]

    @hookimpl
    def read_stock(self, ctx: object, page_token: str | None) -> StockPage:
        start = int(page_token or 0)
        end = min(self.products, start + PAGE)
        items = tuple(
            RemoteStock(remote_product_id=f"r{i}", quantity=999 if i % 100 == 0 else i % 50)
            for i in range(start, end)
        )
        return StockPage(items=items, next_page_token=str(end) if end < self.products else None)


def load(dsn: str, tenant_id: int, connection_id: int, products: int) -> None:
    """COPY the warehouse products and their links (setup, not measured)."""
    copy_linked_products(dsn, tenant_id, connection_id, products,
                         row=lambda i: (f"SKU{i}", f"Product {i}", i % 50), remote_id_sql="'r' || substr(sku, 4)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    args = parser.parse_args()
    name = f"kade_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        db = Database(f"{PG}/{name}")
        db.upgrade()
        store = StreamingStore(args.products)
        kade = Kade(Settings(data_dir="/tmp/kade-bench", secret_key=Fernet.generate_key().decode(),
                             _env_file=None),
                    db=db, pm=make_plugin_manager(load_entrypoints=False, plugins=[(store, "stream")]))
        with kade.db.transaction() as session:
            tenant = add_tenant(session, "bench")
            enable_platform(session, kade.pm, tenant, "stream")
            conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="stream", name="s",
                                  base_url="https://stream.example", credentials={"token": "t"})
            update_setting(session, kade.pm, conn, "send_stock", "on")
            change_status(session, conn, ConnectionStatus.ACTIVE, reason="bench", actor="bench")
            session.flush()
            tenant_id, connection_id = tenant.id or 0, conn.id or 0
        t0 = time.perf_counter()
        load(f"postgresql://postgres@127.0.0.1:5432/{name}", tenant_id, connection_id, args.products)
        setup = time.perf_counter() - t0
        before = rss_mb()
        t0 = time.perf_counter()
        stats = full_stock_check(kade, connection_id)
        elapsed = time.perf_counter() - t0
        with kade.db.session() as session:
            queued = session.exec(select(func.count()).select_from(Action)).one()
        print(f"products: {args.products:,} (setup by COPY in {setup:.1f}s)")
        every = "OK" if stats.seen == args.products else "MISSED"
        print(f"checked: {stats.seen:,} of {args.products:,} in {stats.pages:,} pages, {elapsed:.1f}s "
              f"({stats.seen / max(elapsed, 1e-9):,.0f}/s)  {every}")
        exact = "OK" if queued == stats.drifted == args.products // 100 else "MISSED"
        print(f"drifted: {stats.drifted:,} corrected by {queued:,} queued pushes (expected {args.products // 100:,})"
              f"  {exact}")
        peak = rss_mb()
        print(f"peak RSS: {peak:.0f} MB (before the check: {before:.0f} MB; target ≤ 500 MB)  "
              f"{'OK' if peak <= 500 else 'MISSED'}")
        kade.close()
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
