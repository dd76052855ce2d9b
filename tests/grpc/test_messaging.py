"""MessagingService through real stubs against a server with authentication: a service key (scope
`messaging.send`) sends notifications to a connected principal, to an offline one (delivered on reconnect,
highest priority first, expired ones never), to a session's followers and to everyone; acknowledgements show
as read; users cannot send or see others' messages; request_id replays; rate limits apply. Requests are
answered over Connect (waiting and durable forms), expire unanswered, queue for offline clients, and a
restart between send and reconnect loses nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf import struct_pb2

from runwire.server.app import RunwireServer
from runwire.server.config import RateLimitOverride, RateLimitSettings, Settings
from runwire.v1 import admin_pb2, event_pb2, event_pb2_grpc, messaging_pb2, messaging_pb2_grpc
from tests.conftest import rpc_error
from tests.grpc.secure_support import (
    ADMIN_KEY,
    STREAM_TIMEOUT,
    Caller,
    api_key,
    caller,
    create_key,
    running,
    secure_settings,
)
from tests.grpc.test_connect import Connection, kind

Message = messaging_pb2.ServerMessage
Priority = event_pb2.Notification.Priority
Resolved = event_pb2.RequestResolved
SEND = "messaging.send"


class Party:
    """One principal: its credential's stubs, and its Connect streams."""

    def __init__(self, caller: Caller, principal: str) -> None:
        self.caller = caller
        self.principal = principal
        self.messaging = messaging_pb2_grpc.MessagingServiceStub(caller.channel)

    @property
    def name(self) -> str:
        return f"principals/{self.principal}"

    async def connect(self, *, accept_requests: bool = False) -> Connection:
        connection = Connection(self.caller.channel, self.caller.metadata)
        await connection.next("connected")
        if accept_requests:
            await connection.send(hello=event_pb2.ConnectHello(client_name="test", accept_input_requests=True))
        return connection

    async def notify(self, recipient: messaging_pb2.Recipient, text: str = "hello", **fields: object) -> Message:
        ttl = fields.pop("ttl", None)
        request_id = str(fields.pop("request_id", ""))
        request = messaging_pb2.SendNotificationRequest(
            notification=Message(recipient=recipient, text=text, **fields), request_id=request_id  # type: ignore[arg-type]
        )
        if ttl is not None:
            request.ttl.FromNanoseconds(int(float(ttl) * 1e9))  # type: ignore[arg-type]
        return await self.messaging.SendNotification(request)

    def ask(
        self,
        recipient: str,
        text: str = "Proceed?",
        *,
        wait: bool = False,
        ttl: float | None = None,
        timeout: float = STREAM_TIMEOUT,
    ) -> Awaitable[Message]:
        request = messaging_pb2.SendRequestRequest(
            request=Message(recipient=messaging_pb2.Recipient(principal=recipient), text=text), wait=wait
        )
        if ttl is not None:
            request.ttl.FromNanoseconds(int(ttl * 1e9))
        return self.messaging.SendRequest(request, timeout=timeout)

    async def get(self, name: str) -> Message:
        return await self.messaging.GetServerMessage(messaging_pb2.GetServerMessageRequest(name=name))

    async def inbox(self, filter: str = "") -> list[Message]:
        response = await self.messaging.ListServerMessages(messaging_pb2.ListServerMessagesRequest(filter=filter))
        return list(response.server_messages)


@asynccontextmanager
async def parties(server: RunwireServer, *principals: str) -> AsyncIterator[list[Party]]:
    """A service (`svc:alerts`, scope messaging.send) and a user key for each principal."""
    async with caller(server, api_key(ADMIN_KEY)) as admin:
        service_key = await create_key(admin, "svc:alerts", scopes=[SEND])
        secrets = [(await create_key(admin, p)).secret for p in principals]
    async with caller(server, api_key(service_key.secret)) as service:
        found = [Party(service, "svc:alerts")]
        async with _callers(server, secrets) as users:
            found.extend(Party(c, p) for c, p in zip(users, principals, strict=True))
            yield found


@asynccontextmanager
async def _callers(server: RunwireServer, secrets: list[str]) -> AsyncIterator[list[Caller]]:
    if not secrets:
        yield []
        return
    async with caller(server, api_key(secrets[0])) as first, _callers(server, secrets[1:]) as rest:
        yield [first, *rest]


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + STREAM_TIMEOUT
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


