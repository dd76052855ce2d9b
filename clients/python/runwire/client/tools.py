"""Tools and MCP servers: one method per RPC, the same for both clients (see resources.py for the conventions)."""

from __future__ import annotations

from typing import Any

from runwire.client.resources import _Resource, _StandardMethods
from runwire.v1 import mcp_server_pb2, mcp_server_pb2_grpc, tool_pb2, tool_pb2_grpc


class Tools(_Resource):
    stub_class = tool_pb2_grpc.ToolServiceStub
    messages = tool_pb2

    def list(self, **fields: Any) -> Any:
        """A pager over ListTools; `agent=`, `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        return self._send_paged("ListTools", fields)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetTool", self._request("GetTool", {"name": name}), options)


class McpServers(_StandardMethods):
    stub_class = mcp_server_pb2_grpc.McpServerServiceStub
    messages = mcp_server_pb2
    singular, plural = "McpServer", "McpServers"

    def refresh(self, name: str, **fields: Any) -> Any:
        """RefreshMcpServer: reconnect and read the tool list again."""
        return self._send("RefreshMcpServer", fields, name=name)
