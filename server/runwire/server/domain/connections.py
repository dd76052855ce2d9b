"""Connect streams: several subscriptions on one bidirectional stream, pings both ways, and input
requests of the caller's runs that the client answers on the same stream.

Each connection has one bounded outbound queue; the servicer writes what comes out of it. Its
subscriptions follow the resource event log (domain/resource_events.py) and wait when the queue is
full; a subscription that then falls out of the log's live buffer, or a control message (pong,
request, error) that finds the queue full, makes the connection a slow consumer: it is told
(`going_away` SLOW_CONSUMER, with where each subscription stopped) and closed.

`ConnectionRegistry` holds the live connections of this process, for AdminService.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator, Callable

from runwire.server.config import EventSettings
from runwire.server.core.clock import Clock, utc_now
from runwire.server.core.errors import DomainError, InvalidArgument, NotFound, ResourceExhausted
from runwire.server.core.principal import Principal
from runwire.server.domain.messaging import KIND_REQUEST, MessagingService, notification_proto, server_request_proto
from runwire.server.domain.resource_events import EventFilter, ResourceEvents, Topic, build_filter
from runwire.v1 import event_pb2, run_pb2

log = logging.getLogger("runwire.connections")

MAX_CORRELATION_ID = 64
MAX_NONCE = 64
MAX_CLIENT_TEXT = 200
_CLOSE = object()
_RUN_ENDS = {"run.succeeded", "run.failed", "run.cancelled", "run.timed_out"}
Resolved = event_pb2.RequestResolved
GoingAway = event_pb2.GoingAway


@dataclass
class SubscriptionInfo:
    """A subscription open on a connection."""

    id: str
    name: str
    topics: list[int]
    resources: list[str]
    types: list[str]
    # Position of the last event written to the client (None: none yet).
    last_pk: int | None = None
    events_sent: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass
class Connection:
    """What AdminService shows of a live Connect stream."""

    id: str
    principal: str
    peer: str
    user_agent: str
    connect_time: datetime
    last_activity_time: datetime
    client_name: str = ""
    client_version: str = ""
    accept_input_requests: bool = False
    messages_sent: int = 0
    messages_received: int = 0
    subscriptions: dict[str, SubscriptionInfo] = field(default_factory=dict)


class ConnectionRegistry:
    """The live Connect connections of this process, by id."""

    def __init__(self) -> None:
        self._connections: dict[str, Connection] = {}

    def add(self, connection: Connection) -> None:
        self._connections[connection.id] = connection

    def remove(self, connection_id: str) -> None:
        self._connections.pop(connection_id, None)

    def get(self, connection_id: str) -> Connection | None:
        return self._connections.get(connection_id)

    def list(self) -> list[Connection]:
        """A snapshot, newest first."""
        return sorted(self._connections.values(), key=lambda c: c.connect_time, reverse=True)

    def __len__(self) -> int:
        return len(self._connections)


class ConnectService:
    """Opens connections and closes them all on shutdown."""

    def __init__(
        self,
        events: ResourceEvents,
        runs: Any,
        settings: EventSettings,
        server_version: str,
        registry: ConnectionRegistry | None = None,
        clock: Clock = utc_now,
        messaging: MessagingService | None = None,
    ) -> None:
        self.events = events
        # domain.runs.RunService: pending input requests and answers (typed loosely: runs imports the engine).
        self.runs = runs
        self.settings = settings
        self.server_version = server_version
        self.registry = registry or ConnectionRegistry()
        self.clock = clock
        # Notifications and requests services send (MessagingService), delivered on every connection.
        self.messaging = messaging
        self._live: dict[str, ConnectSession] = {}
        self.shutting_down = False

    def open(
        self,
        principal: Principal,
        *,
        peer: str,
        user_agent: str,
        error_status: Callable[[DomainError], Any],
    ) -> ConnectSession:
        now = self.clock()
        info = Connection(
            id=str(uuid.uuid4()),
            principal=principal.id,
            peer=peer,
            user_agent=user_agent[:MAX_CLIENT_TEXT],
            connect_time=now,
            last_activity_time=now,
        )
        return ConnectSession(self, principal, info, error_status)

    def notify(self, principal_id: str, level: int, text: str, resource: str = "") -> int:
        """Send a notification to every connection of `principal_id`; returns how many got it."""
        sessions = [s for s in self._live.values() if s.principal.id == principal_id]
        for session in sessions:
            session.notify(level, text, resource)
        return len(sessions)

    async def shutdown(self) -> None:
        """Tell every connection to reconnect elsewhere, with where each subscription stopped."""
        self.shutting_down = True
        for session in list(self._live.values()):
            session.close(GoingAway.REASON_SHUTTING_DOWN, "the server is shutting down; reconnect and resume from these cursors")
        closed = [asyncio.ensure_future(s.done.wait()) for s in self._live.values() if s.done is not None]
        if closed:
            await asyncio.wait(closed, timeout=2.0)


class ConnectSession:
    """One Connect stream: reads the client's messages, runs its subscriptions, pings, forwards input requests."""

    def __init__(self, service: ConnectService, principal: Principal, info: Connection, error_status: Callable[[DomainError], Any]) -> None:
        self.service = service
        self.events = service.events
        self.principal = principal
        self.info = info
        self._error_status = error_status
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=service.settings.event_connect_buffer)
        self._sub_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._last_heard = asyncio.get_running_loop().time()
        self._hello_seen = False
        # Input requests sent on this connection: request id -> run name; and those already resolved.
        self._requests: dict[str, str] = {}
        self._resolved: set[str] = set()
        self._answering: set[str] = set()
        # MessagingService: notifications sent here; requests sent here (by id), and those waiting for the
        # client to accept input requests; the timers that resolve requests as expired.
        self._notified: set[str] = set()
        self._message_requests: set[str] = set()
        self._held_requests: dict[str, event_pb2.ServerRequest] = {}
        self._expiry_timers: list[asyncio.TimerHandle] = []
        self.done: asyncio.Event | None = None
        # Why the client's half of the stream failed (a message that does not decode): the call ends with it.
        self._failure: DomainError | None = None

    # -- the stream -----------------------------------------------------------------

    async def run(self, requests: AsyncIterator[event_pb2.ConnectRequest]) -> AsyncIterator[event_pb2.ConnectResponse]:
        settings = self.service.settings
        connected = event_pb2.Connected(
            connection_id=self.info.id,
            principal=self.principal.id,
            max_subscriptions=settings.event_max_subscriptions,
            server_version=self.service.server_version,
        )
        connected.heartbeat_interval.FromNanoseconds(int(settings.event_heartbeat_seconds * 1e9))
        connected.server_time.GetCurrentTime()
        self.done = asyncio.Event()
        self.service.registry.add(self.info)
        self.service._live[self.info.id] = self
        try:
            self.info.messages_sent += 1
            yield event_pb2.ConnectResponse(connected=connected)
            if self.service.shutting_down:
                self.close(GoingAway.REASON_SHUTTING_DOWN, "the server is shutting down")
            self._spawn(self._read(requests), "reader")
            self._spawn(self._ping_forever(), "pinger")
            if self.service.messaging is not None:
                self._spawn(self._forward_messages(self.service.messaging), "messages")
            while True:
                item = await self._queue.get()
                if item is _CLOSE:
                    if self._failure is not None:
                        raise self._failure
                    return
                message, subscription, pk = item
                if subscription is not None:
                    if subscription.id not in self.info.subscriptions:
                        continue  # unsubscribed meanwhile
                    subscription.last_pk = pk
                    subscription.events_sent += 1
                self.info.messages_sent += 1
                self.info.last_activity_time = self.service.clock()
                yield message
        finally:
            self._closing = True
            for task in list(self._tasks):
                task.cancel()
            for timer in self._expiry_timers:
                timer.cancel()
            for subscription in self.info.subscriptions.values():
                if subscription.task is not None:
                    subscription.task.cancel()
            self.service.registry.remove(self.info.id)
            self.service._live.pop(self.info.id, None)
            self.done.set()

    def _spawn(self, work: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"connect-{self.info.id[:8]}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close(self, reason: int, text: str) -> None:
        """Send `going_away` (bypassing the queue's bound: what was queued is dropped, the positions say
        where to resume) and end the stream."""
        if self._closing:
            return
        self._closing = True
        while not self._queue.empty():
            self._queue.get_nowait()
        going = GoingAway(reason=GoingAway.Reason.ValueType(reason), message=text)
        for subscription in self.info.subscriptions.values():
            if subscription.task is not None:
                subscription.task.cancel()
            going.positions.add(
                subscription_id=subscription.id,
                subscription_name=subscription.name,
                cursor=self.events.cursor(subscription.last_pk) if subscription.last_pk is not None else "",
            )
        self._queue.put_nowait((event_pb2.ConnectResponse(going_away=going), None, None))
        self._queue.put_nowait(_CLOSE)

    def _end(self) -> None:
        """End the stream without a message (the client went away)."""
        if not self._closing:
            self._closing = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_CLOSE)

    def _send(self, message: event_pb2.ConnectResponse) -> None:
        """A control message; a queue still full of undelivered messages means the client does not read."""
        if self._closing:
            return
        try:
            self._queue.put_nowait((message, None, None))
        except asyncio.QueueFull:
            self._slow()

    def _slow(self) -> None:
        self.close(GoingAway.REASON_SLOW_CONSUMER, "the client read too slowly; reconnect and resume from these cursors")

    def notify(self, level: int, text: str, resource: str = "") -> None:
        notification = event_pb2.Notification(level=event_pb2.Notification.Level.ValueType(level), text=text, resource=resource)
        notification.create_time.GetCurrentTime()
        self._send(event_pb2.ConnectResponse(notification=notification))

    def _error(self, correlation_id: str, error: DomainError) -> None:
        self._send(event_pb2.ConnectResponse(correlation_id=correlation_id, error=self._error_status(error)))

    # -- the client's messages ----------------------------------------------------------

    async def _read(self, requests: AsyncIterator[event_pb2.ConnectRequest]) -> None:
        try:
            async for request in requests:
                self._last_heard = asyncio.get_running_loop().time()
                self.info.messages_received += 1
                self.info.last_activity_time = self.service.clock()
                correlation = request.correlation_id
                if len(correlation) > MAX_CORRELATION_ID:
                    self._error("", InvalidArgument.field("correlation_id", f"is longer than {MAX_CORRELATION_ID} characters"))
                    continue
                try:
                    await self._handle(request)
                except DomainError as error:
                    self._error(correlation, error)
        except asyncio.CancelledError:
            raise
        except DomainError as error:  # raised by the stream itself, not by a message's handling
            self._failure = error
        except Exception:
            log.exception("connection %s failed", self.info.id)
        self._end()

    async def _handle(self, request: event_pb2.ConnectRequest) -> None:
        kind = request.WhichOneof("message")
        correlation = request.correlation_id
        if kind == "ping":
            nonce = request.ping.nonce[:MAX_NONCE]
            self._send(event_pb2.ConnectResponse(correlation_id=correlation, pong=event_pb2.Pong(nonce=nonce)))
        elif kind == "pong":
            pass  # hearing from the client is what counts
        elif kind == "hello":
            self._hello(request.hello)
        elif kind == "subscribe":
            await self._subscribe(correlation, request.subscribe)
        elif kind == "unsubscribe":
            self._unsubscribe(correlation, request.unsubscribe.subscription_id)
        elif kind == "ack":
            subscription = self._subscription(request.ack.subscription_id, "ack.subscription_id")
            if not subscription.name:
                raise InvalidArgument.field("ack.subscription_id", "names a subscription opened without a subscription_name")
            await self.events.acknowledge(self.principal, subscription.name, request.ack.cursor, field_prefix="ack.")
        elif kind == "response":
            await self._answer(correlation, request.response)
        elif kind == "notification_ack":
            if self.service.messaging is None:
                raise InvalidArgument.field("notification_ack", "this server does not deliver messages")
            await self.service.messaging.acknowledge(self.principal, request.notification_ack.name, field="notification_ack.name")
        else:
            raise InvalidArgument.field(
                "message", "set one of hello, subscribe, unsubscribe, ping, pong, ack, response, notification_ack"
            )

    def _hello(self, hello: event_pb2.ConnectHello) -> None:
        if self._hello_seen:
            raise InvalidArgument.field("hello", "was already sent on this connection")
        self._hello_seen = True
        self.info.client_name = hello.client_name[:MAX_CLIENT_TEXT]
        self.info.client_version = hello.client_version[:MAX_CLIENT_TEXT]
        if hello.accept_input_requests:
            self.info.accept_input_requests = True
            self._spawn(self._forward_input_requests(), "input")
            if self._held_requests:
                self._spawn(self._offer_held_requests(), "held-requests")

    def _subscription(self, subscription_id: str, field_path: str) -> SubscriptionInfo:
        subscription = self.info.subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFound(
                f"no subscription {subscription_id!r} is open on this connection",
                reason="SUBSCRIPTION_NOT_FOUND",
                metadata={"subscription_id": subscription_id, "field": field_path},
            )
        return subscription

    async def _subscribe(self, correlation: str, request: event_pb2.SubscribeRequest) -> None:
        limit = self.service.settings.event_max_subscriptions
        if len(self.info.subscriptions) >= limit:
            raise ResourceExhausted(
                f"this connection has {limit} subscriptions open, the most it may; unsubscribe first",
                reason="STREAM_LIMIT_EXCEEDED",
                metadata={"limit": str(limit)},
            )
        flt = build_filter(
            self.principal,
            topics=list(request.topics),
            resources=list(request.resources),
            types=list(request.types),
            all_principals=request.all_principals,
            prefix="subscribe.",
        )
        start = request.WhichOneof("start")
        after = await self.events.start_position(
            self.principal,
            cursor=request.cursor if start == "cursor" else "",
            from_now=start == "from_now",
            from_beginning=start == "from_beginning_of_retention",
            subscription_name=request.subscription_name,
            field_prefix="subscribe.",
        )
        subscription = SubscriptionInfo(
            id=f"s{next(self._sub_ids)}",
            name=request.subscription_name,
            topics=[int(t) for t in request.topics],
            resources=list(request.resources),
            types=list(request.types),
        )
        self.info.subscriptions[subscription.id] = subscription
        subscribed = event_pb2.Subscribed(
            subscription_id=subscription.id, subscription_name=subscription.name, start_cursor=self.events.cursor(after)
        )
        self._send(event_pb2.ConnectResponse(correlation_id=correlation, subscribed=subscribed))
        subscription.task = self._spawn(self._pump(correlation, subscription, flt, after), f"sub-{subscription.id}")

    def _unsubscribe(self, correlation: str, subscription_id: str) -> None:
        subscription = self._subscription(subscription_id, "unsubscribe.subscription_id")
        if subscription.task is not None:
            subscription.task.cancel()
        del self.info.subscriptions[subscription.id]
        last = self.events.cursor(subscription.last_pk) if subscription.last_pk is not None else ""
        self._send(
            event_pb2.ConnectResponse(
                correlation_id=correlation,
                unsubscribed=event_pb2.Unsubscribed(subscription_id=subscription.id, last_cursor=last),
            )
        )

    async def _pump(self, correlation: str, subscription: SubscriptionInfo, flt: EventFilter, after: int) -> None:
        """One subscription's events into the connection's queue, waiting while the queue is full."""
        try:
            async for item in self.events.follow(flt, after):
                if item.kind == "event":
                    assert item.event is not None
                    message = event_pb2.ConnectResponse(
                        event=event_pb2.SubscriptionEvent(subscription_id=subscription.id, event=item.event.event)
                    )
                    await self._queue.put((message, subscription, item.pk))
                elif item.kind == "caught_up":
                    caught_up = event_pb2.CaughtUp(subscription_id=subscription.id, cursor=self.events.cursor(item.pk))
                    await self._queue.put((event_pb2.ConnectResponse(caught_up=caught_up), None, None))
        except asyncio.CancelledError:
            raise
        except DomainError as error:
            if error.reason == "SLOW_CONSUMER":
                self._slow()
                return
            # The subscription cannot go on (its cursor expired during the replay): it is closed.
            self.info.subscriptions.pop(subscription.id, None)
            self._error(correlation, error)

    async def _ping_forever(self) -> None:
        interval = self.service.settings.event_heartbeat_seconds
        loop = asyncio.get_running_loop()
        nonces = itertools.count(1)
        while True:
            await asyncio.sleep(interval)
            if loop.time() - self._last_heard > 2 * interval:
                self.close(GoingAway.REASON_HEARTBEAT_TIMEOUT, "the client did not answer pings")
                return
            self._send(event_pb2.ConnectResponse(ping=event_pb2.Ping(nonce=str(next(nonces)))))

    # -- input requests -------------------------------------------------------------

    async def _forward_input_requests(self) -> None:
        """Every pending input request of the caller's runs, now and as they arise, and their resolution."""
        flt = EventFilter(
            principal=self.principal.id,
            topics=frozenset({int(Topic.EVENT_TOPIC_RUNS)}),
            exact_types=frozenset({"run.requires_input", "run.resumed", *_RUN_ENDS}),
        )
        after = await self.events.start_position(self.principal)
        for run_name, request in await self.service.runs.pending_input_requests(self.principal):
            await self._offer(run_name, request)
        async for item in self.events.follow(flt, after):
            if item.kind != "event" or item.event is None:
                continue
            logged = item.event
            run = logged.event.run
            if logged.type == "run.requires_input" and run.HasField("pending_input"):
                await self._offer(run.name, run.pending_input)
            else:
                for request_id, run_name in list(self._requests.items()):
                    if run_name != run.name or request_id in self._resolved or request_id in self._answering:
                        continue
                    if logged.type == "run.resumed":
                        outcome = Resolved.OUTCOME_ANSWERED
                    elif run.error.reason == "INPUT_TIMEOUT":
                        outcome = Resolved.OUTCOME_EXPIRED
                    else:
                        outcome = Resolved.OUTCOME_WITHDRAWN
                    self._resolve(request_id, outcome)
                    if outcome == Resolved.OUTCOME_EXPIRED:
                        self.notify(
                            event_pb2.Notification.LEVEL_WARNING,
                            f"{run.name} failed: nobody answered its input request in time",
                            run.name,
                        )

    async def _offer(self, run_name: str, request: run_pb2.InputRequest) -> None:
        if request.id in self._requests:
            return
        self._requests[request.id] = run_name
        offered = event_pb2.ServerRequest(
            id=request.id, create_time=request.create_time, expire_time=request.expire_time, input_request=request
        )
        await self._queue.put((event_pb2.ConnectResponse(request=offered), None, None))

    def _resolve(self, request_id: str, outcome: int, answered_by: str = "", correlation: str = "") -> None:
        if request_id in self._resolved:
            return
        self._resolved.add(request_id)
        resolved = Resolved(server_request_id=request_id, outcome=Resolved.Outcome.ValueType(outcome), answered_by=answered_by)
        self._send(event_pb2.ConnectResponse(correlation_id=correlation, request_resolved=resolved))

    async def _answer(self, correlation: str, answer: event_pb2.ServerRequestAnswer) -> None:
        """The client's answer: to a service's request, through MessagingService; to a run's, exactly as
        RunService.SubmitInput takes it."""
        request_id = answer.server_request_id
        if not request_id:
            raise InvalidArgument.field("response.server_request_id", "is required")
        if request_id.startswith(_MESSAGE_PREFIX) and self.service.messaging is not None:
            self._answering.add(request_id)
            try:
                await self.service.messaging.answer(self.principal, request_id, answer)
            finally:
                self._answering.discard(request_id)
            self._resolve(request_id, Resolved.OUTCOME_ANSWERED, self.principal.id, correlation)
            return
        run_name = self._requests.get(request_id)
        if run_name is None:
            raise NotFound(
                f"no request {request_id!r} was sent on this connection",
                reason="INPUT_REQUEST_NOT_FOUND",
                metadata={"server_request_id": request_id},
            )
        which = answer.WhichOneof("answer")
        # Resolved below with who answered, not by the run's own `run.resumed` event.
        self._answering.add(request_id)
        try:
            await self.service.runs.submit_input(
                self.principal,
                run_name,
                request_id,
                approval=answer.approval if which == "approval" else None,
                text=answer.text if which == "text" else None,
                request_id=answer.request_id,
                fingerprint=_fingerprint(answer),
            )
        finally:
            self._answering.discard(request_id)
        self._resolve(request_id, Resolved.OUTCOME_ANSWERED, self.principal.id, correlation)


    # -- messages from services (MessagingService) ---------------------------------------------

    async def _forward_messages(self, messaging: MessagingService) -> None:
        """The backlog of the caller's messages, highest priority first, then new ones as they are sent."""
        flt = EventFilter(
            principal=self.principal.id,
            topics=frozenset({int(Topic.EVENT_TOPIC_NOTIFICATIONS)}),
            exact_types=frozenset({"notification.created", "server_request.created", "server_request.answered"}),
        )
        after = await self.events.start_position(self.principal)
        for row in await messaging.backlog(self.principal.id, requests=True):
            if row.kind == KIND_REQUEST:
                await self._offer_message_request(server_request_proto(row), row.connection_id)
            else:
                await self._deliver_notification(notification_proto(row))
        async for item in self.events.follow(flt, after):
            if item.kind != "event" or item.event is None:
                continue
            logged = item.event
            if logged.type == "notification.created":
                await self._deliver_notification(logged.event.notification)
            elif logged.type == "server_request.created":
                await self._offer_message_request(logged.event.server_request, await messaging.connection_of(logged.resource))
            else:  # answered: on another connection, or here (then already resolved)
                request_id = logged.event.server_request.id
                if request_id in self._message_requests and request_id not in self._answering:
                    self._resolve(request_id, Resolved.OUTCOME_ANSWERED, logged.principal)

    async def _deliver_notification(self, notification: event_pb2.Notification) -> None:
        if notification.name in self._notified:
            return
        self._notified.add(notification.name)
        await self._queue.put((event_pb2.ConnectResponse(notification=notification), None, None))
        assert self.service.messaging is not None
        self.service.messaging.delivered(notification.name, self.principal.id)

    async def _offer_message_request(self, request: event_pb2.ServerRequest, connection_id: str) -> None:
        if request.id in self._message_requests or request.id in self._held_requests:
            return
        if connection_id and connection_id != self.info.id:
            return  # addressed to another connection
        if not self.info.accept_input_requests:
            self._held_requests[request.id] = request
            return
        expire = request.expire_time.ToDatetime()
        if expire <= self.service.clock():
            return  # expired while held: never delivered
        self._message_requests.add(request.id)
        await self._queue.put((event_pb2.ConnectResponse(request=request), None, None))
        assert self.service.messaging is not None
        self.service.messaging.delivered(request.id, self.principal.id)
        delay = max(0.0, (expire - self.service.clock()).total_seconds())
        loop = asyncio.get_running_loop()
        self._expiry_timers.append(loop.call_later(delay, self._expire_request, request.id))

    async def _offer_held_requests(self) -> None:
        held, self._held_requests = self._held_requests, {}
        for request in held.values():
            await self._offer_message_request(request, "")

    def _expire_request(self, request_id: str) -> None:
        if request_id not in self._answering:
            self._resolve(request_id, Resolved.OUTCOME_EXPIRED)


_MESSAGE_PREFIX = "serverMessages/"


def _fingerprint(answer: event_pb2.ServerRequestAnswer) -> str:
    return hashlib.sha256(answer.SerializeToString(deterministic=True)).hexdigest()

