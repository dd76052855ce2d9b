"""`runwire batches`: create from a JSONL file, watch with a progress line, list tasks, cancel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, agent_pb2_grpc
from tests.grpc.run_support import run_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    instance = RunwireServer(run_settings(tmp_path, builtin_tokens_per_second=0))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop(grace=0.5)


async def _agent(server: RunwireServer) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agent = await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="cli"))
        )
    return agent.name


async def _cli(server: RunwireServer, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, [*argv, "--server", f"127.0.0.1:{server.port}"])
    out, err = capsys.readouterr()
    return code, out, err


async def test_create_from_a_tasks_file_and_watch_to_the_end(
    server: RunwireServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    agent = await _agent(server)
    tasks = tmp_path / "tasks.jsonl"
    lines = [json.dumps({"custom_id": f"q{i}", "agent": agent, "text": f"question {i}"}) for i in range(5)]
    tasks.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n")
    code, out, err = await _cli(server, capsys, "batches", "create", "--tasks-file", str(tasks), "--watch", "--json")
    assert code == 0, err
    updates = [json.loads(line)["batch"] for line in out.splitlines()]  # the watch: one JSON object per line
    batch = updates[-1]
    assert batch["state"] == "STATE_SUCCEEDED" and batch["counts"]["succeeded"] == 5
    assert err.startswith("batch: batches/")

    code, out, err = await _cli(server, capsys, "batches", "watch", batch["name"])
    assert code == 0
    assert "[" + "#" * 30 + "] 5/5 SUCCEEDED succeeded 5 failed 0" in err
    assert "state: SUCCEEDED" in out

    code, out, _ = await _cli(server, capsys, "batches", "tasks", batch["name"])
    assert code == 0
    assert out.count("SUCCEEDED") == 5 and "You said: question 4" in out and "q0" in out

    code, out, _ = await _cli(server, capsys, "batches", "list")
    assert code == 0 and batch["name"] in out and "5/5" in out


async def test_a_batch_with_failures_exits_non_zero_and_cancel_and_bad_lines_are_reported(
    server: RunwireServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    agent = await _agent(server)
    code, out, err = await _cli(
        server, capsys, "batches", "create", "--agent", agent, "--text", "fine", "--text", "[[error:400]]", "--watch"
    )
    assert code == 1
    assert "PARTIALLY_SUCCEEDED" in out

    code, out, err = await _cli(
        server, capsys, "batches", "create", "--agent", agent, "--text", "[[sleep:30]]", "--id", "slow-batch", "--json"
    )
    assert code == 0
    code, out, err = await _cli(server, capsys, "batches", "cancel", "slow-batch", "--json")
    assert code == 0 and json.loads(out)["state"] in ("STATE_CANCELLING", "STATE_CANCELLED")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"agent": agent, "text": "ok"}) + "\n" + '{"agent": 3,\n')
    code, _, err = await _cli(server, capsys, "batches", "create", "--tasks-file", str(bad))
    assert code == 1 and "line 2" in err

    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"text": "no agent"}) + "\n")
    code, _, err = await _cli(server, capsys, "batches", "create", "--tasks-file", str(missing))
    assert code == 1 and "INVALID_ARGUMENT" in err and f"{missing}, line 1: agent" in err and "inline_tasks" not in err
