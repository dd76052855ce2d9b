"""The Go client's own tests (`go test`) and its example program, against the live server of this session."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from gateway_stack import ROOT, Stack, go_binary

from tests import doc_blocks

# A cold Go build cache compiles gRPC and protobuf first: minutes on a small machine.
GO_TIMEOUT_S = 600
pytestmark = pytest.mark.timeout(GO_TIMEOUT_S + 30)


def _go(stack: Stack, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go_binary(), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=GO_TIMEOUT_S,
    )


def test_go_client_tests_pass_against_the_server(stack: Stack) -> None:
    result = _go(
        stack,
        "test",
        "-count=1",
        "-v",
        "./clients/go/...",
        "./gateway/...",
        env={"RUNWIRE_TEST_ADDRESS": stack.grpc_address, "RUNWIRE_TEST_API_KEY": stack.admin_key},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--- SKIP" not in result.stdout, result.stdout
    assert "--- PASS: TestStreamTokensDeliversTheWholeReply" in result.stdout


def test_go_example_program_chats(stack: Stack) -> None:
    # The command clients/go/README.md gives, as written: only the address, the key and where `go` is differ.
    (command,) = doc_blocks.commands(doc_blocks.named("go", ROOT / "clients" / "go" / "README.md"))
    command = command.replace("127.0.0.1:50051", stack.grpc_address).replace("rw_…", stack.admin_key)
    environment = {**os.environ, "PATH": f"{os.path.dirname(go_binary())}:{os.environ.get('PATH', '')}"}
    environment.pop("RUNWIRE_ADDRESS", None)
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=GO_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert "Hello from Go!" in result.stdout
    assert "deprecated" not in result.stderr


def test_go_example_still_reads_the_old_address_variable(stack: Stack) -> None:
    result = _go(
        stack,
        "run",
        "./clients/go/examples/chat",
        "Hello again",
        env={"RUNWIRE_SERVER": "", "RUNWIRE_ADDRESS": stack.grpc_address, "RUNWIRE_API_KEY": stack.admin_key},
    )
    assert result.returncode == 0, result.stderr
    assert "Hello again" in result.stdout
    assert "RUNWIRE_ADDRESS is deprecated: use RUNWIRE_SERVER" in result.stderr


def test_go_code_is_gofmt_clean() -> None:
    gofmt = shutil.which("gofmt") or os.path.join(os.path.dirname(go_binary()), "gofmt")
    result = subprocess.run([gofmt, "-l", "gateway", "clients/go"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"run gofmt -w on: {result.stdout}"
