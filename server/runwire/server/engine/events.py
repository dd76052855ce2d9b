"""The run event log: durable, ordered, with live followers.

Every run event goes through one writer task that commits events of all
runs in batches (group commit: one SQLite transaction carries whatever
accumulated while the previous one was being written), then publishes them
to the run's channel. Followers therefore only ever see durable events, and
a follower that disconnects and comes back with `after_seq` reads exactly
what it missed from the database.

Each run has one recorder in the process that holds its lease (see
store/leases.py): every write of the run goes through it, and the writer
checks the recorder's fencing number in the statement that updates the
run's row before it inserts any of the run's events. A run whose lease
moved to another process is dropped from the batch, and its recorder
stops taking writes.

After each commit the writer signals, on the signal bus shared by the replicas (store/signals.py), how far
each run's events go now ("run X has events up to seq N"): a follower of a run that is not live in this
process waits for that signal (or, should one be lost, a slow poll) and then reads from the database after
its cursor, so replay stays exact and followers on other replicas are pushed, not polling.

A channel keeps only a window of the newest events of an active run, so
memory per run is bounded however long it streams; a follower that falls
behind the window reads the older part back from the database.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections import deque
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence

from google.protobuf.message import Message
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.sql import Executable

from runwire.server.background import spawn
from runwire.server.store.leases import LeaseLost
from runwire.server.store.models import RunEventRow, RunRow
from runwire.server.store.records import RunValues
from runwire.server.store.signals import SignalBus
from runwire.server.store.store import Store
from runwire.server.store.transaction import BatchTransaction
from runwire.server.wire import convert
from runwire.v1 import run_pb2

log = logging.getLogger("runwire.events")

# Core statements on the tables: the ORM's bulk paths add work (session synchronization) we never need here.
_RUNS = RunRow.__table__
_INSERT_EVENT = insert(RunEventRow.__table__)
# A run.* resource event carries the run without its steps (they can be large; GetRun has them).
_RUN_COLUMNS_BUT_STEPS = tuple(c for c in _RUNS.c if c.name != "steps")
_SELECT_RUN_WITHOUT_STEPS = select(*_RUN_COLUMNS_BUT_STEPS).where(_RUNS.c.id == bindparam("run_id"))
_FENCED = (_RUNS.c.id == bindparam("_run_id"), _RUNS.c.fence == bindparam("_fence"))
# A write with events but no row changes moves the run's last seq; one with neither (it waits for what
# came before to be durable) still proves the fence. Either returns the run's id only while the fence holds.
_SET_LAST_SEQ = update(_RUNS).where(*_FENCED).values(last_seq=bindparam("last_seq")).returning(_RUNS.c.id)
_CHECK_FENCE = update(_RUNS).where(*_FENCED).values(fence=_RUNS.c.fence).returning(_RUNS.c.id)


@functools.cache
def _run_update(columns: tuple[str, ...], returning: bool = False) -> Any:
    """UPDATE runs for one set of changed columns, built once (the runner changes a few fixed sets, and the
    store compiles each statement once): every change also bumps the revision (etag). It changes the row
    only while the writer's fence is the run's, and returns the run's id then; `returning`: the run's
    columns as the update left them (but its steps), for its `run.*` resource event."""
    values: dict[str, Any] = {column: bindparam(column) for column in columns}
    values["revision"] = _RUNS.c.revision + 1
    statement = update(_RUNS).where(*_FENCED).values(**values)
    return statement.returning(*_RUN_COLUMNS_BUT_STEPS) if returning else statement.returning(_RUNS.c.id)


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
        # Set when this process lost the run's lease: its followers read on from the database.
        self.abandoned = False
        self._changed = asyncio.Event()
        # Followers holding events of this channel they have not finished sending.
        self.delivering = 0
        self._drained: asyncio.Future[None] | None = None

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
        """Return once there are events beyond `seq`, or the channel is closed or abandoned; else wait."""
        while self.last_seq <= seq and not self.closed and not self.abandoned:
            await self._changed.wait()

    def abandon(self) -> None:
        self.abandoned = True
        waiter, self._changed = self._changed, asyncio.Event()
        waiter.set()

    def delivered(self) -> None:
        """A follower has sent the events it took."""
        self.delivering -= 1
        if self.delivering == 0 and self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None

    async def drained(self) -> None:
        """Return once no follower holds events it has not sent."""
        if self.delivering:
            if self._drained is None:
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)


# A resource event to record with a write: (type, resource name, owner, payload).
ResourceEvent = tuple[str, str, str, Message]


class ResourceEventSink(Protocol):
    """Where the run event log records resource events (`message.created`, `run.*`) in its own commits:
    the domain's resource event log."""

    def insert_sync(self, session: BatchTransaction, rows: Iterable[ResourceEvent]) -> None:
        """Insert the events within the synchronous transaction of a batch."""

    def notify(self) -> None:
        """Events were committed (called from any thread)."""


