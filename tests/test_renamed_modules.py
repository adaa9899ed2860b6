"""Old names of renamed modules, types, hooks and actors keep working (deprecated) for code and queued
messages written against them."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import select

from kade import hookimpl
from kade.app import Kade
from kade.catalog import link_store_products
from kade.config import Settings
from kade.db import Database
from kade.manager import KadePluginManager, make_plugin_manager
from kade.models import ProductLink, utcnow
from kade.runtime import Runtime
from kade.scheduler import Scheduler
from kade.types import ConnectionTestResult, PlatformSpec, ProductPage, RemoteProduct
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform, FakeStore


@pytest.mark.parametrize(("old", "new", "name"), [
    ("kade.migration", "kade.login_migration", "migrate"),
    ("kade.credentials", "kade.credentials_check", "check_credentials"),
])
def test_old_module_names_still_import_with_a_warning(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize(("old", "new"), [
    ("RemoteOrderStatus", "RemoteOrderStatus"),
    ("RemoteShipmentState", "RemoteShipmentState"),
    ("ShipmentLine", "ShipmentRequestLine"),
])
def test_old_boundary_type_names_are_aliases(old: str, new: str) -> None:
    import kade.types

    assert getattr(kade.types, old) is getattr(kade.types, new)


def test_the_product_upsert_keeps_its_old_name() -> None:
    import kade.products

    assert kade.products.import_products is kade.products.upsert_products


class _OldHookName(FakePlatform):
    """A plugin written before the ``import_products`` hook was renamed ``read_products``."""

    read_products = None  # type: ignore[assignment]
    import_products = FakePlatform.read_products


def _page(*skus: str) -> ProductPage:
    return ProductPage(products=tuple(RemoteProduct(remote_id=sku, sku=sku) for sku in skus))


def _catalogue_plugin(**hooks: object) -> object:
    class Plugin:
        @hookimpl
        def kade_register_platforms(self):
            yield PlatformSpec(name="shop", title="Shop", auth_methods=("k",), default_auth_method="k")

        @hookimpl
        def check_connection(self, ctx):
            return ConnectionTestResult(ok=True)

    for name, fn in hooks.items():
        setattr(Plugin, name, hookimpl(fn))
    return Plugin()


def _load(plugin: object) -> tuple[KadePluginManager, list[str]]:
    """Build a manager with ``plugin`` and return the deprecation warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = make_plugin_manager(load_entrypoints=False, strict=True, plugins=[(plugin, "shop")])
        pm.platforms()
    return pm, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.fixture
def old_name_kade(settings: Settings, database: Database, store: FakeStore) -> Iterator[tuple[Kade, list[str]]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = make_plugin_manager(load_entrypoints=False, strict=True, plugins=[(_OldHookName(store), "fake")])
    app = Kade(settings, db=database, pm=pm)
    yield app, [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    app.close()


def test_a_plugin_with_the_old_hook_name_loads_warns_once_and_its_catalogue_is_linked(old_name_kade, store) -> None:
    kade, deprecations = old_name_kade
    assert len(deprecations) == 1 and "implement read_products instead" in deprecations[0]
    assert kade.pm.platform("fake").supports("read_products")
    store.add_product("P1", "A", None, stock=2)
    store.add_product("P2", "B", "8712345678906")
    conn = make_connection(kade)
    stats = link_store_products(kade, conn.id)
    assert (stats.linked, stats.created) == (2, 2)


def test_a_plugin_with_the_new_hook_name_does_not_warn() -> None:
    pm, deprecations = _load(_catalogue_plugin(read_products=lambda self, ctx, page_token: _page("NEW")))
    assert deprecations == []
    assert [p.sku for p in pm.platform("shop").read_products(None, None).products] == ["NEW"]  # type: ignore[arg-type]


def test_a_plugin_with_both_names_is_read_through_the_new_one() -> None:
    def old(self: object, ctx: object, page_token: str | None) -> ProductPage:
        raise AssertionError("import_products called although read_products is implemented")

    pm, deprecations = _load(_catalogue_plugin(read_products=lambda self, ctx, page_token: _page("NEW"),
                                               import_products=old))
    assert len(deprecations) == 1  # the old one is still there: its author is told to remove it
    assert [p.sku for p in pm.platform("shop").read_products(None, None).products] == ["NEW"]  # type: ignore[arg-type]


def test_the_load_time_hook_checks_count_the_old_name(monkeypatch) -> None:
    """A check asking for ``read_products`` (here made up: ``check_connection`` requires it) is met
    by a plugin implementing ``import_products``; without either the plugin is refused."""
    import kade.manager

    monkeypatch.setitem(kade.manager.REQUIRED_WITH, "check_connection", ("read_products",))
    pm, _ = _load(_catalogue_plugin(import_products=lambda self, ctx, page_token: _page("OLD")))
    assert [p.sku for p in pm.platform("shop").read_products(None, None).products] == ["OLD"]  # type: ignore[arg-type]
    with pytest.raises(kade.manager.PluginLoadError, match=r"lacks read_products \(required with check_connection"):
        _load(_catalogue_plugin())


def test_a_message_queued_under_the_old_actor_name_links_the_catalogue(kade, store) -> None:
    conn = make_connection(kade)
    store.add_product("P1", "A", None)
    runtime = Runtime(kade)
    assert isinstance(runtime.broker, StubBroker)
    # what the previous release's scheduler left in the queue
    runtime.broker.enqueue(dramatiq.Message(queue_name="maintenance", actor_name="kade.import_products", args=(),
                                            kwargs={"connection_id": conn.id}, options={}))
    runtime.start(threads=1, tick=0)
    try:
        runtime.join()
    finally:
        runtime.stop()
    with kade.db.session() as session:
        assert [link.remote_id for link in session.exec(select(ProductLink))] == ["P1"]


def test_catalogue_links_are_sent_under_the_new_actor_name(kade) -> None:
    make_connection(kade)
    runtime = Runtime(kade)
    Scheduler(kade, runtime.actors, holder="a").tick(utcnow())
    queued = [dramatiq.Message.decode(raw).actor_name for raw in runtime.broker.queues["maintenance"].queue]
    assert "kade.link_products" in queued and "kade.import_products" not in queued
    runtime.broker.close()
