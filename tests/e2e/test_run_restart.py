"""End to end: a run cut off by `runwire serve` being killed, or stopped, keeps what it streamed, and its
stream says where to resume after the restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    event_pb2,
    event_pb2_grpc,
    message_pb2,
    message_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess

pytestmark = pytest.mark.e2e
METADATA = (("x-api-key", ADMIN_KEY),)
# Tokens stream slowly enough that the kill or the stop lands in the middle of the answer.
ENV = {"RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "20", "RUNWIRE_RATE_LIMITS_ENABLED": "0"}
LONG_ANSWER = "[[tokens:400]]"
ASSISTANT = message_pb2.Message.ROLE_ASSISTANT


def _kind(event: run_pb2.RunEvent) -> str:
    return event.WhichOneof("payload") or ""


def _text(events: list[run_pb2.RunEvent]) -> str:
    return "".join(e.text_delta.text for e in events if _kind(e) == "text_delta")


def _new_session(channel: grpc.Channel) -> str:
    agent = agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Talker")), metadata=METADATA, timeout=10
    )
    session = session_pb2_grpc.SessionServiceStub(channel).CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name)), metadata=METADATA, timeout=10
    )
    return session.name


def _execute(channel: grpc.Channel, session: str) -> Any:
    return run_pb2_grpc.RunServiceStub(channel).ExecuteAgent(
        run_pb2.ExecuteAgentRequest(session=session, input=[common_pb2.ContentPart(text=LONG_ANSWER)]),
        metadata=METADATA,
        timeout=60,
    )


def _read_until(stream: Any, stop: Callable[[list[run_pb2.RunEvent]], bool]) -> list[run_pb2.RunEvent]:
    seen: list[run_pb2.RunEvent] = []
    for event in stream:
        seen.append(event)
        if stop(seen):
            return seen
    raise AssertionError(f"the stream ended early: {[_kind(e) for e in seen]}")


def _assistant_messages(channel: grpc.Channel, session: str) -> list[message_pb2.Message]:
    page = message_pb2_grpc.MessageServiceStub(channel).ListMessages(
        message_pb2.ListMessagesRequest(parent=session, page_size=100), metadata=METADATA, timeout=10
    )
    return [m for m in page.messages if m.role == ASSISTANT]


def _replay(channel: grpc.Channel, run: str, after_seq: int = 0) -> list[run_pb2.RunEvent]:
    stream = run_pb2_grpc.RunServiceStub(channel).StreamRunEvents(
        run_pb2.StreamRunEventsRequest(run=run, after_seq=after_seq), metadata=METADATA, timeout=30
    )
    return list(stream)


def _wait_end(channel: grpc.Channel, run: str) -> run_pb2.Run:
    runs = run_pb2_grpc.RunServiceStub(channel)
    deadline = time.monotonic() + 30
    while True:
        found = runs.GetRun(run_pb2.GetRunRequest(name=run), metadata=METADATA, timeout=10)
        if found.status >= run_pb2.Run.STATUS_SUCCEEDED:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{run} did not end: {found}")
        time.sleep(0.05)


def test_a_run_cut_off_by_kill_9_keeps_its_committed_text_as_an_interrupted_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    try:
        with grpc.insecure_channel(first.address) as channel:
            session = _new_session(channel)
            received = _read_until(_execute(channel, session), lambda seen: len(_text(seen).split()) >= 10)
            run = received[0].run
    finally:
        first.process.send_signal(signal.SIGKILL)
        assert first.stop() == -signal.SIGKILL

    second = ServeProcess(data_dir, env=ENV, log_name="second.log")
    try:
        with grpc.insecure_channel(second.address) as channel:
            ended = _wait_end(channel, run)
            assert ended.status == run_pb2.Run.STATUS_FAILED and ended.error.reason == "SERVER_RESTARTED"
            replay = _replay(channel, run)
            committed = _text(replay)
            # What the client saw was committed; more may have been committed before the kill.
            assert committed.startswith(_text(received)) and len(committed.split()) < 400
            (kept,) = _assistant_messages(channel, session)
            assert kept.content[0].text == committed
            assert [_kind(e) for e in replay[-2:]] == ["message_created", "run_failed"]
            assert replay[-2].message_created.message.name == kept.name

            # Marked as a cancelled run's message is.
            cancelled_session = _new_session(channel)
            stream = _execute(channel, cancelled_session)
            cancelled_run = _read_until(stream, lambda seen: len(_text(seen).split()) >= 3)[0].run
            run_pb2_grpc.RunServiceStub(channel).CancelRun(
                run_pb2.CancelRunRequest(name=cancelled_run), metadata=METADATA, timeout=10
            )
            assert _wait_end(channel, cancelled_run).status == run_pb2.Run.STATUS_CANCELLED
            (cancelled,) = _assistant_messages(channel, cancelled_session)
            assert dict(kept.labels) == dict(cancelled.labels) == {"interrupted": "true"}
            assert kept.run == run and cancelled.run == cancelled_run
    finally:
        assert second.stop() == 0


def _shutdown_status(error: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo | None]:
    status = rpc_status.from_call(error)
    assert status is not None, f"a bare status: {error.code()} {error.details()}"
    info, retry = error_details_pb2.ErrorInfo(), None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    return info, retry


def _read_to_the_end(stream: Any) -> tuple[list[Any], grpc.RpcError]:
    seen: list[Any] = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in stream:
            seen.append(message)
    return seen, caught.value


def _non_delta(events: list[run_pb2.RunEvent]) -> list[tuple[int, str]]:
    return [(e.seq, _kind(e)) for e in events if _kind(e) != "text_delta"]


def test_at_shutdown_streams_end_with_where_to_resume_and_resume_exactly_after_the_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    with grpc.insecure_channel(first.address) as channel:
        agent = agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(
                    display_name="Approver", tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)]
                )
            ),
            metadata=METADATA,
            timeout=10,
        )
        sessions = session_pb2_grpc.SessionServiceStub(channel)
        waiting_session, talking_session = (
            sessions.CreateSession(
                session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name)), metadata=METADATA, timeout=10
            ).name
            for _ in range(2)
        )
        events = event_pb2_grpc.EventServiceStub(channel).Subscribe(
            event_pb2.SubscribeRequest(from_now=True), metadata=METADATA, timeout=60
        )
        caught_up = next(events)
        assert caught_up.WhichOneof("message") == "caught_up"
        waiting_stream = run_pb2_grpc.RunServiceStub(channel).ExecuteAgent(
            run_pb2.ExecuteAgentRequest(
                session=waiting_session, input=[common_pb2.ContentPart(text='[[tool:calculator {"expression": "6*7"}]]')]
            ),
            metadata=METADATA,
            timeout=60,
        )
        waiting_seen = _read_until(waiting_stream, lambda seen: _kind(seen[-1]) == "input_required")
        talking_stream = _execute(channel, talking_session)
        talking_seen = _read_until(talking_stream, lambda seen: len(_text(seen).split()) >= 5)

        first.process.send_signal(signal.SIGTERM)
        # Each stream gets what was committed, then UNAVAILABLE SHUTTING_DOWN with where to resume.
        rest, talking_error = _read_to_the_end(talking_stream)
        talking_seen += rest
        more, waiting_error = _read_to_the_end(waiting_stream)
        waiting_seen += more
        later, events_error = _read_to_the_end(events)
        assert first.stop() == 0

    talking_run, waiting_run = talking_seen[0].run, waiting_seen[0].run
    for seen, error, run in ((talking_seen, talking_error, talking_run), (waiting_seen, waiting_error, waiting_run)):
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        info, retry = _shutdown_status(error)
        assert info.reason == "SHUTTING_DOWN" and retry is not None
        assert info.metadata["run"] == run and info.metadata["last_seq"] == str(seen[-1].seq)
    # The shutdown ended the talking run: its terminal event came before the status.
    assert _kind(talking_seen[-1]) == "run_failed" and talking_seen[-1].run_failed.error.reason == "SHUTTING_DOWN"
    # The run waiting for a person waits on: nothing came after its input request.
    assert _kind(waiting_seen[-1]) == "input_required"
    assert events_error.code() == grpc.StatusCode.UNAVAILABLE
    info, _ = _shutdown_status(events_error)
    assert info.reason == "SHUTTING_DOWN"
    delivered = [m.event.cursor for m in later if m.WhichOneof("message") == "event"]
    assert info.metadata["cursor"] == (delivered[-1] if delivered else caught_up.caught_up.cursor)

    second = ServeProcess(data_dir, env=ENV, log_name="second.log")
    try:
        with grpc.insecure_channel(second.address) as channel:
            runs = run_pb2_grpc.RunServiceStub(channel)
            request = waiting_seen[-1].input_required.input_request
            runs.SubmitInput(
                run_pb2.SubmitInputRequest(
                    name=waiting_run,
                    input_request_id=request.id,
                    approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE),
                ),
                metadata=METADATA,
                timeout=10,
            )
            for run, seen in ((waiting_run, waiting_seen), (talking_run, talking_seen)):
                assert _wait_end(channel, run).status in (run_pb2.Run.STATUS_SUCCEEDED, run_pb2.Run.STATUS_FAILED)
                continued = _replay(channel, run, seen[-1].seq)
                # Exactly what was missed: together the two streams are the run's whole history, once.
                whole = _replay(channel, run)
                assert _non_delta(seen) + _non_delta(continued) == _non_delta(whole)
                assert _text(seen) + _text(continued) == _text(whole)
            assert _kind(_replay(channel, waiting_run, waiting_seen[-1].seq)[-1]) == "run_completed"
            assert _replay(channel, talking_run, talking_seen[-1].seq) == []
            # The subscription resumes from the cursor the status gave.
            resumed = event_pb2_grpc.EventServiceStub(channel).Subscribe(
                event_pb2.SubscribeRequest(cursor=info.metadata["cursor"]), metadata=METADATA, timeout=10
            )
            assert any(m.WhichOneof("message") == "caught_up" for m in _read_until_message(resumed, "caught_up"))
    finally:
        assert second.stop() == 0


def _read_until_message(stream: Any, kind: str) -> list[Any]:
    seen: list[Any] = []
    for message in stream:
        seen.append(message)
        if message.WhichOneof("message") == kind:
            stream.cancel()
            return seen
    return seen
