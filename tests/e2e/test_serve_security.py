"""End to end: `runwire serve` processes with authentication, structured logs, metrics, and Redis-shared limits."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess, grpcurl
from tests.redis_support import RedisServer, free_port

pytestmark = pytest.mark.e2e
KEY = re.compile(r"rw_[A-Za-z0-9]{40}")


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    try:
        yield started
    finally:
        for process in started:
            process.stop()


def _json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_a_fresh_server_prints_a_bootstrap_key_once_and_requires_it(tmp_path: Path, processes: list[ServeProcess]) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, env={"RUNWIRE_BOOTSTRAP_ADMIN_KEY": ""}, log_name="first.log")
    processes.append(first)
    log = first.log.read_text()
    assert "RUNWIRE BOOTSTRAP ADMIN KEY" in log
    (key,) = set(KEY.findall(log))
    refused = grpcurl(first.address, "runwire.v1.AgentService/ListAgents", key=None)
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr and "UNAUTHENTICATED" in refused.stderr
    assert grpcurl(first.address, "list", key=None).returncode == 0  # reflection stays open
    created = grpcurl(first.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {"display_name": "mine"}}, key=key)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["owner"] == "admin"
    assert first.stop() == 0
    # The key appears in the banner only: no log line carries it.
    lines = first.log.read_text().splitlines()
    assert all(key not in line for line in lines if line.startswith("{"))

    second = ServeProcess(data_dir, env={"RUNWIRE_BOOTSTRAP_ADMIN_KEY": ""}, log_name="second.log")
    processes.append(second)
    assert "BOOTSTRAP" not in second.log.read_text()
    listed = grpcurl(second.address, "runwire.v1.AgentService/ListAgents", key=key)
    assert listed.returncode == 0 and json.loads(listed.stdout)["agents"][0]["display_name"] == "mine"


def test_insecure_mode_warns_loudly_and_needs_no_key(tmp_path: Path, processes: list[ServeProcess]) -> None:
    server = ServeProcess(tmp_path / "data", "--insecure-no-auth")
    processes.append(server)
    log = server.log.read_text()
    assert "WARNING: AUTHENTICATION IS OFF" in log and "BOOTSTRAP" not in log
    created = grpcurl(server.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {"display_name": "x"}}, key=None)
    assert created.returncode == 0 and json.loads(created.stdout)["owner"] == "local"


def test_logs_are_json_with_the_call_context_and_no_secrets(tmp_path: Path, processes: list[ServeProcess]) -> None:
    server = ServeProcess(tmp_path / "data")
    processes.append(server)
    request = grpcurl(
        server.address,
        "runwire.v1.AgentService/CreateAgent",
        data={"agent": {"display_name": "logged", "instructions": "top secret instructions"}},
        flags=("-H", "x-request-id: e2e-req-1"),
    )
    assert request.returncode == 0, request.stderr
    bad = grpcurl(server.address, "runwire.v1.AgentService/ListAgents", key="rw_" + "q" * 40)
    assert bad.returncode != 0
    assert server.stop() == 0
    log = server.log.read_text()
    entries = _json_lines(log)
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    (access,) = [e for e in entries if e.get("request_id") == "e2e-req-1" and e.get("method", "").startswith("/runwire")]
    assert access["method"] == "/runwire.v1.AgentService/CreateAgent" and access["principal"] == "admin"
    assert access["code"] == "OK" and access["duration_ms"] >= 0
    refused = [e for e in entries if e.get("code") == "UNAUTHENTICATED"]
    assert refused and refused[0]["method"] == "/runwire.v1.AgentService/ListAgents" and refused[0]["principal"] == "-"
    assert ADMIN_KEY not in log and "q" * 40 not in log and "top secret" not in log


def test_metrics_port_serves_prometheus_text(tmp_path: Path, processes: list[ServeProcess]) -> None:
    port = free_port()
    server = ServeProcess(tmp_path / "data", "--metrics-port", str(port))
    processes.append(server)
    assert grpcurl(server.address, "runwire.v1.AgentService/ListAgents").returncode == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'runwire_calls_total{code="OK",method="/runwire.v1.AgentService/ListAgents"} 1.0' in text


def test_two_servers_share_rate_limits_through_redis(
    tmp_path: Path, processes: list[ServeProcess], redis_server: RedisServer
) -> None:
    """A bucket emptied through one process refuses calls through the other."""
    env = {
        "RUNWIRE_REDIS_URL": redis_server.url,
        "RUNWIRE_REDIS_KEY_PREFIX": "e2e-shared:",
        # The bootstrap admin is in the premium tier: three reads, refilled once a minute.
        "RUNWIRE_RATE_LIMIT_TIERS": json.dumps({"premium": {"read": {"requests_per_second": 0.0167, "burst": 3}}}),
    }
    one = ServeProcess(tmp_path / "one", env=env, log_name="one.log")
    processes.append(one)
    two = ServeProcess(tmp_path / "two", env=env, log_name="two.log")
    processes.append(two)
    for _ in range(3):
        result = grpcurl(one.address, "runwire.v1.AgentService/ListAgents")
        assert result.returncode == 0, result.stderr
    refused = grpcurl(two.address, "runwire.v1.AgentService/ListAgents", flags=("-v",))
    assert refused.returncode != 0
    assert "ResourceExhausted" in refused.stderr and "RATE_LIMITED" in refused.stderr
    assert "RetryInfo" in refused.stderr and "QuotaFailure" in refused.stderr
    assert "retry-after" in refused.stdout + refused.stderr
    # The other method classes are not affected.
    created = grpcurl(two.address, "runwire.v1.AgentService/CreateAgent", data={"agent": {"display_name": "x"}})
    assert created.returncode == 0, created.stderr
