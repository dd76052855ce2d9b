"""The resource event log's storage: positions, ordering, the tailer, the in-memory window, cursors, pruning.

Writing. Events are added to the transaction of the change they describe, so an event exists if and
only if its change was committed. The log position is the row's autoincrement key; on PostgreSQL a
transaction inserts its events as its last work, under a transaction-level advisory lock, so positions
become visible in order (a reader never skips a position that commits later).

Reading. One tailer task reads new rows after each commit of this process (woken by the commit)
and every `event_poll_seconds` (for other processes and replicas), and keeps the newest
`event_live_buffer` of them in memory. Followers pull from that window, or from the database when
they are behind it (replay), so a follower costs no memory of its own; a follower that has caught
up and then falls out of the window is a slow consumer.

What the events mean, who may see them and named subscriptions: domain/resource_events.py.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator, Protocol, Sequence

from sqlalchemy import delete, func, insert, select, text

from runwire.server.background import spawn
from runwire.server.config import EventSettings
from runwire.server.core.clock import Clock, utc_now
from runwire.server.core.errors import Aborted, FailedPrecondition, InvalidArgument
from runwire.server.store import repositories as repo
from runwire.server.store.models import ResourceEventRow, ServerKey
from runwire.server.store.store import Store, rows_changed
from runwire.server.store.transaction import BatchTransaction, CoreTransaction, Transaction, orm
from runwire.v1 import event_pb2

log = logging.getLogger("runwire.resource_events")

# The principal of an event every principal receives (a notification to everyone).
EVERYONE = "*"

REPLAY_BATCH = 500
TAIL_BATCH = 1000
_LOG_ID_KEY = "event_log_id"
_PRUNED_KEY = "event_log_pruned_through"
_CURSOR_PREFIX = "rwc1"
# PostgreSQL advisory lock key of event writers ("rwevents" as an integer).
_PG_LOCK = 0x72776576656E7473 & 0x7FFFFFFFFFFFFFFF
# Session.info key, PostgreSQL: the transaction's events, inserted as its last work.
_HELD_EVENTS = "runwire_held_events"
_INSERT = insert(ResourceEventRow.__table__)


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as read back from the log, with its position and cursor filled in."""

    pk: int
    principal: str
    topic: int
    type: str
    resource: str
    event: event_pb2.Event


@dataclass(frozen=True)
class FollowItem:
    """What a follower yields: an event, the end of the replay (`caught_up`) or a quiet `heartbeat`."""

    kind: str  # "event" | "caught_up" | "heartbeat"
    pk: int
    event: LoggedEvent | None = None


class EventSelection(Protocol):
    """Which events a follower receives (domain/resource_events.py EventFilter). `principal` None: every principal."""

    @property
    def principal(self) -> str | None: ...

    @property
    def topics(self) -> frozenset[int]: ...

    def matches(self, event: LoggedEvent) -> bool: ...


def _slow_consumer(cursor: str) -> Aborted:
    return Aborted(
        "the client read too slowly and fell behind the server's buffer; subscribe again from the last cursor received",
        reason="SLOW_CONSUMER",
        metadata={"cursor": cursor},
    )