class RunRecorder:
    """The one writer of a run's events, row and session messages in this process, while it holds the
    run's lease under fencing number `fence`. Once the lease is lost it refuses every write (LeaseLost)
    and calls `on_lost`, which stops the run here."""

    __slots__ = ("run_id", "fence", "lost", "on_lost", "_log")

    def __init__(self, log: RunEventLog, run_id: str, fence: int) -> None:
        self.run_id = run_id
        self.fence = fence
        self.lost = False
        self.on_lost: Callable[[], None] | None = None
        self._log = log

    def append(
        self,
        events: Sequence[run_pb2.RunEvent],
        changes: dict[str, Any] | None = None,
        statements: Sequence[tuple[Executable, Mapping[str, Any]]] = (),
        *,
        resource_events: Sequence[ResourceEvent] = (),
        run_change: str = "",
    ) -> Write:
        """Queue a write of the run (see RunEventLog.append); raises LeaseLost once the lease is gone."""
        if self.lost:
            raise LeaseLost(f"runs/{self.run_id}")
        return self._log.append(self, events, changes, statements, resource_events=resource_events, run_change=run_change)

    def merge_delta(self, text: str, step_index: int) -> bool:
        return not self.lost and self._log.merge_delta(self.run_id, text, step_index)

    def lose(self) -> None:
        """The lease moved to another process: write nothing more, stop the run here."""
        if self.lost:
            return
        self.lost = True
        log.warning("run %s: lease lost to another process (fence %d); stopping it here", self.run_id, self.fence)
        self._log._forget(self)
        if self.on_lost is not None:
            self.on_lost()


class Write:
    """One producer's queued events, row changes and statements; `wait()` returns once they are durable."""

    __slots__ = (
        "recorder", "run_id", "events", "changes", "statements", "resource_events", "run_change", "urgent", "delta_step",
        "delta_parts", "delta_chars", "committed", "error", "_future",
    )

    def __init__(
        self,
        recorder: RunRecorder,
        events: Sequence[run_pb2.RunEvent],
        changes: dict[str, Any] | None,
        statements: Sequence[tuple[Executable, Mapping[str, Any]]],
        resource_events: Sequence[ResourceEvent] = (),
        run_change: str = "",
    ) -> None:
        self.recorder = recorder
        self.run_id = recorder.run_id
        self.events = events
        self.changes = changes
        self.statements = statements
        # Resource events (e.g. `message.created`), and `run_change`: the type of a `run.*` resource
        # event whose payload is the run as this write leaves it.
        self.resource_events = resource_events
        self.run_change = run_change
        kinds = [e.WhichOneof("payload") for e in events]
        # Anything but a text delta (a status change, a message, a tool call): readers act on these, and
        # a run has few, so a small batch holding one commits at once instead of on the writer thread.
        self.urgent = any(kind != "text_delta" for kind in kinds)
        # The step of the text delta later tokens may merge into (a write of that delta alone, with no
        # statements or resource events), else None; worked out once, not per token.
        self.delta_step: int | None = None
        if kinds == ["text_delta"] and not statements and not resource_events and not run_change:
            self.delta_step = events[0].text_delta.step_index
        # Text of later deltas merged into this write's event while it waited for the writer.
        self.delta_parts: list[str] | None = None
        self.delta_chars = len(events[0].text_delta.text) if self.delta_step is not None else 0
        self.committed = False
        self.error: BaseException | None = None
        # Created only when someone waits: most token deltas are never awaited.
        self._future: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        if self.committed:
            return
        if self.error is not None:
            raise self.error
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        await self._future

    def _seal(self) -> None:
        """Fold the merged text into the last event, once the writer has taken this write."""
        if self.delta_parts is not None:
            delta = self.events[-1].text_delta
            delta.text = delta.text + "".join(self.delta_parts)
            self.delta_parts = None

    def _resolve(self, error: BaseException | None) -> None:
        self.committed, self.error = error is None, error
        if self._future is not None and not self._future.done():
            if error is None:
                self._future.set_result(None)
            else:
                self._future.set_exception(error)


