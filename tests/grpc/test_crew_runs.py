"""Crew runs through a real channel: each process, the plan and child events in one replayable stream,
approvals from a member, cancellation and limits."""

from __future__ import annotations

import grpc
import pytest

from runwire.v1 import agent_pb2, crew_pb2, run_pb2
from tests.conftest import Client, rpc_error
from tests.grpc.crew_support import (
    HIERARCHICAL,
    PARALLEL,
    SEQUENTIAL,
    agents,
    child_events,
    collect,
    create_crew,
    execute,
    member,
    plans,
    runs,
    states,
    task,
    until_ended,
    wait_for,
)
from tests.grpc.run_support import APPROVE, CANCELLED, REQUIRES_INPUT, SUCCEEDED, kind, run_settings


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return run_settings(tmp_path)


async def _blog(client: Client, process: int = SEQUENTIAL) -> None:
    researcher, writer = await agents(client, "researcher", "writer")
    await create_crew(
        client,
        "blog",
        process=process,
        members=[member("research", researcher, "Researcher"), member("write", writer, "Writer")],
        tasks=[task("facts", "[[tokens:3]]", "research"), task("post", "Write the post", "write", "facts")],
    )


async def test_a_sequential_crew_runs_its_tasks_in_order_as_child_runs_in_one_stream(client: Client) -> None:
    await _blog(client)
    events = await execute(client, "crews/blog", "Tides")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert kind(events[0]) == "run_created" and kind(events[-1]) == "run_completed"
    crew_run = events[0].run
    plan = plans(events)
    assert states(plan[0]) == {"facts": "PENDING", "post": "PENDING"}
    assert states(plan[-1]) == {"facts": "SUCCEEDED", "post": "SUCCEEDED"}
    assert [list(t.context) for t in plan[-1].tasks] == [[], ["facts"]]
    facts, post = plan[-1].tasks
    assert facts.output == "t1 t2 t3" and facts.agent == "agents/researcher" and post.agent == "agents/writer"
    # The writer was given the researcher's result.
    assert "Results of earlier tasks:\n- facts: t1 t2 t3" in post.output
    # Every child event is in the crew's log, tagged, in order: the whole first child before the second.
    copied = child_events(events)
    assert [c.run for c in copied if c.event.WhichOneof("payload") == "run_created"] == [facts.child_run, post.child_run]
    assert {c.crew_task for c in copied if c.run == facts.child_run} == {"facts"}
    assert {c.crew_member for c in copied if c.run == post.child_run} == {"write"}
    first_child = [c.event.seq for c in copied if c.run == facts.child_run]
    assert first_child == list(range(1, len(first_child) + 1))
    # The final answer is the crew run's own text and output.
    assert "".join(e.text_delta.text for e in events if kind(e) == "text_delta") == post.output
    crew_row = await runs(client).GetRun(run_pb2.GetRunRequest(name=crew_run))
    assert crew_row.status == SUCCEEDED and crew_row.crew == "crews/blog" and not crew_row.session
    assert crew_row.output.text == post.output and crew_row.crew_plan == plan[-1]
    assert crew_row.usage.total_tokens > 0
    children = await runs(client).ListRuns(run_pb2.ListRunsRequest(filter=f'parent_run = "{crew_run}"', order_by="create_time"))
    assert [r.name for r in children.runs] == [facts.child_run, post.child_run]
    assert all(r.root_run == crew_run and r.depth == 1 and r.status == SUCCEEDED for r in children.runs)
    assert [r.crew_task for r in children.runs] == ["facts", "post"]
    # Replay from the start equals the live stream.
    replay = await collect(runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=crew_run)))
    assert replay == events


