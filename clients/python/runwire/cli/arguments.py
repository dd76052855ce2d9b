"""Argument types of the client commands: each turns one command-line word into a value, or rejects it as a
usage error (argparse prints it and exits with code 2)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Mapping

from runwire.v1 import agent_pb2


def label(text: str) -> tuple[str, str]:
    """KEY=VALUE (labels, environment variables, HTTP headers)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


# `agent.ID` offers agent ID as a tool (a child run answers), `handover.ID` hands the conversation to it: the
# names the model calls them by.
_DELEGATIONS = {
    "agent.": agent_pb2.AgentTool.DELEGATION_TOOL,
    "handover.": agent_pb2.AgentTool.DELEGATION_HANDOVER,
}


def tool(text: str) -> agent_pb2.AgentTool:
    """NAME[@MCP_SERVER][:approval], or agent.ID / handover.ID[:approval]: a tool an agent may call."""
    spec, approval = text, False
    if spec.endswith(":approval"):
        spec, approval = spec[: -len(":approval")], True
    elif ":" in spec:
        raise argparse.ArgumentTypeError(f"{text!r}: the only tool option is ':approval' (NAME[@MCP_SERVER][:approval])")
    for prefix, delegation in _DELEGATIONS.items():
        if spec.startswith(prefix):
            agent = spec[len(prefix) :]
            if not agent or "@" in agent:
                raise argparse.ArgumentTypeError(f"{text!r}: give the agent as {prefix}ID")
            agent = agent if agent.startswith("agents/") else f"agents/{agent}"
            return agent_pb2.AgentTool(agent=agent, delegation=delegation, requires_approval=approval)
    name, _, server = spec.partition("@")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r} names no tool")
    if server and "/" not in server:
        server = f"mcpServers/{server}"
    return agent_pb2.AgentTool(name=name, mcp_server=server, requires_approval=approval)


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_number(text: str) -> float:
    value = number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def text_file(text: str) -> str:
    """The content of the file PATH, or of standard input for `-`."""
    if text == "-":
        return sys.stdin.read()
    try:
        with open(text, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {exc}") from None


def choice(mapping: Mapping[str, int], what: str) -> Callable[[str], int]:
    """One of the keys of `mapping`, any case, as its enum number."""

    def parse(text: str) -> int:
        try:
            return mapping[text.lower()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose from {', '.join(mapping)}") from None

    parse.__name__ = what
    return parse
