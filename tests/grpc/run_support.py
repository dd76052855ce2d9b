"""Support for the RunService tests: a server with run settings, its stubs, and ways to follow runs.

Everything that reads a stream or waits for a run is bounded by a timeout,
so a test that finds a bug fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

import grpc
from google.protobuf import duration_pb2, json_format, struct_pb2

from runwire.server.app import RunwireServer
from runwire.server.config import NetworkSettings, RunSettings, Settings
from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    message_pb2,
    message_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2_grpc,
)
from tests.conftest import Client, make_settings

Run = run_pb2.Run
QUEUED, RUNNING, REQUIRES_INPUT = Run.STATUS_QUEUED, Run.STATUS_RUNNING, Run.STATUS_REQUIRES_INPUT
SUCCEEDED, FAILED, CANCELLED, TIMED_OUT = Run.STATUS_SUCCEEDED, Run.STATUS_FAILED, Run.STATUS_CANCELLED, Run.STATUS_TIMED_OUT
TERMINAL = {SUCCEEDED, FAILED, CANCELLED, TIMED_OUT}
TERMINAL_EVENTS = {"run_completed", "run_failed", "run_cancelled", "run_timed_out"}
APPROVE, DENY = run_pb2.Approval.DECISION_APPROVE, run_pb2.Approval.DECISION_DENY
TOOL_STATE = run_pb2.ToolExecution

# Long enough for anything these tests do; short enough that a hang fails fast.
STREAM_TIMEOUT = 30.0
RUN_HEADER = "runwire-run"


# The fake model and MCP servers listen on loopback, which the egress policy refuses unless allowed.
FAKES_ALLOWED = NetworkSettings(egress_allowed_destinations=("127.0.0.1",))


def run_settings(tmp_path: Path, **runs: Any) -> Settings:
    """Test settings: tokens as fast as the reader takes them, quick provider retries, the fake servers reachable."""
    base = RunSettings(builtin_tokens_per_second=0, provider_retry_base_seconds=0.01)
    return dataclasses.replace(make_settings(tmp_path), runs=dataclasses.replace(base, **runs), network=FAKES_ALLOWED)


def kind(event: run_pb2.RunEvent) -> str:
    return event.WhichOneof("payload") or ""


def kinds(events: Iterable[run_pb2.RunEvent]) -> list[str]:
    return [kind(e) for e in events]


def text_of(events: Iterable[run_pb2.RunEvent]) -> str:
    return "".join(e.text_delta.text for e in events if kind(e) == "text_delta")


def non_delta(events: Iterable[run_pb2.RunEvent]) -> list[tuple[int, str]]:
    return [(e.seq, kind(e)) for e in events if kind(e) != "text_delta"]


def text(value: str) -> common_pb2.ContentPart:
    return common_pb2.ContentPart(text=value)


def struct(**values: Any) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


def as_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(value)


@dataclasses.dataclass
class Runs:
    """A Runwire server under test, with the stubs of its run, agent, session and message services."""

    client: Client
    stub: run_pb2_grpc.RunServiceStub

    @property
    def server(self) -> RunwireServer:
        return self.client.server

    # -- setup ----------------------------------------------------------------

    async def agent(
        self,
        *,
        tools: Iterable[str] = (),
        approval: Iterable[str] = (),
        provider: str = "",
        model: str = "",
        base_url: str = "",
        options: dict[str, Any] | None = None,
        limits: agent_pb2.AgentLimits | None = None,
        **fields: Any,
    ) -> str:
        """An agent; `approval` names tools that need a person's approval."""
        agent_tools = [agent_pb2.AgentTool(name=name) for name in tools]
        agent_tools += [agent_pb2.AgentTool(name=name, requires_approval=True) for name in approval]
        model_config = agent_pb2.ModelConfig(provider=provider, model=model, base_url=base_url)
        if options:
            model_config.options.update(options)
        agent = await self.client.agent(tools=agent_tools, model=model_config, limits=limits, **fields)
        return agent.name

    async def session(self, agent: str | None = None, **agent_fields: Any) -> str:
        if agent is None:
            agent = await self.agent(**agent_fields)
        return (await self.client.session(agent)).name

    # -- runs -----------------------------------------------------------------

    def execute(self, session: str, *parts: str, **request: Any) -> Any:
        """The ExecuteAgent call (a stream, not yet read)."""
        return self.stub.ExecuteAgent(
            run_pb2.ExecuteAgentRequest(session=session, input=[text(p) for p in parts], **request),
            timeout=STREAM_TIMEOUT,
        )

    def stream_tokens(self, session: str, *parts: str, **request: Any) -> Any:
        return self.stub.StreamTokens(
            run_pb2.StreamTokensRequest(session=session, input=[text(p) for p in parts], **request),
            timeout=STREAM_TIMEOUT,
        )

    def stream_events(self, run: str, after_seq: int = 0) -> Any:
        return self.stub.StreamRunEvents(
            run_pb2.StreamRunEventsRequest(run=run, after_seq=after_seq), timeout=STREAM_TIMEOUT
        )

    async def execute_all(self, session: str, *parts: str, **request: Any) -> list[run_pb2.RunEvent]:
        """Execute and read every event until the stream ends."""
        return await drain(self.execute(session, *parts, **request))

    async def follow(self, run: str, after_seq: int = 0) -> list[run_pb2.RunEvent]:
        return await drain(self.stream_events(run, after_seq))

    def create_call(self, session: str, *parts: str, run_id: str = "", request_id: str = "", validate_only: bool = False, **run: Any) -> Any:
        return self.stub.CreateRun(
            run_pb2.CreateRunRequest(
                run=Run(session=session, input=[text(p) for p in parts], **run),
                run_id=run_id,
                request_id=request_id,
                validate_only=validate_only,
            )
        )

    async def create(self, session: str, *parts: str, **kwargs: Any) -> Run:
        return await self.create_call(session, *parts, **kwargs)

    async def get(self, name: str) -> Run:
        return await self.stub.GetRun(run_pb2.GetRunRequest(name=name))

    async def wait_for(self, name: str, condition: Callable[[Run], bool], timeout: float = STREAM_TIMEOUT) -> Run:
        """Poll GetRun until `condition` holds."""
        deadline = time.monotonic() + timeout
        while True:
            run = await self.get(name)
            if condition(run):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} never met the condition; last seen:\n{run}")
            await asyncio.sleep(0.02)

    async def wait_status(self, name: str, *statuses: int, timeout: float = STREAM_TIMEOUT) -> Run:
        return await self.wait_for(name, lambda r: r.status in statuses, timeout)

    async def wait_end(self, name: str, timeout: float = STREAM_TIMEOUT) -> Run:
        return await self.wait_for(name, lambda r: r.status in TERMINAL, timeout)

    def submit_call(self, name: str, input_request_id: str, **answer: Any) -> Any:
        return self.stub.SubmitInput(run_pb2.SubmitInputRequest(name=name, input_request_id=input_request_id, **answer))

    async def approve(self, name: str, input_request_id: str, edited: dict[str, Any] | None = None, **approval: Any) -> Run:
        decision = run_pb2.Approval(decision=APPROVE, **approval)
        if edited is not None:
            decision.edited_arguments.update(edited)
        return await self.submit_call(name, input_request_id, approval=decision)

    async def deny(self, name: str, input_request_id: str, reason: str = "") -> Run:
        return await self.submit_call(name, input_request_id, approval=run_pb2.Approval(decision=DENY, reason=reason))

    async def cancel(self, name: str, reason: str = "") -> Run:
        return await self.stub.CancelRun(run_pb2.CancelRunRequest(name=name, reason=reason))

    async def list(self, **request: Any) -> run_pb2.ListRunsResponse:
        return await self.stub.ListRuns(run_pb2.ListRunsRequest(**request))

    async def messages(self, session: str) -> list[message_pb2.Message]:
        found: list[message_pb2.Message] = []
        token = ""
        while True:
            page = await self.client.messages.ListMessages(
                message_pb2.ListMessagesRequest(parent=session, page_token=token, page_size=1000)
            )
            found.extend(page.messages)
            token = page.next_page_token
            if not token:
                return found


