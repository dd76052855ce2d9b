"""The TypeScript client: its generated code matches the protos, and its own tests pass against a live server.

`npm test` (node:test, in clients/typescript) runs with the address and an API
key of a server started here. The pinned npm packages are installed with
`npm ci` when node_modules is missing (`make test` does the same first).
"""

from __future__ import annotations

import asyncio
import filecmp
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from runwire.server.app import RunwireServer
from tests.grpc.secure_support import ADMIN_KEY, running, secure_settings

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
GENERATED = CLIENT / "src" / "gen"
# Compiling and running the whole suite on a busy machine takes a while; a hang still ends.
NPM_TEST_TIMEOUT = 300.0
# How long connect-node keeps an idle HTTP/2 connection (and so Node) alive when nobody closes it.
IDLE_CONNECTION_TIMEOUT_S = 30.0


def _npm() -> str:
    npm = shutil.which("npm")
    assert npm, "npm is not installed: `make test` installs Node.js, or install it (Node 20 or later)"
    return npm


def _node_modules() -> None:
    if not (CLIENT / "node_modules" / ".bin" / "protoc-gen-es").exists():
        subprocess.run([_npm(), "ci", "--no-audit", "--no-fund"], cwd=CLIENT, check=True)


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def test_generated_typescript_matches_the_protos(tmp_path: Path) -> None:
    _node_modules()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), "--typescript-out", str(tmp_path)], check=True)
    fresh, committed = _files(tmp_path), _files(GENERATED)
    assert sorted(fresh) == sorted(committed), "clients/typescript/src/gen has missing or extra files: run `make generate`"
    stale = [name for name in fresh if not filecmp.cmp(fresh[name], committed[name], shallow=False)]
    assert not stale, f"clients/typescript/src/gen is out of date ({', '.join(stale)}): run `make generate`"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


async def test_the_typescript_client_passes_its_tests_against_a_live_server(server: RunwireServer) -> None:
    await asyncio.to_thread(_node_modules)
    env = {**os.environ, "RUNWIRE_TEST_SERVER": f"127.0.0.1:{server.port}", "RUNWIRE_TEST_API_KEY": ADMIN_KEY}
    # Run as a subprocess of this loop, so the in-process server keeps answering.
    process = await asyncio.create_subprocess_exec(
        _npm(), "test", cwd=CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), NPM_TEST_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    report = out.decode(errors="replace")
    assert process.returncode == 0, report
    assert "# fail 0" in report and "# pass 0" not in report, report


def test_the_readme_example_is_the_example_file() -> None:
    readme = (CLIENT / "README.md").read_text()
    example = re.search(r"## Example.*?```ts\n(.*?)```", readme, re.S)
    assert example is not None
    assert example.group(1) == (CLIENT / "examples" / "quickstart.ts").read_text()


async def test_the_example_runs_and_prints_what_the_readme_says(server: RunwireServer) -> None:
    # `npm test` of the test above compiles examples/ too; compile here when this test runs alone.
    await asyncio.to_thread(_node_modules)
    await asyncio.to_thread(subprocess.run, [_npm(), "run", "build"], cwd=CLIENT, check=True, capture_output=True)
    env = {**os.environ, "RUNWIRE_SERVER": f"127.0.0.1:{server.port}", "RUNWIRE_API_KEY": ADMIN_KEY}
    node = shutil.which("node")
    assert node
    process = await asyncio.create_subprocess_exec(
        node, "dist/examples/quickstart.js", cwd=CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    lines = []
    while line := await asyncio.wait_for(process.stdout.readline(), NPM_TEST_TIMEOUT):
        lines.append(line.decode().rstrip("\n"))
        last_output = time.monotonic()
    err = await process.stderr.read()
    await asyncio.wait_for(process.wait(), NPM_TEST_TIMEOUT)
    # close() ends the connection: Node exits at once, not when gRPC's idle connection times out (30 s).
    assert time.monotonic() - last_output < IDLE_CONNECTION_TIMEOUT_S / 3
    assert process.returncode == 0, err.decode()
    assert lines[0] == "You said: hello"
    assert re.fullmatch(r"agents/\S+ Echo", lines[1])
    assert lines[-1] == "NOT_FOUND AGENT_NOT_FOUND agents/does-not-exist"
