"""End to end: a rolling restart under load. Replicas A and B on one PostgreSQL with Redis carry streams
(runs executing on each, followers on both), a run waiting for approval and a batch; replica C starts and B
is stopped with SIGTERM. Every live replica keeps answering health within 2 s throughout; every stream B cut
resumes on another replica from where B said, and what it got in all equals a fresh replay of the run; the
waiting run is approved on C; and afterwards every run has ended, its events numbered 1, 2, 3... with
nothing after its end, and no batch task has two successful runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from runwire.v1 import agent_pb2, agent_pb2_grpc, batch_pb2, common_pb2, run_pb2
from tests.e2e.test_replicas import (
    METADATA,
    RUN,
    TERMINAL_KINDS,
    Replica,
    assert_clean_log,
    create_run,
    eventually,
    get_run,
    kind,
    session_on,
)
from tests.redis_support import RedisServer

pytestmark = pytest.mark.e2e
# Long enough that the runs executing on A outlast B's shutdown; they are cancelled once resumption is seen.
LONG_RUN = "[[tokens:3000]]"
BATCH_TASKS = 20
ENDED = (RUN.STATUS_SUCCEEDED, RUN.STATUS_FAILED, RUN.STATUS_CANCELLED, RUN.STATUS_TIMED_OUT)


class HealthWatch:
    """Polls grpc.health.v1 Check on each live replica (2 s deadline) on a thread, recording every failure."""

    def __init__(self) -> None:
        self.live: dict[str, Replica] = {}
        self.failures: list[str] = []
        self.checks = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def watch(self, replica: Replica) -> None:
        with self._lock:
            self.live[replica.name] = replica

    def forget(self, replica: Replica) -> None:
        with self._lock:
            self.live.pop(replica.name, None)

    def _poll(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                live = list(self.live.values())
            for replica in live:
                started = time.monotonic()
                try:
                    reply = health_pb2_grpc.HealthStub(replica.channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if reply.status != health_pb2.HealthCheckResponse.SERVING:
                        self.failures.append(f"{replica.name}: {reply.status}")
                except grpc.RpcError as error:
                    with self._lock:
                        still_live = replica.name in self.live
                    if still_live:
                        self.failures.append(f"{replica.name}: {error.code()} after {time.monotonic() - started:.2f} s")
                self.checks += 1
            self._stop.wait(0.2)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def shutdown_point(error: grpc.RpcError) -> dict[str, str] | None:
    """The ErrorInfo metadata of an UNAVAILABLE SHUTTING_DOWN status (where to resume), else None."""
    if error.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.reason == "SHUTTING_DOWN":
            return dict(info.metadata)
    return None


@dataclass
class Follower:
    """One client stream of a run: started on `first`; cut by a shutdown, it goes on from the `last_seq` the
    status names, on the first replica of `fallbacks` that is up."""

    first: Replica
    fallbacks: list[Replica]
    open_call: Callable[[Replica], Any]
    run: str = ""
    events: list[run_pb2.RunEvent] = field(default_factory=list)
    resumed_on: list[str] = field(default_factory=list)
    error: BaseException | None = None
    started: threading.Event = field(default_factory=threading.Event)

    @property
    def ended(self) -> bool:
        return bool(self.events) and kind(self.events[-1]) in TERMINAL_KINDS

    def follow(self) -> None:
        try:
            self._follow()
        except BaseException as error:  # reported by the test, not lost on the thread
            self.error = error
        finally:
            self.started.set()

    def _follow(self) -> None:
        call = self.open_call(self.first)
        while True:
            try:
                for event in call:
                    self.run = self.run or event.run
                    self.events.append(event)
                    self.started.set()
                return
            except grpc.RpcError as error:
                point = shutdown_point(error)
                if point is None:
                    raise
                assert point["run"] == self.run, point
                after = int(point["last_seq"])
                assert after == (self.events[-1].seq if self.events else 0), (point, self.events[-1:])
                target = next(r for r in self.fallbacks if r.process.process.poll() is None)
                self.resumed_on.append(target.name)
                call = target.runs.StreamRunEvents(
                    run_pb2.StreamRunEventsRequest(run=self.run, after_seq=after), metadata=METADATA, timeout=120
                )


def execute_on(session: str) -> Callable[[Replica], Any]:
    return lambda replica: replica.runs.ExecuteAgent(
        run_pb2.ExecuteAgentRequest(session=session, input=[common_pb2.ContentPart(text=LONG_RUN)]), metadata=METADATA, timeout=120
    )


def follow_on(run: str) -> Callable[[Replica], Any]:
    return lambda replica: replica.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run), metadata=METADATA, timeout=120)


def replay(replica: Replica, run: str) -> list[run_pb2.RunEvent]:
    return list(replica.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run, after_seq=0), metadata=METADATA, timeout=60))


def text_of(events: list[run_pb2.RunEvent]) -> str:
    return "".join(e.text_delta.text for e in events if kind(e) == "text_delta")


def non_text(events: list[run_pb2.RunEvent]) -> list[tuple[int, bytes]]:
    return [(e.seq, e.SerializeToString(deterministic=True)) for e in events if kind(e) != "text_delta"]


def all_runs(replica: Replica) -> list[RUN]:
    runs: list[RUN] = []
    token = ""
    while True:
        page = replica.runs.ListRuns(run_pb2.ListRunsRequest(page_size=100, page_token=token), metadata=METADATA, timeout=10)
        runs.extend(page.runs)
        token = page.next_page_token
        if not token:
            return runs


def approve_on(replica: Replica, run: str, request_id: str) -> RUN | None:
    """SubmitInput on `replica`, or None while no live replica has taken the waiting run over (NOT_FOUND)."""
    try:
        return replica.runs.SubmitInput(
            run_pb2.SubmitInputRequest(
                name=run, input_request_id=request_id, approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
            ),
            metadata=METADATA,
            timeout=30,
        )
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        return None


@pytest.fixture
def redis_env(redis_server: RedisServer, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    yield {
        "RUNWIRE_REDIS_URL": redis_server.url,
        "RUNWIRE_REDIS_KEY_PREFIX": f"rolling-{id(request)}:",
        "RUNWIRE_SHUTDOWN_GRACE_SECONDS": "4",
        "RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "40",
    }


def test_a_rolling_restart_under_load_loses_nothing(replicas: Callable[..., Replica], redis_env: dict[str, str]) -> None:
    a, b = replicas("a", redis_env), replicas("b", redis_env)
    with HealthWatch() as health:
        health.watch(a)
        health.watch(b)

        # Streams: a run executing on each replica, each followed on both.
        followers: list[Follower] = []

        def start(follower: Follower) -> Follower:
            threading.Thread(target=follower.follow, daemon=True).start()
            followers.append(follower)
            return follower

        for owner, other in ((a, b), (b, a)):
            executing = start(Follower(owner, [a], execute_on(session_on(owner))))
            assert executing.started.wait(20) and executing.error is None, executing.error
            for replica in (owner, other):
                start(Follower(replica, [a], follow_on(executing.run), run=executing.run))

        # A run waiting for approval, and a batch, on B: both must pass to another replica.
        approvals = session_on(b, approval=("calculator",))
        waiting = create_run(b, approvals, '[[tool:calculator {"expression": "6*7"}]]')
        request = eventually(
            lambda: (run := get_run(b, waiting.name)).status == RUN.STATUS_REQUIRES_INPUT and run.pending_input,
            "the run waits for approval",
            timeout=20,
        )
        agent = agent_pb2_grpc.AgentServiceStub(b.channel).CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Batch worker")), metadata=METADATA, timeout=10
        )
        tasks = [batch_pb2.BatchTaskInput(agent=agent.name, text=f"[[tokens:60]] task {i}") for i in range(BATCH_TASKS)]
        batch = b.batches.CreateBatch(
            batch_pb2.CreateBatchRequest(
                batch=batch_pb2.Batch(
                    inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks), options=batch_pb2.BatchOptions(max_concurrency=4)
                )
            ),
            metadata=METADATA,
            timeout=10,
        )
        for follower in followers:
            assert follower.started.wait(20) and follower.error is None, follower.error

        # The rolling restart: C comes up, then B stops.
        c = replicas("c", redis_env)
        health.watch(c)
        for index, follower in enumerate(followers):
            # Streams cut on B resume on C or A, in turn.
            follower.fallbacks[:] = [c, a] if index % 2 else [a, c]
        health.forget(b)
        assert b.process.stop() == 0

        # Every stream B carried went on elsewhere; cancel the long runs still executing on A once they have.
        cut = [f for f in followers if f.first is b]
        eventually(lambda: all(f.resumed_on or f.ended or f.error for f in cut), "B's streams resume elsewhere or end", 30)
        assert all(f.error is None for f in followers), [f.error for f in followers if f.error]
        for run in {f.run for f in followers}:
            if get_run(c, run).status not in ENDED:
                c.runs.CancelRun(run_pb2.CancelRunRequest(name=run, reason="restart seen"), metadata=METADATA, timeout=30)

        # The waiting run passed to another replica and is approved on C.
        assert get_run(c, waiting.name).pending_input.id == request.id
        eventually(lambda: approve_on(c, waiting.name, request.id), "the waiting run accepts the approval on C")
        finished = eventually(
            lambda: (run := get_run(c, waiting.name)).status in ENDED and run, "the approved run finishes", 30
        )
        assert finished.status == RUN.STATUS_SUCCEEDED, finished

        final = eventually(
            lambda: (got := c.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name), metadata=METADATA, timeout=10)).state
            not in (batch_pb2.Batch.STATE_QUEUED, batch_pb2.Batch.STATE_RUNNING)
            and got,
            "the batch ends",
            timeout=60,
        )
        for follower in followers:
            eventually(lambda f=follower: f.ended or f.error, "the stream ends", 30)
    assert health.checks > 0 and health.failures == [], health.failures

    # What each stream got, resumed or not, is its run: the same text and the same other events as a replay.
    assert all(f.error is None for f in followers), [f.error for f in followers if f.error]
    assert any(f.resumed_on for f in followers)
    for follower in followers:
        seqs = [e.seq for e in follower.events]
        assert seqs == sorted(set(seqs)), (follower.run, seqs)
        fresh = replay(a, follower.run)
        assert text_of(follower.events) == text_of(fresh), follower.run
        assert non_text(follower.events) == non_text(fresh), follower.run

    assert final.state == batch_pb2.Batch.STATE_SUCCEEDED and final.counts.succeeded == BATCH_TASKS, final
    listed = c.batches.ListBatchTasks(batch_pb2.ListBatchTasksRequest(parent=batch.name, page_size=100), metadata=METADATA)
    assert len(listed.tasks) == BATCH_TASKS
    for task in listed.tasks:
        of_task = c.runs.ListRuns(run_pb2.ListRunsRequest(filter=f'batch_task = "{task.name}"', page_size=10), metadata=METADATA).runs
        assert [r.status for r in of_task].count(RUN.STATUS_SUCCEEDED) == 1, (task.name, [r.status for r in of_task])

    # Every run ended, and its events (read through the API) are 1, 2, 3... with nothing after the end.
    runs = all_runs(c)
    assert len(runs) >= BATCH_TASKS + 3
    for run in runs:
        assert run.status in ENDED, run
        events = replay(a, run.name)
        assert events[0].seq == 1 and _merged_in_order(events), (run.name, [(e.seq, kind(e)) for e in events])
        terminal = [i for i, e in enumerate(events) if kind(e) in TERMINAL_KINDS]
        assert terminal == [len(events) - 1], (run.name, [kind(e) for e in events])
        assert events[-1].seq == run.last_seq, run.name
    assert_clean_log(a)
    assert_clean_log(c)


def _merged_in_order(events: list[run_pb2.RunEvent]) -> bool:
    """A replay may merge consecutive text deltas into one message carrying the last one's `seq`: then the
    seqs still grow, and only a text delta may stand for more than one event."""
    previous = 0
    for event in events:
        if event.seq <= previous or (event.seq != previous + 1 and kind(event) != "text_delta"):
            return False
        previous = event.seq
    return True
