"""`runwire crews`: create, show, list, change and delete crews (agents working together under a process).

A crew is given by flags, by a file, or both: `--file crew.json` (or `.yaml`
/ `.yml`, which needs PyYAML) holds a Crew as in crew.proto (`members`,
`process`, `manager`, `tasks`, `limits`...), and the flags then change it:
the scalar flags replace the file's values, `--member` and `--task` add
members and tasks after the file's. Run a crew with `runwire run --crew`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from google.protobuf import json_format

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api, CliError
from runwire.cli.names import agent_name, crew_name
from runwire.v1 import crew_pb2

Crew = crew_pb2.Crew
PROCESSES = {
    "sequential": Crew.PROCESS_SEQUENTIAL,
    "parallel": Crew.PROCESS_PARALLEL,
    "hierarchical": Crew.PROCESS_HIERARCHICAL,
}
_PROCESS_FIELD = Crew.DESCRIPTOR.fields_by_name["process"]
_NAME_HELP = "crews/ID or ID"
# The CrewLimits flags: (flag's attribute, limit field, argument type).
_LIMITS = (
    ("max_depth", "max_depth", int),
    ("max_child_runs", "max_child_runs", int),
    ("max_total_tokens", "max_total_tokens", int),
    ("max_parallel_tasks", "max_parallel_tasks", int),
    ("max_replans", "max_replans", int),
)
# Fields a crew file may set, for the update mask of `crews update --file`.
_UPDATABLE = ("display_name", "description", "members", "process", "manager", "tasks", "limits", "labels")


def _crew_row(c: crew_pb2.Crew) -> list[str]:
    return [
        c.name,
        output.cell(c.display_name, framework.NAME_COLUMN_WIDTH),
        output.enum_label(_PROCESS_FIELD, c.process),
        str(len(c.members)),
        str(len(c.tasks)) if c.tasks else ("planned" if c.process == Crew.PROCESS_HIERARCHICAL else "0"),
        output.timestamp_text(c, "create_time"),
    ]


def read_crew_file(path: str) -> crew_pb2.Crew:
    """A Crew from a JSON or YAML file (`-`: JSON or YAML on stdin), in proto JSON field names (either style)."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path!r}: {exc}") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise CliError(f"{path}: expected one crew (an object), not {type(data).__name__}")
    try:
        return json_format.ParseDict(data, crew_pb2.Crew())
    except json_format.ParseError as exc:
        raise CliError(f"{path}: not a crew: {exc}") from None


def _parse(path: str, text: str) -> Any:
    if path.endswith((".yaml", ".yml")) or (path == "-" and not text.lstrip().startswith(("{", "["))):
        try:
            import yaml
        except ImportError:
            raise CliError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or give the crew as JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CliError(f"{path}: not YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON: {exc}") from None


def _member(text: str) -> crew_pb2.CrewMember:
    """ID=AGENT: a member with its key in the crew and its agent."""
    member_id, agent = arguments.label(text)
    if not agent:
        raise argparse.ArgumentTypeError(f"{text!r} names no agent (ID=AGENT)")
    return crew_pb2.CrewMember(id=member_id, agent=agent_name(agent))


def _task(text: str) -> crew_pb2.CrewTask:
    """ID=DESCRIPTION: a task with its key in the crew and what to do."""
    task_id, description = arguments.label(text)
    return crew_pb2.CrewTask(id=task_id, description=description)


def _by_id(items: Any, key: str, what: str) -> Any:
    """The member or task `key` among those given so far (by --file, --member, --task)."""
    for item in items:
        if item.id == key:
            return item
    raise CliError(f"there is no {what} {key!r}: add it with --{what} ID=... (or in --file)")


