"""`runwire tools` and `runwire mcp-servers`, run in-process against a real server with the fake MCP server over stdio."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from tests.cli.test_cli_resources import Result, table
from tests.grpc.mcp_support import REPO, mcp_settings, principal_for


@pytest.fixture
async def admin_server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    server = RunwireServer(mcp_settings(tmp_path), principal_for=principal_for)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
def cli(admin_server: RunwireServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("RUNWIRE_SERVER", raising=False)

    async def run(*argv: str) -> Result:
        capsys.readouterr()
        code = await asyncio.to_thread(main, [*argv, "--server", f"127.0.0.1:{admin_server.port}"])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


async def test_register_list_refresh_and_delete_an_mcp_server(cli) -> None:  # type: ignore[no-untyped-def]
    registered = await cli(
        "mcp-servers", "register", "--id", "fake", "--display-name", "Fake tools",
        "--command", sys.executable, "--arg=-m", "--arg", "tests.fakes.mcp_tools_server", "--cwd", str(REPO),
        "--env", "TOKEN=s3cret", "--json",
    )  # fmt: skip
    assert registered.code == 0, registered.err
    server = json.loads(registered.out)
    assert server["name"] == "mcpServers/fake" and server["state"] == "STATE_READY"
    assert server["stdio"]["env"] == {"TOKEN": "********"}

    listed = await cli("mcp-servers", "list")
    rows = table(listed.out)
    assert rows[0] == ["NAME", "DISPLAY NAME", "TRANSPORT", "STATE", "TOOLS", "LAST ERROR"]
    assert rows[1][:5] == ["mcpServers/fake", "Fake tools", "stdio", "READY", "7"]

    tools = await cli("tools", "list", "--filter", "source = MCP")
    assert [row[0] for row in table(tools.out)[1:]] == [
        "mcp.fake.add",
        "mcp.fake.boom",
        "mcp.fake.crash",
        "mcp.fake.describe",
        "mcp.fake.echo",
        "mcp.fake.exit_soon",
        "mcp.fake.wait",
    ]
    shown = await cli("tools", "get", "mcpServers/fake/tools/add", "--json")
    assert json.loads(shown.out)["parameters"]["required"] == ["a", "b"]
    described = await cli("tools", "get", "mcpServers/fake/tools/describe", "--json")
    assert re.search(r'"default": 42[,\n]', described.out) and json.loads(described.out)["parameters"]["properties"]["count"]["default"] == 42
    builtin = await cli("tools", "get", "calculator", "--json")
    assert json.loads(builtin.out)["source"] == "SOURCE_BUILTIN"

    refreshed = await cli("mcp-servers", "refresh", "fake", "--json")
    assert json.loads(refreshed.out)["state"] == "STATE_READY"

    deleted = await cli("mcp-servers", "delete", "fake")
    assert deleted.code == 0 and deleted.out.strip() == "deleted mcpServers/fake"
    missing = await cli("mcp-servers", "get", "fake")
    assert missing.code == 1 and "MCP_SERVER_NOT_FOUND" in missing.err


async def test_a_bad_registration_prints_the_field(cli) -> None:  # type: ignore[no-untyped-def]
    result = await cli("mcp-servers", "register", "--display-name", "x", "--url", "ftp://example.com/mcp")

    assert result.code == 1
    assert "mcp_server.http.url" in result.err
