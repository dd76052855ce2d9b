"""`runwire tools` and `runwire mcp-servers`: the tools agents can call, and the MCP servers providing some of them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from google.protobuf import duration_pb2

from runwire.cli import output
from runwire.cli.resources import (
    NAME_COLUMN_WIDTH,
    TEXT_COLUMN_WIDTH,
    Api,
    _add_label_option,
    _add_list_options,
    _collect_pages,
    _deleted,
    _group,
    _label,
    _labels,
    _leaf,
    _list_options,
    _more_hint,
    _positive_float,
    _show,
    agent_name,
)
from runwire.v1 import mcp_server_pb2, tool_pb2


def mcp_server_name(text: str) -> str:
    return text if "/" in text else f"mcpServers/{text}"


def tool_name(text: str) -> str:
    """`tools/T`, `mcpServers/S/tools/T`, or a bare built-in tool name."""
    return text if "/" in text else f"tools/{text}"


# -- tools -------------------------------------------------------------------


def tools_list(args: argparse.Namespace, api: Api) -> int:
    options = _list_options(args)
    if args.agent:
        options["agent"] = agent_name(args.agent)
    response = _collect_pages(args, api.tools.list(**options), "tools")
    if args.json:
        output.print_json(response)
        return 0
    source = tool_pb2.Tool.DESCRIPTOR.fields_by_name["source"]
    rows = [
        [
            t.call_name,
            output.enum_label(source, t.source),
            "yes" if t.available else "no",
            "yes" if t.requires_approval else "no",
            output.cell(t.description, TEXT_COLUMN_WIDTH),
        ]
        for t in response.tools
    ]
    output.print_table(["CALL NAME", "SOURCE", "AVAILABLE", "APPROVAL", "DESCRIPTION"], rows)
    _more_hint(args, response)
    return 0


def tools_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.tools.get(tool_name(args.name)))
    return 0


# -- MCP servers ---------------------------------------------------------------


def _seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


def mcp_servers_register(args: argparse.Namespace, api: Api) -> int:
    server = mcp_server_pb2.McpServer(
        display_name=args.display_name,
        description=args.description or "",
        disabled=args.disabled,
        labels=_labels(args.label),
    )
    if args.command:
        server.stdio.CopyFrom(
            mcp_server_pb2.StdioTransport(command=args.command, args=args.arg or [], env=_labels(args.env), cwd=args.cwd or "")
        )
    else:
        server.http.CopyFrom(mcp_server_pb2.HttpTransport(url=args.url, headers=_labels(args.header)))
    if args.call_timeout:
        server.call_timeout.CopyFrom(_seconds(args.call_timeout))
    created = api.mcp_servers.create(
        server, mcp_server_id=args.id or "", request_id=args.request_id or "", validate_only=args.validate_only
    )
    _show(args, created)
    if args.validate_only and not args.json:
        print("validate only: the request is valid; nothing was registered", file=sys.stderr)
    return 0


def _server_rows(servers: Any) -> list[list[str]]:
    state = mcp_server_pb2.McpServer.DESCRIPTOR.fields_by_name["state"]
    return [
        [
            s.name,
            output.cell(s.display_name, NAME_COLUMN_WIDTH),
            s.WhichOneof("transport") or "",
            output.enum_label(state, s.state),
            str(len(s.tools)),
            output.cell(s.last_error.message, TEXT_COLUMN_WIDTH),
        ]
        for s in servers
    ]


def mcp_servers_list(args: argparse.Namespace, api: Api) -> int:
    response = _collect_pages(args, api.mcp_servers.list(**_list_options(args)), "mcp_servers")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(["NAME", "DISPLAY NAME", "TRANSPORT", "STATE", "TOOLS", "LAST ERROR"], _server_rows(response.mcp_servers))
        _more_hint(args, response)
    return 0


def mcp_servers_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.mcp_servers.get(mcp_server_name(args.name)))
    return 0


def mcp_servers_refresh(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.mcp_servers.refresh(mcp_server_name(args.name)))
    return 0


def mcp_servers_delete(args: argparse.Namespace, api: Api) -> int:
    name = mcp_server_name(args.name)
    _deleted(args, name, api.mcp_servers.delete(name, force=args.force, etag=args.etag or ""))
    return 0


# -- the parsers -------------------------------------------------------------------


def add_tool_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    tools = _group(commands, "tools", "list the tools agents can call", "List tools: built-in ones and those of MCP servers.")
    listing = _leaf(
        tools,
        "list",
        "list tools as a table (by call name)",
        tools_list,
        common,
        epilog="examples:\n  runwire tools list\n  runwire tools list --agent support\n  runwire tools list --filter 'source = MCP'",
    )
    listing.add_argument("--agent", metavar="AGENT", help="only the tools this agent may call (agents/ID or ID)")
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on source (BUILTIN, MCP), call_name, display_name, description, mcp_server, "
        "requires_approval, available; e.g. 'source = MCP AND available = true'",
    )
    get = _leaf(tools, "get", "show one tool with its JSON schemas", tools_get, common)
    get.add_argument("name", metavar="NAME", help="tools/TOOL, mcpServers/SERVER/tools/TOOL, or a built-in tool's name")

    servers = _group(
        commands, "mcp-servers", "register, show, list, refresh and delete MCP servers", "Manage MCP servers whose tools agents can call."
    )
    register = _leaf(
        servers,
        "register",
        "register an MCP server: a local command (admins only) or a Streamable HTTP URL",
        mcp_servers_register,
        common,
        epilog="examples:\n"
        "  runwire mcp-servers register --id files --display-name Files --command npx "
        "--arg=-y --arg @modelcontextprotocol/server-filesystem --arg /srv/shared\n"
        "  runwire mcp-servers register --id search --display-name Search --url https://mcp.example.com/mcp "
        "--header 'Authorization=Bearer ...'",
    )
    register.add_argument("--display-name", required=True, metavar="NAME", help="human-readable name, 1 to 200 characters")
    register.add_argument("--id", metavar="ID", help="the server's id (mcpServers/ID, tools called mcp.ID.TOOL); generated when omitted")
    register.add_argument("--description", metavar="TEXT", help="free text describing the server")
    transport = register.add_mutually_exclusive_group(required=True)
    transport.add_argument("--command", metavar="COMMAND", help="run this command and speak MCP over its stdin/stdout")
    transport.add_argument("--url", metavar="URL", help="an http:// or https:// Streamable HTTP endpoint")
    register.add_argument("--arg", action="append", metavar="ARG", help="an argument of --command (repeat; --arg=-x for dashes)")
    register.add_argument("--env", action="append", type=_label, metavar="KEY=VALUE", help="an environment variable of --command (repeat)")
    register.add_argument("--cwd", metavar="DIR", help="working directory of --command, an absolute path")
    register.add_argument("--header", action="append", type=_label, metavar="NAME=VALUE", help="an HTTP header sent to --url (repeat)")
    register.add_argument("--call-timeout", type=_positive_float, metavar="SECONDS", help="longest tool call or connection attempt (default 60)")
    register.add_argument("--disabled", action="store_true", help="register without connecting")
    _add_label_option(register)
    register.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")
    register.add_argument("--validate-only", action="store_true", help="check the request and show the result without registering it")

    listing = _leaf(servers, "list", "list MCP servers as a table (newest first by default)", mcp_servers_list, common)
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on display_name, state (CONNECTING, READY, ERROR, DISABLED), disabled, transport "
        "(stdio, http), owner, labels.KEY, create_time, update_time; e.g. 'state = ERROR'",
    )
    for name, help_text, behavior in (
        ("get", "show one MCP server with its state, last error and tools", mcp_servers_get),
        ("refresh", "reconnect an MCP server (restarting its process) and read its tools again", mcp_servers_refresh),
    ):
        leaf = _leaf(servers, name, help_text, behavior, common)
        leaf.add_argument("name", metavar="NAME", help="mcpServers/ID or ID")
    delete = _leaf(servers, "delete", "unregister an MCP server and stop its connection", mcp_servers_delete, common)
    delete.add_argument("name", metavar="NAME", help="mcpServers/ID or ID")
    delete.add_argument("--force", action="store_true", help="delete even when agents list tools of the server")
    delete.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the server still has this etag (quotes included)")
