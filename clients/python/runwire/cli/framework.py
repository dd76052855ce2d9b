"""The frame every client command of `runwire` runs in: the connection and output options, the parsers of
command groups and commands, running a command against the server, and how its results and failures print.

A command is a function `(args, api) -> exit code`, where `api` is an open `runwire.client.Client`. A command
group is one module under `runwire.cli.commands` with a function `add_commands(commands, common)` that adds
its group with `group(...)` and each command with `leaf(...)`. Command modules import only this module,
`arguments`, `names`, `output` and `errors` (public names), never each other.

Adding a command group, for example `runwire crews ...`:
  1. write `runwire/cli/commands/crews.py` with its commands and `add_commands(commands, common)`;
  2. add `"crews"` to `COMMAND_GROUPS` in `runwire/cli/main.py` (the order there is the order of `--help`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable, Iterable, Sequence, TypedDict

from google.protobuf import duration_pb2
from google.protobuf.message import Message as ProtoMessage

from runwire.cli import arguments, errors, output
from runwire.client import Client, Pager, PageTokenLoop, RunwireError

DEFAULT_SERVER = "127.0.0.1:50051"
SERVER_ENV = "RUNWIRE_SERVER"
API_KEY_ENV = "RUNWIRE_API_KEY"
TOKEN_ENV = "RUNWIRE_TOKEN"
DEFAULT_TIMEOUT = 30.0
TEXT_COLUMN_WIDTH = 60
NAME_COLUMN_WIDTH = 40
IDEMPOTENCY_HELP = "idempotency key: repeating it returns the first result"
EXIT_INTERRUPTED = 130

# The commands call the server through the sync client (credentials, deadline, typed errors, pagers).
Api = Client
Behavior = Callable[[argparse.Namespace, Api], "int | None"]


class CliError(Exception):
    """A failure found by the CLI itself (not a failed call): printed as `error: ...`, exit code 1 by default."""

    exit_code = 1


# -- connecting ----------------------------------------------------------------


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


def command(behavior: Behavior) -> Callable[[argparse.Namespace], int]:
    """Open a client, run the command, and turn a failed call into a printed error and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        server = server_address(args)
        try:
            with Client(server, timeout=args.timeout, stream_timeout=args.timeout, **credentials(args)) as api:
                return int(behavior(args, api) or 0)
        except RunwireError as error:
            return errors.report(error, server, args.timeout)
        except CliError as exc:
            print(f"error: {exc}" if exc.exit_code != EXIT_INTERRUPTED else str(exc), file=sys.stderr)
            return exc.exit_code
        except PageTokenLoop as exc:
            print(f"error: {exc}", file=sys.stderr)
            return errors.EXIT_FAILURE
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


# -- building requests ---------------------------------------------------------


def labels(pairs: list[tuple[str, str]] | None) -> dict[str, str]:
    return dict(pairs or [])


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def list_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "page_size": args.page_size or 0,
        "page_token": args.page_token or "",
        "filter": args.filter or "",
        "order_by": args.order_by or "",
    }


def create_options(args: argparse.Namespace, id_field: str) -> dict[str, Any]:
    """The fields of a Create request given by --id, --request-id and --validate-only."""
    return {id_field: args.id or "", "request_id": args.request_id or "", "validate_only": args.validate_only}


def nothing_to_update(args: argparse.Namespace, flags: str) -> None:
    args.parser.error(f"nothing to update; give at least one of {flags}")


# -- printing results ----------------------------------------------------------


def show(args: argparse.Namespace, resource: ProtoMessage) -> int:
    """One resource: JSON, or `key: value` lines; returns the exit code 0."""
    if args.json:
        output.print_json(resource)
    else:
        output.print_fields(resource)
    return 0


def show_created(args: argparse.Namespace, created: ProtoMessage, verb: str = "created") -> int:
    """The new resource, and under --validate-only a note that nothing was `verb`."""
    show(args, created)
    if args.validate_only and not args.json:
        print(f"validate only: the request is valid; nothing was {verb}", file=sys.stderr)
    return 0


def deleted(args: argparse.Namespace, name: str, response: ProtoMessage) -> int:
    if args.json:
        output.print_json(response)
    else:
        print(f"deleted {name}")
    return 0


def collect_pages(args: argparse.Namespace, pager: Pager[Any], items: str) -> Any:
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


def more_hint(args: argparse.Namespace, response: Any) -> None:
    if not args.json and response.next_page_token:
        print(f"more results: pass --all, or --page-token {response.next_page_token}", file=sys.stderr)


def print_page(
    args: argparse.Namespace,
    response: Any,
    items: str,
    headers: Sequence[str],
    row: Callable[[Any], Sequence[str]],
    hint: bool = True,
) -> int:
    """A List or Search response: JSON, or a table of one row per item and the hint of more pages."""
    if args.json:
        output.print_json(response)
        return 0
    output.print_table(headers, [row(item) for item in getattr(response, items)])
    if hint:
        more_hint(args, response)
    return 0


