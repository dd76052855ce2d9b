"""Limits shared by every process on one database: admission of runs and batch tasks.

A run holds a slot from its admission (the fenced UPDATE that sets its `start_time` while it is still
QUEUED) until it ends: the per-session order (one at a time), the per-provider and per-agent limits and
the per-caller count of active runs are counted in the database, so they hold across replicas. Each
check and the write it allows are one transaction; on PostgreSQL the transaction first takes
transaction-scoped advisory locks on what it counts (sorted, so two admissions never wait on each other
in a cycle), so two replicas never both see the last free slot. On SQLite the process's one writer
serializes them (a SQLite data dir serves one process).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Table, bindparam, func, select, update

from runwire.server.store.leases import LeaseLost
from runwire.server.store.models import BatchTaskRow, RunRow
from runwire.server.store.store import Store
from runwire.server.store.transaction import CoreTransaction

_RUNS: Table = RunRow.__table__
_TASKS: Table = BatchTaskRow.__table__

# RunStatus (engine/runner.py) values: the store knows them only as numbers.
QUEUED, RUNNING, REQUIRES_INPUT = 1, 2, 3
_ACTIVE = (QUEUED, RUNNING, REQUIRES_INPUT)
_HOLDS_SLOT = (_RUNS.c.status.in_(_ACTIVE), _RUNS.c.start_time.is_not(None))

_LOCK = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("key"))))
_ACTIVE_OF_OWNER = select(func.count()).where(_RUNS.c.owner == bindparam("owner"), _RUNS.c.status.in_(_ACTIVE))
_SESSION_BUSY = (
    select(_RUNS.c.id)
    .where(_RUNS.c.session_id == bindparam("session_id"), _RUNS.c.id != bindparam("run_id"), *_HOLDS_SLOT)
    .limit(1)
)
_OF_PROVIDER = select(func.count()).where(_RUNS.c.provider == bindparam("provider"), *_HOLDS_SLOT)
_OF_AGENT = select(func.count()).where(_RUNS.c.agent_id == bindparam("agent_id"), *_HOLDS_SLOT)
_ADMIT = (
    update(_RUNS)
    .where(
        _RUNS.c.id == bindparam("_run_id"),
        _RUNS.c.fence == bindparam("_fence"),
        _RUNS.c.status == QUEUED,
        _RUNS.c.start_time.is_(None),
    )
    .values(start_time=bindparam("_now"))
    .returning(_RUNS.c.id)
)


async def lock(store: Store, db: CoreTransaction, keys: Iterable[str]) -> None:
    """Serialize, across processes, the transactions that count what `keys` name (PostgreSQL only)."""
    if store.backend != "postgresql":
        return
    for key in sorted(set(keys)):
        await store.rows_on(db, _LOCK, {"key": key})


async def active_runs_of(store: Store, db: CoreTransaction, owner: str) -> int:
    """The caller's active runs (queued, running or waiting), in every process; call after `lock`
    on `owner_key(owner)`, so the count holds until the transaction commits."""
    rows = await store.rows_on(db, _ACTIVE_OF_OWNER, {"owner": owner})
    return int(rows[0][0])


def owner_key(owner: str) -> str:
    return f"runwire:owner:{owner}"


async def admit_run(
    store: Store,
    run_id: str,
    fence: int,
    *,
    session_id: str,
    provider: str,
    provider_limit: int,
    agent_id: str,
    agent_limit: int,
    now: datetime,
) -> bool:
    """Give a queued run its slot if its session runs nothing else and its provider and agent are under
    their limits, counting every process's runs; False: not now (try again when a run ends). Raises
    LeaseLost when the run is no longer this writer's (`fence`) or no longer queued."""
    keys = [f"runwire:session:{session_id}", f"runwire:provider:{provider}"]
    if agent_limit:
        keys.append(f"runwire:agent:{agent_id}")
    async with store.write_core() as db:
        await lock(store, db, keys)
        if await store.rows_on(db, _SESSION_BUSY, {"session_id": session_id, "run_id": run_id}):
            return False
        if (await store.rows_on(db, _OF_PROVIDER, {"provider": provider}))[0][0] >= provider_limit:
            return False
        if agent_limit and (await store.rows_on(db, _OF_AGENT, {"agent_id": agent_id}))[0][0] >= agent_limit:
            return False
        if not await store.rows_on(db, _ADMIT, {"_run_id": run_id, "_fence": fence, "_now": now}):
            raise LeaseLost(f"runs/{run_id}")
    return True


BATCH_TASKS_KEY = "runwire:batch-tasks"


@functools.cache
def _started_tasks(statuses: tuple[int, ...]) -> Any:
    return select(func.count()).where(_TASKS.c.status.in_(statuses), _TASKS.c.pk != bindparam("but"))


async def started_batch_tasks(store: Store, db: CoreTransaction, statuses: Iterable[int], *, but: int) -> int:
    """Batch tasks started and not ended, of every batch and process, but the task `but`; call after
    `lock` on BATCH_TASKS_KEY."""
    statement = _started_tasks(tuple(sorted(int(s) for s in statuses)))
    return int((await store.rows_on(db, statement, {"but": but}))[0][0])