class ResourceEventLog:
    """The log of resource events: appends rows, keeps the newest in memory and feeds followers. One per process."""

    def __init__(self, store: Store, settings: EventSettings, clock: Clock = utc_now) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._postgres = store.backend == "postgresql"
        self._log_id = ""
        # Highest position loaded into memory, and the newest events up to it.
        self.head = 0
        self._window: deque[LoggedEvent] = deque()
        self._window_pks: deque[int] = deque()
        # Every position <= floor that is not in the window was either delivered before it or evicted.
        self._floor = 0
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        # The log is read into memory only while someone follows it; commits meanwhile leave it stale.
        self._followers = 0
        self._stale = False
        self._reading = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        # Redis pub/sub, when replicas share one: a commit here wakes the tailers of the others at once.
        self._redis: Any = None
        self._redis_channel = ""
        self._redis_task: asyncio.Task[None] | None = None
        self._publishing = False
        self._publish_again = False

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with self.store.write() as db:
            # Cursors name their log, so one from another server's log is refused instead of misread.
            self._log_id = (await repo.server_key(db, _LOG_ID_KEY))[:8]
        self.head = self._floor = await self.last_position()
        self._task = spawn(self._tail_forever(), name="runwire-resource-events")

    def use_redis(self, redis: Any, channel: str) -> None:
        """Announce local commits on `channel` and read the log whenever another replica announces one."""
        self._redis, self._redis_channel = redis, channel
        self._redis_task = spawn(self._follow_redis(), name="runwire-resource-events-redis")

    async def close(self) -> None:
        for task in (self._task, self._redis_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._task = self._redis_task = None

    # -- writing --------------------------------------------------------------------

    async def append(self, db: CoreTransaction, values: dict[str, Any]) -> None:
        """Add an event's row to the transaction `db` (from `store.write()` or `write_core()`); it is
        published when that commits."""
        if self._postgres:
            # Inserted as the transaction's last work, under the lock (see _insert_held_events).
            session = orm(db)  # write_core() is write() on PostgreSQL
            info = session.sync_session.info
            if _HELD_EVENTS not in info:
                info[_HELD_EVENTS] = []
                self.store.before_commit(session, self._insert_held_events)
            info[_HELD_EVENTS].append(values)
        else:
            # A Core insert: it rides in hot transactions (every run's creation), where an ORM flush costs more.
            await self.store.execute_on(db, _INSERT, values)
        self.store.after_commit(db, self.notify)

    async def _insert_held_events(self, db: Transaction) -> None:
        """PostgreSQL: take the log's lock and insert the transaction's events at its very end.

        The lock makes positions visible in commit order. Taken in the middle of a transaction, it
        deadlocked against row locks: one transaction held a row (a batch's) and waited for the lock, while
        the lock's holder waited for that row. At the end, its holder waits for nothing but its commit."""
        values = db.sync_session.info.pop(_HELD_EVENTS)
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        await self.store.execute_on(db, _INSERT, values)

    def append_sync(self, session: BatchTransaction, values: Sequence[dict[str, Any]]) -> None:
        """Insert events' rows within a synchronous transaction (Store.write_batch); call `notify()` after it commits."""
        if not values:
            return
        if self._postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        self.store.execute_in(session, _INSERT, values)

    def notify(self) -> None:
        """New events were committed: read them now (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._committed()
        else:
            loop.call_soon_threadsafe(self._committed)

    def _committed(self) -> None:
        self._wake.set()
        if self._redis is None:
            return
        # One publish in flight at most; commits meanwhile are announced by one more.
        if self._publishing:
            self._publish_again = True
        else:
            self._publishing = True
            spawn(self._publish(), name="runwire-resource-events-publish")

    async def _publish(self) -> None:
        try:
            while True:
                self._publish_again = False
                try:
                    await self._redis.publish(self._redis_channel, b"1")
                except Exception as exc:  # the others still poll the log
                    log.warning("could not announce new resource events on Redis: %s", type(exc).__name__)
                if not self._publish_again:
                    return
        finally:
            self._publishing = False

    async def _follow_redis(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._redis_channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("lost the Redis resource event channel (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)

    # -- cursors --------------------------------------------------------------------

    def cursor(self, pk: int) -> str:
        raw = f"{_CURSOR_PREFIX}:{self._log_id}:{pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def parse_cursor(self, cursor: str, field: str = "cursor") -> int:
        problem = "is not a cursor of this server's event log; subscribe from_now or from_beginning_of_retention to resync"
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            prefix, log_id, position = raw.split(":")
            pk = int(position)
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument.field(field, problem, reason="INVALID_CURSOR") from None
        if prefix != _CURSOR_PREFIX or log_id != self._log_id or pk < 0 or len(cursor) > 200:
            raise InvalidArgument.field(field, problem, reason="INVALID_CURSOR")
        return pk

    async def check_cursor(self, pk: int, field: str = "cursor") -> None:
        """A position past the end is not ours; one before the retention cannot be resumed exactly."""
        if pk > max(self.head, await self.last_position()):
            raise InvalidArgument.field(
                field, "is beyond the end of this server's event log", reason="INVALID_CURSOR"
            )
        pruned = await self.pruned_through()
        if pk < pruned:
            raise FailedPrecondition(
                "the cursor is older than the event retention; events after it were deleted. "
                "Resync: read the resources again, then subscribe from_now (or from the oldest cursor)",
                reason="CURSOR_EXPIRED",
                metadata={"oldest_cursor": self.cursor(pruned)},
            )

    async def last_position(self) -> int:
        async with self.store.read() as db:
            last = (await db.execute(select(func.max(ResourceEventRow.pk)))).scalar()
        return max(int(last or 0), await self.pruned_through())

    async def pruned_through(self) -> int:
        async with self.store.read() as db:
            row = await db.get(ServerKey, _PRUNED_KEY)
        return int(row.value) if row is not None else 0

    # -- retention ------------------------------------------------------------------

    async def prune(self, db: Transaction, cutoff: datetime) -> int:
        """Delete, in the transaction `db`, the events created before `cutoff`; how many."""
        newest_old = (
            await db.execute(select(func.max(ResourceEventRow.pk)).where(ResourceEventRow.create_time < cutoff))
        ).scalar()
        removed = 0
        if newest_old is not None:
            removed = rows_changed(await db.execute(delete(ResourceEventRow).where(ResourceEventRow.pk <= newest_old)))
            marker = await db.get(ServerKey, _PRUNED_KEY)
            if marker is None:
                db.add(ServerKey(name=_PRUNED_KEY, value=str(newest_old)))
            elif int(marker.value) < newest_old:
                marker.value = str(newest_old)
        return removed

    # -- reading --------------------------------------------------------------------

    async def _tail_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.event_poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self._followers:
                self._stale = True
                continue
            try:
                async with self._reading:
                    await self._load_new()
            except Exception:  # read again on the next wake or poll
                log.exception("reading new resource events failed")
                await asyncio.sleep(self.settings.event_poll_seconds)

    async def _load_new(self) -> None:
        while True:
            async with self.store.read() as db:
                rows = (
                    await db.execute(
                        select(ResourceEventRow).where(ResourceEventRow.pk > self.head).order_by(ResourceEventRow.pk).limit(TAIL_BATCH)
                    )
                ).scalars().all()
            if not rows:
                return
            limit = self.settings.event_live_buffer
            for row in rows:
                self._window.append(self._logged(row))
                self._window_pks.append(row.pk)
                if len(self._window) > limit:
                    self._window.popleft()
                    self._floor = self._window_pks.popleft()
            self.head = rows[-1].pk
            waiter, self._changed = self._changed, asyncio.Event()
            waiter.set()
            if len(rows) < TAIL_BATCH:
                return

    async def _skip_ahead(self) -> None:
        """Start the in-memory window at the log's end after a time without followers: what was committed
        meanwhile is read from the database by whoever needs it, instead of all into memory."""
        async with self._reading:
            if not self._stale:
                return
            last = await self.last_position()
            if last > self.head:
                self._window.clear()
                self._window_pks.clear()
                self.head = self._floor = last
                waiter, self._changed = self._changed, asyncio.Event()
                waiter.set()
            self._stale = False  # only now: a follower arriving meanwhile waits for the new head

    def _logged(self, row: ResourceEventRow) -> LoggedEvent:
        event = event_pb2.Event.FromString(row.payload)
        event.cursor = self.cursor(row.pk)
        return LoggedEvent(row.pk, row.principal, row.topic, row.type, row.resource, event)

    async def _read_stored(self, flt: EventSelection, after: int, upto: int) -> tuple[list[LoggedEvent], int]:
        """Stored events matching `flt` in (after, upto], at most a batch; and the position scanned to."""
        stmt = select(ResourceEventRow).where(ResourceEventRow.pk > after, ResourceEventRow.pk <= upto)
        if flt.principal is not None:
            stmt = stmt.where(ResourceEventRow.principal.in_((flt.principal, EVERYONE)))
        if flt.topics:
            stmt = stmt.where(ResourceEventRow.topic.in_(sorted(flt.topics)))
        async with self.store.read() as db:
            rows = (await db.execute(stmt.order_by(ResourceEventRow.pk).limit(REPLAY_BATCH))).scalars().all()
        scanned = rows[-1].pk if len(rows) == REPLAY_BATCH else upto
        return [self._logged(r) for r in rows], scanned

    async def follow(
        self, flt: EventSelection, after: int, *, heartbeat: float | None = None
    ) -> AsyncIterator[FollowItem]:
        """Events matching `flt` after position `after`, in log order: stored ones (replay), then
        `caught_up`, then live ones as they are committed, with a `heartbeat` after `heartbeat`
        quiet seconds. Raises SLOW_CONSUMER when, once live, the follower falls out of the buffer,
        and CURSOR_EXPIRED when a replay is overtaken by the retention sweep."""
        self._followers += 1
        try:
            if self._stale:
                await self._skip_ahead()
            async for item in self._follow(flt, after, heartbeat):
                yield item
        finally:
            self._followers -= 1

    async def _follow(self, flt: EventSelection, after: int, heartbeat: float | None) -> AsyncIterator[FollowItem]:
        position = after
        live = False
        while True:
            head = self.head
            if position >= head:
                if not live:
                    live = True
                    yield FollowItem("caught_up", position)
                    continue
                changed = self._changed
                if self.head > position:
                    continue
                if heartbeat is None:
                    await changed.wait()
                else:
                    try:
                        await asyncio.wait_for(changed.wait(), heartbeat)
                    except TimeoutError:
                        yield FollowItem("heartbeat", position)
                continue
            if position >= self._floor:
                start = bisect.bisect_right(self._window_pks, position)
                batch = [self._window[i] for i in range(start, len(self._window))]
                scanned = batch[-1].pk if batch else head
            elif live:
                raise _slow_consumer(self.cursor(position))
            else:
                if position < await self.pruned_through():
                    await self.check_cursor(position)
                batch, scanned = await self._read_stored(flt, position, head)
            for logged in batch:
                if flt.matches(logged):
                    yield FollowItem("event", logged.pk, logged)
                    if live and logged.pk < self._floor:
                        # The client took so long to read that the buffer moved past this event.
                        raise _slow_consumer(self.cursor(logged.pk))
            position = max(position, scanned)
