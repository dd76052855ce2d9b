"""Agents that use other agents, through a real channel: an agent called as a tool (a child run whose answer
is the result), a handover (the other agent goes on in the same session), approvals from three levels
down answered through Connect, the depth limit, and a cancel that reaches grandchildren."""

from __future__ import annotations

import pytest

from runwire.v1 import agent_pb2, crew_pb2, event_pb2, run_pb2
from tests.conftest import Client
from tests.grpc.crew_support import (
    agents,
    child_events,
    collect,
    create_crew,
    execute,
    member,
    runs,
    task,
    until_ended,
    wait_for,
)
from tests.grpc.run_support import APPROVE, CANCELLED, SUCCEEDED, kind, run_settings
from tests.grpc.test_connect import Connection

HANDOVER = agent_pb2.AgentTool.DELEGATION_HANDOVER


@pytest.fixture
def settings(request, tmp_path):  # type: ignore[no-untyped-def]
    return run_settings(tmp_path, **getattr(request, "param", {}))


def uses(agent: str, delegation: int = 0) -> agent_pb2.AgentTool:
    return agent_pb2.AgentTool(agent=agent, delegation=delegation)


async def test_an_agent_called_as_a_tool_runs_as_a_child_whose_answer_is_the_result(client: Client) -> None:
    (helper,) = await agents(client, "helper")
    (lead,) = await agents(client, "lead", tools=[uses(helper)])
    stored = await client.agents.GetAgent(agent_pb2.GetAgentRequest(name=lead))
    assert stored.tools[0].agent == helper and stored.tools[0].delegation == agent_pb2.AgentTool.DELEGATION_TOOL
    session = await client.session(lead)
    events = await collect(
        runs(client).ExecuteAgent(
            run_pb2.ExecuteAgentRequest(session=session.name, input=[{"text": '[[tool:agent.helper {"input": "[[tokens:2]]"}]]'}])
        )
    )
    assert kind(events[-1]) == "run_completed"
    completed = next(e.tool_call_completed for e in events if kind(e) == "tool_call_completed")
    assert completed.tool == "agent.helper" and not completed.result.is_error
    assert completed.result.output["output"] == "t1 t2"
    child_name = completed.result.output["run"]
    copied = child_events(events)
    assert {c.run for c in copied} == {child_name} and all(c.depth == 1 for c in copied)
    assert [c.event.WhichOneof("payload") for c in copied][0] == "run_created"
    child = await runs(client).GetRun(run_pb2.GetRunRequest(name=child_name))
    assert child.parent_run == events[0].run and child.root_run == events[0].run and child.depth == 1
    assert child.agent == helper and child.session != session.name and child.status == SUCCEEDED


async def test_a_handover_lets_the_other_agent_answer_in_the_same_session(client: Client) -> None:
    (billing,) = await agents(client, "billing")
    (front,) = await agents(client, "front", tools=[uses(billing, HANDOVER)])
    session = await client.session(front)
    events = await collect(
        runs(client).ExecuteAgent(
            run_pb2.ExecuteAgentRequest(session=session.name, input=[{"text": '[[tool:handover.billing {"input": "Refund please"}]]'}])
        )
    )
    handed = next(e.run_handed_over for e in events if kind(e) == "run_handed_over")
    assert handed.agent == billing
    assert kind(events[-1]) == "run_completed"
    assert events[-1].run_completed.output.text == "You said: Refund please"
    child = await runs(client).GetRun(run_pb2.GetRunRequest(name=handed.child_run))
    assert child.session == session.name and child.agent == billing and child.parent_run == events[0].run


async def test_an_approval_three_levels_down_is_answered_through_connect(client: Client) -> None:
    (careful,) = await agents(
        client, "careful", instructions='[[tool:calculator {"expression": "6*7"}]]',
        tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)],
    )
    (middle,) = await agents(client, "middle", instructions='[[tool:agent.careful {"input": "compute"}]]', tools=[uses(careful)])
    (lead,) = await agents(client, "lead", tools=[uses(middle)])
    await create_crew(client, "deep", members=[member("l", lead)], tasks=[task("t", '[[tool:agent.middle {"input": "go"}]]', "l")])
    connection = Connection(client.channel)
    await connection.send(hello=event_pb2.ConnectHello(client_name="approver", accept_input_requests=True))
    await connection.next("connected")
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/deep", input=[{"text": "Go"}])))
    offered = (await connection.next("request")).request
    asking = await runs(client).GetRun(run_pb2.GetRunRequest(name=offered.input_request.run))
    assert asking.agent == careful and asking.depth == 3 and asking.root_run == created.name
    # Every run above it waits with the same request (the crew run once it has copied it).
    await wait_for(client, created.name, lambda e: kind(e) == "input_required")
    crew_run = await runs(client).GetRun(run_pb2.GetRunRequest(name=created.name))
    assert crew_run.status == run_pb2.Run.STATUS_REQUIRES_INPUT and crew_run.pending_input.id == offered.id
    await connection.send(
        "answer", response=event_pb2.ServerRequestAnswer(server_request_id=offered.id, approval=run_pb2.Approval(decision=APPROVE))
    )
    assert (await connection.next("request_resolved")).correlation_id == "answer"
    ended = await until_ended(client, created.name)
    assert ended.status == SUCCEEDED and "42" in ended.output.text
    events = await collect(runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=created.name)))
    depths = {c.depth for c in child_events(events)}
    assert depths == {1, 2, 3}
    asked = [c for c in child_events(events, "input_required")]
    assert [c.depth for c in asked] == [1, 2, 3] or sorted(c.depth for c in asked) == [1, 2, 3]
    assert all(c.crew_task == "t" for c in child_events(events))
    connection.call.cancel()


