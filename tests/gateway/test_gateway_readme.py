"""The README's curl commands for the gateway run as written."""

from __future__ import annotations

import os
import subprocess

import httpx
from gateway_stack import Stack

from tests import doc_blocks

README_GATEWAY = "http://127.0.0.1:8080"


def _readme_curl_block() -> str:
    return doc_blocks.named("curl").body


def test_readme_curl_commands_run(stack: Stack, rest: httpx.Client) -> None:
    agent = rest.post("/v1/agents", json={"displayName": "README agent"}).json()["name"]
    session = rest.post("/v1/sessions", json={"agent": agent}).json()["name"]
    script = "set -euo pipefail\n" + _readme_curl_block().replace(README_GATEWAY, stack.base_url)
    result = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "RUNWIRE_API_KEY": stack.admin_key, "AGENT": agent, "SESSION": session},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"Support desk"' in out
    assert '"Help desk"' in out
    assert '"runCompleted"' in out
    assert "data: {" in out
    assert "AGENT_NOT_FOUND" in out
    assert rest.get(f"/v1/{agent}").json()["displayName"] == "Help desk"
