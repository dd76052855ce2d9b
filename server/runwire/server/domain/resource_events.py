"""Resource events as callers see them: what each event carries, who may see it, filters and named subscriptions.

A domain service records an event in the same transaction as the change it describes
(`await ctx.events.record(db, "agent.updated", name, owner, agent_proto)`), so an event exists if
and only if its change was committed: nothing lost, nothing phantom. Writers that commit through
`Store.write_batch` (the run engine) use `insert_sync` inside their transaction instead. Positions,
ordering, the in-memory window, cursors and pruning are the log's: store/resource_event_log.py.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from google.protobuf.message import Message
from sqlalchemy import delete, select

from runwire.server.core.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from runwire.server.core.principal import Principal
from runwire.server.store.models import EventSubscriptionRow
from runwire.server.store.resource_event_log import EVERYONE, LoggedEvent, ResourceEventLog
from runwire.server.store.store import rows_changed
from runwire.server.store.transaction import BatchTransaction, CoreTransaction
from runwire.server.wire.timestamps import set_timestamp
from runwire.v1 import event_pb2

Topic = event_pb2.EventTopic
# The payload field of Event for each payload message type, and the topic it belongs to.
_PAYLOAD_FIELDS = {
    f.message_type.full_name: f.name
    for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"].fields
    if f.message_type is not None  # every payload is a message
}
TOPIC_OF_PAYLOAD = {
    "agent": Topic.EVENT_TOPIC_AGENTS,
    "crew": Topic.EVENT_TOPIC_CREWS,
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
# Topics a subscription may ask for. Run events (every token) stay in each run's own log.
SUBSCRIBABLE_TOPICS = frozenset(t for t in TOPIC_OF_PAYLOAD.values() if t != Topic.EVENT_TOPIC_RUN_EVENTS)

MAX_TOPICS = 16
MAX_RESOURCES = 100
MAX_TYPES = 50
MAX_FILTER_TEXT = 300
SUBSCRIPTION_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


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


class ResourceEvents(ResourceEventLog):
    """Records resource events and delivers them to followers, on the log of this process. One per process."""

    # -- writing --------------------------------------------------------------------

    async def record(self, db: CoreTransaction, type: str, resource: str, principal: str, payload: Message) -> None:
        """Add the event to the transaction `db` (from `store.write()` or `write_core()`); it is published
        when that commits."""
        await self.append(db, self._values(type, resource, principal, payload))

    def insert_sync(self, session: BatchTransaction, rows: Iterable[tuple[str, str, str, Message]]) -> None:
        """Insert events within a synchronous transaction (Store.write_batch); call `notify()` after it commits."""
        self.append_sync(session, [self._values(*row) for row in rows])

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

    # -- positions ------------------------------------------------------------------

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
        return max(self.head, await self.last_position())

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
        if pk > max(self.head, await self.last_position()):
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
            removed = await self.prune(db, cutoff)
            expired = rows_changed(
                await db.execute(
                    delete(EventSubscriptionRow).where(
                        EventSubscriptionRow.use_time < now - self.settings.event_subscription_ttl
                    )
                )
            )
        return removed, expired
