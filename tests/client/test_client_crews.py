"""`runwire.client` crews against a real server: the standard methods, and executing a crew (the plan, the
child runs' events and the final answer's tokens) through both clients."""

from __future__ import annotations

import asyncio

import pytest

from runwire.client import AsyncClient, Client, NotFound
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, crew_pb2, run_pb2
from tests.client.support import WAIT
from tests.grpc.run_support import run_settings

Crew = crew_pb2.Crew
SUCCEEDED = crew_pb2.CrewPlanTask.STATE_SUCCEEDED


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return run_settings(tmp_path)


def address(server: RunwireServer) -> str:
    return f"127.0.0.1:{server.port}"


def blog() -> crew_pb2.Crew:
    return Crew(
        display_name="Blog",
        members=[crew_pb2.CrewMember(id="research", agent="agents/researcher"), crew_pb2.CrewMember(id="write", agent="agents/writer")],
        tasks=[
            crew_pb2.CrewTask(id="facts", description="[[tokens:3]]", member="research"),
            crew_pb2.CrewTask(id="post", description="Write the post", member="write", context=["facts"]),
        ],
    )


async def _agents(client: AsyncClient) -> None:
    for agent_id in ("researcher", "writer"):
        await client.agents.create(agent_pb2.Agent(display_name=agent_id), agent_id=agent_id)


async def test_crews_have_the_standard_methods(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as client:
        await _agents(client)
        crew = await client.crews.create(blog(), crew_id="blog")
        assert crew.name == "crews/blog" and crew.process == Crew.PROCESS_SEQUENTIAL and crew.etag
        checked = await client.crews.create(blog(), crew_id="other", validate_only=True)
        assert checked.name == "crews/other"
        changed = await client.crews.update(Crew(name=crew.name, process=Crew.PROCESS_PARALLEL, etag=crew.etag), ["process"])
        assert changed.process == Crew.PROCESS_PARALLEL and list(changed.tasks) == list(crew.tasks)
        assert (await client.crews.get("crews/blog")).process == Crew.PROCESS_PARALLEL
        assert [c.name async for c in client.crews.list(filter="process = PARALLEL")] == ["crews/blog"]
        await client.crews.delete(crew.name, etag=changed.etag)
        with pytest.raises(NotFound) as missing:
            await client.crews.get(crew.name)
        assert missing.value.reason == "CREW_NOT_FOUND"
        await client.crews.delete(crew.name, allow_missing=True)


async def test_executing_a_crew_gives_the_plan_the_child_events_and_the_final_answer(server: RunwireServer) -> None:
    async with AsyncClient(address(server)) as client:
        await _agents(client)
        await client.crews.create(blog(), crew_id="blog")
        stream = client.crews.execute("crews/blog", "Tides")
        events = [event async for event in stream]
        kinds = [e.WhichOneof("payload") for e in events]
        assert kinds[0] == "run_created" and kinds[-1] == "run_completed"
        # The stream keeps the latest plan, and its own text is the final answer, never a child's tokens.
        assert stream.plan is not None and [t.state for t in stream.plan.tasks] == [SUCCEEDED, SUCCEEDED]
        facts, post = stream.plan.tasks
        assert facts.output == "t1 t2 t3"
        assert stream.text == post.output == events[-1].run_completed.output.text
        copied = [e.child_run_event for e in events if e.WhichOneof("payload") == "child_run_event"]
        assert "".join(c.event.text_delta.text for c in copied if c.crew_task == "facts") == "t1 t2 t3"
        children = [r async for r in client.crews.child_runs(stream.run)]
        assert [r.name for r in children] == [facts.child_run, post.child_run]
        assert [r.crew_task for r in children] == ["facts", "post"] and all(r.parent_run == stream.run for r in children)
        assert [r.name async for r in client.crews.child_runs(stream.run, filter='crew_member = "write"')] == [post.child_run]

        # StreamTokens on a crew: the final answer only.
        tokens = [m async for m in client.crews.stream_tokens("crews/blog", "Tides")]
        assert "".join(m.text for m in tokens) == post.output


async def test_a_started_crew_run_is_followed_from_any_seq(server: RunwireServer) -> None:
    def scenario() -> tuple[run_pb2.Run, list[run_pb2.RunEvent], list[run_pb2.RunEvent], str]:
        with Client(address(server)) as client:
            for agent_id in ("researcher", "writer"):
                client.agents.create(agent_pb2.Agent(display_name=agent_id), agent_id=agent_id)
            client.crews.create(blog(), crew_id="blog")
            run = client.crews.start("crews/blog", "Tides", labels={"from": "client"})
            whole = client.runs.stream(run.name)
            events = list(whole)
            rest = list(client.runs.stream(run.name, after_seq=3))
            return run, events, rest, whole.text

    run, events, rest, text = await asyncio.wait_for(asyncio.to_thread(scenario), WAIT)
    assert run.crew == "crews/blog" and not run.session and run.labels["from"] == "client"
    assert events[3:] == rest
    assert text == events[-1].run_completed.output.text != ""
