"""Dramatiq brokers, Kade's actors, and the middleware that gives each job its context.

Kade owns a small fixed set of actors; plugins declare none. Messages carry ids only — the
database holds the truth — so a lost or repeated message costs at most a wasted claim.
Actors are declared per broker by ``declare_actors`` (no import-time global broker), which lets
one process build an in-process broker for the embedded mode and tests use Redis or stubs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import structlog
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from kade.app import Kade
from kade.batchmarks import BATCHED_KINDS, MARK_TTL, batch_marks, mark_key
from kade.config import Settings
from kade.errors import ConfigError, PlatformError
from kade.logs import get_logger
from kade.models import ActionKind
from kade.redis_broker import PromptRedisBroker

log = get_logger(__name__)

#: one queue per kind of work, in the default priority order (``KADE_QUEUE_ORDER``): alerts must
#: reach a person even while a backlog drains; then rule R10's recovery order — orders (and the
#: recovery drains, which start with them), stock, shipments; then cancellations to the stores,
#: events to the warehouse, and maintenance
QUEUES = ("alerts", "orders", "recovery", "stock", "shipments", "cancellations", "warehouse", "maintenance")
#: the queues of releases before cancellations, warehouse events and alerts had their own
LEGACY_QUEUES = ("orders", "stock", "shipments", "maintenance")
#: the queues of releases before the recovery drains had theirs
PRE_RECOVERY_QUEUES = tuple(q for q in QUEUES if q != "recovery")
#: queues whose consumers hold one message at a time (``kade.fair_prefetch``): a recovery job
#: starts a drain and returns, so a process would otherwise take a whole recovery's jobs at once
ONE_AT_A_TIME = frozenset({"recovery"})
#: how long an import, a catalogue link or a nightly check may run (Dramatiq's default: 10 min)
LONG_JOB_LIMIT_MS = 4 * 3600 * 1000


def queue_priorities(order: str) -> dict[str, int]:
    """Priority per queue from a comma list, most urgent first (lower number runs first).

    A list of only the four older queues still works: the newer ones take their default places
    around them (alerts first, cancellations and warehouse events after shipments). So does a
    list without ``recovery``: it goes right after ``orders``.
    """
    names = [name.strip() for name in order.split(",") if name.strip()]
    if len(names) == len(LEGACY_QUEUES) and sorted(names) == sorted(LEGACY_QUEUES):
        names = ["alerts", *names]
        at = names.index("shipments") + 1
        names[at:at] = ["cancellations", "warehouse"]
    if len(names) == len(PRE_RECOVERY_QUEUES) and sorted(names) == sorted(PRE_RECOVERY_QUEUES):
        at = names.index("orders") + 1
        names[at:at] = ["recovery"]
    if sorted(names) != sorted(QUEUES):
        raise ValueError(f"KADE_QUEUE_ORDER must name each of {', '.join(QUEUES)} once, got {order!r}")
    return {name: index * 10 for index, name in enumerate(names)}


class JobContext(Middleware):
    """Bind the job's ids to structlog for every line it logs; load plugins at worker boot."""

    def __init__(self, app: Callable[[], Kade]) -> None:
        self._app = app

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        app = self._app()
        log.info("worker_boot", platforms=sorted(app.pm.platforms()))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._app().stop_drains()  # each stops at its next batch; the sweeper has what is left

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(job=message.actor_name, message_id=message.message_id,
                                               **{k: v for k, v in message.kwargs.items() if k.endswith("_id")})

    def after_process_message(self, broker: dramatiq.Broker, message: MessageProxy, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        structlog.contextvars.clear_contextvars()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        structlog.contextvars.clear_contextvars()


def make_broker(settings: Settings) -> dramatiq.Broker:
    """RabbitMQ or Redis in production; an in-process stub broker for the embedded default.

    RabbitMQ (``KADE_BROKER_URL=amqp://...``) gives durable queues with publisher confirms; Redis
    remains the home of the shared rate limits and the token store, so it is required with it.
    """
    url = settings.broker_url
    if url.startswith(("amqp://", "amqps://")):
        if not settings.redis_url:
            raise ConfigError("KADE_BROKER_URL=amqp://... needs KADE_REDIS_URL too: Redis holds the shared "
                              "rate limits and tokens")
        from kade.fair_prefetch import KadeRabbitmqBroker

        return KadeRabbitmqBroker(url=url, confirm_delivery=True, one_at_a_time=ONE_AT_A_TIME)
    if url or settings.redis_url:
        return PromptRedisBroker(url=url or settings.redis_url, namespace="kade",
                                 idle_poll_ms=int(settings.broker_idle_poll * 1000), one_at_a_time=ONE_AT_A_TIME)
    return StubBroker()


@dataclass
class Actors:
    """Kade's actors bound to one broker.

    Each kind of outbox action has an actor on a queue of its own, so a backlog of one kind
    (shipments after an outage) never holds up another (a cancellation, an alert).
    """

    broker: dramatiq.Broker
    import_orders: dramatiq.Actor[..., Any]
    #: the outbox actions by kind; ``run_action`` is the older all-kinds actor, kept so messages
    #: queued before an upgrade still run (it looks the kind up first)
    report_shipment: dramatiq.Actor[..., Any]
    cancel_order: dramatiq.Actor[..., Any]
    deliver_webhook: dramatiq.Actor[..., Any]
    send_alert: dramatiq.Actor[..., Any]
    import_request: dramatiq.Actor[..., Any]
    run_action: dramatiq.Actor[..., Any]
    flush_stock: dramatiq.Actor[..., Any]
    recover_connection: dramatiq.Actor[..., Any]
    stock_check: dramatiq.Actor[..., Any]
    link_products: dramatiq.Actor[..., Any]
    check_credentials: dramatiq.Actor[..., Any]
    sweep: dramatiq.Actor[..., Any]

    def for_kind(self, kind: str) -> dramatiq.Actor[..., Any]:
        """The actor that runs one action of ``kind`` (stock goes through ``flush_stock``)."""
        return getattr(self, ACTION_ACTORS.get(kind, "run_action"))  # type: ignore[no-any-return]


#: the actor attribute of ``Actors`` for each kind of action (ActionKind values)
ACTION_ACTORS = {"shipment": "report_shipment", "cancel": "cancel_order", "webhook": "deliver_webhook",
                 "alert": "send_alert", "import_orders": "import_request"}


def declare_actors(broker: dramatiq.Broker, app: Callable[[], Kade], settings: Settings) -> Actors:
    """Declare Kade's actors on ``broker``; ``app`` gives the process's ``Kade`` when a job runs."""
    from kade import catalog, credentials_check, executor, ingest, recovery_drain, stockcheck, stockpush, sweeper

    priority = queue_priorities(settings.queue_order)
    broker.add_middleware(JobContext(app))

    def actor(fn: Callable[..., Any], name: str, queue: str, *, long: bool = False) -> dramatiq.Actor[..., Any]:
        # max_retries=0: retries are decided from the database (next_attempt_at), not by the broker.
        options: dict[str, Any] = {"max_retries": 0}
        if long:
            # Dramatiq ends a job after 10 minutes by default; a first import of a large shop, a
            # catalogue link or a nightly check of a million products (a Shopify bulk export)
            # may take longer. Their own leases and claims guard against a worker that died.
            options["time_limit"] = LONG_JOB_LIMIT_MS
        return dramatiq.Actor(fn, broker=broker, actor_name=f"kade.{name}", queue_name=queue,
                              priority=priority[queue], options=options)

    def import_orders(connection_id: int) -> None:
        try:
            stats = ingest.import_orders(app(), connection_id)
        except PlatformError as exc:
            # The store refused or failed: the import recorded it (event, failure count, the
            # notification on the third in a row) and the next poll tries again. One line, not
            # Dramatiq's traceback per poll for as long as a store is down.
            log.warning("import_failed", connection_id=connection_id, error=f"{type(exc).__name__}: {exc}")
            return
        log.info("import_done", connection_id=connection_id, created=stats.created, updated=stats.updated)

    def run_action(action_id: int) -> None:
        outcome = executor.run_action(app(), action_id)
        log.info("action_done", action_id=action_id, outcome=outcome.status)

    def runner(kind: ActionKind) -> Callable[..., None]:
        def run(action_id: int, connection_id: int | None = None) -> None:
            kade = app()
            more = None
            if kind in BATCHED_KINDS and connection_id is not None:
                # cleared before the claim: whatever commits after it sends a message of its own
                marks = batch_marks(kade, broker)
                key = mark_key(kind, connection_id)
                if marks is not None:
                    marks.clear(key)

                def more() -> None:  # a full batch: the rest goes to another thread meanwhile
                    if marks is None or marks.mark(key, MARK_TTL):
                        actors.for_kind(kind).send(action_id=action_id, connection_id=connection_id)

            outcomes = executor.run_actions(kade, action_id, kind=kind, limit=kade.settings.action_batch, more=more)
            for ran, outcome in outcomes.items():
                log.info("action_done", action_id=ran, kind=kind.value, outcome=outcome.status)

        return run

    def flush_stock(connection_id: int) -> None:
        result = stockpush.flush_stock(app(), connection_id,
                                       more=lambda: actors.flush_stock.send(connection_id=connection_id))
        log.info("stock_flushed", connection_id=connection_id, pushed=result.pushed, unchanged=result.unchanged)

    def recover_connection(connection_id: int, settle: float) -> None:
        def more(kind: ActionKind, action_id: int) -> None:  # a full batch: the next one on another thread
            if kind == ActionKind.STOCK:
                actors.flush_stock.send(connection_id=connection_id)
            else:
                actors.for_kind(kind).send(action_id=action_id, connection_id=connection_id)

        kade = app()

        def drain(stop: threading.Event) -> None:
            ran = recovery_drain.drain_connection(kade, connection_id, settle=settle, more=more, stop=stop)
            log.info("connection_recovered", connection_id=connection_id, **ran)

        # on a thread of its own: the store's limit paces it for as long as it takes, and this
        # worker thread is wanted for the batches it hands off (kade.recovery_drain.DrainThreads)
        kade.drains.run(connection_id, drain)

    def stock_check(connection_id: int, attempt: int = 1) -> None:
        again = stockcheck.nightly_check(app(), connection_id, attempt)
        if again is not None:  # the same night, later (a lost message: the next night's check)
            actors.stock_check.send_with_options(kwargs={"connection_id": connection_id, "attempt": attempt + 1},
                                                 delay=int(again * 1000))

    def link_products(connection_id: int) -> None:
        stats = catalog.link_store_products(app(), connection_id)
        log.info("products_done", connection_id=connection_id, linked=stats.linked, created=stats.created)

    def check_credentials(connection_id: int) -> None:
        credentials_check.check_credentials(app(), connection_id)

    def sweep() -> None:
        sweeper.sweep(app(), actors)

    actors = Actors(
        broker=broker,
        import_orders=actor(import_orders, "import_orders", "orders", long=True),
        report_shipment=actor(runner(ActionKind.SHIPMENT), "report_shipment", "shipments"),
        cancel_order=actor(runner(ActionKind.CANCEL), "cancel_order", "cancellations"),
        deliver_webhook=actor(runner(ActionKind.WEBHOOK), "deliver_webhook", "warehouse"),
        send_alert=actor(runner(ActionKind.ALERT), "send_alert", "alerts"),
        import_request=actor(runner(ActionKind.IMPORT_ORDERS), "import_request", "orders", long=True),
        # older messages (one actor for every kind) still arrive after an upgrade: remove after
        # the next release
        run_action=actor(run_action, "run_action", "shipments"),
        flush_stock=actor(flush_stock, "flush_stock", "stock"),
        # one connection's whole recovery (orders, stock, shipments) on one thread: see kade.recovery_drain
        recover_connection=actor(recover_connection, "recover_connection", "recovery", long=True),
        stock_check=actor(stock_check, "stock_check", "maintenance", long=True),
        link_products=actor(link_products, "link_products", "maintenance", long=True),
        check_credentials=actor(check_credentials, "check_credentials", "maintenance"),
        sweep=actor(sweep, "sweep", "maintenance"),
    )
    # The actor was called kade.import_products: messages queued before the rename carry that
    # name, and this alias runs them. Remove it one release after kade.link_products shipped.
    actor(link_products, "import_products", "maintenance", long=True)
    return actors
