"""End to end: work spread over `runwire serve` processes on one PostgreSQL, and limits they share. A batch
created on one replica runs its tasks on every replica with room; one session runs one run at a time and a
caller has at most its active runs, counted over all replicas; an API-only replica queues runs that a
worker-only replica executes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from runwire.v1 import agent_pb2, agent_pb2_grpc, batch_pb2, common_pb2, run_pb2
from tests.e2e.test_replicas import (
    METADATA,
    RUN,
    Replica,
    create_run,
    eventually,
    get_run,
    session_on,
)

pytestmark = pytest.mark.e2e
ENDED = (RUN.STATUS_SUCCEEDED, RUN.STATUS_FAILED, RUN.STATUS_CANCELLED, RUN.STATUS_TIMED_OUT)


def lease_owners(url: str, where: str) -> dict[str, str]:
    """run id -> the process that executed it (the run's last lease owner), for the runs `where` selects."""
    import asyncpg

    async def read() -> list[Any]:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return list(await connection.fetch(f"SELECT id, lease_owner FROM runs WHERE {where}"))
        finally:
            await connection.close()

    return {row["id"]: row["lease_owner"] for row in asyncio.run(read())}


def ended(replica: Replica, name: str) -> RUN:
    return eventually(lambda: (run := get_run(replica, name)).status in ENDED and run, f"{name} ends", timeout=60)


def test_a_batch_created_on_one_replica_runs_its_tasks_on_every_replica(replicas: Callable[..., Replica]) -> None:
    # Two runs at a time per process: six slow tasks at once cannot all run on the replica that has the batch.
    room = {"RUNWIRE_MAX_CONCURRENT_RUNS": "2"}
    a, b = replicas("a", room), replicas("b", room)
    agent = agent_pb2_grpc.AgentServiceStub(a.channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Batch worker")), metadata=METADATA, timeout=10
    )
    tasks = [batch_pb2.BatchTaskInput(agent=agent.name, text=f"[[tokens:30]] task {i}") for i in range(6)]
    batch = a.batches.CreateBatch(
        batch_pb2.CreateBatchRequest(
            batch=batch_pb2.Batch(
                inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks), options=batch_pb2.BatchOptions(max_concurrency=6)
            )
        ),
        metadata=METADATA,
        timeout=10,
    )
    final = eventually(
        lambda: (got := b.batches.GetBatch(batch_pb2.GetBatchRequest(name=batch.name), metadata=METADATA, timeout=10)).state
        not in (batch_pb2.Batch.STATE_QUEUED, batch_pb2.Batch.STATE_RUNNING)
        and got,
        "the batch ends",
        timeout=60,
    )
    assert final.state == batch_pb2.Batch.STATE_SUCCEEDED and final.counts.succeeded == len(tasks), final

    executors = lease_owners(replicas.url, "batch_task != ''")  # type: ignore[attr-defined]
    assert len(executors) == len(tasks)
    assert len(set(executors.values())) == 2, executors
    assert "claimed from the queue" in a.log and "claimed from the queue" in b.log
    listed = a.batches.ListBatchTasks(batch_pb2.ListBatchTasksRequest(parent=batch.name, page_size=100), metadata=METADATA)
    for task in listed.tasks:
        of_task = a.runs.ListRuns(
            run_pb2.ListRunsRequest(filter=f'batch_task = "{task.name}"', page_size=100), metadata=METADATA
        ).runs
        assert [r.status for r in of_task].count(RUN.STATUS_SUCCEEDED) == 1, (task.name, of_task)