async def test_resuming_the_crew_stream_anywhere_gives_exactly_the_rest(client: Client) -> None:
    await _blog(client, PARALLEL)
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/blog", input=[{"text": "Go"}])))
    await until_ended(client, created.name)
    whole = await collect(runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=created.name)))
    for cut in (1, 3, len(whole) // 2, len(whole) - 1):
        rest = await collect(runs(client).StreamRunEvents(run_pb2.StreamRunEventsRequest(run=created.name, after_seq=cut)))
        assert whole[:cut] + rest == whole


async def test_a_parallel_crew_runs_independent_tasks_at_once_and_joins_them(client: Client) -> None:
    north, south = await agents(client, "north", "south")
    await create_crew(
        client,
        "survey",
        process=PARALLEL,
        members=[member("n", north), member("s", south)],
        tasks=[task("a", "[[sleep:0.3]] A", "n"), task("b", "[[sleep:0.3]] B", "s"), task("join", "Merge", "s", "a", "b")],
    )
    events = await execute(client, "crews/survey", "Go")
    assert kind(events[-1]) == "run_completed"
    started = [
        (c.crew_task, index) for index, e in enumerate(events)
        if kind(e) == "child_run_event" and (c := e.child_run_event).event.WhichOneof("payload") == "run_started"
    ]
    ended = {
        c.crew_task: index for index, e in enumerate(events)
        if kind(e) == "child_run_event" and (c := e.child_run_event).event.WhichOneof("payload") == "run_completed"
    }
    order = dict(started)
    # a and b overlap; join starts only after both ended.
    assert order["b"] < ended["a"] and order["a"] < ended["b"]
    assert order["join"] > max(ended["a"], ended["b"])
    join = plans(events)[-1].tasks[2]
    assert "- a: " in join.output and "- b: " in join.output


async def test_a_hierarchical_crew_follows_the_managers_plan_and_replan_and_answer(client: Client) -> None:
    manager, researcher, writer = await agents(client, "manager", "researcher", "writer")
    await create_crew(
        client,
        "desk",
        process=HIERARCHICAL,
        manager=manager,
        members=[member("research", researcher), member("write", writer)],
    )
    goal = (
        'Tides [[plan:{"tasks": [{"id": "facts", "description": "[[tokens:2]]", "member": "research"}]}]] '
        '[[replan:{"tasks": [{"id": "facts", "description": "again", "member": "research"}, '
        '{"id": "post", "description": "Write", "member": "write", "context": ["facts"]}]}]] [[final:The post is done]]'
    )
    events = await execute(client, "crews/desk", goal)
    assert kind(events[-1]) == "run_completed"
    plan_events = [e.crew_plan_updated for e in events if kind(e) == "crew_plan_updated"]
    assert plan_events[0].reason == "planned" and plan_events[0].plan.source == "manager"
    assert [t.id for t in plan_events[0].plan.tasks] == ["facts"]
    replanned = next(p for p in plan_events if p.reason == "replanned")
    assert [t.id for t in replanned.plan.tasks] == ["facts", "post"]
    final_plan = plan_events[-1].plan
    assert states(final_plan) == {"facts": "SUCCEEDED", "post": "SUCCEEDED"}
    # facts succeeded before the re-plan: it kept its result and did not run again.
    assert final_plan.tasks[0].output == "t1 t2"
    facts_runs = {c.run for c in child_events(events) if c.crew_task == "facts"}
    assert len(facts_runs) == 1
    managers = [c.crew_task for c in child_events(events, "run_created") if c.crew_member == "manager"]
    assert managers == ["plan", "review-1", "review-2"]
    assert events[-1].run_completed.output.text == "The post is done"


async def test_a_hierarchical_crews_manager_assigns_its_fixed_tasks_that_name_no_member(client: Client) -> None:
    manager, researcher, writer = await agents(client, "manager", "researcher", "writer")
    await create_crew(
        client,
        "assigned",
        process=HIERARCHICAL,
        manager=manager,
        members=[member("research", researcher), member("write", writer)],
        tasks=[task("facts", "Facts"), task("post", "Post", "", "facts"), task("check", "Check", "research", "post")],
    )
    goal = 'Tides [[plan:{"tasks": [{"id": "facts", "member": "research"}, {"id": "post", "member": "write"}]}]] [[final:Done]]'
    events = await execute(client, "crews/assigned", goal)
    assert kind(events[-1]) == "run_completed", events[-1]
    planned = plans(events)[0]
    assert [(t.id, t.member, t.agent) for t in planned.tasks] == [
        ("facts", "research", researcher), ("post", "write", writer), ("check", "research", researcher),
    ]
    assert planned.source == "crew" and [list(t.context) for t in planned.tasks] == [[], ["facts"], ["post"]]
    # The manager's planning turn ran first, as the child run of task `plan`, and was shown the tasks.
    created = [c for c in child_events(events, "run_created") if c.crew_member == "manager"]
    assert [c.crew_task for c in created] == ["plan", "review-1"]
    asked = created[0].event.run_created.run.input[0].text
    assert asked.startswith("Crew planning.") and "- post: Post (member: to assign)" in asked and "(member: research)" in asked
    children = await runs(client).ListRuns(
        run_pb2.ListRunsRequest(filter=f'parent_run = "{events[0].run}" AND crew_member = "write"')
    )
    assert [r.crew_task for r in children.runs] == ["post"]
    assert events[-1].run_completed.output.text == "Done"


async def test_a_manager_that_leaves_a_task_unassigned_fails_the_crew_as_an_invalid_plan(client: Client) -> None:
    manager, researcher = await agents(client, "manager", "researcher")
    await create_crew(
        client, "unassigned", process=HIERARCHICAL, manager=manager, members=[member("research", researcher)],
        tasks=[task("facts", "Facts"), task("post", "Post")],
    )
    for goal, problem in (
        ('[[plan:{"tasks": [{"id": "facts", "member": "research"}]}]]', "assigns no member to task 'post'"),
        ('[[plan:{"tasks": [{"id": "facts", "member": "research"}, {"id": "post", "member": "nobody"}]}]]', "'nobody', not a member"),
        ("no plan at all", "did not answer a plan"),
    ):
        events = await execute(client, "crews/unassigned", goal)
        assert kind(events[-1]) == "run_failed"
        assert events[-1].run_failed.error.reason == "CREW_PLAN_INVALID" and problem in events[-1].run_failed.error.message
        assert not [c for c in child_events(events, "run_created") if c.crew_member != "manager"]


async def test_a_failing_member_fails_the_crew_with_the_task_named(client: Client) -> None:
    worker, = await agents(client, "worker")
    await create_crew(
        client, "fragile", members=[member("w", worker)],
        tasks=[task("ok", "fine", "w"), task("boom", "[[error:400]]", "w"), task("never", "x", "w")],
    )
    events = await execute(client, "crews/fragile", "Go")
    assert kind(events[-1]) == "run_failed"
    assert events[-1].run_failed.error.reason == "CREW_TASK_FAILED"
    assert "boom" in events[-1].run_failed.error.message
    final = plans(events)[-1]
    assert states(final) == {"ok": "SUCCEEDED", "boom": "FAILED", "never": "CANCELLED"}
    assert final.tasks[1].error.reason == "PROVIDER_ERROR"


async def test_an_approval_asked_by_a_member_is_answered_on_the_crew_run(client: Client) -> None:
    (careful,) = await agents(client, "careful", tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)])
    await create_crew(
        client, "checked", members=[member("c", careful)],
        tasks=[task("sum", '[[tool:calculator {"expression": "2+2"}]]', "c")],
    )
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/checked", input=[{"text": "Go"}])))
    seen = await wait_for(client, created.name, lambda e: kind(e) == "input_required")
    request = seen[-1].input_required.input_request
    assert request.kind == run_pb2.InputRequest.KIND_APPROVAL and request.run != created.name
    assert any(c.event.WhichOneof("payload") == "input_required" for c in child_events(seen))
    waiting = await runs(client).GetRun(run_pb2.GetRunRequest(name=created.name))
    assert waiting.status == REQUIRES_INPUT and waiting.pending_input.id == request.id
    answered = await runs(client).SubmitInput(
        run_pb2.SubmitInputRequest(name=created.name, input_request_id=request.id, approval=run_pb2.Approval(decision=APPROVE))
    )
    assert answered.name == created.name
    ended = await until_ended(client, created.name)
    assert ended.status == SUCCEEDED and "4" in ended.output.text
    child = await runs(client).GetRun(run_pb2.GetRunRequest(name=request.run))
    assert child.status == SUCCEEDED and child.steps[0].tool_calls[0].decided_by == "local"


