"""The conformance suite: the contract every platform plugin passes, through the real core.

Use it from a plugin's tests::

    from kade.testing import ConformanceSuite

    class TestAcmeConformance(ConformanceSuite):
        @pytest.fixture
        def harness(self):
            h = AcmeHarness()
            yield h
            h.close()

Each scenario builds an embedded Kade (SQLite, in-process broker, the simulator routed
in-process), connects the store the way an operator would, and checks the store's state — not
the plugin's return values — after the core has done its work.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from kade import executor
from kade.app import Kade
from kade.catalog import import_store_products
from kade.config import Settings
from kade.connections import add_connection, update_setting
from kade.db import Database
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.migration import migrate
from kade.models import (
    Connection,
    ConnectionStatus,
    Event,
    Notification,
    Order,
    OrderState,
    Product,
    ProductLink,
    Tenant,
)
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.stock import set_stock
from kade.tenants import add_tenant, enable_platform
from kade.testing.harness import Harness
from kade.testing.harnesses import make_harness

PAGE_SPANNING = 120


class World:
    """An embedded Kade with one active connection to the harness's simulator."""

    def __init__(self, harness: Harness, tmp: Path) -> None:
        self.harness = harness
        transport = SyncASGITransport(harness.app())
        self.transport = transport
        settings = Settings(data_dir=tmp, secret_key=Fernet.generate_key().decode(), stock_window=0.0,
                            _env_file=None)
        db = Database(f"sqlite:///{tmp / 'kade.sqlite3'}")
        db.upgrade()
        pm = make_plugin_manager()
        self.kade = Kade(settings, db=db, pm=pm, routes=dict.fromkeys(harness.hosts, transport))
        with self.kade.db.transaction() as session:
            tenant = add_tenant(session, "conformance")
            enable_platform(session, pm, tenant, harness.platform)
            conn = add_connection(session, pm, self.kade.vault, tenant, platform_name=harness.platform,
                                  name="store", base_url=harness.base_url, credentials=harness.credentials(),
                                  auth_method=harness.auth_method, settings=harness.settings())
            update_setting(session, pm, conn, "send_stock", "on")
            update_setting(session, pm, conn, "send_shipments", "on")
            change_status(session, conn, ConnectionStatus.ACTIVE, reason="conformance", actor="kit")
            session.flush()
            assert conn.id is not None and tenant.id is not None
            self.connection_id = conn.id
            self.tenant_id = tenant.id
        self.runtime = Runtime(self.kade).start(threads=2, tick=0)

    @property
    def capabilities(self) -> Any:
        return self.kade.pm.platform(self.harness.platform).spec.capabilities

    def connection(self) -> Connection:
        with self.kade.db.session() as session:
            conn = session.get(Connection, self.connection_id)
            assert conn is not None
            return conn

    def orders(self) -> dict[str, Order]:
        with self.kade.db.session() as session:
            rows = session.exec(select(Order).where(Order.connection_id == self.connection_id))
            return {o.remote_id: o for o in rows}

    def ship(self, remote_id: str, *, tracking: str, lines: dict[str, int] | None = None) -> None:
        with self.kade.db.transaction() as session:
            order = session.exec(select(Order).where(Order.connection_id == self.connection_id,
                                                     Order.remote_id == remote_id)).one()
            create_shipment(session, order, carrier="PostNL", tracking_code=tracking, lines=lines)

    def drain(self) -> None:
        self.harness.settle()
        self.runtime.drain(timeout=60)
        self.harness.settle()
        self.runtime.drain(timeout=60)

    def close(self) -> None:
        self.runtime.stop()
        self.kade.close()
        self.transport.close()


