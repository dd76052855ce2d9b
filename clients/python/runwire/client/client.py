"""`Client` (sync) and `AsyncClient` (asyncio): one channel to a Runwire server.

    with Client("127.0.0.1:50051", api_key="rw_...") as client:
        agent = client.agents.create(agent_pb2.Agent(display_name="Support"))

    async with AsyncClient("127.0.0.1:50051", bearer_token=jwt) as client:
        agent = await client.agents.get("agents/support")
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import grpc

from runwire.client.calls import CallDefaults, Method, Service
from runwire.client.crews import Crews
from runwire.client.pagers import AsyncPager, Pager
from runwire.client.resources import Agents, Messages, Messaging, Runs, Secrets, Sessions
from runwire.client.run_stream import AsyncRunStream, Opener, ResumePolicy, RunStream, _Progress
from runwire.client.service_config import RetryPolicy, service_config
from runwire.client.tools import McpServers, Tools

DEFAULT_TARGET = "127.0.0.1:50051"
API_KEY_HEADER = "x-api-key"
AUTHORIZATION_HEADER = "authorization"


def channel_options(retry: RetryPolicy | None, extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    """The channel arguments every client sets: the retry service config, and prompt reconnection."""
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1 if retry is not None else 0),
        ("grpc.service_config", service_config(retry)),
        # Reconnect within seconds after a restart instead of grpc's default of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]
    overridden = {name for name, _ in extra}
    return [option for option in options if option[0] not in overridden] + list(extra)


def credentials_metadata(api_key: str | None, bearer_token: str | None) -> tuple[tuple[str, str], ...]:
    if api_key and bearer_token:
        raise ValueError("give api_key or bearer_token, not both")
    if api_key:
        return ((API_KEY_HEADER, api_key),)
    if bearer_token:
        return ((AUTHORIZATION_HEADER, f"Bearer {bearer_token}"),)
    return ()


class BaseClient:
    """What both clients share; use `Client` or `AsyncClient`."""

    asyncio = False

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        bearer_token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        timeout: float | None = 30.0,
        stream_timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        retry: RetryPolicy | None = RetryPolicy(),
        resume: ResumePolicy = ResumePolicy(),
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        """
        target: HOST:PORT of the server.
        api_key / bearer_token: sent as `x-api-key` / `authorization: Bearer` on every call;
            token_provider: a callable returning a fresh bearer token for each call instead.
        timeout: default deadline in seconds of unary calls; stream_timeout: of streaming calls (None: none).
        metadata: more metadata sent on every call (e.g. ("accept-language", "de")).
        credentials: TLS channel credentials; None for a plaintext channel.
        retry: how grpc retries safe (read-only) calls on UNAVAILABLE; None turns retries off.
        resume: how run streams reconnect after a dropped connection.
        options: more grpc channel arguments.
        """
        if token_provider is not None and (api_key or bearer_token):
            raise ValueError("give token_provider alone, without api_key or bearer_token")
        provider = None
        if token_provider is not None:
            provider = lambda: credentials_metadata(None, token_provider())  # noqa: E731
        self.target = target
        self.defaults = CallDefaults(
            timeout=timeout,
            stream_timeout=stream_timeout,
            metadata=credentials_metadata(api_key, bearer_token) + tuple(metadata),
            metadata_provider=provider,
        )
        self.resume = resume
        self.channel = self._open_channel(target, credentials, channel_options(retry, options))
        self.agents = Agents(self)
        self.sessions = Sessions(self)
        self.messages = Messages(self)
        self.runs = Runs(self)
        self.crews = Crews(self)
        self.tools = Tools(self)
        self.mcp_servers = McpServers(self)
        self.secrets = Secrets(self)
        self.messaging = Messaging(self)

    @property
    def timeout(self) -> float | None:
        """The default deadline of unary calls, in seconds."""
        return self.defaults.timeout

    def _open_channel(self, target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> Any:
        raise NotImplementedError

    def service(self, stub_class: type) -> Service:
        """Any generated stub with this client's credentials, deadlines and typed errors:
        `client.service(file_pb2_grpc.FileServiceStub).GetFile(request)`."""
        return Service(stub_class, self.channel, self.defaults, self.asyncio)

    def pager(self, method: Method, request: Any, items: str | None = None, **call_options: Any) -> Any:
        """Iterate the items of every page of a List/Search method of `service(...)`;
        `items` names the response's repeated field (default: its first repeated message field)."""
        raise NotImplementedError

    def run_stream(self, open_call: Opener, resume_call: Opener, progress: _Progress) -> Any:
        raise NotImplementedError


class Client(BaseClient):
    """A synchronous client. Use it in a `with` block, or call `close()`."""

    def _open_channel(self, target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> grpc.Channel:
        if credentials is not None:
            return grpc.secure_channel(target, credentials, options=options)
        return grpc.insecure_channel(target, options=options)

    def pager(self, method: Method, request: Any, items: str | None = None, **call_options: Any) -> Pager[Any]:
        return Pager(method, request, items, call_options)

    def run_stream(self, open_call: Opener, resume_call: Opener, progress: _Progress) -> RunStream:
        return RunStream(self.channel, open_call, resume_call, progress)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(BaseClient):
    """An asyncio client. Use it in an `async with` block, or await `close()`."""

    asyncio = True

    def _open_channel(self, target: str, credentials: grpc.ChannelCredentials | None, options: list[tuple[str, Any]]) -> grpc.aio.Channel:
        if credentials is not None:
            return grpc.aio.secure_channel(target, credentials, options=options)
        return grpc.aio.insecure_channel(target, options=options)

    def pager(self, method: Method, request: Any, items: str | None = None, **call_options: Any) -> AsyncPager[Any]:
        return AsyncPager(method, request, items, call_options)

    def run_stream(self, open_call: Opener, resume_call: Opener, progress: _Progress) -> AsyncRunStream:
        return AsyncRunStream(self.channel, open_call, resume_call, progress)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
