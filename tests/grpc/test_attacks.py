"""An attacker's view: bad credentials, another tenant's ids in every RPC, filters and page tokens aimed at
other tenants, oversized metadata.

Another tenant's resource always answers NOT_FOUND (never PERMISSION_DENIED,
which would confirm it exists), on unary and streaming calls alike, and the
victim's resources come out untouched.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.server.app import RunwireServer
from runwire.v1 import (
    admin_pb2,
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    message_pb2,
    message_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.grpc.secure_support import (
    ADMIN_KEY,
    Caller,
    api_key,
    bearer,
    caller,
    create_key,
    fails,
    hs256_token,
    running,
    secure_settings,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND
ALICE_WORD = "zanzibar"


@dataclasses.dataclass
class World:
    server: RunwireServer
    admin: Caller
    alice: Caller
    bob: Caller
    agent: agent_pb2.Agent
    session: session_pb2.Session
    message: message_pb2.Message
    run: str
    input_request_id: str
    bob_agent: agent_pb2.Agent
    alice_page_token: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key, bob_key = await create_key(admin, "alice"), await create_key(admin, "bob")
        async with caller(server, api_key(alice_key.secret)) as alice, caller(server, api_key(bob_key.secret)) as bob:
            agent = await alice.agent("alice's agent", labels={"team": "alice"})
            await alice.agent("alice's second agent")
            session = await alice.session(agent.name)
            message = await alice.message(session.name, f"my secret {ALICE_WORD} plan")
            run = await alice.waiting_run(session.name)
            pending = (await alice.runs.GetRun(run_pb2.GetRunRequest(name=run))).pending_input.id
            page = await alice.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1))
            assert page.next_page_token
            yield World(
                server, admin, alice, bob, agent, session, message, run, pending, await bob.agent("bob's"), page.next_page_token
            )


def _text(value: str) -> list[common_pb2.ContentPart]:
    return [common_pb2.ContentPart(text=value)]


# Every RPC of the four tenant services, called by bob with alice's ids, and the reason it must fail with.
Attack = Callable[[Caller, World], Any]
ATTACKS: dict[str, tuple[Attack, str]] = {
    "/runwire.v1.AgentService/GetAgent": (lambda b, w: b.agents.GetAgent(agent_pb2.GetAgentRequest(name=w.agent.name)), "AGENT_NOT_FOUND"),
    "/runwire.v1.AgentService/UpdateAgent": (
        lambda b, w: b.agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(name=w.agent.name, display_name="pwned"), update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
            )
        ),
        "AGENT_NOT_FOUND",
    ),
    "/runwire.v1.AgentService/DeleteAgent": (
        lambda b, w: b.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=w.agent.name, force=True)),
        "AGENT_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/CreateSession": (
        lambda b, w: b.sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=w.agent.name))),
        "AGENT_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/GetSession": (
        lambda b, w: b.sessions.GetSession(session_pb2.GetSessionRequest(name=w.session.name)),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/UpdateSession": (
        lambda b, w: b.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=w.session.name, display_name="pwned"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            )
        ),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/DeleteSession": (
        lambda b, w: b.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=w.session.name, force=True)),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/BatchCreateSessions": (
        lambda b, w: b.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=w.agent.name))]
            )
        ),
        "AGENT_NOT_FOUND",
    ),
    "/runwire.v1.SessionService/BatchDeleteSessions": (
        lambda b, w: b.sessions.BatchDeleteSessions(session_pb2.BatchDeleteSessionsRequest(names=[w.session.name], force=True)),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/CreateMessage": (
        lambda b, w: b.messages.CreateMessage(
            message_pb2.CreateMessageRequest(
                parent=w.session.name, message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=_text("injected"))
            )
        ),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/GetMessage": (
        lambda b, w: b.messages.GetMessage(message_pb2.GetMessageRequest(name=w.message.name)),
        "MESSAGE_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/ListMessages": (
        lambda b, w: b.messages.ListMessages(message_pb2.ListMessagesRequest(parent=w.session.name)),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/UpdateMessage": (
        lambda b, w: b.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=w.message.name, labels={"x": "y"}), update_mask=field_mask_pb2.FieldMask(paths=["labels"])
            )
        ),
        "MESSAGE_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/DeleteMessage": (
        lambda b, w: b.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=w.message.name, force=True)),
        "MESSAGE_NOT_FOUND",
    ),
    "/runwire.v1.MessageService/SearchMessages": (
        lambda b, w: b.messages.SearchMessages(message_pb2.SearchMessagesRequest(parent=w.session.name, query=ALICE_WORD)),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.RunService/ExecuteAgent": (
        lambda b, w: b.runs.ExecuteAgent(run_pb2.ExecuteAgentRequest(session=w.session.name, input=_text("hi")), timeout=30),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.RunService/StreamTokens": (
        lambda b, w: b.runs.StreamTokens(run_pb2.StreamTokensRequest(session=w.session.name, input=_text("hi")), timeout=30),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.RunService/CreateRun": (
        lambda b, w: b.runs.CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(session=w.session.name, input=_text("hi")))),
        "SESSION_NOT_FOUND",
    ),
    "/runwire.v1.RunService/StreamRunEvents": (
        lambda b, w: b.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=w.run), timeout=30),
        "RUN_NOT_FOUND",
    ),
    "/runwire.v1.RunService/CancelRun": (lambda b, w: b.runs.CancelRun(run_pb2.CancelRunRequest(name=w.run)), "RUN_NOT_FOUND"),
    "/runwire.v1.RunService/GetRun": (lambda b, w: b.runs.GetRun(run_pb2.GetRunRequest(name=w.run)), "RUN_NOT_FOUND"),
    "/runwire.v1.RunService/SubmitInput": (
        lambda b, w: b.runs.SubmitInput(run_pb2.SubmitInputRequest(name=w.run, input_request_id=w.input_request_id, text="mine")),
        "RUN_NOT_FOUND",
    ),
}

# Methods that take no resource of another tenant: creates with a chosen id, and lists (see the filter tests).
NOT_ADDRESSED_BY_ID = {
    "/runwire.v1.AgentService/CreateAgent",
    "/runwire.v1.AgentService/ListAgents",
    "/runwire.v1.SessionService/ListSessions",
    "/runwire.v1.RunService/ListRuns",
}


def _methods(*modules: Any) -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for module in modules
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }


def test_the_attacks_cover_every_rpc_of_the_tenant_services() -> None:
    every = _methods(agent_pb2, session_pb2, message_pb2, run_pb2)
    assert set(ATTACKS) | NOT_ADDRESSED_BY_ID == every


async def test_another_tenants_ids_answer_not_found_in_every_rpc(world: World) -> None:
    for method, (attack, reason) in ATTACKS.items():
        failure = await fails(attack(world.bob, world))
        assert (failure.code, failure.reason) == (NOT_FOUND, reason), method
        assert "alice" not in failure.message, method
    # Alice's resources are as they were; the admin sees them.
    alice = world.alice
    assert (await alice.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))) == world.agent
    assert (await alice.messages.GetMessage(message_pb2.GetMessageRequest(name=world.message.name))) == world.message
    session = await alice.sessions.GetSession(session_pb2.GetSessionRequest(name=world.session.name))
    assert session.display_name == world.session.display_name
    run = await alice.runs.GetRun(run_pb2.GetRunRequest(name=world.run))
    assert run.status == run_pb2.Run.STATUS_REQUIRES_INPUT and run.pending_input.id == world.input_request_id
    assert (await world.admin.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))).owner == "alice"


async def test_deleting_another_tenants_resource_with_allow_missing_deletes_nothing(world: World) -> None:
    await world.bob.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=world.agent.name, force=True, allow_missing=True))
    await world.bob.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=world.session.name, force=True, allow_missing=True))
    await world.bob.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=world.message.name, allow_missing=True))
    assert (await world.alice.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))).name == world.agent.name
    assert (await world.alice.messages.GetMessage(message_pb2.GetMessageRequest(name=world.message.name))).name == world.message.name


async def test_taken_ids_are_taken_for_everyone_without_saying_by_whom(world: World) -> None:
    # Resource names are global (like bucket names): an id another tenant holds is ALREADY_EXISTS, with nothing
    # about its owner or contents, and the other tenant's resource is untouched.
    agent_id = world.agent.name.split("/")[1]
    failure = await fails(
        world.bob.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent_id=agent_id, agent=agent_pb2.Agent(display_name="mine")))
    )
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS and "alice" not in failure.message
    assert (await world.alice.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))) == world.agent


async def test_filters_and_searches_never_reach_other_tenants(world: World) -> None:
    bob = world.bob
    for request in (
        agent_pb2.ListAgentsRequest(filter='display_name:"alice"'),
        agent_pb2.ListAgentsRequest(filter='labels.team = "alice"'),
        agent_pb2.ListAgentsRequest(filter='display_name:"alice" OR NOT display_name:"alice"'),
    ):
        listed = await bob.agents.ListAgents(request)
        assert [a.owner for a in listed.agents] == ["bob"] * len(listed.agents) and listed.total_size == len(listed.agents)
        assert all("alice" not in a.display_name for a in listed.agents)
    sessions = await bob.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=f'agent = "{world.agent.name}"'))
    assert list(sessions.sessions) == [] and sessions.total_size == 0
    runs = await bob.runs.ListRuns(run_pb2.ListRunsRequest(filter=f'session = "{world.session.name}"'))
    assert list(runs.runs) == [] and runs.total_size == 0
    everything = await bob.runs.ListRuns(run_pb2.ListRunsRequest())
    assert list(everything.runs) == []
    found = await bob.messages.SearchMessages(message_pb2.SearchMessagesRequest(parent="sessions/-", query=ALICE_WORD))
    assert list(found.results) == []
    # The owner is not a filter field: no filter can name another tenant.
    for call in (
        bob.agents.ListAgents(agent_pb2.ListAgentsRequest(filter='owner = "alice"')),
        bob.sessions.ListSessions(session_pb2.ListSessionsRequest(filter='owner = "alice"')),
        bob.runs.ListRuns(run_pb2.ListRunsRequest(filter='owner = "alice"')),
    ):
        failure = await fails(call)
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FILTER")
    # A page token is bound to the caller it was issued to.
    stolen = await fails(bob.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=1, page_token=world.alice_page_token)))
    assert stolen.reason == "INVALID_PAGE_TOKEN"


async def test_admin_methods_are_denied_to_users_without_revealing_keys(world: World) -> None:
    failure = await fails(world.bob.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name="apiKeys/bootstrap-admin")))
    assert failure.code == grpc.StatusCode.PERMISSION_DENIED
    missing = await fails(world.bob.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name="apiKeys/no-such-key")))
    assert missing.code == grpc.StatusCode.PERMISSION_DENIED  # the same answer whether the key exists or not


BAD_CREDENTIALS: dict[str, Callable[[World], Any]] = {}


async def _revoked_key(world: World) -> tuple[str, str]:
    key = await create_key(world.admin, "revoked-user")
    await world.admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=key.api_key.name))
    return api_key(key.secret)


async def _expired_key(world: World) -> tuple[str, str]:
    key = await create_key(world.admin, "expired-user", expire_in=0.3)
    await asyncio.sleep(0.4)
    return api_key(key.secret)


@pytest.mark.parametrize(
    "credential",
    ["none", "unknown-key", "revoked-key", "expired-key", "expired-jwt", "forged-jwt", "wrong-audience", "alice-sub-unsigned"],
)
async def test_bad_credentials_reach_no_rpc(world: World, credential: str) -> None:
    metadata: tuple[tuple[str, str], ...] = ()
    if credential == "unknown-key":
        metadata = (api_key("rw_" + "z" * 40),)
    elif credential == "revoked-key":
        metadata = (await _revoked_key(world),)
    elif credential == "expired-key":
        metadata = (await _expired_key(world),)
    elif credential == "expired-jwt":
        metadata = (bearer(hs256_token("alice", expires_in=-300)),)
    elif credential == "forged-jwt":
        metadata = (bearer(hs256_token("alice", role="admin", secret="x" * 40)),)
    elif credential == "wrong-audience":
        metadata = (bearer(hs256_token("alice", aud="another-service")),)
    elif credential == "alice-sub-unsigned":
        import jwt

        metadata = (bearer(jwt.encode({"sub": "alice", "exp": 9999999999}, None, algorithm="none")),)
    before = await world.admin.runs.ListRuns(run_pb2.ListRunsRequest())
    async with caller(world.server, *metadata) as attacker:
        for method, (attack, _) in ATTACKS.items():
            failure = await fails(attack(attacker, world))
            assert failure.code == grpc.StatusCode.UNAUTHENTICATED, method
            assert failure.reason in ("UNAUTHENTICATED", "API_KEY_REVOKED", "API_KEY_EXPIRED", "TOKEN_EXPIRED", "TOKEN_INVALID"), method
        for call in (
            attacker.agents.ListAgents(agent_pb2.ListAgentsRequest()),
            attacker.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="x"))),
            attacker.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(display_name="x", principal="x"))),
        ):
            assert (await fails(call)).code == grpc.StatusCode.UNAUTHENTICATED
    after = await world.admin.runs.ListRuns(run_pb2.ListRunsRequest())
    assert after.total_size == before.total_size
    assert (await world.alice.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))) == world.agent


async def test_oversized_metadata_is_refused_and_the_server_carries_on(world: World) -> None:
    address = f"127.0.0.1:{world.server.port}"
    async with grpc.aio.insecure_channel(address) as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        runs = run_pb2_grpc.RunServiceStub(channel)
        huge = (("x-padding", "a" * 200_000), api_key(ADMIN_KEY))
        for call in (
            agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=huge, timeout=10),
            runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=world.run), metadata=huge, timeout=10),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                if hasattr(call, "read"):
                    await call.read()
                else:
                    await call
            assert caught.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE)
        # A credential too long to be one is refused before any lookup.
        long_credential = (("authorization", "Bearer " + "a" * 9000),)
        failure = await fails(agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=long_credential))
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
    # The server still serves everyone else.
    assert (await world.alice.agents.GetAgent(agent_pb2.GetAgentRequest(name=world.agent.name))).name == world.agent.name


async def test_streams_only_carry_the_callers_own_events(world: World) -> None:
    """Bob's stream of his own run carries his events only, while alice's run is live beside it."""
    bob_session = await world.bob.session(world.bob_agent.name)
    events = [e async for e in world.bob.execute(bob_session.name, "[[tokens:5]]")]
    run_names = {e.run for e in events if e.run}
    assert run_names and world.run not in run_names
    stream = world.alice.follow(world.run)
    first = await asyncio.wait_for(stream.read(), 10)
    assert first.run == world.run
    stream.cancel()


_ = session_pb2_grpc, message_pb2_grpc  # stubs used through Caller
