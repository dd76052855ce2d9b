"""`runwire memory`: save, show, list, search and clear the caller's long-term memories."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api
from runwire.cli.names import agent_name, memory_name
from runwire.v1 import memory_pb2, memory_pb2_grpc

MEMORY_TYPES = {
    "profile": memory_pb2.Memory.TYPE_PROFILE,
    "fact": memory_pb2.Memory.TYPE_FACT,
    "conversation": memory_pb2.Memory.TYPE_CONVERSATION,
}
_TYPE_FIELD = memory_pb2.Memory.DESCRIPTOR.fields_by_name["type"]
_TYPES_METAVAR = "profile|fact|conversation"
_NAME_HELP = "memories/ID or ID"


def _memory_type(text: str) -> int:
    key = text.lower().removeprefix("type_")
    if key not in MEMORY_TYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(MEMORY_TYPES)}")
    return MEMORY_TYPES[key]


def _memories(api: Api) -> Any:
    return api.service(memory_pb2_grpc.MemoryServiceStub)


def _memory_row(m: Any) -> list[str]:
    return [
        m.name,
        output.enum_label(_TYPE_FIELD, m.type),
        m.agent or "-",
        output.timestamp_text(m, "create_time"),
        output.cell(m.content, framework.TEXT_COLUMN_WIDTH),
    ]


def memory_create(args: argparse.Namespace, api: Api) -> int:
    memory = memory_pb2.Memory(type=args.type, content=args.content, labels=framework.labels(args.label))
    if args.agent:
        memory.agent = agent_name(args.agent)
    if args.ttl is not None:
        memory.ttl.CopyFrom(framework.duration(args.ttl))
    request = memory_pb2.CreateMemoryRequest(memory=memory, **framework.create_options(args, "memory_id"))
    return framework.show(args, _memories(api).CreateMemory(request))


def memory_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _memories(api).GetMemory(memory_pb2.GetMemoryRequest(name=memory_name(args.name))))


def memory_list(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.ListMemoriesRequest(**framework.list_options(args))
    pager = api.pager(_memories(api).ListMemories, request, "memories")
    return framework.print_pages(args, pager, "memories", ["NAME", "TYPE", "AGENT", "CREATED", "CONTENT"], _memory_row)


def memory_search(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.SearchMemoriesRequest(
        query=args.query,
        types=args.type or [],
        agent=agent_name(args.agent) if args.agent else "",
        page_size=args.page_size or 0,
        page_token=args.page_token or "",
    )
    return framework.print_pages(
        args,
        api.pager(_memories(api).SearchMemories, request, "results"),
        "results",
        ["NAME", "TYPE", "SCORE", "SNIPPET"],
        lambda r: [
            r.memory.name,
            output.enum_label(_TYPE_FIELD, r.memory.type),
            f"{r.score:.2f}",
            output.cell(r.snippet, framework.TEXT_COLUMN_WIDTH),
        ],
    )


def memory_delete(args: argparse.Namespace, api: Api) -> int:
    name = memory_name(args.name)
    response = _memories(api).DeleteMemory(memory_pb2.DeleteMemoryRequest(name=name, etag=args.etag or ""))
    return framework.deleted(args, name, response)


def memory_clear(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.ClearMemoriesRequest(
        types=args.type or [], all=args.all, validate_only=args.validate_only, request_id=args.request_id or ""
    )
    if args.agent:
        request.agent = agent_name(args.agent)
    if args.older_than is not None:
        request.older_than.CopyFrom(framework.duration(args.older_than))
    response = _memories(api).ClearMemories(request)
    if args.json:
        output.print_json(response)
    else:
        verb = "would delete" if args.validate_only else "deleted"
        print(f"{verb} {response.deleted_count} memor{'y' if response.deleted_count == 1 else 'ies'}")
    return 0


def _add_type_filter(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", type=_memory_type, action="append", metavar=_TYPES_METAVAR, help="only this type, repeatable")


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(
        commands, "memory", "save, show, list, search and clear long-term memories", "Manage your long-term memories."
    )

    create = framework.leaf(
        group,
        "create",
        "save a memory",
        memory_create,
        common,
        epilog="example:\n  runwire memory create --type profile --content 'Prefers answers in French'",
    )
    create.add_argument("--type", required=True, type=_memory_type, metavar=_TYPES_METAVAR, help="what kind of memory")
    create.add_argument("--content", required=True, metavar="TEXT", help="the memory, 1 to 10,000 characters")
    create.add_argument("--agent", metavar="AGENT", help="only this agent recalls it (agents/ID or ID)")
    create.add_argument("--ttl", type=arguments.positive_number, metavar="SECONDS", help="delete it after this long")
    create.add_argument("--id", metavar="ID", help="the memory's id; generated when omitted")
    framework.add_label_option(create)
    framework.add_request_id_option(create)
    framework.add_validate_only_option(create, "check the request without saving")

    get = framework.leaf(group, "get", "show one memory", memory_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list your memories as a table (newest first by default)", memory_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on type, agent, session, content, labels.KEY, create_time, update_time, expire_time; "
        "e.g. 'type = FACT AND content:\"coffee\"'",
    )

    search = framework.leaf(
        group, "search", "search memories (every word must appear), best matches first", memory_search, common
    )
    search.add_argument("query", metavar="QUERY", help="words that must all appear (case-insensitive)")
    _add_type_filter(search)
    search.add_argument("--agent", metavar="AGENT", help="only the memories this agent recalls")
    framework.add_list_options(search, order=False)

    delete = framework.leaf(group, "delete", "delete a memory", memory_delete, common)
    framework.add_name_argument(delete, _NAME_HELP)
    framework.add_etag_option(delete, "memory", quotes_included=False)

    clear = framework.leaf(
        group,
        "clear",
        "delete every memory matching all the criteria given",
        memory_clear,
        common,
        epilog="examples:\n  runwire memory clear --type conversation --older-than 2592000\n  runwire memory clear --all --validate-only",
    )
    _add_type_filter(clear)
    clear.add_argument("--agent", metavar="AGENT", help="only memories scoped to this agent")
    clear.add_argument(
        "--older-than", type=arguments.positive_number, metavar="SECONDS", help="only memories created longer ago than this"
    )
    clear.add_argument("--all", action="store_true", help="every memory (required when no other criterion is given)")
    framework.add_validate_only_option(clear, "count the memories that would be deleted")
    framework.add_request_id_option(clear, "idempotency key: repeating it returns the first count")