def _apply_flags(args: argparse.Namespace, crew: crew_pb2.Crew) -> list[str]:
    """Set the flags given on `crew`; returns the update-mask paths they change."""
    paths: list[str] = []
    for field in ("display_name", "description"):
        value = getattr(args, field)
        if value is not None:
            setattr(crew, field, value)
            paths.append(field)
    if args.process is not None:
        crew.process = args.process
        paths.append("process")
    if args.manager is not None:
        crew.manager = agent_name(args.manager) if args.manager else ""
        paths.append("manager")
    if args.member:
        crew.members.extend(args.member)
    for field in ("role", "goal"):
        for key, value in getattr(args, field) or []:
            setattr(_by_id(crew.members, key, "member"), field, value)
    if args.member or args.role or args.goal:
        paths.append("members")
    if args.task:
        crew.tasks.extend(args.task)
    for key, member in args.assign or []:
        _by_id(crew.tasks, key, "task").member = member
    for key, dependencies in args.context or []:
        _by_id(crew.tasks, key, "task").context.extend(d for d in dependencies.split(",") if d)
    for key, expected in args.expected_output or []:
        _by_id(crew.tasks, key, "task").expected_output = expected
    if args.task or args.assign or args.context or args.expected_output or getattr(args, "clear_tasks", False):
        paths.append("tasks")
    for attribute, field, _ in _LIMITS:
        value = getattr(args, attribute)
        if value is not None:
            setattr(crew.limits, field, value)
            paths.append(f"limits.{field}")
    if args.max_duration is not None:
        crew.limits.max_duration.CopyFrom(framework.duration(args.max_duration))
        paths.append("limits.max_duration")
    if args.label is not None or getattr(args, "clear_labels", False):
        crew.labels.update(framework.labels(args.label))
        paths.append("labels")
    return paths


def crews_create(args: argparse.Namespace, api: Api) -> int:
    crew = read_crew_file(args.file) if args.file else crew_pb2.Crew()
    _apply_flags(args, crew)
    if not crew.display_name:
        args.parser.error("give --display-name (or display_name in --file)")
    return framework.show_created(args, api.crews.create(crew, **framework.create_options(args, "crew_id")))


def crews_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.crews.get(crew_name(args.name)))


def crews_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.crews.list(**framework.list_options(args))
    return framework.print_pages(args, pager, "crews", ["NAME", "DISPLAY NAME", "PROCESS", "MEMBERS", "TASKS", "CREATED"], _crew_row)


def crews_update(args: argparse.Namespace, api: Api) -> int:
    """Only the fields given change: each field the file sets, and each flag's field. --member and --task
    replace the crew's members and tasks (with the file's, if it has them)."""
    crew = read_crew_file(args.file) if args.file else crew_pb2.Crew()
    paths = [field for field in _UPDATABLE if _is_set(crew, field)]
    paths += [path for path in _apply_flags(args, crew) if path not in paths and path.split(".")[0] not in paths]
    crew.name, crew.etag = crew_name(args.name), args.etag or crew.etag
    if not paths:
        framework.nothing_to_update(
            args,
            "--file, --display-name, --description, --process, --manager, --member, --task, --clear-tasks, "
            "a limit flag, --label, --clear-labels",
        )
    return framework.show(args, api.crews.update(crew, paths, validate_only=args.validate_only))


def _is_set(crew: crew_pb2.Crew, field: str) -> bool:
    descriptor = Crew.DESCRIPTOR.fields_by_name[field]
    if descriptor.is_repeated:
        return len(getattr(crew, field)) > 0
    if descriptor.message_type is not None:
        return crew.HasField(field)  # type: ignore[arg-type]  # a name from the descriptor, not a literal
    return bool(getattr(crew, field))


def crews_delete(args: argparse.Namespace, api: Api) -> int:
    name = crew_name(args.name)
    return framework.deleted(args, name, api.crews.delete(name, etag=args.etag or "", allow_missing=args.allow_missing))


