"""End to end: a crew run whose `runwire serve` is killed in the middle of a task goes on in the next
process: the task that had succeeded keeps its result and does not run again, the task that was cut off
runs again as a new child run, and the crew run's log stays one gap-free replayable stream."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from runwire.v1 import agent_pb2, agent_pb2_grpc, crew_pb2, crew_pb2_grpc, run_pb2, run_pb2_grpc
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess

pytestmark = pytest.mark.e2e
METADATA = (("x-api-key", ADMIN_KEY),)
# The second task streams for seconds, so the kill lands in its middle.
ENV = {"RUNWIRE_BUILTIN_TOKENS_PER_SECOND": "20", "RUNWIRE_RATE_LIMITS_ENABLED": "0"}


def _crew(channel: grpc.Channel) -> str:
    agent = agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
        agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Worker"), agent_id="worker"), metadata=METADATA, timeout=10
    )
    crew = crew_pb2_grpc.CrewServiceStub(channel).CreateCrew(
        crew_pb2.CreateCrewRequest(
            crew_id="relay",
            crew=crew_pb2.Crew(
                display_name="Relay",
                members=[crew_pb2.CrewMember(id="w", agent=agent.name)],
                tasks=[
                    crew_pb2.CrewTask(id="first", description="[[tokens:3]]", member="w"),
                    crew_pb2.CrewTask(id="second", description="[[tokens:200]]", member="w", context=["first"]),
                ],
            ),
        ),
        metadata=METADATA,
        timeout=10,
    )
    return crew.name


def _second_task_streams(event: run_pb2.RunEvent) -> bool:
    child = event.child_run_event
    return (
        event.WhichOneof("payload") == "child_run_event"
        and child.crew_task == "second"
        and child.event.WhichOneof("payload") == "text_delta"
        and int(child.event.text_delta.text.strip().lstrip("t") or 0) >= 5
    )


def _wait_end(channel: grpc.Channel, run: str) -> run_pb2.Run:
    runs = run_pb2_grpc.RunServiceStub(channel)
    deadline = time.monotonic() + 60
    while True:
        found = runs.GetRun(run_pb2.GetRunRequest(name=run), metadata=METADATA, timeout=10)
        if found.status >= run_pb2.Run.STATUS_SUCCEEDED:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{run} did not end: {found}")
        time.sleep(0.1)


def test_a_crew_run_cut_off_by_kill_9_goes_on_without_running_a_succeeded_task_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    received: list[run_pb2.RunEvent] = []
    try:
        with grpc.insecure_channel(first.address) as channel:
            crew = _crew(channel)
            stream: Any = run_pb2_grpc.RunServiceStub(channel).ExecuteAgent(
                run_pb2.ExecuteAgentRequest(crew=crew, input=[{"text": "Go"}]), metadata=METADATA, timeout=60
            )
            for event in stream:
                received.append(event)
                if _second_task_streams(event):
                    break
            run = received[0].run
            plan_before = [e.crew_plan_updated.plan for e in received if e.WhichOneof("payload") == "crew_plan_updated"][-1]
    finally:
        first.process.send_signal(signal.SIGKILL)
        assert first.stop() == -signal.SIGKILL

    second = ServeProcess(data_dir, env=ENV, log_name="second.log")
    try:
        with grpc.insecure_channel(second.address) as channel:
            ended = _wait_end(channel, run)
            assert ended.status == run_pb2.Run.STATUS_SUCCEEDED, ended.error
            before = {t.id: t for t in plan_before.tasks}
            after = {t.id: t for t in ended.crew_plan.tasks}
            assert after["first"].child_run == before["first"].child_run and after["first"].output == "t1 t2 t3"
            assert after["second"].child_run != before["second"].child_run
            assert after["second"].output.split()[-1] == "t200"
            runs = run_pb2_grpc.RunServiceStub(channel)
            children = runs.ListRuns(
                run_pb2.ListRunsRequest(filter=f'parent_run = "{run}"', order_by="create_time"), metadata=METADATA, timeout=10
            ).runs
            assert [(c.crew_task, c.status) for c in children] == [
                ("first", run_pb2.Run.STATUS_SUCCEEDED),
                ("second", run_pb2.Run.STATUS_FAILED),
                ("second", run_pb2.Run.STATUS_SUCCEEDED),
            ]
            assert children[1].error.reason == "SERVER_RESTARTED"
            replay = list(
                runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run), metadata=METADATA, timeout=30)
            )
            assert [e.seq for e in replay] == list(range(1, len(replay) + 1))
            # What the client saw before the kill is the start of the log, unchanged.
            assert replay[: len(received)] == received
            assert replay[-1].WhichOneof("payload") == "run_completed"
    finally:
        assert second.stop() == 0


def _crew_waiting_for_approval(channel: grpc.Channel) -> tuple[str, run_pb2.InputRequest]:
    """A crew run whose one member waits for an approval of its calculator call: the run, and the request."""
    agent = agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
        agent_pb2.CreateAgentRequest(
            agent=agent_pb2.Agent(
                display_name="Careful", tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)]
            )
        ),
        metadata=METADATA,
        timeout=10,
    )
    crew = crew_pb2_grpc.CrewServiceStub(channel).CreateCrew(
        crew_pb2.CreateCrewRequest(
            crew=crew_pb2.Crew(
                display_name="Checked",
                members=[crew_pb2.CrewMember(id="c", agent=agent.name)],
                tasks=[crew_pb2.CrewTask(id="sum", description='[[tool:calculator {"expression": "6*7"}]]')],
            )
        ),
        metadata=METADATA,
        timeout=10,
    )
    runs = run_pb2_grpc.RunServiceStub(channel)
    run = runs.CreateRun(
        run_pb2.CreateRunRequest(run=run_pb2.Run(crew=crew.name, input=[{"text": "Go"}])), metadata=METADATA, timeout=10
    ).name
    stream = runs.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run), metadata=METADATA, timeout=30)
    request = next(e for e in stream if e.WhichOneof("payload") == "input_required").input_required.input_request
    stream.cancel()
    return run, request


def _answered_after_restart(data_dir: Path, run: str, request: run_pb2.InputRequest) -> None:
    """A new process on `data_dir`: the crew run still waits on `request`, is approved on the crew run,
    and succeeds with the same child resumed."""
    second = ServeProcess(data_dir, env=ENV, log_name="second.log")
    try:
        with grpc.insecure_channel(second.address) as channel:
            runs = run_pb2_grpc.RunServiceStub(channel)
            waiting = runs.GetRun(run_pb2.GetRunRequest(name=run), metadata=METADATA, timeout=10)
            assert waiting.status == run_pb2.Run.STATUS_REQUIRES_INPUT and waiting.pending_input.id == request.id
            deadline = time.monotonic() + 30
            while True:  # answered once the new process holds the runs again
                try:
                    runs.SubmitInput(
                        run_pb2.SubmitInputRequest(
                            name=run, input_request_id=request.id, approval=run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
                        ),
                        metadata=METADATA,
                        timeout=40,
                    )
                    break
                except grpc.RpcError as error:
                    if time.monotonic() > deadline or error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise
            ended = _wait_end(channel, run)
            assert ended.status == run_pb2.Run.STATUS_SUCCEEDED, ended.error
            assert "42" in ended.output.text
            (task,) = ended.crew_plan.tasks
            assert task.child_run == request.run  # the same child, resumed, not a new one
    finally:
        assert second.stop() == 0


def test_a_crew_run_waiting_for_an_approval_waits_on_after_a_restart_and_is_answered_on_the_crew_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    try:
        with grpc.insecure_channel(first.address) as channel:
            run, request = _crew_waiting_for_approval(channel)
    finally:
        first.process.send_signal(signal.SIGKILL)
        assert first.stop() == -signal.SIGKILL

    _answered_after_restart(data_dir, run, request)


def test_a_crew_run_waiting_for_an_approval_at_a_graceful_shutdown_waits_on_after_the_restart(tmp_path: Path) -> None:
    """SIGTERM while a member waits for a person: the crew run and its child stay waiting (nothing is
    stopped, nothing written after the event log closes), and the next process answers them."""
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env=ENV, log_name="first.log")
    try:
        with grpc.insecure_channel(first.address) as channel:
            run, request = _crew_waiting_for_approval(channel)
    finally:
        assert first.stop() == 0
    log = first.log.read_text()
    assert "Traceback" not in log and '"level": "ERROR"' not in log, log[-3000:]

    _answered_after_restart(data_dir, run, request)
