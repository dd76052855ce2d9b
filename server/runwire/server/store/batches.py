"""Queries for batches and their tasks. Every batch lookup is scoped by owner unless the caller is an admin."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence, TypeAlias

from sqlalchemy import bindparam, func, insert, or_, select, update

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.leases import LeaseLost
from runwire.server.store.models import BatchRow, BatchTaskRow, RunRow, SessionRow
from runwire.server.store.repositories import resource_name_sql
from runwire.server.store.store import Listing, OrderExpression, Store, rows_changed
from runwire.server.store.transaction import CoreTransaction, Transaction

NOT_YET = datetime(9999, 12, 31)

BATCH_STATE_VALUES = {
    "QUEUED": 1,
    "RUNNING": 2,
    "CANCELLING": 3,
    "SUCCEEDED": 4,
    "PARTIALLY_SUCCEEDED": 5,
    "FAILED": 6,
    "CANCELLED": 7,
    "TIMED_OUT": 8,
}
TASK_STATUS_VALUES = {
    "QUEUED": 1,
    "RUNNING": 2,
    "REQUIRES_INPUT": 3,
    "SUCCEEDED": 4,
    "FAILED": 5,
    "CANCELLED": 6,
    "TIMED_OUT": 7,
}


def _nullable_time(column: Any, attribute: str) -> OrderExpression:
    # Not started or not ended sorts after everything else (ascending).
    return OrderExpression(func.coalesce(column, NOT_YET), lambda row: getattr(row, attribute) or NOT_YET)


BATCH_LISTING = Listing(
    filter_fields={
        "state": FieldSpec(BatchRow.state, "enum", enum_values=BATCH_STATE_VALUES),
        "display_name": FieldSpec(BatchRow.display_name, "string"),
        "input_file": FieldSpec(BatchRow.input_file, "string"),
        "labels": FieldSpec(BatchRow.labels, "map"),
        "create_time": FieldSpec(BatchRow.create_time, "timestamp"),
        "start_time": FieldSpec(BatchRow.start_time, "timestamp"),
        "end_time": FieldSpec(BatchRow.end_time, "timestamp"),
    },
    order_columns={
        "create_time": BatchRow.create_time,
        "start_time": _nullable_time(BatchRow.start_time, "start_time"),
        "end_time": _nullable_time(BatchRow.end_time, "end_time"),
        "display_name": BatchRow.display_name,
        "name": BatchRow.id,
    },
    tiebreak=BatchRow.pk,
)

TASK_LISTING = Listing(
    filter_fields={
        "status": FieldSpec(BatchTaskRow.status, "enum", enum_values=TASK_STATUS_VALUES),
        "custom_id": FieldSpec(BatchTaskRow.custom_id, "string"),
        "agent": FieldSpec(resource_name_sql("agents/", BatchTaskRow.agent_id), "string"),
        "session": FieldSpec(resource_name_sql("sessions/", BatchTaskRow.session_id), "string"),
        "line_number": FieldSpec(BatchTaskRow.line_number, "int"),
        "attempts": FieldSpec(BatchTaskRow.attempts, "int"),
        "error.reason": FieldSpec(BatchTaskRow.error_reason, "string"),
    },
    order_columns={
        "index": BatchTaskRow.index,
        "start_time": _nullable_time(BatchTaskRow.start_time, "start_time"),
        "end_time": _nullable_time(BatchTaskRow.end_time, "end_time"),
        "duration": OrderExpression(
            func.coalesce(BatchTaskRow.duration_ms, -1.0),
            lambda row: row.duration_ms if row.duration_ms is not None else -1.0,
        ),
    },
    tiebreak=BatchTaskRow.pk,
)


@dataclass
class TaskCounts:
    by_status: dict[int, int] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def of(self, status: int) -> int:
        return self.by_status.get(int(status), 0)


async def get_batch(db: Transaction, batch_id: str, owner: str | None) -> BatchRow | None:
    stmt = select(BatchRow).where(BatchRow.id == batch_id)
    if owner is not None:
        stmt = stmt.where(BatchRow.owner == owner)
    return (await db.execute(stmt)).scalar_one_or_none()


async def batch_id_taken(db: Transaction, batch_id: str) -> bool:
    return (await db.execute(select(BatchRow.pk).where(BatchRow.id == batch_id))).first() is not None


async def insert_tasks(db: Transaction, tasks: Sequence[Mapping[str, Any]]) -> None:
    """Core bulk insert: a batch of 10,000 tasks is one statement, not 10,000 ORM objects."""
    if tasks:
        await db.execute(insert(BatchTaskRow.__table__), list(tasks))


# Statements run once or more per task are built once per shape: building one costs more than running it.
_BATCHES = BatchRow.__table__
_TASKS = BatchTaskRow.__table__
_BUMP_VERSION = (
    update(_BATCHES)
    .where(_BATCHES.c.id == bindparam("_batch_id"))
    .values(version=_BATCHES.c.version + 1, update_time=bindparam("update_time"))
    .returning(_BATCHES.c.version)
)
# The driver's own changes: only while it holds the batch's lease under its fencing number.
_BUMP_VERSION_FENCED = _BUMP_VERSION.where(_BATCHES.c.fence == bindparam("_fence"))
_FENCE_OF = select(_BATCHES.c.fence).where(_BATCHES.c.id == bindparam("_batch_id"))
_INSERT_SESSION = insert(SessionRow.__table__)
# Records: a row's columns by attribute, as on the ORM rows (read-only), from compiled Core statements
# (store._Compiled on inline SQLite) for the executor's hot path, without an ORM Session's identity map.
# A Row or a namedtuple, known only at run time (a task's `index` column hides tuple.index): typed as Any.
TaskRecord: TypeAlias = Any
RunRecord: TypeAlias = Any
_RUNS = RunRow.__table__
RUN_RECORD_BY_ID = select(*_RUNS.c).where(_RUNS.c.id == bindparam("id"))


def _one_of(column: Any, values: tuple[int, ...]) -> Any:
    """`column` equal to one of `values`, spelled with one bound value each instead of an expanding IN,
    so the statement compiles once for inline SQLite (store._Compiled)."""
    return or_(*(column == value for value in values))


@functools.lru_cache(maxsize=64)
def _set_state(states_from: tuple[int, ...], columns: tuple[str, ...], fenced: bool = False) -> Any:
    statement = (
        update(_BATCHES)
        .where(_BATCHES.c.id == bindparam("_batch_id"), _one_of(_BATCHES.c.state, states_from))
        .values(version=_BATCHES.c.version + 1, revision=_BATCHES.c.revision + 1, **{c: bindparam(c) for c in columns})
        .returning(_BATCHES.c.version)
    )
    return statement.where(_BATCHES.c.fence == bindparam("_fence")) if fenced else statement


@functools.lru_cache(maxsize=64)
def _update_task(statuses_from: tuple[int, ...], columns: tuple[str, ...]) -> Any:
    return (
        update(_TASKS)
        .where(_TASKS.c.pk == bindparam("_pk"), _one_of(_TASKS.c.status, statuses_from))
        .values(**{c: bindparam(c) for c in columns})
        .returning(*_TASKS.c)
    )


# The statements below run on `store.rows_on`/`execute_on`, so inline SQLite executes them compiled
# (a batch changes its tasks several times each, and SQLAlchemy's execution costs more than the SQL).


async def bump_version(store: Store, db: CoreTransaction, batch_id: str, now: datetime, fence: int | None = None) -> int:
    """Count one change of the batch or of one of its tasks; the new version. With `fence` (the driver's
    writes), only while the batch's fencing number is `fence`: else LeaseLost, and the transaction with
    everything the driver wrote in it rolls back."""
    params = {"_batch_id": batch_id, "update_time": now}
    if fence is None:
        (row,) = await store.rows_on(db, _BUMP_VERSION, params)
        return int(row.version)
    rows = await store.rows_on(db, _BUMP_VERSION_FENCED, {**params, "_fence": fence})
    if not rows:
        raise LeaseLost(f"batches/{batch_id}")
    return int(rows[0].version)


async def set_batch_state(
    store: Store, db: CoreTransaction, batch_id: str, now: datetime, states_from: Iterable[int], fence: int | None = None, **changes: Any
) -> int | None:
    """Move the batch to a new state only from one of `states_from`; the new version, or None when it was
    elsewhere. With `fence`, only while the batch's fencing number is `fence`: else LeaseLost."""
    values = {"update_time": now, **changes}
    statement = _set_state(tuple(sorted(int(s) for s in states_from)), tuple(sorted(values)), fence is not None)
    params = {"_batch_id": batch_id, **values}
    if fence is not None:
        params["_fence"] = fence
    rows = await store.rows_on(db, statement, params)
    if rows:
        return int(rows[0].version)
    if fence is not None:
        current = await store.rows_on(db, _FENCE_OF, {"_batch_id": batch_id})
        if current and current[0].fence != fence:
            raise LeaseLost(f"batches/{batch_id}")
    return None