def _add_crew_options(parser: argparse.ArgumentParser, updating: bool) -> None:
    parser.add_argument(
        "--file",
        metavar="PATH",
        help="a crew as JSON (or YAML: .yaml/.yml, needs PyYAML), fields as in crew.proto; - for stdin",
    )
    parser.add_argument("--display-name", metavar="NAME", help="human-readable name, 1 to 200 characters")
    parser.add_argument("--description", metavar="TEXT", help="free text describing the crew")
    parser.add_argument(
        "--process",
        type=arguments.choice(PROCESSES, "process"),
        metavar="|".join(PROCESSES),
        help="how tasks are ordered and assigned (default sequential)",
    )
    parser.add_argument("--manager", metavar="AGENT", help="the planning agent, agents/ID or ID (hierarchical only; '' clears it)")
    replaces = "; replaces every member" if updating else ""
    parser.add_argument("--member", type=_member, action="append", metavar="ID=AGENT", help=f"a member: its key and its agent, repeatable{replaces}")
    parser.add_argument("--role", type=arguments.label, action="append", metavar="ID=ROLE", help="the role of member ID")
    parser.add_argument("--goal", type=arguments.label, action="append", metavar="ID=GOAL", help="what member ID aims at")
    replaces = "; replaces every task" if updating else ""
    parser.add_argument("--task", type=_task, action="append", metavar="ID=DESCRIPTION", help=f"a task, repeatable, in order{replaces}")
    parser.add_argument("--assign", type=arguments.label, action="append", metavar="TASK=MEMBER", help="the member that executes TASK")
    parser.add_argument(
        "--context", type=arguments.label, action="append", metavar="TASK=ID[,ID]", help="earlier tasks whose results TASK needs"
    )
    parser.add_argument("--expected-output", type=arguments.label, action="append", metavar="TASK=TEXT", help="what TASK's result should be")
    limits = parser.add_argument_group("limits of each run of the crew (server defaults when omitted)")
    limits.add_argument("--max-depth", type=int, metavar="N", help="depth of child runs, 1 to 8 (default 4)")
    limits.add_argument("--max-child-runs", type=int, metavar="N", help="child runs in the whole tree (default 100)")
    limits.add_argument("--max-total-tokens", type=int, metavar="N", help="tokens of the whole tree (default no limit)")
    limits.add_argument("--max-duration", type=arguments.positive_number, metavar="SECONDS", help="wall-clock time of a crew run")
    limits.add_argument("--max-parallel-tasks", type=int, metavar="N", help="tasks at once (parallel), 1 to 16 (default 4)")
    limits.add_argument("--max-replans", type=int, metavar="N", help="manager reviews that change the plan (hierarchical)")
    framework.add_label_option(parser, replaces=updating)


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(
        commands, "crews", "create, show, list, change and delete crews", "Manage crews: agents working together under a process."
    )

    create = framework.leaf(
        group,
        "create",
        "create a crew",
        crews_create,
        common,
        epilog="examples:\n"
        "  runwire crews create --id blog --display-name Blog --member research=researcher --member write=writer \\\n"
        "    --task facts='List three facts' --assign facts=research \\\n"
        "    --task post='Write a post from the facts' --assign post=write --context post=facts\n"
        "  runwire crews create --id desk --file desk.json --process hierarchical --manager editor\n\n"
        "then run it: runwire run --crew blog 'Tides'",
    )
    create.add_argument("--id", metavar="ID", help="the crew's id (crews/ID): 4-63 of [a-z0-9-]; generated when omitted")
    _add_crew_options(create, updating=False)
    framework.add_create_options(create)

    get = framework.leaf(group, "get", "show one crew", crews_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list crews as a table (newest first by default)", crews_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on display_name, description, process (SEQUENTIAL, PARALLEL, HIERARCHICAL), "
        "manager, labels.KEY, create_time, update_time; e.g. 'process = PARALLEL'",
    )

    update = framework.leaf(
        group,
        "update",
        "change a crew; only the fields given (by flag or in --file) are changed",
        crews_update,
        common,
        epilog="example:\n  runwire crews update blog --process parallel --max-parallel-tasks 2 --etag '\"9f2c...\"'",
    )
    framework.add_name_argument(update, _NAME_HELP)
    _add_crew_options(update, updating=True)
    update.add_argument("--clear-tasks", action="store_true", help="remove every task (with --task: keep only those)")
    framework.add_update_options(update, "crew")

    delete = framework.leaf(group, "delete", "delete a crew (its runs stay readable)", crews_delete, common)
    framework.add_name_argument(delete, _NAME_HELP)
    framework.add_etag_option(delete, "crew")
    delete.add_argument("--allow-missing", action="store_true", help="succeed when the crew does not exist")