# Batches of up to this many statements commit on the event loop when the log was idle this long before,
# or when they hold anything but text deltas; the others on the writer thread (see Store.write_batch).
SMALL_BATCH_STATEMENTS = 16
IDLE_SECONDS = 0.005
# A text delta waiting for the writer takes in the run's next tokens up to this many characters, so a busy
# writer stores and sends fewer, larger deltas.
MAX_MERGED_DELTA_CHARS = 16 * 1024
# Before a small commit, the writer waits up to this long for the runs' followers to send what they hold: a
# commit on the loop would hold their sends back (the first token behind a short run's last events).
FOLLOWER_GRACE_SECONDS = 0.002

# The kind of signal that says how far a run's committed events go: items `{run id}:{last seq}`.
RUN_EVENTS_SIGNAL = "e"
# With a signal bus, how long a follower of a run live elsewhere waits for a signal before it reads the
# database anyway (a signal lost on the way delays it no longer than this).
FALLBACK_POLL_SECONDS = 2.0


class RunSignals:
    """Wakes the followers of runs live in other processes when the bus says their events moved."""

    def __init__(self) -> None:
        # Only runs someone waits for have an entry; it goes when its last waiter does.
        self._events: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()

    def signal(self, run_id: str) -> asyncio.Event:
        """The event the next signal of `run_id` sets (take it before reading, so no signal is missed)."""
        event = self._events.get(run_id)
        if event is None:
            event = self._events[run_id] = asyncio.Event()
        return event

    def received(self, items: list[str]) -> None:
        for item in items:
            run_id = item.rpartition(":")[0]
            event = self._events.pop(run_id, None)
            if event is not None:
                event.set()


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
        follower_grace: float = FOLLOWER_GRACE_SECONDS,
        resource_events: ResourceEventSink | None = None,
        signals: SignalBus | None = None,
        fallback_poll: float = FALLBACK_POLL_SECONDS,
    ) -> None:
        self._store = store
        # The bus that carries "run X has events up to seq N" between processes, and the waiters here.
        self._signals = signals
        self.run_signals = RunSignals()
        self._fallback_poll = fallback_poll
        if signals is not None:
            signals.on(RUN_EVENTS_SIGNAL, self.run_signals.received)
        self._follower_grace = follower_grace
        self._resource_events = resource_events
        self._load_events = load_events
        self._run_finished = run_finished
        self._window = window
        self._backlog_limit = backlog_limit
        self._poll_interval = poll_interval
        self._pending: list[Write] = []
        self._pending_events = 0
        # Each run's newest write not yet taken by the writer: where its next token may merge.
        self._tails: dict[str, Write] = {}
        self._wake = asyncio.Event()
        self._channels: dict[str, RunChannel] = {}
        # The recorder of each run this process holds the lease of and that has not ended.
        self._recorders: dict[str, RunRecorder] = {}
        # How the follower waits between reads of a run live elsewhere (replaced by tests).
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._wait_signal: Callable[[asyncio.Event, float], Awaitable[None]] = _wait_signal
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_commit = 0.0

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        self._task = spawn(self._write_forever(), name="runwire-event-writer")

    async def close(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    # -- recorders ----------------------------------------------------------

    def recorder(self, run_id: str, fence: int) -> RunRecorder:
        """The recorder of a run whose lease this process has just taken (created it, or claimed it)
        under `fence`; a recorder it held before for the run is lost."""
        previous = self._recorders.get(run_id)
        recorder = self._recorders[run_id] = RunRecorder(self, run_id, fence)
        if previous is not None and previous.fence != fence:
            previous.lose()
        return recorder

    def held(self) -> dict[str, RunRecorder]:
        """The runs whose lease this process holds, and which have not ended."""
        return dict(self._recorders)

    def release(self, recorder: RunRecorder) -> None:
        """The run stops here without ending (it waits for a person, and another process resumes it)."""
        if self._recorders.get(recorder.run_id) is recorder:
            del self._recorders[recorder.run_id]

    def _forget(self, recorder: RunRecorder) -> None:
        self.release(recorder)
        channel = self._channels.get(recorder.run_id)
        if channel is not None:
            del self._channels[recorder.run_id]
            channel.abandon()

    # -- writing ------------------------------------------------------------

    def open_channel(self, run_id: str, durable: Sequence[run_pb2.RunEvent]) -> RunChannel:
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = RunChannel(run_id, self._window)
            if durable:
                channel.publish(durable)
        return channel

    def append(
        self,
        recorder: RunRecorder,
        events: Sequence[run_pb2.RunEvent],
        changes: dict[str, Any] | None = None,
        statements: Sequence[tuple[Executable, Mapping[str, Any]]] = (),
        *,
        resource_events: Sequence[ResourceEvent] = (),
        run_change: str = "",
    ) -> Write:
        """Queue events, run row changes and other statements (e.g. a message insert) for the next
        commit, all in one transaction, with the resource events they cause. Returns a handle whose
        `wait()` returns once they are durable, or raises LeaseLost when `recorder`'s fence is no longer the
        run's. Producers write through their run's RunRecorder."""
        if self._closing and self._task is not None and self._task.done():
            raise RuntimeError("the event log is closed")
        write = Write(recorder, events, changes, statements, resource_events, run_change)
        self._pending.append(write)
        self._pending_events += len(events)
        self._tails[recorder.run_id] = write
        self._wake.set()
        return write

    def merge_delta(self, run_id: str, text: str, step_index: int) -> bool:
        """Add `text` to the run's last queued text delta of the same step, if the writer has not taken it yet.

        Under load (the writer busy committing) a run's tokens then travel as one event instead of one
        each: one row, one serialization and one message per follower. With an idle writer every token is
        taken at once and nothing merges. Returns False when the caller must queue a new event."""
        write = self._tails.get(run_id)
        if write is None or write.delta_step != step_index or write.delta_chars + len(text) > MAX_MERGED_DELTA_CHARS:
            return False
        if write.delta_parts is None:
            write.delta_parts = []
        write.delta_parts.append(text)
        write.delta_chars += len(text)
        return True

    @property
    def backlogged(self) -> bool:
        """Producers await their writes while this is true, so a slow disk slows runs instead of growing memory."""
        return self._pending_events > self._backlog_limit

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending:
                await self._let_followers_catch_up()
                batch, self._pending, self._pending_events = self._pending, [], 0
                self._tails.clear()
                for write in batch:
                    write._seal()
                await self._commit(batch)
            elif self._closing:
                return

    async def _let_followers_catch_up(self) -> None:
        """Deliver before committing more, briefly: only for a few writes (under load batches are large,
        followers always hold something, and waiting would only delay), and at most `follower_grace`."""
        if self._pending_events > SMALL_BATCH_STATEMENTS or self._closing:
            return
        await self.followers_caught_up({w.run_id for w in self._pending})

    async def followers_caught_up(self, run_ids: Iterable[str]) -> None:
        """Return once the runs' followers have sent the events they hold, or after `follower_grace`."""
        behind = [c for run_id in run_ids if (c := self._channels.get(run_id)) is not None and c.delivering]
        if not behind:
            return
        try:
            async with asyncio.timeout(self._follower_grace):
                for channel in behind:
                    await channel.drained()
        except TimeoutError:
            pass

    async def _commit(self, batch: list[Write]) -> None:
        try:
            lost = await self._write(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("writing run events of %s failed", batch[0].run_id)
                batch[0]._resolve(exc)
                return
            # One bad write (say, a message for a session deleted meanwhile) must not fail the
            # other runs of the batch: retry each alone so only the bad one fails.
            for write in batch:
                await self._commit([write])
            return
        kept = [w for w in batch if w.recorder not in lost] if lost else batch
        self._publish(kept)
        if self._signals is not None and not self._signals.transactional:
            self._signals.publish(RUN_EVENTS_SIGNAL, _progress(kept))
        for write in batch:
            if write.recorder in lost:
                write._resolve(LeaseLost(f"runs/{write.run_id}"))
            else:
                write._resolve(None)
        for recorder in lost:
            recorder.lose()

    async def _write(self, batch: list[Write]) -> set[RunRecorder]:
        """Commit the batch; the recorders whose fence the database refused (their writes were left out)."""
        # One fenced UPDATE per recorder and batch, before anything else of its run: its writes' changes
        # in order (later ones win), with its last seq. Only when it comes back are the run's events,
        # messages and resource events written.
        recorders: dict[RunRecorder, dict[str, Any]] = {}
        for w in batch:
            changes = recorders.setdefault(w.recorder, {})
            if w.changes:
                changes.update(w.changes)
        for w in batch:
            if w.events:
                recorders[w.recorder]["last_seq"] = w.events[-1].seq

        store = self._store
        execute = store.execute_in
        rows_in = store.rows_in
        # Runs whose resource event carries the run as this batch leaves it: their UPDATE returns it.
        changed = {w.recorder for w in batch if w.run_change} if self._resource_events is not None else set()
        lost: set[RunRecorder] = set()

        def apply(session: BatchTransaction) -> None:
            lost.clear()
            updated: dict[str, Any] = {}
            # In run id order, as lease renewals lock runs: no deadlock between the two.
            for recorder, changes in sorted(recorders.items(), key=lambda item: item[0].run_id):
                fence = {"_run_id": recorder.run_id, "_fence": recorder.fence}
                if recorder in changed or set(changes) - {"last_seq"}:
                    statement = _run_update(tuple(sorted(changes)), returning=recorder in changed)
                elif changes:
                    statement = _SET_LAST_SEQ
                else:
                    statement = _CHECK_FENCE
                row = next(iter(rows_in(session, statement, {**changes, **fence})), None)
                if row is None:
                    lost.add(recorder)
                elif recorder in changed:
                    updated[recorder.run_id] = row
            kept = [w for w in batch if w.recorder not in lost] if lost else batch
            for w in kept:
                for statement, params in w.statements:
                    execute(session, statement, params)
            events = [{"run_id": w.run_id, "seq": e.seq, "payload": e.SerializeToString()} for w in kept for e in w.events]
            if events:
                execute(session, _INSERT_EVENT, events)
            if self._resource_events is not None:
                self._resource_events.insert_sync(session, _resource_events_of(store, session, kept, updated))
            if self._signals is not None and self._signals.transactional:
                self._signals.notify_in(session, RUN_EVENTS_SIGNAL, _progress(kept))

        statements = sum(len(w.events) for w in batch) + len(recorders) + sum(len(w.statements) for w in batch)
        # After a pause, or holding events other than text, a small batch commits at once on the loop (a hop
        # to the writer thread waits for the GIL); under sustained writing of text, batches go to the
        # writer thread so producers keep going and the next commit takes more.
        idle = time.monotonic() - self._last_commit > IDLE_SECONDS
        small = statements <= SMALL_BATCH_STATEMENTS and (idle or any(w.urgent for w in batch))
        await self._store.write_batch(apply, small=small)
        self._last_commit = time.monotonic()
        if self._resource_events is not None and any(w.resource_events or w.run_change for w in batch):
            self._resource_events.notify()
        return lost

    def _publish(self, batch: list[Write]) -> None:
        """Wake each run's followers once per batch, with all of the run's new events."""
        by_run: dict[str, list[run_pb2.RunEvent]] = {}
        for w in batch:
            if w.events:
                by_run.setdefault(w.run_id, []).extend(w.events)
        for run_id, events in by_run.items():
            channel = self._channels.get(run_id)
            if channel is not None:
                channel.publish(events)
                if channel.closed:
                    del self._channels[run_id]
            if is_terminal(events[-1]):
                self._recorders.pop(run_id, None)  # ended: no lease to renew any more

    # -- reading ------------------------------------------------------------

    def channel(self, run_id: str) -> RunChannel | None:
        return self._channels.get(run_id)

    async def follow(
        self, run_id: str, after_seq: int, pinned: RunChannel | None = None
    ) -> AsyncIterator[list[run_pb2.RunEvent]]:
        """Batches of events with seq > after_seq: stored ones first, then live ones, until the terminal event.

        `pinned`, the channel of a run the caller just started, keeps serving after the run ends and the
        log lets go of it, so a short run's own stream reads nothing back from the database.

        Every pass of the loop yields events, ends, or waits (for the channel to move, or `poll_interval`
        before reading the database again): it never goes round without one of them."""
        cursor = after_seq
        while True:
            channel = self._channels.get(run_id)
            if channel is None and pinned is not None and not pinned.abandoned:
                channel = pinned
            if channel is not None and cursor >= channel.first_seq - 1:
                batch = channel.after(cursor)
                if not batch:
                    if channel.closed:
                        return
                    await channel.wait_beyond(cursor)
                    continue
            else:
                # Taken before the read: a signal of events committed after it wakes the wait below.
                signal = self.run_signals.signal(run_id) if self._signals is not None else None
                batch = await self._load_events(run_id, cursor, 512)
                if not batch and await self._run_finished(run_id):
                    # It may have ended between the read and this check: its last events are read once more.
                    batch = await self._load_events(run_id, cursor, 512)
                    if not batch:
                        return
                if not batch:
                    # Not live in this process (another replica runs it, or it has not started), or
                    # its channel holds events the database does not (yet) show: look again once the
                    # writer signals more, or after the poll interval without a bus.
                    if signal is None:
                        await self._sleep(self._poll_interval)
                    else:
                        await self._wait_signal(signal, self._fallback_poll)
                    continue
            cursor = batch[-1].seq
            if channel is None:
                yield batch
            else:
                # Counted while the caller sends the batch, so the writer can let it finish first.
                channel.delivering += 1
                try:
                    yield batch
                finally:
                    channel.delivered()
            if is_terminal(batch[-1]):
                return


async def _wait_signal(signal: asyncio.Event, timeout: float) -> None:
    """Until the signal, or `timeout` seconds (a lost signal delays a follower no longer than that)."""
    try:
        await asyncio.wait_for(signal.wait(), timeout)
    except TimeoutError:
        pass


def _progress(batch: list[Write]) -> list[str]:
    """`{run id}:{last seq}` of each run the batch carries events of: one item per run."""
    last: dict[str, int] = {}
    for w in batch:
        if w.events:
            last[w.run_id] = w.events[-1].seq
    return [f"{run_id}:{seq}" for run_id, seq in last.items()]


def _resource_events_of(
    store: Store, session: BatchTransaction, batch: list[Write], updated: dict[str, Any]
) -> list[ResourceEvent]:
    """The batch's resource events in write order. A run's payload is the run as the batch left it (its
    writes in a batch become one UPDATE, which returns it in `updated`; else it is read back), once per
    run: a short run's started and ended events share it."""
    recorded: list[ResourceEvent] = []
    runs: dict[str, tuple[str, run_pb2.Run]] = {}
    for w in batch:
        recorded.extend(w.resource_events)
        if w.run_change:
            if w.run_id not in runs:
                row = updated.get(w.run_id)
                if row is None:
                    (row,) = store.rows_in(session, _SELECT_RUN_WITHOUT_STEPS, {"run_id": w.run_id})
                runs[w.run_id] = (row.owner, convert.run_proto(RunValues(**row._asdict(), steps=())))
            owner, run = runs[w.run_id]
            recorded.append((w.run_change, run.name, owner, run))
    return recorded


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
