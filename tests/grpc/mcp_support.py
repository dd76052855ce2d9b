"""Support for the MCP tests: the fake MCP server as a stdio transport, an admin caller, quick reconnects."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from runwire.server.config import McpSettings, NetworkSettings, RunSettings, Settings
from runwire.server.core.principal import Principal
from runwire.v1 import mcp_server_pb2
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]
McpServer = mcp_server_pb2.McpServer
READY, ERROR, CONNECTING, DISABLED = McpServer.STATE_READY, McpServer.STATE_ERROR, McpServer.STATE_CONNECTING, McpServer.STATE_DISABLED
WAIT = 30.0


def fake_stdio(**env: str) -> mcp_server_pb2.StdioTransport:
    """The fake MCP server as a stdio command."""
    return mcp_server_pb2.StdioTransport(
        command=sys.executable, args=["-m", "tests.fakes.mcp_tools_server"], cwd=str(REPO), env=env
    )


def principal_for(context: Any) -> Principal:
    """Callers are the admin unless they send `x-test-principal`, which makes them that ordinary user."""
    metadata = dict(context.invocation_metadata() or ())
    user = metadata.get("x-test-principal")
    return Principal(id=user) if user else Principal(id="admin", is_admin=True)


def mcp_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path)
    return dataclasses.replace(
        settings,
        runs=RunSettings(builtin_tokens_per_second=0, provider_retry_base_seconds=0.01),
        mcp=McpSettings(mcp_restart_backoff_seconds=0.05, mcp_restart_backoff_max_seconds=0.5, mcp_health_check_seconds=1.0),
        # The HTTP fake listens on loopback, which the egress policy refuses unless allowed.
        network=NetworkSettings(egress_allowed_destinations=("127.0.0.1",)),
    )
