"""Thin servicers of ToolService and McpServerService, with their proto <-> domain mapping."""

from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from runwire.server.api import convert
from runwire.server.api.calls import caller
from runwire.server.domain import names
from runwire.server.domain.common import etag_of
from runwire.server.domain.mcp_servers import SECRET_PLACEHOLDER, McpServerService
from runwire.server.domain.tools import ToolService, ToolSource, ToolView
from runwire.server.engine.mcp import McpToolInfo, call_name
from runwire.server.store.models import McpServerRow
from runwire.v1 import common_pb2, mcp_server_pb2, mcp_server_pb2_grpc, tool_pb2, tool_pb2_grpc

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
        paths = list(request.update_mask.paths) or _set_fields(resource)
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


_OUTPUT_ONLY = frozenset(
    {
        "name", "etag", "state", "last_error", "last_error_time", "restart_count", "ready_time", "tools",
        "protocol_version", "server_version", "owner", "create_time", "update_time",
    }
)


def _set_fields(resource: mcp_server_pb2.McpServer) -> list[str]:
    """AIP-134: an empty mask means every field set in the resource."""
    return [f.name for f, _ in resource.ListFields() if f.name not in _OUTPUT_ONLY]


# -- mapping --------------------------------------------------------------------


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


def mcp_server_proto(row: McpServerRow) -> mcp_server_pb2.McpServer:
    transport = row.transport or {}
    server = mcp_server_pb2.McpServer(
        name=names.MCP_SERVER.format(row.id),
        display_name=row.display_name,
        description=row.description,
        disabled=row.disabled,
        state=row.state,
        restart_count=row.restart_count,
        ready_time=convert.timestamp(row.ready_time),
        call_timeout=convert.duration(row.call_timeout_seconds),
        protocol_version=row.protocol_version,
        server_version=row.server_version,
        labels=row.labels or {},
        owner=row.owner,
        create_time=convert.timestamp(row.create_time),
        update_time=convert.timestamp(row.update_time),
        etag=etag_of("mcpServer", row.id, row.revision),
    )
    if "stdio" in transport:
        stdio = transport["stdio"]
        server.stdio.CopyFrom(
            mcp_server_pb2.StdioTransport(
                command=stdio.get("command", ""),
                args=list(stdio.get("args") or []),
                env={key: SECRET_PLACEHOLDER for key in stdio.get("env") or {}},
                cwd=stdio.get("cwd") or "",
            )
        )
    elif "http" in transport:
        http = transport["http"]
        server.http.CopyFrom(
            mcp_server_pb2.HttpTransport(
                url=http.get("url", ""), headers={key: SECRET_PLACEHOLDER for key in http.get("headers") or {}}
            )
        )
    if row.last_error:
        server.last_error.CopyFrom(
            common_pb2.Failure(reason=row.last_error.get("reason", ""), message=row.last_error.get("message", ""))
        )
        if row.last_error_time is not None:
            server.last_error_time.CopyFrom(convert.timestamp(row.last_error_time))
    ready = row.state == 2
    for data in row.tools or []:
        info = McpToolInfo.from_json(data)
        server.tools.append(
            tool_proto(
                ToolView(
                    name=f"{server.name}/tools/{info.name}",
                    call_name=call_name(row.id, info.name),
                    display_name=info.title or info.name,
                    description=info.description,
                    parameters=info.input_schema,
                    output_schema=info.output_schema,
                    source=ToolSource.MCP,
                    mcp_server=server.name,
                    requires_approval=False,
                    available=ready,
                    update_time=row.tools_time,
                )
            )
        )
    return server


def tool_proto(tool: ToolView) -> tool_pb2.Tool:
    return tool_pb2.Tool(
        name=tool.name,
        call_name=tool.call_name,
        display_name=tool.display_name,
        description=tool.description,
        parameters=convert.dict_to_struct(dict(tool.parameters)),
        output_schema=convert.dict_to_struct(dict(tool.output_schema)) if tool.output_schema else None,
        source=int(tool.source),
        mcp_server=tool.mcp_server,
        requires_approval=tool.requires_approval,
        available=tool.available,
        update_time=convert.timestamp(tool.update_time),
    )
