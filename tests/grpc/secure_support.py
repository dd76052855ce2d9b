"""Support for the tests of authentication, rate limits, metrics and tenancy: a server with auth on, and callers.

`secure_server()` starts a server that checks credentials (API keys, and JWTs
signed with `JWT_SECRET`), with a known bootstrap admin key. `Caller` is one
credential on its own channel: every stub call made through it carries the
credential, unary or streaming, as a client would send it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import jwt
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from runwire.server.app import RunwireServer
from runwire.server.config import AuthSettings, RateLimitSettings, RunSettings, Settings
from runwire.v1 import (
    admin_pb2,
    admin_pb2_grpc,
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
from tests.conftest import make_settings

ADMIN_KEY = "rw_testAdminKey" + "0" * 28
JWT_SECRET = "a-shared-secret-of-at-least-32-bytes!"
JWT_ISSUER = "https://issuer.test"
JWT_AUDIENCE = "runwire-tests"
STREAM_TIMEOUT = 30.0
assert len(ADMIN_KEY) == 43


def auth_settings(**overrides: Any) -> AuthSettings:
    base = AuthSettings(
        bootstrap_admin_key=ADMIN_KEY,
        jwt_hs256_secret=JWT_SECRET,
        jwt_issuer=JWT_ISSUER,
        jwt_audience=JWT_AUDIENCE,
    )
    return dataclasses.replace(base, **overrides)


def secure_settings(tmp_path: Path, *, auth: AuthSettings | None = None, rate_limits: RateLimitSettings | None = None, **overrides: Any) -> Settings:
    """Auth on; rate limits off unless given; builtin tokens as fast as the reader takes them."""
    return make_settings(
        tmp_path,
        auth=auth or auth_settings(),
        rate_limits=rate_limits or RateLimitSettings(enabled=False),
        runs=RunSettings(builtin_tokens_per_second=0, provider_retry_base_seconds=0.01),
        **overrides,
    )


class _Metadata:
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(tuple(details.metadata or ()) + self._metadata))
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready)


# grpc.aio files an interceptor under one kind of call only, so each kind has its own class.
class _UnaryMetadata(_Metadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)


class _StreamMetadata(_Metadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)


@dataclasses.dataclass
class Caller:
    """Stubs on a channel whose every call carries `metadata` (a credential, a language...)."""

    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]
    agents: agent_pb2_grpc.AgentServiceStub = dataclasses.field(init=False)
    sessions: session_pb2_grpc.SessionServiceStub = dataclasses.field(init=False)
    messages: message_pb2_grpc.MessageServiceStub = dataclasses.field(init=False)
    runs: run_pb2_grpc.RunServiceStub = dataclasses.field(init=False)
    admin: admin_pb2_grpc.AdminServiceStub = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self.sessions = session_pb2_grpc.SessionServiceStub(self.channel)
        self.messages = message_pb2_grpc.MessageServiceStub(self.channel)
        self.runs = run_pb2_grpc.RunServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)

    async def agent(self, display_name: str = "Helper", **fields: Any) -> agent_pb2.Agent:
        return await self.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=display_name, **fields)))

    async def session(self, agent: str | None = None) -> session_pb2.Session:
        agent = agent or (await self.agent()).name
        return await self.sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent)))

    async def message(self, session: str, text: str) -> message_pb2.Message:
        return await self.messages.CreateMessage(
            message_pb2.CreateMessageRequest(
                parent=session,
                message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=text)]),
            )
        )

    def execute(self, session: str, text: str) -> Any:
        return self.runs.ExecuteAgent(
            run_pb2.ExecuteAgentRequest(session=session, input=[common_pb2.ContentPart(text=text)]), timeout=STREAM_TIMEOUT
        )

    def follow(self, run: str, after_seq: int = 0) -> Any:
        return self.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run, after_seq=after_seq), timeout=STREAM_TIMEOUT)

    async def waiting_run(self, session: str | None = None) -> str:
        """A run that stays live: it asks a question and waits for the answer."""
        session = session or (await self.session()).name
        run = await self.runs.CreateRun(
            run_pb2.CreateRunRequest(run=run_pb2.Run(session=session, input=[common_pb2.ContentPart(text="[[ask:Which one?]]")]))
        )
        deadline = time.monotonic() + STREAM_TIMEOUT
        while (await self.runs.GetRun(run_pb2.GetRunRequest(name=run.name))).status != run_pb2.Run.STATUS_REQUIRES_INPUT:
            assert time.monotonic() < deadline, "the run never asked its question"
            await asyncio.sleep(0.02)
        return run.name


@asynccontextmanager
async def caller(server: RunwireServer, *metadata: tuple[str, str]) -> AsyncIterator[Caller]:
    interceptors = [_UnaryMetadata(tuple(metadata)), _StreamMetadata(tuple(metadata))] if metadata else None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", interceptors=interceptors) as channel:
        yield Caller(channel, tuple(metadata))


def api_key(secret: str) -> tuple[str, str]:
    return ("x-api-key", secret)


def bearer(credential: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {credential}")


async def create_key(
    admin: Caller, principal: str, *, role: int = admin_pb2.ApiKey.ROLE_USER, tier: int = 0, expire_in: float | None = None, **fields: Any
) -> admin_pb2.CreateApiKeyResponse:
    key = admin_pb2.ApiKey(display_name=f"{principal}'s key", principal=principal, role=role, tier=tier, **fields)
    if expire_in is not None:
        key.expire_time.FromNanoseconds(time.time_ns() + int(expire_in * 1e9))
    return await admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(api_key=key))


def hs256_token(subject: str = "alice", *, secret: str = JWT_SECRET, expires_in: float = 300, **claims: Any) -> str:
    payload = {"sub": subject, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": int(time.time() + expires_in), **claims}
    for key in [k for k, v in payload.items() if v is None]:
        del payload[key]
    return jwt.encode(payload, secret, algorithm="HS256")


@asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[RunwireServer]:
    server = RunwireServer(settings, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0.5)


@dataclasses.dataclass
class Failure:
    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]
    trailers: dict[str, str]
    retry_delay: float | None
    quota: list[str]
    localized: tuple[str, str] | None
    request_id: str


def failure_of(error: grpc.aio.AioRpcError) -> Failure:
    status = rpc_status.from_call(error)
    assert status is not None, f"{error.code()} without rich status: {error.details()}"
    reason, metadata, retry, quota, localized, request_id = "", {}, None, [], None, ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info_retry = error_details_pb2.RetryInfo()
            detail.Unpack(info_retry)
            retry = info_retry.retry_delay.ToNanoseconds() / 1e9
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota_failure = error_details_pb2.QuotaFailure()
            detail.Unpack(quota_failure)
            quota = [v.subject for v in quota_failure.violations]
        elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            message = error_details_pb2.LocalizedMessage()
            detail.Unpack(message)
            localized = (message.locale, message.message)
        elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            info_request = error_details_pb2.RequestInfo()
            detail.Unpack(info_request)
            request_id = info_request.request_id
    trailers = {k: v for k, v in (error.trailing_metadata() or ()) if isinstance(v, str)}
    assert "Traceback" not in (error.details() or "")
    return Failure(error.code(), error.details() or "", reason, metadata, trailers, retry, quota, localized, request_id)


async def fails(call: Any) -> Failure:
    """Await a unary call, or read a whole stream, that must fail; its decoded status."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if hasattr(call, "read"):
            await asyncio.wait_for(_drain(call), STREAM_TIMEOUT)
        else:
            await call
    return failure_of(caught.value)


async def _drain(call: Any) -> None:
    while await call.read() is not grpc.aio.EOF:
        pass


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


def timestamp_in(seconds_from_now: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(time.time_ns() + int(seconds_from_now * 1e9))
    return ts
