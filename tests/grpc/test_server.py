"""The server as a whole: health per service, reflection, graceful shutdown, tenancy, unknown errors."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from runwire.server.app import RunwireServer
from runwire.server.core.principal import Principal
from runwire.server.grpc_server import contract_services
from runwire.v1 import agent_pb2, agent_pb2_grpc, session_pb2, session_pb2_grpc
from tests.conftest import Client, make_settings, rpc_error
from tests.grpc.leak_support import assert_no_internals

IMPLEMENTED = {
    "runwire.v1.AgentService",
    "runwire.v1.SessionService",
    "runwire.v1.MessageService",
    "runwire.v1.AdminService",
    "runwire.v1.EventService",
}


async def _reflected_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for response in responses:
        return {s.name for s in response.list_services_response.service}
    raise AssertionError("no reflection response")


async def test_reflection_lists_every_contract_service(client: Client) -> None:
    services = await _reflected_services(client.channel)
    contract = {spec.full_name for spec in contract_services()}
    assert IMPLEMENTED <= contract
    assert contract | {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


async def test_health_reports_a_status_per_service(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    for name in IMPLEMENTED:
        response = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_graceful_shutdown_flips_health_and_finishes_in_flight_calls(tmp_path: Path) -> None:
    server = RunwireServer(make_settings(tmp_path))
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        created = await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="a")))
        stopping = asyncio.create_task(server.stop(grace=2.0))
        second = await asyncio.wait_for(watch.read(), timeout=5)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
    # Everything written before the stop is on disk for the next start.
    again = RunwireServer(make_settings(tmp_path))
    port = await again.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            agents = agent_pb2_grpc.AgentServiceStub(channel)
            assert (await agents.GetAgent(agent_pb2.GetAgentRequest(name=created.name))) == created
    finally:
        await again.stop(grace=0.5)


async def test_page_tokens_survive_a_restart(tmp_path: Path) -> None:
    server = RunwireServer(make_settings(tmp_path))
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        agents = agent_pb2_grpc.AgentServiceStub(channel)
        for i in range(3):
            await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=f"a{i}")))
        page = await agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=2, order_by="display_name"))
    await server.stop(grace=0.5)
    server = RunwireServer(make_settings(tmp_path))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            agents = agent_pb2_grpc.AgentServiceStub(channel)
            rest = await agents.ListAgents(
                agent_pb2.ListAgentsRequest(page_size=2, order_by="display_name", page_token=page.next_page_token)
            )
            assert [a.display_name for a in rest.agents] == ["a2"]
    finally:
        await server.stop(grace=0.5)


async def test_services_not_built_yet_answer_unimplemented(client: Client) -> None:
    pending = sorted({spec.full_name for spec in contract_services()} - IMPLEMENTED)
    if not pending:
        pytest.skip("every contract service is implemented")
    # Reflection lists them; calling one answers UNIMPLEMENTED, never INTERNAL.
    method = f"/{pending[0]}/NoSuchMethodForTest"
    call = client.channel.unary_unary(method, request_serializer=lambda _: b"", response_deserializer=lambda b: b)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(None)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _principal_from_metadata(context: grpc.aio.ServicerContext) -> Principal:
    for key, value in context.invocation_metadata() or ():
        if key == "test-principal":
            return Principal(id=value, is_admin=value == "admin")
    return Principal(id="anonymous")


@pytest.fixture
async def tenants(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = RunwireServer(make_settings(tmp_path), principal_for=_principal_from_metadata)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield agent_pb2_grpc.AgentServiceStub(channel), session_pb2_grpc.SessionServiceStub(channel)
    finally:
        await server.stop(grace=0.5)


def _as(principal: str) -> tuple[tuple[str, str]]:
    return (("test-principal", principal),)


async def test_each_owner_sees_only_its_own_resources(tenants) -> None:  # type: ignore[no-untyped-def]
    agents, sessions = tenants
    alice_agent = await agents.CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="alice's")), metadata=_as("alice")
    )
    await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="bob's")), metadata=_as("bob"))
    assert alice_agent.owner == "alice"

    bob_view = await agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=_as("bob"))
    assert [a.display_name for a in bob_view.agents] == ["bob's"]
    # Another tenant's resource is NOT_FOUND, never PERMISSION_DENIED: its existence is not revealed.
    for call in (
        agents.GetAgent(agent_pb2.GetAgentRequest(name=alice_agent.name), metadata=_as("bob")),
        agents.UpdateAgent(
            agent_pb2.UpdateAgentRequest(agent=agent_pb2.Agent(name=alice_agent.name, display_name="mine")),
            metadata=_as("bob"),
        ),
        agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=alice_agent.name, force=True), metadata=_as("bob")),
        sessions.CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=alice_agent.name)), metadata=_as("bob")
        ),
    ):
        failure = await rpc_error(call)
        assert failure.code == grpc.StatusCode.NOT_FOUND
        assert failure.reason == "AGENT_NOT_FOUND"
    admin_view = await agents.ListAgents(agent_pb2.ListAgentsRequest(order_by="display_name"), metadata=_as("admin"))
    assert [a.display_name for a in admin_view.agents] == ["alice's", "bob's"]
    intact = await agents.GetAgent(agent_pb2.GetAgentRequest(name=alice_agent.name), metadata=_as("alice"))
    assert intact.display_name == "alice's"


async def test_unexpected_errors_become_internal_without_internals(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("secret database password in /home/secret/path/runwire.db (sqlite3.OperationalError)")

    monkeypatch.setattr(client.server.agents, "get", broken)
    with caplog.at_level(logging.ERROR, logger="runwire"):
        failure = await rpc_error(client.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/abcd")))

    assert failure.code == grpc.StatusCode.INTERNAL
    assert failure.reason == "INTERNAL"
    request_id = failure.metadata["request_id"]
    assert failure.message == f"internal error; quote request id {request_id} when reporting it"
    for text in (failure.message, *failure.metadata.values()):
        assert_no_internals(text, secrets=["secret database password"], paths=["/home/secret/path"])
    # The operator finds the whole story in the log, under the id the caller quotes.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "/home/secret/path" in str(logged[0].exc_info[1])
