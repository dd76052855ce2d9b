"""End to end: several `runwire serve` processes on one PostgreSQL are one system. Each run and batch has
one owner holding a lease; a replica that starts leaves the others' work alone; the work of a replica killed
with SIGKILL reaches a survivor without any restart; and a replica whose lease was taken while it was
paused cannot write one more event of what it lost. Short leases (TTL 2 s) keep each test brief."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    batch_pb2,
    batch_pb2_grpc,
    common_pb2,
    message_pb2,
    message_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess
from tests.postgres_support import PostgresServer

pytestmark = pytest.mark.e2e
METADATA = (("x-api-key", ADMIN_KEY),)
LEASES = {
    "RUNWIRE_LEASE_TTL_SECONDS": "2",
    "RUNWIRE_LEASE_HEARTBEAT_SECONDS": "0.5",
    "RUNWIRE_LEASE_CLAIM_INTERVAL_SECONDS": "0.5",
    "RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "20",
    "RUNWIRE_RATE_LIMITS_ENABLED": "0",
}
# The longest a survivor may take to own a dead replica's work: TTL, a claim interval with jitter, and slack.
TAKEOVER_SECONDS = 30.0
TERMINAL_KINDS = {"run_completed", "run_failed", "run_cancelled", "run_timed_out"}
RUN = run_pb2.Run
T = TypeVar("T")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


class Replica:
    """A `runwire serve` process on the shared database, with stubs on a channel to it."""

    def __init__(self, tmp_path: Path, name: str, database_url: str, env: dict[str, str] | None = None) -> None:
        self.name = name
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        self.process = ServeProcess(
            tmp_path / name / "data", "--database-url", database_url, env={**LEASES, **(env or {})}, log_name=f"{name}.log"
        )
        self.channel = grpc.insecure_channel(self.process.address)
        self.runs = run_pb2_grpc.RunServiceStub(self.channel)
        self.batches = batch_pb2_grpc.BatchServiceStub(self.channel)

    @property
    def log(self) -> str:
        return self.process.log.read_text(errors="replace")

    def healthy(self) -> bool:
        reply = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def kill(self) -> None:
        self.process.process.send_signal(signal.SIGKILL)
        self.process.process.wait(timeout=10)

    def close(self) -> None:
        self.channel.close()
        if self.process.process.poll() is None:
            self.process.process.send_signal(signal.SIGCONT)
        self.process.stop()


@pytest.fixture
def replicas(tmp_path: Path, postgres: PostgresServer) -> Iterator[Callable[..., Replica]]:
    url = postgres.new_database()
    started: list[Replica] = []

    def start(name: str, env: dict[str, str] | None = None) -> Replica:
        replica = Replica(tmp_path, name, url, env)
        started.append(replica)
        return replica

    start.url = url  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for replica in started:
            replica.close()


def eventually(check: Callable[[], T | None], what: str, timeout: float = TAKEOVER_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def session_on(replica: Replica, approval: tuple[str, ...] = ()) -> str:
    tools = [agent_pb2.AgentTool(name=name, requires_approval=True) for name in approval]
    agent = agent_pb2_grpc.AgentServiceStub(replica.channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Worker", tools=tools)), metadata=METADATA, timeout=10
    )
    session = session_pb2_grpc.SessionServiceStub(replica.channel).CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name)), metadata=METADATA, timeout=10
    )
    return session.name


def create_run(replica: Replica, session: str, text: str) -> RUN:
    return replica.runs.CreateRun(
        run_pb2.CreateRunRequest(run=run_pb2.Run(session=session, input=[common_pb2.ContentPart(text=text)])),
        metadata=METADATA,
        timeout=10,
    )


def get_run(replica: Replica, name: str) -> RUN:
    return replica.runs.GetRun(run_pb2.GetRunRequest(name=name), metadata=METADATA, timeout=10)


def kind(event: run_pb2.RunEvent) -> str:
    return event.WhichOneof("payload") or ""


def events_until(replica: Replica, name: str, stop: Callable[[list[run_pb2.RunEvent]], bool]) -> list[run_pb2.RunEvent]:
    seen: list[run_pb2.RunEvent] = []
    stream = replica.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=name), metadata=METADATA, timeout=60)
    for event in stream:
        seen.append(event)
        if stop(seen):
            stream.cancel()
            break
    return seen


def stored_events(url: str) -> dict[str, list[run_pb2.RunEvent]]:
    """Every run's events as the database holds them, in seq order."""
    import asyncpg

    async def read() -> list[Any]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return list(await connection.fetch("SELECT run_id, seq, payload FROM run_events ORDER BY run_id, seq"))
        finally:
            await connection.close()

    by_run: dict[str, list[run_pb2.RunEvent]] = {}
    for row in asyncio.run(read()):
        event = run_pb2.RunEvent.FromString(row["payload"])
        assert event.seq == row["seq"]
        by_run.setdefault(row["run_id"], []).append(event)
    return by_run


