"""Run streams through a real channel: cancellation, disconnects, exact resumption, and coalesced text.

A stream observes a run and does not own it: a client that goes away and
comes back with the last `seq` it saw gets exactly the events it missed.
"""

from __future__ import annotations

import asyncio
import re
from itertools import pairwise
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest

from runwire.server.app import RunwireServer
from runwire.v1 import event_pb2, event_pb2_grpc, message_pb2, run_pb2
from tests.conftest import new_request_id, rpc_error, sqlite_only
from tests.fakes.openai_server import FakeOpenAIServer, slow_stream
from tests.grpc.run_support import (
    CANCELLED,
    QUEUED,
    REQUIRES_INPUT,
    RUNNING,
    STREAM_TIMEOUT,
    SUCCEEDED,
    Runs,
    connected,
    drain,
    kind,
    kinds,
    non_delta,
    read_until,
    read_until_kind,
    run_name_of,
    run_settings,
    serving,
    text,
    text_of,
)

USER = message_pb2.Message.ROLE_USER
ASSISTANT = message_pb2.Message.ROLE_ASSISTANT
TOOL = message_pb2.Message.ROLE_TOOL
# `[[tokens:N]]` answers "t1 t2 ... tN". Before the first delta come run_created (1), run_started (2)
# and the input's message_created (3). With an idle writer each token is its own event, so token i is
# the delta with seq 3 + i; under load the log merges a run's waiting tokens into fewer events.
FIRST_DELTA_SEQ = 4
TOKEN_NUMBER = re.compile(r"t(\d+)\s*$")


@pytest.fixture
async def runs(tmp_path: Path) -> AsyncIterator[Runs]:
    async with serving(tmp_path) as instance:
        yield instance


def tokens_text(count: int) -> str:
    """The text `[[tokens:count]]` streams."""
    return "".join(f"t{i}" + (" " if i < count else "") for i in range(1, count + 1))


async def assert_each_seq_marks_the_text_so_far(runs: Runs, name: str, pieces: list[tuple[int, str]]) -> None:
    """Each (seq, text) received says "the run's text through event seq ends here": what was received up
    to it, then a replay after it, is the whole text. (A merged message carries its last event's seq.)"""
    whole = text_of(await runs.follow(name, 0))
    received = ""
    for seq, piece in pieces:
        received += piece
        assert received + text_of(await runs.follow(name, seq)) == whole, seq


def last_token(delta_text: str) -> int:
    match = TOKEN_NUMBER.search(delta_text)
    assert match, delta_text
    return int(match.group(1))


def assert_strictly_increasing(seqs: list[int]) -> None:
    assert all(b > a for a, b in pairwise(seqs)), seqs


def delta_is_token(number: int) -> Callable[[run_pb2.RunEvent], bool]:
    """Stop at the delta that carries token `number` (possibly merged with others)."""

    def stop(event: run_pb2.RunEvent) -> bool:
        return kind(event) == "text_delta" and last_token(event.text_delta.text) >= number

    return stop


# -- Cancellation and disconnects --------------------------------------------


async def test_cancel_run_stops_a_streaming_run_and_the_session_keeps_the_partial_text(runs: Runs) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    call = runs.execute(session, "[[tokens:2000]]")
    seen = await read_until(call, delta_is_token(10))
    name = seen[0].run

    cancelled = await runs.cancel(name, reason="that is enough")
    assert cancelled.status == CANCELLED
    assert cancelled.error.reason == "RUN_CANCELLED" and cancelled.error.message == "that is enough"
    assert cancelled.HasField("end_time")

    rest = await drain(call)
    events = seen + rest
    assert kind(events[-1]) == "run_cancelled"
    assert events[-1].run_cancelled.reason == "that is enough"
    assert events[-1].run_cancelled.cancelled_by == "local"
    assert events[-1].seq == (await runs.get(name)).last_seq
    streamed = text_of(events)
    assert 0 < last_token(streamed) < 2000
    assert streamed == tokens_text(2000)[: len(streamed)]

    messages = await runs.messages(session)
    assert [m.role for m in messages] == [USER, ASSISTANT]
    partial = messages[1]
    assert partial.labels["interrupted"] == "true"
    assert partial.text == streamed
    assert partial.run == name
    created = [e.message_created.message.name for e in events if kind(e) == "message_created"]
    assert created == [messages[0].name, partial.name]

    again = await rpc_error(runs.cancel(name))
    assert again.code == grpc.StatusCode.FAILED_PRECONDITION and again.reason == "RUN_NOT_ACTIVE"


