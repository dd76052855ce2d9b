"""`runwire messages`: add, show, list, search, change and delete the messages of sessions."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api
from runwire.cli.names import message_argument, message_name, session_name
from runwire.v1 import common_pb2, message_pb2

ROLES = {
    "user": message_pb2.Message.ROLE_USER,
    "assistant": message_pb2.Message.ROLE_ASSISTANT,
    "system": message_pb2.Message.ROLE_SYSTEM,
    "tool": message_pb2.Message.ROLE_TOOL,
}
_ROLE_FIELD = message_pb2.Message.DESCRIPTOR.fields_by_name["role"]
_ROLE_METAVAR = "user|assistant|system|tool"
_NAME_HELP = "sessions/S/messages/M or S/M"
_SESSIONS_HELP = "sessions/ID or ID, or - for every session"


def _role_text(role: int) -> str:
    return output.enum_label(_ROLE_FIELD, role)


def messages_create(args: argparse.Namespace, api: Api) -> int:
    parent = session_name(args.session)
    message = message_pb2.Message(
        role=args.role, content=[common_pb2.ContentPart(text=args.text)], labels=framework.labels(args.label)
    )
    if args.parent:
        try:
            message.parent_message = message_name(args.parent, parent)
        except argparse.ArgumentTypeError as exc:
            args.parser.error(f"argument --parent: {exc}")
    return framework.show_created(args, api.messages.create(parent, message, **framework.create_options(args, "message_id")))


def messages_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.messages.get(args.name))


def messages_list(args: argparse.Namespace, api: Api) -> int:
    filter_text = (args.filter or "").strip()
    if args.role is not None:
        role = f"role = {_role_text(args.role)}"
        filter_text = f"{role} AND ({filter_text})" if filter_text else role
    pager = api.messages.list(session_name(args.session), **{**framework.list_options(args), "filter": filter_text})
    return framework.print_pages(
        args,
        pager,
        "messages",
        ["NAME", "ROLE", "CREATED", "TEXT"],
        lambda m: [
            m.name,
            _role_text(m.role),
            output.timestamp_text(m, "create_time"),
            output.cell(m.text, framework.TEXT_COLUMN_WIDTH),
        ],
    )


def messages_search(args: argparse.Namespace, api: Api) -> int:
    pager = api.messages.search(
        session_name(args.session), args.query, page_size=args.page_size or 0, page_token=args.page_token or ""
    )
    return framework.print_pages(
        args,
        pager,
        "results",
        ["NAME", "ROLE", "SNIPPET"],
        lambda r: [r.message.name, _role_text(r.message.role), output.cell(r.snippet, framework.TEXT_COLUMN_WIDTH)],
    )


def messages_update(args: argparse.Namespace, api: Api) -> int:
    message = message_pb2.Message(name=args.name, etag=args.etag or "")
    paths: list[str] = []
    if args.text is not None:
        message.content.append(common_pb2.ContentPart(text=args.text))
        paths.append("content")
    if args.label is not None or args.clear_labels:
        message.labels.update(framework.labels(args.label))
        paths.append("labels")
    if not paths:
        framework.nothing_to_update(args, "--text, --label, --clear-labels")
    return framework.show(args, api.messages.update(message, paths, validate_only=args.validate_only))


def messages_delete(args: argparse.Namespace, api: Api) -> int:
    return framework.deleted(args, args.name, api.messages.delete(args.name, force=args.force, etag=args.etag or ""))


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(
        commands, "messages", "add, show, list, search, change and delete messages", "Manage the messages of sessions."
    )

    create = framework.leaf(
        group,
        "create",
        "add a text message to a session",
        messages_create,
        common,
        epilog="example:\n  runwire messages create ticket-42 --role user --text 'Where is my order?'",
    )
    create.add_argument("session", metavar="SESSION", help="sessions/ID or ID")
    create.add_argument(
        "--role", required=True, type=arguments.choice(ROLES, "role"), metavar=_ROLE_METAVAR, help="who wrote the message"
    )
    create.add_argument("--text", required=True, metavar="TEXT", help="the message's text")
    create.add_argument(
        "--parent", metavar="MESSAGE", help="the message this one replies to: its full name, S/M, or its id in SESSION"
    )
    create.add_argument("--id", metavar="ID", help="the message's id; generated when omitted")
    framework.add_label_option(create)
    framework.add_create_options(create)

    get = framework.leaf(group, "get", "show one message", messages_get, common)
    framework.add_name_argument(get, _NAME_HELP, type=message_argument)

    listing = framework.leaf(
        group, "list", "list the messages of a session as a table (oldest first by default)", messages_list, common
    )
    listing.add_argument("session", metavar="SESSION", help=_SESSIONS_HELP)
    listing.add_argument(
        "--role",
        type=arguments.choice(ROLES, "role"),
        metavar=_ROLE_METAVAR,
        help="only messages of this role (added to --filter)",
    )
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on role, text, parent_message, run, labels.KEY, create_time, update_time; "
        "e.g. 'text:\"refund\"'",
    )

    search = framework.leaf(
        group, "search", "search message text (every word must appear), newest matches first", messages_search, common
    )
    search.add_argument("session", metavar="SESSION", help=_SESSIONS_HELP)
    search.add_argument("query", metavar="QUERY", help="words that must all appear in a message (case-insensitive)")
    framework.add_list_options(search, order=False)

    update = framework.leaf(group, "update", "change a message's text or labels", messages_update, common)
    framework.add_name_argument(update, _NAME_HELP, type=message_argument)
    update.add_argument("--text", metavar="TEXT", help="the new text; replaces the whole content of the message")
    framework.add_label_option(update, replaces=True)
    framework.add_update_options(update, "message")

    delete = framework.leaf(group, "delete", "delete a message", messages_delete, common)
    framework.add_name_argument(delete, _NAME_HELP, type=message_argument)
    delete.add_argument("--force", action="store_true", help="also delete every reply below the message")
    framework.add_etag_option(delete, "message")
