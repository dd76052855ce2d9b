"""A newcomer's first hour: `runwire serve` as its own process, then every shell block of the docs in order.

The server starts as a fresh clone's first `make serve` does (no key configured: the bootstrap admin key is
read from what it prints). Then every ```sh block of README.md, docs/*.md and clients/*/README.md runs in one
bash session, in the order written, as a person would type them in a second terminal at the root of the
clone (see tests/doc_blocks.py for the markers a block may carry). The only changes to the text: the server's
address 127.0.0.1:50051 and the MCP example's port 8000 become free ports, and RUNWIRE_SERVER names the
server for the `runwire` commands, whose default is 127.0.0.1:50051. Then the Python client's example runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import doc_blocks
from tests.e2e.test_serve_grpcurl import ServeProcess, _free_port, _grpcurl

pytestmark = pytest.mark.e2e
ROOT = doc_blocks.ROOT
MARK = "@@block "
BLOCK_TIMEOUT_S = 240


def test_every_shell_block_is_run_or_says_why_not() -> None:
    for path in doc_blocks.documents():
        for block in doc_blocks.blocks(path):
            assert block.not_run != "", f"{block.where}: `not run:` needs a reason"
            if block.language == "sh" and block.not_run is None:
                assert "…" not in block.body, f"{block.where}: a block that runs cannot hold a placeholder (…)"


def _clone(tmp_path: Path) -> Path:
    """A working directory shaped like the clone's root (its .venv, Makefile and tools), so files the docs
    create (questions.jsonl, calc_mcp.py…) stay out of the repository."""
    clone = tmp_path / "clone"
    (clone / ".tools" / "bin").mkdir(parents=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    (clone / "Makefile").symlink_to(ROOT / "Makefile")
    (clone / ".tools" / "bin" / "grpcurl").symlink_to(Path(_grpcurl()).resolve())
    return clone


def _script(server: str, mcp_port: int) -> tuple[str, list[doc_blocks.Block]]:
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    ran = []
    for path in doc_blocks.documents():
        for block in doc_blocks.blocks(path):
            if block.not_run is not None:
                continue
            ran.append(block)
            body = block.body.replace("127.0.0.1:50051", server)
            body = body.replace("127.0.0.1:8000", f"127.0.0.1:{mcp_port}").replace("port=8000", f"port={mcp_port}")
            lines.append(f"echo {shlex.quote(MARK + block.where)}; echo {shlex.quote(MARK + block.where)} >&2")
            if block.language == "console":
                for line in body.splitlines():
                    if line.startswith("$ "):
                        lines.append(f"{{ {line[2:]} ; }} 2>&1 || true")
            elif block.background:
                host, port = block.background.replace("8000", str(mcp_port)).split(":")
                lines.append(body.rstrip())
                lines.append(
                    f"for _ in $(seq 300); do (echo > /dev/tcp/{host}/{port}) 2>/dev/null && break; sleep 0.1; done; "
                    f"(echo > /dev/tcp/{host}/{port}) 2>/dev/null || {{ echo 'nothing listens on {host}:{port}' >&2; exit 1; }}"
                )
            else:
                lines.append(body.rstrip())
    return "\n".join(lines) + "\n", ran


def _by_block(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines(keepends=True):
        if line.startswith(MARK):
            current = line[len(MARK) :].strip()
            sections[current] = ""
        elif current:
            sections[current] += line
    return sections


def test_a_newcomers_first_hour(tmp_path: Path) -> None:
    if not shutil.which("jq"):
        pytest.skip("jq is not installed; `make tools` (and `make test`) install it")
    clone = _clone(tmp_path)
    serve = ServeProcess(tmp_path / "data", env={"RUNWIRE_BOOTSTRAP_ADMIN_KEY": ""})
    try:
        log = serve.log.read_text()
        keys = re.findall(r"^\s+(rw_[A-Za-z0-9]{40})$", log, re.M)
        assert len(keys) == 1, f"the first start prints the bootstrap admin key once:\n{log}"
        script, ran = _script(serve.address, _free_port())
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_") and k != "VIRTUAL_ENV"}
        environment.update(RUNWIRE_API_KEY=keys[0], RUNWIRE_SERVER=serve.address)
        result = subprocess.run(
            ["bash", "-c", script], cwd=clone, env=environment, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
        )
        out, err = _by_block(result.stdout), _by_block(result.stderr)
        failed = list(out)[-1] if out else "(before the first block)"
        assert result.returncode == 0, f"the block at {failed} failed:\n{out.get(failed, '')}\n{err.get(failed, '')}"
        assert [block.where for block in ran] == list(out), "every block that runs ran"

        for block in ran:
            if block.language == "console":  # a transcript: what it shows must be what the command prints
                shown = [line.strip() for line in block.body.splitlines() if line.strip() and not line.startswith("$ ")]
                for line in shown:
                    if "…" not in line:
                        assert line in out[block.where], f"{block.where}: {line!r} is not in the output:\n{out[block.where]}"

        cli = doc_blocks.blocks(ROOT / "README.md")
        cli_block = next(b for b in cli if "runwire agents create" in b.body)
        assert "calculator returned" in out[cli_block.where] and "42" in out[cli_block.where]
        assert "run: runs/" in err[cli_block.where] and "[approved calculator]" in err[cli_block.where]
        assert "SUCCEEDED" in err[cli_block.where]  # the batch watch's last progress line
        tools = next(b for b in cli if "McpServerService/CreateMcpServer" in b.body)
        assert '"state": "STATE_READY"' in out[tools.where] and '"mcp.calc.add"' in out[tools.where]
        files = next(b for b in cli if "runwire files upload" in b.body)
        assert "emergency exit" in out[files.where]
        for section in err.values():
            assert "Traceback" not in section
    finally:
        assert serve.stop() == 0
    assert "Traceback" not in serve.log.read_text()


def test_the_python_client_example_runs_against_runwire_serve(tmp_path: Path) -> None:
    readme = ROOT / "clients" / "python" / "README.md"
    example = re.search(r"## Example.*?```python\n(.*?)```", readme.read_text(), re.S)
    assert example is not None
    (tmp_path / "example.py").write_text(example.group(1))
    serve = ServeProcess(tmp_path / "data")
    try:
        from tests.e2e.test_serve_grpcurl import ADMIN_KEY

        environment = {**os.environ, "RUNWIRE_SERVER": serve.address, "RUNWIRE_API_KEY": ADMIN_KEY}
        result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "You said: hello" and lines[-1] == "NOT_FOUND AGENT_NOT_FOUND agents/does-not-exist"
    finally:
        assert serve.stop() == 0
