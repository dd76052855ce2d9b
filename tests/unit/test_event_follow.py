"""A follower of a run's events waits or ends: no pass of its loop goes round without new events, a wait
or the end (a follower once spun at full CPU when a wait returned without anything new)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runwire.server.engine.events import RUN_EVENTS_SIGNAL, RunEventLog
from runwire.server.store.signals import SignalBus
from runwire.server.store.store import Store
from runwire.v1 import run_pb2

# Reads of the database allowed per wait: one read, then the wait before the next.
READS_PER_WAIT = 1
WAITS = 5


def delta(seq: int) -> run_pb2.RunEvent:
    return run_pb2.RunEvent(run="runs/r1", seq=seq, text_delta=run_pb2.TextDelta(text=str(seq)))


class Enough(Exception):
    """The follower has waited often enough to show it waits."""


class CountingLog:
    """A log whose database never has the events asked for and whose run never finishes, counting the
    follower's reads and waits; it fails the test when reads outrun waits (the loop spins)."""

    def __init__(self, tmp_path: Path, window: int = 1024) -> None:
        self.reads = 0
        self.waits = 0
        self.store = Store(f"sqlite:///{tmp_path / 'follow.db'}")
        self.log = RunEventLog(self.store, self._load, self._finished, window=window, poll_interval=0.01)
        self.log._sleep = self._sleep

    async def _load(self, run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
        self.reads += 1
        if self.reads > (self.waits + 1) * READS_PER_WAIT:
            raise AssertionError(f"the follower read {self.reads} times with {self.waits} waits: it spins")
        return []

    async def _finished(self, run_id: str) -> bool:
        return False

    async def _sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.waits += 1
        if self.waits >= WAITS:
            raise Enough


async def follow_until_enough(counting: CountingLog, after_seq: int, pinned: object = None) -> None:
    with pytest.raises(Enough):
        async for _ in counting.log.follow("r1", after_seq, pinned):  # type: ignore[arg-type]
            pass
    assert counting.waits == WAITS
    await counting.store.close()


async def test_a_run_live_elsewhere_is_read_again_only_after_a_wait(tmp_path: Path) -> None:
    counting = CountingLog(tmp_path)
    await follow_until_enough(counting, 0)


async def test_a_follower_behind_the_window_of_a_channel_the_database_does_not_match_waits(tmp_path: Path) -> None:
    counting = CountingLog(tmp_path, window=2)
    counting.log.open_channel("r1", [delta(5), delta(6)])  # the window starts beyond the cursor
    await follow_until_enough(counting, 0)


async def test_an_abandoned_channel_sends_its_follower_to_the_database_and_the_follower_waits(tmp_path: Path) -> None:
    counting = CountingLog(tmp_path)
    channel = counting.log.open_channel("r1", [delta(1)])
    recorder = counting.log.recorder("r1", fence=1)
    recorder.lose()  # the lease moved: this process's channel no longer grows
    assert channel.abandoned
    await follow_until_enough(counting, 1, channel)


async def test_a_closed_channel_ends_its_follower(tmp_path: Path) -> None:
    counting = CountingLog(tmp_path)
    ended = run_pb2.RunEvent(run="runs/r1", seq=2, run_completed=run_pb2.RunCompleted())
    channel = counting.log.open_channel("r1", [delta(1), ended])
    seen = [event.seq async for batch in counting.log.follow("r1", 2, channel) for event in batch]
    assert seen == [] and counting.reads == 0 and counting.waits == 0
    await counting.store.close()


class SignalledLog(CountingLog):
    """A log on a signal bus: the follower of a run live elsewhere waits for the writer's signal (counted
    as a wait), never for the fallback poll, and reads the database once per signal."""

    def __init__(self, tmp_path: Path) -> None:
        self.reads = 0
        self.waits = 0
        self.bus = SignalBus()
        self.store = Store(f"sqlite:///{tmp_path / 'follow.db'}")
        # A fallback no test waits out: every wake-up below comes from a signal.
        self.log = RunEventLog(self.store, self._load, self._finished, signals=self.bus, fallback_poll=3600)
        self.log._sleep = self._sleep
        self.stored: list[run_pb2.RunEvent] = []

    async def _load(self, run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
        await super()._load(run_id, after, limit)
        return [e for e in self.stored if e.seq > after][:limit]

    async def signal_when_waiting(self, seq: int) -> None:
        """Commit event `seq` "on another replica" once the follower waits, and signal it."""
        while not self.log.run_signals._events.get("r1"):
            await asyncio.sleep(0)
        self.waits += 1
        self.stored.append(delta(seq))
        self.bus.publish(RUN_EVENTS_SIGNAL, [f"r1:{seq}"])


async def test_a_follower_of_a_run_live_elsewhere_is_woken_by_the_writers_signal_and_does_not_spin(tmp_path: Path) -> None:
    signalled = SignalledLog(tmp_path)
    received: list[int] = []

    async def follow() -> None:
        async for batch in signalled.log.follow("r1", 0):
            received.extend(e.seq for e in batch)
            if len(received) == WAITS:
                return

    follower = asyncio.create_task(follow())
    for seq in range(1, WAITS + 1):
        await signalled.signal_when_waiting(seq)
    await asyncio.wait_for(follower, 30)
    assert received == list(range(1, WAITS + 1))
    # One read per signal (and the first read): the follower never read without a wake-up in between.
    assert signalled.reads <= signalled.waits + 1
    await signalled.store.close()


async def test_a_signal_of_another_run_does_not_wake_the_follower(tmp_path: Path) -> None:
    signalled = SignalledLog(tmp_path)
    follower = asyncio.create_task(signalled.log.follow("r1", 0).__anext__())
    while not signalled.log.run_signals._events.get("r1"):
        await asyncio.sleep(0)
    signalled.bus.publish(RUN_EVENTS_SIGNAL, ["r2:1"])
    for _ in range(20):
        await asyncio.sleep(0)
    assert signalled.reads == 1 and not follower.done()
    await signalled.signal_when_waiting(1)
    assert [e.seq for e in await asyncio.wait_for(follower, 30)] == [1]
    await signalled.store.close()


async def test_a_run_that_ends_between_the_read_and_the_check_still_gives_its_last_event(tmp_path: Path) -> None:
    """The follower reads nothing new, then finds the run ended: the terminal event committed in between
    is read and sent, not lost (a resumed stream once ended without it)."""
    terminal = run_pb2.RunEvent(run="runs/r1", seq=4, run_completed=run_pb2.RunCompleted())
    reads: list[int] = []

    async def load(run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
        reads.append(after)
        return [] if len(reads) == 1 else [terminal]  # the run ends just after the first read

    async def finished(run_id: str) -> bool:
        return len(reads) >= 1

    store = Store(f"sqlite:///{tmp_path / 'follow.db'}")
    log = RunEventLog(store, load, finished, poll_interval=0.01)
    sent = [event async for batch in log.follow("r1", 3) for event in batch]
    await store.close()
    assert sent == [terminal] and reads == [3, 3]
