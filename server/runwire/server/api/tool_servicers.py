"""Thin servicers of ToolService and McpServerService, with their proto <-> domain mapping."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from runwire.server.wire import convert
from runwire.server.api.calls import caller
from runwire.server.api.tool_convert import mcp_server_fields, mcp_server_proto, set_fields, tool_proto
from runwire.server.domain.mcp_servers import McpServerService
from runwire.server.domain.tools import ToolService
from runwire.v1 import mcp_server_pb2, mcp_server_pb2_grpc, tool_pb2, tool_pb2_grpc

EMPTY = empty_pb2.Empty()
# Leaves a moment of the caller's deadline to send the answer after waiting for a connection.
DEADLINE_MARGIN_SECONDS = 0.5


class ToolServicer(tool_pb2_grpc.ToolServiceServicer):
    def __init__(self, tools: ToolService) -> None:
        self.tools = tools

    async def ListTools(self, request: tool_pb2.ListToolsRequest, context) -> tool_pb2.ListToolsResponse:  # type: ignore[no-untyped-def]
        page = await self.tools.list(
            caller(),
            agent=request.agent,
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return tool_pb2.ListToolsResponse(
            tools=[tool_proto(t) for t in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def GetTool(self, request: tool_pb2.GetToolRequest, context) -> tool_pb2.Tool:  # type: ignore[no-untyped-def]
        return tool_proto(await self.tools.get(caller(), request.name))


class McpServerServicer(mcp_server_pb2_grpc.McpServerServiceServicer):
    def __init__(self, servers: McpServerService) -> None:
        self.servers = servers

    async def CreateMcpServer(self, request: mcp_server_pb2.CreateMcpServerRequest, context) -> mcp_server_pb2.McpServer:  # type: ignore[no-untyped-def]
        row = await self.servers.create(
            caller(),
            mcp_server_fields(request.mcp_server),
            mcp_server_id=request.mcp_server_id,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
            wait_seconds=_wait_seconds(context),
        )
        return mcp_server_proto(row)

    async def GetMcpServer(self, request: mcp_server_pb2.GetMcpServerRequest, context) -> mcp_server_pb2.McpServer:  # type: ignore[no-untyped-def]
        return mcp_server_proto(await self.servers.get(caller(), request.name))

    async def ListMcpServers(self, request: mcp_server_pb2.ListMcpServersRequest, context) -> mcp_server_pb2.ListMcpServersResponse:  # type: ignore[no-untyped-def]
        page = await self.servers.list(
            caller(),
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return mcp_server_pb2.ListMcpServersResponse(
            mcp_servers=[mcp_server_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateMcpServer(self, request: mcp_server_pb2.UpdateMcpServerRequest, context) -> mcp_server_pb2.McpServer:  # type: ignore[no-untyped-def]
        resource = request.mcp_server
        paths = list(request.update_mask.paths) or set_fields(resource)
        row = await self.servers.update(
            caller(),
            resource.name,
            mcp_server_fields(resource),
            paths,
            etag=resource.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
            wait_seconds=_wait_seconds(context),
        )
        return mcp_server_proto(row)

    async def DeleteMcpServer(self, request: mcp_server_pb2.DeleteMcpServerRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.servers.delete(
            caller(),
            request.name,
            etag=request.etag,
            force=request.force,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY

    async def RefreshMcpServer(self, request: mcp_server_pb2.RefreshMcpServerRequest, context) -> mcp_server_pb2.McpServer:  # type: ignore[no-untyped-def]
        row = await self.servers.refresh(
            caller(),
            request.name,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            wait_seconds=_wait_seconds(context),
        )
        return mcp_server_proto(row)


def _wait_seconds(context: Any) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(remaining - DEADLINE_MARGIN_SECONDS, 0.0)