def to(principal: str) -> messaging_pb2.Recipient:
    return messaging_pb2.Recipient(principal=principal)


async def test_notification_reaches_a_connected_principal_and_its_acknowledgement_shows_as_read(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        connection = await alice.connect()
        data = struct_pb2.Struct()
        data.update({"invoice": "inv-7", "amount": 12})
        sent = await service.notify(
            to(alice.name), "Your invoice is ready", title="Billing", priority=Priority.PRIORITY_HIGH, data=data
        )
        assert sent.kind == Message.KIND_NOTIFICATION and sent.sender == "svc:alerts"
        assert [(d.principal, d.state) for d in sent.deliveries] == [(alice.name, Message.STATE_QUEUED)]

        got = (await connection.next("notification")).notification
        assert (got.name, got.title, got.text, got.priority, got.sender) == (
            sent.name, "Billing", "Your invoice is ready", Priority.PRIORITY_HIGH, "svc:alerts"
        )
        assert dict(got.data) == {"invoice": "inv-7", "amount": 12}

        async def state_is(state: int) -> bool:
            return (await service.get(sent.name)).deliveries[0].state == state

        await eventually(lambda: state_is(Message.STATE_DELIVERED))
        await connection.send(notification_ack=event_pb2.NotificationAck(name=sent.name))
        await eventually(lambda: state_is(Message.STATE_READ))
        seen = await service.get(sent.name)
        assert seen.state == Message.STATE_READ and seen.deliveries[0].HasField("read_time")
        # The recipient's inbox shows it read; the unread filter leaves it out.
        [mine] = await alice.inbox()
        assert mine.name == sent.name and mine.state == Message.STATE_READ
        assert await alice.inbox("read = false") == []
        # An unknown name on the stream is answered with an error; the stream stays open.
        await connection.send("x", notification_ack=event_pb2.NotificationAck(name="serverMessages/nope-nope"))
        error = await connection.next("error")
        assert error.correlation_id == "x" and error.error.code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_subscribe_receives_the_callers_notifications_on_their_topic(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice", "bob") as (service, alice, bob):
        stream = event_pb2_grpc.EventServiceStub(alice.caller.channel).Subscribe(
            event_pb2.SubscribeRequest(topics=[event_pb2.EVENT_TOPIC_NOTIFICATIONS], from_now=True), timeout=STREAM_TIMEOUT
        )
        assert (await stream.read()).WhichOneof("message") == "caught_up"
        await service.notify(to(bob.name), "for bob only")
        sent = await service.notify(to(alice.name), "for alice")
        response = await stream.read()
        assert response.event.type == "notification.created" and response.event.notification.name == sent.name
        assert response.event.notification.text == "for alice"
        stream.cancel()


async def test_an_offline_principal_gets_its_backlog_on_reconnect_highest_priority_first_and_never_expired_ones(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        low = await service.notify(to(alice.name), "low", priority=Priority.PRIORITY_LOW)
        urgent = await service.notify(to(alice.name), "urgent", priority=Priority.PRIORITY_URGENT)
        short = await service.notify(to(alice.name), "gone soon", priority=Priority.PRIORITY_URGENT, ttl=0.2)
        high = await service.notify(to(alice.name), "high", priority=Priority.PRIORITY_HIGH)
        await eventually(lambda: _state(service, short.name, Message.STATE_EXPIRED))

        connection = await alice.connect()
        received = [r.notification.name for r in await connection.until(lambda r: kind(r) == "notification" and r.notification.name == low.name)]
        assert [n for n in received if n] == [urgent.name, high.name, low.name]
        marker = await service.notify(to(alice.name), "marker")
        await connection.until(lambda r: kind(r) == "notification" and r.notification.name == marker.name)
        assert short.name not in {r.notification.name for r in connection.seen}
        assert (await service.get(short.name)).state == Message.STATE_EXPIRED


async def _state(party: Party, name: str, state: int) -> bool:
    return (await party.get(name)).state == state


async def test_followers_of_a_session_and_everyone(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice", "bob") as (service, alice, bob):
        session = await alice.caller.session()
        alice_stream, bob_stream = await alice.connect(), await bob.connect()
        followers = await service.notify(messaging_pb2.Recipient(followers_of=session.name), "your session changed")
        assert followers.resource == session.name
        assert [d.principal for d in followers.deliveries] == [alice.name]
        got = (await alice_stream.next("notification")).notification
        assert got.name == followers.name and got.resource == session.name

        everyone = await service.notify(messaging_pb2.Recipient(everyone=True), "maintenance at noon")
        assert (await alice_stream.next("notification")).notification.name == everyone.name
        assert (await bob_stream.next("notification")).notification.name == everyone.name
        # Bob never got the session's notification; each inbox holds its own.
        assert followers.name not in {r.notification.name for r in bob_stream.seen}
        assert [m.name for m in await bob.inbox()] == [everyone.name]
        assert [m.name for m in await alice.inbox()] == [everyone.name, followers.name]

        async def both_delivered() -> bool:
            message = await service.get(everyone.name)
            return {(d.principal, d.state) for d in message.deliveries} == {
                (alice.name, Message.STATE_DELIVERED), (bob.name, Message.STATE_DELIVERED)
            }

        await eventually(both_delivered)
        # A resource that does not exist is NOT_FOUND with its own reason.
        failure = await rpc_error(service.notify(messaging_pb2.Recipient(followers_of="sessions/nope-nope"), "x"))
        assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")


async def test_a_user_cannot_send_nor_see_other_principals_messages(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice", "bob") as (service, alice, bob):
        failure = await rpc_error(alice.notify(to(bob.name), "hi bob"))
        assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        assert failure.metadata["required_scope"] == SEND
        failure = await rpc_error(alice.ask(bob.name))
        assert failure.code == grpc.StatusCode.PERMISSION_DENIED

        sent = await service.notify(to(alice.name), "private")
        failure = await rpc_error(bob.get(sent.name))
        assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "SERVER_MESSAGE_NOT_FOUND")
        failure = await rpc_error(bob.messaging.AcknowledgeServerMessage(messaging_pb2.AcknowledgeServerMessageRequest(name=sent.name)))
        assert failure.reason == "SERVER_MESSAGE_NOT_FOUND"
        assert await bob.inbox() == []
        # A recipient sees its own delivery only.
        assert [d.principal for d in (await alice.get(sent.name)).deliveries] == [alice.name]

        # Connections: a user lists its own only; the service sees every one it may address.
        alice_stream, _ = await alice.connect(), await bob.connect()
        listed = await alice.messaging.ListRecipientConnections(messaging_pb2.ListRecipientConnectionsRequest(principal=bob.name))
        assert list(listed.connections) == []
        listed = await alice.messaging.ListRecipientConnections(messaging_pb2.ListRecipientConnectionsRequest())
        assert [c.principal for c in listed.connections] == ["alice"]
        listed = await service.messaging.ListRecipientConnections(messaging_pb2.ListRecipientConnectionsRequest())
        assert sorted(c.principal for c in listed.connections) == ["alice", "bob"]
        del alice_stream

        # Bad input: every problem named.
        failure = await rpc_error(service.notify(messaging_pb2.Recipient(principal="alice"), ""))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert set(failure.field_violations) == {"notification.recipient.principal", "notification.text"}
        failure = await rpc_error(service.notify(to(alice.name), "x", ttl=-1))
        assert "ttl" in failure.field_violations
        failure = await rpc_error(
            service.messaging.SendRequest(
                messaging_pb2.SendRequestRequest(request=Message(recipient=messaging_pb2.Recipient(everyone=True), text="all?"))
            )
        )
        assert "request.recipient.everyone" in failure.field_violations


async def test_an_api_key_scope_must_be_known(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        failure = await rpc_error(create_key(admin, "svc:x", scopes=["messaging.everything"]))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and "api_key.scopes[0]" in failure.field_violations
        created = await create_key(admin, "svc:x", scopes=[SEND])
        assert list(created.api_key.scopes) == [SEND]


async def test_request_id_makes_a_send_idempotent(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        request_id = str(uuid.uuid4())
        first = await service.notify(to(alice.name), "once", request_id=request_id)
        again = await service.notify(to(alice.name), "once", request_id=request_id)
        assert again.name == first.name
        assert [m.name for m in await alice.inbox()] == [first.name]
        failure = await rpc_error(service.notify(to(alice.name), "something else", request_id=request_id))
        assert failure.reason == "REQUEST_ID_REUSED"


async def test_rate_limits_apply_to_senders(tmp_path: Path) -> None:
    limits = RateLimitSettings(
        overrides=(RateLimitOverride(rate=0.01, burst=1, method="/runwire.v1.MessagingService/SendNotification"),)
    )
    async with running(secure_settings(tmp_path, rate_limits=limits)) as server, parties(server, "alice") as (service, alice):
        await service.notify(to(alice.name), "one")
        failure = await rpc_error(service.notify(to(alice.name), "two"))
        assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_request_answered_over_connect_returns_to_a_waiting_sender(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        connection = await alice.connect(accept_requests=True)
        waiting = asyncio.ensure_future(service.ask(alice.name, "Deploy to production?", wait=True))
        offered = (await connection.next("request")).request
        assert offered.id.startswith("serverMessages/") and offered.message_request.text == "Deploy to production?"
        await connection.send("a1", response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, text="yes"))
        resolved = await connection.next("request_resolved")
        assert (resolved.correlation_id, resolved.request_resolved.outcome) == ("a1", Resolved.OUTCOME_ANSWERED)
        answered = await asyncio.wait_for(waiting, STREAM_TIMEOUT)
        assert answered.state == Message.STATE_ANSWERED and answered.answer.text == "yes" and answered.answered_by == alice.name
        # A second answer is refused: the first stands.
        await connection.send("a2", response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, text="no"))
        error = await connection.next("error")
        assert error.correlation_id == "a2" and error.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]


async def test_a_request_to_an_offline_principal_is_delivered_when_it_connects_and_fetched_later(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        sent = await service.ask(alice.name, "Pick a slot")
        assert sent.state == Message.STATE_QUEUED
        connection = await alice.connect()
        await connection.send("p", ping=event_pb2.Ping())
        await connection.next("pong")
        assert "request" not in {kind(r) for r in connection.seen}, "only clients that accept requests get them"
        await connection.send(hello=event_pb2.ConnectHello(accept_input_requests=True))
        offered = (await connection.next("request")).request
        assert offered.id == sent.name
        answer = struct_pb2.Struct()
        answer.update({"slot": "tuesday"})
        await connection.send(response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, data=answer))
        await connection.next("request_resolved")
        fetched = await service.get(sent.name)
        assert fetched.state == Message.STATE_ANSWERED and dict(fetched.answer.data) == {"slot": "tuesday"}


async def test_an_unanswered_request_expires(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, parties(server, "alice") as (service, alice):
        connection = await alice.connect(accept_requests=True)
        waiting = asyncio.ensure_future(service.ask(alice.name, "Still there?", wait=True, ttl=0.5))
        offered = (await connection.next("request")).request
        resolved = (await connection.next("request_resolved")).request_resolved
        assert (resolved.server_request_id, resolved.outcome) == (offered.id, Resolved.OUTCOME_EXPIRED)
        expired = await asyncio.wait_for(waiting, STREAM_TIMEOUT)
        assert expired.state == Message.STATE_EXPIRED and not expired.HasField("answer")
        await connection.send("late", response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, text="yes"))
        error = await connection.next("error")
        assert error.error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
        # A call deadline before the request's expiry ends the wait with DEADLINE_EXCEEDED; the request stays.
        failure = await rpc_error(service.ask(alice.name, "Quick?", wait=True, ttl=60, timeout=1.0))
        assert (failure.code, failure.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
        pending = await service.get(failure.metadata["resource"])
        assert pending.text == "Quick?" and pending.state in (Message.STATE_QUEUED, Message.STATE_DELIVERED)


async def test_a_restart_between_send_and_reconnect_loses_nothing(tmp_path: Path) -> None:
    settings: Settings = secure_settings(tmp_path)
    async with running(settings) as server, parties(server, "alice") as (service, alice):
        note = await service.notify(to(alice.name), "sent before the restart", priority=Priority.PRIORITY_HIGH)
        request = await service.ask(alice.name, "Answer after the restart", ttl=600)
        async with caller(server, api_key(ADMIN_KEY)) as admin:
            keys = await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(filter='principal = "alice"'))
            assert len(keys.api_keys) == 1
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        secret = (await create_key(admin, "alice")).secret
        async with caller(server, api_key(secret)) as user:
            alice = Party(user, "alice")
            connection = await alice.connect(accept_requests=True)
            got = await connection.until(lambda r: kind(r) == "request")
            assert note.name in {r.notification.name for r in got}
            await connection.send(response=event_pb2.ServerRequestAnswer(server_request_id=request.name, text="done"))
            await connection.next("request_resolved")
            assert (await alice.get(request.name)).state == Message.STATE_ANSWERED