async def test_cancelling_a_crew_run_cancels_its_children(client: Client) -> None:
    slow, = await agents(client, "slow")
    await create_crew(
        client, "long", process=PARALLEL, members=[member("s", slow)],
        tasks=[task("a", "[[sleep:30]]", "s"), task("b", "[[sleep:30]]", "s"), task("c", "after", "s", "a")],
    )
    created = await runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/long", input=[{"text": "Go"}])))
    started: set[str] = set()

    def both_started(event: run_pb2.RunEvent) -> bool:
        if kind(event) == "child_run_event" and event.child_run_event.event.WhichOneof("payload") == "run_started":
            started.add(event.child_run_event.crew_task)
        return started == {"a", "b"}

    await wait_for(client, created.name, both_started)
    cancelled = await runs(client).CancelRun(run_pb2.CancelRunRequest(name=created.name, reason="enough"))
    assert cancelled.status == CANCELLED
    children = await runs(client).ListRuns(run_pb2.ListRunsRequest(filter=f'parent_run = "{created.name}"'))
    assert len(children.runs) == 2 and all(r.status == CANCELLED for r in children.runs)
    assert states(cancelled.crew_plan) == {"a": "CANCELLED", "b": "CANCELLED", "c": "CANCELLED"}


async def test_crew_limits_end_the_run_with_a_clear_reason(client: Client) -> None:
    worker, = await agents(client, "worker")
    await create_crew(
        client, "small", members=[member("w", worker)],
        tasks=[task("one", "a", "w"), task("two", "b", "w")], limits=crew_pb2.CrewLimits(max_child_runs=1),
    )
    events = await execute(client, "crews/small", "Go")
    assert events[-1].run_failed.error.reason == "CREW_CHILD_RUN_LIMIT_EXCEEDED"
    await create_crew(
        client, "thrifty", members=[member("w", worker)],
        tasks=[task("one", "[[tokens:50]]", "w"), task("two", "b", "w")], limits=crew_pb2.CrewLimits(max_total_tokens=10),
    )
    events = await execute(client, "crews/thrifty", "Go")
    assert events[-1].run_failed.error.reason == "CREW_TOKEN_LIMIT_EXCEEDED"


