"""`runwire sessions`: create, show, list, change and delete sessions."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api
from runwire.cli.names import agent_name, session_name
from runwire.v1 import session_pb2

_NAME_HELP = "sessions/ID or ID"


def sessions_create(args: argparse.Namespace, api: Api) -> int:
    session = session_pb2.Session(
        agent=agent_name(args.agent), display_name=args.display_name or "", labels=framework.labels(args.label)
    )
    if args.ttl is not None:
        session.ttl.CopyFrom(framework.duration(args.ttl))
    return framework.show_created(args, api.sessions.create(session, **framework.create_options(args, "session_id")))


def sessions_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.sessions.get(session_name(args.name)))


def _session_row(s: Any) -> list[str]:
    return [
        s.name,
        s.agent,
        output.cell(s.display_name, framework.NAME_COLUMN_WIDTH),
        str(s.message_count),
        output.timestamp_text(s, "expire_time"),
    ]


def sessions_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.sessions.list(**framework.list_options(args))
    return framework.print_pages(args, pager, "sessions", ["NAME", "AGENT", "DISPLAY NAME", "MESSAGES", "EXPIRES"], _session_row)


def sessions_update(args: argparse.Namespace, api: Api) -> int:
    session = session_pb2.Session(name=session_name(args.name), etag=args.etag or "")
    paths: list[str] = []
    if args.display_name is not None:
        session.display_name = args.display_name
        paths.append("display_name")
    if args.ttl is not None:
        session.ttl.CopyFrom(framework.duration(args.ttl))
        paths.append("ttl")
    if args.label is not None or args.clear_labels:
        session.labels.update(framework.labels(args.label))
        paths.append("labels")
    if not paths:
        framework.nothing_to_update(args, "--display-name, --ttl, --label, --clear-labels")
    return framework.show(args, api.sessions.update(session, paths, validate_only=args.validate_only))


def sessions_delete(args: argparse.Namespace, api: Api) -> int:
    name = session_name(args.name)
    return framework.deleted(args, name, api.sessions.delete(name, force=args.force, etag=args.etag or ""))


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(
        commands, "sessions", "create, show, list, change and delete sessions", "Manage sessions (conversations with an agent)."
    )

    create = framework.leaf(
        group,
        "create",
        "create a session with an agent",
        sessions_create,
        common,
        epilog="example:\n  runwire sessions create --agent support --display-name 'Ticket 42' --ttl 3600",
    )
    create.add_argument("--agent", required=True, metavar="AGENT", help="the agent to talk to: agents/ID or ID")
    create.add_argument("--id", metavar="ID", help="the session's id (sessions/ID): 4-63 of [a-z0-9-]; generated when omitted")
    create.add_argument("--display-name", metavar="NAME", help="human-readable name, up to 200 characters")
    create.add_argument(
        "--ttl", type=arguments.positive_number, metavar="SECONDS", help="delete the session this many seconds from now"
    )
    framework.add_label_option(create)
    framework.add_create_options(create)

    get = framework.leaf(group, "get", "show one session", sessions_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list sessions as a table (newest first by default)", sessions_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on agent, display_name, labels.KEY, message_count, create_time, update_time, "
        "expire_time; e.g. 'agent = \"agents/support\"'",
    )

    update = framework.leaf(group, "update", "change a session; only the fields given are changed", sessions_update, common)
    framework.add_name_argument(update, _NAME_HELP)
    update.add_argument("--display-name", metavar="NAME", help="new human-readable name ('' clears it)")
    update.add_argument("--ttl", type=arguments.positive_number, metavar="SECONDS", help="expire this many seconds from now")
    framework.add_label_option(update, replaces=True)
    framework.add_update_options(update, "session")

    delete = framework.leaf(group, "delete", "delete a session", sessions_delete, common)
    framework.add_delete_options(delete, "session", _NAME_HELP, "also delete the session's messages")
