"""The event writer lets a run's followers send what they hold before it commits a few more writes."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from runwire.server.engine.events import RunEventLog
from runwire.server.store.models import Base
from runwire.server.store.store import Store
from runwire.v1 import run_pb2
from tests.unit.run_rows import insert_run


def event(seq: int, text: str) -> run_pb2.RunEvent:
    return run_pb2.RunEvent(run="runs/r1", seq=seq, text_delta=run_pb2.TextDelta(text=text))


async def no_events(run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
    return []


async def finished(run_id: str) -> bool:
    return True


@contextlib.asynccontextmanager
async def running_log(tmp_path: Path, follower_grace: float) -> AsyncIterator[RunEventLog]:
    store = Store(f"sqlite:///{tmp_path / 'events.db'}")
    with store.engine.begin() as connection:  # type: ignore[union-attr]
        Base.metadata.create_all(connection)
    await insert_run(store, "r1")
    log = RunEventLog(store, no_events, finished, follower_grace=follower_grace)
    log.start()
    try:
        yield log
    finally:
        await log.close()
        await store.close()


async def test_a_small_commit_waits_for_the_follower_to_send_what_it_holds(tmp_path: Path) -> None:
    async with running_log(tmp_path, follower_grace=60.0) as log:
        channel = log.open_channel("r1", [event(1, "a")])
        follower = log.follow("r1", 0, channel)
        assert [e.seq for e in await anext(follower)] == [1]  # the follower now holds event 1
        assert channel.delivering == 1

        second = log.recorder("r1", fence=1).append([event(2, "b")])
        await asyncio.sleep(0.1)
        assert not second.committed, "committed while the follower still held event 1"

        # The follower comes back for more: the writer commits, and event 2 reaches it.
        assert [e.seq for e in await asyncio.wait_for(anext(follower), 5)] == [2]
        assert second.committed
        await follower.aclose()
        assert channel.delivering == 0


async def test_a_follower_that_does_not_come_back_delays_a_commit_only_for_the_grace(tmp_path: Path) -> None:
    async with running_log(tmp_path, follower_grace=0.05) as log:
        channel = log.open_channel("r1", [event(1, "a")])
        follower = log.follow("r1", 0, channel)
        await anext(follower)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(log.recorder("r1", fence=1).append([event(2, "b")]).wait(), 5)
        assert asyncio.get_running_loop().time() - started >= 0.04
        assert channel.last_seq == 2
        # A follower that goes away (its client disconnected) while holding events stops counting.
        await follower.aclose()
        assert channel.delivering == 0
