"""Requests to domain fields for MCP servers (the mapping of tools and MCP servers to protos is wire.tools)."""

from __future__ import annotations

from typing import Any

from runwire.server.wire import convert
from runwire.v1 import mcp_server_pb2

_OUTPUT_ONLY = frozenset(
    {
        "name", "etag", "state", "last_error", "last_error_time", "restart_count", "ready_time", "tools",
        "protocol_version", "server_version", "owner", "create_time", "update_time",
    }
)


def set_fields(resource: mcp_server_pb2.McpServer) -> list[str]:
    """AIP-134: an empty mask means every field set in the resource."""
    return [f.name for f, _ in resource.ListFields() if f.name not in _OUTPUT_ONLY]


def mcp_server_fields(server: mcp_server_pb2.McpServer) -> dict[str, Any]:
    transport: dict[str, Any] = {}
    stdio: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    if server.HasField("stdio"):
        stdio = {
            "command": server.stdio.command,
            "args": list(server.stdio.args),
            "env": dict(server.stdio.env),
            "cwd": server.stdio.cwd,
        }
        transport = {"stdio": stdio}
    elif server.HasField("http"):
        http = {"url": server.http.url, "headers": dict(server.http.headers)}
        transport = {"http": http}
    return {
        "display_name": server.display_name,
        "description": server.description,
        "transport": transport,
        "stdio": stdio,
        "http": http,
        "disabled": server.disabled,
        "call_timeout": convert.seconds(server.call_timeout),
        "labels": dict(server.labels),
    }
