"""`runwire tools`: the tools agents can call, built-in ones and those of MCP servers."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import framework, output
from runwire.cli.framework import Api
from runwire.cli.names import agent_name, tool_name
from runwire.v1 import tool_pb2

_SOURCE_FIELD = tool_pb2.Tool.DESCRIPTOR.fields_by_name["source"]


def _tool_row(t: tool_pb2.Tool) -> list[str]:
    return [
        t.call_name,
        output.enum_label(_SOURCE_FIELD, t.source),
        "yes" if t.available else "no",
        "yes" if t.requires_approval else "no",
        output.cell(t.description, framework.TEXT_COLUMN_WIDTH),
    ]


def tools_list(args: argparse.Namespace, api: Api) -> int:
    options = framework.list_options(args)
    if args.agent:
        options["agent"] = agent_name(args.agent)
    headers = ["CALL NAME", "SOURCE", "AVAILABLE", "APPROVAL", "DESCRIPTION"]
    return framework.print_pages(args, api.tools.list(**options), "tools", headers, _tool_row)


def tools_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.tools.get(tool_name(args.name)))


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    tools = framework.group(commands, "tools", "list the tools agents can call", "List tools: built-in ones and those of MCP servers.")
    listing = framework.leaf(
        tools,
        "list",
        "list tools as a table (by call name)",
        tools_list,
        common,
        epilog="examples:\n  runwire tools list\n  runwire tools list --agent support\n  runwire tools list --filter 'source = MCP'",
    )
    listing.add_argument("--agent", metavar="AGENT", help="only the tools this agent may call (agents/ID or ID)")
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on source (BUILTIN, MCP), call_name, display_name, description, mcp_server, "
        "requires_approval, available; e.g. 'source = MCP AND available = true'",
    )
    get = framework.leaf(tools, "get", "show one tool with its JSON schemas", tools_get, common)
    framework.add_name_argument(get, "tools/TOOL, mcpServers/SERVER/tools/TOOL, or a built-in tool's name")
