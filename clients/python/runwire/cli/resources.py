"""The client commands of `runwire`: agents, sessions and messages, called through `runwire.client.Client`.

Every command takes the same connection and output options (--server,
--json, --timeout) after its own name, for example
`runwire agents list --json --server 10.0.0.5:50051`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Mapping, TypedDict

from google.protobuf import duration_pb2
from google.protobuf.message import Message as ProtoMessage

from runwire.cli import errors, output
from runwire.client import Client, PageTokenLoop, Pager, RunwireError
from runwire.v1 import agent_pb2, common_pb2, message_pb2, session_pb2

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "RUNWIRE_SERVER"
API_KEY_ENV = "RUNWIRE_API_KEY"
TOKEN_ENV = "RUNWIRE_TOKEN"
DEFAULT_TIMEOUT = 30.0
TEXT_COLUMN_WIDTH = 60
NAME_COLUMN_WIDTH = 40
ROLES = {
    "user": message_pb2.Message.ROLE_USER,
    "assistant": message_pb2.Message.ROLE_ASSISTANT,
    "system": message_pb2.Message.ROLE_SYSTEM,
    "tool": message_pb2.Message.ROLE_TOOL,
}
STATES = {"active": agent_pb2.Agent.STATE_ACTIVE, "disabled": agent_pb2.Agent.STATE_DISABLED}


# -- argument types (a bad value is a usage error: exit code 2) -------------


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _tool(text: str) -> agent_pb2.AgentTool:
    spec, approval = text, False
    if spec.endswith(":approval"):
        spec, approval = spec[: -len(":approval")], True
    elif ":" in spec:
        raise argparse.ArgumentTypeError(f"{text!r}: the only tool option is ':approval' (NAME[@MCP_SERVER][:approval])")
    name, _, server = spec.partition("@")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r} names no tool")
    if server and "/" not in server:
        server = f"mcpServers/{server}"
    return agent_pb2.AgentTool(name=name, mcp_server=server, requires_approval=approval)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _text_file(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    try:
        with open(text, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {exc}") from None


def _choice(mapping: Mapping[str, int], what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return mapping[text.lower()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(mapping)}") from None

    parse.__name__ = what
    return parse


# -- resource names: full (`agents/x`) or the bare id (`x`) ------------------


def agent_name(text: str) -> str:
    return text if "/" in text else f"agents/{text}"


def session_name(text: str) -> str:
    """`s` or `sessions/s`; `-` means every session (for list and search)."""
    return text if "/" in text else f"sessions/{text}"


def message_name(text: str, session: str | None = None) -> str:
    """`sessions/S/messages/M`, `S/messages/M`, `S/M`, or a bare `M` when the session is known."""
    if text.startswith("sessions/"):
        return text
    parts = text.split("/")
    if len(parts) == 3 and parts[1] == "messages":
        return f"sessions/{text}"
    if len(parts) == 2:
        return f"sessions/{parts[0]}/messages/{parts[1]}"
    if len(parts) == 1 and session:
        return f"{session}/messages/{text}"
    raise argparse.ArgumentTypeError(f"{text!r} is not a message name; give sessions/SESSION/messages/MESSAGE or SESSION/MESSAGE")


def _message_arg(text: str) -> str:
    return message_name(text)


# -- running a command -------------------------------------------------------


class CliError(Exception):
    """A failure found by the CLI itself (not a failed call): printed as `error: ...`, exit code 1 by default."""

    exit_code = 1


# The commands call the server through the sync client (credentials, deadline, typed errors, pagers).
Api = Client


def server_address(args: argparse.Namespace) -> str:
    return args.server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER


def api_key(args: argparse.Namespace) -> str | None:
    return getattr(args, "api_key", None) or os.environ.get(API_KEY_ENV) or None


def bearer_token(args: argparse.Namespace) -> str | None:
    return getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None


class Credentials(TypedDict, total=False):
    """The Client keyword arguments that carry the caller's credentials."""

    api_key: str | None
    bearer_token: str | None


def credentials(args: argparse.Namespace) -> Credentials:
    """--token / RUNWIRE_TOKEN (a JWT or a key, as `authorization: Bearer`) wins over --api-key / RUNWIRE_API_KEY."""
    if getattr(args, "token", None) and getattr(args, "api_key", None):
        raise CliError("give --token or --api-key, not both")
    token = bearer_token(args)
    if token and not getattr(args, "api_key", None):
        return {"bearer_token": token}
    return {"api_key": api_key(args)}


