"""``kade demo``: Kade's main job, end to end, on the embedded default.

Every installed platform that registers a harness (a simulated store, entry-point group
``kade.harnesses``) takes part. The demo uses the same
paths production does — connections added and activated as an operator would, orders imported
by the ingest path, stock and shipments through the outbox and workers — against simulators
running in-process, in a fresh database of its own under the data directory.
"""

from __future__ import annotations

import random
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import col, func, select

from kade.app import Kade
from kade.catalog import link_store_products
from kade.config import Settings
from kade.connections import add_connection, update_setting
from kade.db import Database
from kade.ingest import import_orders
from kade.manager import Platform
from kade.models import (
    Action,
    ActionStatus,
    Connection,
    ConnectionStatus,
    Notification,
    Order,
    OrderLine,
    OrderState,
    Product,
    ProductLink,
    Shipment,
    ShipmentStatus,
    Tenant,
)
from kade.runtime import Runtime
from kade.secrets import load_key
from kade.shipments import create_shipment
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.stock import set_stock
from kade.tenants import add_tenant, enable_platform
from kade.testing.harness import Harness
from kade.testing.harnesses import harnesses_for

CARRIERS = ("PostNL", "DHL", "DPD")


@dataclass
class DemoStore:
    platform: Platform
    harness: Harness
    connection_id: int = 0
    seeded: int = 0


@dataclass
class DemoSummary:
    platforms: list[str] = field(default_factory=list)
    orders_imported: int = 0
    stock_pushed: int = 0
    shipments_confirmed: int = 0
    notifications: int = 0
    store_shipments: int = 0


def _stores(kade: Kade) -> list[DemoStore]:
    return [DemoStore(platform=kade.pm.platform(name), harness=harness)
            for name, harness in harnesses_for(kade.pm).items()]


def run_demo(settings: Settings, console: Console, *, orders: int = 40, serve: bool = False,
             stop: threading.Event | None = None) -> DemoSummary:
    """Run the demo; returns the figures its summary shows."""
    root = settings.data_dir / "demo"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    demo_settings = settings.model_copy(update={"data_dir": root, "database_url": "", "redis_url": "",
                                                "stock_window": 0.2})
    db = Database(demo_settings.resolved_database_url())
    db.upgrade()
    load_key(demo_settings, announce=False)  # a throw-away key for a throw-away database
    kade = Kade(demo_settings, db=db)
    stores = _stores(kade)
    if not stores:
        raise RuntimeError("no installed platform ships a simulated store; nothing to demonstrate")
    transports: list[SyncASGITransport] = []
    for store in stores:
        transport = SyncASGITransport(store.harness.app())
        transports.append(transport)
        for host in store.harness.hosts:
            kade.routes[host] = transport
    console.rule("[bold]Kade demo[/] — embedded mode: SQLite, in-process broker, simulated stores")
    console.print(f"database: {db.url}")
    runtime = Runtime(kade).send_on_commit().start(threads=4, tick=0.2)
    summary = DemoSummary(platforms=[s.platform.name for s in stores])
    try:
        _connect(kade, console, stores)
        _import(kade, console, stores, orders, summary)
        _stock(kade, console, runtime, stores, summary)
        _ship(kade, console, runtime, stores, summary)
        _summary(kade, console, stores, summary)
        if serve:
            _serve(console, stores, stop or threading.Event())
    finally:
        runtime.stop()
        kade.close()
        for transport in transports:
            transport.close()
        for store in stores:
            store.harness.close()
    return summary


def _connect(kade: Kade, console: Console, stores: list[DemoStore]) -> None:
    console.print("\n[bold]1. Connect the stores[/] (rule R5: imports first, sending after activation)")
    table = Table("platform", "connection", "auth", "products linked", "status")
    with kade.db.transaction() as session:
        tenant = add_tenant(session, "demo-shop", "Demo Shop")
        for n in range(60):
            session.add(Product(tenant_id=tenant.id or 0, sku=f"WH-{n:04d}", name=f"Warehouse item {n}", stock=20))
        for store in stores:
            enable_platform(session, kade.pm, tenant, store.platform.name)
            conn = add_connection(
                session, kade.pm, kade.vault, tenant, platform_name=store.platform.name,
                name=f"{store.platform.name}-shop", base_url=store.harness.base_url,
                credentials=store.harness.credentials(), auth_method=store.harness.auth_method,
                settings=store.harness.settings(),
            )
            session.flush()
            store.connection_id = conn.id or 0
    for store in stores:
        store.harness.seed_products(12)
        stats = link_store_products(kade, store.connection_id)
        with kade.db.transaction() as session:
            row = session.get(Connection, store.connection_id)
            assert row is not None
            conn = row
            update_setting(session, kade.pm, conn, "send_stock", "on", actor="demo")
            update_setting(session, kade.pm, conn, "send_shipments", "on", actor="demo")
            change_status(session, conn, ConnectionStatus.ACTIVE, reason="activated after settings review",
                          actor="demo")
            table.add_row(store.platform.spec.title, conn.name, conn.auth_method, str(stats.linked), conn.status)
    console.print(table)


def _import(kade: Kade, console: Console, stores: list[DemoStore], orders: int, summary: DemoSummary) -> None:
    console.print("\n[bold]2. Import orders[/] (upsert per connection; fulfilled-by-marketplace lines dropped)")
    table = Table("platform", "new", "pages", "ignored (marketplace)", "quarantined", "new on re-import")
    with _progress(console) as progress:
        for store in stores:
            task = progress.add_task(f"{store.platform.name}: seeding and importing", total=2)
            store.seeded = len(store.harness.seed_orders(orders))
            progress.advance(task)
            stats = import_orders(kade, store.connection_id)
            again = import_orders(kade, store.connection_id, full=True)
            progress.advance(task)
            summary.orders_imported += stats.created
            table.add_row(store.platform.name, str(stats.created), str(stats.pages), str(stats.ignored),
                          str(stats.quarantined), str(again.created))
    console.print(table)