async def test_cancel_run_checks_its_request(runs: Runs) -> None:
    session = await runs.session()
    run = await runs.create(session, "[[ask:Waiting?]]")
    waiting = await runs.wait_status(run.name, REQUIRES_INPUT)

    too_long = await rpc_error(runs.cancel(run.name, reason="x" * 1001))
    assert too_long.code == grpc.StatusCode.INVALID_ARGUMENT and "reason" in too_long.field_violations
    stale = await rpc_error(runs.stub.CancelRun(run_pb2.CancelRunRequest(name=run.name, etag=run.etag)))
    assert stale.code == grpc.StatusCode.ABORTED and stale.reason == "ETAG_MISMATCH"
    bad_key = await rpc_error(runs.stub.CancelRun(run_pb2.CancelRunRequest(name=run.name, request_id="not-a-uuid")))
    assert bad_key.code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in bad_key.field_violations
    assert (await runs.get(run.name)).status == REQUIRES_INPUT

    request = run_pb2.CancelRunRequest(name=run.name, etag=waiting.etag, reason="x" * 1000, request_id=new_request_id())
    cancelled = await runs.stub.CancelRun(request)
    assert cancelled.status == CANCELLED and cancelled.error.message == "x" * 1000
    # A retry of the same request gets the same answer, not RUN_NOT_ACTIVE.
    retried = await runs.stub.CancelRun(request)
    assert retried.name == run.name and retried.status == CANCELLED


async def test_cancel_run_of_a_finished_run_fails(runs: Runs) -> None:
    session = await runs.session()
    events = await runs.execute_all(session, "hello")
    failure = await rpc_error(runs.cancel(events[0].run))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "RUN_NOT_ACTIVE"
    assert failure.metadata["status"] == "SUCCEEDED"
    assert (await runs.get(events[0].run)).status == SUCCEEDED


async def test_cancel_run_of_a_queued_run_ends_it_before_it_starts(runs: Runs) -> None:
    session = await runs.session()
    first = await runs.create(session, "[[ask:Wait for me?]]")
    await runs.wait_status(first.name, REQUIRES_INPUT)
    queued = await runs.create(session, "never starts")
    assert (await runs.get(queued.name)).status == QUEUED

    cancelled = await runs.cancel(queued.name)
    assert cancelled.status == CANCELLED and not cancelled.HasField("start_time")
    assert kinds(await runs.follow(queued.name)) == ["run_created", "run_cancelled"]
    assert [m.run for m in await runs.messages(session)] == [first.name, first.name]

    waiting = await runs.get(first.name)
    assert waiting.status == REQUIRES_INPUT
    await runs.submit_call(first.name, waiting.pending_input.id, text="ok")
    assert (await runs.wait_end(first.name)).status == SUCCEEDED


