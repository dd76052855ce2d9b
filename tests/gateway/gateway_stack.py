"""Processes for the gateway tests: `runwire serve`, the gateway binary, the Go toolchain."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The admin key the server starts with (RUNWIRE_BOOTSTRAP_ADMIN_KEY).
ADMIN_KEY = "rw_gatewayAdminKey" + "0" * 25
assert len(ADMIN_KEY) == 43
START_TIMEOUT_S = 60
# A method the server of these tests refuses every time, to see a rate-limited call (429) through the gateway.
RATE_LIMITED_METHOD = "/runwire.v1.ToolService/ListTools"
RATE_LIMITED_PATH = "/v1/tools"
# The one origin the gateway of these tests lets browsers call from (--cors-origins).
WEB_ORIGIN = "http://app.example"


def go_binary() -> str:
    found = os.environ.get("RUNWIRE_GO") or shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        pytest.fail("the Go toolchain is missing: the gateway and the Go client need it")
    return found


def gateway_binary() -> Path:
    binary = Path(os.environ.get("RUNWIRE_GATEWAY_BIN") or ROOT / "gateway" / "bin" / "runwire-gateway")
    if not binary.is_absolute():
        binary = ROOT / binary
    if not binary.exists():
        subprocess.run([go_binary(), "build", "-o", str(binary), "./gateway"], cwd=ROOT, check=True, timeout=600)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process whose output goes to a log file we can wait on."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(command, stdout=self._log_file, stderr=subprocess.STDOUT, env=env)

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (found := re.search(pattern, self.log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.log.name}: no {pattern!r} in:\n{self.log.read_text()}")
            time.sleep(0.05)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@dataclass(frozen=True)
class Stack:
    grpc_address: str
    base_url: str
    admin_key: str
    # The gateway's log, for the tests of what it writes there.
    gateway_log: Path | None = None

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"x-api-key": key or self.admin_key}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


def details_by_type(body: dict) -> dict[str, dict]:
    """The google.rpc.Status details of an error body, keyed by their short type name."""
    return {detail["@type"].rsplit(".", 1)[-1]: detail for detail in body["details"]}
