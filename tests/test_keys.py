"""The key check, rotation under a running worker, and secret settings through the core."""

from __future__ import annotations

import threading

import pytest
import structlog
from cryptography.fernet import Fernet
from sqlmodel import select

from kade import hookimpl
from kade.alerts import add_channel
from kade.app import Kade
from kade.config import Settings
from kade.connections import settings_summary, update_setting
from kade.db import Database
from kade.errors import SecretKeyError
from kade.logs import redact_processor
from kade.manager import make_plugin_manager
from kade.models import AlertChannel, Connection, Event, Order, WebhookSubscription
from kade.outbound import add_subscription
from kade.runtime import Runtime
from kade.secrets import RotateStats, Vault, rotate_secrets, store_key_check, verify_key
from kade.tenants import get_tenant
from kade.types import PlatformSpec, SettingSpec
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform, FakeStore

SIGNING = "whsec-4f1d8e2b7c90aa"


class SecretSettingPlatform(FakePlatform):
    @hookimpl
    def kade_register_platforms(self) -> list[PlatformSpec]:
        (spec,) = FakePlatform.kade_register_platforms(self)
        return [spec.model_copy(update={"settings": (SettingSpec(name="signing_key", secret=True),)})]


def _app(settings: Settings, database: Database, store: FakeStore, key: str) -> Kade:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(SecretSettingPlatform(store), "fake")])
    return Kade(settings.model_copy(update={"secret_key": key}), db=database, pm=pm)


def _connections(app: Kade, count: int) -> list[int]:
    ids = []
    for n in range(count):
        # a tenant each: concurrent first imports of one tenant race on its new products (issue 8's)
        conn = make_connection(app, tenant=f"t{n}", name=f"shop{n}", settings={"signing_key": f"{SIGNING}-{n}"})
        assert conn.id is not None
        ids.append(conn.id)
    return ids


def test_secret_settings_are_stored_encrypted_and_reach_only_the_plugin(settings, database, store) -> None:
    app = _app(settings, database, store, Fernet.generate_key().decode())
    (conn_id,) = _connections(app, 1)
    with app.db.session() as session:
        row = session.get(Connection, conn_id)
        assert SIGNING not in str(row.settings) and row.settings["signing_key"].startswith("enc:")
        assert app.context(row).settings["signing_key"] == f"{SIGNING}-0"
        assert SIGNING not in str(settings_summary(app.pm, row))
    with structlog.testing.capture_logs(processors=[redact_processor]) as logs, app.db.transaction() as session:
        row = session.get(Connection, conn_id)
        shown = update_setting(session, app.pm, row, "signing_key", "whsec-rotated-77665544", vault=app.vault)
    assert "whsec-rotated-77665544" not in f"{shown}{logs}"
    with app.db.session() as session:
        assert "whsec-rotated-77665544" not in str(session.get(Connection, conn_id).settings)
        assert "whsec-rotated" not in " ".join(e.message for e in session.exec(select(Event)))
        assert app.context(session.get(Connection, conn_id)).settings["signing_key"] == "whsec-rotated-77665544"
    app.close()


def test_every_installed_platform_declares_its_secret_settings_secret() -> None:
    """WooCommerce's, Shopware's and Lightspeed's webhook secrets — and any a new platform adds."""
    import re

    pm = make_plugin_manager(load_entrypoints=True)
    looks_secret = re.compile(r"secret|password|passphrase|token|api_?key|private|signing", re.I)
    named = {(name, s.name): s.secret for name in pm.platforms() for s in pm.platform(name).spec.settings
             if looks_secret.search(s.name)}
    assert ("woocommerce", "webhook_secret") in named
    assert {key for key, secret in named.items() if not secret} == set()


def test_the_key_check_tells_a_wrong_key_apart(settings, database, store) -> None:
    key = Fernet.generate_key().decode()
    app = _app(settings, database, store, key)
    _connections(app, 1)
    with app.db.transaction() as session:
        assert store_key_check(session, app.vault) is True
        assert store_key_check(session, app.vault) is False  # once
    app.check()
    with pytest.raises(SecretKeyError, match="does not match"), app.db.session() as session:
        verify_key(session, Vault(Fernet.generate_key()))
    app.close()