def _stock(kade: Kade, console: Console, runtime: Runtime, stores: list[DemoStore], summary: DemoSummary) -> None:
    console.print("\n[bold]3. Change stock[/] (coalesced per product, unchanged values never sent)")
    rng = random.Random(7)
    with kade.db.transaction() as session:
        tenant = session.exec(select(Tenant)).one()
        linked = session.exec(
            select(Product).join(ProductLink, col(ProductLink.product_id) == col(Product.id)).distinct()
        ).all()
        changes = 0
        for product in linked:
            for _ in range(3):  # three quick changes → one push per store
                set_stock(session, tenant, product.sku, rng.randrange(0, 50), window=kade.settings.stock_window)
                changes += 1
    runtime.drain(timeout=120)
    with kade.db.session() as session:
        pushed = session.exec(
            select(func.count()).select_from(Action).where(Action.kind == "stock", Action.status == ActionStatus.DONE)
        ).one()
    summary.stock_pushed = int(pushed)
    console.print(f"{changes} stock changes on {len(linked)} products → {summary.stock_pushed} store pushes")
    table = Table("platform", "product", "warehouse", "store")
    with kade.db.session() as session:
        for store in stores:
            links = session.exec(select(ProductLink).where(ProductLink.connection_id == store.connection_id)
                                 .limit(3)).all()
            for link in links:
                item = session.get(Product, link.product_id)
                assert item is not None
                table.add_row(store.platform.name, item.sku, str(item.stock),
                              str(store.harness.stock(link.remote_id)))
    console.print(table)


def _ship(kade: Kade, console: Console, runtime: Runtime, stores: list[DemoStore], summary: DemoSummary) -> None:
    console.print("\n[bold]4. Ship orders[/] (reported to the origin store only, per its capabilities)")
    rng = random.Random(11)
    # One order is cancelled in its store after import, before the warehouse ships it (rule R4).
    cancelled_remote: set[str] = set()
    with kade.db.session() as session:
        for store in stores:
            first = session.exec(select(Order).where(Order.connection_id == store.connection_id,
                                                     Order.status == OrderState.OPEN).order_by(col(Order.id))).first()
            if first is not None:
                store.harness.cancel_order(first.remote_id)
                cancelled_remote.add(first.remote_id)
    console.print(f"({len(cancelled_remote)} order(s) cancelled in the store meanwhile: expect a notification)")
    with kade.db.transaction() as session:
        open_orders = session.exec(select(Order).where(Order.status == OrderState.OPEN)).all()
        for n, order in enumerate(open_orders):
            carrier = CARRIERS[n % len(CARRIERS)]
            lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all()
            partial = n % 4 == 0 and sum(li.quantity for li in lines) > 1
            if partial:
                head = lines[0]
                create_shipment(session, order, carrier=carrier, tracking_code=f"3S{rng.randrange(10**9)}",
                                lines={head.sku or head.ean or "": 1})
            create_shipment(session, order, carrier=carrier, tracking_code=f"3S{rng.randrange(10**9)}")
    with _progress(console) as progress:
        task = progress.add_task("reporting shipments", total=None)
        for store in stores:
            store.harness.settle()
        runtime.drain(timeout=180)
        for store in stores:
            store.harness.settle()
        runtime.drain(timeout=180)
        progress.update(task, completed=1, total=1)
    table = Table("platform", "orders shipped", "store shipments")
    with kade.db.session() as session:
        for store in stores:
            shipped = session.exec(select(Order).where(Order.connection_id == store.connection_id,
                                                       Order.status == OrderState.SHIPPED)).all()
            in_store = sum(len(store.harness.shipments(o.remote_id)) for o in shipped)
            summary.store_shipments += in_store
            table.add_row(store.platform.name, str(len(shipped)), str(in_store))
        summary.shipments_confirmed = int(session.exec(
            select(func.count()).select_from(Shipment).where(Shipment.status == ShipmentStatus.REPORTED)).one())
    console.print(table)


def _summary(kade: Kade, console: Console, stores: list[DemoStore], summary: DemoSummary) -> None:
    with kade.db.session() as session:
        notes = session.exec(select(Notification)).all()
    summary.notifications = len(notes)
    console.print("\n[bold]5. Summary[/]")
    table = Table("what", "count")
    table.add_row("platforms", ", ".join(summary.platforms))
    table.add_row("orders imported", str(summary.orders_imported))
    table.add_row("stock pushed", str(summary.stock_pushed))
    table.add_row("shipments confirmed", str(summary.shipments_confirmed))
    table.add_row("notifications raised", str(summary.notifications))
    console.print(table)
    for note in notes[:10]:
        console.print(f"  • [yellow]{note.kind}[/]: {note.message}")


def _serve(console: Console, stores: list[DemoStore], stop: threading.Event) -> None:
    from kade.sim.server import BackgroundServer

    servers = [BackgroundServer(store.harness.app()).start() for store in stores]
    console.print("\n[bold]Simulators serving[/] (Ctrl-C stops):")
    for store, server in zip(stores, servers, strict=True):
        # simulator credentials, printed on purpose: they open nothing but this simulator
        creds = ", ".join(f"{k}={v}" for k, v in store.harness.credentials().items())
        console.print(f"  {store.platform.name}: {server.url}  ({store.harness.auth_method}: {creds})",
                      markup=False, highlight=False)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()


def _progress(console: Console) -> Any:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                    transient=True)
