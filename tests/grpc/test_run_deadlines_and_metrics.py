"""A streaming caller's deadline bounds the run's model calls while the caller waits, not a run paused for a
person nor one whose caller has gone; runs and tokens are counted in the metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from runwire.server.app import RunwireServer
from runwire.server.core.metrics import REGISTRY
from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    event_pb2,
    event_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.grpc.run_support import (
    APPROVE,
    FAILED,
    STREAM_TIMEOUT,
    SUCCEEDED,
    TIMED_OUT,
    Runs,
    drain,
    kinds,
    read_until,
    read_until_kind,
    run_name_of,
    run_settings,
    seconds,
    serving,
    text,
)


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


# -- a run that waits for a person outlives its caller's deadline --------------------------------------------

APPROVAL_DIRECTIVE = '[[tool:calculator {"expression": "6*7"}]] then [[sleep:0.2]]'
# Long enough for a run to start and pause on a busy machine; the tests wait for it to pass.
SHORT_DEADLINE = 3.0


async def _paused_past_the_deadline(runs: Runs, session: str, **options: Any) -> tuple[str, str]:
    """ExecuteAgent with a short deadline: the run pauses for approval, the deadline ends the stream.
    Returns the run's name and the id of its input request."""
    call = runs.stub.ExecuteAgent(
        run_pb2.ExecuteAgentRequest(session=session, input=[text(APPROVAL_DIRECTIVE)], options=run_pb2.RunOptions(**options)),
        timeout=SHORT_DEADLINE,
    )
    seen = await read_until_kind(call, "input_required")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain(call)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    return seen[-1].run, seen[-1].input_required.input_request.id


def _after_the_approval(events: list[run_pb2.RunEvent]) -> list[str]:
    names = kinds(events)
    return names[names.index("input_received") :]


async def test_a_run_approved_after_its_callers_deadline_completes(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session(approval=["calculator"])
        name, request_id = await _paused_past_the_deadline(runs, session)
        await runs.approve(name, request_id)
        done = await runs.wait_end(name)
        assert done.status == SUCCEEDED, done.error
        assert "42" in done.output.text
        after = _after_the_approval(await runs.follow(name))
        assert after[:3] == ["input_received", "tool_call_started", "tool_call_completed"]
        assert after[-1] == "run_completed" and "run_failed" not in after


async def test_a_run_approved_on_connect_after_its_callers_deadline_completes(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session(approval=["calculator"])
        name, request_id = await _paused_past_the_deadline(runs, session)
        connect = event_pb2_grpc.EventServiceStub(runs.client.channel).Connect(timeout=STREAM_TIMEOUT)
        await connect.write(event_pb2.ConnectRequest(hello=event_pb2.ConnectHello(client_name="approver", accept_input_requests=True)))
        request = (await read_until(connect, lambda r: r.WhichOneof("message") == "request"))[-1].request
        assert request.input_request.run == name and request.id == request_id
        await connect.write(
            event_pb2.ConnectRequest(
                response=event_pb2.ServerRequestAnswer(server_request_id=request.id, approval=run_pb2.Approval(decision=APPROVE))
            )
        )
        await read_until(connect, lambda r: r.WhichOneof("message") == "request_resolved")
        connect.cancel()
        done = await runs.wait_end(name)
        assert done.status == SUCCEEDED, done.error
        assert _after_the_approval(await runs.follow(name))[-1] == "run_completed"


async def test_stream_tokens_leaves_a_run_that_outlives_its_deadline(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session(approval=["calculator"])
        deadline = time.time() + SHORT_DEADLINE
        call = runs.stub.StreamTokens(
            run_pb2.StreamTokensRequest(session=session, input=[text(APPROVAL_DIRECTIVE)]), timeout=SHORT_DEADLINE
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await drain(call)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # RUN_REQUIRES_INPUT
        name = await run_name_of(call)
        run = await runs.get(name)
        # Answered only once the caller's deadline has passed.
        await asyncio.sleep(max(deadline - time.time(), 0) + 0.2)
        await runs.approve(name, run.pending_input.id)
        done = await runs.wait_end(name)
        assert done.status == SUCCEEDED, done.error


async def test_a_caller_gone_before_its_deadline_no_longer_bounds_the_run(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session()
        call = runs.stub.ExecuteAgent(
            run_pb2.ExecuteAgentRequest(session=session, input=[text("[[sleep:2]] done")]), timeout=1.5
        )
        name = (await read_until_kind(call, "run_started"))[-1].run
        call.cancel()  # gone, without cancel_on_disconnect: the run goes on, within its own limits only
        done = await runs.wait_end(name)
        assert done.status == SUCCEEDED, done.error


async def test_the_runs_own_input_timeout_still_ends_it_after_the_callers_deadline(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session(approval=["calculator"])
        name, _ = await _paused_past_the_deadline(runs, session, input_timeout=seconds(SHORT_DEADLINE + 0.5))
        done = await runs.wait_end(name)
        assert done.status == FAILED and done.error.reason == "INPUT_TIMEOUT"


async def test_the_runs_own_time_limit_still_ends_it_after_the_callers_deadline(tmp_path: Path) -> None:
    async with serving(tmp_path) as runs:
        session = await runs.session(approval=["calculator"])
        name, _ = await _paused_past_the_deadline(runs, session, max_duration=seconds(SHORT_DEADLINE + 0.5))
        done = await runs.wait_end(name)
        assert done.status == TIMED_OUT and done.error.reason == "RUN_TIMED_OUT"