async def test_cancel_run_while_waiting_for_approval_records_the_unfinished_call(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call = runs.execute(session, '[[tool:calculator {"expression": "1+1"}]]')
    seen = await read_until_kind(call, "input_required")
    name = seen[0].run

    cancelled = await runs.cancel(name)
    assert cancelled.status == CANCELLED and not cancelled.HasField("pending_input")
    rest = await drain(call)
    assert kind(rest[-1]) == "run_cancelled"
    messages = await runs.messages(session)
    assert [m.role for m in messages] == [USER, ASSISTANT, TOOL]
    result = messages[2].content[0].tool_result
    assert result.is_error and result.tool_call_id == seen[-1].input_required.input_request.tool_call.id
    assert messages[2].labels["interrupted"] == "true"


async def test_cancelling_a_run_that_waits_for_approval_completes_the_call_as_cancelled(runs: Runs) -> None:
    session = await runs.session(approval=["calculator"])
    call = runs.execute(session, '[[tool:calculator {"expression": "1+1"}]]')
    seen = await read_until_kind(call, "input_required")
    request = seen[-1].input_required.input_request
    await runs.cancel(seen[0].run)
    rest = await drain(call)

    completed = [e.tool_call_completed for e in rest if kind(e) == "tool_call_completed"]
    assert [c.state for c in completed] == [run_pb2.ToolExecution.STATE_CANCELLED]
    assert completed[0].result.tool_call_id == request.tool_call.id
    run = await runs.get(seen[0].run)
    assert [t.state for t in run.steps[0].tool_calls] == [run_pb2.ToolExecution.STATE_CANCELLED]


async def test_cancellation_reaches_the_provider_call(runs: Runs) -> None:
    async with FakeOpenAIServer() as fake:
        fake.script(slow_stream(0.02))
        session = await runs.session(provider="openai", model="test-model", base_url=fake.base_url)
        call = runs.execute(session, "talk forever")
        seen = await read_until_kind(call, "text_delta")
        name = seen[0].run
        await runs.cancel(name)
        await asyncio.wait_for(fake.client_disconnected.wait(), 5)
        assert kind((await drain(call))[-1]) == "run_cancelled"
        (interrupted,) = [m for m in await runs.messages(session) if m.role == ASSISTANT]
        assert interrupted.labels["interrupted"] == "true" and interrupted.text.startswith("tick")


@pytest.mark.parametrize("how", ["client-cancels", "deadline-passes", "while-waiting-for-input"])
async def test_a_client_that_goes_away_cancels_the_run_with_cancel_on_disconnect(runs: Runs, how: str) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    if how == "client-cancels":
        call = runs.execute(session, "[[tokens:2000]]", cancel_on_disconnect=True)
        seen = await read_until_kind(call, "text_delta")
        call.cancel()
        name = seen[0].run
    elif how == "while-waiting-for-input":
        session = await runs.session(approval=["calculator"])
        call = runs.execute(session, '[[tool:calculator {"expression": "1+1"}]]', cancel_on_disconnect=True)
        seen = await read_until_kind(call, "input_required")
        call.cancel()
        name = seen[0].run
    else:
        call = runs.stub.ExecuteAgent(
            run_pb2.ExecuteAgentRequest(
                session=session, input=[text("[[tokens:2000]]")], cancel_on_disconnect=True
            ),
            timeout=0.5,
        )
        name = await run_name_of(call)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await drain(call)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    run = await runs.wait_end(name, timeout=5)
    assert run.status == CANCELLED
    assert run.error.reason == "RUN_CANCELLED" and "disconnect" in run.error.message
    events = await runs.follow(name)
    assert kind(events[-1]) == "run_cancelled" and "disconnect" in events[-1].run_cancelled.reason
    if how != "while-waiting-for-input":
        (partial,) = [m for m in await runs.messages(session) if m.role == ASSISTANT]
        assert partial.labels["interrupted"] == "true"


async def test_stream_tokens_with_cancel_on_disconnect_cancels_the_run_when_the_client_goes_away(runs: Runs) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    call = runs.stream_tokens(session, "[[tokens:2000]]", cancel_on_disconnect=True)
    await read_until(call, lambda m: bool(m.text))
    name = await run_name_of(call)
    call.cancel()
    assert (await runs.wait_end(name, timeout=5)).status == CANCELLED


@pytest.mark.parametrize("method", ["ExecuteAgent", "StreamTokens"])
async def test_without_cancel_on_disconnect_the_run_outlives_its_stream(runs: Runs, method: str) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    if method == "ExecuteAgent":
        call = runs.execute(session, "[[tokens:200]]")
        await read_until_kind(call, "text_delta")
    else:
        call = runs.stream_tokens(session, "[[tokens:200]]")
        await read_until(call, lambda m: bool(m.text))
    name = await run_name_of(call)
    call.cancel()
    await asyncio.sleep(0.1)
    assert (await runs.get(name)).status == RUNNING

    run = await runs.wait_end(name)
    assert run.status == SUCCEEDED and run.output.text == tokens_text(200)
    events = await runs.follow(name)
    assert text_of(events) == tokens_text(200)


# -- Resumption ----------------------------------------------------------------


def cut_after(count: int) -> Callable[[list[run_pb2.RunEvent], run_pb2.RunEvent], bool]:
    return lambda seen, event: len(seen) >= count


def cut_at_token(number: int) -> Callable[[list[run_pb2.RunEvent], run_pb2.RunEvent], bool]:
    return lambda seen, event: delta_is_token(number)(event)


def cut_before_terminal(seen: list[run_pb2.RunEvent], event: run_pb2.RunEvent) -> bool:
    # The last event before the terminal one is the usage update of the last step.
    return kind(event) == "usage_updated"


CUTS = [
    pytest.param(cut_after(1), id="after-run-created"),
    pytest.param(cut_after(3), id="after-the-input"),
    pytest.param(cut_after(5), id="after-5-events"),
    pytest.param(cut_at_token(150), id="mid-deltas"),
    pytest.param(cut_at_token(300), id="after-the-last-delta"),
    pytest.param(cut_before_terminal, id="before-the-terminal-event"),
]
RATES = [pytest.param(1000, id="live"), pytest.param(0, id="unlimited")]


async def uninterrupted(runs: Runs, rate: float, tokens: int) -> tuple[str, list[str]]:
    """The text and the kinds of the other events of the same run read without a break. (Their `seq`s
    depend on how many deltas the log merged, so they are compared within one run, not across two.)"""
    session = await runs.session(options={"tokens_per_second": rate})
    events = await runs.execute_all(session, f"[[tokens:{tokens}]]")
    assert kind(events[-1]) == "run_completed"
    return text_of(events), [k for _, k in non_delta(events)]


async def read_with_cut(call: Any, cut: Callable[[list[run_pb2.RunEvent], run_pb2.RunEvent], bool]) -> list[run_pb2.RunEvent]:
    seen: list[run_pb2.RunEvent] = []

    def stop(event: run_pb2.RunEvent) -> bool:
        seen.append(event)
        return cut(seen, event)

    await read_until(call, stop)
    return seen


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("cut", CUTS)
async def test_a_stream_resumed_with_the_last_seq_seen_misses_nothing_and_repeats_nothing(
    runs: Runs, rate: float, cut: Callable[..., bool]
) -> None:
    reference_text, reference_events = await uninterrupted(runs, rate, 300)
    assert reference_text == tokens_text(300)

    session = await runs.session(options={"tokens_per_second": rate})
    call = runs.execute(session, "[[tokens:300]]")
    before = await read_with_cut(call, cut)
    call.cancel()
    name = before[0].run

    after = await runs.follow(name, before[-1].seq)
    events = before + after
    assert_strictly_increasing([e.seq for e in events])
    assert text_of(events) == reference_text
    assert [k for _, k in non_delta(events)] == reference_events
    # The same run replayed whole afterwards: the same events, at the same seqs.
    replay = await runs.follow(name, 0)
    assert text_of(replay) == reference_text
    assert non_delta(events) == non_delta(replay)
    assert events[-1].seq == (await runs.get(name)).last_seq


# On PostgreSQL commits take long enough that tokens merge and the run never outgrows its live window.
@sqlite_only
async def test_a_stream_resumed_from_far_behind_a_long_live_run_reads_back_the_older_events(runs: Runs) -> None:
    # More events than a live channel keeps in memory: the start is read back from the database.
    session = await runs.session(options={"tokens_per_second": 2000})
    call = runs.execute(session, "[[tokens:3000]]")
    before = await read_with_cut(call, cut_after(2))
    call.cancel()
    name = before[0].run
    await runs.wait_for(name, lambda r: r.last_seq > 1500)

    resumed = runs.stream_events(name, before[-1].seq)
    middle = await read_until(resumed, delta_is_token(2000))
    assert (await runs.get(name)).status == RUNNING, "the run should still be live when the reader catches up"
    resumed.cancel()
    rest = await runs.follow(name, middle[-1].seq)

    events = before + middle + rest
    assert_strictly_increasing([e.seq for e in events])
    assert text_of(events) == tokens_text(3000)
    assert kind(events[-1]) == "run_completed"


async def test_a_finished_run_replays_exactly_from_any_seq(runs: Runs) -> None:
    session = await runs.session()
    full = await runs.execute_all(session, "[[tokens:300]]")
    name = full[0].run
    last_seq = (await runs.get(name)).last_seq
    # At most one event per token: deltas, then message_created, step_completed, usage_updated, run_completed.
    assert FIRST_DELTA_SEQ + 4 <= last_seq <= FIRST_DELTA_SEQ + 300 + 3
    assert text_of(full) == tokens_text(300)

    # A replay after every seq: each is the one after it plus exactly one event (some text, or one other
    # event), so the stored events are read back one by one and together make the whole run. (A replay
    # merges neighbouring deltas into one message carrying the last one's seq.)
    later = await runs.follow(name, last_seq - 1)
    assert [(e.seq, kind(e)) for e in later] == [(last_seq, "run_completed")]
    for after_seq in range(last_seq - 2, -1, -1):
        replay = await runs.follow(name, after_seq)
        assert replay[0].seq > after_seq, after_seq
        assert_strictly_increasing([e.seq for e in replay])
        assert replay[-1].seq == last_seq and kind(replay[-1]) == "run_completed"
        assert text_of(replay).endswith(text_of(later)), after_seq
        assert non_delta(replay) == [(s, k) for s, k in non_delta(full) if s > after_seq]
        more_text = len(text_of(replay)) > len(text_of(later))
        more_events = len(non_delta(replay)) - len(non_delta(later))
        assert (more_text, more_events) in ((True, 0), (False, 1)), after_seq
        later = replay
    assert text_of(later) == tokens_text(300)
    assert await runs.follow(name, last_seq) == []


async def test_stream_run_events_refuses_a_seq_beyond_the_log_or_below_zero(runs: Runs) -> None:
    session = await runs.session()
    finished = (await runs.execute_all(session, "hello"))[0].run
    last_seq = (await runs.get(finished)).last_seq

    beyond = await rpc_error(runs.follow(finished, last_seq + 1))
    assert beyond.code == grpc.StatusCode.OUT_OF_RANGE
    assert beyond.metadata["last_seq"] == str(last_seq)
    negative = await rpc_error(runs.follow(finished, -1))
    assert negative.code == grpc.StatusCode.INVALID_ARGUMENT and "after_seq" in negative.field_violations
    malformed = await rpc_error(runs.follow("not-a-run"))
    assert malformed.code == grpc.StatusCode.INVALID_ARGUMENT

    waiting = await runs.create(session, "[[ask:Still there?]]")
    active = await runs.wait_status(waiting.name, REQUIRES_INPUT)
    live_beyond = await rpc_error(runs.follow(waiting.name, active.last_seq + 5))
    assert live_beyond.code == grpc.StatusCode.OUT_OF_RANGE
    await runs.cancel(waiting.name)


async def test_stream_run_events_of_a_queued_run_follows_it_live_to_the_end(runs: Runs) -> None:
    session = await runs.session()
    # The first run holds the session until it is answered, however slow the machine.
    first = await runs.create(session, "[[ask:Go on?]] first")
    waiting = await runs.wait_status(first.name, REQUIRES_INPUT)
    second = await runs.create(session, "second")
    assert (await runs.get(second.name)).status == QUEUED

    following = asyncio.ensure_future(runs.follow(second.name))
    await runs.submit_call(first.name, waiting.pending_input.id, text="yes")
    events = await following
    assert kinds(events)[:3] == ["run_created", "run_started", "message_created"]
    assert kind(events[-1]) == "run_completed"
    assert text_of(events) == "You said: second"
    assert_strictly_increasing([e.seq for e in events])
    assert (await runs.get(first.name)).status == SUCCEEDED


async def test_several_streams_of_one_run_each_see_the_whole_run(runs: Runs) -> None:
    session = await runs.session(options={"tokens_per_second": 1000})
    created = await runs.create(session, "[[tokens:200]]")
    streams = await asyncio.gather(*(runs.follow(created.name) for _ in range(5)))
    for events in streams:
        assert text_of(events) == tokens_text(200)
        assert kind(events[0]) == "run_created" and kind(events[-1]) == "run_completed"


# -- Coalescing ------------------------------------------------------------------


async def test_a_slow_reader_gets_text_deltas_merged_with_the_seq_of_the_last_one(runs: Runs) -> None:
    session = await runs.session()
    call = runs.execute(session, "[[tokens:3000]]")
    first = await read_until(call, lambda e: True)
    await asyncio.sleep(0.5)
    events = first + await drain(call)

    deltas = [e for e in events if kind(e) == "text_delta"]
    assert len(deltas) < 3000
    assert text_of(events) == tokens_text(3000)
    assert_strictly_increasing([e.seq for e in events])
    assert all(delta.text_delta.step_index == 0 for delta in deltas)
    assert events[-1].seq == (await runs.get(events[0].run)).last_seq
    await assert_each_seq_marks_the_text_so_far(runs, events[0].run, [(d.seq, d.text_delta.text) for d in deltas])


async def test_a_slow_stream_tokens_reader_gets_merged_text_with_the_seq_of_the_last_delta(runs: Runs) -> None:
    session = await runs.session()
    call = runs.stream_tokens(session, "[[tokens:3000]]")
    first = await read_until(call, lambda m: True)
    await asyncio.sleep(0.5)
    messages = first + await drain(call)

    *texts, final = messages
    assert final.final and len(texts) < 3000
    assert "".join(m.text for m in messages) == tokens_text(3000)
    assert_strictly_increasing([m.seq for m in messages])
    name = await run_name_of(call)
    await assert_each_seq_marks_the_text_so_far(runs, name, [(m.seq, m.text) for m in texts])


@pytest.mark.parametrize("method", ["ExecuteAgent", "StreamTokens"])
async def test_a_reader_that_keeps_up_gets_every_token_as_its_own_event(runs: Runs, method: str) -> None:
    # Deltas committed together are sent together, so only tokens further apart than any stall of a
    # busy machine are certain to be committed, and sent, one by one: 100 ms apart here.
    session = await runs.session(options={"tokens_per_second": 10})
    if method == "ExecuteAgent":
        events = await runs.execute_all(session, "[[tokens:20]]")
        pieces = [(e.seq, e.text_delta.text) for e in events if kind(e) == "text_delta"]
    else:
        messages = await drain(runs.stream_tokens(session, "[[tokens:20]]"))
        pieces = [(m.seq, m.text) for m in messages if not m.final]
    assert pieces == [(FIRST_DELTA_SEQ - 1 + i, f"t{i}" + (" " if i < 20 else "")) for i in range(1, 21)]


async def test_a_step_cut_short_is_recorded_as_interrupted(runs: Runs) -> None:
    session = await runs.session(options={"tokens_per_second": 200})
    call = runs.execute(session, "[[tokens:2000]]")
    seen = await read_until_kind(call, "text_delta")
    await runs.cancel(seen[0].run)
    rest = await drain(call)
    assert kind(rest[-1]) == "run_cancelled"
    assert "step_completed" in kinds(rest)
    run = await runs.get(seen[0].run)
    (step,) = run.steps
    assert step.model_call.finish_reason == run_pb2.ModelCall.FINISH_REASON_INTERRUPTED
    assert step.model_call.text.startswith("t1 ")
    assert step.HasField("end_time")


async def test_at_shutdown_every_run_stream_ends_unavailable_with_the_run_and_its_last_seq(tmp_path: Path) -> None:
    server = RunwireServer(run_settings(tmp_path, builtin_tokens_per_second=20))
    await server.start()
    stopping = None
    try:
        async with connected(server) as runs:
            waiting = await runs.create(await runs.session(approval=["calculator"]), '[[tool:calculator {"expression": "1+1"}]]')
            await runs.wait_status(waiting.name, REQUIRES_INPUT)
            following = runs.stream_events(waiting.name, 1)
            followed = await read_until_kind(following, "input_required")
            tokens = runs.stream_tokens(await runs.session(), "[[tokens:400]]")
            streamed = [await tokens.read() for _ in range(3)]
            connect = event_pb2_grpc.EventServiceStub(runs.client.channel).Connect(timeout=STREAM_TIMEOUT)
            await connect.write(event_pb2.ConnectRequest(hello=event_pb2.ConnectHello(client_name="watcher")))
            assert (await connect.read()).WhichOneof("message") == "connected"

            stopping = asyncio.ensure_future(server.stop(grace=1.0))
            following_rest = []
            ended = await rpc_error(_read_all(following, following_rest))
            assert (ended.code, ended.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            assert (ended.metadata["run"], ended.metadata["last_seq"]) == (waiting.name, str(followed[-1].seq))
            assert following_rest == []

            tokens_rest: list[Any] = []
            ended = await rpc_error(_read_all(tokens, tokens_rest))
            assert (ended.code, ended.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            last = (streamed + tokens_rest)[-1]
            assert (ended.metadata["run"], ended.metadata["last_seq"]) == (await run_name_of(tokens), str(last.seq))

            connect_rest: list[Any] = []
            ended = await rpc_error(_read_all(connect, connect_rest))
            assert (ended.code, ended.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
            assert connect_rest[-1].WhichOneof("message") == "going_away"
            await stopping
    finally:
        if stopping is None:
            await server.stop(grace=0)


async def _read_all(call: Any, into: list[Any]) -> None:
    while (message := await call.read()) is not grpc.aio.EOF:
        into.append(message)
