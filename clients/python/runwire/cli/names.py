"""Resource names on the command line: given in full (`agents/x`) or by the bare id (`x`)."""

from __future__ import annotations

import argparse


def _in_collection(collection: str, text: str) -> str:
    """`x` -> `collection/x`; text holding a `/` is taken as a full name already."""
    return text if "/" in text else f"{collection}/{text}"


def agent_name(text: str) -> str:
    return _in_collection("agents", text)


def session_name(text: str) -> str:
    """`s` or `sessions/s`; `-` means every session (for list and search)."""
    return _in_collection("sessions", text)


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


def message_argument(text: str) -> str:
    """A message name as an argument type: the session must be part of it."""
    return message_name(text)


def run_name(text: str) -> str:
    return _in_collection("runs", text)


def batch_name(text: str) -> str:
    return _in_collection("batches", text)


def file_name(text: str) -> str:
    return _in_collection("files", text)


def mcp_server_name(text: str) -> str:
    return _in_collection("mcpServers", text)


def tool_name(text: str) -> str:
    """`tools/T`, `mcpServers/S/tools/T`, or a bare built-in tool name."""
    return _in_collection("tools", text)


def memory_name(text: str) -> str:
    return text if text.startswith("memories/") else f"memories/{text}"


def secret_name(text: str) -> str:
    return text if text.startswith("secrets/") else f"secrets/{text}"


def crew_name(text: str) -> str:
    return _in_collection("crews", text)
