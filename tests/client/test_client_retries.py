"""Safe calls are retried by the channel on UNAVAILABLE (service config retryPolicy); writes are not.

A small grpc.aio AgentService stands in for a server that is briefly unable to answer.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import grpc
import pytest

from runwire.client import AsyncClient, Client, RetryPolicy, Unavailable
from runwire.v1 import agent_pb2, agent_pb2_grpc
from tests.client.support import WAIT


class Flaky(agent_pb2_grpc.AgentServiceServicer):
    """Answers UNAVAILABLE to the first `failures` calls of each method, then answers normally."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}

    async def _attempt(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.attempts[method] = self.attempts.get(method, 0) + 1
        if self.attempts[method] <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")

    async def GetAgent(self, request, context):  # type: ignore[no-untyped-def]
        await self._attempt("GetAgent", context)
        return agent_pb2.Agent(name=request.name, display_name="found")

    async def ListAgents(self, request, context):  # type: ignore[no-untyped-def]
        await self._attempt("ListAgents", context)
        return agent_pb2.ListAgentsResponse(agents=[agent_pb2.Agent(name="agents/a")])

    async def CreateAgent(self, request, context):  # type: ignore[no-untyped-def]
        await self._attempt("CreateAgent", context)
        return request.agent


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    servicer = Flaky(failures=2)
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def test_reads_are_retried_until_they_succeed(flaky: tuple[Flaky, str]) -> None:
    servicer, address = flaky
    async with AsyncClient(address, timeout=WAIT) as client:
        agent = await client.agents.get("agents/a")
        assert agent.display_name == "found"
        assert servicer.attempts["GetAgent"] == 3
        assert [a.name async for a in client.agents.list()] == ["agents/a"]
        assert servicer.attempts["ListAgents"] == 3


async def test_writes_are_not_retried(flaky: tuple[Flaky, str]) -> None:
    servicer, address = flaky
    async with AsyncClient(address, timeout=WAIT) as client:
        with pytest.raises(Unavailable) as failed:
            await client.agents.create(agent_pb2.Agent(display_name="once"))
    assert failed.value.message == "warming up"
    assert servicer.attempts["CreateAgent"] == 1


async def test_the_sync_client_retries_too_and_retries_can_be_turned_off(flaky: tuple[Flaky, str]) -> None:
    servicer, address = flaky

    def scenario() -> tuple[str, grpc.StatusCode]:
        with Client(address, timeout=WAIT) as client:
            found = client.agents.get("agents/a").display_name
        with Client(address, timeout=WAIT, retry=None) as client:
            servicer.attempts.clear()
            with pytest.raises(Unavailable) as failed:
                client.agents.get("agents/a")
        return found, failed.value.code

    found, code = await asyncio.wait_for(asyncio.to_thread(scenario), WAIT)
    assert found == "found" and code == grpc.StatusCode.UNAVAILABLE
    assert servicer.attempts["GetAgent"] == 1


async def test_too_few_attempts_give_up_with_the_servers_error(flaky: tuple[Flaky, str]) -> None:
    servicer, address = flaky
    async with AsyncClient(address, timeout=WAIT, retry=RetryPolicy(max_attempts=2)) as client:
        with pytest.raises(Unavailable):
            await client.agents.get("agents/a")
    assert servicer.attempts["GetAgent"] == 2
