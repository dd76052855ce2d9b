"""What AdminService reports: the server, its backends and counts, and its open streams and connections. Admins only.

Streams and connections live in this process's memory (api/calls.py keeps
them), so they are listed, filtered and paged here, without SQL: the filter
grammar is AIP-160's (domain/filtering.py), evaluated on each entry's fields.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Mapping, Sequence

from runwire.server.core.filtering import And, Comparison, Expr, FilterError, Not, Or
from runwire.server.core.paging import Page, parse_order_by, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.domain.api_keys import require_admin
from runwire.server.domain.common import filter_error, parse_filter_field
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery
from runwire.server.store import admin_counts

REPLICA = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Backends:
    database: str
    event_bus: str
    rate_limiter: str
    file_store: str


@dataclass(frozen=True)
class ProviderView:
    name: str
    is_default: bool
    default_model: str
    base_url: str


@dataclass(frozen=True)
class ServerInfo:
    version: str
    replica: str
    start_time: datetime
    uptime_seconds: float
    workers: int
    backends: Backends
    providers: list[ProviderView]
    counts: dict[str, int]
    config_revision: int
    python_version: str
    grpc_version: str
    protobuf_backend: str
    process_id: str = ""


@dataclass(frozen=True)
class StreamView:
    """One open streaming call, as ListStreams shows it (times are naive UTC)."""

    id: str
    method: str
    principal: str
    peer: str
    replica: str
    follows: str
    start_time: datetime
    deadline: datetime | None
    messages_sent: int
    last_send_time: datetime | None
    user_agent: str = ""
    # The process serving it: ListStreams shows the streams of the replica serving the call only.
    process_id: str = ""


@dataclass(frozen=True)
class ConnectionView:
    """One open `EventService.Connect` stream, as ListConnections shows it."""

    id: str
    principal: str
    peer: str
    replica: str
    user_agent: str
    connect_time: datetime
    last_activity_time: datetime
    messages_sent: int
    messages_received: int = 0
    client_name: str = ""
    client_version: str = ""
    accept_input_requests: bool = False
    subscriptions: list[Any] = field(default_factory=list)
    # The process serving it: ListConnections shows the connections of the replica serving the call only.
    process_id: str = ""


@dataclass
class ServerFacts:
    """What the assembled server knows about itself, read when asked (app.py provides it)."""

    version: str
    start_time: datetime
    workers: int
    backends: Callable[[], Backends]
    providers: Callable[[], list[ProviderView]]
    config_revision: Callable[[], int]
    streams: Callable[[], list[StreamView]]
    connections: Callable[[], list[ConnectionView]]
    grpc_version: str
    protobuf_backend: str
    # The owner this process records on the leases it holds.
    process_id: str = ""


STREAM_FIELDS = ("method", "principal", "peer", "replica", "follows", "start_time")
CONNECTION_FIELDS = ("principal", "peer", "replica", "client_name", "accept_input_requests", "connect_time")


class AdminService:
    def __init__(self, ctx: DomainContext, facts: ServerFacts) -> None:
        self.ctx = ctx
        self.facts = facts

    async def server_info(self, caller: Principal) -> ServerInfo:
        require_admin(caller)
        facts = self.facts
        async with self.ctx.store.read() as db:
            counts = await admin_counts.resource_counts(db, self.ctx.clock())
        streams, connections = facts.streams(), facts.connections()
        counts["streams"] = len(streams)
        counts["connections"] = len(connections)
        now = self.ctx.clock()
        return ServerInfo(
            version=facts.version,
            replica=REPLICA,
            start_time=facts.start_time,
            uptime_seconds=max(0.0, (now - facts.start_time).total_seconds()),
            workers=facts.workers,
            backends=facts.backends(),
            providers=facts.providers(),
            counts=counts,
            config_revision=facts.config_revision(),
            python_version=platform.python_version(),
            grpc_version=facts.grpc_version,
            protobuf_backend=facts.protobuf_backend,
            process_id=facts.process_id,
        )

    def list_streams(self, caller: Principal, query: ListQuery) -> Page:
        require_admin(caller)
        return self._page(
            caller,
            "streams",
            self.facts.streams(),
            STREAM_FIELDS,
            ("start_time", "messages_sent", "principal"),
            "start_time desc",
            query,
        )

    def list_connections(self, caller: Principal, query: ListQuery) -> Page:
        require_admin(caller)
        return self._page(
            caller,
            "connections",
            self.facts.connections(),
            CONNECTION_FIELDS,
            ("connect_time", "last_activity_time", "principal"),
            "connect_time desc",
            query,
        )

    def _page(
        self,
        caller: Principal,
        collection: str,
        items: list[Any],
        filter_fields: Sequence[str],
        order_fields: Sequence[str],
        default_order: str,
        query: ListQuery,
    ) -> Page:
        """Offset paging over a snapshot: entries come and go between pages, so a page may repeat or skip one."""
        limits = self.ctx.limits
        expr = parse_filter_field(query.filter, limits.max_filter_chars)
        order = parse_order_by(query.order_by, list(order_fields), default_order)
        size = resolve_page_size(query.page_size, limits.default_page_size, limits.max_page_size)
        fingerprint = query_fingerprint(collection, caller.id, query.filter.strip(), order)
        after = self.ctx.page_tokens.decode(query.page_token, fingerprint)
        offset = int(after[0]) if after else 0
        try:
            matching = [item for item in items if expr is None or _matches(expr, item, filter_fields)]
        except FilterError as exc:
            raise filter_error(exc) from None
        for key in reversed(order):
            matching.sort(key=_sort_key_of(key.field), reverse=key.descending)
        page = matching[offset : offset + size]
        token = self.ctx.page_tokens.encode(fingerprint, [offset + size]) if len(matching) > offset + size else ""
        return Page(items=page, next_page_token=token, total_size=len(matching))


def _sort_key(value: Any) -> Any:
    return (value is not None, value if value is not None else 0)


def _sort_key_of(name: str) -> Callable[[Any], Any]:
    """The sort key of an item's `name` attribute."""
    return lambda item: _sort_key(getattr(item, name))


