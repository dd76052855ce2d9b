"""End to end: crew runs on several `runwire serve` processes on one PostgreSQL. A crew run whose replica
is killed with SIGKILL in the middle of a task is finished by a survivor, with no succeeded task run
twice and one stream that resumes there exactly; a crew run created on an API-only process is executed by
a worker and streamed from the API process; a cancel recorded just before the crew run's owner died ends
the crew run and every child CANCELLED. Short leases (TTL 2 s) and the builtin provider keep them brief."""

from __future__ import annotations

import collections
import signal
import threading
from typing import Any, Callable

import grpc
import pytest

from runwire.v1 import agent_pb2, agent_pb2_grpc, crew_pb2, crew_pb2_grpc, run_pb2
from tests.e2e.test_replicas import METADATA, RUN, TERMINAL_KINDS, Replica, assert_consistent, eventually, get_run, kind
from tests.e2e.test_work_spread import lease_owners

pytestmark = pytest.mark.e2e


def crew_on(replica: Replica, crew_id: str, *tasks: crew_pb2.CrewTask, process: int = 0) -> str:
    agent = agent_pb2_grpc.AgentServiceStub(replica.channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Worker")), metadata=METADATA, timeout=10
    )
    crew = crew_pb2_grpc.CrewServiceStub(replica.channel).CreateCrew(
        crew_pb2.CreateCrewRequest(
            crew_id=crew_id,
            crew=crew_pb2.Crew(
                display_name=crew_id, process=process, members=[crew_pb2.CrewMember(id="w", agent=agent.name)], tasks=list(tasks)
            ),
        ),
        metadata=METADATA,
        timeout=10,
    )
    return crew.name


def child_streams(event: run_pb2.RunEvent, task: str, tokens: int) -> bool:
    """Whether `event` is task `task`'s child streaming its `tokens`-th token or a later one."""
    child = event.child_run_event
    return (
        kind(event) == "child_run_event"
        and child.crew_task == task
        and child.event.WhichOneof("payload") == "text_delta"
        and int((child.event.text_delta.text.split() or ["t0"])[-1].lstrip("t") or 0) >= tokens
    )


def replay(replica: Replica, run: str, after_seq: int = 0) -> list[run_pb2.RunEvent]:
    return list(
        replica.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run, after_seq=after_seq), metadata=METADATA, timeout=60)
    )


def children_of(replica: Replica, run: str) -> list[RUN]:
    return list(
        replica.runs.ListRuns(
            run_pb2.ListRunsRequest(filter=f'parent_run = "{run}"', order_by="create_time"), metadata=METADATA, timeout=10
        ).runs
    )


def test_a_crew_run_of_a_killed_replica_is_finished_by_a_survivor_without_running_a_task_twice(
    replicas: Callable[..., Replica],
) -> None:
    a, b = replicas("a"), replicas("b")
    crew = crew_on(
        a,
        "relay",
        crew_pb2.CrewTask(id="first", description="[[tokens:3]]", member="w"),
        crew_pb2.CrewTask(id="second", description="[[tokens:60]]", member="w", context=["first"]),
        crew_pb2.CrewTask(id="third", description="[[tokens:3]]", member="w", context=["second"]),
    )
    received: list[run_pb2.RunEvent] = []
    stream: Any = a.runs.ExecuteAgent(run_pb2.ExecuteAgentRequest(crew=crew, input=[{"text": "Go"}]), metadata=METADATA, timeout=60)
    for event in stream:
        received.append(event)
        if child_streams(event, "second", 5):
            break
    run = received[0].run
    a.kill()
    # The client resumes on the survivor from the last event it saw, while B takes the crew run over.
    resumed = replay(b, run, after_seq=received[-1].seq)
    assert kind(resumed[-1]) == "run_completed", resumed[-1]
    whole = replay(b, run)
    assert received + resumed == whole
    assert [e.seq for e in whole] == list(range(1, len(whole) + 1))

    ended = get_run(b, run)
    assert ended.status == RUN.STATUS_SUCCEEDED, ended.error
    children = children_of(b, run)
    runs_per_task = collections.Counter(c.crew_task for c in children)
    succeeded_per_task = collections.Counter(c.crew_task for c in children if c.status == RUN.STATUS_SUCCEEDED)
    # Every task succeeded exactly once; only the task cut off by the kill has a second child run.
    assert succeeded_per_task == {"first": 1, "second": 1, "third": 1}, children
    assert runs_per_task == {"first": 1, "second": 2, "third": 1}, children
    (cut,) = [c for c in children if c.status != RUN.STATUS_SUCCEEDED]
    assert cut.crew_task == "second" and cut.error.reason == "SERVER_RESTARTED"
    assert {t.id: t.child_run for t in ended.crew_plan.tasks}["second"] != cut.name
    assert ended.output.text.split()[-1] == "t3"
    assert_consistent(replicas.url, [b])  # type: ignore[attr-defined]


