"""One served Kade (embedded database, in-process broker) with a simulated WooCommerce store, and
a real Chromium driven by Playwright, shared by the console's browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kade.api import create_api
from kade.app import Kade
from kade.config import Settings
from kade.connections import add_connection
from kade.db import Database
from kade.models import ConnectionStatus
from kade.operators import add_operator
from kade.runtime import Runtime
from kade.secrets import load_key
from kade.sim.server import BackgroundServer
from kade.sim.transport import SyncASGITransport
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform
from kade.testing.harness import Harness
from kade.testing.harnesses import make_harness

CHROMIUM = os.environ.get("KADE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN, ADMIN_PW = "root", "correct horse battery"
SCOPED, SCOPED_PW = "ann", "ann's long password"
#: where the tests save screenshots of the main pages (scripts/console-screenshots sets it)
SHOTS = os.environ.get("KADE_CONSOLE_SCREENSHOTS", "")


@dataclass
class Stack:
    kade: Kade
    url: str
    store: Harness
    other_connection_id: int
    spare_connection_ids: list[int]

    def console(self, path: str = "/") -> str:
        return f"{self.url}/console{path}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One per module: the browser tests share its data (each test makes what it checks)."""
    from tests.conftest import TEST_KEY

    root = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=root / "data", secret_key=TEST_KEY, stock_window=0.0, _env_file=None)
    db = Database(settings.resolved_database_url())
    db.upgrade()
    load_key(settings, announce=False)
    kade = Kade(settings, db=db)
    store = make_harness("woocommerce")
    transport = SyncASGITransport(store.app())
    for host in store.hosts:
        kade.routes[host] = transport
    store.seed_products(4)
    store.seed_orders(3)
    with kade.db.transaction() as session:
        acme = add_tenant(session, "acme", "Acme Shop")
        globex = add_tenant(session, "globex", "Globex Outlet")
        for tenant in (acme, globex):
            enable_platform(session, kade.pm, tenant, "woocommerce")
        add_operator(session, ADMIN, ADMIN_PW)
        add_operator(session, SCOPED, SCOPED_PW, ["acme"])
        ids = []
        for name in ("globex-store", "globex-b", "globex-c"):
            conn = add_connection(session, kade.pm, kade.vault, globex, platform_name="woocommerce", name=name,
                                  base_url=store.base_url, credentials=store.credentials(), auth_method="basic",
                                  settings=store.settings())
            session.flush()
            assert conn.id is not None
            ids.append(conn.id)
            if name != "globex-store":
                change_status(session, conn, ConnectionStatus.ACTIVE, reason="fixture", actor="test")
    runtime = Runtime(kade).start(threads=2, tick=0.2)
    server = BackgroundServer(create_api(kade, runtime)).start()
    try:
        yield Stack(kade=kade, url=server.url, store=store, other_connection_id=ids[0], spare_connection_ids=ids[1:])
    finally:
        server.stop()
        runtime.stop()
        kade.close()
        transport.close()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API holds an event loop on this thread while it runs, which
    would break later tests that start their own (``asyncio.run``)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium executable at {CHROMIUM} (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    executable = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def login(page: Any, stack: Stack, user: str = ADMIN, password: str = ADMIN_PW) -> None:
    page.goto(stack.console("/"))
    page.get_by_label("Operator name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()


def shoot(page: Any, name: str) -> None:
    """Laptop and phone screenshots of the current page, when SHOTS names a folder."""
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 860})
    page.screenshot(path=str(folder / f"{name}-laptop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})
