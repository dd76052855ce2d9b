"""`runwire admin`: describe the server and who is connected (admins)."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import framework, output
from runwire.cli.framework import Api
from runwire.v1 import admin_pb2, admin_pb2_grpc


def _admin(api: Api) -> Any:
    return api.service(admin_pb2_grpc.AdminServiceStub)


def admin_info(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _admin(api).GetServerInfo(admin_pb2.GetServerInfoRequest()))


def admin_streams(args: argparse.Namespace, api: Api) -> int:
    request = admin_pb2.ListStreamsRequest(**framework.list_options(args))
    return framework.print_pages(
        args,
        api.pager(_admin(api).ListStreams, request, "streams"),
        "streams",
        ["ID", "METHOD", "PRINCIPAL", "FOLLOWS", "STARTED", "SENT"],
        lambda s: [
            s.id,
            s.method.rpartition("/")[2],
            s.principal,
            s.follows or "-",
            output.timestamp_text(s, "start_time"),
            str(s.messages_sent),
        ],
    )


def admin_connections(args: argparse.Namespace, api: Api) -> int:
    request = admin_pb2.ListConnectionsRequest(**framework.list_options(args))
    return framework.print_pages(
        args,
        api.pager(_admin(api).ListConnections, request, "connections"),
        "connections",
        ["ID", "PRINCIPAL", "PEER", "CONNECTED", "SENT"],
        lambda c: [c.id, c.principal, c.peer, output.timestamp_text(c, "connect_time"), str(c.messages_sent)],
    )


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "admin", "describe the server and who is connected (admins)", "Operate the server.")
    framework.leaf(group, "info", "show version, uptime, backends, providers and counts", admin_info, common)
    streams = framework.leaf(group, "streams", "list the open streaming calls", admin_streams, common)
    framework.add_list_options(streams, filter_help="AIP-160 filter on method, principal, peer, replica, follows, start_time")
    connections = framework.leaf(group, "connections", "list the open Connect streams", admin_connections, common)
    framework.add_list_options(connections, filter_help="AIP-160 filter on principal, peer, replica, client_name, connect_time")
