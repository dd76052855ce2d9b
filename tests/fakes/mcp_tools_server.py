"""A small MCP server built with the official `mcp` SDK, for the tests.

    python -m tests.fakes.mcp_tools_server                      # stdio
    python -m tests.fakes.mcp_tools_server --http PORT_FILE     # streamable HTTP on a free port of 127.0.0.1

Tools: `add` (two numbers), `echo` (text back, optionally failing as a tool
error), `boom` (fails with a Python exception), `describe` (the JSON type of
each value it receives, as Python parsed it), `wait` (sleeps, to be cancelled
or timed out), `crash` (the process exits at once, mid-call, as a crashing server would), `exit_soon` (the
process exits just after answering, as a server dying while idle would). With
`MCP_FAKE_CRASH_MARKER` set, `crash` only exits while that file does not
exist, creating it first, so the restarted process answers normally.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer(name="fake-tools", version="1.2.3", log_level="ERROR")


@server.tool(title="Add numbers", description="Adds two numbers and returns the sum.")
def add(a: float, b: float) -> dict[str, float]:
    return {"sum": a + b}


@server.tool(description="Returns the text it is given; with fail=true, fails as a tool error.")
def echo(text: str, fail: bool = False) -> str:
    if fail:
        raise ToolError(f"echo was told to fail: {text}")
    return text


@server.tool(description="Fails with a Python exception (not a tool error), as a buggy tool would.")
def boom() -> str:
    raise ValueError("invalid literal for int() with base 10 in /tmp/fake-tools/secret.py")


@server.tool(description="Names the type of each value it receives (int, float, str, list, dict...), items included.")
def describe(value: Any = None, count: int = 42) -> dict[str, Any]:
    return {"value": value, "types": _types(value), "count": count}


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value).__name__


@server.tool(description="Sleeps for the given seconds, then answers.")
async def wait(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"waited {seconds} s"


@server.tool(description="Makes the server process exit in the middle of the call.")
def crash() -> str:
    marker = os.environ.get("MCP_FAKE_CRASH_MARKER")
    if marker and Path(marker).exists():
        return "survived"
    if marker:
        Path(marker).write_text("crashed once\n")
    os._exit(3)


@server.tool(description="Answers, then makes the server process exit a moment later, while idle.")
async def exit_soon() -> str:
    asyncio.get_running_loop().call_later(0.2, os._exit, 4)
    return "exiting"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        Path(sys.argv[2] + ".tmp").write_text(str(port))
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run()


if __name__ == "__main__":
    main()
