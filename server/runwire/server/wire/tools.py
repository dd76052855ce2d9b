"""Tools and MCP servers as protos (an MCP server's transport secrets masked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from google.protobuf import struct_pb2

from runwire.server.core import names
from runwire.server.core.etags import etag_of
from runwire.server.core.mcp import SECRET_PLACEHOLDER, McpToolInfo, call_name, mask_url
from runwire.server.core.statuses import McpState, ToolSource
from runwire.server.store.models import McpServerRow
from runwire.server.wire import convert, json_values
from runwire.v1 import common_pb2, mcp_server_pb2, tool_pb2


@dataclass(frozen=True)
class ToolView:
    """A tool as callers see it, built-in or from an MCP server."""

    name: str
    call_name: str
    display_name: str
    description: str
    parameters: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None
    source: ToolSource
    mcp_server: str
    requires_approval: bool
    available: bool
    update_time: datetime | None


def mcp_server_proto(row: McpServerRow) -> mcp_server_pb2.McpServer:
    transport = row.transport or {}
    server = mcp_server_pb2.McpServer(
        name=names.MCP_SERVER.format(row.id),
        display_name=row.display_name,
        description=row.description,
        disabled=row.disabled,
        state=mcp_server_pb2.McpServer.State.ValueType(row.state),
        restart_count=row.restart_count,
        ready_time=convert.timestamp(row.ready_time),
        call_timeout=convert.duration(row.call_timeout_seconds),
        protocol_version=row.protocol_version,
        server_version=row.server_version,
        labels=row.labels or {},
        owner=row.owner,
        create_time=convert.timestamp(row.create_time),
        update_time=convert.timestamp(row.update_time),
        etag=etag_of("mcpServer", row.id, row.revision, row.incarnation),
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
                url=mask_url(http.get("url", "")), headers={key: SECRET_PLACEHOLDER for key in http.get("headers") or {}}
            )
        )
    if row.last_error:
        server.last_error.CopyFrom(
            common_pb2.Failure(reason=row.last_error.get("reason", ""), message=row.last_error.get("message", ""))
        )
        if row.last_error_time is not None:
            server.last_error_time.CopyFrom(convert.timestamp(row.last_error_time))
    server.tools.extend(tool_proto(view) for view in mcp_tool_views(row, available=row.state == McpState.READY))
    return server


def mcp_tool_views(row: McpServerRow, *, available: bool) -> list[ToolView]:
    """The tools an MCP server listed at its last connection."""
    server = names.MCP_SERVER.format(row.id)
    views = []
    for data in row.tools or []:
        info = McpToolInfo.from_json(data)
        views.append(
            ToolView(
                name=f"{server}/tools/{info.name}",
                call_name=call_name(row.id, info.name),
                display_name=info.title or info.name,
                description=info.description,
                parameters=info.input_schema,
                output_schema=info.output_schema,
                source=ToolSource.MCP,
                mcp_server=server,
                requires_approval=False,
                available=available,
                update_time=row.tools_time,
            )
        )
    return views


def tool_proto(tool: ToolView) -> tool_pb2.Tool:
    return tool_pb2.Tool(
        name=tool.name,
        call_name=tool.call_name,
        display_name=tool.display_name,
        description=tool.description,
        parameters=_schema_struct(tool.parameters) or convert.dict_to_struct({"type": "object"}),
        output_schema=_schema_struct(tool.output_schema),
        source=tool_pb2.Tool.Source.ValueType(tool.source),
        mcp_server=tool.mcp_server,
        requires_approval=tool.requires_approval,
        available=tool.available,
        update_time=convert.timestamp(tool.update_time),
    )


def _schema_struct(schema: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    """A schema as a Struct; one a Struct cannot carry (stored before MCP schemas were checked) is left out."""
    if not schema:
        return None
    try:
        return json_values.to_struct(schema)
    except json_values.JsonValueError:
        return None
