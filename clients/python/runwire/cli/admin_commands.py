"""`runwire memory`, `runwire config` and `runwire admin`: memories, the running configuration, and the server."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from google.protobuf import field_mask_pb2, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from runwire.cli import output
from runwire.client.json_values import message_to_dict
from runwire.cli.resources import (
    TEXT_COLUMN_WIDTH,
    Api,
    CliError,
    _add_label_option,
    _add_list_options,
    _collect_pages,
    _deleted,
    _duration,
    _group,
    _labels,
    _leaf,
    _list_options,
    _more_hint,
    _positive_float,
    _show,
    agent_name,
)
from runwire.v1 import admin_pb2, admin_pb2_grpc, config_pb2, config_pb2_grpc, memory_pb2, memory_pb2_grpc

MEMORY_TYPES = {
    "profile": memory_pb2.Memory.TYPE_PROFILE,
    "fact": memory_pb2.Memory.TYPE_FACT,
    "conversation": memory_pb2.Memory.TYPE_CONVERSATION,
}
_TYPE_FIELD = memory_pb2.Memory.DESCRIPTOR.fields_by_name["type"]
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _memory_type(text: str) -> int:
    key = text.lower().removeprefix("type_")
    if key not in MEMORY_TYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(MEMORY_TYPES)}")
    return MEMORY_TYPES[key]


def memory_name(text: str) -> str:
    return text if text.startswith("memories/") else f"memories/{text}"


def _memories(api: Api) -> Any:
    return api.service(memory_pb2_grpc.MemoryServiceStub)


def _memory_rows(memories: Any) -> list[list[str]]:
    return [
        [
            m.name,
            output.enum_label(_TYPE_FIELD, m.type),
            m.agent or "-",
            output.timestamp_text(m, "create_time"),
            output.cell(m.content, TEXT_COLUMN_WIDTH),
        ]
        for m in memories
    ]


# -- memory ------------------------------------------------------------------------


def memory_create(args: argparse.Namespace, api: Api) -> int:
    memory = memory_pb2.Memory(type=args.type, content=args.content, labels=_labels(args.label))
    if args.agent:
        memory.agent = agent_name(args.agent)
    if args.ttl is not None:
        memory.ttl.CopyFrom(_duration(args.ttl))
    request = memory_pb2.CreateMemoryRequest(
        memory=memory, memory_id=args.id or "", request_id=args.request_id or "", validate_only=args.validate_only
    )
    _show(args, _memories(api).CreateMemory(request))
    return 0


def memory_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, _memories(api).GetMemory(memory_pb2.GetMemoryRequest(name=memory_name(args.name))))
    return 0


def memory_list(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.ListMemoriesRequest(**_list_options(args))
    response = _collect_pages(args, api.pager(_memories(api).ListMemories, request, "memories"), "memories")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(["NAME", "TYPE", "AGENT", "CREATED", "CONTENT"], _memory_rows(response.memories))
        _more_hint(args, response)
    return 0


def memory_search(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.SearchMemoriesRequest(
        query=args.query,
        types=args.type or [],
        agent=agent_name(args.agent) if args.agent else "",
        page_size=args.page_size or 0,
        page_token=args.page_token or "",
    )
    response = _collect_pages(args, api.pager(_memories(api).SearchMemories, request, "results"), "results")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["NAME", "TYPE", "SCORE", "SNIPPET"],
            [
                [r.memory.name, output.enum_label(_TYPE_FIELD, r.memory.type), f"{r.score:.2f}", output.cell(r.snippet, TEXT_COLUMN_WIDTH)]
                for r in response.results
            ],
        )
        _more_hint(args, response)
    return 0


def memory_delete(args: argparse.Namespace, api: Api) -> int:
    name = memory_name(args.name)
    response = _memories(api).DeleteMemory(memory_pb2.DeleteMemoryRequest(name=name, etag=args.etag or ""))
    _deleted(args, name, response)
    return 0


def memory_clear(args: argparse.Namespace, api: Api) -> int:
    request = memory_pb2.ClearMemoriesRequest(
        types=args.type or [], all=args.all, validate_only=args.validate_only, request_id=args.request_id or ""
    )
    if args.agent:
        request.agent = agent_name(args.agent)
    if args.older_than is not None:
        request.older_than.CopyFrom(_duration(args.older_than))
    response = _memories(api).ClearMemories(request)
    if args.json:
        output.print_json(response)
    else:
        verb = "would delete" if args.validate_only else "deleted"
        print(f"{verb} {response.deleted_count} memor{'y' if response.deleted_count == 1 else 'ies'}")
    return 0


def _add_memory(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(commands, "memory", "save, show, list, search and clear long-term memories", "Manage your long-term memories.")
    types = "profile|fact|conversation"

    create = _leaf(
        group,
        "create",
        "save a memory",
        memory_create,
        common,
        epilog="example:\n  runwire memory create --type profile --content 'Prefers answers in French'",
    )
    create.add_argument("--type", required=True, type=_memory_type, metavar=types, help="what kind of memory")
    create.add_argument("--content", required=True, metavar="TEXT", help="the memory, 1 to 10,000 characters")
    create.add_argument("--agent", metavar="AGENT", help="only this agent recalls it (agents/ID or ID)")
    create.add_argument("--ttl", type=_positive_float, metavar="SECONDS", help="delete it after this long")
    create.add_argument("--id", metavar="ID", help="the memory's id; generated when omitted")
    _add_label_option(create)
    create.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")
    create.add_argument("--validate-only", action="store_true", help="check the request without saving")

    get = _leaf(group, "get", "show one memory", memory_get, common)
    get.add_argument("name", metavar="NAME", help="memories/ID or ID")

    listing = _leaf(group, "list", "list your memories as a table (newest first by default)", memory_list, common)
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on type, agent, session, content, labels.KEY, create_time, update_time, expire_time; "
        "e.g. 'type = FACT AND content:\"coffee\"'",
    )

    search = _leaf(group, "search", "search memories (every word must appear), best matches first", memory_search, common)
    search.add_argument("query", metavar="QUERY", help="words that must all appear (case-insensitive)")
    search.add_argument("--type", type=_memory_type, action="append", metavar=types, help="only this type, repeatable")
    search.add_argument("--agent", metavar="AGENT", help="only the memories this agent recalls")
    _add_list_options(search, order=False)

    delete = _leaf(group, "delete", "delete a memory", memory_delete, common)
    delete.add_argument("name", metavar="NAME", help="memories/ID or ID")
    delete.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the memory still has this etag")

    clear = _leaf(
        group,
        "clear",
        "delete every memory matching all the criteria given",
        memory_clear,
        common,
        epilog="examples:\n  runwire memory clear --type conversation --older-than 2592000\n  runwire memory clear --all --validate-only",
    )
    clear.add_argument("--type", type=_memory_type, action="append", metavar=types, help="only this type, repeatable")
    clear.add_argument("--agent", metavar="AGENT", help="only memories scoped to this agent")
    clear.add_argument("--older-than", type=_positive_float, metavar="SECONDS", help="only memories created longer ago than this")
    clear.add_argument("--all", action="store_true", help="every memory (required when no other criterion is given)")
    clear.add_argument("--validate-only", action="store_true", help="count the memories that would be deleted")
    clear.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first count")


# -- config ------------------------------------------------------------------------


def _config(api: Api) -> Any:
    return api.service(config_pb2_grpc.ConfigServiceStub)


def _field_at(path: str) -> FieldDescriptor:
    descriptor: Descriptor | None = config_pb2.RuntimeConfig.DESCRIPTOR
    found: FieldDescriptor | None = None
    for part in path.split("."):
        if descriptor is None or part not in descriptor.fields_by_name:
            raise CliError(f"{path!r} is not a configuration field; see `runwire config get`")
        found = descriptor.fields_by_name[part]
        descriptor = found.message_type
    assert found is not None
    return found


def _json_value(field: FieldDescriptor, path: str, text: str) -> Any:
    """TEXT as the proto JSON value of `field`: numbers, true/false, durations with units, enums by short name."""
    if field.is_repeated or (field.message_type is not None and field.message_type.full_name != "google.protobuf.Duration"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}: expected JSON ({exc})") from None
    if field.message_type is not None:  # Duration
        match = _DURATION.fullmatch(text)
        if match is None:
            raise CliError(f"{path}: expected a duration such as 30, 500ms, 30s, 5m, 2h or 1d")
        return f"{float(match.group(1)) * _UNIT_SECONDS[match.group(2)]:.9f}".rstrip("0").rstrip(".") + "s"
    if field.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false"):
            raise CliError(f"{path}: expected true or false")
        return text.lower() == "true"
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        names = [v.name for v in field.enum_type.values]
        wanted = text.upper()
        return next((n for n in names if n == wanted or n.endswith("_" + wanted)), text)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise CliError(f"{path}: expected a number") from None
    if field.type != FieldDescriptor.TYPE_STRING:
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{path}: expected a whole number") from None
    return text


def _assignments(pairs: list[str]) -> tuple[config_pb2.RuntimeConfig, list[str]]:
    values: dict[str, Any] = {}
    paths = []
    for pair in pairs:
        path, sep, text = pair.partition("=")
        if not sep or not path:
            raise CliError(f"{pair!r} is not FIELD=VALUE, for example limits.max_page_size=200")
        value = _json_value(_field_at(path), path, text)
        target = values
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
        paths.append(path)
    try:
        return json_format.ParseDict(values, config_pb2.RuntimeConfig()), paths
    except json_format.ParseError as exc:
        raise CliError(str(exc)) from None


def config_get(args: argparse.Namespace, api: Api) -> int:
    config = _config(api).GetConfig(config_pb2.GetConfigRequest())
    if args.field:
        _field_at(args.field)
        value: Any = message_to_dict(config, preserving_proto_field_name=True)
        for part in args.field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        print(json.dumps(value, indent=2) if isinstance(value, (dict, list)) else ("" if value is None else value))
        return 0
    _show(args, config)
    return 0


def config_set(args: argparse.Namespace, api: Api) -> int:
    config, paths = _assignments(args.assignments)
    config.etag = args.etag or ""
    request = config_pb2.UpdateConfigRequest(
        config=config, update_mask=field_mask_pb2.FieldMask(paths=paths), validate_only=args.validate_only, request_id=args.request_id or ""
    )
    updated = _config(api).UpdateConfig(request)
    if args.json:
        output.print_json(updated)
    else:
        verb = "would apply" if args.validate_only else "applied"
        print(f"{verb} revision {updated.revision}: {', '.join(paths)}")
    return 0


def config_validate(args: argparse.Namespace, api: Api) -> int:
    config, paths = _assignments(args.assignments)
    request = config_pb2.ValidateConfigRequest(config=config, update_mask=field_mask_pb2.FieldMask(paths=paths))
    response = _config(api).ValidateConfig(request)
    if args.json:
        output.print_json(response)
    elif response.valid:
        print("valid")
    else:
        for violation in response.violations:
            print(f"{violation.field}: {violation.description}")
    return 0 if response.valid else 1


def config_reload(args: argparse.Namespace, api: Api) -> int:
    config = _config(api).ReloadConfig(config_pb2.ReloadConfigRequest(validate_only=args.validate_only, request_id=args.request_id or ""))
    if args.json:
        output.print_json(config)
    else:
        verb = "would reload" if args.validate_only else "reloaded"
        print(f"{verb} {config.source}: revision {config.revision}")
        if config.pending_restart_fields:
            print(f"take effect at the next restart: {', '.join(config.pending_restart_fields)}", file=sys.stderr)
    return 0


def _add_config(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(
        commands, "config", "read, change, validate and reload the server's configuration (admins)", "Manage the running configuration."
    )
    get = _leaf(group, "get", "show the configuration in effect, secrets redacted", config_get, common)
    get.add_argument("field", nargs="?", metavar="FIELD", help="only this section or field, e.g. limits.max_page_size")

    assignment_help = "FIELD=VALUE, e.g. limits.max_page_size=200 or limits.default_run_duration=5m; repeated fields as JSON"
    change = _leaf(
        group,
        "set",
        "change fields of the running configuration, all or nothing",
        config_set,
        common,
        epilog="example:\n  runwire config set limits.max_page_size=200 rate_limits.enabled=true",
    )
    change.add_argument("assignments", nargs="+", metavar="FIELD=VALUE", help=assignment_help)
    change.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the configuration still has this etag")
    change.add_argument("--validate-only", action="store_true", help="check and show the result without applying it")
    change.add_argument("--request-id", metavar="UUID", help="idempotency key")

    validate = _leaf(group, "validate", "check changes without applying them; exit 1 when invalid", config_validate, common)
    validate.add_argument("assignments", nargs="+", metavar="FIELD=VALUE", help=assignment_help)

    reload_ = _leaf(group, "reload", "read the configuration file again and apply it", config_reload, common)
    reload_.add_argument("--validate-only", action="store_true", help="read and check the file without applying it")
    reload_.add_argument("--request-id", metavar="UUID", help="idempotency key")


# -- admin -------------------------------------------------------------------------


def _admin(api: Api) -> Any:
    return api.service(admin_pb2_grpc.AdminServiceStub)


def admin_info(args: argparse.Namespace, api: Api) -> int:
    _show(args, _admin(api).GetServerInfo(admin_pb2.GetServerInfoRequest()))
    return 0


def admin_streams(args: argparse.Namespace, api: Api) -> int:
    request = admin_pb2.ListStreamsRequest(**_list_options(args))
    response = _collect_pages(args, api.pager(_admin(api).ListStreams, request, "streams"), "streams")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["ID", "METHOD", "PRINCIPAL", "FOLLOWS", "STARTED", "SENT"],
            [
                [s.id, s.method.rpartition("/")[2], s.principal, s.follows or "-", output.timestamp_text(s, "start_time"), str(s.messages_sent)]
                for s in response.streams
            ],
        )
        _more_hint(args, response)
    return 0


def admin_connections(args: argparse.Namespace, api: Api) -> int:
    request = admin_pb2.ListConnectionsRequest(**_list_options(args))
    response = _collect_pages(args, api.pager(_admin(api).ListConnections, request, "connections"), "connections")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["ID", "PRINCIPAL", "PEER", "CONNECTED", "SENT"],
            [[c.id, c.principal, c.peer, output.timestamp_text(c, "connect_time"), str(c.messages_sent)] for c in response.connections],
        )
        _more_hint(args, response)
    return 0


def _add_admin(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(commands, "admin", "describe the server and who is connected (admins)", "Operate the server.")
    _leaf(group, "info", "show version, uptime, backends, providers and counts", admin_info, common)
    streams = _leaf(group, "streams", "list the open streaming calls", admin_streams, common)
    _add_list_options(streams, filter_help="AIP-160 filter on method, principal, peer, replica, follows, start_time")
    connections = _leaf(group, "connections", "list the open Connect streams", admin_connections, common)
    _add_list_options(connections, filter_help="AIP-160 filter on principal, peer, replica, client_name, connect_time")


def add_admin_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    _add_memory(commands, common)
    _add_config(commands, common)
    _add_admin(commands, common)
