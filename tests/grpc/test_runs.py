"""RunService through a real channel: executing agents, tools, people in the loop, limits, providers, restarts.

Streams (cancellation, disconnects, resumption, coalescing) are in test_run_streams.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, json_format
from sqlalchemy import func, select

from runwire.server.app import RunwireServer
from runwire.server.store.models import SessionRow
from runwire.v1 import agent_pb2, message_pb2, run_pb2, session_pb2
from tests.conftest import new_request_id, rpc_error, sqlite_only
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    chunk,
    error,
    events,
    raw_stream,
    text_stream,
    tool_piece,
    usage_chunk,
)
from tests.grpc.leak_support import assert_no_internals
from tests.grpc.run_support import (
    CANCELLED,
    FAILED,
    QUEUED,
    REQUIRES_INPUT,
    RUNNING,
    SUCCEEDED,
    TERMINAL_EVENTS,
    TIMED_OUT,
    TOOL_STATE,
    Runs,
    as_dict,
    connected,
    drain,
    kind,
    kinds,
    read_until_kind,
    run_name_of,
    run_settings,
    seconds,
    serving,
    text_of,
)

USER = message_pb2.Message.ROLE_USER
ASSISTANT = message_pb2.Message.ROLE_ASSISTANT
TOOL = message_pb2.Message.ROLE_TOOL
SIX_TIMES_SEVEN = '[[tool:calculator {"expression": "6*7"}]]'


@pytest.fixture
async def runs(tmp_path: Path) -> AsyncIterator[Runs]:
    async with serving(tmp_path) as instance:
        yield instance


def collapse_deltas(names: list[str]) -> list[str]:
    """Event kinds with each run of consecutive text deltas shown once."""
    collapsed: list[str] = []
    for name in names:
        if name == "text_delta" and collapsed and collapsed[-1] == "text_delta":
            continue
        collapsed.append(name)
    return collapsed


def only(events: list[run_pb2.RunEvent], name: str) -> list[run_pb2.RunEvent]:
    return [e for e in events if kind(e) == name]


def tool_results(messages: list[message_pb2.Message]) -> list[Any]:
    return [p.tool_result for m in messages if m.role == TOOL for p in m.content if p.HasField("tool_result")]


def assert_seqs_increase_to(events: list[run_pb2.RunEvent], last_seq: int) -> None:
    seqs = [e.seq for e in events]
    assert seqs[0] == 1
    assert all(b > a for a, b in zip(seqs, seqs[1:])), seqs
    assert seqs[-1] == last_seq


class CountingProvider:
    """Wraps a provider to count model call attempts."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    def stream(self, request: Any) -> Any:
        self.calls += 1
        return self.inner.stream(request)


def count_model_calls(runs: Runs, monkeypatch: pytest.MonkeyPatch, provider: str = "builtin") -> CountingProvider:
    counting = CountingProvider(runs.server.runner.providers[provider])
    monkeypatch.setitem(runs.server.runner.providers, provider, counting)  # type: ignore[arg-type]
    return counting


