"""The run event log: durable, ordered, with live followers.

Every run event goes through one writer task that commits events of all
runs in batches (group commit: one SQLite transaction carries whatever
accumulated while the previous one was being written), then publishes them
to the run's channel. Followers therefore only ever see durable events, and
a follower that disconnects and comes back with `after_seq` reads exactly
what it missed from the database.

A channel keeps only a window of the newest events of an active run, so
memory per run is bounded however long it streams; a follower that falls
behind the window reads the older part back from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

from sqlalchemy import insert, update

from runwire.server.store.models import RunEventRow, RunRow
from runwire.server.store.store import Store
from runwire.v1 import run_pb2

log = logging.getLogger("runwire.events")

TERMINAL_PAYLOADS = frozenset({"run_completed", "run_failed", "run_cancelled", "run_timed_out"})


def is_terminal(event: run_pb2.RunEvent) -> bool:
    return event.WhichOneof("payload") in TERMINAL_PAYLOADS


class RunChannel:
    """The newest durable events of one active run, and a way to wait for more."""

    def __init__(self, run_id: str, window: int) -> None:
        self.run_id = run_id
        self.events: deque[run_pb2.RunEvent] = deque(maxlen=window)
        self.last_seq = 0
        self.closed = False
        self._changed = asyncio.Event()

    @property
    def first_seq(self) -> int:
        return self.events[0].seq if self.events else self.last_seq + 1

    def publish(self, events: Sequence[run_pb2.RunEvent]) -> None:
        self.events.extend(events)
        self.last_seq = events[-1].seq
        if is_terminal(events[-1]):
            self.closed = True
        waiter, self._changed = self._changed, asyncio.Event()
        waiter.set()

    def after(self, seq: int) -> list[run_pb2.RunEvent]:
        """Events with a seq above `seq` (which must be within the window)."""
        start = seq + 1 - self.first_seq
        if start >= len(self.events):
            return []
        return [self.events[i] for i in range(max(start, 0), len(self.events))]

    async def wait_beyond(self, seq: int) -> None:
        while self.last_seq <= seq and not self.closed:
            await self._changed.wait()


@dataclass
class _Write:
    run_id: str
    events: list[run_pb2.RunEvent]
    changes: dict[str, Any] | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


LoadEvents = Callable[[str, int, int], Awaitable[list[run_pb2.RunEvent]]]
RunFinished = Callable[[str], Awaitable[bool]]


class RunEventLog:
    def __init__(
        self,
        store: Store,
        load_events: LoadEvents,
        run_finished: RunFinished,
        *,
        window: int = 1024,
        backlog_limit: int = 50_000,
        poll_interval: float = 0.25,
    ) -> None:
        self._store = store
        self._load_events = load_events
        self._run_finished = run_finished
        self._window = window
        self._backlog_limit = backlog_limit
        self._poll_interval = poll_interval
        self._pending: list[_Write] = []
        self._pending_events = 0
        self._wake = asyncio.Event()
        self._channels: dict[str, RunChannel] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever(), name="runwire-event-writer")

    async def close(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    # -- writing ------------------------------------------------------------

    def open_channel(self, run_id: str, durable: Sequence[run_pb2.RunEvent]) -> RunChannel:
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id, self._window)
            if durable:
                channel.publish(durable)
        return channel

    def append(
        self, run_id: str, events: Sequence[run_pb2.RunEvent], changes: dict[str, Any] | None = None
    ) -> asyncio.Future[None]:
        """Queue events (and run row changes) for the next commit; the future resolves once they are durable."""
        if self._closing and self._task is not None and self._task.done():
            raise RuntimeError("the event log is closed")
        write = _Write(run_id, list(events), changes)
        self._pending.append(write)
        self._pending_events += len(write.events)
        self._wake.set()
        return write.done

    @property
    def backlogged(self) -> bool:
        """Producers await their writes while this is true, so a slow disk slows runs instead of growing memory."""
        return self._pending_events > self._backlog_limit

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                batch, self._pending, self._pending_events = self._pending, [], 0
                await self._commit(batch)
            elif self._closing:
                return

    async def _commit(self, batch: list[_Write]) -> None:
        rows = [
            {"run_id": w.run_id, "seq": e.seq, "payload": e.SerializeToString()} for w in batch for e in w.events
        ]
        last_seq: dict[str, int] = {}
        for w in batch:
            if w.events:
                last_seq[w.run_id] = w.events[-1].seq
        try:
            async with self._store.write() as db:
                if rows:
                    await db.execute(insert(RunEventRow), rows)
                for w in batch:
                    if w.changes:
                        await db.execute(update(RunRow).where(RunRow.id == w.run_id).values(**w.changes))
                for run_id, seq in last_seq.items():
                    await db.execute(update(RunRow).where(RunRow.id == run_id).values(last_seq=seq))
        except Exception as exc:  # the producers decide what a failed write means for their run
            log.exception("writing %d run event(s) failed", len(rows))
            for w in batch:
                if not w.done.done():
                    w.done.set_exception(exc)
                    # Producers that did not await this write still learn of it on their next awaited one.
                    w.done.exception()
            return
        for w in batch:
            if w.events:
                channel = self._channels.get(w.run_id)
                if channel is not None:
                    channel.publish(w.events)
                    if channel.closed:
                        del self._channels[w.run_id]
            if not w.done.done():
                w.done.set_result(None)

    # -- reading ------------------------------------------------------------

    async def follow(self, run_id: str, after_seq: int) -> AsyncIterator[list[run_pb2.RunEvent]]:
        """Batches of events with seq > after_seq: stored ones first, then live ones, until the terminal event."""
        cursor = after_seq
        while True:
            channel = self._channels.get(run_id)
            if channel is not None and cursor >= channel.first_seq - 1:
                batch = channel.after(cursor)
                if not batch:
                    if channel.closed:
                        return
                    await channel.wait_beyond(cursor)
                    continue
            else:
                batch = await self._load_events(run_id, cursor, 512)
                if not batch:
                    if channel is None:
                        if await self._run_finished(run_id):
                            return
                        # Not live in this process: another replica runs it, or it has not started.
                        await asyncio.sleep(self._poll_interval)
                    continue
            cursor = batch[-1].seq
            yield batch
            if is_terminal(batch[-1]):
                return


def coalesce(events: Sequence[run_pb2.RunEvent]) -> list[run_pb2.RunEvent]:
    """Merge runs of consecutive text deltas of one step into one event carrying the last seq."""
    merged: list[run_pb2.RunEvent] = []
    group: list[run_pb2.RunEvent] = []

    def flush() -> None:
        if len(group) == 1:
            merged.append(group[0])
        elif group:
            combined = run_pb2.RunEvent()
            combined.CopyFrom(group[-1])
            combined.text_delta.text = "".join(e.text_delta.text for e in group)
            merged.append(combined)
        group.clear()

    for event in events:
        if event.WhichOneof("payload") != "text_delta":
            flush()
            merged.append(event)
            continue
        if group and group[-1].text_delta.step_index != event.text_delta.step_index:
            flush()
        group.append(event)
    flush()
    return merged
