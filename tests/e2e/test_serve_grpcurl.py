"""End to end: `runwire serve` as its own process, driven by grpcurl through reflection only."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests import doc_blocks

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
# The admin key every server of these tests starts with (RUNWIRE_BOOTSTRAP_ADMIN_KEY).
ADMIN_KEY = "rw_e2eAdminKey" + "0" * 29
assert len(ADMIN_KEY) == 43


def _grpcurl() -> str:
    found = os.environ.get("RUNWIRE_GRPCURL") or shutil.which("grpcurl") or str(ROOT / ".tools" / "bin" / "grpcurl")
    if not Path(found).exists():
        pytest.skip("grpcurl is not installed; `make test` installs it")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None, log_name: str = "serve.log") -> None:
        self.port = _free_port()
        self.log = data_dir.parent / log_name
        self._log_file = self.log.open("w")
        environment = {**os.environ, "RUNWIRE_SHUTDOWN_GRACE_SECONDS": "2", "RUNWIRE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
        environment.update(env or {})
        environment = {k: v for k, v in environment.items() if v}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runwire.cli.main", "serve", "--port", str(self.port), "--data-dir", str(data_dir), *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        deadline = time.monotonic() + 30
        while "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"runwire serve did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        self._log_file.close()
        return code


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path / "data")
    try:
        yield process
    finally:
        process.stop()


def grpcurl(
    address: str, *args: str, data: dict | None = None, key: str | None = ADMIN_KEY, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [_grpcurl(), "-plaintext", *flags]
    if key:
        command += ["-H", f"x-api-key: {key}"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    return subprocess.run([*command, address, *args], capture_output=True, text=True, timeout=30)


def test_serve_logs_where_it_listens_and_lists_every_service(serve: ServeProcess) -> None:
    assert f"listening on 127.0.0.1:{serve.port}" in serve.log.read_text()
    listed = grpcurl(serve.address, "list")
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    contract = set()
    for proto in (ROOT / "protos" / "runwire" / "v1").glob("*.proto"):
        contract |= {f"runwire.v1.{name}" for name in re.findall(r"^service (\w+)", proto.read_text(), re.M)}
    assert contract and contract <= services
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


def test_crud_and_rich_errors_through_reflection(serve: ServeProcess) -> None:
    created = grpcurl(serve.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {"display_name": "E2E"}})
    assert created.returncode == 0, created.stderr
    agent = json.loads(created.stdout)
    fetched = grpcurl(serve.address, "runwire.v1.AgentService/GetAgent", data={"name": agent["name"]})
    assert json.loads(fetched.stdout)["display_name"] == "E2E"
    bad = grpcurl(serve.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {}})
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "agent.display_name" in bad.stderr and "BadRequest" in bad.stderr
    assert "Traceback" not in bad.stderr


def _readme_grpcurl_commands() -> list[str]:
    return doc_blocks.commands(doc_blocks.named("grpcurl"))


def test_readme_grpcurl_examples_work(serve: ServeProcess) -> None:
    grpcurl_bin = _grpcurl()
    outputs = []
    for command in _readme_grpcurl_commands():
        assert command.startswith("grpcurl ")
        command = grpcurl_bin + command[len("grpcurl") :]
        command = command.replace("127.0.0.1:50051", serve.address)
        environment = {**os.environ, "RUNWIRE_API_KEY": ADMIN_KEY}
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, env=environment)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        outputs.append(result.stdout)
    listed_agents = json.loads(outputs[3])
    assert [a["name"] for a in listed_agents["agents"]] == ["agents/support"]
    updated = json.loads(outputs[4])
    assert updated["description"] == "First line of help" and updated["instructions"] == "Answer briefly."
    search = json.loads(outputs[7])
    assert "parcel" in search["results"][0]["snippet"]
    user_messages = json.loads(outputs[8])
    assert [m["role"] for m in user_messages["messages"]] == ["ROLE_USER"]


def test_sigterm_shuts_down_gracefully_and_data_survives(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir)
    created = grpcurl(first.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {"display_name": "kept"}, "agent_id": "kept"})
    assert created.returncode == 0, created.stderr
    assert first.stop() == 0
    log = first.log.read_text()
    assert "shutting down" in log and "runwire stopped" in log and "Traceback" not in log
    second = ServeProcess(data_dir)
    try:
        fetched = grpcurl(second.address, "runwire.v1.AgentService/GetAgent", data={"name": "agents/kept"})
        assert json.loads(fetched.stdout)["display_name"] == "kept"
    finally:
        assert second.stop() == 0