async def test_the_depth_limit_refuses_a_call_that_would_go_deeper(client: Client) -> None:
    (helper,) = await agents(client, "helper")
    (lead,) = await agents(client, "lead", tools=[uses(helper)])
    await create_crew(
        client, "shallow", members=[member("l", lead)], tasks=[task("t", '[[tool:agent.helper {"input": "hi"}]]', "l")],
        limits=crew_pb2.CrewLimits(max_depth=1),
    )
    events = await execute(client, "crews/shallow", "Go")
    assert kind(events[-1]) == "run_completed"
    refused = [c.event.tool_call_completed for c in child_events(events, "tool_call_completed")]
    assert refused[0].result.is_error and "CREW_DEPTH_EXCEEDED" in refused[0].result.output["error"]


@pytest.mark.parametrize("settings", [{"max_concurrent_runs": 3}], indirect=True)
async def test_a_child_run_claimed_from_the_queue_keeps_its_crews_depth_limit(client: Client) -> None:
    (helper,) = await agents(client, "helper")
    (lead,) = await agents(client, "lead", tools=[uses(helper)])
    (sleeper,) = await agents(client, "sleeper", instructions="[[sleep:30]]")
    await create_crew(
        client, "shallow", members=[member("l", lead)], tasks=[task("t", '[[tool:agent.helper {"input": "hi"}]]', "l")],
        limits=crew_pb2.CrewLimits(max_depth=1),
    )
    # Runs that hold every slot here: the crew's child run waits in the queue, and is claimed from it later.
    blockers = [
        await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(session=(await client.session(sleeper)).name, input=[{"text": "zz"}])))
        for _ in range(3)
    ]
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/shallow", input=[{"text": "Go"}])))
    await wait_for(
        client, created.name,
        lambda e: kind(e) == "crew_plan_updated" and any(t.child_run for t in e.crew_plan_updated.plan.tasks),
    )
    (child,) = (await runs(client).ListRuns(run_pb2.ListRunsRequest(filter=f'parent_run = "{created.name}"'))).runs
    assert child.status == run_pb2.Run.STATUS_QUEUED
    for blocker in blockers:
        await runs(client).CancelRun(run_pb2.CancelRunRequest(name=blocker.name))
    ended = await until_ended(client, created.name)
    assert ended.status == SUCCEEDED, ended.error
    events = await collect(runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=created.name)))
    refused = [c.event.tool_call_completed for c in child_events(events, "tool_call_completed")]
    assert refused[0].result.is_error and "CREW_DEPTH_EXCEEDED" in refused[0].result.output["error"]
    assert not [c for c in child_events(events, "run_created") if c.depth == 2]


async def test_cancelling_a_crew_run_reaches_its_grandchildren(client: Client) -> None:
    (sleeper,) = await agents(client, "sleeper", instructions="[[sleep:30]]")
    (lead,) = await agents(client, "lead", tools=[uses(sleeper)])
    await create_crew(client, "nested", members=[member("l", lead)], tasks=[task("t", '[[tool:agent.sleeper {"input": "zz"}]]', "l")])
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/nested", input=[{"text": "Go"}])))
    await wait_for(
        client, created.name,
        lambda e: kind(e) == "child_run_event" and e.child_run_event.depth == 2 and e.child_run_event.event.WhichOneof("payload") == "run_started",
    )
    cancelled = await runs(client).CancelRun(run_pb2.CancelRunRequest(name=created.name))
    assert cancelled.status == CANCELLED
    tree = await runs(client).ListRuns(run_pb2.ListRunsRequest(filter=f'root_run = "{created.name}" AND depth > 0'))
    assert len(tree.runs) == 2 and all(r.status == CANCELLED for r in tree.runs)
