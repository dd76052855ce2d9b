"""`runwire serve --log-format json` as its own process: every line on stderr is JSON, background work logs
without the request id of the call that started it, and MCP pings are DEBUG lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_serve_grpcurl import ServeProcess, grpcurl

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _json_lines(log: str) -> list[dict]:
    """The log's lines, each of which must be JSON, but for the bootstrap/insecure banner, which is meant for a person."""
    banner = False
    records = []
    for line in log.splitlines():
        if line.startswith("====="):
            banner = not banner
            continue
        if banner or not line.strip():
            continue
        records.append(json.loads(line))  # fails on any plain-text line
    return records


def test_json_logs_are_json_and_background_work_has_no_call_context(tmp_path: Path) -> None:
    port_file = tmp_path / "mcp.port"
    mcp = subprocess.Popen([sys.executable, "-m", "tests.fakes.mcp_tools_server", "--http", str(port_file)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve = None
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert time.monotonic() < deadline and mcp.poll() is None, "the MCP server did not start"
            time.sleep(0.05)
        serve = ServeProcess(tmp_path / "data", "--log-format", "json", "--log-level", "DEBUG",
                             env={"RUNWIRE_MCP_HEALTH_CHECK_SECONDS": "1", "RUNWIRE_EGRESS_ALLOWED_DESTINATIONS": "127.0.0.1"})
        created = grpcurl(serve.address, "runwire.v1.McpServerService/CreateMcpServer", data={
            "mcp_server_id": "calc", "mcp_server": {"display_name": "Calc", "http": {"url": f"http://127.0.0.1:{port_file.read_text()}/mcp"}}})
        assert created.returncode == 0, created.stderr
        # Files are processed in worker processes: forking is what makes gRPC core write its own lines.
        for index in range(2):
            document = tmp_path / f"note-{index}.txt"
            document.write_text("a note\n")
            uploaded = subprocess.run(
                [sys.executable, "-m", "runwire.cli.main", "files", "upload", str(document), "--wait", "--no-progress",
                 "--server", serve.address, "--api-key", "rw_e2eAdminKey" + "0" * 29],
                capture_output=True, text=True, timeout=60,
            )
            assert uploaded.returncode == 0, uploaded.stderr
        while sum('"logger": "httpx2"' in line for line in serve.log.read_text().splitlines()) < 4:  # pings
            assert time.monotonic() < deadline + 30, serve.log.read_text()
            time.sleep(0.2)
    finally:
        if serve is not None:
            assert serve.stop() == 0
        mcp.terminate()
        mcp.wait(timeout=10)
    records = _json_lines(serve.log.read_text())
    create_call = next(r["request_id"] for r in records if r.get("method", "").endswith("/CreateMcpServer"))
    pings = [r for r in records if r["logger"] == "httpx2"]
    assert pings and all(r["level"] == "DEBUG" for r in pings)
    # The call ended long before the pings: they are background work, not the call's.
    late = [r for r in records if r["logger"].startswith(("httpx", "runwire.mcp")) and r.get("request_id") == create_call]
    assert not [r for r in late if r["logger"] == "httpx2"], late