def assert_consistent(url: str, survivors: list[Replica], resumed: tuple[str, ...] = ()) -> None:
    """Every run ended (or waits on, resumed); each run's events are numbered 1, 2, 3... with nothing after
    its terminal event and its row's last seq the last of them; every live replica answers health in 2 s."""
    reader = survivors[0]
    for run_id, events in stored_events(url).items():
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), (run_id, seqs)
        terminal = [i for i, e in enumerate(events) if kind(e) in TERMINAL_KINDS]
        run = get_run(reader, f"runs/{run_id}")
        assert run.last_seq == seqs[-1], (run_id, run.last_seq, seqs[-1])
        if f"runs/{run_id}" in resumed and not terminal:
            assert run.status == RUN.STATUS_REQUIRES_INPUT
            continue
        assert terminal == [len(events) - 1], (run_id, [kind(e) for e in events])
        assert run.status not in (RUN.STATUS_QUEUED, RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT), run
    for replica in survivors:
        assert replica.healthy(), replica.name


def assert_clean_log(replica: Replica) -> None:
    log = replica.log
    for sign in ("UniqueViolation", "duplicate key", "Traceback"):
        assert sign not in log, f"{replica.name}'s log has {sign!r}:\n{log[-4000:]}"


def test_a_replica_that_starts_leaves_the_runs_of_another_alone(replicas: Callable[[str], Replica]) -> None:
    a = replicas("a")
    session = session_on(a)
    stream = a.runs.ExecuteAgent(
        run_pb2.ExecuteAgentRequest(session=session, input=[common_pb2.ContentPart(text="[[tokens:60]]")]),
        metadata=METADATA,
        timeout=60,
    )
    seen = [next(stream) for _ in range(5)]
    b = replicas("b")  # starts (and makes its first claim pass) while A streams
    seen += list(stream)

    assert kind(seen[-1]) == "run_completed", [kind(e) for e in seen]
    seqs = [e.seq for e in seen]  # a follower that falls behind gets text deltas merged (run.proto)
    assert seqs[0] == 1 and seqs == sorted(set(seqs)), seqs
    on_b = get_run(b, seen[0].run)
    assert on_b.status == RUN.STATUS_SUCCEEDED and on_b.last_seq == seen[-1].seq
    assert_consistent(replicas.url, [a, b])  # type: ignore[attr-defined]
    assert_clean_log(a)
    assert_clean_log(b)


def test_the_work_of_a_killed_replica_reaches_a_survivor_without_a_restart(replicas: Callable[[str], Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    # On A: a run streaming a long answer, a run waiting for approval, and a batch of slow tasks.
    session = session_on(a)
    running = create_run(a, session, "[[tokens:400]]")
    streamed = events_until(a, running.name, lambda seen: sum(kind(e) == "text_delta" for e in seen) >= 5)
    approvals = session_on(a, approval=("calculator",))
    waiting = create_run(a, approvals, '[[tool:calculator {"expression": "6*7"}]]')
    request = eventually(
        lambda: (run := get_run(a, waiting.name)).status == RUN.STATUS_REQUIRES_INPUT and run.pending_input,
        "the run waits for approval",
        timeout=10,
    )
    agent = agent_pb2_grpc.AgentServiceStub(a.channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Batch worker")), metadata=METADATA, timeout=10
    )
    tasks = [batch_pb2.BatchTaskInput(agent=agent.name, text=f"[[tokens:20]] task {i}") for i in range(6)]
    batch = a.batches.CreateBatch(
        batch_pb2.CreateBatchRequest(
            batch=batch_pb2.Batch(
                inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks), options=batch_pb2.BatchOptions(max_concurrency=2)
            )
        ),
        metadata=METADATA,
        timeout=10,
    )
    eventually(
        lambda: (got := a.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name), metadata=METADATA, timeout=10)).counts.running > 0
        and got.counts.succeeded >= 1,
        "the batch is under way",
    )

    a.kill()

    # The running run ends FAILED SERVER_RESTARTED on B, keeping what it had streamed and committed.
    ended = eventually(
        lambda: (run := get_run(b, running.name)).status == RUN.STATUS_FAILED and run,
        "the running run ends on the survivor",
    )
    assert ended.error.reason == "SERVER_RESTARTED"
    stored = stored_events(replicas.url)[running.name.split("/")[-1]]  # type: ignore[attr-defined]
    committed = "".join(e.text_delta.text for e in stored if kind(e) == "text_delta")
    assert committed.startswith("".join(e.text_delta.text for e in streamed if kind(e) == "text_delta"))
    messages = message_pb2_grpc.MessageServiceStub(b.channel).ListMessages(
        message_pb2.ListMessagesRequest(parent=session, page_size=100), metadata=METADATA, timeout=10
    ).messages
    (interrupted,) = [m for m in messages if m.role == message_pb2.Message.ROLE_ASSISTANT]
    assert interrupted.labels.get("interrupted") == "true" and interrupted.content[0].text == committed

    # The waiting run waits on under B with the same input request; approving it on B completes it.
    def approved() -> RUN | None:
        try:
            return b.runs.SubmitInput(
                run_pb2.SubmitInputRequest(
                    name=waiting.name,
                    input_request_id=request.id,
                    approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE),
                ),
                metadata=METADATA,
                timeout=10,
            )
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, error  # not taken over yet
            return None

    assert get_run(b, waiting.name).pending_input.id == request.id
    eventually(approved, "the waiting run is taken over and accepts the approval")
    finished = eventually(
        lambda: (run := get_run(b, waiting.name)).status not in (RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT) and run,
        "the approved run finishes",
    )
    assert finished.status == RUN.STATUS_SUCCEEDED, finished

    # The batch completes on B, and no task has two successful runs.
    final = eventually(
        lambda: (got := b.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name), metadata=METADATA, timeout=10)).state
        not in (batch_pb2.Batch.STATE_QUEUED, batch_pb2.Batch.STATE_RUNNING)
        and got,
        "the batch ends on the survivor",
        timeout=60,
    )
    assert final.state == batch_pb2.Batch.STATE_SUCCEEDED and final.counts.succeeded == len(tasks), final
    listed = b.batches.ListBatchTasks(batch_pb2.ListBatchTasksRequest(parent=batch.name, page_size=100), metadata=METADATA)
    for task in listed.tasks:
        of_task = b.runs.ListRuns(
            run_pb2.ListRunsRequest(filter=f'batch_task = "{task.name}"', page_size=10), metadata=METADATA
        ).runs
        assert [r.status for r in of_task].count(RUN.STATUS_SUCCEEDED) == 1, task.name
    assert_consistent(replicas.url, [b])  # type: ignore[attr-defined]
    assert_clean_log(b)