def test_rotation_reencrypts_everything_and_resumes(settings, database, store) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = _app(settings, database, store, old)
    ids = _connections(before, 5)
    with before.db.transaction() as session:
        store_key_check(session, before.vault)
        tenant = get_tenant(session, "t0")
        _, hook_secret = add_subscription(session, before.vault, tenant, "https://wms.example/hook",
                                          ["orders.created"])
        add_channel(session, before.vault, tenant, "ops", "json://alerts.example/hook?token=abc123")
    before.close()
    rotating = _app(settings, database, store, f"{new},{old}")

    def interrupt(stats: RotateStats) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_secrets(rotating.db, rotating.vault, batch=2, progress=interrupt)
    stats = rotate_secrets(rotating.db, rotating.vault, batch=2)
    # the first batch was done already; the subscription and the alert channel are rotated too
    assert (stats.rotated, stats.current, stats.conflicts) == (5, 2, 0)
    after = _app(settings, database, store, new)
    after.check()
    with after.db.session() as session:
        for n, conn_id in enumerate(ids):
            row = session.get(Connection, conn_id)
            assert after.credentials(row) == {"token": "good"}
            assert after.context(row).settings["signing_key"] == f"{SIGNING}-{n}"
        (sub,) = session.exec(select(WebhookSubscription)).all()
        assert after.vault.decrypt(sub.secret_encrypted) == {"secret": hook_secret}
        (channel,) = session.exec(select(AlertChannel)).all()
        assert "token=abc123" in after.vault.decrypt(channel.url_encrypted)["url"]
    with pytest.raises(SecretKeyError), rotating.db.session() as session:
        verify_key(session, Vault(old))
    rotating.close()
    after.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_rotation_never_overwrites_credentials_saved_meanwhile(settings, database, store) -> None:
    """SQLite has no row locks: the write is conditional on the credentials read (on PostgreSQL the
    rotation's FOR UPDATE makes the saving worker wait instead)."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = _app(settings, database, store, old)
    (conn_id,) = _connections(first, 1)
    first.close()
    app = _app(settings, database, store, f"{new},{old}")
    vault = app.vault
    real_rotate = vault.rotate
    saved = threading.Event()

    def rotate_while_a_worker_saves(token: str) -> str:
        if not saved.is_set():  # a worker refreshes the token between the rotation's read and write
            saved.set()
            with app.db.session() as session:
                app.context(session.get(Connection, conn_id)).save_credentials({"token": "refreshed-token-1"})
        return real_rotate(token)

    vault.rotate = rotate_while_a_worker_saves  # type: ignore[method-assign]
    stats = rotate_secrets(app.db, vault)
    assert stats.passes == 2 and stats.conflicts == 0
    with app.db.session() as session:
        row = session.get(Connection, conn_id)
        assert Vault(new).decrypt(row.credentials_encrypted) == {"token": "refreshed-token-1"}
    app.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_rotation_on_postgresql_with_a_worker_running(settings, database, store) -> None:
    """Workers hold NEW,OLD and import all along; rotation ends with everything under NEW, no job failed."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = _app(settings, database, store, old)
    ids = _connections(first, 40)
    with first.db.transaction() as session:
        store_key_check(session, first.vault)
    first.close()
    for n in range(30):
        store.add_order(f"R{n}", [("A", None, 1)], minute=n)
    worker_app = _app(settings, database, store, f"{new},{old}")
    runtime = Runtime(worker_app).start(threads=3, tick=0)
    stop = threading.Event()

    def keep_importing() -> None:
        while not stop.is_set():
            for conn_id in ids:
                runtime.actors.import_orders.send(connection_id=conn_id)
            runtime.join()

    feeder = threading.Thread(target=keep_importing)
    feeder.start()
    try:
        cli_app = _app(settings, database, store, f"{new},{old}")
        stats = rotate_secrets(cli_app.db, cli_app.vault, batch=7)
        cli_app.close()
    finally:
        stop.set()
        feeder.join()
        runtime.join()
        runtime.stop()
    assert stats.rotated == 40 and stats.conflicts == 0
    after = _app(settings, database, store, new)
    after.check()
    with after.db.session() as session:
        for conn_id in ids:
            after.credentials(session.get(Connection, conn_id))
        failed = session.exec(select(Event).where(Event.outcome == "failed")).all()
        assert failed == []
        assert len(session.exec(select(Order)).all()) == 30 * 40
    assert store.calls["import_orders"] >= 40
    worker_app.close()
    after.close()
