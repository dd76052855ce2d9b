"""End to end: a run cut off by `runwire serve` being killed, or stopped, keeps what it streamed, and its
stream says where to resume after the restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest

from runwire.v1 import (
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