def test_a_crew_run_created_on_an_api_process_is_executed_by_a_worker_and_streamed_from_the_api(
    replicas: Callable[..., Replica],
) -> None:
    api = replicas("api", {"RUNWIRE_ROLE": "api"})
    worker = replicas("worker", {"RUNWIRE_ROLE": "worker"})
    crew = crew_on(
        api,
        "spread",
        crew_pb2.CrewTask(id="north", description="[[tokens:4]]", member="w"),
        crew_pb2.CrewTask(id="south", description="[[tokens:4]]", member="w"),
        crew_pb2.CrewTask(id="join", description="Merge", member="w", context=["north", "south"]),
        process=crew_pb2.Crew.PROCESS_PARALLEL,
    )
    live = list(api.runs.ExecuteAgent(run_pb2.ExecuteAgentRequest(crew=crew, input=[{"text": "Go"}]), metadata=METADATA, timeout=60))
    assert kind(live[-1]) == "run_completed", live[-1]
    run = live[0].run
    assert [e.seq for e in live] == list(range(1, len(live) + 1))
    assert replay(api, run) == live
    plan = [e.crew_plan_updated.plan for e in live if kind(e) == "crew_plan_updated"][-1]
    assert {t.id: t.state for t in plan.tasks} == dict.fromkeys(("north", "south", "join"), crew_pb2.CrewPlanTask.STATE_SUCCEEDED)
    assert "- north: t1 t2 t3 t4" in plan.tasks[2].output
    children = children_of(api, run)
    assert sorted(c.crew_task for c in children) == ["join", "north", "south"]
    assert all(c.status == RUN.STATUS_SUCCEEDED for c in children)
    # The worker executed the crew run and every child; the API process executed nothing.
    ids = ", ".join(f"'{name.split('/')[-1]}'" for name in [run, *(c.name for c in children)])
    owners = lease_owners(replicas.url, f"id IN ({ids})")  # type: ignore[attr-defined]
    assert len(set(owners.values())) == 1 and "" not in owners.values(), owners
    assert "claimed from the queue" not in api.log and worker.healthy()


def test_a_cancel_recorded_just_before_a_crew_runs_owner_died_cancels_every_child(replicas: Callable[..., Replica]) -> None:
    a, b = replicas("a"), replicas("b")
    crew = crew_on(
        a,
        "wide",
        crew_pb2.CrewTask(id="left", description="[[tokens:400]]", member="w"),
        crew_pb2.CrewTask(id="right", description="[[tokens:400]]", member="w"),
        process=crew_pb2.Crew.PROCESS_PARALLEL,
    )
    created = a.runs.CreateRun(
        run_pb2.CreateRunRequest(run=run_pb2.Run(crew=crew, input=[{"text": "Go"}])), metadata=METADATA, timeout=10
    )
    seen: set[str] = set()

    def both_stream(event: run_pb2.RunEvent) -> bool:
        for task in ("left", "right"):
            if child_streams(event, task, 2):
                seen.add(task)
        return seen == {"left", "right"} or kind(event) in TERMINAL_KINDS

    stream: Any = a.runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=created.name), metadata=METADATA, timeout=60)
    for event in stream:
        if both_stream(event):
            break
    stream.cancel()
    assert seen == {"left", "right"}
    a.process.process.send_signal(signal.SIGSTOP)  # A applies nothing from now on, then dies
    outcome: dict[str, Any] = {}

    def cancel() -> None:
        try:
            outcome["run"] = b.runs.CancelRun(run_pb2.CancelRunRequest(name=created.name), metadata=METADATA, timeout=40)
        except grpc.RpcError as error:
            outcome["error"] = error

    canceller = threading.Thread(target=cancel)
    canceller.start()
    # Recorded by B for A to apply; A dies before it does.
    eventually(lambda: "cancel" in outcome or bool(_cancel_recorded(replicas.url, created.name)), "the cancel is recorded", 20)  # type: ignore[attr-defined]
    a.kill()
    canceller.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["run"].status == RUN.STATUS_CANCELLED, outcome["run"]
    children = eventually(
        lambda: (found := children_of(b, created.name)) and all(c.status in _ENDED for c in found) and found,
        "every child ends",
    )
    assert [(c.crew_task, c.status) for c in sorted(children, key=lambda c: c.crew_task)] == [
        ("left", RUN.STATUS_CANCELLED),
        ("right", RUN.STATUS_CANCELLED),
    ], [(c.crew_task, c.status, c.error.reason) for c in children]
    # The crew run's plan says so too, as its last plan event before its end.
    ended = get_run(b, created.name)
    assert {t.id: t.state for t in ended.crew_plan.tasks} == dict.fromkeys(("left", "right"), crew_pb2.CrewPlanTask.STATE_CANCELLED)
    events = replay(b, created.name)
    assert kind(events[-1]) == "run_cancelled" and kind(events[-2]) == "crew_plan_updated"
    assert events[-2].crew_plan_updated.plan == ended.crew_plan
    assert_consistent(replicas.url, [b])  # type: ignore[attr-defined]


_ENDED = (RUN.STATUS_SUCCEEDED, RUN.STATUS_FAILED, RUN.STATUS_CANCELLED, RUN.STATUS_TIMED_OUT)


def _cancel_recorded(url: str, run: str) -> bool:
    import asyncio

    import asyncpg

    async def read() -> int:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await connection.fetchval("SELECT count(*) FROM run_controls WHERE run_id = $1 AND key = 'cancel'", run.split("/")[-1]))
        finally:
            await connection.close()

    return asyncio.run(read()) > 0
