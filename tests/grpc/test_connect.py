"""EventService.Connect through real stubs: the connected greeting, subscriptions on the stream, pings both
ways, a run's approval answered on the stream, slow and silent clients dropped, going_away on shutdown, and
the registry of live connections.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import grpc
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from runwire.server.app import RunwireServer
from runwire.server.config import EventSettings
from runwire.v1 import admin_pb2, agent_pb2, event_pb2, event_pb2_grpc, run_pb2
from tests.conftest import Client, make_settings
from tests.grpc.run_support import APPROVE, STREAM_TIMEOUT, SUCCEEDED, connected, run_settings
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, running, secure_settings
from tests.grpc.test_events import SMALL_WINDOW, _stubs, caught_up, read_events, read_until, subscribe

Request = event_pb2.ConnectRequest
GoingAway = event_pb2.GoingAway
Resolved = event_pb2.RequestResolved
APPROVAL_DIRECTIVE = '[[tool:calculator {"expression": "6*7"}]]'


def kind(response: event_pb2.ConnectResponse) -> str:
    return response.WhichOneof("message") or ""


class Connection:
    """A Connect call with helpers to send and to read until a kind of message."""

    def __init__(self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.call = event_pb2_grpc.EventServiceStub(channel).Connect(timeout=STREAM_TIMEOUT, metadata=metadata or None)
        self.seen: list[event_pb2.ConnectResponse] = []

    async def send(self, correlation_id: str = "", **message: Any) -> None:
        await self.call.write(Request(correlation_id=correlation_id, **message))

    async def until(self, stop: Callable[[event_pb2.ConnectResponse], bool]) -> list[event_pb2.ConnectResponse]:
        start = len(self.seen)

        async def read() -> None:
            while True:
                response = await self.call.read()
                assert response is not grpc.aio.EOF, f"stream ended; seen {[kind(r) for r in self.seen]}"
                self.seen.append(response)
                if stop(response):
                    return

        await asyncio.wait_for(read(), STREAM_TIMEOUT)
        return self.seen[start:]

    async def next(self, wanted: str) -> event_pb2.ConnectResponse:
        return (await self.until(lambda r: kind(r) == wanted))[-1]

    async def subscribe(self, correlation_id: str = "sub", **request: Any) -> str:
        await self.send(correlation_id, subscribe=event_pb2.SubscribeRequest(**request))
        subscribed = await self.next("subscribed")
        assert subscribed.correlation_id == correlation_id
        await self.until(lambda r: kind(r) == "caught_up" and r.caught_up.subscription_id == subscribed.subscribed.subscription_id)
        return subscribed.subscribed.subscription_id

    async def events(self, count: int) -> list[event_pb2.SubscriptionEvent]:
        got: list[event_pb2.SubscriptionEvent] = []

        def stop(response: event_pb2.ConnectResponse) -> bool:
            if kind(response) == "event":
                got.append(response.event)
            return len(got) >= count

        await self.until(stop)
        return got


def error_reason(status: Any) -> str:
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


async def test_connect_greets_answers_pings_and_multiplexes_subscriptions(client: Client) -> None:
    connection = Connection(client.channel)
    await connection.send(hello=event_pb2.ConnectHello(client_name="dashboard", client_version="1.2"))
    greeting = await connection.next("connected")
    assert connection.seen[0] is greeting, "connected comes first"
    assert greeting.connected.connection_id and greeting.connected.principal == "local"
    assert greeting.connected.heartbeat_interval.seconds > 0 and greeting.connected.max_subscriptions > 0

    await connection.send("p1", ping=event_pb2.Ping(nonce="n-1"))
    pong = await connection.next("pong")
    assert (pong.correlation_id, pong.pong.nonce) == ("p1", "n-1")

    agents = await connection.subscribe("a", topics=[event_pb2.EVENT_TOPIC_AGENTS], from_now=True)
    sessions = await connection.subscribe("s", topics=[event_pb2.EVENT_TOPIC_SESSIONS], from_now=True)
    agent = await client.agent("watched")
    session = await client.session(agent.name)
    delivered = await connection.events(2)
    assert [(e.subscription_id, e.event.type) for e in delivered] == [(agents, "agent.created"), (sessions, "session.created")]

    # The server knows the connection: who, since when, what it follows.
    [info] = client.server.connections.registry.list()
    assert info.id == greeting.connected.connection_id and info.client_name == "dashboard"
    assert {s.id: s.topics for s in info.subscriptions.values()} == {
        agents: [event_pb2.EVENT_TOPIC_AGENTS],
        sessions: [event_pb2.EVENT_TOPIC_SESSIONS],
    }

    await connection.send("u", unsubscribe=event_pb2.Unsubscribe(subscription_id=agents))
    closed = await connection.next("unsubscribed")
    assert closed.correlation_id == "u" and closed.unsubscribed.last_cursor == delivered[0].event.cursor
    await client.agent("unwatched")
    await client.session(agent.name)
    [only] = await connection.events(1)
    assert (only.subscription_id, only.event.type) == (sessions, "session.created")

    # A bad message is answered with an error; the connection stays open.
    await connection.send("bad", unsubscribe=event_pb2.Unsubscribe(subscription_id="nope"))
    error = await connection.next("error")
    assert error.correlation_id == "bad" and error.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert error_reason(error.error) == "SUBSCRIPTION_NOT_FOUND"
    await connection.send("bad2", subscribe=event_pb2.SubscribeRequest(cursor="garbage"))
    assert error_reason((await connection.next("error")).error) == "INVALID_CURSOR"
    await connection.send("p2", ping=event_pb2.Ping(nonce="still here"))
    assert (await connection.next("pong")).pong.nonce == "still here"

    # Closing the stream cleans up everything tied to it.
    await connection.call.done_writing()
    assert await connection.call.read() is grpc.aio.EOF or True
    await asyncio.wait_for(_until(lambda: len(client.server.connections.registry) == 0), STREAM_TIMEOUT)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_an_approval_answered_on_connect_resumes_the_run_to_completion(tmp_path: Path) -> None:
    server = RunwireServer(run_settings(tmp_path))
    await server.start()
    try:
        async with connected(server) as runs:
            session = await runs.session(approval=["calculator"])
            connection = Connection(runs.client.channel)
            await connection.send(hello=event_pb2.ConnectHello(client_name="approver", accept_input_requests=True))
            await connection.next("connected")
            run = await runs.create(session, APPROVAL_DIRECTIVE)
            request = (await connection.next("request")).request
            assert request.input_request.run == run.name
            assert request.input_request.kind == run_pb2.InputRequest.KIND_APPROVAL
            assert request.input_request.tool_call.tool == "calculator"
            assert request.id == request.input_request.id and request.HasField("expire_time")

            await connection.send(
                "answer-1",
                response=event_pb2.ServerRequestAnswer(
                    server_request_id=request.id, approval=run_pb2.Approval(decision=APPROVE, reason="fine")
                ),
            )
            resolved = await connection.next("request_resolved")
            assert resolved.correlation_id == "answer-1"
            assert (resolved.request_resolved.server_request_id, resolved.request_resolved.outcome) == (
                request.id,
                Resolved.OUTCOME_ANSWERED,
            )
            assert resolved.request_resolved.answered_by == "local"
            done = await runs.wait_end(run.name)
            assert done.status == SUCCEEDED and "42" in done.output.text
            execution = done.steps[0].tool_calls[0]
            assert execution.required_approval and execution.decided_by == "local"

            # Answering again is refused exactly as SubmitInput refuses it; the connection goes on.
            await connection.send(
                "answer-2",
                response=event_pb2.ServerRequestAnswer(server_request_id=request.id, approval=run_pb2.Approval(decision=APPROVE)),
            )
            error = await connection.next("error")
            assert error.correlation_id == "answer-2" and error_reason(error.error) == "RUN_NOT_ACTIVE"
            connection.call.cancel()
    finally:
        await server.stop(grace=0.5)


async def test_requests_pending_before_the_client_connects_are_sent_at_once(tmp_path: Path) -> None:
    server = RunwireServer(run_settings(tmp_path))
    await server.start()
    try:
        async with connected(server) as runs:
            session = await runs.session()
            run = await runs.create(session, "[[ask:Which colour?]]")
            waiting = await runs.wait_status(run.name, run_pb2.Run.STATUS_REQUIRES_INPUT)
            # A client that does not accept requests gets none.
            bystander = Connection(runs.client.channel)
            await bystander.send(hello=event_pb2.ConnectHello(client_name="viewer"))
            connection = Connection(runs.client.channel)
            await connection.send(hello=event_pb2.ConnectHello(accept_input_requests=True))
            request = (await connection.next("request")).request
            assert request.id == waiting.pending_input.id
            assert request.input_request.kind == run_pb2.InputRequest.KIND_QUESTION
            # The answer arrives another way (SubmitInput): the request is resolved on the stream.
            await runs.client.server.runs.submit_input(
                _local(), run.name, request.id, approval=None, text="blue"
            )
            resolved = await connection.next("request_resolved")
            assert resolved.request_resolved.outcome == Resolved.OUTCOME_ANSWERED
            assert (await runs.wait_end(run.name)).status == SUCCEEDED
            await bystander.send("p", ping=event_pb2.Ping())
            assert [kind(r) for r in await bystander.until(lambda r: kind(r) == "pong")] == ["connected", "pong"]
            connection.call.cancel()
            bystander.call.cancel()
    finally:
        await server.stop(grace=0.5)


def _local() -> Any:
    from runwire.server.core.principal import LOCAL_PRINCIPAL

    return LOCAL_PRINCIPAL


async def test_the_server_pings_and_drops_a_client_that_never_answers(tmp_path: Path) -> None:
    server = RunwireServer(make_settings(tmp_path, events=EventSettings(event_heartbeat_seconds=0.05)))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            connection = Connection(channel)
            await connection.send(hello=event_pb2.ConnectHello(client_name="silent"))
            seen = await connection.until(lambda r: kind(r) == "going_away")
            assert "ping" in [kind(r) for r in seen]
            assert seen[-1].going_away.reason == GoingAway.REASON_HEARTBEAT_TIMEOUT
            assert await connection.call.read() is grpc.aio.EOF
            assert await connection.call.code() == grpc.StatusCode.OK
            assert len(server.connections.registry) == 0
    finally:
        await server.stop(grace=0.5)


async def test_a_client_answering_pings_stays_connected(tmp_path: Path) -> None:
    server = RunwireServer(make_settings(tmp_path, events=EventSettings(event_heartbeat_seconds=0.25)))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            connection = Connection(channel)
            await connection.send(hello=event_pb2.ConnectHello())
            for _ in range(6):  # well past two intervals
                ping = await connection.next("ping")
                await connection.send(pong=event_pb2.Pong(nonce=ping.ping.nonce))
            assert "going_away" not in [kind(r) for r in connection.seen]
            connection.call.cancel()
    finally:
        await server.stop(grace=0.5)


async def test_a_connect_client_too_slow_is_told_where_to_resume_and_disconnected(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, events=EventSettings(event_live_buffer=8, event_connect_buffer=4))
    server = RunwireServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=SMALL_WINDOW) as channel:
            client = Client(channel, server, *_stubs(channel))
            agent = await client.agent("big")
            connection = Connection(channel)
            subscription = await connection.subscribe(subscription_name="feed", from_now=True)
            names = []
            for index in range(40):
                agent = await client.agents.UpdateAgent(
                    agent_pb2.UpdateAgentRequest(
                        agent=agent_pb2.Agent(name=agent.name, display_name=f"v{index}", instructions="x" * 90_000),
                        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "instructions"]),
                    )
                )
                names.append(agent.display_name)
            seen = await connection.until(lambda r: kind(r) == "going_away")
            going = seen[-1].going_away
            assert going.reason == GoingAway.REASON_SLOW_CONSUMER
            received = [r.event.event for r in connection.seen if kind(r) == "event"]
            [position] = going.positions
            assert (position.subscription_id, position.subscription_name) == (subscription, "feed")
            assert position.cursor == received[-1].cursor
            assert await connection.call.read() is grpc.aio.EOF
            # Resuming from the position gives the rest, exactly.
            rest_call = subscribe(event_pb2_grpc.EventServiceStub(channel), cursor=position.cursor)
            rest = [r.event for r in await read_until(rest_call, caught_up) if r.WhichOneof("message") == "event"]
            rest_call.cancel()
            assert [e.agent.display_name for e in received + rest] == names
    finally:
        await server.stop(grace=0.5)


async def test_on_shutdown_connect_clients_are_told_to_reconnect_with_their_cursors(tmp_path: Path) -> None:
    server = RunwireServer(make_settings(tmp_path))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = Client(channel, server, *_stubs(channel))
            connection = Connection(channel)
            subscription = await connection.subscribe(from_now=True)
            await client.agent()
            [event] = await connection.events(1)
            stopping = asyncio.create_task(server.stop(grace=1.0))
            going = (await connection.next("going_away")).going_away
            assert going.reason == GoingAway.REASON_SHUTTING_DOWN
            assert [(p.subscription_id, p.cursor) for p in going.positions] == [(subscription, event.event.cursor)]
            await stopping
    finally:
        await server.stop(grace=0.5)


async def test_connect_serves_only_the_callers_events_and_requests(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key, bob_key = await create_key(admin, "alice"), await create_key(admin, "bob")
        async with caller(server, api_key(alice_key.secret)) as alice, caller(server, api_key(bob_key.secret)) as bob:
            bob_connection = Connection(bob.channel, bob.metadata)
            await bob_connection.send(hello=event_pb2.ConnectHello(accept_input_requests=True))
            assert (await bob_connection.next("connected")).connected.principal == "bob"
            await bob_connection.subscribe(from_beginning_of_retention=True)
            alice_run = await alice.waiting_run()
            mine = await bob.agent("bob's")
            [event] = await bob_connection.events(1)
            assert event.event.resource == mine.name
            assert "request" not in [kind(r) for r in bob_connection.seen]
            # Alice's request id, guessed or stolen, is unknown on bob's connection.
            pending = (await alice.runs.GetRun(run_pb2.GetRunRequest(name=alice_run))).pending_input.id
            await bob_connection.send(
                "steal", response=event_pb2.ServerRequestAnswer(server_request_id=pending, text="mine now")
            )
            error = await bob_connection.next("error")
            assert error_reason(error.error) == "INPUT_REQUEST_NOT_FOUND"
            await bob_connection.send("all", subscribe=event_pb2.SubscribeRequest(all_principals=True))
            assert (await bob_connection.next("error")).error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
            still = await alice.runs.GetRun(run_pb2.GetRunRequest(name=alice_run))
            assert still.status == run_pb2.Run.STATUS_REQUIRES_INPUT
            bob_connection.call.cancel()


async def test_admins_list_live_connections_with_what_they_follow(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key = await create_key(admin, "alice")
        async with caller(server, api_key(alice_key.secret)) as alice:
            connection = Connection(alice.channel, alice.metadata)
            await connection.send(hello=event_pb2.ConnectHello(client_name="board", client_version="2.0", accept_input_requests=True))
            greeting = await connection.next("connected")
            subscription = await connection.subscribe(
                subscription_name="feed", topics=[event_pb2.EVENT_TOPIC_AGENTS], from_now=True
            )
            agent = await alice.agent()
            [event] = await connection.events(1)
            listed = await admin.admin.ListConnections(admin_pb2.ListConnectionsRequest(filter='principal = "alice"'))
            [info] = listed.connections
            assert (info.id, info.principal, info.client_name, info.client_version) == (
                greeting.connected.connection_id,
                "alice",
                "board",
                "2.0",
            )
            assert info.accept_input_requests and info.messages_received >= 2 and info.HasField("connect_time")
            assert info.process_id == server.process_id  # the list is this replica's
            [followed] = info.subscriptions
            assert (followed.id, followed.subscription_name, list(followed.topics)) == (subscription, "feed", [event_pb2.EVENT_TOPIC_AGENTS])
            assert (followed.last_cursor, followed.events_sent) == (event.event.cursor, 1)
            assert event.event.resource == agent.name
            connection.call.cancel()
            await asyncio.wait_for(_until(lambda: len(server.connections.registry) == 0), STREAM_TIMEOUT)
            assert (await admin.admin.ListConnections(admin_pb2.ListConnectionsRequest())).total_size == 0