async def update_task(
    store: Store, db: CoreTransaction, pk: int, statuses_from: Iterable[int], values: Mapping[str, Any]
) -> TaskRecord | None:
    """Change a task only while it is in one of `statuses_from`: the task as changed, or None when it was elsewhere."""
    statement = _update_task(tuple(sorted(int(s) for s in statuses_from)), tuple(sorted(values)))
    rows = await store.rows_on(db, statement, {"_pk": pk, **values})
    return rows[0] if rows else None


async def insert_session(store: Store, db: CoreTransaction, values: Mapping[str, Any]) -> None:
    await store.execute_on(db, _INSERT_SESSION, dict(values))


async def end_tasks(db: Transaction, batch_id: str, statuses_from: Iterable[int], values: Mapping[str, Any]) -> int:
    table = BatchTaskRow.__table__
    result = await db.execute(
        update(table)
        .where(table.c.batch_id == batch_id, table.c.status.in_([int(s) for s in statuses_from]))
        .values(**values)
    )
    return rows_changed(result)


async def get_task(db: Transaction, batch_id: str, index: int) -> BatchTaskRow | None:
    stmt = select(BatchTaskRow).where(BatchTaskRow.batch_id == batch_id, BatchTaskRow.index == index)
    return (await db.execute(stmt)).scalar_one_or_none()