async def test_a_crew_target_is_checked(client: Client) -> None:
    missing = await rpc_error(runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/none", input=[{"text": "x"}]))))
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "CREW_NOT_FOUND"
    both = await rpc_error(
        runs(client).CreateRun(run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/none", session="sessions/abcd", input=[{"text": "x"}])))
    )
    assert both.code == grpc.StatusCode.INVALID_ARGUMENT and "run.crew" in both.field_violations


async def test_a_batch_runs_one_crew_execution_per_task(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.grpc.batch_support import Batch as BatchMessage
    from tests.grpc.batch_support import serving_batches
    from tests.grpc.batch_support import task as batch_task

    async with serving_batches(tmp_path) as batches:
        client = batches.runs.client
        await _blog(client)
        created = await batches.create([batch_task(crew="crews/blog", text="One"), batch_task(crew="crews/blog", text="Two")])
        ended = await batches.wait_end(created.name)
        assert ended.state == BatchMessage.STATE_SUCCEEDED
        tasks = await batches.tasks(created.name)
        assert [t.crew for t in tasks] == ["crews/blog", "crews/blog"] and not any(t.agent or t.session for t in tasks)
        for done in tasks:
            crew_run = await runs(client).GetRun(run_pb2.GetRunRequest(name=done.run))
            assert crew_run.crew == "crews/blog" and crew_run.batch_task == done.name
            assert done.output.text == crew_run.output.text and states(crew_run.crew_plan) == {"facts": "SUCCEEDED", "post": "SUCCEEDED"}
        both = await rpc_error(batches.create_call([batch_task(crew="crews/blog", agent="agents/writer", text="x")]))
        assert both.code == grpc.StatusCode.INVALID_ARGUMENT and "batch.inline_tasks.tasks[0].crew" in both.field_violations
        missing = await rpc_error(batches.create_call([batch_task(crew="crews/blog", text="x"), batch_task(crew="crews/none", text="x")]))
        assert missing.code == grpc.StatusCode.INVALID_ARGUMENT and "batch.inline_tasks.tasks[1].crew" in missing.field_violations


async def test_a_crew_stream_cut_live_and_resumed_at_several_points_is_the_uninterrupted_stream(client: Client) -> None:
    from google.protobuf import struct_pb2

    slow = struct_pb2.Struct()
    slow.update({"tokens_per_second": 200})
    (talker,) = await agents(client, "talker", model=agent_pb2.ModelConfig(provider="builtin", options=slow))
    await create_crew(
        client, "chatty", members=[member("t", talker)],
        tasks=[task("one", "[[tokens:40]]", "t"), task("two", "[[tokens:40]]", "t", "one")],
    )
    stub = runs(client)
    received: list[run_pb2.RunEvent] = []
    call = stub.ExecuteAgent(run_pb2.ExecuteAgentRequest(crew="crews/chatty", input=[{"text": "Go"}]))
    cuts = iter([12, 30, 55, 80])
    cut = next(cuts)
    while True:
        ended = False
        async for event in call:
            received.append(event)
            if kind(event) == "run_completed":
                ended = True
                break
            if event.seq >= cut:
                break
        call.cancel()  # the client goes away; the crew run goes on
        if ended:
            break
        cut = next(cuts, 10**9)
        call = stub.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=received[0].run, after_seq=received[-1].seq))
    whole = await collect(stub.StreamRunEvents(run_pb2.StreamRunEventsRequest(run=received[0].run)))
    assert received == whole
    assert [e.seq for e in received] == list(range(1, len(received) + 1))


async def test_stream_tokens_on_a_crew_streams_its_final_answer(client: Client) -> None:
    await _blog(client)
    texts = []
    async for message in runs(client).StreamTokens(run_pb2.StreamTokensRequest(crew="crews/blog", input=[{"text": "Tides"}])):
        texts.append(message)
    assert texts[-1].final
    answer = "".join(m.text for m in texts)
    assert answer.startswith("You said: ") and "t1 t2 t3" in answer


async def test_a_result_that_does_not_follow_its_output_schema_fails_the_task(client: Client) -> None:
    from google.protobuf import struct_pb2

    (worker,) = await agents(client, "worker")
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "required": ["answer"]})
    await create_crew(
        client, "strict", members=[member("w", worker)],
        tasks=[crew_pb2.CrewTask(id="t", description="[[tokens:2]]", member="w", output_schema=schema)],
    )
    events = await execute(client, "crews/strict", "Go")
    failed = events[-1].run_failed.error
    assert failed.reason == "CREW_TASK_OUTPUT_INVALID" and "is not JSON" in failed.message
    assert plans(events)[-1].tasks[0].error.reason == "CREW_TASK_OUTPUT_INVALID"


