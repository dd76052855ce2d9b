"""EventService.Subscribe and AcknowledgeEvents through real stubs: every change of a resource is an event
with a cursor; a client that goes away resumes exactly where it stopped; expired and foreign cursors are
refused clearly; a reader too slow for the live buffer is told and disconnected; tenants see only their own.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.server.app import RunwireServer
from runwire.server.config import EventSettings
from runwire.v1 import agent_pb2, common_pb2, event_pb2, event_pb2_grpc, message_pb2, session_pb2
from tests.conftest import Client, make_settings, rpc_error
from tests.grpc.run_support import STREAM_TIMEOUT, serving
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, fails, running, secure_settings

Topic = event_pb2.EventTopic
# A client that lets little in flight (no window growth), so a client that stops reading stops the server's writes.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 65536)]


def events_stub(client: Any) -> event_pb2_grpc.EventServiceStub:
    return event_pb2_grpc.EventServiceStub(client.channel)


def subscribe(stub: event_pb2_grpc.EventServiceStub, **request: Any) -> Any:
    return stub.Subscribe(event_pb2.SubscribeRequest(**request), timeout=STREAM_TIMEOUT)


async def read_events(call: Any, count: int) -> list[event_pb2.Event]:
    """The next `count` events of a Subscribe stream (skipping caught_up and heartbeats)."""
    events: list[event_pb2.Event] = []

    async def read() -> None:
        while len(events) < count:
            response = await call.read()
            assert response is not grpc.aio.EOF, f"stream ended after {len(events)} of {count} events"
            if response.WhichOneof("message") == "event":
                events.append(response.event)

    await asyncio.wait_for(read(), STREAM_TIMEOUT)
    return events


async def read_until(call: Any, stop: Callable[[Any], bool]) -> list[Any]:
    """Messages of a stream up to and including the first for which `stop` is true."""
    seen: list[Any] = []

    async def read() -> None:
        while True:
            response = await call.read()
            assert response is not grpc.aio.EOF, f"stream ended after {len(seen)} messages"
            seen.append(response)
            if stop(response):
                return

    await asyncio.wait_for(read(), STREAM_TIMEOUT)
    return seen


def caught_up(response: Any) -> bool:
    return response.WhichOneof("message") == "caught_up"


async def live(stub: event_pb2_grpc.EventServiceStub, **request: Any) -> Any:
    """A Subscribe stream that has finished its replay."""
    call = subscribe(stub, **request)
    await read_until(call, caught_up)
    return call


async def rename(client: Client, agent: agent_pb2.Agent, display_name: str) -> agent_pb2.Agent:
    return await client.agents.UpdateAgent(
        agent_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=agent.name, display_name=display_name),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )


def user_message(session: str, text: str) -> message_pb2.CreateMessageRequest:
    return message_pb2.CreateMessageRequest(
        parent=session,
        message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=text)]),
    )


# -- what becomes an event --------------------------------------------------------------


async def test_each_change_of_agents_sessions_and_messages_is_an_event_in_order(client: Client) -> None:
    stub = events_stub(client)
    call = await live(stub, from_now=True)
    agent = await client.agent("first")
    agent = await rename(client, agent, "renamed")
    session = await client.session(agent.name)
    message = await client.messages.CreateMessage(user_message(session.name, "hello"))
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=message.name))
    await client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name))
    await client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent.name))

    events = await read_events(call, 7)
    call.cancel()
    assert [(e.type, e.resource) for e in events] == [
        ("agent.created", agent.name),
        ("agent.updated", agent.name),
        ("session.created", session.name),
        ("message.created", message.name),
        ("message.deleted", message.name),
        ("session.deleted", session.name),
        ("agent.deleted", agent.name),
    ]
    assert [e.topic for e in events] == [
        Topic.EVENT_TOPIC_AGENTS,
        Topic.EVENT_TOPIC_AGENTS,
        Topic.EVENT_TOPIC_SESSIONS,
        Topic.EVENT_TOPIC_MESSAGES,
        Topic.EVENT_TOPIC_MESSAGES,
        Topic.EVENT_TOPIC_SESSIONS,
        Topic.EVENT_TOPIC_AGENTS,
    ]
    # The payload is the resource after the change (for a deletion, its last state).
    assert events[1].agent.display_name == "renamed" and events[1].agent.etag == agent.etag
    assert events[3].message.content[0].text == "hello"
    assert all(e.principal == "local" and e.cursor and e.HasField("create_time") for e in events)
    assert len({e.cursor for e in events}) == 7


async def test_runs_announce_their_status_changes_not_their_tokens(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        stub = events_stub(runs.client)
        session = await runs.session()
        call = await live(stub, from_now=True, topics=[Topic.EVENT_TOPIC_RUNS])
        run = await runs.create(session, "say something rather long so that many tokens stream")
        await runs.wait_end(run.name)
        events = await read_events(call, 3)
        call.cancel()
        ended = await runs.get(run.name)
    assert [e.type for e in events] == ["run.created", "run.started", "run.succeeded"]
    assert {e.resource for e in events} == {run.name}
    assert events[-1].run.status == run.STATUS_SUCCEEDED and not events[-1].run.steps
    assert events[-1].run.output.text
    # The run as its last change left it: same revision (etag), same last event.
    assert (events[-1].run.etag, events[-1].run.last_seq) == (ended.etag, ended.last_seq)
    assert events[1].run.status == run.STATUS_RUNNING and events[1].run.etag != ended.etag


async def test_filters_by_topic_resource_and_type(client: Client) -> None:
    stub = events_stub(client)
    agent = await client.agent()
    session = await client.session(agent.name)
    other = await client.session(agent.name)
    by_resource = await live(stub, from_now=True, resources=[session.name])
    by_type = await live(stub, from_now=True, types=["message.*", "agent.updated"])
    await client.messages.CreateMessage(user_message(other.name, "elsewhere"))
    mine = await client.messages.CreateMessage(user_message(session.name, "here"))
    await rename(client, agent, "new name")

    assert [(e.type, e.resource) for e in await read_events(by_resource, 1)] == [("message.created", mine.name)]
    assert [e.type for e in await read_events(by_type, 3)] == ["message.created", "message.created", "agent.updated"]
    by_resource.cancel()
    by_type.cancel()


async def test_bad_filters_and_run_events_topic_are_invalid_arguments(client: Client) -> None:
    stub = events_stub(client)
    failure = await rpc_error(
        read_events(
            subscribe(stub, topics=[Topic.EVENT_TOPIC_RUN_EVENTS], resources=["sessions/"], types=["a*b"]), 1
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.field_violations) == {"topics[0]", "resources[0]", "types[0]"}
    assert "StreamRunEvents" in failure.field_violations["topics[0]"]


# -- resuming -----------------------------------------------------------------------------


async def test_a_client_that_goes_offline_catches_up_exactly_then_follows_live(client: Client) -> None:
    stub = events_stub(client)
    agent = await client.agent("watched")
    call = await live(stub, from_now=True)
    agent = await rename(client, agent, "seen 1")
    [seen] = await read_events(call, 1)
    call.cancel()  # offline now

    missed = []
    for index in range(12):
        agent = await rename(client, agent, f"missed {index}")
        missed.append(agent.display_name)
    session = await client.session(agent.name)

    back = subscribe(stub, cursor=seen.cursor)
    replay = await read_until(back, caught_up)
    replayed = [r.event for r in replay if r.WhichOneof("message") == "event"]
    assert [e.agent.display_name for e in replayed[:-1]] == missed
    assert replayed[-1].type == "session.created" and replayed[-1].resource == session.name
    assert replay[-1].caught_up.cursor == replayed[-1].cursor
    # Then live, with nothing twice: the next event is the next change.
    await rename(client, agent, "live")
    [following] = await read_events(back, 1)
    back.cancel()
    assert following.agent.display_name == "live"
    assert following.cursor not in {e.cursor for e in replayed}


async def test_a_cursor_older_than_the_retention_asks_the_client_to_resync(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, events=EventSettings(event_retention=timedelta(milliseconds=1)))
    server = RunwireServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = Client(channel, server, *_stubs(channel))
            stub = events_stub(client)
            call = await live(stub, from_now=True)
            agent = await client.agent("old")
            [old] = await read_events(call, 1)
            call.cancel()
            await rename(client, agent, "also old")
            await asyncio.sleep(0.01)  # older than the 1 ms retention
            await server.sweeper.sweep_once()

            failure = await rpc_error(read_events(subscribe(stub, cursor=old.cursor), 1))
            assert (failure.code, failure.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CURSOR_EXPIRED")
            assert "resync" in failure.message.lower()
            # From the oldest cursor still available, or from the beginning of retention, it goes on.
            resumed = subscribe(stub, cursor=failure.metadata["oldest_cursor"])
            await read_until(resumed, caught_up)
            await rename(client, agent, "new")
            assert [e.agent.display_name for e in await read_events(resumed, 1)] == ["new"]
            resumed.cancel()
    finally:
        await server.stop(grace=0.5)


def _stubs(channel: grpc.aio.Channel) -> tuple[Any, Any, Any]:
    from runwire.v1 import agent_pb2_grpc, message_pb2_grpc, session_pb2_grpc

    return (
        agent_pb2_grpc.AgentServiceStub(channel),
        session_pb2_grpc.SessionServiceStub(channel),
        message_pb2_grpc.MessageServiceStub(channel),
    )


@pytest.mark.parametrize("cursor", ["garbage", "cndjMTpmZmZmZmZmZjox", "cndjMTp4eHh4eHh4eDox"])
async def test_a_malformed_or_foreign_cursor_is_invalid(client: Client, cursor: str) -> None:
    failure = await rpc_error(read_events(subscribe(events_stub(client), cursor=cursor), 1))
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CURSOR")
    assert "cursor" in failure.field_violations


async def test_a_named_subscription_resumes_after_its_acknowledged_cursor(client: Client) -> None:
    stub = events_stub(client)
    call = await live(stub, subscription_name="dashboard")
    agent = await client.agent("a0")
    for index in range(1, 4):
        agent = await rename(client, agent, f"a{index}")
    first, second, _, _ = await read_events(call, 4)
    call.cancel()
    acked = await stub.AcknowledgeEvents(event_pb2.AcknowledgeEventsRequest(subscription_name="dashboard", cursor=second.cursor))
    assert acked.cursor == second.cursor
    # An older cursor does not move it back.
    again = await stub.AcknowledgeEvents(event_pb2.AcknowledgeEventsRequest(subscription_name="dashboard", cursor=first.cursor))
    assert again.cursor == second.cursor

    resumed = subscribe(stub, subscription_name="dashboard")
    replay = [r.event.agent.display_name for r in await read_until(resumed, caught_up) if r.WhichOneof("message") == "event"]
    resumed.cancel()
    assert replay == ["a2", "a3"]


async def test_acknowledging_an_unknown_subscription_is_not_found(client: Client) -> None:
    stub = events_stub(client)
    call = await live(stub, from_now=True)
    await client.agent()
    [event] = await read_events(call, 1)
    call.cancel()
    failure = await rpc_error(
        stub.AcknowledgeEvents(event_pb2.AcknowledgeEventsRequest(subscription_name="nobody", cursor=event.cursor))
    )
    assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "SUBSCRIPTION_NOT_FOUND")
    failure = await rpc_error(stub.AcknowledgeEvents(event_pb2.AcknowledgeEventsRequest(subscription_name="Bad Name!")))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_quiet_stream_gets_heartbeats_with_the_position_reached(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, events=EventSettings(event_heartbeat_seconds=0.05))
    server = RunwireServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = Client(channel, server, *_stubs(channel))
            stub = events_stub(client)
            await client.agent()
            call = subscribe(stub, from_now=True, topics=[Topic.EVENT_TOPIC_SESSIONS])
            ready = await read_until(call, caught_up)
            beat = (await read_until(call, lambda r: r.WhichOneof("message") == "heartbeat"))[-1].heartbeat
            call.cancel()
            assert beat.cursor == ready[-1].caught_up.cursor and beat.HasField("server_time")
    finally:
        await server.stop(grace=0.5)


# -- slow consumers -----------------------------------------------------------------------


async def test_a_subscriber_too_slow_for_the_live_buffer_is_told_and_can_resume(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, events=EventSettings(event_live_buffer=8))
    server = RunwireServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=SMALL_WINDOW) as channel:
            client = Client(channel, server, *_stubs(channel))
            stub = events_stub(client)
            agent = await client.agent("big")
            call = await live(stub, from_now=True)
            # The client stops reading while large events pile up well past the transport's buffers.
            big = "x" * 90_000
            names = []
            for index in range(40):
                agent = await client.agents.UpdateAgent(
                    agent_pb2.UpdateAgentRequest(
                        agent=agent_pb2.Agent(name=agent.name, display_name=f"v{index}", instructions=big),
                        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "instructions"]),
                    )
                )
                names.append(agent.display_name)
            received: list[event_pb2.Event] = []

            async def read_all() -> None:
                while True:
                    response = await call.read()
                    assert response is not grpc.aio.EOF
                    received.append(response.event)

            failure = await rpc_error(asyncio.wait_for(read_all(), STREAM_TIMEOUT))
            assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "SLOW_CONSUMER")
            assert failure.metadata["cursor"] == received[-1].cursor
            # Resuming from the last cursor received gives the rest, exactly.
            resumed = subscribe(stub, cursor=failure.metadata["cursor"])
            rest = [r.event for r in await read_until(resumed, caught_up) if r.WhichOneof("message") == "event"]
            resumed.cancel()
            assert [e.agent.display_name for e in received + rest] == names
    finally:
        await server.stop(grace=0.5)


# -- tenants --------------------------------------------------------------------------------


async def test_each_principal_receives_only_the_events_of_its_own_resources(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key, bob_key = await create_key(admin, "alice"), await create_key(admin, "bob")
        async with caller(server, api_key(alice_key.secret)) as alice, caller(server, api_key(bob_key.secret)) as bob:
            bob_events = event_pb2_grpc.EventServiceStub(bob.channel)
            admin_events = event_pb2_grpc.EventServiceStub(admin.channel)
            bob_call = await live(bob_events, from_beginning_of_retention=True)
            everyone = await live(admin_events, from_now=True, all_principals=True)
            secret = await alice.agent("alice's secret agent")
            mine = await bob.agent("bob's")
            # Bob's next event is his own: alice's never reached him, in the replay or live.
            [only] = await read_events(bob_call, 1)
            assert only.resource == mine.name and only.principal == "bob"
            assert [e.resource for e in await read_events(everyone, 2)] == [secret.name, mine.name]
            bob_call.cancel()
            everyone.cancel()
            # Replaying from the beginning shows bob nothing of alice's either.
            again = subscribe(bob_events, from_beginning_of_retention=True)
            replay = [r.event for r in await read_until(again, caught_up) if r.WhichOneof("message") == "event"]
            again.cancel()
            assert [e.resource for e in replay] == [mine.name]
            # Only admins may ask for every principal's events; a filter on alice's resource shows nothing.
            failure = await fails(subscribe(bob_events, all_principals=True))
            assert failure.code == grpc.StatusCode.PERMISSION_DENIED
            # Acknowledging alice's named subscription is as if it did not exist.
            alice_events = event_pb2_grpc.EventServiceStub(alice.channel)
            alice_call = await live(alice_events, subscription_name="inbox")
            alice_call.cancel()
            failure = await fails(
                bob_events.AcknowledgeEvents(event_pb2.AcknowledgeEventsRequest(subscription_name="inbox", cursor=only.cursor))
            )
            assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "SUBSCRIPTION_NOT_FOUND")