def test_a_replica_paused_past_its_lease_writes_nothing_more_of_the_run_it_lost(replicas: Callable[[str], Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    session = session_on(a)
    run = create_run(a, session, "[[tokens:400]]")
    events_until(a, run.name, lambda seen: sum(kind(e) == "text_delta" for e in seen) >= 3)

    a.process.process.send_signal(signal.SIGSTOP)
    ended = eventually(
        lambda: (got := get_run(b, run.name)).status == RUN.STATUS_FAILED and got, "the survivor takes the run over"
    )
    assert ended.error.reason == "SERVER_RESTARTED"
    a.process.process.send_signal(signal.SIGCONT)

    # A finds out at its next write or heartbeat, and stops the run there.
    eventually(lambda: "lease lost" in a.log, "the paused replica notices the lost lease", timeout=10)
    url = replicas.url  # type: ignore[attr-defined]
    events = stored_events(url)[run.name.split("/")[-1]]
    assert kind(events[-1]) == "run_failed" and events[-1].run_failed.error.reason == "SERVER_RESTARTED"
    assert get_run(a, run.name).last_seq == events[-1].seq
    assert_consistent(url, [a, b])
    assert_clean_log(b)
    assert "duplicate key" not in a.log and "UniqueViolation" not in a.log


def approve_on(replica: Replica, run: str, request_id: str) -> RUN | None:
    """SubmitInput on `replica`, or None while the replica does not own the waiting run (NOT_FOUND)."""
    try:
        return replica.runs.SubmitInput(
            run_pb2.SubmitInputRequest(
                name=run, input_request_id=request_id, approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
            ),
            metadata=METADATA,
            timeout=10,
        )
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        return None


def test_a_graceful_shutdown_hands_its_waiting_runs_over_at_once(replicas: Callable[..., Replica]) -> None:
    # Leases far longer than the test may wait: only a released lease is taken over in time.
    long_leases = {"RUNWIRE_LEASE_TTL_SECONDS": "120", "RUNWIRE_LEASE_HEARTBEAT_SECONDS": "5"}
    a, b = replicas("a", long_leases), replicas("b", long_leases)
    approvals = session_on(a, approval=("calculator",))
    waiting = create_run(a, approvals, '[[tool:calculator {"expression": "6*7"}]]')
    request = eventually(
        lambda: (run := get_run(a, waiting.name)).status == RUN.STATUS_REQUIRES_INPUT and run.pending_input,
        "the run waits for approval",
        timeout=10,
    )
    assert a.process.stop() == 0

    eventually(lambda: approve_on(b, waiting.name, request.id), "the survivor takes the waiting run over", timeout=20)
    finished = eventually(
        lambda: (run := get_run(b, waiting.name)).status not in (RUN.STATUS_RUNNING, RUN.STATUS_REQUIRES_INPUT) and run,
        "the approved run finishes",
    )
    assert finished.status == RUN.STATUS_SUCCEEDED, finished
    assert_consistent(replicas.url, [b])  # type: ignore[attr-defined]


def test_a_second_server_on_the_same_sqlite_data_dir_stops_at_once_and_touches_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=LEASES, log_name="first.log")
    try:
        second = subprocess.run(
            [sys.executable, "-m", "runwire.cli.main", "serve", "--port", "0", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another runwire process" in lines[0], second.stderr
        with grpc.insecure_channel(first.address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.stop()
    # The kernel let go of the lock with the killed process: the next server starts.
    again = ServeProcess(data_dir, env=LEASES, log_name="again.log")
    again.stop()
    with sqlite3.connect(data_dir / "runwire.db") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
