"""Shared fixtures: a real Runwire server in-process on a free port, and stubs on a real channel."""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from runwire.server.app import RunwireServer
from runwire.server.config import AuthSettings, Limits, RateLimitSettings, Settings
from runwire.v1 import agent_pb2, agent_pb2_grpc, message_pb2_grpc, session_pb2, session_pb2_grpc
from tests.postgres_support import PostgresServer
from tests.redis_support import RedisServer

# RUNWIRE_TEST_DATABASE=postgres runs the servers of the tests on a real PostgreSQL (a fresh database
# each); `make test` runs the suites about runs, events and the core resources that way too.
ON_POSTGRES = os.environ.get("RUNWIRE_TEST_DATABASE", "sqlite") == "postgres"
_postgres: PostgresServer | None = None


@dataclasses.dataclass
class Client:
    """Typed stubs over one channel to the server under test."""

    channel: grpc.aio.Channel
    server: RunwireServer
    agents: agent_pb2_grpc.AgentServiceStub
    sessions: session_pb2_grpc.SessionServiceStub
    messages: message_pb2_grpc.MessageServiceStub

    async def agent(self, display_name: str = "Helper", **fields: object) -> agent_pb2.Agent:
        return await self.agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=display_name, **fields))
        )

    async def session(self, agent: str | None = None, **fields: object) -> session_pb2.Session:
        if agent is None:
            agent = (await self.agent()).name
        return await self.sessions.CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent, **fields))
        )


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test server. Authentication and rate limits are off here, explicitly: the tests that use
    these settings are about the API itself. The auth, rate-limit and attack tests pass their own."""
    if _postgres is not None and "database_url" not in overrides:
        overrides["database_url"] = _postgres.database_for(str(tmp_path))
    limits = overrides.pop("limits", Limits())
    auth = overrides.pop("auth", AuthSettings(insecure_no_auth=True))
    rate_limits = overrides.pop("rate_limits", RateLimitSettings(enabled=False))
    return dataclasses.replace(
        Settings(),
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        shutdown_grace_seconds=1.0,
        limits=limits,
        auth=auth,
        rate_limits=rate_limits,
        **overrides,
    )


sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="the test edits or times the SQLite database itself")


@pytest.fixture(scope="session", autouse=True)
def database_backend() -> Iterator[str]:
    """The database the test servers use: SQLite under each test's directory, or one PostgreSQL cluster
    for the whole run (RUNWIRE_TEST_DATABASE=postgres)."""
    global _postgres
    if not ON_POSTGRES:
        yield "sqlite"
        return
    _postgres = PostgresServer()
    try:
        yield "postgresql"
    finally:
        _postgres.stop()
        _postgres = None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunwireServer]:
    instance = RunwireServer(settings)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop(grace=0.5)


@pytest.fixture
async def client(server: RunwireServer) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Client(
            channel=channel,
            server=server,
            agents=agent_pb2_grpc.AgentServiceStub(channel),
            sessions=session_pb2_grpc.SessionServiceStub(channel),
            messages=message_pb2_grpc.MessageServiceStub(channel),
        )


@dataclasses.dataclass
class RpcFailure:
    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]
    field_violations: dict[str, str]
    quota_violations: list[str]


async def rpc_error(call) -> RpcFailure:  # type: ignore[no-untyped-def]
    """Await a call expected to fail, and decode its google.rpc.Status details."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    status = rpc_status.from_call(error)
    reason, metadata, violations, quota = "", {}, {}, []
    assert status is not None, f"{error.code()} without rich status: {error.details()}"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
            assert info.domain == "runwire.dev"
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = {v.field: v.description for v in bad.field_violations}
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            quota = [v.subject for v in failure.violations]
    assert "Traceback" not in error.details()
    return RpcFailure(error.code(), error.details(), reason, metadata, violations, quota)


def new_request_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on a free port of 127.0.0.1 for the whole run; tests keep apart by key prefix."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()
