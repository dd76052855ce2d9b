"""End to end: control and streams reach every replica. Two `runwire serve` processes on one PostgreSQL,
signalling each other through Redis or, without Redis, PostgreSQL LISTEN/NOTIFY: a follower on the replica
that does not own a run sees what the owner's follower sees; CancelRun, SubmitInput, a Connect answer and
CancelBatch sent to that replica act on the run or batch its owner drives, and answer with what happened."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

import grpc
import pytest

from runwire.v1 import agent_pb2, agent_pb2_grpc, batch_pb2, event_pb2, event_pb2_grpc, run_pb2
from tests.e2e.test_replicas import (
    METADATA,
    RUN,
    Replica,
    create_run,
    eventually,
    get_run,
    kind,
    session_on,
    stored_events,
)
from tests.redis_support import RedisServer

pytestmark = pytest.mark.e2e
APPROVE = run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
Resolved = event_pb2.RequestResolved


@pytest.fixture(params=["redis", "notify"])
def pair(request: pytest.FixtureRequest, replicas: Callable[..., Replica]) -> Iterator[tuple[Replica, Replica]]:
    """Replicas A and B, signalling through Redis, or through PostgreSQL without Redis."""
    env: dict[str, str] = {}
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        env = {"RUNWIRE_REDIS_URL": redis.url, "RUNWIRE_REDIS_KEY_PREFIX": f"control-{id(request)}:"}
    a, b = replicas("a", env), replicas("b", env)
    a.url = b.url = replicas.url  # type: ignore[attr-defined]
    expected = "redis" if request.param == "redis" else "postgresql"
    for replica in (a, b):
        eventually(lambda r=replica: f"signals between processes: {expected}" in r.log, "the replica uses its signal bus", 10)
    yield a, b


def stream(replica: Replica, name: str) -> list[run_pb2.RunEvent]:
    call = replica.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=name), metadata=METADATA, timeout=60)
    return list(call)


def text_of(events: list[run_pb2.RunEvent]) -> str:
    return "".join(e.text_delta.text for e in events if kind(e) == "text_delta")


def milestones(events: list[run_pb2.RunEvent]) -> list[tuple[int, str]]:
    return [(e.seq, kind(e)) for e in events if kind(e) != "text_delta"]


def waiting_run(owner: Replica, tool_text: str = '[[tool:calculator {"expression": "6*7"}]]') -> tuple[RUN, run_pb2.InputRequest]:
    session = session_on(owner, approval=("calculator",))
    run = create_run(owner, session, tool_text)
    request = eventually(
        lambda: (got := get_run(owner, run.name)).status == RUN.STATUS_REQUIRES_INPUT and got.pending_input,
        "the run waits for approval",
        timeout=20,
    )
    return run, request


def test_a_follower_on_the_other_replica_gets_the_owners_stream(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    run = create_run(a, session_on(a), "[[tokens:40]]")
    streams: dict[str, list[run_pb2.RunEvent]] = {}
    followers = [
        threading.Thread(target=lambda r=replica: streams.__setitem__(r.name, stream(r, run.name))) for replica in (a, b)
    ]
    for follower in followers:
        follower.start()
    for follower in followers:
        follower.join(60)
    assert text_of(streams["b"]) == text_of(streams["a"]) and text_of(streams["a"])
    # Text deltas that reach a follower together are merged (run.proto), so only the other events match one for one.
    assert milestones(streams["b"]) == milestones(streams["a"])
    for events in streams.values():
        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs)), seqs
    assert streams["b"][-1].seq == streams["a"][-1].seq
    assert kind(streams["b"][-1]) == "run_completed"
    # Both are exactly what the database holds (coalesced the same way is not required: compare the text).
    assert text_of(stored_events(a.url)[run.name.split("/")[-1]]) == text_of(streams["a"])


def test_cancel_on_the_replica_that_does_not_own_the_run_cancels_it(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    run = create_run(a, session_on(a), "[[tokens:400]]")
    eventually(lambda: get_run(a, run.name).status == RUN.STATUS_RUNNING, "the run runs on A", 20)
    cancelled = b.runs.CancelRun(run_pb2.CancelRunRequest(name=run.name, reason="enough"), metadata=METADATA, timeout=30)
    assert cancelled.status == RUN.STATUS_CANCELLED, cancelled
    events = stream(b, run.name)
    assert kind(events[-1]) == "run_cancelled"
    assert events[-1].run_cancelled.reason == "enough"
    assert get_run(a, run.name).status == RUN.STATUS_CANCELLED


def test_an_approval_on_the_replica_that_does_not_own_the_run_resumes_it(pair: tuple[Replica, Replica]) -> None:
    a, b = pair
    run, request = waiting_run(a)
    answered = b.runs.SubmitInput(
        run_pb2.SubmitInputRequest(name=run.name, input_request_id=request.id, approval=APPROVE), metadata=METADATA, timeout=30
    )
    assert answered.status != RUN.STATUS_REQUIRES_INPUT, answered
    finished = eventually(
        lambda: (got := get_run(b, run.name)).status not in (RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT) and got,
        "the approved run finishes",
    )
    assert finished.status == RUN.STATUS_SUCCEEDED, finished
    events = stream(b, run.name)
    received = [e for e in events if kind(e) == "input_received"]
    assert [e.input_received.input_request_id for e in received] == [request.id]


def submit_outcome(replica: Replica, run: str, request_id: str, text: str) -> str:
    try:
        replica.runs.SubmitInput(
            run_pb2.SubmitInputRequest(name=run, input_request_id=request_id, text=text), metadata=METADATA, timeout=30
        )
        return "OK"
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
        return reason_of(error)


def reason_of(error: grpc.RpcError) -> str:
    from google.rpc import error_details_pb2, status_pb2

    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return ""


def test_concurrent_answers_on_both_replicas_one_wins(replicas: Callable[..., Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    session = session_on(a)
    run = create_run(a, session, "[[ask:Which colour?]]")
    request = eventually(
        lambda: (got := get_run(a, run.name)).status == RUN.STATUS_REQUIRES_INPUT and got.pending_input,
        "the run asks",
        timeout=20,
    )
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def answer(replica: Replica, text: str) -> None:
        start.wait()
        outcomes[replica.name] = submit_outcome(replica, run.name, request.id, text)

    threads = [threading.Thread(target=answer, args=(a, "blue")), threading.Thread(target=answer, args=(b, "green"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == ["INPUT_REQUEST_ALREADY_ANSWERED", "OK"], outcomes
    winner = "blue" if outcomes["a"] == "OK" else "green"
    events = stream(b, run.name)
    (received,) = [e for e in events if kind(e) == "input_received"]
    assert received.input_received.text == winner
    assert kind(events[-1]) == "run_completed"


def test_a_connect_answer_on_the_replica_that_does_not_own_the_run_resumes_it(replicas: Callable[..., Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    run = create_run(a, session_on(a), "[[ask:Which colour?]]")
    eventually(lambda: get_run(a, run.name).status == RUN.STATUS_REQUIRES_INPUT, "the run asks", timeout=20)
    outgoing: queue.Queue[Any] = queue.Queue()
    responses = event_pb2_grpc.EventServiceStub(b.channel).Connect(iter(outgoing.get, None), metadata=METADATA, timeout=60)
    try:
        outgoing.put(event_pb2.ConnectRequest(hello=event_pb2.ConnectHello(client_name="approver", accept_input_requests=True)))
        offered = next(r for r in responses if r.WhichOneof("message") == "request").request
        assert offered.input_request.run == run.name
        outgoing.put(
            event_pb2.ConnectRequest(
                correlation_id="answer", response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, text="blue")
            )
        )
        reply = next(r for r in responses if r.WhichOneof("message") in ("request_resolved", "error"))
        assert reply.WhichOneof("message") == "request_resolved", reply
        assert reply.request_resolved.outcome == Resolved.OUTCOME_ANSWERED
    finally:
        outgoing.put(None)
        responses.cancel()
    finished = eventually(
        lambda: (got := get_run(a, run.name)).status not in (RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT) and got,
        "the answered run finishes",
    )
    assert finished.status == RUN.STATUS_SUCCEEDED, finished


def test_cancel_batch_on_the_replica_that_does_not_drive_it_stops_it_there(replicas: Callable[..., Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    agent = agent_pb2_grpc.AgentServiceStub(a.channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Batch worker")), metadata=METADATA, timeout=10
    )
    tasks = [batch_pb2.BatchTaskInput(agent=agent.name, text=f"[[tokens:400]] task {i}") for i in range(4)]
    batch = a.batches.CreateBatch(
        batch_pb2.CreateBatchRequest(
            batch=batch_pb2.Batch(
                inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks), options=batch_pb2.BatchOptions(max_concurrency=2)
            )
        ),
        metadata=METADATA,
        timeout=10,
    )
    get = lambda: b.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name), metadata=METADATA, timeout=10)  # noqa: E731
    eventually(lambda: get().counts.running == 2, "two tasks run on A", 20)
    answered = b.batches.CancelBatch(batch_pb2.CancelBatchRequest(name=batch.name), metadata=METADATA, timeout=30)
    assert answered.state in (batch_pb2.Batch.STATE_CANCELLING, batch_pb2.Batch.STATE_CANCELLED), answered
    final = eventually(lambda: (got := get()).state == batch_pb2.Batch.STATE_CANCELLED and got, "the batch ends cancelled", 30)
    assert final.counts.succeeded == 0, final
    # The runs A was executing were stopped there (cancelled), not left to finish.
    runs = b.runs.ListRuns(run_pb2.ListRunsRequest(page_size=10), metadata=METADATA).runs
    assert runs and all(r.status == RUN.STATUS_CANCELLED for r in runs), [(r.name, r.status) for r in runs]
    assert "lease lost" not in a.log


def test_requests_recorded_while_the_owner_is_gone_are_applied_by_the_next_owner(replicas: Callable[..., Replica]) -> None:
    import signal

    a, b = replicas("a"), replicas("b")
    running = create_run(a, session_on(a), "[[tokens:400]]")
    waiting, request = waiting_run(a)
    eventually(lambda: get_run(a, running.name).status == RUN.STATUS_RUNNING, "the run runs on A", 20)
    a.process.process.send_signal(signal.SIGSTOP)  # A applies nothing from now on
    try:
        outcomes: dict[str, Any] = {}

        def cancel() -> None:
            outcomes["cancel"] = b.runs.CancelRun(run_pb2.CancelRunRequest(name=running.name), metadata=METADATA, timeout=30)

        def approve() -> None:
            outcomes["approve"] = b.runs.SubmitInput(
                run_pb2.SubmitInputRequest(name=waiting.name, input_request_id=request.id, approval=APPROVE),
                metadata=METADATA,
                timeout=30,
            )

        threads = [threading.Thread(target=cancel), threading.Thread(target=approve)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
    finally:
        a.process.process.send_signal(signal.SIGCONT)
    # B claimed both runs once A's leases expired, and applied what it had recorded.
    assert outcomes["cancel"].status == RUN.STATUS_CANCELLED, outcomes["cancel"]
    assert kind(stream(b, running.name)[-1]) == "run_cancelled"
    finished = eventually(
        lambda: (got := get_run(b, waiting.name)).status not in (RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT) and got,
        "the approved run finishes on B",
    )
    assert finished.status == RUN.STATUS_SUCCEEDED, finished
