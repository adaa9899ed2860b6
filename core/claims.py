"""Claims on outbox actions: who runs an action now, checked again by whoever writes its outcome.

A claim is a conditional update from ``pending`` to ``running`` that counts the attempt and
names its holder (``claimed_by``). Two workers handed the same message cannot both win; a worker
whose claim the sweeper took back (its call outlived ``KADE_SWEEP_AFTER``) writes nothing.
Long calls keep their claims fresh through one renewer thread per process, not one per call.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.logs import get_logger
from kade.models import Action, ActionStatus, utcnow

log = get_logger(__name__)


def new_claim() -> str:
    """A claim token: who holds a running action, checked again by whoever writes its outcome."""
    return uuid.uuid4().hex


#: built once: a claim per action is the hottest statement a worker runs
_CLAIM = (
    sa.update(Action)
    .where(col(Action.id) == sa.bindparam("claim_id"), col(Action.status) == ActionStatus.PENDING,
           col(Action.next_attempt_at) <= sa.bindparam("claim_due"))
    .values(status=ActionStatus.RUNNING, attempts=col(Action.attempts) + 1, updated_at=sa.bindparam("claim_at"),
            claimed_by=sa.bindparam("claim_owner"))
    .returning(Action)
    .execution_options(populate_existing=True)
)


def claim(session: Session, action_id: int, now: datetime | None = None, owner: str | None = None) -> Action | None:
    """Take a due pending action for this worker, or None if it is not due or someone has it.

    One statement (UPDATE ... RETURNING) both wins the race and loads the row. The returned
    action's ``claimed_by`` is this claim; only its holder may finish or release it.
    """
    now = now or utcnow()
    return session.scalars(_CLAIM, {"claim_id": action_id, "claim_due": now, "claim_at": now,
                                    "claim_owner": owner or new_claim()}).first()


def owned(session: Session, action_id: int, owner: str) -> Action | None:
    """The action, locked, if ``owner`` still holds its claim; None when the sweeper took it back
    (the call outlived its lease) — then another worker may own it, and this one writes nothing."""
    action = session.exec(
        select(Action).where(col(Action.id) == action_id, col(Action.status) == ActionStatus.RUNNING,
                             col(Action.claimed_by) == owner)
        .with_for_update().execution_options(populate_existing=True)
    ).first()
    if action is None:
        log.warning("claim_lost", action_id=action_id, hint="reclaimed while its call ran; outcome not written")
    return action


_FINISH = (
    sa.update(Action)
    .where(col(Action.id) == sa.bindparam("finish_id"), col(Action.status) == ActionStatus.RUNNING,
           col(Action.claimed_by) == sa.bindparam("finish_owner"))
    .values(status=sa.bindparam("finish_status"), claimed_by=None, updated_at=sa.bindparam("finish_at"),
            done_at=sa.bindparam("finish_at"),
            remote_reference=sa.func.coalesce(sa.bindparam("finish_reference", type_=sa.String),
                                              col(Action.remote_reference)))
    .execution_options(synchronize_session=False)
)


def finish_owned(session: Session, action_id: int, owner: str, status: ActionStatus, *,
                 reference: str | None = None) -> bool:
    """Finish an action in one conditional UPDATE if ``owner`` still holds it (the common, happy
    ending of a run); False, and nothing written, when the claim was taken back meanwhile."""
    result = session.execute(_FINISH, {"finish_id": action_id, "finish_owner": owner, "finish_status": status.value,
                                       "finish_at": utcnow(), "finish_reference": reference})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("claim_lost", action_id=action_id, hint="reclaimed while its call ran; outcome not written")
        return False
    return True


def _claim_batch_statement(postgres: bool) -> sa.Update:
    pick = (
        sa.select(col(Action.id))
        .where(col(Action.kind) == sa.bindparam("batch_kind"),
               col(Action.connection_id) == sa.select(col(Action.connection_id))
               .where(col(Action.id) == sa.bindparam("batch_first")).scalar_subquery(),
               col(Action.status) == ActionStatus.PENDING, col(Action.next_attempt_at) <= sa.bindparam("batch_due"))
        .order_by((col(Action.id) == sa.bindparam("batch_first")).desc(), col(Action.id))
        .limit(sa.bindparam("batch_limit", type_=sa.Integer))
    )
    if postgres:
        # A LIMIT subquery under UPDATE ... IN may be run again per row, and with SKIP LOCKED each
        # run can pick other rows: a materialized CTE picks once, so the limit holds.
        picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
    else:
        picked = pick.cte("picked")
    return (
        sa.update(Action)
        .where(col(Action.id) == picked.c.id, col(Action.status) == ActionStatus.PENDING)
        .values(status=ActionStatus.RUNNING, attempts=col(Action.attempts) + 1, updated_at=sa.bindparam("batch_at"),
                claimed_by=sa.bindparam("batch_owner"))
        .returning(Action)
        .execution_options(populate_existing=True)
    )


#: built once per dialect, like ``_CLAIM``: a statement built per call spends more on building
#: and cache keys than on running
_CLAIM_BATCH = {True: _claim_batch_statement(True), False: _claim_batch_statement(False)}


def claim_batch(session: Session, kind: str, first_id: int, owner: str, limit: int,
                now: datetime | None = None) -> list[Action]:
    """Claim ``first_id`` and up to ``limit - 1`` more due pending actions of its connection and
    kind, oldest first, in one statement; the first is always among them when it is due.

    A worker handed one action's message takes the others that are waiting, so a backlog costs
    one claim and one record per batch instead of per action. Rows another worker has locked
    are skipped (PostgreSQL), so two batches never wait on each other.
    """
    now = now or utcnow()
    if limit <= 1:
        one = claim(session, first_id, now, owner)
        return [one] if one is not None else []
    statement = _CLAIM_BATCH[session.get_bind().dialect.name == "postgresql"]
    rows = session.scalars(statement, {"batch_kind": str(kind), "batch_first": first_id, "batch_due": now,
                                       "batch_limit": limit, "batch_at": now, "batch_owner": owner}).all()
    return sorted(rows, key=lambda a: a.id or 0)


def _finish_many_statement(postgres: bool) -> sa.Update:
    table = Action.__table__  # type: ignore[attr-defined]  # Core: the ORM's bulk-update path costs more
    ids = (table.c.id == sa.any_(sa.bindparam("finish_ids", type_=sa.ARRAY(sa.Integer))) if postgres
           else table.c.id.in_(sa.bindparam("finish_ids", expanding=True)))
    return (
        sa.update(table)
        .where(ids, table.c.status == ActionStatus.RUNNING.value, table.c.claimed_by == sa.bindparam("finish_owner"))
        .values(status=sa.bindparam("finish_status"), claimed_by=None, updated_at=sa.bindparam("finish_at"),
                done_at=sa.bindparam("finish_at"))
        .returning(table.c.id)
    )


_FINISH_MANY = {True: _finish_many_statement(True), False: _finish_many_statement(False)}


def finish_many(session: Session, action_ids: list[int], owner: str, status: ActionStatus) -> set[int]:
    """``finish_owned`` for many actions in one UPDATE; the ids actually finished (a claim taken
    back meanwhile is left alone, and its outcome is not written)."""
    if not action_ids:
        return set()
    statement = _FINISH_MANY[session.get_bind().dialect.name == "postgresql"]
    done: set[int] = {int(i or 0) for i in session.connection().scalars(statement, {
        "finish_ids": list(action_ids), "finish_owner": owner, "finish_status": status.value,
        "finish_at": utcnow()}).all()}
    for lost in sorted(set(action_ids) - done):
        log.warning("claim_lost", action_id=lost, hint="reclaimed while its call ran; outcome not written")
    return done


def renew(kade: Kade, owners: list[str]) -> int:
    """Touch the running actions these claims hold (never one someone else holds); how many."""
    if not owners:
        return 0
    with kade.db.transaction() as session:
        result = session.execute(
            sa.update(Action).where(col(Action.claimed_by).in_(owners), col(Action.status) == ActionStatus.RUNNING)
            .values(updated_at=utcnow()).execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]


class ClaimKeeper:
    """The process's renewer: every third of the sweep age it touches every claim registered,
    in one statement. It idles out after a quiet period and starts again when needed, so a busy
    worker keeps one thread while a test that runs one action does not leave one behind."""

    def __init__(self, kade: Kade) -> None:
        self.kade = kade
        self._owners: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.thread_name = f"kade-claim-keeper-{id(self):x}"

    def add(self, owner: str) -> None:
        with self._lock:
            self._owners[owner] = self._owners.get(owner, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def discard(self, owner: str) -> None:
        with self._lock:
            left = self._owners.get(owner, 0) - 1
            if left > 0:
                self._owners[owner] = left
            else:
                self._owners.pop(owner, None)

    def _run(self) -> None:
        every = self.kade.settings.sweep_after / 3
        idle = threading.Event()
        while True:
            idle.wait(every)
            with self._lock:
                owners = list(self._owners)
                if not owners:
                    self._thread = None  # a later add() starts a new one
                    return
            try:
                renew(self.kade, owners)
            except Exception as exc:  # the next round tries again; the lease has slack for it
                log.warning("claim_renew_failed", error=f"{type(exc).__name__}: {exc}")


_keepers_lock = threading.Lock()


def keeper(kade: Kade) -> ClaimKeeper:
    """The one ``ClaimKeeper`` of this app."""
    with _keepers_lock:
        found: ClaimKeeper | None = getattr(kade, "_claim_keeper", None)
        if found is None:
            found = ClaimKeeper(kade)
            kade._claim_keeper = found  # type: ignore[attr-defined]
        return found


class KeepClaimed:
    """Renew a claim while a long store call runs, so the sweeper never takes it back meanwhile.

    Registers the claim with the process's ``ClaimKeeper`` for the length of the ``with`` block;
    the renewal is conditional on the claim, so it cannot revive an action someone else owns.
    """

    def __init__(self, kade: Kade, owner: str) -> None:
        self.kade = kade
        self.owner = owner

    def __enter__(self) -> KeepClaimed:
        keeper(self.kade).add(self.owner)
        return self

    def __exit__(self, *exc: object) -> None:
        keeper(self.kade).discard(self.owner)

    def renew(self) -> int:
        return renew(self.kade, [self.owner])
