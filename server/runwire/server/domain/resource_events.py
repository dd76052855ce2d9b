"""The resource event log: every state change of a resource, durable and ordered, with a global cursor.

Writing. A domain service records an event in the same transaction as the change it describes
(`await ctx.events.record(db, "agent.updated", name, owner, agent_proto)`), so an event exists if
and only if its change was committed: nothing lost, nothing phantom. Writers that commit through
`Store.write_batch` (the run engine) use `insert_sync` inside their transaction instead. The log
position is the row's autoincrement key; on PostgreSQL a transaction inserts its events as its last
work, under a transaction-level advisory lock, so positions become visible in order (a reader never
skips a position that commits later).

Reading. One tailer task reads new rows after each commit of this process (woken by the commit)
and every `event_poll_seconds` (for other processes and replicas), and keeps the newest
`event_live_buffer` of them in memory. Followers pull from that window, or from the database when
they are behind it (replay), so a follower costs no memory of its own; a follower that has caught
up and then falls out of the window is a slow consumer.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import logging
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable, Sequence

from google.protobuf.message import Message
from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.orm import Session

from runwire.server.config import EventSettings
from runwire.server.core.clock import Clock, utc_now
from runwire.server.wire.timestamps import set_timestamp
from runwire.server.core.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from runwire.server.core.principal import Principal
from runwire.server.store import repositories as repo
from runwire.server.store.models import EventSubscriptionRow, ResourceEventRow, ServerKey
from runwire.server.store.store import Store, rows_changed
from runwire.server.store.transaction import CoreTransaction, Transaction, orm
from runwire.v1 import event_pb2

log = logging.getLogger("runwire.resource_events")

Topic = event_pb2.EventTopic
# The payload field of Event for each payload message type, and the topic it belongs to.
_PAYLOAD_FIELDS = {
    f.message_type.full_name: f.name
    for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"].fields
    if f.message_type is not None  # every payload is a message
}
TOPIC_OF_PAYLOAD = {
    "agent": Topic.EVENT_TOPIC_AGENTS,
    "session": Topic.EVENT_TOPIC_SESSIONS,
    "message": Topic.EVENT_TOPIC_MESSAGES,
    "run": Topic.EVENT_TOPIC_RUNS,
    "run_event": Topic.EVENT_TOPIC_RUN_EVENTS,
    "file": Topic.EVENT_TOPIC_FILES,
    "batch": Topic.EVENT_TOPIC_BATCHES,
    "batch_task": Topic.EVENT_TOPIC_BATCHES,
    "memory": Topic.EVENT_TOPIC_MEMORIES,
    "mcp_server": Topic.EVENT_TOPIC_MCP_SERVERS,
    "notification": Topic.EVENT_TOPIC_NOTIFICATIONS,
    "server_request": Topic.EVENT_TOPIC_NOTIFICATIONS,
}
# The principal of an event every principal receives (a notification to everyone).
EVERYONE = "*"
# Topics a subscription may ask for. Run events (every token) stay in each run's own log.
SUBSCRIBABLE_TOPICS = frozenset(t for t in TOPIC_OF_PAYLOAD.values() if t != Topic.EVENT_TOPIC_RUN_EVENTS)

MAX_TOPICS = 16
MAX_RESOURCES = 100
MAX_TYPES = 50
MAX_FILTER_TEXT = 300
SUBSCRIPTION_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
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
class EventFilter:
    """Which events a follower receives. `principal` None means every principal (admins only)."""

    principal: str | None
    topics: frozenset[int] = frozenset()
    resources: tuple[str, ...] = ()
    exact_types: frozenset[str] = frozenset()
    type_prefixes: tuple[str, ...] = ()

    def matches(self, event: LoggedEvent) -> bool:
        if self.principal is not None and event.principal != self.principal and event.principal != EVERYONE:
            return False
        if event.topic == Topic.EVENT_TOPIC_NOTIFICATIONS and _expired(event.event):
            return False
        if self.topics and event.topic not in self.topics:
            return False
        if self.resources and not any(
            event.resource == r or event.resource.startswith(r + "/") for r in self.resources
        ):
            return False
        if self.exact_types or self.type_prefixes:
            if event.type not in self.exact_types and not event.type.startswith(self.type_prefixes):
                return False
        return True


@dataclass(frozen=True)
class FollowItem:
    """What a follower yields: an event, the end of the replay (`caught_up`) or a quiet `heartbeat`."""

    kind: str  # "event" | "caught_up" | "heartbeat"
    pk: int
    event: LoggedEvent | None = None


def build_filter(
    caller: Principal,
    *,
    topics: Sequence[int],
    resources: Sequence[str],
    types: Sequence[str],
    all_principals: bool = False,
    prefix: str = "",
) -> EventFilter:
    """Validate the filters of a SubscribeRequest; `prefix` names the request in field paths."""
    v = Violations()
    if len(topics) > MAX_TOPICS:
        v.add(f"{prefix}topics", f"has {len(topics)} topics; the limit is {MAX_TOPICS}")
    for index, topic in enumerate(topics):
        if topic == Topic.EVENT_TOPIC_RUN_EVENTS:
            v.add(
                f"{prefix}topics[{index}]",
                "every event of every run is not in the resource log; follow a run with RunService.StreamRunEvents",
            )
        elif topic not in SUBSCRIBABLE_TOPICS:
            v.add(f"{prefix}topics[{index}]", f"unknown topic {topic}")
    if len(resources) > MAX_RESOURCES:
        v.add(f"{prefix}resources", f"has {len(resources)} resources; the limit is {MAX_RESOURCES}")
    for index, resource in enumerate(resources):
        if not resource or len(resource) > MAX_FILTER_TEXT or resource.endswith("/") or "//" in resource:
            v.add(f"{prefix}resources[{index}]", "must be a resource name such as `sessions/s1`")
    if len(types) > MAX_TYPES:
        v.add(f"{prefix}types", f"has {len(types)} types; the limit is {MAX_TYPES}")
    exact: set[str] = set()
    prefixes: list[str] = []
    for index, kind in enumerate(types):
        if not kind or len(kind) > MAX_FILTER_TEXT or "*" in kind[:-1]:
            v.add(f"{prefix}types[{index}]", "must be an event type such as `run.succeeded`, or a prefix such as `run.*`")
        elif kind.endswith("*"):
            prefixes.append(kind[:-1])
        else:
            exact.add(kind)
    v.raise_if_any()
    if all_principals and not caller.is_admin:
        raise _permission_denied()
    return EventFilter(
        principal=None if all_principals else caller.id,
        topics=frozenset(int(t) for t in topics),
        resources=tuple(resources),
        exact_types=frozenset(exact),
        type_prefixes=tuple(prefixes),
    )


def _expired(event: event_pb2.Event) -> bool:
    """A message past its expire_time is never delivered, live or replayed."""
    payload = event.notification if event.HasField("notification") else event.server_request
    expire = payload.expire_time
    return bool(expire.seconds) and expire.seconds + expire.nanos / 1e9 <= time.time()


def _permission_denied() -> PermissionDenied:
    return PermissionDenied("all_principals is for admins only", reason="PERMISSION_DENIED")


def _slow_consumer(cursor: str) -> Aborted:
    return Aborted(
        "the client read too slowly and fell behind the server's buffer; subscribe again from the last cursor received",
        reason="SLOW_CONSUMER",
        metadata={"cursor": cursor},
    )


class ResourceEvents:
    """Records resource events and delivers them to followers. One per process."""

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
        self.head = self._floor = await self._last_position()
        self._task = asyncio.create_task(self._tail_forever(), name="runwire-resource-events")

    def use_redis(self, redis: Any, channel: str) -> None:
        """Announce local commits on `channel` and read the log whenever another replica announces one."""
        self._redis, self._redis_channel = redis, channel
        self._redis_task = asyncio.create_task(self._follow_redis(), name="runwire-resource-events-redis")

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

    async def record(self, db: CoreTransaction, type: str, resource: str, principal: str, payload: Message) -> None:
        """Add the event to the transaction `db` (from `store.write()` or `write_core()`); it is published
        when that commits."""
        values = self._values(type, resource, principal, payload)
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

    def insert_sync(self, session: Session | Connection, rows: Iterable[tuple[str, str, str, Message]]) -> None:
        """Insert events within a synchronous transaction (Store.write_batch); call `notify()` after it commits."""
        values = [self._values(*row) for row in rows]
        if not values:
            return
        if self._postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
        self.store.execute_in(session, _INSERT, values)

    def _values(self, type: str, resource: str, principal: str, payload: Message) -> dict[str, Any]:
        field = _PAYLOAD_FIELDS[payload.DESCRIPTOR.full_name]
        topic = TOPIC_OF_PAYLOAD[field]
        now = self.clock()
        event = event_pb2.Event(topic=topic, type=type, resource=resource, principal=principal)
        set_timestamp(event.create_time, now)
        getattr(event, field).CopyFrom(payload)
        return {
            "principal": principal,
            "topic": int(topic),
            "type": type,
            "resource": resource,
            "create_time": now,
            "payload": event.SerializeToString(),
        }

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
            asyncio.ensure_future(self._publish())

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
        if pk > max(self.head, await self._last_position()):
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

    async def _last_position(self) -> int:
        async with self.store.read() as db:
            last = (await db.execute(select(func.max(ResourceEventRow.pk)))).scalar()
        return max(int(last or 0), await self.pruned_through())

    async def pruned_through(self) -> int:
        async with self.store.read() as db:
            row = await db.get(ServerKey, _PRUNED_KEY)
        return int(row.value) if row is not None else 0

    async def start_position(
        self,
        caller: Principal,
        *,
        cursor: str = "",
        from_now: bool = False,
        from_beginning: bool = False,
        subscription_name: str = "",
        field_prefix: str = "",
    ) -> int:
        """Where a follower starts (events after this position), creating a named subscription on first use."""
        if subscription_name and not SUBSCRIPTION_NAME.fullmatch(subscription_name):
            raise InvalidArgument.field(
                f"{field_prefix}subscription_name", "must be 1-63 characters of [a-z0-9-] starting with a letter"
            )
        acked: int | None = None
        if subscription_name:
            acked = await self._touch_subscription(caller.id, subscription_name)
        if cursor:
            pk = self.parse_cursor(cursor, f"{field_prefix}cursor")
            await self.check_cursor(pk, f"{field_prefix}cursor")
            return pk
        if from_beginning:
            return await self.pruned_through()
        if acked and not from_now:
            await self.check_cursor(acked, f"{field_prefix}subscription_name")
            return acked
        return max(self.head, await self._last_position())

    # -- named subscriptions --------------------------------------------------------

    async def _touch_subscription(self, owner: str, name: str) -> int:
        now = self.clock()
        async with self.store.write() as db:
            row = (
                await db.execute(
                    select(EventSubscriptionRow).where(EventSubscriptionRow.owner == owner, EventSubscriptionRow.name == name)
                )
            ).scalar_one_or_none()
            if row is None:
                db.add(EventSubscriptionRow(owner=owner, name=name, acked_pk=0, create_time=now, use_time=now))
                return 0
            row.use_time = now
            return row.acked_pk

    async def acknowledge(self, caller: Principal, name: str, cursor: str, *, field_prefix: str = "") -> int:
        """Move the subscription's acknowledged position forward to `cursor`; returns the position after."""
        v = Violations()
        if not name:
            v.add(f"{field_prefix}subscription_name", "is required")
        if not cursor:
            v.add(f"{field_prefix}cursor", "is required")
        v.raise_if_any()
        pk = self.parse_cursor(cursor, f"{field_prefix}cursor")
        if pk > max(self.head, await self._last_position()):
            raise InvalidArgument.field(f"{field_prefix}cursor", "is beyond the end of this server's event log", reason="INVALID_CURSOR")
        async with self.store.write() as db:
            row = (
                await db.execute(
                    select(EventSubscriptionRow).where(
                        EventSubscriptionRow.owner == caller.id, EventSubscriptionRow.name == name
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(
                    f"subscription {name!r} does not exist; subscribe with this subscription_name first",
                    reason="SUBSCRIPTION_NOT_FOUND",
                    metadata={"subscription_name": name},
                )
            row.acked_pk = max(row.acked_pk, pk)
            row.use_time = self.clock()
            return row.acked_pk

    # -- retention ------------------------------------------------------------------

    async def sweep(self) -> tuple[int, int]:
        """Delete events older than the retention and subscriptions unused for their TTL."""
        now = self.clock()
        cutoff = now - self.settings.event_retention
        async with self.store.write() as db:
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
            expired = rows_changed(
                await db.execute(
                    delete(EventSubscriptionRow).where(
                        EventSubscriptionRow.use_time < now - self.settings.event_subscription_ttl
                    )
                )
            )
        return removed, expired

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
            last = await self._last_position()
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

    async def _read_stored(self, flt: EventFilter, after: int, upto: int) -> tuple[list[LoggedEvent], int]:
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
        self, flt: EventFilter, after: int, *, heartbeat: float | None = None
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

    async def _follow(self, flt: EventFilter, after: int, heartbeat: float | None) -> AsyncIterator[FollowItem]:
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

