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
the plugin's return values — after the core has done its work. Every scenario ends with
``World.verify``: every fault it armed fired, every action ended in its expected state, no
action exhausted its retries. A harness control the platform cannot offer
(``ControlUnsupported``) makes its scenario a reported skip, never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from kade import outcomes
from kade.catalog import link_store_products
from kade.credentials_check import check_credentials
from kade.errors import KadeError
from kade.ingest import import_orders
from kade.login_migration import migrate
from kade.models import (
    ActionKind,
    ActionStatus,
    ConnectionStatus,
    Order,
    OrderState,
    Product,
    ProductLink,
    Quarantine,
    Tenant,
)
from kade.shipments import cancel_in_store
from kade.stock import set_stock
from kade.stockcheck import full_stock_check
from kade.testing.harness import ControlUnsupported, Harness
from kade.testing.harnesses import make_harness
from kade.testing.world import World as World
from kade.types import OrderQuery, RemoteOrderStatus
from kade.webhooks import receive

PAGE_SPANNING = 120
def _tamper(body: bytes) -> bytes:
    """The body with one digit changed: still well-formed, so only the signature can catch it."""
    for index, byte in enumerate(body):
        if 0x30 <= byte <= 0x39:
            return body[:index] + bytes([0x30 + (byte - 0x30 + 1) % 10]) + body[index + 1:]
    return body + b" "