def print_pages(
    args: argparse.Namespace, pager: Pager[Any], items: str, headers: Sequence[str], row: Callable[[Any], Sequence[str]]
) -> int:
    """`print_page` of the first page, or with --all of every page."""
    return print_page(args, collect_pages(args, pager, items), items, headers, row)


# -- the parsers -----------------------------------------------------------------

_GROUP_EPILOG = (
    "names may be given in full (agents/ID, sessions/ID, sessions/S/messages/M) or short (ID, S/M).\n"
    f"the server is --server, else ${SERVER_ENV}, else {DEFAULT_SERVER}.\n"
    "exit codes: 0 success, 1 the call failed, 2 bad usage.\n"
    "help on one command: runwire {group} COMMAND --help"
)


def common_options() -> argparse.ArgumentParser:
    """The options every client command takes after its own name."""
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
        type=arguments.positive_number,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_TIMEOUT:g})",
    )
    return common


def group(commands: Any, name: str, help_text: str, description: str) -> Any:
    """A command group (`runwire NAME COMMAND`); returns what `leaf` adds its commands to."""
    top = commands.add_parser(
        name,
        help=help_text,
        description=f"{description} Every command takes --server, --json and --timeout.",
        epilog=_GROUP_EPILOG.format(group=name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return top.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def leaf(
    group: Any, name: str, help_text: str, behavior: Behavior, common: argparse.ArgumentParser, epilog: str | None = None
) -> argparse.ArgumentParser:
    """One command of a group, running `behavior`; its description is its help text as a sentence."""
    parser = group.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        parents=[common],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=command(behavior), parser=parser)
    return parser


def add_name_argument(
    parser: argparse.ArgumentParser, help_text: str, metavar: str | None = "NAME", type: Any = None
) -> None:
    parser.add_argument("name", metavar=metavar, type=type, help=help_text)


def add_label_option(parser: argparse.ArgumentParser, replaces: bool = False) -> None:
    extra = "; replaces every existing label" if replaces else ""
    parser.add_argument(
        "--label", type=arguments.label, action="append", metavar="KEY=VALUE", help=f"a label, repeatable{extra}"
    )
    if replaces:
        parser.add_argument("--clear-labels", action="store_true", help="remove every label (with --label: keep only those)")


def add_request_id_option(parser: argparse.ArgumentParser, help_text: str = IDEMPOTENCY_HELP) -> None:
    parser.add_argument("--request-id", metavar="UUID", help=help_text)


def add_validate_only_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--validate-only", action="store_true", help=help_text)


def add_etag_option(parser: argparse.ArgumentParser, noun: str, quotes_included: bool = True) -> None:
    extra = " (quotes included)" if quotes_included else ""
    parser.add_argument("--etag", metavar="ETAG", help=f"fail with ABORTED unless the {noun} still has this etag{extra}")


def add_create_options(parser: argparse.ArgumentParser, verb: str = "creating") -> None:
    """--request-id and --validate-only of a Create command."""
    add_request_id_option(parser)
    add_validate_only_option(parser, f"check the request and show the result without {verb} it")


def add_update_options(parser: argparse.ArgumentParser, noun: str) -> None:
    """--etag and --validate-only of an Update command."""
    add_etag_option(parser, noun)
    add_validate_only_option(parser, "check the change and show the result without applying it")


def add_delete_options(parser: argparse.ArgumentParser, noun: str, name_help: str, force_help: str) -> None:
    """NAME, --force and --etag of a Delete command."""
    add_name_argument(parser, name_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    add_etag_option(parser, noun)


def add_list_options(parser: argparse.ArgumentParser, order: bool = True, filter_help: str = "") -> None:
    if filter_help:
        parser.add_argument("--filter", metavar="FILTER", help=filter_help)
    if order:
        parser.add_argument("--order-by", metavar="ORDER", help="AIP-132 order, for example 'create_time desc'")
    add_page_options(parser, "results per page (server default when omitted)", "continue from the next_page_token of an earlier call")
    parser.add_argument("--all", action="store_true", help="follow next_page_token and print every page")


def add_page_options(parser: argparse.ArgumentParser, size_help: str, token_help: str) -> None:
    parser.add_argument("--page-size", type=arguments.page_size, metavar="N", help=size_help)
    parser.add_argument("--page-token", metavar="TOKEN", help=token_help)


def add_command_groups(commands: Any, modules: Iterable[str]) -> None:
    """Add the groups of the modules `runwire.cli.commands.NAME`, in this order, to `runwire`."""
    common = common_options()
    for module in modules:
        importlib.import_module(f"runwire.cli.commands.{module}").add_commands(commands, common)
