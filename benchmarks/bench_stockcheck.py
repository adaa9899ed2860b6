"""Nightly full stock check over N products (default 1,000,000) in bounded memory.

Target (BRIEF): 1,000,000 products — ten times Picqer's cap — streamed with peak memory
≤ 500 MB. The store side is a plugin that generates its pages on the fly (so the store does not
inflate this process's memory); 1% of the products have drifted and must be corrected.

    .venv/bin/python benchmarks/bench_stockcheck.py [--products 1000000]
"""

from __future__ import annotations

import argparse
import time

from _common import active_connection, copy_linked_products, rss_mb, temp_database
from cryptography.fernet import Fernet
from sqlmodel import func, select

from kade import hookimpl
from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.models import Action
from kade.stockcheck import full_stock_check
from kade.types import Capabilities, PlatformSpec, RemoteStock, StockPage

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
    with temp_database() as url:
        store = StreamingStore(args.products)
        kade = Kade(Settings(data_dir="/tmp/kade-bench", secret_key=Fernet.generate_key().decode(),
                             _env_file=None),
                    db=Database(url), pm=make_plugin_manager(load_entrypoints=False, plugins=[(store, "stream")]))
        tenant_id, connection_id = active_connection(kade, "stream", "https://stream.example", {"token": "t"})
        t0 = time.perf_counter()
        load(url.replace("+psycopg", ""), tenant_id, connection_id, args.products)
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


if __name__ == "__main__":
    main()
