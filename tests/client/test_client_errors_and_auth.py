"""Credentials, typed errors with their details, and the generic service access, against a server that checks credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.client import (
    AsyncClient,
    Client,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    RunwireError,
    Unauthenticated,
)
from runwire.server.app import RunwireServer
from runwire.server.config import Bucket, RateLimitSettings
from runwire.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, session_pb2
from tests.client.support import WAIT
from tests.grpc.secure_support import ADMIN_KEY, hs256_token, running, secure_settings

GENEROUS = Bucket(1000, 1000)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    # Reads of the default tier run out after three calls and refill slowly; everything else is generous.
    generous = {c: GENEROUS for c in ("read", "write", "run", "stream", "file", "admin")}
    tiers = {"anonymous": dict(generous), "default": {**generous, "read": Bucket(0.01, 3)}, "premium": dict(generous)}
    async with running(secure_settings(tmp_path, rate_limits=RateLimitSettings(tiers=tiers))) as instance:
        yield instance


def address(server: RunwireServer) -> str:
    return f"127.0.0.1:{server.port}"


async def new_key(server: RunwireServer, principal: str) -> str:
    async with AsyncClient(address(server), api_key=ADMIN_KEY) as admin:
        keys = admin.service(admin_pb2_grpc.AdminServiceStub)
        created = await keys.CreateApiKey(admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(display_name=principal, principal=principal)))
    return created.secret


async def test_an_api_key_or_a_bearer_token_is_sent_on_every_call(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as anonymous:
        with pytest.raises(Unauthenticated) as refused:
            await anonymous.agents.create(agent_pb2.Agent(display_name="nobody"))
        assert refused.value.reason == "UNAUTHENTICATED" and refused.value.request_id
    async with AsyncClient(address(server), api_key=await new_key(server, "alice")) as alice:
        agent = await alice.agents.create(agent_pb2.Agent(display_name="Alice's"))
        assert agent.owner == "alice"
        session = await alice.sessions.create(session_pb2.Session(agent=agent.name))
        # Streams carry the credential too.
        events = [e async for e in alice.runs.execute(session.name, "hi")]
        assert events[-1].WhichOneof("payload") == "run_completed"
    async with AsyncClient(address(server), bearer_token=hs256_token("bob")) as bob:
        assert (await bob.agents.create(agent_pb2.Agent(display_name="Bob's"))).owner == "bob"
    tokens = iter([hs256_token("carol"), hs256_token("dave")])
    async with AsyncClient(address(server), token_provider=lambda: next(tokens)) as renewed:
        owners = [(await renewed.agents.create(agent_pb2.Agent(display_name="x"))).owner for _ in range(2)]
        assert owners == ["carol", "dave"]


async def test_errors_are_typed_and_carry_the_status_details(server: RunwireServer) -> None:
    async with AsyncClient(address(server), api_key=await new_key(server, "erin")) as client:
        with pytest.raises(NotFound) as missing:
            await client.agents.get("agents/nobody")
        error = missing.value
        assert isinstance(error, RunwireError) and isinstance(error, grpc.RpcError)
        assert error.code == grpc.StatusCode.NOT_FOUND
        assert error.reason == "AGENT_NOT_FOUND" and error.domain == "runwire.dev"
        assert error.metadata["resource"] == "agents/nobody"
        assert error.request_id and error.localized_message is not None

        with pytest.raises(InvalidArgument) as bad:
            await client.agents.create(agent_pb2.Agent(display_name=""), agent_id="X!")
        fields = {v.field for v in bad.value.field_violations}
        assert {"agent.display_name", "agent_id"} <= fields
        assert all(v.description for v in bad.value.field_violations)


    async with AsyncClient(address(server), api_key=await new_key(server, "gus")) as client:
        # Three reads fit the bucket; the fourth is refused with QuotaFailure and RetryInfo.
        for _ in range(3):
            [a async for a in client.agents.list()]
        with pytest.raises(ResourceExhausted) as limited:
            [a async for a in client.agents.list()]
        assert limited.value.reason == "RATE_LIMITED"
        assert [v.subject for v in limited.value.quota_violations] == ["principal:gus class:read"]
        assert limited.value.retry_delay is not None and limited.value.retry_delay > 0


async def test_the_sync_client_raises_the_same_typed_errors(server: RunwireServer) -> None:
    key = await new_key(server, "fay")

    def scenario() -> RunwireError:
        with Client(address(server), api_key=key) as client:
            with pytest.raises(NotFound) as missing:
                client.sessions.get("sessions/none")
            return missing.value

    error = await asyncio.wait_for(asyncio.to_thread(scenario), WAIT)
    assert error.reason == "SESSION_NOT_FOUND" and error.metadata["resource"] == "sessions/none"


async def test_deadlines_apply_per_call_and_by_default(server: RunwireServer) -> None:
    async with AsyncClient(address(server), api_key=ADMIN_KEY, timeout=WAIT) as client:
        session = await client.sessions.create(session_pb2.Session(agent=(await client.agents.create(agent_pb2.Agent(display_name="q"))).name))
        # A run that asks a question waits for the answer; the stream's deadline ends the wait for this caller.
        with pytest.raises(DeadlineExceeded):
            async for _ in client.runs.execute(session.name, "[[ask:Which one?]]", timeout=0.5):
                pass
    async with AsyncClient(address(server), api_key=ADMIN_KEY, stream_timeout=0.5) as client:
        with pytest.raises(DeadlineExceeded):
            async for _ in client.runs.execute(session.name, "[[ask:Which one?]]"):
                pass


async def test_any_service_gets_the_clients_credentials_and_errors(server: RunwireServer) -> None:
    async with AsyncClient(address(server), api_key=ADMIN_KEY) as client:
        admin = client.service(admin_pb2_grpc.AdminServiceStub)
        created = set()
        for principal in ("ann", "bob", "cy"):
            request = admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(display_name=principal, principal=principal))
            created.add((await admin.CreateApiKey(request)).api_key.name)
        listed = [k.name async for k in client.pager(admin.ListApiKeys, admin_pb2.ListApiKeysRequest(page_size=1))]
        assert created <= set(listed)
        with pytest.raises(NotFound) as missing:
            await admin.GetApiKey(admin_pb2.GetApiKeyRequest(name="apiKeys/missing"))
        assert missing.value.reason
