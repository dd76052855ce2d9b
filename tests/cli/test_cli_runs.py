"""`runwire runs` (list, get, events, follow, approve, deny, answer, cancel), `run --json`, the exit code of a run
whose tool call failed, Ctrl-C during `runwire run`, `--token`, and failures that end as one line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from runwire.v1 import agent_pb2, agent_pb2_grpc
from tests.grpc.run_support import run_settings
from tests.grpc.secure_support import hs256_token, running, secure_settings

WAIT = 30


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


async def _cli(server: RunwireServer, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*argv, "--server", f"127.0.0.1:{server.port}"])
    out, err = capsys.readouterr()
    return code, out, err


def _run_of(err: str) -> str:
    return next(line.split(": ", 1)[1] for line in err.splitlines() if line.startswith("run: "))


CALCULATOR_WITH_APPROVAL = agent_pb2.AgentTool(name="calculator", requires_approval=True)


async def test_run_json_prints_each_event_as_one_json_line(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, out, err = await _cli(server, capsys, "run", agent, "hello", "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [int(e["seq"]) for e in events] == list(range(1, len(events) + 1))
    assert "run_created" in events[0] and "run_completed" in events[-1]
    assert "".join(e["text_delta"]["text"] for e in events if "text_delta" in e) == "You said: hello"
    assert _run_of(err) == events[0]["run"]


async def test_a_tool_the_agent_lacks_is_a_warning_and_exit_code_4(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, _, err = await _cli(server, capsys, "run", agent, '[[tool:calculator {"expression": "6*7"}]]')
    assert code == 4
    assert "warning: a tool call failed: calculator: tool 'calculator' is not available to this agent" in err


async def test_runs_list_get_and_events(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, _, err = await _cli(server, capsys, "run", agent, "first")
    run = _run_of(err)
    code, out, _ = await _cli(server, capsys, "runs", "list", "--filter", f'agent = "{agent}" AND status = SUCCEEDED')
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "AGENT", "SESSION", "STATUS", "CREATED"]
    assert run in out and "SUCCEEDED" in out
    code, out, _ = await _cli(server, capsys, "runs", "list", "--filter", "status = FAILED", "--json")
    assert code == 0 and json.loads(out).get("runs", []) == []
    code, out, _ = await _cli(server, capsys, "runs", "get", run.removeprefix("runs/"), "--json")
    assert code == 0 and json.loads(out)["status"] == "STATUS_SUCCEEDED"
    code, out, _ = await _cli(server, capsys, "runs", "events", run)
    lines = out.splitlines()
    assert code == 0 and "run_created" in lines[0] and "run_completed" in lines[-1]
    code, out, _ = await _cli(server, capsys, "runs", "events", run, "--after-seq", "2", "--json")
    seqs = [int(json.loads(line)["seq"]) for line in out.splitlines()]
    assert code == 0 and seqs[0] == 3 and seqs == sorted(seqs) and len(seqs) == len(lines) - 2


async def test_a_waiting_run_is_approved_then_followed(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server, CALCULATOR_WITH_APPROVAL)
    code, _, err = await _cli(server, capsys, "run", agent, '[[tool:calculator {"expression": "6*7"}]]')
    assert code == 3
    run = _run_of(err)
    assert f"runwire runs approve {run}" in err
    code, out, _ = await _cli(server, capsys, "runs", "events", run)
    assert code == 0 and "input_required" in out.splitlines()[-1]
    code, out, err = await _cli(server, capsys, "runs", "approve", run, "--follow")
    assert code == 0, err
    assert "42" in out
    code, out, _ = await _cli(server, capsys, "runs", "approve", run)
    assert code == 1


async def test_a_waiting_run_is_denied(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server, CALCULATOR_WITH_APPROVAL)
    _, _, err = await _cli(server, capsys, "run", agent, '[[tool:calculator {"expression": "1+1"}]]')
    run = _run_of(err)
    code, out, err = await _cli(server, capsys, "runs", "deny", run, "--reason", "not now", "--follow")
    assert code == 0, err
    assert "denied" in out


async def test_a_question_is_answered_and_the_run_followed_later(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server)
    code, _, err = await _cli(server, capsys, "run", agent, "[[ask:Your name?]]")
    assert code == 3 and "runwire runs answer" in err
    run = _run_of(err)
    code, _, _ = await _cli(server, capsys, "runs", "answer", run, "Ada")
    assert code == 0
    code, out, _ = await _cli(server, capsys, "runs", "follow", run)
    assert code == 0 and out.endswith("You said: Ada\n")


async def test_runs_cancel(server: RunwireServer, capsys: pytest.CaptureFixture[str]) -> None:
    agent = await _agent(server, CALCULATOR_WITH_APPROVAL)
    _, _, err = await _cli(server, capsys, "run", agent, '[[tool:calculator {"expression": "1+1"}]]')
    run = _run_of(err)
    code, out, _ = await _cli(server, capsys, "runs", "cancel", run, "--reason", "changed my mind", "--json")
    assert code == 0 and json.loads(out)["name"] == run
    code, _, err = await _cli(server, capsys, "runs", "follow", run)
    assert code == 1 and "CANCELLED" in err


def _cli_process(*argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNWIRE_API_KEY": "", "RUNWIRE_TOKEN": ""}
    return subprocess.Popen([sys.executable, "-m", "runwire.cli.main", *argv], env=env, **kwargs)  # type: ignore[call-overload]


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_ctrl_c_leaves_the_run_going_and_says_how_to_reach_it(server: RunwireServer) -> None:
    agent = await _agent(server, tokens_per_second=20)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runwire.cli.main", "run", agent, "[[tokens:400]]", "--server", f"127.0.0.1:{server.port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "RUNWIRE_API_KEY": ""},
        # Ctrl-C as a terminal sends it, even when these tests run in the background (which ignores SIGINT,
        # and a child inherits that).
        preexec_fn=_interruptible,
    )
    assert process.stderr is not None and process.stdout is not None
    seen = b""
    while b"run: runs/" not in seen:
        seen += await asyncio.wait_for(process.stderr.readline(), WAIT)
    await asyncio.wait_for(process.stdout.read(3), WAIT)  # the run is producing text
    process.send_signal(signal.SIGINT)
    _, rest = await asyncio.wait_for(process.communicate(), WAIT)
    err = (seen + rest).decode()
    run = _run_of(err)
    assert process.returncode == 130
    assert "Traceback" not in err
    assert f"runwire runs follow {run}" in err and f"runwire runs cancel {run}" in err
    code = await asyncio.to_thread(main, ["runs", "cancel", run, "--server", f"127.0.0.1:{server.port}"])
    assert code == 0  # it was still going


async def test_a_token_is_sent_as_a_bearer(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNWIRE_API_KEY", raising=False)
    async with running(secure_settings(tmp_path)) as instance:
        address = f"127.0.0.1:{instance.port}"
        code = await asyncio.to_thread(main, ["agents", "create", "--display-name", "Jwt", "--json", "--server", address, "--token", hs256_token("alice")])
        out, _ = capsys.readouterr()
        assert code == 0 and json.loads(out)["owner"] == "alice"
        monkeypatch.setenv("RUNWIRE_TOKEN", hs256_token("bob"))
        code = await asyncio.to_thread(main, ["agents", "create", "--display-name", "Env", "--json", "--server", address])
        out, _ = capsys.readouterr()
        assert code == 0 and json.loads(out)["owner"] == "bob"
        monkeypatch.setenv("RUNWIRE_TOKEN", "not-a-token")
        code = await asyncio.to_thread(main, ["agents", "list", "--server", address])
        _, err = capsys.readouterr()
        assert code == 1 and "UNAUTHENTICATED" in err


async def test_a_closed_pipe_ends_quietly(server: RunwireServer) -> None:
    for _ in range(3):
        await _agent(server)
    process = _cli_process("agents", "list", "--server", f"127.0.0.1:{server.port}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the command writes, as `| head -0` would be
    _, err = await asyncio.to_thread(process.communicate, timeout=WAIT)
    assert err.decode() == ""
    assert process.returncode == 0


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _cli_process(
            "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"), "--insecure-no-auth",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        _, err = process.communicate(timeout=60)
    lines = [line for line in err.decode().splitlines() if "cannot listen" in line]
    assert process.returncode == 1
    assert "Traceback" not in err.decode()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and json.loads(lines[0])["level"] == "ERROR"


async def test_a_missing_tasks_file_and_bad_tasks_are_named_by_line(
    server: RunwireServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = await _cli(server, capsys, "batches", "create", "--tasks-file", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "missing.jsonl" in err and "Traceback" not in err
    agent = await _agent(server)
    tasks = tmp_path / "questions.jsonl"
    tasks.write_text(f'{{"agent": "{agent}", "text": "hi"}}\n\n{{"agent": "{agent}"}}\n')
    code, _, err = await _cli(server, capsys, "batches", "create", "--tasks-file", str(tasks))
    assert code == 1
    assert f"{tasks}, line 3" in err and "inline_tasks" not in err
