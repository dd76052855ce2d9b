"""End to end: `runwire serve` killed with SIGKILL in the middle of a batch; after a restart the batch
completes, and no task has run twice to completion."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Callable

import grpc
import pytest

from runwire.v1 import agent_pb2, agent_pb2_grpc, batch_pb2, batch_pb2_grpc, run_pb2, run_pb2_grpc
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess

pytestmark = pytest.mark.e2e
METADATA = (("x-api-key", ADMIN_KEY),)
TASKS = 40
TERMINAL = {
    batch_pb2.Batch.STATE_SUCCEEDED,
    batch_pb2.Batch.STATE_PARTIALLY_SUCCEEDED,
    batch_pb2.Batch.STATE_FAILED,
    batch_pb2.Batch.STATE_CANCELLED,
    batch_pb2.Batch.STATE_TIMED_OUT,
}
# Tokens stream slowly enough that the kill lands while tasks are running.
ENV = {"RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "40", "RUNWIRE_RATE_LIMITS_ENABLED": "0"}


def _wait_for(
    stub: batch_pb2_grpc.BatchServiceStub, name: str, condition: Callable[[batch_pb2.Batch], bool], timeout: float = 120
) -> batch_pb2.Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = stub.GetBatch(batch_pb2.GetBatchRequest(name=name), metadata=METADATA, timeout=10)
        if condition(batch):
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never met the condition; last seen:\n{batch}")
        time.sleep(0.05)


def test_a_batch_survives_kill_9_and_every_task_completes_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    try:
        with grpc.insecure_channel(first.address) as channel:
            agent = agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
                agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Batch worker")), metadata=METADATA
            )
            batches = batch_pb2_grpc.BatchServiceStub(channel)
            tasks = [batch_pb2.BatchTaskInput(agent=agent.name, text=f"[[tokens:12]] task {i}") for i in range(TASKS)]
            created = batches.CreateBatch(
                batch_pb2.CreateBatchRequest(
                    batch=batch_pb2.Batch(
                        inline_tasks=batch_pb2.BatchInlineTasks(tasks=tasks), options=batch_pb2.BatchOptions(max_concurrency=4)
                    )
                ),
                metadata=METADATA,
            )
            before = _wait_for(batches, created.name, lambda b: b.counts.succeeded >= 4 and b.counts.running > 0)
            assert before.state == batch_pb2.Batch.STATE_RUNNING
    finally:
        first.process.send_signal(signal.SIGKILL)
        assert first.stop() == -signal.SIGKILL

    second = ServeProcess(data_dir, env=ENV, log_name="second.log")
    try:
        with grpc.insecure_channel(second.address) as channel:
            batches = batch_pb2_grpc.BatchServiceStub(channel)
            final = _wait_for(batches, created.name, lambda b: b.state in TERMINAL)
            assert final.state == batch_pb2.Batch.STATE_SUCCEEDED, final
            assert final.counts.succeeded == TASKS

            listed = batches.ListBatchTasks(
                batch_pb2.ListBatchTasksRequest(parent=created.name, page_size=100), metadata=METADATA
            )
            runs = run_pb2_grpc.RunServiceStub(channel)
            interrupted = 0
            for task in listed.tasks:
                assert task.status == batch_pb2.BatchTask.STATUS_SUCCEEDED and task.output.text
                of_task = runs.ListRuns(
                    run_pb2.ListRunsRequest(filter=f'batch_task = "{task.name}"', page_size=10), metadata=METADATA
                ).runs
                statuses = [r.status for r in of_task]
                assert statuses.count(run_pb2.Run.STATUS_SUCCEEDED) == 1, (task.name, statuses)
                assert task.run == next(r.name for r in of_task if r.status == run_pb2.Run.STATUS_SUCCEEDED)
                for run in of_task:
                    if run.status != run_pb2.Run.STATUS_SUCCEEDED:
                        assert run.error.reason == "SERVER_RESTARTED"
                        interrupted += 1
            assert interrupted >= 1  # the kill did cut tasks short, and they were run again
    finally:
        assert second.stop() == 0

    # The database agrees: one completed run per task, none twice.
    with sqlite3.connect(data_dir / "runwire.db") as db:
        completed = db.execute(
            "SELECT batch_task, COUNT(*) FROM runs WHERE batch_task LIKE ? AND status = 4 GROUP BY batch_task",
            (f"{created.name}/tasks/%",),
        ).fetchall()
    assert len(completed) == TASKS and all(count == 1 for _, count in completed)