async def tasks_with_status(
    db: Transaction, batch_id: str, statuses: Iterable[int], *, after_index: int = 0, limit: int | None = None
) -> list[BatchTaskRow]:
    stmt = (
        select(BatchTaskRow)
        .where(
            BatchTaskRow.batch_id == batch_id,
            BatchTaskRow.status.in_([int(s) for s in statuses]),
            BatchTaskRow.index > after_index,
        )
        .order_by(BatchTaskRow.index)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await db.execute(stmt)).scalars())


async def tasks_changed_after(db: Transaction, batch_id: str, version: int, limit: int) -> list[BatchTaskRow]:
    stmt = (
        select(BatchTaskRow)
        .where(BatchTaskRow.batch_id == batch_id, BatchTaskRow.version > version)
        .order_by(BatchTaskRow.version, BatchTaskRow.index)
        .limit(limit)
    )
    return list((await db.execute(stmt)).scalars())


async def started_tasks(db: Transaction, batch_id: str, limit: int) -> list[BatchTaskRow]:
    stmt = (
        select(BatchTaskRow)
        .where(BatchTaskRow.batch_id == batch_id, BatchTaskRow.status != 1)
        .order_by(BatchTaskRow.version, BatchTaskRow.index)
        .limit(limit)
    )
    return list((await db.execute(stmt)).scalars())


async def task_counts(db: Transaction, batch_ids: Sequence[str]) -> dict[str, TaskCounts]:
    counts = {batch_id: TaskCounts() for batch_id in batch_ids}
    if not batch_ids:
        return counts
    rows = await db.execute(
        select(
            BatchTaskRow.batch_id,
            BatchTaskRow.status,
            func.count(),
            func.coalesce(func.sum(BatchTaskRow.input_tokens), 0),
            func.coalesce(func.sum(BatchTaskRow.output_tokens), 0),
        )
        .where(BatchTaskRow.batch_id.in_(list(batch_ids)))
        .group_by(BatchTaskRow.batch_id, BatchTaskRow.status)
    )
    for batch_id, status, count, input_tokens, output_tokens in rows.all():
        entry = counts[batch_id]
        entry.by_status[int(status)] = int(count)
        entry.input_tokens += int(input_tokens)
        entry.output_tokens += int(output_tokens)
    return counts


BATCH_RECORD_BY_ID = select(*_BATCHES.c).where(_BATCHES.c.id == bindparam("id"))
_COUNTS_OF_BATCH = (
    select(
        _TASKS.c.status,
        func.count().label("count"),
        func.coalesce(func.sum(_TASKS.c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(_TASKS.c.output_tokens), 0).label("output_tokens"),
    )
    .where(_TASKS.c.batch_id == bindparam("batch_id"))
    .group_by(_TASKS.c.status)
)


async def task_counts_of(store: Store, db: CoreTransaction, batch_id: str) -> TaskCounts:
    """task_counts() of one batch, in any transaction (`store.rows_on`)."""
    counts = TaskCounts()
    for row in await store.rows_on(db, _COUNTS_OF_BATCH, {"batch_id": batch_id}):
        counts.by_status[int(row.status)] = int(row.count)
        counts.input_tokens += int(row.input_tokens)
        counts.output_tokens += int(row.output_tokens)
    return counts


async def active_batches(db: Transaction, states: Iterable[int]) -> list[BatchRow]:
    stmt = select(BatchRow).where(BatchRow.state.in_([int(s) for s in states])).order_by(BatchRow.pk)
    return list((await db.execute(stmt)).scalars())


async def get_run(db: Transaction, run_id: str) -> RunRow | None:
    return (await db.execute(select(RunRow).where(RunRow.id == run_id))).scalar_one_or_none()


async def active_batch_reading(db: Transaction, file_name: str, states: Iterable[int]) -> str | None:
    """The id of a batch in one of `states` whose input is `file_name`, if any."""
    stmt = (
        select(BatchRow.id)
        .where(BatchRow.input_file == file_name, BatchRow.state.in_([int(s) for s in states]))
        .limit(1)
    )
    return (await db.execute(stmt)).scalar_one_or_none()
