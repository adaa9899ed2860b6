"""Regression test for the seed's outage (rule R10).

A release deactivated every bol connection still on the old login method, and nobody noticed
for three hours. Here a fleet of old-method, migrated and brand-new connections goes through a
release (schema migrations, worker restart) and a migration run. Every connection must stay
active and keep importing, pushing stock and shipping; and when a share of them is deactivated
anyway, the health alert must fire at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from kade import outcomes
from kade.app import Kade
from kade.catalog import link_store_products
from kade.config import Settings
from kade.connections import add_connection, update_setting
from kade.db import Database
from kade.health import check_alerts
from kade.ingest import import_orders
from kade.login_migration import migrate
from kade.manager import make_plugin_manager
from kade.models import Connection, ConnectionStatus, Order, Product, ProductLink, Tenant
from kade.plugins.bol import client as bol_client
from kade.plugins.bol.harness import PARTNER, REDIRECT, RETAILER, BolHarness
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.stock import set_stock
from kade.tenants import add_tenant, enable_platform

FLEET = {"old": 3, "to_migrate": 3, "new": 3}


class Fleet:
    def __init__(self, tmp: Path) -> None:
        self.settings = Settings(data_dir=tmp, secret_key=Fernet.generate_key().decode(), stock_window=0.0,
                                 alert_drop_share=0.2, _env_file=None)
        self.url = f"sqlite:///{tmp / 'kade.sqlite3'}"
        self.harnesses: dict[str, BolHarness] = {}
        self.routes: dict[str, SyncASGITransport] = {}
        self.kinds: dict[str, str] = {}
        n = 0
        for kind, count in FLEET.items():
            for _ in range(count):
                name = f"{kind}-{n}"
                n += 1
                harness = BolHarness()
                self.harnesses[name] = harness
                self.kinds[name] = kind
                transport = SyncASGITransport(harness.app())
                self.routes[f"api-{name}.bol.test"] = transport
                self.routes[f"login-{name}.bol.test"] = transport
        self.kade, self.runtime = self.boot(upgrade=True)

    def boot(self, *, upgrade: bool) -> tuple[Kade, Runtime]:
        """A (re)started process: new app object, plugins loaded afresh, migrations applied."""
        db = Database(self.url)
        if upgrade:
            db.upgrade()
        db.check()
        kade = Kade(self.settings, db=db, pm=make_plugin_manager(disabled=["shopify", "woocommerce"]),
                    routes=dict(self.routes))
        return kade, Runtime(kade).start(threads=2, tick=0)

    def release(self) -> None:
        """Stop workers, migrate the schema, start again — what a deploy does."""
        self.runtime.stop()
        self.kade.close()
        self.kade, self.runtime = self.boot(upgrade=True)

    def code_credentials(self, harness: BolHarness) -> dict[str, str]:
        code = harness.sim.issue_auth_code(PARTNER[0], REDIRECT)
        status, body = harness.sim.grant("authorization_code", PARTNER[0], PARTNER[1],
                                         {"code": code, "redirect_uri": REDIRECT})
        assert status == 200, body
        return {"client_id": PARTNER[0], "client_secret": PARTNER[1], "refresh_token": body["refresh_token"]}

    def connect_all(self) -> None:
        with self.kade.db.transaction() as session:
            tenant = add_tenant(session, "fleet")
            enable_platform(session, self.kade.pm, tenant, "bol")
            for name, harness in self.harnesses.items():
                new = self.kinds[name] == "new"
                conn = add_connection(
                    session, self.kade.pm, self.kade.vault, tenant, platform_name="bol", name=name,
                    base_url=f"https://api-{name}.bol.test",
                    credentials=self.code_credentials(harness) if new else
                    {"client_id": RETAILER[0], "client_secret": RETAILER[1]},
                    auth_method="authorization_code" if new else "client_credentials",
                    settings={"login_url": f"https://login-{name}.bol.test"},
                )
                update_setting(session, self.kade.pm, conn, "send_stock", "on")
                update_setting(session, self.kade.pm, conn, "send_shipments", "on")
                change_status(session, conn, ConnectionStatus.ACTIVE, reason="onboarded", actor="test")
        for name in self.harnesses:
            self.harnesses[name].seed_products(2)
            link_store_products(self.kade, self.connection(name).id)

    def connection(self, name: str) -> Connection:
        with self.kade.db.session() as session:
            return session.exec(select(Connection).where(Connection.name == name)).one()

    def exercise(self, round_no: int) -> None:
        """Each connection imports a new order, pushes a stock change and reports a shipment."""
        for name, harness in self.harnesses.items():
            conn = self.connection(name)
            [seeded] = harness.seed_orders(1)
            stats = import_orders(self.kade, conn.id)
            assert stats.errors == [], (name, stats.errors)
            with self.kade.db.transaction() as session:
                order = session.exec(select(Order).where(Order.connection_id == conn.id,
                                                         Order.remote_id == seeded.remote_id)).one()
                create_shipment(session, order, carrier="PostNL", tracking_code=f"3S{round_no}{conn.id}")
                link = session.exec(select(ProductLink).where(ProductLink.connection_id == conn.id)).first()
                product = session.get(Product, link.product_id)
                tenant = session.get(Tenant, conn.tenant_id)
                set_stock(session, tenant, product.sku, 40 + round_no, window=0)
            self.pending_checks.append((name, seeded.remote_id, link.remote_id, 40 + round_no))
        for harness in self.harnesses.values():
            harness.settle()
        self.runtime.drain(timeout=60)
        for harness in self.harnesses.values():  # bol applies stock asynchronously (process status)
            harness.settle()
        for name, remote_order, remote_product, stock in self.pending_checks:
            harness = self.harnesses[name]
            assert len(harness.shipments(remote_order)) == 1, f"{name}: shipment of {remote_order}"
            assert harness.stock(remote_product) == stock, f"{name}: stock of {remote_product}"
        self.pending_checks.clear()

    pending_checks: list[tuple[str, str, str, int]] = []

    def statuses(self) -> dict[str, str]:
        with self.kade.db.session() as session:
            return {c.name: c.status for c in session.exec(select(Connection))}

    def close(self) -> None:
        self.runtime.stop()
        self.kade.close()
        for transport in set(self.routes.values()):
            transport.close()


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    monkeypatch.setattr(outcomes, "MIN_BACKOFF", 0.02)
    monkeypatch.setattr(outcomes, "PENDING_RECHECK", 0.02)
    monkeypatch.setattr(bol_client, "sleep", lambda seconds: None)
    f = Fleet(tmp_path)
    f.pending_checks = []
    yield f
    f.close()


def test_fleet_survives_release_and_migration_run(fleet: Fleet) -> None:
    fleet.connect_all()
    fleet.exercise(1)
    fleet.release()  # deploy: schema upgrade + worker restart
    assert set(fleet.statuses().values()) == {"active"}
    fleet.exercise(2)
    for name, kind in fleet.kinds.items():  # the migration run: some move to the new login
        if kind == "to_migrate":
            target = fleet.harnesses[name].migration_target()
            migrate(fleet.kade, fleet.connection(name).id, target[0], target[1], actor="migration-run")
    fleet.release()
    assert set(fleet.statuses().values()) == {"active"}
    methods = {name: fleet.connection(name).auth_method for name in fleet.kinds}
    assert {methods[n] for n, k in fleet.kinds.items() if k == "old"} == {"client_credentials"}
    assert {methods[n] for n, k in fleet.kinds.items() if k != "old"} == {"authorization_code"}
    fleet.exercise(3)  # old, migrated and new all keep importing, pushing and shipping
    assert check_alerts(fleet.kade).ok


def test_deactivating_the_old_method_connections_fires_the_alert(fleet: Fleet) -> None:
    fleet.connect_all()
    # the seed's faulty release: every connection still on the old login is deactivated
    with fleet.kade.db.transaction() as session:
        for name, kind in fleet.kinds.items():
            if kind == "old":
                conn = session.exec(select(Connection).where(Connection.name == name)).one()
                change_status(session, conn, ConnectionStatus.DISABLED, reason="old login method unsupported",
                              actor="release-2.0")
    report = check_alerts(fleet.kade)
    assert not report.ok
    assert any("3 of 9 active connections stopped being active" in alert for alert in report.alerts)
