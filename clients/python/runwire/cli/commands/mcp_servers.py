"""`runwire mcp-servers`: the MCP servers whose tools agents can call."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api
from runwire.cli.names import mcp_server_name
from runwire.v1 import mcp_server_pb2

_STATE_FIELD = mcp_server_pb2.McpServer.DESCRIPTOR.fields_by_name["state"]
_NAME_HELP = "mcpServers/ID or ID"


def mcp_servers_register(args: argparse.Namespace, api: Api) -> int:
    server = mcp_server_pb2.McpServer(
        display_name=args.display_name,
        description=args.description or "",
        disabled=args.disabled,
        labels=framework.labels(args.label),
    )
    if args.command:
        server.stdio.CopyFrom(
            mcp_server_pb2.StdioTransport(
                command=args.command, args=args.arg or [], env=framework.labels(args.env), cwd=args.cwd or ""
            )
        )
    else:
        server.http.CopyFrom(mcp_server_pb2.HttpTransport(url=args.url, headers=framework.labels(args.header)))
    if args.call_timeout:
        server.call_timeout.CopyFrom(framework.duration(args.call_timeout))
    created = api.mcp_servers.create(server, **framework.create_options(args, "mcp_server_id"))
    return framework.show_created(args, created, verb="registered")


def _server_row(s: mcp_server_pb2.McpServer) -> list[str]:
    return [
        s.name,
        output.cell(s.display_name, framework.NAME_COLUMN_WIDTH),
        s.WhichOneof("transport") or "",
        output.enum_label(_STATE_FIELD, s.state),
        str(len(s.tools)),
        output.cell(s.last_error.message, framework.TEXT_COLUMN_WIDTH),
    ]


def mcp_servers_list(args: argparse.Namespace, api: Api) -> int:
    headers = ["NAME", "DISPLAY NAME", "TRANSPORT", "STATE", "TOOLS", "LAST ERROR"]
    return framework.print_pages(args, api.mcp_servers.list(**framework.list_options(args)), "mcp_servers", headers, _server_row)


def mcp_servers_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.mcp_servers.get(mcp_server_name(args.name)))


def mcp_servers_refresh(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.mcp_servers.refresh(mcp_server_name(args.name)))


def mcp_servers_delete(args: argparse.Namespace, api: Api) -> int:
    name = mcp_server_name(args.name)
    return framework.deleted(args, name, api.mcp_servers.delete(name, force=args.force, etag=args.etag or ""))


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    servers = framework.group(
        commands, "mcp-servers", "register, show, list, refresh and delete MCP servers", "Manage MCP servers whose tools agents can call."
    )
    register = framework.leaf(
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
    register.add_argument(
        "--env", action="append", type=arguments.label, metavar="KEY=VALUE", help="an environment variable of --command (repeat)"
    )
    register.add_argument("--cwd", metavar="DIR", help="working directory of --command, an absolute path")
    register.add_argument(
        "--header", action="append", type=arguments.label, metavar="NAME=VALUE", help="an HTTP header sent to --url (repeat)"
    )
    register.add_argument(
        "--call-timeout", type=arguments.positive_number, metavar="SECONDS", help="longest tool call or connection attempt (default 60)"
    )
    register.add_argument("--disabled", action="store_true", help="register without connecting")
    framework.add_label_option(register)
    framework.add_create_options(register, verb="registering")

    listing = framework.leaf(servers, "list", "list MCP servers as a table (newest first by default)", mcp_servers_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on display_name, state (CONNECTING, READY, ERROR, DISABLED), disabled, transport "
        "(stdio, http), owner, labels.KEY, create_time, update_time; e.g. 'state = ERROR'",
    )
    for name, help_text, behavior in (
        ("get", "show one MCP server with its state, last error and tools", mcp_servers_get),
        ("refresh", "reconnect an MCP server (restarting its process) and read its tools again", mcp_servers_refresh),
    ):
        leaf = framework.leaf(servers, name, help_text, behavior, common)
        framework.add_name_argument(leaf, _NAME_HELP)
    delete = framework.leaf(servers, "delete", "unregister an MCP server and stop its connection", mcp_servers_delete, common)
    framework.add_delete_options(delete, "server", _NAME_HELP, "delete even when agents list tools of the server")
