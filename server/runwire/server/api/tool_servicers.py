"""Thin servicers of ToolService and McpServerService, with their proto <-> domain mapping."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from runwire.server.api.calls import ServicerContext, caller
from runwire.server.api.options import list_query, write_options
from runwire.server.api.tool_convert import mcp_server_fields, set_fields
from runwire.server.domain.mcp_servers import McpServerService
from runwire.server.domain.tools import ToolService
from runwire.server.wire.tools import mcp_server_proto, tool_proto
from runwire.v1 import mcp_server_pb2, mcp_server_pb2_grpc, tool_pb2, tool_pb2_grpc

EMPTY = empty_pb2.Empty()
# Leaves a moment of the caller's deadline to send the answer after waiting for a connection.
DEADLINE_MARGIN_SECONDS = 0.5


class ToolServicer(tool_pb2_grpc.ToolServiceServicer):
    def __init__(self, tools: ToolService) -> None:
        self.tools = tools

    async def ListTools(self, request: tool_pb2.ListToolsRequest, context: ServicerContext) -> tool_pb2.ListToolsResponse:
        page = await self.tools.list(caller(), list_query(request), agent=request.agent)
        return tool_pb2.ListToolsResponse(
            tools=[tool_proto(t) for t in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def GetTool(self, request: tool_pb2.GetToolRequest, context: ServicerContext) -> tool_pb2.Tool:
        return tool_proto(await self.tools.get(caller(), request.name))


class McpServerServicer(mcp_server_pb2_grpc.McpServerServiceServicer):
    def __init__(self, servers: McpServerService) -> None:
        self.servers = servers

    async def CreateMcpServer(self, request: mcp_server_pb2.CreateMcpServerRequest, context: ServicerContext) -> mcp_server_pb2.McpServer:
        row = await self.servers.create(
            caller(),
            mcp_server_fields(request.mcp_server),
            write_options(request),
            mcp_server_id=request.mcp_server_id,
            wait_seconds=_wait_seconds(context),
        )
        return mcp_server_proto(row)

    async def GetMcpServer(self, request: mcp_server_pb2.GetMcpServerRequest, context: ServicerContext) -> mcp_server_pb2.McpServer:
        return mcp_server_proto(await self.servers.get(caller(), request.name))

    async def ListMcpServers(self, request: mcp_server_pb2.ListMcpServersRequest, context: ServicerContext) -> mcp_server_pb2.ListMcpServersResponse:
        page = await self.servers.list(caller(), list_query(request))
        return mcp_server_pb2.ListMcpServersResponse(
            mcp_servers=[mcp_server_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateMcpServer(self, request: mcp_server_pb2.UpdateMcpServerRequest, context: ServicerContext) -> mcp_server_pb2.McpServer:
        resource = request.mcp_server
        options = write_options(request, etag=resource.etag, update_mask=list(request.update_mask.paths) or set_fields(resource))
        fields = mcp_server_fields(resource)
        return mcp_server_proto(await self.servers.update(caller(), resource.name, fields, options, wait_seconds=_wait_seconds(context)))

    async def DeleteMcpServer(self, request: mcp_server_pb2.DeleteMcpServerRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.servers.delete(caller(), request.name, write_options(request))
        return EMPTY

    async def RefreshMcpServer(self, request: mcp_server_pb2.RefreshMcpServerRequest, context: ServicerContext) -> mcp_server_pb2.McpServer:
        row = await self.servers.refresh(caller(), request.name, write_options(request), wait_seconds=_wait_seconds(context))
        return mcp_server_proto(row)


def _wait_seconds(context: Any) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(remaining - DEADLINE_MARGIN_SECONDS, 0.0)
