"""A streaming caller's deadline bounds the run's model calls; runs and tokens are counted in the metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from runwire.server.api.metrics import REGISTRY
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, agent_pb2_grpc, common_pb2, run_pb2, run_pb2_grpc, session_pb2, session_pb2_grpc
from tests.grpc.run_support import run_settings


async def _session(channel: grpc.aio.Channel) -> str:
    agents = agent_pb2_grpc.AgentServiceStub(channel)
    sessions = session_pb2_grpc.SessionServiceStub(channel)
    agent = await agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="timed")))
    session = await sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name)))
    return session.name


async def _wait_until_ended(runs: run_pb2_grpc.RunServiceStub, name: str) -> run_pb2.Run:
    for _ in range(200):
        run = await runs.GetRun(run_pb2.GetRunRequest(name=name))
        if run.status >= run_pb2.Run.STATUS_SUCCEEDED:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not end")


async def test_the_callers_deadline_bounds_the_model_call(tmp_path: Path) -> None:
    server = RunwireServer(run_settings(tmp_path, builtin_tokens_per_second=0))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            runs = run_pb2_grpc.RunServiceStub(channel)
            call = runs.ExecuteAgent(
                run_pb2.ExecuteAgentRequest(session=await _session(channel), input=[common_pb2.ContentPart(text="[[sleep:30]]")]),
                timeout=0.5,
            )
            first = await call.read()
            assert first.WhichOneof("payload") == "run_created"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                while await call.read() is not grpc.aio.EOF:
                    pass
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The run outlives its stream, but its model call does not outlive the caller's deadline.
            run = await _wait_until_ended(runs, first.run)
            assert run.status == run_pb2.Run.STATUS_FAILED
            assert run.error.reason == "DEADLINE_EXCEEDED"
    finally:
        await server.stop(grace=0.2)


async def test_create_run_is_not_bound_by_its_calls_deadline(tmp_path: Path) -> None:
    server = RunwireServer(run_settings(tmp_path, builtin_tokens_per_second=0))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            runs = run_pb2_grpc.RunServiceStub(channel)
            run = await runs.CreateRun(
                run_pb2.CreateRunRequest(
                    run=run_pb2.Run(session=await _session(channel), input=[common_pb2.ContentPart(text="[[sleep:0.6]] hi")])
                ),
                timeout=0.3,
            )
            ended = await _wait_until_ended(runs, run.name)
            assert ended.status == run_pb2.Run.STATUS_SUCCEEDED
    finally:
        await server.stop(grace=0.2)


async def test_runs_and_tokens_are_counted(tmp_path: Path) -> None:
    def sample(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    started = sample("runwire_runs_started_total")
    succeeded = sample("runwire_runs_finished_total", {"status": "succeeded"})
    tokens = sample("runwire_tokens_streamed_total")
    server = RunwireServer(run_settings(tmp_path, builtin_tokens_per_second=0))
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            runs = run_pb2_grpc.RunServiceStub(channel)
            request = run_pb2.ExecuteAgentRequest(session=await _session(channel), input=[common_pb2.ContentPart(text="[[tokens:7]]")])
            events = [event async for event in runs.ExecuteAgent(request)]
            assert events[-1].WhichOneof("payload") == "run_completed"
    finally:
        await server.stop(grace=0.2)
    assert sample("runwire_runs_started_total") == started + 1
    assert sample("runwire_runs_finished_total", {"status": "succeeded"}) == succeeded + 1
    assert sample("runwire_tokens_streamed_total") == tokens + 7
