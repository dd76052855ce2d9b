"""`runwire crews ...` and `runwire run --crew`, run in-process against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from runwire.v1 import agent_pb2, run_pb2, run_pb2_grpc
from tests.cli.test_cli_resources import cli_runner, field_lines, table
from tests.conftest import Client
from tests.grpc.run_support import run_settings


@pytest.fixture
def cli(client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return cli_runner(client, capsys, monkeypatch)


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return run_settings(tmp_path)


async def _agents(client: Client, *ids: str, **fields: object) -> None:
    for agent_id in ids:
        await client.agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name=agent_id, **fields), agent_id=agent_id)  # type: ignore[arg-type]
        )


async def _usage_error(cli, capsys: pytest.CaptureFixture[str], *argv: str) -> str:  # type: ignore[no-untyped-def]
    """A usage error: exit code 2 (argparse's SystemExit) and its message."""
    with pytest.raises(SystemExit) as exited:
        await cli(*argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


BLOG = (
    "--member", "research=researcher", "--role", "research=Researcher",
    "--member", "write=writer", "--goal", "write=Clear prose",
    "--task", "facts=[[tokens:3]]", "--assign", "facts=research",
    "--task", "post=Write the post", "--assign", "post=write", "--context", "post=facts",
    "--expected-output", "post=A short post",
)


async def test_crews_create_get_list_update_and_delete_from_flags(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer")
    created = await cli("crews", "create", "--id", "blog", "--display-name", "Blog", *BLOG, "--max-parallel-tasks", "2",
                        "--max-duration", "90", "--label", "team=docs", "--json")
    assert created.code == 0, created.err
    crew = created.json()
    assert crew["name"] == "crews/blog" and crew["process"] == "PROCESS_SEQUENTIAL"
    assert crew["members"] == [
        {"id": "research", "agent": "agents/researcher", "role": "Researcher"},
        {"id": "write", "agent": "agents/writer", "goal": "Clear prose"},
    ]
    assert crew["tasks"][1] == {
        "id": "post", "description": "Write the post", "expected_output": "A short post", "member": "write", "context": ["facts"]
    }
    assert crew["limits"] == {"max_parallel_tasks": 2, "max_duration": "90s"} and crew["labels"] == {"team": "docs"}

    shown = await cli("crews", "get", "blog")
    assert shown.code == 0 and field_lines(shown.out)["members[1].agent"] == "agents/writer"

    listed = await cli("crews", "list")
    assert listed.code == 0
    assert table(listed.out)[1][:5] == ["crews/blog", "Blog", "SEQUENTIAL", "2", "2"]

    updated = await cli("crews", "update", "blog", "--process", "parallel", "--display-name", "Blog 2",
                        "--etag", crew["etag"], "--json")
    assert updated.code == 0, updated.err
    after = updated.json()
    assert after["process"] == "PROCESS_PARALLEL" and after["display_name"] == "Blog 2"
    assert after["members"] == crew["members"] and after["tasks"] == crew["tasks"]  # only the fields given changed

    stale = await cli("crews", "update", "blog", "--description", "x", "--etag", crew["etag"])
    assert stale.code == 1 and "ABORTED" in stale.err

    filtered = await cli("crews", "list", "--filter", "process = SEQUENTIAL", "--json")
    assert filtered.json().get("crews", []) == []

    deleted = await cli("crews", "delete", "blog")
    assert deleted.code == 0 and deleted.out == "deleted crews/blog\n"
    missing = await cli("crews", "get", "blog")
    assert missing.code == 1 and "CREW_NOT_FOUND" in missing.err
    assert (await cli("crews", "delete", "blog", "--allow-missing")).code == 0


async def test_crews_create_reads_a_json_file_and_the_flags_add_to_it(client: Client, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer", "editor")
    path = tmp_path / "desk.json"
    path.write_text(json.dumps({
        "displayName": "Desk",
        "members": [{"id": "research", "agent": "agents/researcher"}],
        "limits": {"maxReplans": 1},
    }))
    created = await cli("crews", "create", "--id", "desk", "--file", str(path), "--member", "write=writer",
                        "--process", "hierarchical", "--manager", "editor", "--json")
    assert created.code == 0, created.err
    crew = created.json()
    assert [m["id"] for m in crew["members"]] == ["research", "write"]
    assert crew["manager"] == "agents/editor" and crew["limits"] == {"max_replans": 1}

    # update --file changes exactly the fields the file sets.
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"description": "Plans and writes"}))
    updated = await cli("crews", "update", "desk", "--file", str(change), "--json")
    assert updated.code == 0, updated.err
    assert updated.json()["description"] == "Plans and writes" and updated.json()["members"] == crew["members"]


async def test_crews_create_reports_bad_input_without_calling_or_with_the_servers_field(  # type: ignore[no-untyped-def]
    client: Client, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _agents(client, "writer")
    unknown = await cli("crews", "create", "--display-name", "X", "--member", "w=writer", "--assign", "nope=w")
    assert unknown.code == 1 and "there is no task 'nope'" in unknown.err
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('{"members": [{"idd": "x"}]}')
    parsed = await cli("crews", "create", "--display-name", "X", "--file", str(bad_file))
    assert parsed.code == 1 and "not a crew" in parsed.err
    assert "give --display-name" in await _usage_error(cli, capsys, "crews", "create", "--member", "w=writer")
    assert "unknown process" in await _usage_error(cli, capsys, "crews", "create", "--display-name", "X", "--process", "round-robin")
    assert "nothing to update" in await _usage_error(cli, capsys, "crews", "update", "x")
    # The server's own check: a member's agent must exist.
    missing_agent = await cli("crews", "create", "--display-name", "X", "--member", "w=ghost", "--task", "t=Do it")
    assert missing_agent.code == 1 and "AGENT_NOT_FOUND" in missing_agent.err


async def test_crews_file_in_yaml(client: Client, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "writer")
    path = tmp_path / "crew.yaml"
    path.write_text(yaml.safe_dump({
        "display_name": "Solo", "process": "PROCESS_PARALLEL",
        "members": [{"id": "w", "agent": "agents/writer"}], "tasks": [{"id": "t", "description": "Do it"}],
    }))
    created = await cli("crews", "create", "--file", str(path), "--json")
    assert created.code == 0, created.err
    assert created.json()["process"] == "PROCESS_PARALLEL"


async def test_run_crew_streams_the_plan_child_events_and_the_final_answer(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer")
    assert (await cli("crews", "create", "--id", "blog", "--display-name", "Blog", *BLOG)).code == 0
    result = await cli("run", "--crew", "blog", "Tides")
    assert result.code == 0, result.err
    err = result.err.splitlines()
    assert err[0].startswith("run: runs/")
    crew_run = err[0].removeprefix("run: ")
    # The plan as a task table first, every task pending.
    assert err[1] == "plan (revision 1, planned):"
    first = table("\n".join(err[2:5]))
    assert first[0] == ["TASK", "MEMBER", "STATE", "NEEDS", "CHILD RUN", "RESULT"]
    assert [row[:4] for row in first[1:]] == [["facts", "research", "PENDING", "-"], ["post", "write", "PENDING", "facts"]]
    # Then each task's start and end, and the children's text by whole lines, prefixed by member/task.
    assert any(line.startswith("[plan] facts: RUNNING (runs/") for line in err)
    assert "[research/facts] t1 t2 t3" in err and "[research/facts] done" in err
    assert "[write/post] done" in err and "[plan] post: SUCCEEDED" in err
    assert err.index("[research/facts] done") < next(i for i, line in enumerate(err) if line.startswith("[plan] post: RUNNING"))
    # The final table, and the crew's answer alone on stdout.
    final = err.index(next(line for line in err if line.startswith("plan (") and line.endswith("final):")))
    assert [row[2] for row in table("\n".join(err[final + 1 : final + 4]))[1:]] == ["SUCCEEDED", "SUCCEEDED"]
    row = await run_pb2_grpc.RunServiceStub(client.channel).GetRun(run_pb2.GetRunRequest(name=crew_run))
    assert row.status == run_pb2.Run.STATUS_SUCCEEDED and result.out == row.output.text + "\n"
    assert row.output.text == row.crew_plan.tasks[1].output


async def test_run_crew_json_prints_every_event_of_the_crew_run(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer")
    assert (await cli("crews", "create", "--id", "blog", "--display-name", "Blog", *BLOG)).code == 0
    result = await cli("run", "--crew", "crews/blog", "Tides", "--json")
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    assert [e["seq"] for e in events] == [str(n) for n in range(1, len(events) + 1)]
    assert "run_created" in events[0] and "run_completed" in events[-1]
    first_plan = next(i for i, e in enumerate(events) if "crew_plan_updated" in e)
    assert first_plan < next(i for i, e in enumerate(events) if "child_run_event" in e)
    children = [e["child_run_event"] for e in events if "child_run_event" in e]
    assert {(c["crew_member"], c["crew_task"]) for c in children} == {("research", "facts"), ("write", "post")}


async def test_run_crew_asks_for_a_members_approval_and_answers_it(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "checker", tools=[agent_pb2.AgentTool(name="calculator", requires_approval=True)])
    assert (await cli("crews", "create", "--id", "calc", "--display-name", "Calc", "--member", "c=checker",
                      "--task", 'sum=[[tool:calculator {"expression": "6*7"}]]')).code == 0
    waits = await cli("run", "--crew", "calc", "Go")
    assert waits.code == 3 and "needs approval" in waits.err
    assert "[c/sum] waits for approval of calculator" in waits.err
    approved = await cli("run", "--crew", "calc", "Go", "--approve")
    assert approved.code == 0, approved.err
    assert "[approved calculator]" in approved.err and "[c/sum] [calculator result:" in approved.err
    assert "42" in approved.out


async def test_run_crew_reports_a_failed_task_and_ends_with_exit_code_1(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "writer")
    assert (await cli("crews", "create", "--id", "oops", "--display-name", "Oops", "--member", "w=writer",
                      "--task", "bad=[[error:400]]")).code == 0
    result = await cli("run", "--crew", "oops", "Go")
    assert result.code == 1
    assert "[plan] bad: FAILED: " in result.err and "CREW_TASK_FAILED" in result.err


async def test_run_crew_usage_errors(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert "--crew CREW TEXT" in await _usage_error(cli, capsys, "run", "agents/a", "text", "--crew", "c")
    assert "sessions of their own" in await _usage_error(cli, capsys, "run", "--crew", "c", "text", "--session", "s")
    assert "runwire run AGENT TEXT" in await _usage_error(cli, capsys, "run", "agents/a")


async def test_agents_take_other_agents_as_tools_and_run_shows_their_child_runs(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "helper", "billing")
    lead = await cli("agents", "create", "--id", "lead", "--display-name", "Lead", "--tool", "agent.helper",
                     "--tool", "handover.agents/billing:approval", "--json")
    assert lead.code == 0, lead.err
    assert lead.json()["tools"] == [
        {"agent": "agents/helper", "delegation": "DELEGATION_TOOL"},
        {"agent": "agents/billing", "delegation": "DELEGATION_HANDOVER", "requires_approval": True},
    ]
    called = await cli("run", "lead", '[[tool:agent.helper {"input": "[[tokens:2]]"}]]')
    assert called.code == 0, called.err
    assert "[agents/helper] t1 t2" in called.err.splitlines() and "[agents/helper] done" in called.err.splitlines()
    assert "agent.helper returned" in called.out

    handed = await cli("run", "lead", '[[tool:handover.billing {"input": "Refund please"}]]', "--approve")
    assert handed.code == 0, handed.err
    assert any(line.startswith("[handed over to agents/billing: runs/") for line in handed.err.splitlines())


async def test_a_tool_flag_naming_no_agent_is_a_usage_error(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert "give the agent as agent.ID" in await _usage_error(cli, capsys, "agents", "create", "--display-name", "X", "--tool", "agent.")


async def test_runs_follow_and_list_show_a_crew_run(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer")
    assert (await cli("crews", "create", "--id", "blog", "--display-name", "Blog", *BLOG)).code == 0
    started = await run_pb2_grpc.RunServiceStub(client.channel).CreateRun(
        run_pb2.CreateRunRequest(run=run_pb2.Run(crew="crews/blog", input=[{"text": "Tides"}]))
    )
    followed = await cli("runs", "follow", started.name)
    assert followed.code == 0, followed.err
    assert "plan (revision 1, planned):" in followed.err and "[write/post] done" in followed.err
    listed = await cli("runs", "list", "--filter", "crew = \"crews/blog\"")
    assert [row[:2] for row in table(listed.out)[1:]] == [[started.name, "crews/blog"]]
    children = await cli("runs", "list", "--filter", f'parent_run = "{started.name}"', "--order-by", "create_time")
    assert [row[1] for row in table(children.out)[1:]] == ["agents/researcher", "agents/writer"]


async def test_a_batch_of_crew_tasks_from_the_command_line(client: Client, cli) -> None:  # type: ignore[no-untyped-def]
    await _agents(client, "researcher", "writer")
    assert (await cli("crews", "create", "--id", "blog", "--display-name", "Blog", *BLOG)).code == 0
    batch = await cli("batches", "create", "--crew", "blog", "--text", "Tides", "--text", "Waves", "--watch")
    assert batch.code == 0, batch.err
    tasks = await cli("batches", "tasks", field_lines(batch.out)["name"], "--json")
    runs = [t["run"] for t in tasks.json()["tasks"]]
    stub = run_pb2_grpc.RunServiceStub(client.channel)
    assert [(await stub.GetRun(run_pb2.GetRunRequest(name=r))).crew for r in runs] == ["crews/blog", "crews/blog"]
