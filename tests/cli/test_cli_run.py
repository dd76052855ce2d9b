"""`runwire run AGENT TEXT`: tokens printed as they arrive, tool calls shown, approvals and questions answered."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
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


async def _agent(server: RunwireServer, *tools: agent_pb2.AgentTool, **options: object) -> str:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        agent = await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(display_name="cli", tools=list(tools), model=agent_pb2.ModelConfig(options=options or None))
            )
        )
    return agent.name


async def _run(server: RunwireServer, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["run", *argv, "--server", f"127.0.0.1:{server.port}"])
    out, err = capsys.readouterr()
    return code, out, err


async def test_run_prints_the_answer_and_the_new_session(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, out, err = await _run(server, capsys, agent, "hello there")
    assert code == 0
    assert out == "You said: hello there\n"
    assert err.startswith("session: sessions/")


async def test_run_shows_tool_calls_and_approves_when_asked_to(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server, agent_pb2.AgentTool(name="calculator", requires_approval=True))
    code, out, err = await _run(server, capsys, agent, '[[tool:calculator {"expression": "6*7"}]]', "--approve")
    assert code == 0
    assert "calculator returned" in out and "42" in out
    assert "[approved calculator]" in err and '[calculator {"expression": "6*7"}]' in err


async def test_run_shows_integers_in_tool_calls_and_results_as_integers(
    server: RunwireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = await _agent(server, agent_pb2.AgentTool(name="session_search"), agent_pb2.AgentTool(name="calculator"))
    code, out, err = await _run(
        server, capsys, agent, '[[tool:session_search {"query": "x", "limit": 3}]] [[tool:calculator {"expression": "6*7"}]]'
    )

    assert code == 0, err
    assert re.search(r'"limit": 3[,}]', err) and re.search(r'"value": 42[,}]', err), err
    assert ".0" not in err, err


async def test_run_without_a_decision_stops_and_says_how_to_give_one(
    server: RunwireServer, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = await _agent(server, agent_pb2.AgentTool(name="calculator", requires_approval=True))
    code, _, err = await _run(server, capsys, agent, '[[tool:calculator {"expression": "1+1"}]]')
    assert code == 3
    assert "needs approval" in err and "--approve" in err


async def test_run_denies_and_the_agent_is_told(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server, agent_pb2.AgentTool(name="calculator", requires_approval=True))
    code, out, err = await _run(server, capsys, agent, '[[tool:calculator {"expression": "1+1"}]]', "--deny")
    assert code == 0
    assert "denied by a person" in out
    assert "[denied calculator]" in err


async def test_run_answers_a_question(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, out, _ = await _run(server, capsys, agent, "[[ask:Your name?]]", "--answer", "Ada")
    assert code == 0
    assert out.endswith("You said: Ada\n")


async def test_a_failed_run_exits_non_zero(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, _, err = await _run(server, capsys, agent, "[[error:400]]")
    assert code == 1
    assert "FAILED: PROVIDER_ERROR: builtin provider: simulated HTTP 400" in err
    assert err.count("builtin provider") == 1  # the provider is named once, not once per layer


async def test_tokens_are_printed_as_they_arrive(server: RunwireServer) -> None:
    agent = await _agent(server, tokens_per_second=40)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runwire.cli.main",
        "run",
        agent,
        "[[tokens:60]]",
        "--server",
        f"127.0.0.1:{server.port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RUNWIRE_API_KEY": ""},
    )
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.read(3), 30)
    # The first tokens are on the terminal while the run is still producing the rest.
    assert first == b"t1 "
    assert process.returncode is None
    rest = await asyncio.wait_for(process.stdout.read(), 30)
    assert await process.wait() == 0
    assert (first + rest).decode().split() == [f"t{i}" for i in range(1, 61)]


async def test_an_approval_at_the_prompt_after_the_timeout_still_completes_the_run(
    server: RunwireServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = await _agent(server, agent_pb2.AgentTool(name="calculator", requires_approval=True))

    def slow_person(prompt: str) -> str:
        time.sleep(1.5)  # longer than --timeout: the person answers after every call deadline has passed
        return "y"

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", slow_person)
    code, out, err = await _run(server, capsys, agent, '[[tool:calculator {"expression": "6*7"}]]', "--timeout", "1")
    assert code == 0, err
    assert "calculator returned" in out and "42" in out
    assert "[approved calculator]" in err