async def drain(call: Any, timeout: float = STREAM_TIMEOUT) -> list[Any]:
    """Every message of a stream until it ends; raises the call's error if it fails."""

    async def read() -> list[Any]:
        # read(), not iteration: a test may have read the first messages of the same call with read().
        messages: list[Any] = []
        while (message := await call.read()) is not grpc.aio.EOF:
            messages.append(message)
        return messages

    return await asyncio.wait_for(read(), timeout)


async def read_until(call: Any, stop: Callable[[Any], bool], timeout: float = STREAM_TIMEOUT) -> list[Any]:
    """Read messages of a stream up to and including the first that satisfies `stop`."""

    async def read() -> list[Any]:
        seen: list[Any] = []
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                raise AssertionError(f"the stream ended before the awaited message; got {len(seen)} message(s)")
            seen.append(message)
            if stop(message):
                return seen

    return await asyncio.wait_for(read(), timeout)


async def read_until_kind(call: Any, *wanted: str, timeout: float = STREAM_TIMEOUT) -> list[run_pb2.RunEvent]:
    return await read_until(call, lambda e: kind(e) in wanted, timeout)


async def run_name_of(call: Any) -> str:
    """The run a streaming call follows, from its `runwire-run` response header."""
    metadata = dict(await asyncio.wait_for(call.initial_metadata(), STREAM_TIMEOUT))
    return metadata[RUN_HEADER]


@asynccontextmanager
async def serving(tmp_path: Path, **runs: Any) -> AsyncIterator[Runs]:
    """A server with run settings overridden by `runs`, and stubs on a channel to it."""
    server = RunwireServer(run_settings(tmp_path, **runs))
    await server.start()
    try:
        async with connected(server) as client:
            yield client
    finally:
        await server.stop(grace=0.5)


@asynccontextmanager
async def connected(server: RunwireServer) -> AsyncIterator[Runs]:
    """Stubs on a channel to a running server."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        client = Client(
            channel=channel,
            server=server,
            agents=agent_pb2_grpc.AgentServiceStub(channel),
            sessions=session_pb2_grpc.SessionServiceStub(channel),
            messages=message_pb2_grpc.MessageServiceStub(channel),
        )
        yield Runs(client=client, stub=run_pb2_grpc.RunServiceStub(channel))
