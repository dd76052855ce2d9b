"""A run's events are written only under its current fencing number: once another process has claimed the
run, a write of the old owner is refused in the same statement, and its recorder takes no more writes."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from runwire.server.core.statuses import ACTIVE_STATUSES
from runwire.server.engine.events import RunEventLog
from runwire.server.store import leases
from runwire.server.store.leases import LeaseLost
from runwire.server.store.models import Base, RunEventRow, RunRow
from runwire.server.store.store import Store
from runwire.v1 import run_pb2
from tests.postgres_support import PostgresServer
from tests.unit.run_rows import insert_run


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
        with store.engine.begin() as connection:  # type: ignore[union-attr]
            Base.metadata.create_all(connection)
    else:
        store = Store(request.getfixturevalue("postgres").new_database())
    try:
        yield store
    finally:
        await store.close()


def delta(seq: int, text: str) -> run_pb2.RunEvent:
    return run_pb2.RunEvent(run="runs/r1", seq=seq, text_delta=run_pb2.TextDelta(text=text))


async def no_events(run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
    return []


async def finished(run_id: str) -> bool:
    return True


@contextlib.asynccontextmanager
async def event_log(store: Store) -> AsyncIterator[RunEventLog]:
    log = RunEventLog(store, no_events, finished)
    log.start()
    try:
        yield log
    finally:
        await log.close()


async def stored(store: Store) -> tuple[list[int], int]:
    async with store.read() as db:
        seqs = list((await db.execute(select(RunEventRow.seq).order_by(RunEventRow.seq))).scalars())
        last_seq = (await db.execute(select(RunRow.last_seq).where(RunRow.id == "r1"))).scalar_one()
    return seqs, last_seq


async def claim_by_another_process(store: Store) -> int:
    now = datetime(2030, 1, 1)
    (row,) = await leases.claim(store, "runs", "other-process", now, now + timedelta(seconds=15), ACTIVE_STATUSES, 10)
    return row.fence


async def test_a_write_with_a_stale_fence_is_refused_and_writes_nothing(store: Store) -> None:
    await insert_run(store, "r1", fence=1, owner="this-process")
    async with event_log(store) as old_owner, event_log(store) as new_owner:
        stale = old_owner.recorder("r1", fence=1)
        await stale.append([delta(1, "kept")]).wait()

        fence = await claim_by_another_process(store)
        assert fence == 2

        refused = stale.append([delta(2, "after the claim")], {"status": 5})
        with pytest.raises(LeaseLost):
            await refused.wait()
        assert stale.lost
        with pytest.raises(LeaseLost):  # nothing more is even queued
            stale.append([delta(3, "later")])
        assert "r1" not in old_owner.held()
        assert await stored(store) == ([1], 1)

        # The new owner writes on from where the log is.
        await new_owner.recorder("r1", fence=fence).append([delta(2, "new owner")]).wait()
        assert await stored(store) == ([1, 2], 2)


async def test_a_stale_write_in_a_batch_does_not_fail_the_other_runs_of_the_batch(store: Store) -> None:
    await insert_run(store, "r1", fence=1)
    await insert_run(store, "r2", fence=1, owner="someone-else")
    async with event_log(store) as log:
        stale = log.recorder("r1", fence=1)
        other = log.recorder("r2", fence=1)
        await claim_by_another_process_of(store, "r1")
        lost = stale.append([delta(1, "lost")])
        kept = other.append([run_pb2.RunEvent(run="runs/r2", seq=1, text_delta=run_pb2.TextDelta(text="kept"))])
        await kept.wait()
        with pytest.raises(LeaseLost):
            await lost.wait()
    async with store.read() as db:
        rows = (await db.execute(select(RunEventRow.run_id, RunEventRow.seq))).all()
    assert [tuple(r) for r in rows] == [("r2", 1)]


async def claim_by_another_process_of(store: Store, run_id: str) -> None:
    now = datetime(2030, 1, 1)
    async with store.write() as db:
        row = (await db.execute(select(RunRow).where(RunRow.id == run_id))).scalar_one()
        row.lease_owner, row.lease_expires, row.fence = "other-process", now, row.fence + 1


async def test_a_batch_driver_with_a_stale_fence_writes_nothing(store: Store) -> None:
    from runwire.server.store import batches
    from runwire.server.store.models import BatchRow

    now = datetime(2026, 1, 1)
    async with store.write() as db:
        db.add(
            BatchRow(
                id="b1", owner="local", display_name="", state=2, input_file="", max_concurrency=1, max_attempts=1,
                task_timeout_seconds=0.0, timeout_seconds=60.0, deadline=now, write_output_file=0, output_file="",
                error_reason="", error_message="", labels={}, request_id="", create_time=now, update_time=now,
                revision=1, version=0, lease_owner="this-process", lease_expires=now, fence=1,
            )
        )
    async with store.write() as db:
        assert await batches.bump_version(store, db, "b1", now, fence=1) == 1
    (claimed,) = await leases.claim(store, "batches", "other-process", datetime(2030, 1, 1), datetime(2030, 1, 2), (2,), 10)
    assert claimed.fence == 2
    with pytest.raises(LeaseLost):
        async with store.write() as db:
            await batches.bump_version(store, db, "b1", now, fence=1)
    with pytest.raises(LeaseLost):
        async with store.write() as db:
            await batches.set_batch_state(store, db, "b1", now, (2,), 1, state=4)
    async with store.read() as db:
        row = (await db.execute(select(BatchRow).where(BatchRow.id == "b1"))).scalar_one()
    assert (row.state, row.version, row.lease_owner) == (2, 1, "other-process")