def _retried(world: World, kind: str, error_kind: str) -> bool:
    """Whether the core saw ``error_kind`` on an action of ``kind`` and tried again."""
    return any(a.error_kind == error_kind and a.attempts >= 2 for a in world.actions(ActionKind(kind)))


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
        monkeypatch.setattr(outcomes, "MIN_BACKOFF", 0.02)
        monkeypatch.setattr(outcomes, "PENDING_RECHECK", 0.02)
        w = World(harness, tmp_path)
        yield w
        w.close()

    # -- orders in ---------------------------------------------------------------------------

    def test_import_pages_through_everything_once(self, world: World) -> None:
        seeded = world.harness.seed_orders(PAGE_SPANNING)
        first = import_orders(world.kade, world.connection_id, full=True)
        again = import_orders(world.kade, world.connection_id, full=True)
        orders = world.orders()
        assert {s.remote_id for s in seeded} <= set(orders)
        assert first.pages >= 2, "the scenario must span several pages"
        assert again.created == 0 and again.updated == 0
        world.verify()

    def test_malformed_record_is_quarantined_and_its_page_imports(self, world: World) -> None:
        seeded = world.harness.seed_orders(3)
        bad = world.control(world.harness.seed_malformed_order)
        stats = import_orders(world.kade, world.connection_id)
        assert stats.errors == []
        orders = world.orders()
        assert {s.remote_id for s in seeded} <= set(orders), "one bad record must cost only itself"
        assert bad not in orders
        with world.kade.db.session() as session:
            held = session.exec(select(Quarantine).where(Quarantine.connection_id == world.connection_id)).all()
        assert [q.remote_id for q in held] == [bad], f"quarantined: {[(q.remote_id, q.reason) for q in held]}"
        assert held[0].reason.strip(), "a quarantined record needs a reason an operator can act on"
        world.verify()

    def test_order_already_shipped_in_the_store_is_not_warehouse_work(self, world: World) -> None:
        order = world.control(world.harness.seed_shipped_order)
        connection = world.kade.load_connection(world.connection_id)
        platform = world.kade.pm.platform(world.harness.platform)
        ctx = world.kade.context(connection)
        token: str | None = None
        # A regular poll: stores list recently changed orders whatever their state.
        since = datetime.now(UTC) - timedelta(hours=1)
        while True:
            page = platform.import_orders(ctx, OrderQuery(since=since, page_token=token))
            for remote in page.orders:
                if remote.remote_id == order.remote_id:
                    assert remote.status == RemoteOrderStatus.SHIPPED or all(
                        li.quantity_shipped >= li.quantity - li.quantity_cancelled for li in remote.lines
                    ), f"the store shipped order {order.number}, the plugin reports it as {remote.status}"
            if page.next_page_token is None:
                break
            token = page.next_page_token
        import_orders(world.kade, world.connection_id)
        imported = world.orders().get(order.remote_id)
        assert imported is None or imported.status == OrderState.SHIPPED, (
            f"order {order.number} was shipped by the store but Kade has it {imported.status}")
        world.verify()

    def test_store_cancellation_cancels_the_order_in_kade(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.harness.cancel_order(order.remote_id)
        import_orders(world.kade, world.connection_id)
        assert world.orders()[order.remote_id].status == OrderState.CANCELLED
        world.verify()

    def test_store_cancellation_after_picking_is_a_notice_not_a_cancel(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        with world.kade.db.transaction() as session:
            row = session.exec(select(Order).where(Order.connection_id == world.connection_id,
                                                   Order.remote_id == order.remote_id)).one()
            row.picked = True
            session.add(row)
        world.harness.cancel_order(order.remote_id)
        import_orders(world.kade, world.connection_id)
        assert world.orders()[order.remote_id].status == OrderState.OPEN
        assert "cancel_after_pick" in world.notifications(), "the plugin must report the store's cancellation"
        world.verify()

    # -- stock out ---------------------------------------------------------------------------

    def _link_products(self, world: World, count: int) -> dict[str, Product]:
        products = world.harness.seed_products(count)
        stats = link_store_products(world.kade, world.connection_id)
        assert stats.linked >= count
        with world.kade.db.session() as session:
            linked = {
                link.remote_id: session.get(Product, link.product_id)
                for link in session.exec(select(ProductLink).where(ProductLink.connection_id == world.connection_id))
            }
        out = {}
        for remote_id, _ in products:
            product = linked[remote_id]
            assert product is not None
            out[remote_id] = product
        return out

    def _set_stock(self, world: World, wanted: Mapping[str, int], products: Mapping[str, Product]) -> None:
        with world.kade.db.transaction() as session:
            tenant = session.get(Tenant, world.tenant_id)
            assert tenant is not None
            for remote_id, quantity in wanted.items():
                set_stock(session, tenant, products[remote_id].sku, quantity, window=0)

    def test_stock_push_sets_the_store_and_batches(self, world: World) -> None:
        batch = world.capabilities.stock_batch_size
        count = min(2 * batch + 1, 7) if batch < 4 else min(batch + 3, 260)
        products = self._link_products(world, count)
        wanted = {rid: 10 + n for n, rid in enumerate(products)}
        self._set_stock(world, wanted, products)
        world.drain()
        assert {rid: world.harness.stock(rid) for rid in wanted} == wanted
        pushes = [e for e in world.events("stock_push") if e.outcome == "ok"]
        assert len(pushes) <= math.ceil(count / batch) + 1
        world.verify()

    def test_nightly_check_reads_the_store_and_corrects_drift(self, world: World) -> None:
        if not world.capabilities.stock_read:
            pytest.skip(f"{world.harness.platform} declares stock_read=False: no nightly check")
        products = self._link_products(world, 3)
        wanted = {rid: 20 + n for n, rid in enumerate(products)}
        self._set_stock(world, wanted, products)
        world.drain()
        drifted = next(iter(products))
        world.control(world.harness.set_store_stock, drifted, 99)
        stats = full_stock_check(world.kade, world.connection_id)
        assert stats.seen >= 3 and stats.drifted == 1, f"read_stock must report every product: {stats}"
        world.drain()
        assert {rid: world.harness.stock(rid) for rid in wanted} == wanted
        world.verify()

    # -- shipments and cancellations out -----------------------------------------------------

    def test_full_shipment_reaches_the_store_once_with_tracking(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.ship(order.remote_id, tracking="3SKADE0001")
        world.drain()
        shipments = world.harness.shipments(order.remote_id)
        assert len(shipments) == 1
        assert shipments[0].tracking_code == "3SKADE0001"
        assert world.orders()[order.remote_id].status == OrderState.SHIPPED
        world.verify()

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
        world.verify()

    def test_unknown_outcome_is_checked_not_duplicated(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.harness.drop_next_shipment_answer()
        world.ship(order.remote_id, tracking="3SLOST01")
        world.drain()
        assert len(world.harness.shipments(order.remote_id)) == 1
        assert _retried(world, "shipment", "unknown_outcome"), (
            "the dropped answer must reach the core as OutcomeUnknown, so it asks check_shipment first")
        world.verify()

    def test_write_timeout_before_the_store_applied_it_is_sent_again(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.control(world.harness.time_out_next_write)
        world.ship(order.remote_id, tracking="3SWRITE1")
        world.drain()
        shipments = world.harness.shipments(order.remote_id)
        assert [s.tracking_code for s in shipments] == ["3SWRITE1"]
        assert world.transport.timeouts() >= 1, "the write timeout never reached the plugin"
        assert _retried(world, "shipment", "unknown_outcome"), (
            "a write that got no answer is OutcomeUnknown (it may have landed), not an ordinary error")
        world.verify()

    def test_shipment_for_an_order_the_store_cancelled_raises_stop_the_parcel(self, world: World) -> None:
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.harness.cancel_order(order.remote_id)
        world.ship(order.remote_id, tracking="3SCANC01")
        world.drain()
        assert world.harness.shipments(order.remote_id) == []
        assert "shipment_for_cancelled_order" in world.notifications(), (
            "the store's refusal must be RejectedByStore(code='order_cancelled'): the warehouse must stop the parcel")
        [action] = world.actions(ActionKind.SHIPMENT)
        assert action.error_kind == "order_cancelled"
        world.verify(expect={ActionKind.SHIPMENT: ActionStatus.FAILED})

    def test_warehouse_cancel_reaches_the_store(self, world: World) -> None:
        if not world.capabilities.cancel_order:
            pytest.skip(f"{world.harness.platform} declares cancel_order=False")
        [order] = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        with world.kade.db.transaction() as session:
            row = session.exec(select(Order).where(Order.connection_id == world.connection_id,
                                                   Order.remote_id == order.remote_id)).one()
            cancel_in_store(session, row, reason="out_of_stock")
        world.drain()
        told = world.control(world.harness.order_cancelled, order.remote_id)
        assert told, "the plugin reported a cancel the store never got"
        assert len(world.actions(ActionKind.CANCEL)) == 1
        world.verify()

    # -- login, limits, transport ------------------------------------------------------------

    def test_check_connection_proves_the_login_and_sees_it_revoked(self, world: World) -> None:
        assert check_credentials(world.kade, world.connection_id) in ("ok", "expiring")
        world.harness.revoke_credentials()
        assert check_credentials(world.kade, world.connection_id) == "needs_reauth"
        assert world.connection().status == ConnectionStatus.NEEDS_REAUTH
        world.verify()

    def test_rejected_login_means_needs_reauth_and_a_notification(self, world: World) -> None:
        world.harness.seed_orders(1)
        world.harness.revoke_credentials()
        import_orders(world.kade, world.connection_id)
        assert world.connection().status == ConnectionStatus.NEEDS_REAUTH
        assert "needs_reauth" in world.notifications()
        world.verify()

    def test_expired_access_token_is_renewed_not_needs_reauth(self, world: World) -> None:
        first = world.harness.seed_orders(1)
        import_orders(world.kade, world.connection_id)
        world.control(world.harness.expire_access_token)
        later = world.harness.seed_orders(1)
        stats = import_orders(world.kade, world.connection_id)
        assert stats.errors == []
        assert world.connection().status == ConnectionStatus.ACTIVE, "an expired token is renewed, not needs_reauth"
        assert {s.remote_id for s in first + later} <= set(world.orders())
        world.verify()

    def test_rate_limit_is_respected_and_the_import_completes(self, world: World) -> None:
        seeded = world.harness.seed_orders(3)
        world.harness.rate_limit_next_request(0.05)
        stats = import_orders(world.kade, world.connection_id)
        assert stats.errors == []
        assert {s.remote_id for s in seeded} <= set(world.orders())
        assert world.connection().status == ConnectionStatus.ACTIVE
        world.verify()

    def test_read_timeout_is_retried_and_the_import_completes(self, world: World) -> None:
        seeded = world.harness.seed_orders(3)
        world.control(world.harness.time_out_next_read)
        try:
            stats = import_orders(world.kade, world.connection_id)
        except KadeError as exc:
            pytest.fail(f"one read timeout must be retried, not end the import: {type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            pytest.fail(f"a raw {type(exc).__name__} escaped the plugin; map it (kade.httpkit.send)")
        assert stats.errors == []
        assert {s.remote_id for s in seeded} <= set(world.orders())
        assert world.transport.timeouts() >= 1, "the read timeout never reached the plugin"
        world.verify()

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
        world.verify()

    # -- webhooks ----------------------------------------------------------------------------

    def test_webhooks_are_verified_deduplicated_and_tamper_proof(self, world: World) -> None:
        if not world.capabilities.webhooks:
            pytest.skip(f"{world.harness.platform} declares no webhooks")
        [order] = world.harness.seed_orders(1)
        try:
            delivery = world.harness.webhook_delivery(order.remote_id, topic="order_created")
        except ControlUnsupported as exc:
            pytest.fail(f"{world.harness.platform} declares webhooks but its harness cannot deliver one: {exc}")
        conn = world.connection()
        first = receive(world.kade, conn, delivery.headers, delivery.body)
        assert first.status == "accepted" and len(first.action_ids) == 1, \
            "an authentic order delivery must queue one import of its connection"
        again = receive(world.kade, conn, delivery.headers, delivery.body)
        assert again.status == "duplicate", "a replayed delivery must be recognised by its delivery id"
        fresh = world.harness.webhook_delivery(order.remote_id, topic="order_updated")
        tampered = _tamper(fresh.body)
        with pytest.raises(KadeError):
            receive(world.kade, conn, fresh.headers, tampered)
        world.drain()
        assert order.remote_id in world.orders(), "the queued import did not bring the order in"
        world.verify()
