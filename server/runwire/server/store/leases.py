"""Leases on runs and batches: which live process drives each, until when, under which fencing number.

A process claims a run or a batch whose lease has expired (or that never had one) by taking the lease
and growing its `fence` in one statement; it renews the leases of everything it holds with one UPDATE
per table and interval (per thousand rows held). Every write of a leased row checks the fence in the same statement
(engine/events.py for runs, store/batches.py for batches), so a process that lost a lease, paused or
cut off past its expiry, cannot write one more event of what it no longer owns.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Container, Iterable, Sequence

from sqlalchemy import Table, and_, bindparam, or_, select, update

from runwire.server.store.models import BatchRow, RunRow
from runwire.server.store.store import Store

_RUNS: Table = RunRow.__table__
_BATCHES: Table = BatchRow.__table__
# RunStatus.QUEUED (engine/runner.py): a queued run without an owner waits for a process with room.
QUEUED_RUN_STATUS = 1


def new_process_id() -> str:
    """Unique per process start: host and pid say where it runs, the random part tells restarts apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseLost(Exception):
    """Another process holds the lease now: this one writes nothing more of the run or batch."""

    def __init__(self, resource: str) -> None:
        super().__init__(f"lease lost: {resource} is owned by another process now")
        self.resource = resource


@dataclass(frozen=True)
class LeaseTerms:
    """This process's identity as an owner, and how long a lease lasts unless renewed."""

    owner: str
    ttl_seconds: float = 15.0

    def expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl_seconds)


@dataclass(frozen=True)
class Held:
    """A leased row as the database holds it: id, fencing number, and whether it is still active."""

    id: str
    fence: int


def _expired(table: Table) -> Any:
    return or_(table.c.lease_expires.is_(None), table.c.lease_expires < bindparam("now"))


RENEW_CHUNK = 1000


def _renewal(table: Table) -> Any:
    # Bound names unlike any column's: an UPDATE reserves those for its SET clause.
    # The rows are locked in id order, as the event writer locks them: two transactions that update
    # several runs in differing orders deadlock on PostgreSQL.
    held = (
        select(table.c.id)
        .where(table.c.lease_owner == bindparam("_holder"), table.c.id.in_(bindparam("_ids", expanding=True)))
        .order_by(table.c.id)
        .with_for_update()
    )
    return (
        update(table)
        .where(table.c.id.in_(held.scalar_subquery()))
        .values(lease_expires=bindparam("_expires"))
        .returning(table.c.id, table.c.fence)
    )


_RENEW_RUNS, _RENEW_BATCHES = _renewal(_RUNS), _renewal(_BATCHES)


async def renew(
    store: Store, owner: str, expires: datetime, run_ids: Sequence[str], batch_ids: Sequence[str]
) -> tuple[list[Held], list[Held]]:
    """Extend the leases `owner` holds on `run_ids` and `batch_ids`: one UPDATE per table (and thousand
    ids), in one transaction. Returns those it still holds (runs, batches), with their fences."""
    runs: list[Held] = []
    batches: list[Held] = []
    async with store.write() as db:
        for statement, ids, kept in ((_RENEW_RUNS, run_ids, runs), (_RENEW_BATCHES, batch_ids, batches)):
            for start in range(0, len(ids), RENEW_CHUNK):
                params = {"_holder": owner, "_expires": expires, "_ids": list(ids[start : start + RENEW_CHUNK])}
                kept.extend(Held(r.id, r.fence) for r in (await db.execute(statement, params)).all())
    return runs, batches


async def current(store: Store, table: str, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """The (owner, fence) of each of `ids` (runs or batches) as the database holds them now."""
    if not ids:
        return {}
    t = _RUNS if table == "runs" else _BATCHES
    async with store.read() as db:
        rows = (await db.execute(select(t.c.id, t.c.lease_owner, t.c.fence).where(t.c.id.in_(list(ids))))).all()
    return {r.id: (r.lease_owner, r.fence) for r in rows}


# Whether any row waits for an owner: a read, so a process with nothing to take pays no write transaction.
_UNOWNED_QUEUED_RUN = select(_RUNS.c.pk).where(_RUNS.c.status == QUEUED_RUN_STATUS, _RUNS.c.lease_owner == "").limit(1)
_UNOWNED_BATCHES: dict[tuple[int, ...], Any] = {}


async def unowned_waiting(store: Store, table: str, statuses: Iterable[int]) -> bool:
    """Whether a row of `table` (runs or batches) in one of `statuses` has never had an owner: what
    claim(unowned=True) would take. Queued runs are the only runs that wait unowned."""
    if table == "runs":
        return await store.fetch_one(_UNOWNED_QUEUED_RUN, {}) is not None
    key = tuple(sorted(int(s) for s in statuses))
    statement = _UNOWNED_BATCHES.get(key)
    if statement is None:
        statement = _UNOWNED_BATCHES[key] = (
            select(_BATCHES.c.pk).where(_BATCHES.c.state.in_(key), _BATCHES.c.lease_owner == "").limit(1)
        )
    return await store.fetch_one(statement, {}) is not None


async def claim(
    store: Store,
    table: str,
    owner: str,
    now: datetime,
    expires: datetime,
    statuses: Iterable[int],
    limit: int,
    *,
    held: Container[str] = (),
    everyone_else: bool = False,
    unowned: bool = False,
    only: Sequence[str] = (),
) -> list[Any]:
    """Take the leases of up to `limit` active rows of `table` (runs or batches) that expired (or never
    had one), growing their fences; the rows (ORM) as claimed. `held`: ids this process drives (a lease
    of its own that lapsed in a long pause is renewed, not claimed); one of its own it no longer drives
    (the work stopped without ending) is claimed like any other. `everyone_else`: also leases that have
    not expired, but of other owners (a SQLite data dir at start: no other process group can hold them).
    `unowned`: only rows that never had an owner (work queued for whichever process has room: see
    store/work_queue.py); without it, a QUEUED run that never had an owner is left to that queue.
    `only`: just these ids (a cancel that ends a queued run itself).

    On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`: two processes claiming at once take
    different rows, and a row whose owner is writing it right now is left for the next pass. On SQLite
    the one write transaction is enough."""
    model: Any = RunRow if table == "runs" else BatchRow
    t = model.__table__
    state = t.c.status if table == "runs" else t.c.state
    if unowned:
        free = t.c.lease_owner == ""
    else:
        free = t.c.lease_owner != owner if everyone_else else _expired(t)
        if table == "runs":
            free = and_(free, or_(t.c.lease_owner != "", t.c.status != QUEUED_RUN_STATUS))
    if only:
        free = and_(free, t.c.id.in_(list(only)))
    statement = (
        select(model)
        .where(state.in_(sorted(int(s) for s in statuses)), free)
        .order_by(t.c.pk)
        .limit(limit)
    )
    if store.backend == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    async with store.write() as db:
        params = {} if everyone_else or unowned else {"now": now}
        rows = [r for r in (await db.execute(statement, params)).scalars() if r.id not in held]
        for row in rows:
            row.lease_owner, row.lease_expires, row.fence = owner, expires, (row.fence or 0) + 1
        await db.flush()
    return rows


async def release(store: Store, table: str, owner: str, ids: Sequence[str], now: datetime) -> None:
    """Let the leases of `ids` expire now, so another process takes them at once."""
    if not ids:
        return
    t = _RUNS if table == "runs" else _BATCHES
    async with store.write() as db:
        await db.execute(
            update(t).where(t.c.id.in_(list(ids)), t.c.lease_owner == owner).values(lease_expires=now)
        )
