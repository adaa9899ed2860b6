"""Alerts reach a person: through Apprise channels, on state changes, within a minute of a drop."""

from __future__ import annotations

import json
import threading
import time

from sqlmodel import col, select

from kade.alerts import add_channel
from kade.audit import clear_notifications, notify
from kade.models import Action, ActionKind, Connection, ConnectionStatus
from kade.runtime import Runtime
from kade.scheduler import Scheduler
from kade.status import change_status
from kade.tenants import get_tenant
from tests.support.factories import make_connection
from tests.support.receiver import receiver


def _alerts(kade) -> list[Action]:
    with kade.db.session() as session:
        return list(session.exec(select(Action).where(Action.kind == ActionKind.ALERT).order_by(col(Action.id))))


def test_alerts_follow_state_changes_not_every_failure(kade) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        add_channel(session, kade.vault, None, "ops", "json://127.0.0.1:9/ops")
        add_channel(session, kade.vault, get_tenant(session, "acme"), "acme", "json://127.0.0.1:9/acme",
                    kinds=["retries_exhausted"])
    with kade.db.transaction() as session:
        for _ in range(5):  # the same failure five times: one notification, count 5
            notify(session, "stock_rejected", "refused", dedupe_key="x:1", tenant_id=conn.tenant_id,
                   connection_id=conn.id)
    assert len(_alerts(kade)) == 1  # operator-wide only: the tenant's channel wants another kind
    with kade.db.transaction() as session:
        clear_notifications(session, connection_id=conn.id, kind="stock_rejected")
        notify(session, "stock_rejected", "refused again", dedupe_key="x:1", tenant_id=conn.tenant_id,
               connection_id=conn.id)
        notify(session, "retries_exhausted", "gave up", dedupe_key="y:1", tenant_id=conn.tenant_id)
    # back after being cleared: alerts again; the tenant's channel gets its kind
    assert len(_alerts(kade)) == 4


def test_an_unknown_channel_url_is_refused(kade) -> None:
    import pytest

    from kade.errors import UserError

    with kade.db.transaction() as session, pytest.raises(UserError, match="Apprise"):
        add_channel(session, kade.vault, None, "bad", "nonsense://what")


def test_active_connection_drop_reaches_a_local_receiver_within_60s(kade) -> None:
    """The seed's outage, again: connections drop; a person's endpoint hears of it within a minute."""
    conns = [make_connection(kade, name=f"shop{i}") for i in range(5)]
    with receiver() as person:
        with kade.db.transaction() as session:
            add_channel(session, kade.vault, None, "on-call", person.url.replace("http://", "json://") + "/alert")
        runtime = Runtime(kade).start(threads=2, tick=0.5)
        stop = threading.Event()
        scheduler = threading.Thread(target=Scheduler(kade, runtime.actors).run, args=(stop, 0.5), daemon=True)
        scheduler.start()
        try:
            dropped_at = time.monotonic()
            with kade.db.transaction() as session:
                for conn in conns[:3]:
                    row = session.get(Connection, conn.id)
                    change_status(session, row, ConnectionStatus.NEEDS_REAUTH, reason="old login refused",
                                  actor="worker")
            alert = person.wait_for(lambda r: b"stopped being active" in r.body,
                                    timeout=60 - (time.monotonic() - dropped_at))
        finally:
            stop.set()
            scheduler.join(timeout=10)
            runtime.stop()
    assert alert is not None, "no active-connection-drop alert within 60 s"
    assert alert.at - dropped_at < 60
    message = json.loads(alert.body)
    assert "3 of 5 active connections" in message["message"]