class ConformanceSuite:
    """Contract scenarios; subclass it and set ``platform`` (its harness is then found in the
    ``kade.harnesses`` entry-point group) or provide a ``harness`` fixture."""

    #: the platform whose registered harness the default ``harness`` fixture builds
    platform: str | None = None

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        if self.platform is None:
            raise TypeError(f"{type(self).__name__}: set `platform` or override the `harness` fixture")
        h = make_harness(self.platform)
        yield h
        h.close()

    @pytest.fixture
    def world(self, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
        # Retries in the kit are immediate: the scenarios test what happens, not how long it waits.
        monkeypatch.setattr(executor, "MIN_BACKOFF", 0.02)
        monkeypatch.setattr(executor, "PENDING_RECHECK", 0.02)
        w = World(harness, tmp_path)
        yield w
        w.close()

    def test_import_pages_through_everything_once(self, world: World) -> None:
        seeded = world.harness.seed_orders(PAGE_SPANNING)
        first = import_orders(world.kade, world.connection_id, full=True)
        again = import_orders(world.kade, world.connection_id, full=True)
        orders = world.orders()
        assert {s.remote_id for s in seeded} <= set(orders)
        assert first.pages >= 2, "the scenario must span several pages"
        assert again.created == 0 and again.updated == 0

    def test_store_cancellation_cancels_the_order_in_kade(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.harness.cancel_order(order.remote_id)
        import_orders(world.kade, world.connection_id)
        assert world.orders()[order.remote_id].status == OrderState.CANCELLED

    def test_stock_push_sets_the_store_and_batches(self, world: World) -> None:
        batch = world.capabilities.stock_batch_size
        count = min(2 * batch + 1, 7) if batch < 4 else min(batch + 3, 260)
        products = world.harness.seed_products(count)
        stats = import_store_products(world.kade, world.connection_id)
        assert stats.linked >= count
        with world.kade.db.session() as session:
            tenant = session.get(Tenant, world.tenant_id)
            linked = {
                link.remote_id: session.get(Product, link.product_id)
                for link in session.exec(select(ProductLink).where(ProductLink.connection_id == world.connection_id))
            }
        assert tenant is not None
        wanted = {}
        with world.kade.db.transaction() as session:
            for n, (remote_id, _) in enumerate(products):
                product = linked[remote_id]
                assert product is not None
                wanted[remote_id] = 10 + n
                set_stock(session, tenant, product.sku, 10 + n, window=0)
        world.drain()
        assert {rid: world.harness.stock(rid) for rid in wanted} == wanted
        with world.kade.db.session() as session:
            pushes = session.exec(select(Event).where(Event.kind == "stock_push", Event.outcome == "ok")).all()
        assert len(pushes) <= math.ceil(count / batch) + 1

    def test_full_shipment_reaches_the_store_once_with_tracking(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.ship(order.remote_id, tracking="3SKADE0001")
        world.drain()
        shipments = world.harness.shipments(order.remote_id)
        assert len(shipments) == 1
        assert shipments[0].tracking_code == "3SKADE0001"
        assert world.orders()[order.remote_id].status == OrderState.SHIPPED

    def test_partial_shipments_follow_the_declared_capability(self, world: World) -> None:
        [order] = world.harness.seed_orders(1, units=2)
        import_orders(world.kade, world.connection_id)
        sku = next(iter(order.lines.values()))[0]
        first = {sku: 1}
        world.ship(order.remote_id, tracking="3SPART1", lines=first)
        world.drain()
        partial = world.capabilities.partial_shipments
        assert len(world.harness.shipments(order.remote_id)) == (1 if partial else 0)
        world.ship(order.remote_id, tracking="3SPART2")
        world.drain()
        shipments = world.harness.shipments(order.remote_id)
        assert len(shipments) == (2 if partial else 1)
        if any(s.lines for s in shipments):
            shipped: dict[str, int] = {}
            for s in shipments:
                for rid, n in s.lines.items():
                    shipped[rid] = shipped.get(rid, 0) + n
            assert shipped == {rid: n for rid, (_, n) in order.lines.items()}

    def test_unknown_outcome_is_checked_not_duplicated(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.harness.drop_next_shipment_answer()
        world.ship(order.remote_id, tracking="3SLOST01")
        world.drain()
        assert len(world.harness.shipments(order.remote_id)) == 1

    def test_rejected_login_means_needs_reauth_and_a_notification(self, world: World) -> None:
        world.harness.seed_orders(1)
        world.harness.revoke_credentials()
        import_orders(world.kade, world.connection_id)
        assert world.connection().status == ConnectionStatus.NEEDS_REAUTH
        with world.kade.db.session() as session:
            kinds = [n.kind for n in session.exec(select(Notification))]
        assert "needs_reauth" in kinds

    def test_rate_limit_is_respected_and_the_import_completes(self, world: World) -> None:
        seeded = world.harness.seed_orders(3)
        world.harness.rate_limit_next_request(0.05)
        stats = import_orders(world.kade, world.connection_id)
        assert stats.errors == []
        assert {s.remote_id for s in seeded} <= set(world.orders())
        assert world.connection().status == ConnectionStatus.ACTIVE

    def test_migration_keeps_the_connection_working(self, world: World) -> None:
        target = world.harness.migration_target()
        if target is None:
            pytest.skip(f"{world.harness.platform} has a single login method")
        method, credentials = target
        migrate(world.kade, world.connection_id, method, credentials, actor="kit")
        assert world.connection().auth_method == method
        seeded = world.harness.seed_orders(2)
        stats = import_orders(world.kade, world.connection_id)
        assert stats.errors == []
        assert {s.remote_id for s in seeded} <= set(world.orders())
        assert world.connection().status == ConnectionStatus.ACTIVE