def test_one_session_runs_one_run_at_a_time_across_replicas(replicas: Callable[..., Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    session = session_on(a)
    first = create_run(a, session, "[[tokens:30]] first")
    second = create_run(b, session, "[[tokens:30]] second")
    one, two = ended(a, first.name), ended(b, second.name)
    assert one.status == two.status == RUN.STATUS_SUCCEEDED
    spans = sorted((r.start_time.ToNanoseconds(), r.end_time.ToNanoseconds()) for r in (one, two))
    assert spans[0][1] <= spans[1][0], spans  # never running together
    owners = lease_owners(replicas.url, f"session_id = '{session.split('/')[-1]}'")  # type: ignore[attr-defined]
    assert len(set(owners.values())) == 2  # each replica ran the run it was sent


def test_a_callers_active_runs_are_counted_over_every_replica(replicas: Callable[..., Replica]) -> None:
    limit = {"RUNWIRE_MAX_ACTIVE_RUNS_PER_CALLER": "2"}
    a, b = replicas("a", limit), replicas("b", limit)
    first = create_run(a, session_on(a), "[[tokens:200]] one")
    second = create_run(a, session_on(a), "[[tokens:200]] two")
    third_session = session_on(b)
    with pytest.raises(grpc.RpcError) as refused:
        create_run(b, third_session, "three")
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refused.value)
    assert status is not None
    reasons = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reasons.append(info.reason)
    assert reasons == ["RUN_LIMIT_EXCEEDED"], reasons
    for run in (first, second):
        a.runs.CancelRun(run_pb2.CancelRunRequest(name=run.name), metadata=METADATA, timeout=10)
        ended(a, run.name)
    assert ended(b, create_run(b, third_session, "three").name).status == RUN.STATUS_SUCCEEDED


def test_an_api_only_replica_queues_runs_that_a_worker_only_replica_executes(replicas: Callable[..., Replica]) -> None:
    api = replicas("api", {"RUNWIRE_ROLE": "api"})
    worker = replicas("worker", {"RUNWIRE_ROLE": "worker"})
    # The worker serves health and nothing of the API.
    health = health_pb2_grpc.HealthStub(worker.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as no_api:
        get_run(worker, "runs/none")
    assert no_api.value.code() == grpc.StatusCode.UNIMPLEMENTED

    session = session_on(api)
    run = create_run(api, session, "hello")
    done = ended(api, run.name)
    assert done.status == RUN.STATUS_SUCCEEDED, done
    events = list(api.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run.name), metadata=METADATA, timeout=30))
    assert events[-1].WhichOneof("payload") == "run_completed"
    owners = lease_owners(replicas.url, f"id = '{run.name.split('/')[-1]}'")  # type: ignore[attr-defined]
    assert "claimed from the queue" in worker.log and "claimed from the queue" not in api.log
    assert list(owners.values())[0] != ""


def test_an_api_only_process_on_sqlite_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runwire.cli.main", "serve", "--data-dir", str(tmp_path / "data"), "--role", "api"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "API-only" in result.stderr and "PostgreSQL" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_two_workers_answers_from_both_and_shares_runs(tmp_path: Path, postgres: Any) -> None:
    from runwire.v1 import admin_pb2, admin_pb2_grpc, run_pb2_grpc
    from tests.e2e.test_replicas import LEASES
    from tests.e2e.test_serve_grpcurl import ServeProcess

    (tmp_path / "group").mkdir()
    group = ServeProcess(
        tmp_path / "group" / "data", "--database-url", postgres.new_database(), "--workers", "2", env=LEASES, log_name="group.log"
    )
    channels: dict[str, grpc.Channel] = {}
    try:
        # Each new channel is a new connection, which the kernel gives to one worker or the other.
        def both_answer() -> bool:
            channel = grpc.insecure_channel(group.address, options=[("grpc.use_local_subchannel_pool", 1)])
            info = admin_pb2_grpc.AdminServiceStub(channel).GetServerInfo(admin_pb2.GetServerInfoRequest(), metadata=METADATA, timeout=10)
            if info.process_id in channels:
                channel.close()
            else:
                channels[info.process_id] = channel
            return len(channels) == 2

        eventually(both_answer, "both workers answer", timeout=30)
        assert group.log.read_text().count("RUNWIRE BOOTSTRAP ADMIN KEY") <= 1
        first, second = (run_pb2_grpc.RunServiceStub(c) for c in channels.values())
        one = Replica.__new__(Replica)
        one.channel = list(channels.values())[0]
        session = session_on(one)
        run = first.CreateRun(
            run_pb2.CreateRunRequest(run=run_pb2.Run(session=session, input=[common_pb2.ContentPart(text="[[tokens:20]] hi")])), metadata=METADATA, timeout=10
        )
        # Followed through the other worker, to its end.
        events = list(second.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run.name), metadata=METADATA, timeout=60))
        assert events[0].seq == 1 and events[-1].WhichOneof("payload") == "run_completed"
    finally:
        for channel in channels.values():
            channel.close()
        assert group.stop() == 0
    assert "worker 1 started" in group.log.read_text()