@pytest.fixture
def slow_terminal_commits(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Make the commit of every terminal event take 0.5 s; the event is set when one starts."""
    log = runs.server.event_log
    original = log._commit
    started = asyncio.Event()

    async def commit(batch: Any) -> None:
        if any(kind(e) in TERMINAL_EVENTS for w in batch for e in w.events):
            started.set()
            await asyncio.sleep(0.5)
        await original(batch)

    monkeypatch.setattr(log, "_commit", commit)
    return started


# -- ExecuteAgent ----------------------------------------------------------


async def test_execute_agent_streams_the_run_from_creation_to_completion(runs: Runs) -> None:
    session = await runs.session()
    call = runs.execute(session, "hello there")
    events = await drain(call)
    name = await run_name_of(call)
    run = await runs.get(name)

    assert collapse_deltas(kinds(events)) == [
        "run_created",
        "run_started",
        "message_created",
        "text_delta",
        "message_created",
        "step_completed",
        "usage_updated",
        "run_completed",
    ]
    assert_seqs_increase_to(events, run.last_seq)
    assert all(e.run == name and e.HasField("create_time") for e in events)

    created, started, user_message = events[0], events[1], events[2]
    assert created.run_created.run.name == name
    assert created.run_created.run.status == QUEUED
    assert created.run_created.run.session == session
    assert started.run_started.provider == "builtin"
    assert user_message.message_created.message.role == USER
    assert user_message.message_created.message.text == "hello there"
    assert user_message.message_created.message.run == name

    streamed = text_of(events)
    assert streamed == "You said: hello there"
    assert all(e.text_delta.text and e.text_delta.step_index == 0 for e in only(events, "text_delta"))
    assistant = only(events, "message_created")[1].message_created.message
    assert assistant.role == ASSISTANT and assistant.text == streamed and assistant.run == name
    step = only(events, "step_completed")[0].step_completed.step
    assert step.index == 0
    assert step.model_call.provider == "builtin"
    assert step.model_call.finish_reason == run_pb2.ModelCall.FINISH_REASON_STOP
    assert step.model_call.text == streamed
    assert step.model_call.message == assistant.name
    assert step.model_call.attempts == 1
    usage = only(events, "usage_updated")[0].usage_updated.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0
    completed = events[-1].run_completed
    assert completed.output.text == streamed
    assert completed.output.message == assistant.name
    assert completed.usage == usage
    assert completed.duration.ToNanoseconds() > 0
    assert 0 < completed.time_to_first_token.ToNanoseconds() <= completed.duration.ToNanoseconds()

    messages = await runs.messages(session)
    assert [(m.role, m.text, m.run) for m in messages] == [(USER, "hello there", name), (ASSISTANT, streamed, name)]

    assert run.status == SUCCEEDED
    assert run.output.text == streamed
    assert [p.text for p in run.output.parts] == [streamed]
    assert run.output.message == assistant.name
    assert len(run.steps) == 1 and run.steps[0].model_call.text == streamed
    assert run.usage == usage
    assert run.HasField("start_time") and run.HasField("end_time")
    assert run.end_time.ToNanoseconds() >= run.start_time.ToNanoseconds() >= run.create_time.ToNanoseconds()
    assert 0 < run.time_to_first_token.ToNanoseconds() <= run.duration.ToNanoseconds()
    assert not run.HasField("pending_input") and not run.HasField("error")
    assert run.owner == "local" and run.agent and run.etag


async def test_execute_agent_with_the_same_request_id_follows_the_first_run(runs: Runs) -> None:
    session = await runs.session()
    request_id = new_request_id()
    first = await runs.execute_all(session, "only once", request_id=request_id)
    again = runs.execute(session, "only once", request_id=request_id)
    replayed = await drain(again)

    assert await run_name_of(again) == first[0].run
    assert replayed[0].seq == 1 and replayed[0].run == first[0].run
    assert kind(replayed[-1]) == "run_completed"
    assert text_of(replayed) == text_of(first)
    assert (await runs.list()).total_size == 1
    assert len(await runs.messages(session)) == 2


async def test_get_run_of_a_run_in_progress_shows_how_far_it_has_come(runs: Runs) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    call = runs.execute(session, "[[tokens:400]]")
    seen = await read_until_kind(call, "text_delta")
    name = seen[0].run

    first = await runs.get(name)
    assert first.status == RUNNING
    assert first.HasField("start_time") and not first.HasField("end_time") and not first.HasField("output")
    assert first.last_seq >= seen[-1].seq
    assert first.time_to_first_token.ToNanoseconds() > 0
    assert first.duration.ToNanoseconds() >= first.time_to_first_token.ToNanoseconds()
    await asyncio.sleep(0.2)
    later = await runs.get(name)
    assert later.duration.ToNanoseconds() >= first.duration.ToNanoseconds() + 0.15e9
    assert later.last_seq > first.last_seq
    assert later.time_to_first_token == first.time_to_first_token

    rest = await drain(call)
    done = await runs.get(name)
    assert done.status == SUCCEEDED
    # The same duration (the row keeps milliseconds as a float: allow for rounding).
    assert done.duration.ToNanoseconds() == pytest.approx(rest[-1].run_completed.duration.ToNanoseconds(), abs=1000)
    assert done.time_to_first_token == first.time_to_first_token


async def test_instructions_and_additional_instructions_reach_the_model_as_system_text(
    runs: Runs, tmp_path: Path
) -> None:
    async with FakeOpenAIServer() as fake:
        fake.script(text_stream("ok"))
        agent = await runs.agent(provider="openai", model="test-model", base_url=fake.base_url, instructions="Be brief.")
        session = await runs.session(agent)
        events = await runs.execute_all(
            session, "Hi", options=run_pb2.RunOptions(additional_instructions="Answer in French.")
        )
        assert kind(events[-1]) == "run_completed"
        messages = fake.requests[0].json()["messages"]
        assert messages[0] == {"role": "system", "content": "Be brief.\n\nAnswer in French."}
        assert messages[-1] == {"role": "user", "content": "Hi"}


# -- Tools -----------------------------------------------------------------


async def test_a_tool_call_runs_the_tool_and_gives_the_result_to_the_model(runs: Runs) -> None:
    session = await runs.session(tools=["calculator"])
    events = await runs.execute_all(session, SIX_TIMES_SEVEN)
    name = events[0].run

    assert collapse_deltas(kinds(events)) == [
        "run_created",
        "run_started",
        "message_created",  # the input
        "message_created",  # the assistant's tool call
        "tool_call_started",
        "tool_call_completed",
        "message_created",  # the tool's result
        "step_completed",
        "usage_updated",
        "text_delta",
        "message_created",  # the final answer
        "step_completed",
        "usage_updated",
        "run_completed",
    ]
    started = only(events, "tool_call_started")[0].tool_call_started
    assert started.step_index == 0
    assert started.tool_call.tool == "calculator"
    assert as_dict(started.tool_call.arguments) == {"expression": "6*7"}
    completed = only(events, "tool_call_completed")[0].tool_call_completed
    assert completed.tool == "calculator" and completed.step_index == 0
    assert completed.state == TOOL_STATE.STATE_SUCCEEDED
    assert not completed.result.is_error
    assert completed.result.tool_call_id == started.tool_call.id
    assert as_dict(completed.result.output)["value"] == 42

    messages = await runs.messages(session)
    assert [m.role for m in messages] == [USER, ASSISTANT, TOOL, ASSISTANT]
    assert messages[1].content[0].tool_call.id == started.tool_call.id
    (result,) = tool_results(messages)
    assert result.tool_call_id == started.tool_call.id and as_dict(result.output)["value"] == 42
    assert "42" in messages[3].text

    run = await runs.get(name)
    assert run.status == SUCCEEDED
    assert "42" in run.output.text and run.output.text == text_of(events)
    assert [s.index for s in run.steps] == [0, 1]
    assert run.steps[0].model_call.finish_reason == run_pb2.ModelCall.FINISH_REASON_TOOL_CALLS
    assert run.steps[1].model_call.finish_reason == run_pb2.ModelCall.FINISH_REASON_STOP
    (execution,) = run.steps[0].tool_calls
    assert execution.state == TOOL_STATE.STATE_SUCCEEDED
    assert execution.call.tool == "calculator"
    assert not execution.required_approval and not execution.decided_by
    assert as_dict(execution.result.output)["value"] == 42
    assert execution.HasField("start_time") and execution.HasField("end_time")
    assert not run.steps[1].tool_calls


@pytest.mark.parametrize(
    ("directive", "error_words"),
    [
        pytest.param('[[tool:calculator {"expression": "import os"}]]', "not an arithmetic expression", id="bad-expression"),
        pytest.param('[[tool:calculator {"expression": "10**1000"}]]', "the result is too large", id="overflow"),
        pytest.param('[[tool:calculator {"expression": "sqrt(-1)"}]]', "outside its domain", id="math-domain"),
        pytest.param('[[tool:calculator {"expression": "max()"}]]', "wrong number or kind of arguments", id="bad-call"),
        pytest.param('[[tool:calculator {"expression": "(-8)**0.5"}]]', "not a real number", id="complex"),
        pytest.param(
            '[[tool:calculator {"expression": "__import__(\'os\').getcwd()"}]]', "not allowed", id="forbidden-call"
        ),
        pytest.param('[[tool:calculator {"expression": "1/0"}]]', "division by zero", id="division-by-zero"),
        pytest.param('[[tool:calculator {"expr": "1+1"}]]', "invalid arguments", id="schema-violation"),
        pytest.param('[[tool:calculator {}]]', "invalid arguments", id="missing-argument"),
        pytest.param("[[tool:current_time]]", "not available", id="tool-not-on-agent"),
        pytest.param("[[tool:no_such_tool]]", "not available", id="unknown-tool"),
    ],
)
async def test_a_failing_tool_call_is_returned_to_the_model_and_the_run_goes_on(
    runs: Runs, directive: str, error_words: str
) -> None:
    session = await runs.session(tools=["calculator"])
    events = await runs.execute_all(session, directive)
    name = events[0].run

    completed = only(events, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_FAILED
    assert completed.result.is_error
    assert error_words in as_dict(completed.result.output)["error"]
    # The model reads the server's words, never Python's ("ZeroDivisionError", "math domain error").
    assert_no_internals(as_dict(completed.result.output)["error"])
    (result,) = tool_results(await runs.messages(session))
    assert result.is_error and error_words in as_dict(result.output)["error"]

    run = await runs.get(name)
    assert run.status == SUCCEEDED
    assert run.steps[0].tool_calls[0].state == TOOL_STATE.STATE_FAILED
    assert "error" in run.output.text and error_words in run.output.text


async def test_current_time_tool_answers_in_the_requested_time_zone(runs: Runs) -> None:
    session = await runs.session(tools=["current_time"])
    events = await runs.execute_all(session, '[[tool:current_time {"timezone": "Asia/Tokyo"}]]')

    completed = only(events, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_SUCCEEDED
    output = as_dict(completed.result.output)
    assert output["timezone"] == "Asia/Tokyo"
    now = datetime.fromisoformat(output["iso"])
    assert now.utcoffset() == timedelta(hours=9)
    assert abs(output["unix"] - time.time()) < 60
    assert (await runs.get(events[0].run)).status == SUCCEEDED


async def test_session_search_tool_finds_earlier_messages_of_the_session(runs: Runs) -> None:
    session = await runs.session(tools=["session_search"])
    first = await runs.execute_all(session, "my locker code is zebra-lantern")
    earlier = first[2].message_created.message.name
    other_session = await runs.session(tools=["session_search"])
    await runs.execute_all(other_session, "zebra-lantern appears here too")

    events = await runs.execute_all(session, '[[tool:session_search {"query": "zebra-lantern"}]]')

    completed = only(events, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_SUCCEEDED
    matches = as_dict(completed.result.output)["matches"]
    assert earlier in [m["message"] for m in matches]
    # Only this session is searched.
    assert all(m["message"].startswith(session + "/") for m in matches)
    assert "zebra" in (await runs.get(events[0].run)).output.text


async def test_parallel_tool_calls_run_in_call_order_within_one_step(runs: Runs) -> None:
    session = await runs.session(tools=["calculator"])
    events = await runs.execute_all(
        session, '[[tool:calculator {"expression": "1+1"}]] [[tool:calculator {"expression": "2*5"}]]'
    )
    completed = [as_dict(e.tool_call_completed.result.output)["value"] for e in only(events, "tool_call_completed")]
    assert completed == [2, 10]
    run = await runs.get(events[0].run)
    assert [as_dict(t.call.arguments)["expression"] for t in run.steps[0].tool_calls] == ["1+1", "2*5"]
    assert len(run.steps) == 2


async def test_a_tool_that_exceeds_its_timeout_is_reported_to_the_model(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runwire.server.engine.tools import Calculator

    async def slow_call(self: Calculator, arguments: dict[str, Any], context: Any) -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    monkeypatch.setattr(Calculator, "call", slow_call)
    session = await runs.session(tools=["calculator"], limits=agent_pb2.AgentLimits(tool_timeout=seconds(0.3)))
    events = await runs.execute_all(session, SIX_TIMES_SEVEN)

    completed = only(events, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_TIMED_OUT and completed.result.is_error
    assert "did not finish" in as_dict(completed.result.output)["error"]
    assert 0.3e9 <= completed.duration.ToNanoseconds() < 5e9
    run = await runs.get(events[0].run)
    assert run.status == SUCCEEDED and "did not finish" in run.output.text
    assert run.steps[0].tool_calls[0].state == TOOL_STATE.STATE_TIMED_OUT


# -- People in the loop ----------------------------------------------------


async def pause_for_input(runs: Runs, session: str, *parts: str, **request: Any) -> tuple[Any, list[run_pb2.RunEvent], run_pb2.InputRequest]:
    """Start a run and read its events until it asks for input."""
    call = runs.execute(session, *parts, **request)
    seen = await read_until_kind(call, "input_required", "run_completed", "run_failed")
    assert kind(seen[-1]) == "input_required", kinds(seen)
    return call, seen, seen[-1].input_required.input_request


async def test_a_tool_that_requires_approval_pauses_the_run_until_a_person_approves(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    assert "tool_call_started" not in kinds(seen)
    assert request.kind == run_pb2.InputRequest.KIND_APPROVAL
    assert request.run == name and request.id
    assert request.tool_call.tool == "calculator"
    assert as_dict(request.tool_call.arguments) == {"expression": "6*7"}
    assert "calculator" in request.prompt
    assert request.expire_time.ToNanoseconds() > request.create_time.ToNanoseconds()

    waiting = await runs.get(name)
    assert waiting.status == REQUIRES_INPUT
    assert waiting.pending_input == request
    assert (await runs.list(filter="status = REQUIRES_INPUT")).metrics.requires_input_count == 1

    answered = await runs.approve(name, request.id, reason="looks fine")
    assert answered.status != REQUIRES_INPUT
    assert not answered.HasField("pending_input")

    rest = await drain(call)
    assert collapse_deltas(kinds(rest))[:3] == ["input_received", "tool_call_started", "tool_call_completed"]
    received = rest[0].input_received
    assert received.input_request_id == request.id
    assert received.approval.decision == run_pb2.Approval.DECISION_APPROVE
    assert received.answered_by == "local"
    assert as_dict(rest[2].tool_call_completed.result.output)["value"] == 42
    assert kind(rest[-1]) == "run_completed"

    run = await runs.get(name)
    assert run.status == SUCCEEDED and "42" in run.output.text
    (execution,) = run.steps[0].tool_calls
    assert execution.required_approval and execution.decided_by == "local"
    assert execution.state == TOOL_STATE.STATE_SUCCEEDED
    assert not execution.HasField("original_arguments")


async def test_a_denied_tool_call_tells_the_model_why_and_the_run_succeeds(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    await runs.deny(name, request.id, reason="not on a Sunday")
    rest = await drain(call)

    assert "tool_call_started" not in kinds(rest)
    completed = only(rest, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_DENIED
    assert completed.result.is_error
    assert "not on a Sunday" in as_dict(completed.result.output)["error"]
    (result,) = tool_results(await runs.messages(session))
    assert result.is_error and "not on a Sunday" in as_dict(result.output)["error"]
    run = await runs.get(name)
    assert run.status == SUCCEEDED
    assert "not on a Sunday" in run.output.text
    (execution,) = run.steps[0].tool_calls
    assert execution.state == TOOL_STATE.STATE_DENIED and execution.decided_by == "local"
    # The tool never ran.
    assert completed.duration.ToNanoseconds() == 0 and execution.duration.ToNanoseconds() == 0
    assert not execution.HasField("start_time") and execution.HasField("end_time")


async def test_approval_with_edited_arguments_runs_the_edited_call_and_keeps_the_original(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    await runs.approve(name, request.id, edited={"expression": "2+2"})
    rest = await drain(call)

    started = only(rest, "tool_call_started")[0].tool_call_started
    assert as_dict(started.tool_call.arguments) == {"expression": "2+2"}
    completed = only(rest, "tool_call_completed")[0].tool_call_completed
    assert as_dict(completed.result.output)["value"] == 4
    run = await runs.get(name)
    (execution,) = run.steps[0].tool_calls
    assert as_dict(execution.call.arguments) == {"expression": "2+2"}
    assert as_dict(execution.original_arguments) == {"expression": "6*7"}
    assert "4" in run.output.text and "42" not in run.output.text


@pytest.mark.parametrize(
    ("approval", "field"),
    [
        pytest.param({"decision": "DECISION_APPROVE", "edited_arguments": {"expr": "1"}}, "approval.edited_arguments", id="schema"),
        pytest.param({"decision": "DECISION_APPROVE", "edited_arguments": {"expression": 5}}, "approval.edited_arguments", id="type"),
        pytest.param({"decision": "DECISION_DENY", "edited_arguments": {"expression": "1"}}, "approval.edited_arguments", id="deny-with-edit"),
        pytest.param({}, "approval.decision", id="no-decision"),
        pytest.param({"decision": "DECISION_DENY", "reason": "x" * 2001}, "approval.reason", id="long-reason"),
    ],
)
async def test_an_invalid_approval_is_refused_and_the_run_keeps_waiting(
    runs: Runs, approval: dict[str, Any], field: str
) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    failure = await rpc_error(
        runs.submit_call(name, request.id, approval=json_format.ParseDict(approval, run_pb2.Approval()))
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.field_violations

    still = await runs.get(name)
    assert still.status == REQUIRES_INPUT and still.pending_input.id == request.id
    await runs.approve(name, request.id)
    assert kind((await drain(call))[-1]) == "run_completed"


async def test_answers_to_the_wrong_request_or_of_the_wrong_kind_are_refused(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    unknown = await rpc_error(runs.approve(name, "00000000-0000-4000-8000-000000000000"))
    assert unknown.code == grpc.StatusCode.NOT_FOUND and unknown.reason == "INPUT_REQUEST_NOT_FOUND"
    as_text = await rpc_error(runs.submit_call(name, request.id, text="yes"))
    assert as_text.code == grpc.StatusCode.INVALID_ARGUMENT and "approval" in as_text.field_violations
    no_answer = await rpc_error(runs.submit_call(name, request.id))
    assert no_answer.code == grpc.StatusCode.INVALID_ARGUMENT
    no_id = await rpc_error(runs.approve(name, ""))
    assert no_id.code == grpc.StatusCode.INVALID_ARGUMENT and "input_request_id" in no_id.field_violations
    missing_run = await rpc_error(runs.approve("runs/no-such-run", request.id))
    assert missing_run.code == grpc.StatusCode.NOT_FOUND and missing_run.reason == "RUN_NOT_FOUND"

    assert (await runs.get(name)).status == REQUIRES_INPUT
    await runs.approve(name, request.id)
    await drain(call)
    ended = await rpc_error(runs.approve(name, request.id))
    assert ended.code == grpc.StatusCode.FAILED_PRECONDITION and ended.reason == "RUN_NOT_ACTIVE"


async def test_several_approvals_are_asked_one_at_a_time_and_each_is_answered_once(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, first = await pause_for_input(
        runs, session, '[[tool:calculator {"expression": "1+1"}]] [[tool:calculator {"expression": "2+3"}]]'
    )
    name = seen[0].run
    assert as_dict(first.tool_call.arguments) == {"expression": "1+1"}

    request_id = new_request_id()
    approve_first = run_pb2.SubmitInputRequest(
        name=name, input_request_id=first.id, approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE),
        request_id=request_id,
    )
    await runs.stub.SubmitInput(approve_first)
    between = await read_until_kind(call, "input_required")
    assert kinds(between)[:3] == ["input_received", "tool_call_started", "tool_call_completed"]
    second = between[-1].input_required.input_request
    assert second.id != first.id
    assert as_dict(second.tool_call.arguments) == {"expression": "2+3"}
    assert (await runs.get(name)).pending_input.id == second.id

    again = await rpc_error(runs.approve(name, first.id))
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION
    assert again.reason == "INPUT_REQUEST_ALREADY_ANSWERED"
    # The same request_id is a retry of the first answer: it gets the run, not an error.
    replayed = await runs.stub.SubmitInput(approve_first)
    assert replayed.name == name
    assert (await runs.get(name)).pending_input.id == second.id

    await runs.approve(name, second.id)
    rest = await drain(call)
    assert kind(rest[-1]) == "run_completed"
    run = await runs.get(name)
    assert [as_dict(t.result.output)["value"] for t in run.steps[0].tool_calls] == [2, 5]


@pytest.mark.parametrize("where", ["agent-limit", "run-option"])
async def test_an_unanswered_input_request_fails_the_run_with_input_timeout(runs: Runs, where: str) -> None:
    if where == "agent-limit":
        session = await runs.session(approval=["calculator"], limits=agent_pb2.AgentLimits(input_timeout=seconds(0.5)))
        request_fields: dict[str, Any] = {}
    else:
        session = await runs.session(approval=["calculator"])
        request_fields = {"options": run_pb2.RunOptions(input_timeout=seconds(0.5))}
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN, **request_fields)
    name = seen[0].run
    expires_in = request.expire_time.ToNanoseconds() - request.create_time.ToNanoseconds()
    assert expires_in == pytest.approx(0.5e9, rel=0.01)

    rest = await drain(call)
    assert kind(rest[-1]) == "run_failed"
    assert rest[-1].run_failed.error.reason == "INPUT_TIMEOUT"
    run = await runs.get(name)
    assert run.status == FAILED and run.error.reason == "INPUT_TIMEOUT"
    assert not run.HasField("pending_input")
    # The session's history stays consistent: the call that never ran has an (error) result.
    (result,) = tool_results(await runs.messages(session))
    assert result.is_error and result.tool_call_id == request.tool_call.id
    late = await rpc_error(runs.approve(name, request.id))
    assert late.code == grpc.StatusCode.FAILED_PRECONDITION and late.reason == "RUN_NOT_ACTIVE"


async def test_a_question_is_answered_with_text_and_the_run_continues(runs: Runs) -> None:
    session = await runs.session()
    call, seen, request = await pause_for_input(runs, session, "[[ask:What is your name?]]")
    name = seen[0].run

    assert request.kind == run_pb2.InputRequest.KIND_QUESTION
    assert request.prompt == "What is your name?"
    assert not request.HasField("tool_call")
    assert (await runs.get(name)).status == REQUIRES_INPUT

    with_approval = await rpc_error(runs.approve(name, request.id))
    assert with_approval.code == grpc.StatusCode.INVALID_ARGUMENT and "text" in with_approval.field_violations
    blank = await rpc_error(runs.submit_call(name, request.id, text="   "))
    assert blank.code == grpc.StatusCode.INVALID_ARGUMENT

    await runs.submit_call(name, request.id, text="Ada Lovelace")
    rest = await drain(call)
    assert rest[0].input_received.text == "Ada Lovelace"
    assert kind(rest[-1]) == "run_completed"
    run = await runs.get(name)
    assert run.status == SUCCEEDED and "Ada Lovelace" in run.output.text
    messages = await runs.messages(session)
    assert [(m.role, m.text) for m in messages] == [
        (USER, "[[ask:What is your name?]]"),
        (ASSISTANT, "What is your name?"),
        (USER, "Ada Lovelace"),
        (ASSISTANT, run.output.text),
    ]


async def test_an_answer_that_arrives_after_the_input_timeout_is_told_the_request_expired(
    runs: Runs, slow_terminal_commits: asyncio.Event
) -> None:
    session = await runs.session(approval=["calculator"], limits=agent_pb2.AgentLimits(input_timeout=seconds(0.3)))
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    # The request has expired and the run is recording its failure.
    await asyncio.wait_for(slow_terminal_commits.wait(), 10)

    late = await rpc_error(runs.approve(seen[0].run, request.id))
    assert late.code == grpc.StatusCode.FAILED_PRECONDITION and late.reason == "INPUT_REQUEST_EXPIRED"
    rest = await drain(call)
    assert kind(rest[-1]) == "run_failed" and rest[-1].run_failed.error.reason == "INPUT_TIMEOUT"
    assert "tool_call_started" not in kinds(rest)


async def test_of_two_concurrent_answers_to_one_request_only_the_first_counts(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run

    outcomes = await asyncio.gather(
        runs.approve(name, request.id), runs.deny(name, request.id, reason="no"), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(failures) == 1, outcomes
    assert failures[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already answered" in (failures[0].details() or "")
    rest = await drain(call)
    assert len(only(rest, "input_received")) == 1
    assert kind(rest[-1]) == "run_completed"


# -- Limits ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["agent-limit", "run-option"])
async def test_a_run_that_reaches_max_steps_fails(runs: Runs, where: str) -> None:
    if where == "agent-limit":
        session = await runs.session(tools=["calculator"], limits=agent_pb2.AgentLimits(max_steps=1))
        request_fields: dict[str, Any] = {}
    else:
        session = await runs.session(tools=["calculator"])
        request_fields = {"options": run_pb2.RunOptions(max_steps=1)}
    events = await runs.execute_all(session, SIX_TIMES_SEVEN, **request_fields)

    assert kind(events[-1]) == "run_failed"
    assert events[-1].run_failed.error.reason == "MAX_STEPS_EXCEEDED"
    run = await runs.get(events[0].run)
    assert run.status == FAILED and run.error.reason == "MAX_STEPS_EXCEEDED"
    assert len(run.steps) == 1 and run.steps[0].tool_calls[0].state == TOOL_STATE.STATE_SUCCEEDED


@pytest.mark.parametrize("where", ["agent-limit", "run-option"])
async def test_a_run_that_reaches_its_maximum_duration_times_out(runs: Runs, where: str) -> None:
    if where == "agent-limit":
        session = await runs.session(limits=agent_pb2.AgentLimits(max_run_duration=seconds(0.5)))
        request_fields: dict[str, Any] = {}
    else:
        session = await runs.session()
        request_fields = {"options": run_pb2.RunOptions(max_duration=seconds(0.5))}
    started = time.monotonic()
    events = await runs.execute_all(session, "[[sleep:5]] slow", **request_fields)

    assert time.monotonic() - started < 4
    assert kind(events[-1]) == "run_timed_out"
    assert events[-1].run_timed_out.max_duration == seconds(0.5)
    run = await runs.get(events[0].run)
    assert run.status == TIMED_OUT and run.error.reason == "RUN_TIMED_OUT"
    assert run.duration.ToNanoseconds() >= 0.5e9


async def test_run_options_above_the_agents_limits_are_refused(runs: Runs) -> None:
    session = await runs.session(
        limits=agent_pb2.AgentLimits(max_steps=3, max_run_duration=seconds(60), input_timeout=seconds(60))
    )
    failure = await rpc_error(
        runs.create_call(
            session,
            "hi",
            options=run_pb2.RunOptions(max_steps=4, max_duration=seconds(61), input_timeout=seconds(61)),
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert set(failure.field_violations) == {
        "run.options.max_steps",
        "run.options.max_duration",
        "run.options.input_timeout",
    }
    assert (await runs.list()).total_size == 0
    lower = await runs.create(session, "hi", options=run_pb2.RunOptions(max_steps=3, max_duration=seconds(30)))
    assert (await runs.wait_end(lower.name)).status == SUCCEEDED


async def test_run_options_above_the_servers_maximum_are_refused(runs: Runs) -> None:
    session = await runs.session()
    failure = await rpc_error(
        runs.create_call(session, "hi", options=run_pb2.RunOptions(max_steps=1_000_001))
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "run.options.max_steps" in failure.field_violations


async def test_a_caller_over_its_active_run_limit_is_refused(tmp_path: Path) -> None:
    async with serving(tmp_path, max_active_runs_per_caller=1) as runs:
        session = await runs.session()
        waiting = await runs.create(session, "[[ask:Continue?]]")
        await runs.wait_status(waiting.name, REQUIRES_INPUT)

        other_session = await runs.session()
        failure = await rpc_error(runs.create_call(other_session, "one more"))
        assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert failure.reason == "RUN_LIMIT_EXCEEDED"
        assert failure.quota_violations == ["principal:local"]
        streamed = await rpc_error(runs.execute_all(other_session, "one more"))
        assert streamed.code == grpc.StatusCode.RESOURCE_EXHAUSTED and streamed.reason == "RUN_LIMIT_EXCEEDED"

        await runs.cancel(waiting.name)
        events = await runs.execute_all(other_session, "now it fits")
        assert kind(events[-1]) == "run_completed"


async def test_runs_beyond_the_servers_concurrency_wait_queued_for_a_slot(tmp_path: Path) -> None:
    async with serving(tmp_path, max_concurrent_runs=1) as runs:
        first_session, second_session = await runs.session(), await runs.session()
        first = await runs.create(first_session, "[[ask:Continue?]]")
        waiting = await runs.wait_status(first.name, REQUIRES_INPUT)

        second = await runs.create(second_session, "second")
        await asyncio.sleep(0.3)
        queued = await runs.get(second.name)
        assert queued.status == QUEUED
        assert not queued.HasField("start_time") and not queued.HasField("duration")
        assert queued.last_seq == 1

        await runs.submit_call(first.name, waiting.pending_input.id, text="yes")
        first_done = await runs.wait_end(first.name)
        second_done = await runs.wait_end(second.name)
        assert first_done.status == second_done.status == SUCCEEDED
        assert second_done.start_time.ToNanoseconds() >= first_done.end_time.ToNanoseconds()
        started = only(await runs.follow(second.name), "run_started")[0].run_started
        assert started.queue_duration.ToNanoseconds() >= 0.3e9


async def test_a_run_queued_for_a_process_with_room_is_cancelled_at_once(tmp_path: Path) -> None:
    async with serving(tmp_path, max_concurrent_runs=1) as runs:
        first_session, second_session = await runs.session(), await runs.session()
        first = await runs.create(first_session, "[[ask:Continue?]]")
        await runs.wait_status(first.name, REQUIRES_INPUT)
        second = await runs.create(second_session, "second")
        assert (await runs.get(second.name)).status == QUEUED

        # No process has room for it: the cancel ends it here, without waiting for one.
        cancelled = await runs.cancel(second.name, "not needed")
        assert cancelled.status == CANCELLED
        events = await runs.follow(second.name)
        assert kinds(events) == ["run_created", "run_cancelled"]
        assert [e.seq for e in events] == [1, 2]
        assert (await runs.get(first.name)).status == REQUIRES_INPUT


async def test_runs_beyond_the_agents_concurrency_wait_queued_for_a_slot(runs: Runs) -> None:
    agent = await runs.agent(limits=agent_pb2.AgentLimits(max_concurrent_runs=1))
    first_session, second_session = await runs.session(agent), await runs.session(agent)
    first = await runs.create(first_session, "[[ask:Continue?]]")
    waiting = await runs.wait_status(first.name, REQUIRES_INPUT)
    other_agent = await runs.create(await runs.session(), "another agent is not held up")
    assert (await runs.wait_end(other_agent.name)).status == SUCCEEDED

    second = await runs.create(second_session, "second")
    await asyncio.sleep(0.3)
    assert (await runs.get(second.name)).status == QUEUED
    await runs.submit_call(first.name, waiting.pending_input.id, text="yes")
    second_done = await runs.wait_end(second.name)
    assert second_done.status == SUCCEEDED
    assert second_done.start_time.ToNanoseconds() >= (await runs.get(first.name)).end_time.ToNanoseconds()


async def test_runs_of_one_session_execute_one_at_a_time_in_creation_order(runs: Runs) -> None:
    session = await runs.session()
    created = [
        await runs.create(session, "[[sleep:0.3]] first"),
        await runs.create(session, "second"),
        await runs.create(session, "third"),
    ]
    queued = await runs.get(created[2].name)
    assert queued.status == QUEUED

    done = [await runs.wait_end(r.name) for r in created]
    assert [r.status for r in done] == [SUCCEEDED] * 3
    for earlier, later in zip(done, done[1:]):
        assert later.start_time.ToNanoseconds() >= earlier.end_time.ToNanoseconds()
    messages = await runs.messages(session)
    assert [m.text for m in messages] == [
        "[[sleep:0.3]] first",
        "You said: first",
        "second",
        "You said: second",
        "third",
        "You said: third",
    ]
    assert [m.run for m in messages] == [r.name for r in created for _ in range(2)]


# -- Provider errors -------------------------------------------------------


async def test_a_provider_error_fails_the_run_without_retrying_a_client_error(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = count_model_calls(runs, monkeypatch)
    session = await runs.session()
    events = await runs.execute_all(session, "[[error:400]]")

    assert kind(events[-1]) == "run_failed"
    failure = events[-1].run_failed.error
    assert failure.reason == "PROVIDER_ERROR" and "400" in failure.message
    run = await runs.get(events[0].run)
    assert run.status == FAILED and run.error == failure
    assert counting.calls == 1


async def test_a_flaky_provider_is_retried_and_the_attempts_are_recorded(runs: Runs) -> None:
    session = await runs.session()
    events = await runs.execute_all(session, "[[flaky:2]] hello")

    assert kind(events[-1]) == "run_completed"
    run = await runs.get(events[0].run)
    assert run.status == SUCCEEDED
    assert run.steps[0].model_call.attempts == 3
    assert run.output.text == "You said: hello"


async def test_a_provider_that_keeps_failing_is_tried_provider_max_attempts_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(tmp_path, provider_max_attempts=4) as runs:
        counting = count_model_calls(runs, monkeypatch)
        session = await runs.session()
        events = await runs.execute_all(session, "[[error:503]]")

        assert kind(events[-1]) == "run_failed"
        assert events[-1].run_failed.error.reason == "PROVIDER_ERROR"
        assert "503" in events[-1].run_failed.error.message
        assert counting.calls == 4
        assert (await runs.get(events[0].run)).status == FAILED


# -- The openai provider against a fake OpenAI-compatible server -------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


async def openai_session(runs: Runs, fake: FakeOpenAIServer, **agent: Any) -> str:
    return await runs.session(provider="openai", model="test-model", base_url=fake.base_url, **agent)


async def test_openai_provider_streams_the_models_text(runs: Runs, fake: FakeOpenAIServer) -> None:
    fake.script(text_stream("Hello", ", wor", "ld!", usage=(11, 3)))
    session = await openai_session(runs, fake)
    events = await runs.execute_all(session, "Hi")

    assert kind(events[-1]) == "run_completed"
    assert text_of(events) == "Hello, world!"
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    body = request.json()
    assert body["model"] == "test-model" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    run = await runs.get(events[0].run)
    assert run.status == SUCCEEDED and run.output.text == "Hello, world!"
    assert (run.usage.input_tokens, run.usage.output_tokens, run.usage.total_tokens) == (11, 3, 14)
    assert run.steps[0].model_call.provider == "openai" and run.steps[0].model_call.model == "test-model"
    started = only(events, "run_started")[0].run_started
    assert (started.provider, started.model) == ("openai", "test-model")


async def test_openai_provider_tool_call_is_executed_and_its_result_sent_back(
    runs: Runs, fake: FakeOpenAIServer
) -> None:
    fake.script(
        events(
            [
                chunk(role="assistant"),
                chunk(tool_calls=[tool_piece(0, id="call_abc", name="calculator", arguments='{"expression":')]),
                chunk(tool_calls=[tool_piece(0, arguments=' "6*7"}')]),
                chunk(finish_reason="tool_calls"),
                usage_chunk(20, 5),
            ]
        ),
        text_stream("The answer is 42.", usage=(30, 6)),
    )
    session = await openai_session(runs, fake, tools=["calculator"])
    events_ = await runs.execute_all(session, "What is six times seven?")

    assert kind(events_[-1]) == "run_completed"
    completed = only(events_, "tool_call_completed")[0].tool_call_completed
    assert completed.result.tool_call_id == "call_abc"
    assert as_dict(completed.result.output)["value"] == 42
    assert len(fake.requests) == 2
    first, second = (r.json() for r in fake.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["calculator"]
    sent = second["messages"]
    assert sent[0] == {"role": "user", "content": "What is six times seven?"}
    assert sent[1]["role"] == "assistant"
    assert sent[1]["tool_calls"][0]["id"] == "call_abc"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"expression": "6*7"}
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_abc"
    assert json.loads(sent[2]["content"])["value"] == 42
    run = await runs.get(events_[0].run)
    assert run.status == SUCCEEDED and run.output.text == "The answer is 42."
    assert (run.usage.input_tokens, run.usage.output_tokens) == (50, 11)
    assert len(run.steps) == 2


async def test_openai_provider_error_mid_stream_fails_the_run(runs: Runs, fake: FakeOpenAIServer) -> None:
    fake.script(
        events([chunk(role="assistant", content=""), chunk(content="Partial "), {"error": {"message": "model overloaded"}}], done=False)
    )
    session = await openai_session(runs, fake)
    events_ = await runs.execute_all(session, "Hi")

    assert kind(events_[-1]) == "run_failed"
    assert events_[-1].run_failed.error.reason == "PROVIDER_ERROR"
    assert "model overloaded" in events_[-1].run_failed.error.message
    assert text_of(events_) == "Partial "
    run = await runs.get(events_[0].run)
    assert run.status == FAILED and run.error.reason == "PROVIDER_ERROR"
    assert len(fake.requests) == 1


async def test_openai_provider_http_errors_fail_or_retry_as_their_status_says(
    runs: Runs, fake: FakeOpenAIServer
) -> None:
    fake.script(error(401, {"error": {"message": "bad key"}}))
    session = await openai_session(runs, fake)
    refused = await runs.execute_all(session, "Hi")
    assert refused[-1].run_failed.error.reason == "PROVIDER_ERROR"
    assert "bad key" in refused[-1].run_failed.error.message
    assert len(fake.requests) == 1

    fake.script(error(500, {"error": {"message": "try later"}}), text_stream("recovered"))
    recovered = await runs.execute_all(session, "again")
    assert kind(recovered[-1]) == "run_completed" and text_of(recovered) == "recovered"
    assert len(fake.requests) == 3
    assert (await runs.get(recovered[0].run)).steps[0].model_call.attempts == 2


SERVER_KEY = "sk-server-key-that-must-stay-hidden-0123456789"


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        pytest.param(
            error(401, {"error": {"message": f"Incorrect API key provided: {SERVER_KEY}.\x1b[31m\r\nSee docs."}}),
            "openai provider: the model server answered HTTP 401: Incorrect API key provided: ***. See docs.",
            id="openai-style-error",
        ),
        pytest.param(
            error(400, "<html>Traceback (most recent call last): File \"/usr/lib/python3/app.py\" ValueError</html>"),
            "openai provider: the model server answered HTTP 400",
            id="body-that-is-not-an-openai-error",
        ),
        pytest.param(
            raw_stream(b'data: {"choices": [\n\ndata: [DONE]\n\n'),
            "openai provider: the model server's answer was not valid JSON",
            id="garbage-event",
        ),
    ],
)
async def test_a_failing_model_server_is_described_in_the_servers_own_words(
    tmp_path: Path, fake: FakeOpenAIServer, behaviour: Any, expected: str
) -> None:
    fake.script(behaviour)
    async with serving(tmp_path, openai_base_url=fake.base_url, openai_api_key=SERVER_KEY) as runs:
        session = await runs.session(provider="openai", model="test-model")
        events_ = await runs.execute_all(session, "Hi")
        run = await runs.get(events_[0].run)

    failure = events_[-1].run_failed.error
    assert (failure.reason, failure.message) == ("PROVIDER_ERROR", expected)
    assert (run.error.reason, run.error.message) == ("PROVIDER_ERROR", expected)
    assert_no_internals(failure.message, secrets=[SERVER_KEY], paths=[fake.base_url])
    assert len(fake.requests) == 1


async def test_an_unreachable_model_server_is_named_by_what_happened(runs: Runs) -> None:
    closed = FakeOpenAIServer()
    await closed.start()
    await closed.stop()  # nothing listens on that loopback port any more
    session = await runs.session(provider="openai", model="test-model", base_url=closed.base_url)

    events_ = await runs.execute_all(session, "Hi")

    failure = events_[-1].run_failed.error
    assert failure.reason == "PROVIDER_ERROR"
    assert failure.message == "openai provider: the model server could not be reached (connection refused)"
    assert_no_internals(failure.message, paths=[closed.base_url, str(closed.port)])


async def test_a_provider_failure_is_named_by_its_provider_once(runs: Runs) -> None:
    session = await runs.session()
    events_ = await runs.execute_all(session, "[[error:400]]")

    assert events_[-1].run_failed.error.message == "builtin provider: simulated HTTP 400"


async def _fails_as_a_bug_or_the_machine_would(arguments: dict[str, Any], context: Any) -> dict[str, Any]:
    """Not a ToolError: what a tool raises when the disk or its own code fails."""
    if arguments["expression"] == "os":
        raise PermissionError(13, "Permission denied", "/tmp/runwire-secret/data.db")
    raise KeyError("ValueError: invalid literal for int() with base 10 in /work/runwire/tools.py")


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("os", "the tool failed (permission denied)"),
        ("bug", "the tool failed (an unexpected error; the server's log has the detail)"),
    ],
)
async def test_a_tool_that_raises_anything_else_fails_in_the_servers_words_and_the_run_goes_on(
    runs: Runs, how: str, expected: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs.server.tools.get("calculator"), "call", _fails_as_a_bug_or_the_machine_would)
    session = await runs.session(tools=["calculator"])

    events_ = await runs.execute_all(session, f'[[tool:calculator {{"expression": "{how}"}}]]')

    completed = only(events_, "tool_call_completed")[0].tool_call_completed
    assert completed.state == TOOL_STATE.STATE_FAILED and completed.result.is_error
    assert as_dict(completed.result.output) == {"error": expected}
    assert kind(events_[-1]) == "run_completed"
    assert_no_internals(events_[-1].run_completed.output.text)
    # The detail is the operator's: one line in the log.
    logged = [r.getMessage() for r in caplog.records if "calculator failed" in r.getMessage()]
    assert len(logged) == 1 and "\n" not in logged[0] and ("PermissionError" if how == "os" else "KeyError") in logged[0]


# -- Restarts -------------------------------------------------------------


def assert_ordered_to(replay: list[run_pb2.RunEvent], last_seq: int) -> None:
    """A full replay: strictly increasing seq (merged deltas skip values) ending at the run's last event."""
    seqs = [e.seq for e in replay]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1 and seqs[-1] == last_seq, seqs


async def test_a_running_run_fails_at_shutdown_and_stays_readable_after_restart(tmp_path: Path) -> None:
    settings = run_settings(tmp_path, builtin_tokens_per_second=50)
    first = RunwireServer(settings)
    await first.start()
    stopped = False
    try:
        async with connected(first) as runs:
            session = await runs.session()
            call = runs.execute(session, "[[tokens:400]]")
            seen = await read_until_kind(call, "text_delta")
            name = seen[0].run
            await first.stop(grace=0.2)
            stopped = True
            # The open stream ends with the run's terminal event or is cut off; either way it must not hang.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await drain(call, timeout=10)
    finally:
        if not stopped:
            await first.stop(grace=0)

    again = RunwireServer(settings)
    await again.start()
    try:
        async with connected(again) as runs:
            run = await runs.get(name)
            assert run.status == FAILED
            # The graceful shutdown recorded why the run ended; the restart had nothing left to mark.
            assert run.error.reason == "SHUTTING_DOWN"
            assert run.HasField("end_time") and not run.HasField("pending_input")
            replay = await runs.follow(name)
            # Merged deltas skip seq values; the order holds and the replay ends at the last event.
            seqs = [e.seq for e in replay]
            assert seqs == sorted(set(seqs)) and seqs[-1] == run.last_seq
            assert kind(replay[-1]) == "run_failed"
            assert replay[-1].run_failed.error.reason == run.error.reason
            assert await runs.follow(name, run.last_seq) == []
            # The streamed text was kept as an interrupted message.
            (partial,) = [m for m in await runs.messages(session) if m.role == ASSISTANT]
            assert partial.labels["interrupted"] == "true" and partial.content[0].text
    finally:
        await again.stop(grace=0.5)


async def test_a_run_waiting_for_approval_waits_on_across_a_graceful_restart(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    first = RunwireServer(settings)
    await first.start()
    try:
        async with connected(first) as runs:
            session = await runs.session(tools=["current_time"], approval=["calculator"])
            # Two calls in one step: the first runs at once, the second waits for approval.
            call, seen, request = await pause_for_input(runs, session, "[[tool:current_time {}]]", SIX_TIMES_SEVEN)
            name = seen[0].run
            before = await runs.get(name)
            await first.stop(grace=0.2)
            # The stream is cut off by the shutdown; the run itself is not over.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await drain(call, timeout=10)
    finally:
        await first.stop(grace=0)

    again = RunwireServer(settings)
    await again.start()
    try:
        async with connected(again) as runs:
            waiting = await runs.get(name)
            assert waiting.status == REQUIRES_INPUT
            assert waiting.pending_input == request and waiting.last_seq == before.last_seq
            follower = runs.stream_events(name, before.last_seq)
            approved = await runs.approve(name, request.id)
            assert approved.status in (RUNNING, SUCCEEDED)
            rest = await drain(follower)
            assert kinds(rest)[0] == "input_received" and kind(rest[-1]) == "run_completed"
            assert "42" in rest[-1].run_completed.output.text
            run = await runs.wait_end(name)
            assert run.status == SUCCEEDED
            (step_with_tool, final) = run.steps
            # The step was rebuilt from what the run recorded before the restart, then completed.
            clock, execution = step_with_tool.tool_calls
            assert clock.call.tool == "current_time" and clock.state == run_pb2.ToolExecution.STATE_SUCCEEDED
            assert not clock.result.is_error and not clock.required_approval
            assert execution.call.tool == "calculator" and execution.required_approval
            assert execution.state == run_pb2.ToolExecution.STATE_SUCCEEDED
            assert as_dict(execution.result.output)["value"] == 42
            assert step_with_tool.model_call.message and final.index == 1
            replay = await runs.follow(name)
            assert_ordered_to(replay, run.last_seq)
            results = tool_results(await runs.messages(session))
            assert [r.tool_call_id for r in results] == [clock.call.id, request.tool_call.id]
            assert not any(r.is_error for r in results)
            late = await rpc_error(runs.approve(name, request.id))
            assert late.reason == "RUN_NOT_ACTIVE"
    finally:
        await again.stop(grace=0.5)


async def test_a_question_asked_before_a_restart_is_answered_after_it(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    first = RunwireServer(settings)
    await first.start()
    try:
        async with connected(first) as runs:
            session = await runs.session()
            _call, seen, request = await pause_for_input(runs, session, "[[ask:Which colour?]]")
            name = seen[0].run
    finally:
        await first.stop(grace=0.2)

    again = RunwireServer(settings)
    await again.start()
    try:
        async with connected(again) as runs:
            assert (await runs.get(name)).pending_input.kind == run_pb2.InputRequest.KIND_QUESTION
            answered = await runs.submit_call(name, request.id, text="green")
            assert answered.name == name
            run = await runs.wait_end(name)
            assert run.status == SUCCEEDED and len(run.steps) == 2
            replay = await runs.follow(name)
            assert_ordered_to(replay, run.last_seq)
            received = [e for e in replay if kind(e) == "input_received"]
            assert [e.input_received.text for e in received] == ["green"]
            users = [m for m in await runs.messages(session) if m.role == USER]
            assert [m.content[0].text for m in users][-1] == "green"
    finally:
        await again.stop(grace=0.5)


async def test_a_restored_request_still_expires_at_its_time(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    first = RunwireServer(settings)
    await first.start()
    try:
        async with connected(first) as runs:
            session = await runs.session(approval=["calculator"])
            _call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN, options=run_pb2.RunOptions(input_timeout=seconds(1.5)))
            name = seen[0].run
    finally:
        await first.stop(grace=0)

    again = RunwireServer(settings)
    await again.start()
    try:
        async with connected(again) as runs:
            run = await runs.wait_end(name)
            assert run.status == FAILED and run.error.reason == "INPUT_TIMEOUT"
            # The call that never got its approval has an error result: the history stays valid.
            (result,) = tool_results(await runs.messages(session))
            assert result.is_error and result.tool_call_id == request.tool_call.id
            replay = await runs.follow(name)
            assert_ordered_to(replay, run.last_seq)
    finally:
        await again.stop(grace=0.5)


@sqlite_only
async def test_after_a_crash_a_waiting_run_waits_on_and_a_queued_one_fails_with_server_restarted(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    crashed_dir = tmp_path / "crashed"
    crashed_dir.mkdir()
    first = RunwireServer(settings)
    await first.start()
    try:
        async with connected(first) as runs:
            session = await runs.session(approval=["calculator"])
            _call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
            name = seen[0].run
            queued = await runs.create(session, "queued behind the first")
            before = await runs.get(name)
            assert before.status == REQUIRES_INPUT
            # The database as a crash would leave it: a consistent snapshot while both runs are active.
            source = sqlite3.connect(settings.data_dir / "runwire.db")
            target = sqlite3.connect(crashed_dir / "runwire.db")
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
    finally:
        await first.stop(grace=0.2)

    restarted = RunwireServer(dataclasses.replace(settings, data_dir=crashed_dir))
    await restarted.start()
    try:
        async with connected(restarted) as runs:
            run = await runs.get(queued.name)
            assert run.status == FAILED and run.error.reason == "SERVER_RESTARTED"
            assert run.HasField("end_time") and not run.HasField("pending_input")
            assert run.last_seq == 2
            replay = await runs.follow(queued.name)
            assert [e.seq for e in replay] == [1, 2]
            assert replay[-1].run_failed.error.reason == "SERVER_RESTARTED"
            assert kinds(await runs.follow(queued.name, 1)) == ["run_failed"]

            waiting = await runs.get(name)
            assert waiting.status == REQUIRES_INPUT and waiting.pending_input == request
            assert waiting.last_seq == before.last_seq
            await runs.approve(name, request.id)
            run = await runs.wait_end(name)
            assert run.status == SUCCEEDED and "42" in run.output.text
            replay = await runs.follow(name)
            assert_ordered_to(replay, run.last_seq)
            (result,) = tool_results(await runs.messages(session))
            assert not result.is_error and result.tool_call_id == request.tool_call.id
            # The session is usable again.
            events = await runs.execute_all(session, "after the crash")
            assert kind(events[-1]) == "run_completed"
    finally:
        await restarted.stop(grace=0.5)


async def leave_waiting_for_approval(settings: Any) -> tuple[str, str, run_pb2.InputRequest, run_pb2.Run]:
    """Start a server, leave a run waiting for approval of SIX_TIMES_SEVEN, and stop the server gracefully.

    Returns the session, the run's name, its input request and the run as it was before the stop."""
    first = RunwireServer(settings)
    await first.start()
    try:
        async with connected(first) as runs:
            session = await runs.session(approval=["calculator"])
            call, seen, request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
            name = seen[0].run
            before = await runs.get(name)
            assert before.status == REQUIRES_INPUT
            await first.stop(grace=0.2)
            # The stream is cut off by the shutdown; the run itself is not over.
            with contextlib.suppress(grpc.aio.AioRpcError):
                await drain(call, timeout=10)
    finally:
        await first.stop(grace=0)
    return session, name, request, before


@contextlib.asynccontextmanager
async def restarted(settings: Any) -> AsyncIterator[Runs]:
    """A new server on the same data directory, and stubs on a channel to it."""
    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected(server) as runs:
            yield runs
    finally:
        await server.stop(grace=0.5)


async def test_an_approval_pending_at_a_restart_is_denied_after_it_and_the_model_is_told_why(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    session, name, request, before = await leave_waiting_for_approval(settings)

    async with restarted(settings) as runs:
        assert (await runs.get(name)).pending_input == request
        follower = runs.stream_events(name, before.last_seq)
        denied = await runs.deny(name, request.id, reason="not after a restart")
        assert denied.status != REQUIRES_INPUT and not denied.HasField("pending_input")
        rest = await drain(follower)

        assert kinds(rest)[0] == "input_received" and kind(rest[-1]) == "run_completed"
        received = rest[0].input_received
        assert received.input_request_id == request.id
        assert received.approval.decision == run_pb2.Approval.DECISION_DENY
        assert received.approval.reason == "not after a restart"
        # The tool never ran; the model got the denial as the call's result and reported it.
        assert "tool_call_started" not in kinds(rest)
        (completed,) = [e.tool_call_completed for e in only(rest, "tool_call_completed")]
        assert completed.state == TOOL_STATE.STATE_DENIED and completed.result.is_error
        assert completed.result.tool_call_id == request.tool_call.id
        assert "not after a restart" in as_dict(completed.result.output)["error"]
        assert "not after a restart" in rest[-1].run_completed.output.text

        run = await runs.wait_end(name)
        assert run.status == SUCCEEDED and "not after a restart" in run.output.text
        step_with_tool, final = run.steps
        (execution,) = step_with_tool.tool_calls
        assert execution.call.id == request.tool_call.id and execution.required_approval
        assert execution.state == TOOL_STATE.STATE_DENIED and execution.decided_by == "local"
        assert not execution.HasField("start_time") and execution.duration.ToNanoseconds() == 0
        assert final.index == 1
        assert_ordered_to(await runs.follow(name), run.last_seq)

        history = await runs.messages(session)
        (result,) = tool_results(history)
        assert result.tool_call_id == request.tool_call.id and result.is_error
        assert "denied" in as_dict(result.output)["error"] and "not after a restart" in as_dict(result.output)["error"]
        assert history[-1].role == ASSISTANT and "not after a restart" in history[-1].content[0].text
        assert (await rpc_error(runs.approve(name, request.id))).reason == "RUN_NOT_ACTIVE"


async def test_an_approval_pending_at_a_restart_runs_the_edited_call_after_it(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    session, name, request, before = await leave_waiting_for_approval(settings)

    async with restarted(settings) as runs:
        follower = runs.stream_events(name, before.last_seq)
        await runs.approve(name, request.id, edited={"expression": "2+3"})
        rest = await drain(follower)

        assert kinds(rest)[0] == "input_received" and kind(rest[-1]) == "run_completed"
        assert as_dict(rest[0].input_received.approval.edited_arguments) == {"expression": "2+3"}
        (started,) = [e.tool_call_started for e in only(rest, "tool_call_started")]
        assert started.tool_call.id == request.tool_call.id
        assert as_dict(started.tool_call.arguments) == {"expression": "2+3"}
        (completed,) = [e.tool_call_completed for e in only(rest, "tool_call_completed")]
        assert completed.state == TOOL_STATE.STATE_SUCCEEDED and not completed.result.is_error
        assert as_dict(completed.result.output)["value"] == 5

        run = await runs.wait_end(name)
        assert run.status == SUCCEEDED
        assert "5" in run.output.text and "42" not in run.output.text
        (execution,) = run.steps[0].tool_calls
        assert execution.required_approval and execution.decided_by == "local"
        assert as_dict(execution.call.arguments) == {"expression": "2+3"}
        assert as_dict(execution.original_arguments) == {"expression": "6*7"}
        assert as_dict(execution.result.output)["value"] == 5
        assert_ordered_to(await runs.follow(name), run.last_seq)
        (result,) = tool_results(await runs.messages(session))
        assert result.tool_call_id == request.tool_call.id and not result.is_error
        assert as_dict(result.output)["value"] == 5


def change_database(settings: Any, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Change the stopped server's database directly, as something outside the server would."""
    db = sqlite3.connect(settings.data_dir / "runwire.db")
    try:
        with db:
            for sql, parameters in statements:
                assert db.execute(sql, parameters).rowcount == 1, sql
    finally:
        db.close()


async def assert_failed_at_start(runs: Runs, name: str, before: run_pb2.Run, request: run_pb2.InputRequest) -> run_pb2.Run:
    """The run the server could not resume failed at its start with SERVER_RESTARTED, as its last event says;
    the tool calls it left without a result got an error result first, recorded as its events."""
    run = await runs.get(name)
    assert run.status == FAILED and run.error.reason == "SERVER_RESTARTED"
    assert run.HasField("end_time") and not run.HasField("pending_input")
    since = await runs.follow(name, before.last_seq)
    assert run.last_seq == before.last_seq + len(since)
    assert set(kinds(since[:-1])) <= {"message_created"} and kinds(since)[-1] == "run_failed"
    replay = await runs.follow(name)
    assert_ordered_to(replay, run.last_seq)
    assert kind(replay[-1]) == "run_failed"
    assert replay[-1].run_failed.error.reason == "SERVER_RESTARTED"
    assert (await rpc_error(runs.approve(name, request.id))).reason == "RUN_NOT_ACTIVE"
    return run


@sqlite_only
async def test_a_waiting_run_whose_agent_was_deleted_while_the_server_was_down_fails_at_start(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    session, name, request, before = await leave_waiting_for_approval(settings)
    agent = before.agent.rsplit("/", 1)[-1]
    change_database(settings, ("DELETE FROM agents WHERE id = ?", (agent,)))

    async with restarted(settings) as runs:
        await assert_failed_at_start(runs, name, before, request)
        # The call that never got its approval has an error result: the history stays valid.
        (result,) = tool_results(await runs.messages(session))
        assert result.tool_call_id == request.tool_call.id and result.is_error


@sqlite_only
async def test_a_waiting_run_whose_pending_tool_call_message_is_gone_fails_at_start(tmp_path: Path) -> None:
    settings = run_settings(tmp_path)
    session, name, request, before = await leave_waiting_for_approval(settings)
    run_id = name.rsplit("/", 1)[-1]
    change_database(settings, ("DELETE FROM messages WHERE run_id = ? AND role = ?", (run_id, ASSISTANT)))

    async with restarted(settings) as runs:
        await assert_failed_at_start(runs, name, before, request)
        assert tool_results(await runs.messages(session)) == []
        # The session is usable again.
        events = await runs.execute_all(session, "after the restart")
        assert kind(events[-1]) == "run_completed"
        assert "You said: after the restart" in text_of(events)


# -- CreateRun, validation, ListRuns, StreamTokens --------------------------


async def test_create_run_returns_at_once_and_the_run_finishes_in_the_background(runs: Runs) -> None:
    session = await runs.session()
    created = await runs.create(session, "[[sleep:0.3]] in the background", labels={"team": "qa"})

    assert created.status in (QUEUED, RUNNING)
    assert created.name.startswith("runs/") and created.session == session
    assert created.agent and created.owner == "local" and created.etag
    assert [p.text for p in created.input] == ["[[sleep:0.3]] in the background"]
    assert created.labels == {"team": "qa"}
    assert created.last_seq >= 1 and created.HasField("create_time")
    done = await runs.wait_end(created.name)
    assert done.status == SUCCEEDED and done.output.text == "You said: in the background"
    assert done.labels == {"team": "qa"}
    assert done.etag != created.etag
    assert done.update_time.ToNanoseconds() > created.update_time.ToNanoseconds()
    assert [r.name for r in (await runs.list(filter='labels.team = "qa"')).runs] == [created.name]
    events = await runs.follow(created.name)
    assert kind(events[0]) == "run_created" and kind(events[-1]) == "run_completed"


async def test_create_run_with_a_run_id_and_request_id(runs: Runs) -> None:
    session = await runs.session()
    named = await runs.create(session, "hi", run_id="my-first-run")
    assert named.name == "runs/my-first-run"
    taken = await rpc_error(runs.create_call(session, "hi", run_id="my-first-run"))
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS
    bad = await rpc_error(runs.create_call(session, "hi", run_id="Bad_Id"))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT and "run_id" in bad.field_violations

    request_id = new_request_id()
    first = await runs.create(session, "once", request_id=request_id)
    again = await runs.create(session, "once", request_id=request_id)
    assert again.name == first.name and again.request_id == request_id
    reused = await rpc_error(runs.create_call(session, "something else", request_id=request_id))
    assert reused.code == grpc.StatusCode.INVALID_ARGUMENT and reused.reason == "REQUEST_ID_REUSED"
    await runs.wait_end(first.name)
    await runs.wait_end(named.name)
    assert (await runs.list()).total_size == 2


async def test_create_run_validate_only_creates_nothing(runs: Runs) -> None:
    session = await runs.session()
    checked = await runs.create(session, "hi", validate_only=True)
    assert checked.session == session and checked.status == QUEUED
    assert (await runs.list()).total_size == 0
    assert await runs.messages(session) == []
    missing = await rpc_error(runs.stub.GetRun(run_pb2.GetRunRequest(name=checked.name)))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    invalid = await rpc_error(runs.create_call(session, validate_only=True))
    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("session", "parts", "run", "field"),
    [
        pytest.param("", ("hi",), {}, "session", id="missing-session"),
        pytest.param("agents/abc", ("hi",), {}, "session", id="malformed-session"),
        pytest.param("sessions/", ("hi",), {}, "session", id="empty-session-id"),
        pytest.param(None, (), {}, "input", id="empty-input"),
        pytest.param(None, ("hi",), {"options": run_pb2.RunOptions(max_steps=-1)}, "options.max_steps", id="negative-steps"),
        pytest.param(
            None, ("hi",), {"options": run_pb2.RunOptions(max_duration=seconds(-1))}, "options.max_duration", id="negative-duration"
        ),
        pytest.param(
            None, ("hi",), {"options": run_pb2.RunOptions(input_timeout=seconds(-1))}, "options.input_timeout", id="negative-timeout"
        ),
        pytest.param(None, ("hi",), {"labels": {"Bad Key": "x"}}, "labels", id="bad-label"),
        pytest.param(
            None,
            ("hi",),
            {"options": run_pb2.RunOptions(additional_instructions="x" * 100_001)},
            "options.additional_instructions",
            id="long-additional-instructions",
        ),
    ],
)
@pytest.mark.parametrize("method", ["CreateRun", "ExecuteAgent", "StreamTokens"])
async def test_bad_run_requests_are_refused_with_the_field_named(
    runs: Runs, method: str, session: str | None, parts: tuple[str, ...], run: dict[str, Any], field: str
) -> None:
    if session is None:
        session = await runs.session()
    if method == "CreateRun":
        failure = await rpc_error(runs.create_call(session, *parts, **run))
        field = f"run.{field}"
    elif method == "ExecuteAgent":
        failure = await rpc_error(runs.execute_all(session, *parts, **run))
    else:
        failure = await rpc_error(drain(runs.stream_tokens(session, *parts, **run)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f == field or f.startswith(field + ".") or f.startswith(field + "[") for f in failure.field_violations), (
        failure.field_violations
    )
    assert (await runs.list()).total_size == 0


@pytest.mark.parametrize("method", ["CreateRun", "ExecuteAgent", "StreamTokens"])
async def test_runs_need_an_existing_session_and_an_active_agent(runs: Runs, method: str) -> None:
    def start(session: str) -> Any:
        if method == "CreateRun":
            return runs.create_call(session, "hi")
        if method == "ExecuteAgent":
            return runs.execute_all(session, "hi")
        return drain(runs.stream_tokens(session, "hi"))

    unknown = await rpc_error(start("sessions/no-such-session"))
    assert unknown.code == grpc.StatusCode.NOT_FOUND and unknown.reason == "SESSION_NOT_FOUND"

    disabled_agent = await runs.agent(state=agent_pb2.Agent.STATE_DISABLED)
    disabled = await rpc_error(start(await runs.session(disabled_agent)))
    assert disabled.code == grpc.StatusCode.FAILED_PRECONDITION and disabled.reason == "AGENT_DISABLED"
    assert disabled.metadata["resource"] == disabled_agent
    assert (await runs.list()).total_size == 0


async def test_get_and_cancel_of_unknown_or_malformed_runs(runs: Runs) -> None:
    missing = await rpc_error(runs.get("runs/nope-not-here"))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "RUN_NOT_FOUND"
    malformed = await rpc_error(runs.get("sessions/abc"))
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT
    cancel_missing = await rpc_error(runs.cancel("runs/nope-not-here"))
    assert cancel_missing.code == grpc.StatusCode.NOT_FOUND
    stream_missing = await rpc_error(runs.follow("runs/nope-not-here"))
    assert stream_missing.code == grpc.StatusCode.NOT_FOUND and stream_missing.reason == "RUN_NOT_FOUND"


async def test_list_runs_filters_orders_pages_and_sums_up_the_runs(runs: Runs) -> None:
    talker = await runs.agent()
    counter = await runs.agent(tools=["calculator"])
    chat, maths = await runs.session(talker), await runs.session(counter)
    names = []
    for session, words in ((chat, "one"), (maths, SIX_TIMES_SEVEN), (chat, "two"), (maths, "[[error:400]]")):
        events = await runs.execute_all(session, words)
        names.append(events[0].run)
    details = [await runs.get(n) for n in names]

    everything = await runs.list()
    assert [r.name for r in everything.runs] == names[::-1]  # newest first by default
    assert everything.total_size == 4 and not everything.next_page_token
    assert all(not r.steps for r in everything.runs)
    metrics = everything.metrics
    assert metrics.run_count == 4
    assert (metrics.succeeded_count, metrics.failed_count, metrics.queued_count, metrics.running_count) == (3, 1, 0, 0)
    assert metrics.usage.input_tokens == sum(r.usage.input_tokens for r in details)
    assert metrics.usage.output_tokens == sum(r.usage.output_tokens for r in details)
    assert metrics.usage.total_tokens == sum(r.usage.total_tokens for r in details) > 0
    assert metrics.tool_call_count == 1
    assert metrics.duration_p50.ToNanoseconds() > 0
    assert metrics.duration_p95.ToNanoseconds() >= metrics.duration_p50.ToNanoseconds()
    assert metrics.time_to_first_token_p50.ToNanoseconds() > 0

    oldest_first = await runs.list(order_by="create_time")
    assert [r.name for r in oldest_first.runs] == names

    succeeded = await runs.list(filter="status = SUCCEEDED")
    assert {r.name for r in succeeded.runs} == set(names[:3])
    assert succeeded.metrics.run_count == succeeded.total_size == 3
    assert succeeded.metrics.failed_count == 0
    assert succeeded.metrics.usage.total_tokens == sum(r.usage.total_tokens for r in details[:3])
    failed = await runs.list(filter="status = FAILED")
    assert [r.name for r in failed.runs] == [names[3]]
    assert failed.runs[0].error.reason == "PROVIDER_ERROR"
    assert [r.name for r in (await runs.list(filter='error.reason = "PROVIDER_ERROR"')).runs] == [names[3]]
    assert {r.name for r in (await runs.list(filter=f'session = "{chat}"')).runs} == {names[0], names[2]}
    assert {r.name for r in (await runs.list(filter="usage.total_tokens > 0")).runs} == set(names[:3])
    assert (await runs.list(filter='start_time > "2000-01-01T00:00:00Z"')).total_size == 4
    by_agent = await runs.list(filter=f'agent = "{counter}"')
    assert {r.name for r in by_agent.runs} == {names[1], names[3]}
    assert by_agent.metrics.tool_call_count == 1

    paged, token, pages = [], "", []
    while True:
        page = await runs.list(page_size=1, page_token=token, order_by="create_time")
        paged += [r.name for r in page.runs]
        pages.append(page)
        token = page.next_page_token
        if not token:
            break
    assert paged == names
    assert all(p.total_size == 4 and p.metrics == metrics for p in pages)

    for order_by, value in (
        ("usage.total_tokens desc", lambda r: -r.usage.total_tokens),
        ("duration", lambda r: r.duration.ToNanoseconds()),
        ("end_time desc", lambda r: -r.end_time.ToNanoseconds()),
        ("start_time", lambda r: r.start_time.ToNanoseconds()),
    ):
        ordered, token = [], ""
        while True:
            page = await runs.list(page_size=1, page_token=token, order_by=order_by)
            ordered += page.runs
            token = page.next_page_token
            if not token:
                break
        assert sorted(r.name for r in ordered) == sorted(names), order_by
        keys = [value(r) for r in ordered]
        assert keys == sorted(keys), order_by

    durations = {r.name: r.duration.ToNanoseconds() / 1e9 for r in details}
    ordered = sorted(durations.values())
    middle = (ordered[1] + ordered[2]) / 2  # between two runs, clear of rounding
    longer = await runs.list(filter=f'duration > "{middle:.9f}s"')
    assert {r.name for r in longer.runs} == {n for n, d in durations.items() if d > middle}
    assert (await runs.list(filter='duration >= "0s"')).total_size == 4
    assert (await runs.list(filter='duration > "3600s"')).total_size == 0
    bad_duration = await rpc_error(runs.list(filter="duration > 5"))
    assert bad_duration.code == grpc.StatusCode.INVALID_ARGUMENT
    assert '"1.5s"' in bad_duration.field_violations["filter"]

    bad_filter = await rpc_error(runs.list(filter="status = SOMETIMES"))
    assert bad_filter.code == grpc.StatusCode.INVALID_ARGUMENT
    bad_order = await rpc_error(runs.list(order_by="colour"))
    assert bad_order.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_stream_tokens_sends_only_text_then_a_final_message(runs: Runs) -> None:
    session = await runs.session()
    call = runs.stream_tokens(session, "[[tokens:40]]")
    messages = await drain(call)
    name = await run_name_of(call)
    run = await runs.get(name)

    assert run.status == SUCCEEDED
    *texts, final = messages
    assert final.final and all(not m.final for m in texts)
    assert all(m.text for m in texts)
    assert "".join(m.text for m in messages) == run.output.text
    seqs = [m.seq for m in messages]
    assert all(b > a for a, b in zip(seqs, seqs[1:]))
    assert final.seq == run.last_seq
    # Resuming after the last text seq gives exactly what follows the text.
    after_text = await runs.follow(name, texts[-1].seq)
    assert "text_delta" not in kinds(after_text) and kind(after_text[-1]) == "run_completed"


async def test_stream_tokens_with_the_same_request_id_follows_the_first_run_from_its_first_token(runs: Runs) -> None:
    session = await runs.session()
    request_id = new_request_id()
    first_call = runs.stream_tokens(session, "[[tokens:20]]", request_id=request_id)
    first = await drain(first_call)
    again_call = runs.stream_tokens(session, "[[tokens:20]]", request_id=request_id)
    again = await drain(again_call)
    assert await run_name_of(again_call) == await run_name_of(first_call)
    assert "".join(m.text for m in again) == "".join(m.text for m in first)
    assert again[-1].final
    assert (await runs.list()).total_size == 1


@pytest.mark.parametrize("cancel_on_disconnect", [False, True])
async def test_stream_tokens_ends_when_the_run_needs_a_person_and_the_run_goes_on(
    runs: Runs, cancel_on_disconnect: bool
) -> None:
    session = await runs.session(approval=["calculator"])
    call = runs.stream_tokens(session, SIX_TIMES_SEVEN, cancel_on_disconnect=cancel_on_disconnect)
    failure = await rpc_error(drain(call))
    name = await run_name_of(call)

    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "RUN_REQUIRES_INPUT"
    assert failure.metadata["run"] == name
    await asyncio.sleep(0.1)
    waiting = await runs.get(name)
    assert waiting.status == REQUIRES_INPUT
    assert failure.metadata["input_request_id"] == waiting.pending_input.id
    await runs.approve(name, waiting.pending_input.id)
    done = await runs.wait_end(name)
    assert done.status == SUCCEEDED and "42" in done.output.text


async def test_stream_tokens_reports_how_a_run_that_did_not_succeed_ended(runs: Runs) -> None:
    session = await runs.session()
    failed_call = runs.stream_tokens(session, "[[error:400]]")
    failed = await rpc_error(drain(failed_call))
    assert failed.code == grpc.StatusCode.ABORTED and failed.reason == "RUN_FAILED"
    assert failed.metadata["run"] == await run_name_of(failed_call)
    assert failed.metadata["run_reason"] == "PROVIDER_ERROR"

    slow_call = runs.stream_tokens(session, "[[sleep:5]]", options=run_pb2.RunOptions(max_duration=seconds(0.3)))
    timed_out = await rpc_error(drain(slow_call))
    assert timed_out.code == grpc.StatusCode.DEADLINE_EXCEEDED and timed_out.reason == "RUN_TIMED_OUT"
    assert timed_out.metadata["run"] == await run_name_of(slow_call)

    cancelled_call = runs.stream_tokens(session, "[[sleep:5]]")
    name = await run_name_of(cancelled_call)
    await runs.wait_status(name, RUNNING)
    await runs.cancel(name, reason="changed my mind")
    cancelled = await rpc_error(drain(cancelled_call))
    assert cancelled.code == grpc.StatusCode.CANCELLED and cancelled.reason == "RUN_CANCELLED"
    assert cancelled.metadata["run"] == name
    assert (await runs.get(name)).status == CANCELLED


# -- A run ends exactly once ------------------------------------------------------


async def test_cancel_run_while_the_run_is_recording_its_end_does_not_end_it_twice(
    runs: Runs, slow_terminal_commits: asyncio.Event
) -> None:
    session = await runs.session()
    created = await runs.create(session, "hello")
    await asyncio.wait_for(slow_terminal_commits.wait(), 10)

    failure = await rpc_error(runs.cancel(created.name))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION and failure.reason == "RUN_NOT_ACTIVE"
    run = await runs.get(created.name)
    assert run.status == SUCCEEDED and not run.HasField("error")
    events = await runs.follow(created.name)
    assert [k for k in kinds(events) if k in TERMINAL_EVENTS] == ["run_completed"]
    assert events[-1].seq == run.last_seq


async def test_a_run_cancelled_before_its_task_first_runs_still_ends_cancelled(runs: Runs) -> None:
    # A batch stopped while it starts a task cancels the new run at once, before the run's task has had a
    # turn of the loop; asyncio then never runs the task's coroutine, which must not leave the run queued.
    from runwire.server.core.principal import INSECURE_PRINCIPAL

    session = await runs.session()
    row = await runs.server.runs.create(INSECURE_PRINCIPAL, session, [{"text": "[[sleep:30]]"}], options={}, labels={})
    assert runs.server.runner.request_cancel(row.id, "stopped at once", "batch") is not None  # no await between

    ended = await runs.wait_end(f"runs/{row.id}")
    assert ended.status == CANCELLED and ended.error.reason == "RUN_CANCELLED"
    events = await runs.follow(ended.name)
    assert kinds(events)[-1] == "run_cancelled" and events[-1].run_cancelled.cancelled_by == "batch"
    assert runs.server.runner.active_runs_of(row.owner) == 0


async def test_a_run_starts_even_when_its_stream_fails_to_open(runs: Runs) -> None:
    # ExecuteAgent opens its stream (sends headers) between the commit and the start; a client gone by then
    # must not leave a committed run queued forever.
    from runwire.server.core.principal import INSECURE_PRINCIPAL

    async def client_gone(row: Any) -> None:
        raise ConnectionResetError("the client went away")

    session = await runs.session()
    with pytest.raises(ConnectionResetError):
        await runs.server.runs.create(
            INSECURE_PRINCIPAL, session, [{"text": "[[tokens:3]]"}], options={}, labels={}, before_start=client_gone
        )
    (created,) = (await runs.list()).runs
    ended = await runs.wait_end(created.name)
    assert ended.status == SUCCEEDED and ended.output.text == "t1 t2 t3"


@pytest.mark.parametrize("fails", [False, True], ids=["commits", "fails"])
async def test_what_within_writes_commits_with_the_run_or_not_at_all(runs: Runs, fails: bool) -> None:
    # A batch marks its task started in the transaction that creates the task's run (`within`), through
    # Core statements; a task taken meanwhile raises there, and neither the run nor the mark may remain.
    from sqlalchemy import update

    from runwire.server.core.principal import INSECURE_PRINCIPAL

    session = await runs.session()
    store = runs.server.runs.ctx.store

    async def mark(db: Any, row: Any) -> None:
        statement = update(SessionRow).where(SessionRow.id == session.split("/")[1]).values(display_name=f"run {row.id}")
        await store.execute_on(db, statement, {})
        if fails:
            raise LookupError("the task was taken meanwhile")

    create = runs.server.runs.create(
        INSECURE_PRINCIPAL, session, [{"text": "[[tokens:2]]"}], options={}, labels={}, within=mark
    )
    if fails:
        with pytest.raises(LookupError):
            await create
        assert not (await runs.list()).runs
        got = await runs.client.sessions.GetSession(session_pb2.GetSessionRequest(name=session))
        assert got.display_name == ""
        return
    row = await create
    got = await runs.client.sessions.GetSession(session_pb2.GetSessionRequest(name=session))
    assert got.display_name == f"run {row.id}"
    assert (await runs.wait_end(f"runs/{row.id}")).status == SUCCEEDED


async def test_a_deadline_reached_while_the_run_is_recording_its_end_does_not_end_it_twice(
    runs: Runs, slow_terminal_commits: asyncio.Event
) -> None:
    session = await runs.session()
    events = await runs.execute_all(session, "hello", options=run_pb2.RunOptions(max_duration=seconds(0.2)))
    await asyncio.sleep(0.5)

    run = await runs.get(events[0].run)
    assert run.status == SUCCEEDED
    replay = await runs.follow(run.name)
    assert [k for k in kinds(replay) if k in TERMINAL_EVENTS] == ["run_completed"]
    assert replay[-1].seq == run.last_seq


async def test_a_session_with_a_run_that_has_not_ended_cannot_be_deleted(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    _call, seen, _request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    name = seen[0].run
    for call in (
        runs.client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session, force=True)),
        runs.client.sessions.BatchDeleteSessions(session_pb2.BatchDeleteSessionsRequest(names=[session], force=True)),
    ):
        refused = await rpc_error(call)
        assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.reason == "SESSION_HAS_ACTIVE_RUNS"
    agent = (await runs.client.sessions.GetSession(session_pb2.GetSessionRequest(name=session))).agent
    refused = await rpc_error(runs.client.agents.DeleteAgent(agent_pb2.DeleteAgentRequest(name=agent, force=True)))
    assert refused.reason == "SESSION_HAS_ACTIVE_RUNS"
    await runs.cancel(name)
    await runs.client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session, force=True))


async def test_the_sweeper_leaves_an_expired_session_until_its_run_ends(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    _call, seen, _request = await pause_for_input(runs, session, SIX_TIMES_SEVEN)
    await runs.client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session, ttl=duration_pb2.Duration(seconds=1)),
            update_mask=field_mask_pb2.FieldMask(paths=["ttl"]),
        )
    )
    await asyncio.sleep(1.2)

    async def stored() -> int:
        async with runs.server.sessions.ctx.store.read() as db:
            query = select(func.count()).select_from(SessionRow).where(SessionRow.id == session.split("/")[1])
            return (await db.execute(query)).scalar_one()

    await runs.server.sweep_once()
    assert await stored() == 1
    await runs.cancel(seen[0].run)
    await runs.server.sweep_once()
    assert await stored() == 0
