"""The warehouse API over real HTTP: bulk stock changes into the outbox, and the order feed.

Targets (issue 13): bulk stock changes ≥ 5,000 items/s accepted into the outbox on PostgreSQL;
the order feed ≥ 10,000 orders/s read.

A ``kade serve`` process (uvicorn, PostgreSQL, Redis mode so no embedded worker competes) serves
the API; this process is the WMS. Stock: ``--products`` linked products, changed in requests
of ``--batch`` items; "accepted" means the 202 came back, i.e. the stock, the pending push per
product link and the idempotency record are committed. The first round creates the outbox
rows; later rounds change the values again within the window and coalesce into the pushes
already pending (what a busy warehouse does). Feed: ``--orders`` orders of two lines, read with
``limit=1000`` pages from the start, twice.

Run: ``.venv/bin/python benchmarks/bench_api.py [--products 10000] [--orders 20000]``
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from _common import REDIS_URL, ROOT, make_kade, temp_database, verdict
from sqlmodel import col, select

from kade.apikeys import create_key
from kade.connections import add_connection, update_setting
from kade.models import Action, ActionKind, Order, OrderLine, Product, ProductLink, utcnow
from kade.status import ConnectionStatus, change_status
from kade.tenants import add_tenant, enable_platform
from tests.support.fakeplatform import FakePlatform, FakeStore


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} (1/5 min) on {os.cpu_count()} cores"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: on a shared, overloaded machine the wall-clock rate says
    more about the neighbours than about Kade; items per CPU-second of the server does not."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(kade, products: int, orders: int) -> tuple[str, int]:
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "bench")
        enable_platform(session, kade.pm, tenant, "fake")
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name="fake", name="shop",
                              base_url="https://store.example", credentials={"token": "good"})
        update_setting(session, kade.pm, conn, "send_stock", "on")
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="bench", actor="bench")
        token = create_key(session, tenant, "write").token
        assert tenant.id is not None and conn.id is not None
        tenant_id, conn_id = tenant.id, conn.id
    now = utcnow()
    with kade.db.engine.begin() as c:
        c.execute(Product.__table__.insert(), [  # type: ignore[attr-defined]
            {"tenant_id": tenant_id, "sku": f"SKU{i:06d}", "ean": None, "name": f"product {i}", "stock": 0,
             "updated_at": now} for i in range(products)])
        ids = [row[0] for row in c.execute(sa.select(col(Product.id)).order_by(col(Product.id)))]
        c.execute(ProductLink.__table__.insert(), [  # type: ignore[attr-defined]
            {"connection_id": conn_id, "product_id": pid, "remote_id": f"r{pid}", "remote_sku": f"SKU{n:06d}",
             "manages_stock": True} for n, pid in enumerate(ids)])
        order_rows = [{"tenant_id": tenant_id, "connection_id": conn_id, "remote_id": f"O{i}", "number": f"N{i}",
                       "status": "open", "cancellation_requested": False, "currency": "EUR", "total": 19.90,
                       "billing_address": {}, "shipping_address": {}, "raw": {}, "picked": False,
                       "remote_digest": "", "imported_at": now, "updated_at": now + timedelta(microseconds=i)}
                      for i in range(orders)]
        for start in range(0, orders, 5000):
            result = c.execute(Order.__table__.insert().returning(Order.__table__.c.id),  # type: ignore[attr-defined]
                               order_rows[start:start + 5000])
            order_ids = [r[0] for r in result]
            c.execute(OrderLine.__table__.insert(), [  # type: ignore[attr-defined]
                {"order_id": oid, "remote_line_id": f"{oid}-{k}", "sku": f"SKU{(oid * 7 + k) % products:06d}",
                 "name": "line", "quantity": 1 + k, "quantity_shipped": 0, "quantity_cancelled": 0,
                 "unit_price": 9.95, "fulfilled_by_marketplace": False} for oid in order_ids for k in range(2)])
        c.execute(sa.text("ANALYZE"))
    return token, conn_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000, help="items per stock request")
    parser.add_argument("--rounds", type=int, default=3, help="times every product's stock is changed")
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    print(f"before: {load()}")
    with temp_database() as url, tempfile.TemporaryDirectory() as tmp:
        kade = make_kade(url, Path(tmp), plugins=[(FakePlatform(FakeStore()), "fake")], stock_window=1.0)
        token, _ = seed(kade, args.products, args.orders)
        env = {**os.environ, "KADE_DATABASE_URL": url, "KADE_SECRET_KEY": kade.settings.secret_key,
               "KADE_REDIS_URL": REDIS_URL, "KADE_DATA_DIR": tmp, "KADE_LOG_LEVEL": "WARNING",
               "KADE_STOCK_WINDOW": "1.0"}
        port = 18000 + random.randint(0, 999)
        server = subprocess.Popen([sys.executable, "-m", "kade.cli.main", "serve", "--port", str(port)], env=env,
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1",
                                  headers={"Authorization": f"Bearer {token}"}, timeout=60)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/connections").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    detail = server.stderr.read().decode() if server.stderr else ""
                    raise SystemExit(f"kade serve did not start: {detail}")
                time.sleep(0.1)
            skus = [f"SKU{i:06d}" for i in range(args.products)]
            for round_no in range(args.rounds):
                cpu = cpu_seconds(server.pid)
                started = time.perf_counter()
                for start in range(0, len(skus), args.batch):
                    items = [{"sku": sku, "quantity": random.randint(0, 500)} for sku in skus[start:start + args.batch]]
                    r = client.post("/stock", json={"items": items},
                                    headers={"Idempotency-Key": f"r{round_no}-{start}"})
                    assert r.status_code == 202, r.text
                elapsed = time.perf_counter() - started
                rate = len(skus) / elapsed
                used = cpu_seconds(server.pid) - cpu
                with kade.db.session() as session:
                    pending = session.exec(select(sa.func.count()).select_from(Action)
                                           .where(Action.kind == ActionKind.STOCK)).one()
                label = "new outbox rows" if round_no == 0 else "coalesced into pending pushes"
                print(f"stock round {round_no + 1}: {len(skus):,} items in {elapsed:.2f}s = {rate:,.0f} items/s "
                      f"({label}; {pending:,} stock actions) target ≥ 5,000: {verdict(rate, 5000)}; "
                      f"kade serve used {used:.2f} CPU-s = {len(skus) / max(used, 1e-9):,.0f} items per CPU-s")
            for pass_no in range(2):
                cpu = cpu_seconds(server.pid)
                started = time.perf_counter()
                read, cursor, pages = 0, None, 0
                while True:
                    params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
                    page = client.get("/orders", params=params).json()
                    read += len(page["orders"])
                    pages += 1
                    cursor = page["next_cursor"]
                    if not page["has_more"]:
                        break
                elapsed = time.perf_counter() - started
                rate = read / elapsed
                used = cpu_seconds(server.pid) - cpu
                print(f"order feed pass {pass_no + 1}: {read:,} orders (2 lines each) in {pages} pages, "
                      f"{elapsed:.2f}s = {rate:,.0f} orders/s target ≥ 10,000: {verdict(rate, 10000)}; "
                      f"kade serve used {used:.2f} CPU-s = {read / max(used, 1e-9):,.0f} orders per CPU-s")
        finally:
            server.terminate()
            server.wait(timeout=10)
            kade.close()
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