def _command(behavior: Callable[[argparse.Namespace, Api], int | None]) -> Callable[[argparse.Namespace], int]:
    """Open a client, run the command, and turn a failed call into a printed error and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        server = server_address(args)
        try:
            with Client(server, timeout=args.timeout, stream_timeout=args.timeout, **credentials(args)) as api:
                return int(behavior(args, api) or 0)
        except RunwireError as error:
            return errors.report(error, server, args.timeout)
        except CliError as exc:
            print(f"error: {exc}" if exc.exit_code != 130 else str(exc), file=sys.stderr)
            return exc.exit_code
        except PageTokenLoop as exc:
            print(f"error: {exc}", file=sys.stderr)
            return errors.EXIT_FAILURE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return run


def _show(args: argparse.Namespace, resource: ProtoMessage) -> None:
    if args.json:
        output.print_json(resource)
    else:
        output.print_fields(resource)


def _deleted(args: argparse.Namespace, name: str, response: ProtoMessage) -> None:
    if args.json:
        output.print_json(response)
    else:
        print(f"deleted {name}")


def _labels(pairs: list[tuple[str, str]] | None) -> dict[str, str]:
    return dict(pairs or [])


def _collect_pages(args: argparse.Namespace, pager: Pager[Any], items: str) -> Any:
    """One page, or with --all every page merged into one response (next_page_token empty)."""
    pages = pager.pages()
    response = next(pages)
    if not getattr(args, "all", False) or not response.next_page_token:
        return response
    merged = type(response)()
    merged.CopyFrom(response)
    for response in pages:
        getattr(merged, items).extend(getattr(response, items))
    merged.next_page_token = ""
    if "total_size" in type(response).DESCRIPTOR.fields_by_name:
        merged.total_size = response.total_size
    return merged


def _more_hint(args: argparse.Namespace, response: Any) -> None:
    if not args.json and response.next_page_token:
        print(f"more results: pass --all, or --page-token {response.next_page_token}", file=sys.stderr)


def _list_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "page_size": args.page_size or 0,
        "page_token": args.page_token or "",
        "filter": args.filter or "",
        "order_by": args.order_by or "",
    }


def _nothing_to_update(args: argparse.Namespace, flags: str) -> None:
    args.parser.error(f"nothing to update; give at least one of {flags}")


# -- agents ------------------------------------------------------------------


def _agent_rows(agents: Any) -> list[list[str]]:
    state_field = agent_pb2.Agent.DESCRIPTOR.fields_by_name["state"]
    return [
        [
            a.name,
            output.cell(a.display_name, NAME_COLUMN_WIDTH),
            output.enum_label(state_field, a.state),
            output.timestamp_text(a, "create_time"),
        ]
        for a in agents
    ]


def _model_from(args: argparse.Namespace) -> tuple[agent_pb2.ModelConfig, list[str]]:
    """The model flags given, and their update-mask paths."""
    model, paths = agent_pb2.ModelConfig(), []
    for flag in ("provider", "model", "temperature"):
        value = getattr(args, flag)
        if value is not None:
            setattr(model, flag, value)
            paths.append(f"model.{flag}")
    return model, paths


def agents_create(args: argparse.Namespace, api: Api) -> int:
    model, _ = _model_from(args)
    agent = agent_pb2.Agent(
        display_name=args.display_name,
        description=args.description or "",
        instructions=args.instructions or "",
        tools=args.tool or [],
        labels=_labels(args.label),
    )
    if model.ListFields():
        agent.model.CopyFrom(model)
    if args.state is not None:
        agent.state = args.state
    created = api.agents.create(
        agent, agent_id=args.id or "", request_id=args.request_id or "", validate_only=args.validate_only
    )
    _show(args, created)
    if args.validate_only and not args.json:
        print("validate only: the request is valid; nothing was created", file=sys.stderr)
    return 0


def agents_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.agents.get(agent_name(args.name)))
    return 0


def agents_list(args: argparse.Namespace, api: Api) -> int:
    response = _collect_pages(args, api.agents.list(**_list_options(args)), "agents")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(["NAME", "DISPLAY NAME", "STATE", "CREATED"], _agent_rows(response.agents))
        _more_hint(args, response)
    return 0


def agents_update(args: argparse.Namespace, api: Api) -> int:
    agent = agent_pb2.Agent(name=agent_name(args.name), etag=args.etag or "")
    paths: list[str] = []
    for field in ("display_name", "description", "instructions"):
        value = getattr(args, field)
        if value is not None:
            setattr(agent, field, value)
            paths.append(field)
    model, model_paths = _model_from(args)
    if model_paths:
        agent.model.CopyFrom(model)
        paths += model_paths
    if args.tool is not None or args.clear_tools:
        agent.tools.extend(args.tool or [])
        paths.append("tools")
    if args.state is not None:
        agent.state = args.state
        paths.append("state")
    if args.label is not None or args.clear_labels:
        agent.labels.update(_labels(args.label))
        paths.append("labels")
    if not paths:
        _nothing_to_update(
            args,
            "--display-name, --description, --instructions, --provider, --model, --temperature, --tool, --clear-tools, "
            "--state, --label, --clear-labels",
        )
    _show(args, api.agents.update(agent, paths, validate_only=args.validate_only))
    return 0


def agents_delete(args: argparse.Namespace, api: Api) -> int:
    name = agent_name(args.name)
    _deleted(args, name, api.agents.delete(name, force=args.force, etag=args.etag or ""))
    return 0


# -- sessions ----------------------------------------------------------------


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def sessions_create(args: argparse.Namespace, api: Api) -> int:
    session = session_pb2.Session(
        agent=agent_name(args.agent), display_name=args.display_name or "", labels=_labels(args.label)
    )
    if args.ttl is not None:
        session.ttl.CopyFrom(_duration(args.ttl))
    created = api.sessions.create(
        session, session_id=args.id or "", request_id=args.request_id or "", validate_only=args.validate_only
    )
    _show(args, created)
    if args.validate_only and not args.json:
        print("validate only: the request is valid; nothing was created", file=sys.stderr)
    return 0


def sessions_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.sessions.get(session_name(args.name)))
    return 0


def sessions_list(args: argparse.Namespace, api: Api) -> int:
    response = _collect_pages(args, api.sessions.list(**_list_options(args)), "sessions")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["NAME", "AGENT", "DISPLAY NAME", "MESSAGES", "EXPIRES"],
            [
                [
                    s.name,
                    s.agent,
                    output.cell(s.display_name, NAME_COLUMN_WIDTH),
                    str(s.message_count),
                    output.timestamp_text(s, "expire_time"),
                ]
                for s in response.sessions
            ],
        )
        _more_hint(args, response)
    return 0


def sessions_update(args: argparse.Namespace, api: Api) -> int:
    session = session_pb2.Session(name=session_name(args.name), etag=args.etag or "")
    paths: list[str] = []
    if args.display_name is not None:
        session.display_name = args.display_name
        paths.append("display_name")
    if args.ttl is not None:
        session.ttl.CopyFrom(_duration(args.ttl))
        paths.append("ttl")
    if args.label is not None or args.clear_labels:
        session.labels.update(_labels(args.label))
        paths.append("labels")
    if not paths:
        _nothing_to_update(args, "--display-name, --ttl, --label, --clear-labels")
    _show(args, api.sessions.update(session, paths, validate_only=args.validate_only))
    return 0


def sessions_delete(args: argparse.Namespace, api: Api) -> int:
    name = session_name(args.name)
    _deleted(args, name, api.sessions.delete(name, force=args.force, etag=args.etag or ""))
    return 0


# -- messages ----------------------------------------------------------------

_ROLE_FIELD = message_pb2.Message.DESCRIPTOR.fields_by_name["role"]


def _role_text(role: int) -> str:
    return output.enum_label(_ROLE_FIELD, role)


def messages_create(args: argparse.Namespace, api: Api) -> int:
    parent = session_name(args.session)
    message = message_pb2.Message(
        role=args.role, content=[common_pb2.ContentPart(text=args.text)], labels=_labels(args.label)
    )
    if args.parent:
        try:
            message.parent_message = message_name(args.parent, parent)
        except argparse.ArgumentTypeError as exc:
            args.parser.error(f"argument --parent: {exc}")
    created = api.messages.create(
        parent, message, message_id=args.id or "", request_id=args.request_id or "", validate_only=args.validate_only
    )
    _show(args, created)
    if args.validate_only and not args.json:
        print("validate only: the request is valid; nothing was created", file=sys.stderr)
    return 0


def messages_get(args: argparse.Namespace, api: Api) -> int:
    _show(args, api.messages.get(args.name))
    return 0


def messages_list(args: argparse.Namespace, api: Api) -> int:
    filter_text = (args.filter or "").strip()
    if args.role is not None:
        role = f"role = {_role_text(args.role)}"
        filter_text = f"{role} AND ({filter_text})" if filter_text else role
    pager = api.messages.list(session_name(args.session), **{**_list_options(args), "filter": filter_text})
    response = _collect_pages(args, pager, "messages")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["NAME", "ROLE", "CREATED", "TEXT"],
            [
                [m.name, _role_text(m.role), output.timestamp_text(m, "create_time"), output.cell(m.text, TEXT_COLUMN_WIDTH)]
                for m in response.messages
            ],
        )
        _more_hint(args, response)
    return 0


def messages_search(args: argparse.Namespace, api: Api) -> int:
    pager = api.messages.search(
        session_name(args.session), args.query, page_size=args.page_size or 0, page_token=args.page_token or ""
    )
    response = _collect_pages(args, pager, "results")
    if args.json:
        output.print_json(response)
    else:
        output.print_table(
            ["NAME", "ROLE", "SNIPPET"],
            [[r.message.name, _role_text(r.message.role), output.cell(r.snippet, TEXT_COLUMN_WIDTH)] for r in response.results],
        )
        _more_hint(args, response)
    return 0


def messages_update(args: argparse.Namespace, api: Api) -> int:
    message = message_pb2.Message(name=args.name, etag=args.etag or "")
    paths: list[str] = []
    if args.text is not None:
        message.content.append(common_pb2.ContentPart(text=args.text))
        paths.append("content")
    if args.label is not None or args.clear_labels:
        message.labels.update(_labels(args.label))
        paths.append("labels")
    if not paths:
        _nothing_to_update(args, "--text, --label, --clear-labels")
    _show(args, api.messages.update(message, paths, validate_only=args.validate_only))
    return 0


def messages_delete(args: argparse.Namespace, api: Api) -> int:
    _deleted(args, args.name, api.messages.delete(args.name, force=args.force, etag=args.etag or ""))
    return 0


# -- the argument parsers ------------------------------------------------------

_GROUP_EPILOG = (
    "names may be given in full (agents/ID, sessions/ID, sessions/S/messages/M) or short (ID, S/M).\n"
    f"the server is --server, else ${SERVER_ENV}, else {DEFAULT_SERVER}.\n"
    "exit codes: 0 success, 1 the call failed, 2 bad usage.\n"
    "help on one command: runwire {group} COMMAND --help"
)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--server",
        metavar="HOST:PORT",
        help=f"the server to call (default: ${SERVER_ENV}, else {DEFAULT_SERVER})",
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"API key sent as x-api-key (default: ${API_KEY_ENV}); not needed when the server runs --insecure-no-auth",
    )
    group.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"a JWT (or an API key) sent as `authorization: Bearer TOKEN` (default: ${TOKEN_ENV}); "
        f"used instead of ${API_KEY_ENV} when set",
    )
    group.add_argument(
        "--json",
        action="store_true",
        help="print the response as JSON (proto field names) instead of text; streams print one JSON object per line",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_TIMEOUT:g})",
    )
    return common


def _group(commands: Any, name: str, help_text: str, description: str) -> Any:
    top = commands.add_parser(
        name,
        help=help_text,
        description=f"{description} Every command takes --server, --json and --timeout.",
        epilog=_GROUP_EPILOG.format(group=name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return top.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def _leaf(
    group: Any, name: str, help_text: str, behavior: Callable[[argparse.Namespace, Api], int | None], common: argparse.ArgumentParser,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    parser = group.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        parents=[common],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=_command(behavior), parser=parser)
    return parser


def _add_label_option(parser: argparse.ArgumentParser, replaces: bool = False) -> None:
    extra = "; replaces every existing label" if replaces else ""
    parser.add_argument(
        "--label", type=_label, action="append", metavar="KEY=VALUE", help=f"a label, repeatable{extra}"
    )
    if replaces:
        parser.add_argument("--clear-labels", action="store_true", help="remove every label (with --label: keep only those)")


def _add_list_options(parser: argparse.ArgumentParser, order: bool = True, filter_help: str = "") -> None:
    if filter_help:
        parser.add_argument("--filter", metavar="FILTER", help=filter_help)
    if order:
        parser.add_argument("--order-by", metavar="ORDER", help="AIP-132 order, for example 'create_time desc'")
    parser.add_argument("--page-size", type=_page_size, metavar="N", help="results per page (server default when omitted)")
    parser.add_argument("--page-token", metavar="TOKEN", help="continue from the next_page_token of an earlier call")
    parser.add_argument("--all", action="store_true", help="follow next_page_token and print every page")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=("builtin", "openai"), help="model provider")
    parser.add_argument("--model", metavar="MODEL", help="model identifier passed to the provider, e.g. gpt-4o-mini")
    parser.add_argument("--temperature", type=_float, metavar="T", help="sampling temperature, 0 to 2")
    parser.add_argument(
        "--tool",
        type=_tool,
        action="append",
        metavar="NAME[:approval]",
        help="a tool the agent may call, repeatable: a built-in tool (calculator, current_time, session_search, "
        "file_search, memory), or NAME@MCP_SERVER for a tool of an MCP server; ':approval' makes every call wait "
        "for a person's approval",
    )
    parser.add_argument("--state", type=_choice(STATES, "state"), metavar="active|disabled", help="whether the agent accepts new runs")


def _instructions_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--instructions", metavar="TEXT", help="system instructions given to the model")
    group.add_argument(
        "--instructions-file", dest="instructions", type=_text_file, metavar="PATH", help="read the instructions from PATH (- for stdin)"
    )


def _add_agents(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(commands, "agents", "create, show, list, change and delete agents", "Manage agents.")

    create = _leaf(
        group,
        "create",
        "create an agent",
        agents_create,
        common,
        epilog="example:\n  runwire agents create --display-name Support --id support --tool calculator:approval --label team=care",
    )
    create.add_argument("--display-name", required=True, metavar="NAME", help="human-readable name, 1 to 200 characters")
    create.add_argument("--id", metavar="ID", help="the agent's id (agents/ID): 4-63 of [a-z0-9-]; generated when omitted")
    create.add_argument("--description", metavar="TEXT", help="free text describing the agent")
    _instructions_options(create)
    _add_model_options(create)
    _add_label_option(create)
    create.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")
    create.add_argument("--validate-only", action="store_true", help="check the request and show the result without creating it")

    get = _leaf(group, "get", "show one agent", agents_get, common)
    get.add_argument("name", metavar="NAME", help="agents/ID or ID")

    listing = _leaf(group, "list", "list agents as a table (newest first by default)", agents_list, common)
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on display_name, description, state, model.provider, model.model, labels.KEY, "
        "create_time, update_time; e.g. 'state = ACTIVE AND labels.team = care'",
    )

    update = _leaf(
        group,
        "update",
        "change an agent; only the fields given are changed",
        agents_update,
        common,
        epilog="example:\n  runwire agents update support --display-name 'Support bot' --etag '\"9f2c...\"'",
    )
    update.add_argument("name", metavar="NAME", help="agents/ID or ID")
    update.add_argument("--display-name", metavar="NAME", help="new human-readable name")
    update.add_argument("--description", metavar="TEXT", help="new description ('' clears it)")
    _instructions_options(update)
    _add_model_options(update)
    update.add_argument("--clear-tools", action="store_true", help="remove every tool (with --tool: keep only those)")
    _add_label_option(update, replaces=True)
    update.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the agent still has this etag (quotes included)")
    update.add_argument("--validate-only", action="store_true", help="check the change and show the result without applying it")

    delete = _leaf(group, "delete", "delete an agent", agents_delete, common)
    delete.add_argument("name", metavar="NAME", help="agents/ID or ID")
    delete.add_argument("--force", action="store_true", help="also delete the agent's sessions and their messages")
    delete.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the agent still has this etag (quotes included)")


def _add_sessions(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(
        commands, "sessions", "create, show, list, change and delete sessions", "Manage sessions (conversations with an agent)."
    )

    create = _leaf(
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
    create.add_argument("--ttl", type=_positive_float, metavar="SECONDS", help="delete the session this many seconds from now")
    _add_label_option(create)
    create.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")
    create.add_argument("--validate-only", action="store_true", help="check the request and show the result without creating it")

    get = _leaf(group, "get", "show one session", sessions_get, common)
    get.add_argument("name", metavar="NAME", help="sessions/ID or ID")

    listing = _leaf(group, "list", "list sessions as a table (newest first by default)", sessions_list, common)
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on agent, display_name, labels.KEY, message_count, create_time, update_time, "
        "expire_time; e.g. 'agent = \"agents/support\"'",
    )

    update = _leaf(group, "update", "change a session; only the fields given are changed", sessions_update, common)
    update.add_argument("name", metavar="NAME", help="sessions/ID or ID")
    update.add_argument("--display-name", metavar="NAME", help="new human-readable name ('' clears it)")
    update.add_argument("--ttl", type=_positive_float, metavar="SECONDS", help="expire this many seconds from now")
    _add_label_option(update, replaces=True)
    update.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the session still has this etag (quotes included)")
    update.add_argument("--validate-only", action="store_true", help="check the change and show the result without applying it")

    delete = _leaf(group, "delete", "delete a session", sessions_delete, common)
    delete.add_argument("name", metavar="NAME", help="sessions/ID or ID")
    delete.add_argument("--force", action="store_true", help="also delete the session's messages")
    delete.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the session still has this etag (quotes included)")


def _add_messages(commands: Any, common: argparse.ArgumentParser) -> None:
    group = _group(commands, "messages", "add, show, list, search, change and delete messages", "Manage the messages of sessions.")
    message_help = "sessions/S/messages/M or S/M"

    create = _leaf(
        group,
        "create",
        "add a text message to a session",
        messages_create,
        common,
        epilog="example:\n  runwire messages create ticket-42 --role user --text 'Where is my order?'",
    )
    create.add_argument("session", metavar="SESSION", help="sessions/ID or ID")
    create.add_argument("--role", required=True, type=_choice(ROLES, "role"), metavar="user|assistant|system|tool", help="who wrote the message")
    create.add_argument("--text", required=True, metavar="TEXT", help="the message's text")
    create.add_argument("--parent", metavar="MESSAGE", help="the message this one replies to: its full name, S/M, or its id in SESSION")
    create.add_argument("--id", metavar="ID", help="the message's id; generated when omitted")
    _add_label_option(create)
    create.add_argument("--request-id", metavar="UUID", help="idempotency key: repeating it returns the first result")
    create.add_argument("--validate-only", action="store_true", help="check the request and show the result without creating it")

    get = _leaf(group, "get", "show one message", messages_get, common)
    get.add_argument("name", metavar="NAME", type=_message_arg, help=message_help)

    listing = _leaf(group, "list", "list the messages of a session as a table (oldest first by default)", messages_list, common)
    listing.add_argument("session", metavar="SESSION", help="sessions/ID or ID, or - for every session")
    listing.add_argument("--role", type=_choice(ROLES, "role"), metavar="user|assistant|system|tool", help="only messages of this role (added to --filter)")
    _add_list_options(
        listing,
        filter_help="AIP-160 filter on role, text, parent_message, run, labels.KEY, create_time, update_time; "
        "e.g. 'text:\"refund\"'",
    )

    search = _leaf(group, "search", "search message text (every word must appear), newest matches first", messages_search, common)
    search.add_argument("session", metavar="SESSION", help="sessions/ID or ID, or - for every session")
    search.add_argument("query", metavar="QUERY", help="words that must all appear in a message (case-insensitive)")
    _add_list_options(search, order=False)

    update = _leaf(group, "update", "change a message's text or labels", messages_update, common)
    update.add_argument("name", metavar="NAME", type=_message_arg, help=message_help)
    update.add_argument("--text", metavar="TEXT", help="the new text; replaces the whole content of the message")
    _add_label_option(update, replaces=True)
    update.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the message still has this etag (quotes included)")
    update.add_argument("--validate-only", action="store_true", help="check the change and show the result without applying it")

    delete = _leaf(group, "delete", "delete a message", messages_delete, common)
    delete.add_argument("name", metavar="NAME", type=_message_arg, help=message_help)
    delete.add_argument("--force", action="store_true", help="also delete every reply below the message")
    delete.add_argument("--etag", metavar="ETAG", help="fail with ABORTED unless the message still has this etag (quotes included)")


def add_commands(commands: Any) -> None:
    """Add the client command groups (agents, sessions, messages, run, memory, config, admin, secrets) to `runwire`."""
    common = _common_options()
    _add_agents(commands, common)
    _add_sessions(commands, common)
    _add_messages(commands, common)
    from runwire.cli.run_command import add_run_command  # imports this module
    from runwire.cli.tool_commands import add_tool_commands  # imports this module

    add_run_command(commands, common)
    add_tool_commands(commands, common)
    from runwire.cli.files_command import add_files_commands  # imports this module

    add_files_commands(commands, common)

    from runwire.cli.admin_commands import add_admin_commands  # imports this module

    add_admin_commands(commands, common)
    from runwire.cli.batch_commands import add_batch_commands  # imports this module

    add_batch_commands(commands, common)
    from runwire.cli.secret_commands import add_secret_commands  # imports this module

    add_secret_commands(commands, common)
