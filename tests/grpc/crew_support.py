"""Support for the crew tests: stubs, agents and crews built in one call, and ways to follow crew runs."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from runwire.v1 import agent_pb2, crew_pb2, crew_pb2_grpc, run_pb2, run_pb2_grpc
from tests.conftest import Client
from tests.grpc.run_support import STREAM_TIMEOUT, TERMINAL, TERMINAL_EVENTS, kind

Crew = crew_pb2.Crew
SEQUENTIAL, PARALLEL, HIERARCHICAL = Crew.PROCESS_SEQUENTIAL, Crew.PROCESS_PARALLEL, Crew.PROCESS_HIERARCHICAL
TaskState = crew_pb2.CrewPlanTask


def crews(client: Client) -> crew_pb2_grpc.CrewServiceStub:
    return crew_pb2_grpc.CrewServiceStub(client.channel)


def runs(client: Client) -> run_pb2_grpc.RunServiceStub:
    return run_pb2_grpc.RunServiceStub(client.channel)


async def agents(client: Client, *ids: str, **fields: Any) -> list[str]:
    made = []
    for agent_id in ids:
        agent = await client.agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=agent_id, **fields), agent_id=agent_id)
        )
        made.append(agent.name)
    return made


def member(member_id: str, agent: str, role: str = "") -> crew_pb2.CrewMember:
    return crew_pb2.CrewMember(id=member_id, agent=agent, role=role or member_id.title())


def task(task_id: str, description: str, member_id: str = "", *context: str) -> crew_pb2.CrewTask:
    return crew_pb2.CrewTask(id=task_id, description=description, member=member_id, context=list(context))


async def create_crew(client: Client, crew_id: str, **fields: Any) -> crew_pb2.Crew:
    fields.setdefault("display_name", crew_id)
    return await crews(client).CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(**fields), crew_id=crew_id))


async def collect(stream: Any) -> list[run_pb2.RunEvent]:
    """Every event of a stream until it ends, bounded by STREAM_TIMEOUT."""
    events: list[run_pb2.RunEvent] = []

    async def read() -> None:
        async for event in stream:
            events.append(event)

    await asyncio.wait_for(read(), STREAM_TIMEOUT)
    return events


async def execute(client: Client, crew: str, text: str) -> list[run_pb2.RunEvent]:
    return await collect(runs(client).ExecuteAgent(run_pb2.ExecuteAgentRequest(crew=crew, input=[{"text": text}])))


async def wait_for(client: Client, run: str, predicate: Any) -> list[run_pb2.RunEvent]:
    """Follow a run's events from the start until one satisfies `predicate` (or the run ends): those read."""
    seen: list[run_pb2.RunEvent] = []

    async def read() -> None:
        async for event in runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=run)):
            seen.append(event)
            if predicate(event) or kind(event) in TERMINAL_EVENTS:
                return

    await asyncio.wait_for(read(), STREAM_TIMEOUT)
    return seen


async def until_ended(client: Client, run: str) -> run_pb2.Run:
    await wait_for(client, run, lambda event: False)
    ended = await runs(client).GetRun(run_pb2.GetRunRequest(name=run))
    assert ended.status in TERMINAL
    return ended


def child_events(events: list[run_pb2.RunEvent], inner: str = "") -> list[run_pb2.ChildRunEvent]:
    found = [e.child_run_event for e in events if kind(e) == "child_run_event"]
    return [c for c in found if not inner or c.event.WhichOneof("payload") == inner]


def plans(events: list[run_pb2.RunEvent]) -> list[crew_pb2.CrewPlan]:
    return [e.crew_plan_updated.plan for e in events if kind(e) == "crew_plan_updated"]


def states(plan: crew_pb2.CrewPlan) -> dict[str, str]:
    return {t.id: TaskState.State.Name(t.state).removeprefix("STATE_") for t in plan.tasks}


__all__ = ["grpc"]
