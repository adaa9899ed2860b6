"""The conformance kit's world: an embedded Kade (SQLite, in-process broker) with one active
connection to a harness's simulator, and what a scenario reads back from it.

Plugin authors use it beside ``ConformanceSuite`` for scenarios of their own (a platform's
bulk check, a login migration); every scenario ends with ``World.verify``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlmodel import select

from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection, update_setting
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    Connection,
    ConnectionStatus,
    Event,
    Notification,
    Order,
)
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform
from kade.testing.harness import ControlUnsupported, Harness

T = TypeVar("T")


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to the simulator and remembers what came back (evidence a fault fired)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        #: (method, path, status or the exception's class name), in order
        self.log: list[tuple[str, str, int | str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except Exception as exc:
            self.log.append((request.method, request.url.path, type(exc).__name__))
            raise
        self.log.append((request.method, request.url.path, response.status_code))
        return response

    def timeouts(self) -> int:
        return sum(1 for _, _, outcome in self.log if isinstance(outcome, str) and "Timeout" in outcome)

    def close(self) -> None:
        self.inner.close()




_TEMPLATE: Path | None = None


def _migrated_template() -> Path:
    """A migrated SQLite file made once per process: copying it is ~100× faster than migrating
    a fresh database for every scenario (the kit builds hundreds of worlds)."""
    global _TEMPLATE
    if _TEMPLATE is None or not _TEMPLATE.exists():
        path = Path(tempfile.mkdtemp(prefix="kade-kit-")) / "template.sqlite3"
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        db.dispose()
        _TEMPLATE = path
    return _TEMPLATE


class World:
    """An embedded Kade with one active connection to the harness's simulator."""

    def __init__(self, harness: Harness, tmp: Path) -> None:
        self.harness = harness
        transport = RecordingTransport(SyncASGITransport(harness.app()))
        self.transport = transport
        settings = Settings(data_dir=tmp, secret_key=Fernet.generate_key().decode(), stock_window=0.0,
                            _env_file=None)
        path = tmp / "kade.sqlite3"
        shutil.copyfile(_migrated_template(), path)
        db = Database(f"sqlite:///{path}")
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

    def control(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Use a harness control; one the platform cannot offer skips the scenario, saying why."""
        try:
            return fn(*args, **kwargs)
        except ControlUnsupported as exc:
            pytest.skip(f"{self.harness.platform} cannot run this scenario: {exc}")

    def connection(self) -> Connection:
        with self.kade.db.session() as session:
            conn = session.get(Connection, self.connection_id)
            assert conn is not None
            return conn

    def orders(self) -> dict[str, Order]:
        with self.kade.db.session() as session:
            rows = session.exec(select(Order).where(Order.connection_id == self.connection_id))
            return {o.remote_id: o for o in rows}

    def actions(self, kind: ActionKind | None = None) -> list[Action]:
        with self.kade.db.session() as session:
            query = select(Action).where(Action.connection_id == self.connection_id)
            if kind is not None:
                query = query.where(Action.kind == kind)
            return list(session.exec(query))

    def notifications(self) -> list[str]:
        with self.kade.db.session() as session:
            return [n.kind for n in session.exec(select(Notification))]

    def events(self, kind: str) -> list[Event]:
        with self.kade.db.session() as session:
            return list(session.exec(select(Event).where(Event.kind == kind)))

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

    def verify(self, *, expect: Mapping[ActionKind, ActionStatus] | None = None) -> None:
        """The end of every scenario: faults fired, actions ended as expected, no retry exhausted.

        :param expect: the end state per action kind when it is not ``done`` (a refused shipment).
        """
        unfired = self.harness.unfired_faults()
        assert unfired == [], f"armed faults never fired (the scenario proved nothing): {unfired}"
        wanted = dict(expect or {})
        limit = self.kade.settings.max_attempts
        for action in self.actions():
            state = wanted.get(ActionKind(action.kind), ActionStatus.DONE)
            assert action.status == state, (
                f"{action.kind} action {action.id} ended {action.status}, expected {state}, after "
                f"{action.attempts} attempt(s); last error: {action.last_error}")
            assert action.attempts < limit, (
                f"{action.kind} action {action.id} used {action.attempts} of {limit} attempts: {action.last_error}")
        kinds = self.notifications()
        assert "retries_exhausted" not in kinds, f"an action exhausted its retries (notifications: {kinds})"

    def close(self) -> None:
        self.runtime.stop()
        self.kade.close()
        self.transport.close()
