"""`runwire agents`: create, show, list, change and delete agents."""

from __future__ import annotations

import argparse
from typing import Any

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api
from runwire.cli.names import agent_name
from runwire.v1 import agent_pb2

STATES = {"active": agent_pb2.Agent.STATE_ACTIVE, "disabled": agent_pb2.Agent.STATE_DISABLED}
_STATE_FIELD = agent_pb2.Agent.DESCRIPTOR.fields_by_name["state"]
_NAME_HELP = "agents/ID or ID"


def _agent_row(a: Any) -> list[str]:
    return [
        a.name,
        output.cell(a.display_name, framework.NAME_COLUMN_WIDTH),
        output.enum_label(_STATE_FIELD, a.state),
        output.timestamp_text(a, "create_time"),
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
        labels=framework.labels(args.label),
    )
    if model.ListFields():
        agent.model.CopyFrom(model)
    if args.state is not None:
        agent.state = args.state
    return framework.show_created(args, api.agents.create(agent, **framework.create_options(args, "agent_id")))


def agents_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.agents.get(agent_name(args.name)))


def agents_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.agents.list(**framework.list_options(args))
    return framework.print_pages(args, pager, "agents", ["NAME", "DISPLAY NAME", "STATE", "CREATED"], _agent_row)


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
        agent.labels.update(framework.labels(args.label))
        paths.append("labels")
    if not paths:
        framework.nothing_to_update(
            args,
            "--display-name, --description, --instructions, --provider, --model, --temperature, --tool, --clear-tools, "
            "--state, --label, --clear-labels",
        )
    return framework.show(args, api.agents.update(agent, paths, validate_only=args.validate_only))


def agents_delete(args: argparse.Namespace, api: Api) -> int:
    name = agent_name(args.name)
    return framework.deleted(args, name, api.agents.delete(name, force=args.force, etag=args.etag or ""))


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", choices=("builtin", "openai"), help="model provider")
    parser.add_argument("--model", metavar="MODEL", help="model identifier passed to the provider, e.g. gpt-4o-mini")
    parser.add_argument("--temperature", type=arguments.number, metavar="T", help="sampling temperature, 0 to 2")
    parser.add_argument(
        "--tool",
        type=arguments.tool,
        action="append",
        metavar="NAME[:approval]",
        help="a tool the agent may call, repeatable: a built-in tool (calculator, current_time, session_search, "
        "file_search, memory), NAME@MCP_SERVER for a tool of an MCP server, agent.ID to call agent ID (its run "
        "answers) or handover.ID to hand the conversation to it; ':approval' makes every call wait "
        "for a person's approval",
    )
    parser.add_argument(
        "--state", type=arguments.choice(STATES, "state"), metavar="active|disabled", help="whether the agent accepts new runs"
    )


def _add_instructions_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--instructions", metavar="TEXT", help="system instructions given to the model")
    group.add_argument(
        "--instructions-file",
        dest="instructions",
        type=arguments.text_file,
        metavar="PATH",
        help="read the instructions from PATH (- for stdin)",
    )


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "agents", "create, show, list, change and delete agents", "Manage agents.")

    create = framework.leaf(
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
    _add_instructions_options(create)
    _add_model_options(create)
    framework.add_label_option(create)
    framework.add_create_options(create)

    get = framework.leaf(group, "get", "show one agent", agents_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list agents as a table (newest first by default)", agents_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on display_name, description, state, model.provider, model.model, labels.KEY, "
        "create_time, update_time; e.g. 'state = ACTIVE AND labels.team = care'",
    )

    update = framework.leaf(
        group,
        "update",
        "change an agent; only the fields given are changed",
        agents_update,
        common,
        epilog="example:\n  runwire agents update support --display-name 'Support bot' --etag '\"9f2c...\"'",
    )
    framework.add_name_argument(update, _NAME_HELP)
    update.add_argument("--display-name", metavar="NAME", help="new human-readable name")
    update.add_argument("--description", metavar="TEXT", help="new description ('' clears it)")
    _add_instructions_options(update)
    _add_model_options(update)
    update.add_argument("--clear-tools", action="store_true", help="remove every tool (with --tool: keep only those)")
    framework.add_label_option(update, replaces=True)
    framework.add_update_options(update, "agent")

    delete = framework.leaf(group, "delete", "delete an agent", agents_delete, common)
    framework.add_delete_options(delete, "agent", _NAME_HELP, "also delete the agent's sessions and their messages")
