"""Tools and MCP servers: one method per RPC, the same for both clients (see resources.py for the conventions)."""

from __future__ import annotations

from typing import Any, Sequence

from google.protobuf import field_mask_pb2

from runwire.client.resources import _mask, _Resource, _split
from runwire.v1 import mcp_server_pb2, mcp_server_pb2_grpc, tool_pb2, tool_pb2_grpc


class Tools(_Resource):
    stub_class = tool_pb2_grpc.ToolServiceStub

    def list(self, **fields: Any) -> Any:
        """A pager over ListTools; `agent=`, `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListTools", tool_pb2.ListToolsRequest(**fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetTool", tool_pb2.GetToolRequest(name=name), options)


class McpServers(_Resource):
    stub_class = mcp_server_pb2_grpc.McpServerServiceStub

    def create(self, mcp_server: mcp_server_pb2.McpServer, **fields: Any) -> Any:
        """CreateMcpServer; `mcp_server_id=`, `request_id=`, `validate_only=` among the fields."""
        fields, options = _split(fields)
        return self._call("CreateMcpServer", mcp_server_pb2.CreateMcpServerRequest(mcp_server=mcp_server, **fields), options)

    def get(self, name: str, **options: Any) -> Any:
        return self._call("GetMcpServer", mcp_server_pb2.GetMcpServerRequest(name=name), options)

    def list(self, **fields: Any) -> Any:
        """A pager over ListMcpServers; `filter=`, `order_by=`, `page_size=`, `page_token=`."""
        fields, options = _split(fields)
        return self._pages("ListMcpServers", mcp_server_pb2.ListMcpServersRequest(**fields), options)

    def update(
        self, mcp_server: mcp_server_pb2.McpServer, update_mask: Sequence[str] | field_mask_pb2.FieldMask, **fields: Any
    ) -> Any:
        fields, options = _split(fields)
        request = mcp_server_pb2.UpdateMcpServerRequest(mcp_server=mcp_server, update_mask=_mask(update_mask), **fields)
        return self._call("UpdateMcpServer", request, options)

    def delete(self, name: str, **fields: Any) -> Any:
        """DeleteMcpServer; `force=`, `etag=`, `allow_missing=` among the fields."""
        fields, options = _split(fields)
        return self._call("DeleteMcpServer", mcp_server_pb2.DeleteMcpServerRequest(name=name, **fields), options)

    def refresh(self, name: str, **fields: Any) -> Any:
        """RefreshMcpServer: reconnect and read the tool list again."""
        fields, options = _split(fields)
        return self._call("RefreshMcpServer", mcp_server_pb2.RefreshMcpServerRequest(name=name, **fields), options)