def _matches(expr: Expr, item: Any, fields: Sequence[str]) -> bool:
    if isinstance(expr, And):
        return all(_matches(e, item, fields) for e in expr.items)
    if isinstance(expr, Or):
        return any(_matches(e, item, fields) for e in expr.items)
    if isinstance(expr, Not):
        return not _matches(expr.item, item, fields)
    return _compare(expr, item, fields)


def _compare(cmp: Comparison, item: Any, fields: Sequence[str]) -> bool:
    name = ".".join(cmp.path)
    if name not in fields:
        raise FilterError(f"unknown field {name!r}; fields: {', '.join(fields)}", cmp.position)
    actual = getattr(item, name)
    text = cmp.value.text
    if isinstance(actual, bool):
        if text not in ("true", "false") or cmp.op not in ("=", "!="):
            raise FilterError(f"{name} is true or false, compared with = or !=", cmp.position)
        return (actual == (text == "true")) == (cmp.op == "=")
    if isinstance(actual, datetime) or name.endswith("_time"):
        expected: Any = _timestamp(text, cmp)
        if actual is None:
            return cmp.op == "!="
    else:
        expected = text
        actual = str(actual)
    if cmp.op == ":":
        if isinstance(expected, datetime):
            raise FilterError(f"{name} is a time: compare it with = != < <= > >=", cmp.position)
        return text == "*" and bool(actual) or expected.lower() in actual.lower()
    compare: Mapping[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return compare[cmp.op](actual, expected)


def _timestamp(text: str, cmp: Comparison) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"{text!r} is not an RFC 3339 time such as 2026-01-31T12:00:00Z", cmp.position) from None
    if value.tzinfo is None:
        raise FilterError(f"{text!r} needs a time zone, such as Z", cmp.position)
    return value.astimezone(UTC).replace(tzinfo=None)