async def test_the_child_run_limit_counts_the_whole_tree(client: Client) -> None:
    (helper,) = await agents(client, "helper")
    (lead,) = await agents(client, "lead", tools=[agent_pb2.AgentTool(agent=helper)])
    await create_crew(
        client, "bounded", members=[member("l", lead)],
        tasks=[task("t", '[[tool:agent.helper {"input": "hi"}]]', "l")], limits=crew_pb2.CrewLimits(max_child_runs=1),
    )
    events = await execute(client, "crews/bounded", "Go")
    assert events[-1].run_failed.error.reason == "CREW_CHILD_RUN_LIMIT_EXCEEDED"
    tree = await runs(client).ListRuns(run_pb2.ListRunsRequest(filter=f'root_run = "{events[0].run}" AND depth > 0'))
    assert {r.status for r in tree.runs} <= {CANCELLED, SUCCEEDED}


async def test_a_crew_run_that_reaches_its_max_duration_times_out_and_stops_its_children(client: Client) -> None:
    from google.protobuf import duration_pb2

    (slow,) = await agents(client, "slow")
    await create_crew(
        client, "late", members=[member("s", slow)], tasks=[task("t", "[[sleep:30]]", "s")],
        limits=crew_pb2.CrewLimits(max_duration=duration_pb2.Duration(nanos=500_000_000)),
    )
    events = await execute(client, "crews/late", "Go")
    assert kind(events[-1]) == "run_timed_out"
    child = plans(events)[-1].tasks[0]
    assert child.state == crew_pb2.CrewPlanTask.STATE_CANCELLED
    stopped = await runs(client).GetRun(run_pb2.GetRunRequest(name=child.child_run))
    assert stopped.status == CANCELLED
    assert kind(child_events(events)[-1].event) == "run_cancelled"
