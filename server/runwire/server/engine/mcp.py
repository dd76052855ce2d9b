"""Connections to MCP servers, and their tools as tools agents can call.

Each registered server gets one `McpConnection`: a supervisor task that
connects with the official `mcp` SDK (a local process over stdio, or
Streamable HTTP), reads the tool list, pings while idle, and after any
failure reconnects (restarting the process, for stdio) with exponential
backoff. The SDK's transports are entered and left in that one task, as
anyio requires. Tool calls from runs go through the live client; whatever
goes wrong becomes a ToolError (or TimeoutError) for the run loop, never an
exception that reaches the run or the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Coroutine, Mapping, TextIO

from runwire.server.background import spawn
from runwire.server.config import McpSettings
from runwire.server.core.clock import utc_now
from runwire.server.core.mcp import McpToolInfo, call_name, parse_call_name, scrub
from runwire.server.core.statuses import McpState
from runwire.server.engine.egress import EgressPolicy, find_refusal, guarded_transport
from runwire.server.engine.failures import causes, connection_trouble, http_errors
from runwire.server.engine.tools import ToolContext, ToolError
from runwire.server.wire import json_values

log = logging.getLogger("runwire.mcp")

DEFAULT_CALL_TIMEOUT_SECONDS = 60.0
# Text kept of an error or of a tool's error output.
MAX_ERROR_CHARS = 2_000


@dataclass(frozen=True)
class McpTarget:
    """What to connect to, from the server's registration."""

    server_id: str
    transport: Mapping[str, Any]
    call_timeout: float
    disabled: bool = False

    @property
    def name(self) -> str:
        return f"mcpServers/{self.server_id}"


@dataclass
class McpStatus:
    """What a connection last saw; persisted with the registration after every change."""

    state: McpState = McpState.CONNECTING
    last_error: str = ""
    # The ErrorReason of `last_error` when it is more precise than MCP_SERVER_UNAVAILABLE.
    last_error_reason: str = ""
    last_error_time: datetime | None = None
    restart_count: int = 0
    ready_time: datetime | None = None
    tools: tuple[McpToolInfo, ...] = ()
    tools_time: datetime | None = None
    protocol_version: str = ""
    server_version: str = ""


Reporter = Callable[[str, McpStatus], Awaitable[None]]


class McpConnection:
    def __init__(
        self,
        target: McpTarget,
        settings: McpSettings,
        report: Reporter,
        log_dir: Path,
        status: McpStatus | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.target = target
        self._egress = egress or EgressPolicy()
        self.settings = settings
        self._report = report
        self._log_dir = log_dir
        # Starts from what was persisted (tools stay known while reconnecting after a restart).
        self.status = status or McpStatus()
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._broken = asyncio.Event()
        self._wake = asyncio.Event()
        # Set whenever the connection is not CONNECTING: waiters for an attempt's outcome use it.
        self._settled = asyncio.Event()
        self._stopping = False

    # -- control --------------------------------------------------------------

    def start(self) -> None:
        if self.target.disabled:
            self.status.state = McpState.DISABLED
            self._settled.set()
            self._spawn(self._report_now())
            return
        self._task = spawn(self._supervise(), name=f"mcp-{self.target.server_id}")

    async def stop(self) -> None:
        """Disconnect (and stop the process, for stdio); waits for the transport to close."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._settled.set()

    async def wait_settled(self, timeout: float) -> None:
        """Wait until the current attempt has an outcome (READY or ERROR), at most `timeout` seconds."""
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), timeout)

    def tool(self, name: str) -> McpToolInfo | None:
        return next((t for t in self.status.tools if t.name == name), None)

    # -- calls ----------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool of the server: its output, or ToolError / TimeoutError."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client = self._client
        state = self.status.state
        if client is None or state != McpState.READY:
            why = f": {self.status.last_error}" if self.status.last_error and state != McpState.DISABLED else ""
            raise ToolError(f"MCP server {self.target.name} is not connected (state {state.name}){why}")
        timeout = self.target.call_timeout
        try:
            async with asyncio.timeout(timeout + 1.0):
                result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except MCPError as error:
            if error.code == REQUEST_TIMEOUT:
                raise TimeoutError(f"{self.target.name} did not answer within {timeout:g} s") from None
            if error.code == CONNECTION_CLOSED:
                self._broken.set()
                raise ToolError(
                    f"MCP server {self.target.name} closed the connection during the call (it is being restarted)"
                ) from None
            raise ToolError(f"MCP server {self.target.name}: {_clip(self._scrub(error.message))}") from None
        except (TimeoutError, asyncio.CancelledError):
            raise
        except Exception as error:  # a malformed answer, a transport failure: the run sees a tool error
            if _is_connection_failure(error):
                self._broken.set()
            self._log_detail("a call of its tool failed", error)
            raise ToolError(f"MCP server {self.target.name}: {self._scrub(_describe(error))}") from None
        return _tool_output(result)

    # -- supervision ----------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            await self._set_state(McpState.CONNECTING)
            try:
                async with AsyncExitStack() as stack:
                    await self._connect(stack, recovering=failures > 0)
                    failures = 0
                    await self._watch()
                    reason = self._broken_reason or "the connection was lost"
                    self._client = None
                # The transport is closed (for stdio, the process is gone) before the failure is reported.
                await self._fail(reason)
            except asyncio.CancelledError:
                self._client = None
                raise
            except Exception as error:
                self._client = None
                refusal = find_refusal(error)
                if refusal is not None:
                    await self._fail(str(refusal), reason=refusal.reason)
                else:
                    self._log_detail("connecting failed", error)
                    await self._fail(_describe(error))
            failures += 1
            delay = min(
                self.settings.mcp_restart_backoff_seconds * (2 ** min(failures - 1, 30)),
                self.settings.mcp_restart_backoff_max_seconds,
            )
            log.warning("MCP server %s failed (%s); reconnecting in %.2fs", self.target.name, self.status.last_error, delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    _broken_reason: str = ""

    async def _connect(self, stack: AsyncExitStack, *, recovering: bool) -> None:
        from mcp import Client

        self._broken.clear()
        self._broken_reason = ""
        async with asyncio.timeout(self.target.call_timeout):
            client = await stack.enter_async_context(Client(self._transport(stack), read_timeout_seconds=self.target.call_timeout))
            tools = await _list_tools(client)
        info = client.server_info
        now = utc_now()
        status = self.status
        status.tools, status.tools_time = tools, now
        status.protocol_version = str(client.protocol_version or "")
        status.server_version = f"{info.name} {info.version}".strip() if info is not None else ""
        status.ready_time = now
        if recovering:
            status.restart_count += 1
        self._client = client
        await self._set_state(McpState.READY)
        log.info("MCP server %s ready with %d tool(s)", self.target.name, len(tools))

    def _transport(self, stack: AsyncExitStack) -> Any:
        transport = self.target.transport
        if "stdio" in transport:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            stdio = transport["stdio"]
            params = StdioServerParameters(
                command=stdio["command"],
                args=list(stdio.get("args") or []),
                env=dict(stdio.get("env") or {}) or None,
                cwd=stdio.get("cwd") or None,
            )
            return stdio_client(params, errlog=self._stderr_log(stack))
        import httpcore2
        import httpx2
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

        http = transport["http"]
        # A user chose the URL: every connection goes through the egress policy; redirects are not followed.
        client = httpx2.AsyncClient(
            headers=dict(http.get("headers") or {}),
            timeout=httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
            transport=guarded_transport(self._egress, httpx_module=httpx2, httpcore_module=httpcore2),
            trust_env=False,
            follow_redirects=False,
        )
        # A client passed in is not closed by the transport; the stack closes it after the session.
        stack.push_async_callback(client.aclose)
        return streamable_http_client(http["url"], http_client=client)

    def _stderr_log(self, stack: AsyncExitStack) -> TextIO:
        """The process's stderr goes to {data_dir}/mcp/{server}.stderr.log, where people can read why it failed."""
        try:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            return stack.enter_context(open(self._log_dir / f"{self.target.server_id}.stderr.log", "a", encoding="utf-8"))
        except OSError:
            return stack.enter_context(open(os.devnull, "w", encoding="utf-8"))

    async def _watch(self) -> None:
        """Until the connection breaks: wait for a failed call to report it, and ping while idle."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        while not self._stopping:
            try:
                await asyncio.wait_for(self._broken.wait(), self.settings.mcp_health_check_seconds)
                self._broken_reason = self._broken_reason or "the connection closed (the server stopped or crashed)"
                return
            except TimeoutError:
                pass
            client = self._client
            try:
                async with asyncio.timeout(self.target.call_timeout):
                    await client.session.send_ping()
            except MCPError as error:
                # Any answer, even "method not found" from servers of protocol versions without ping, means alive.
                if error.code in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
                    self._broken_reason = f"the server did not answer a ping: {_describe(error)}"
                    return
            except Exception as error:
                self._broken_reason = f"the server did not answer a ping: {_describe(error)}"
                return

    def _scrub(self, text: str) -> str:
        return scrub(text, self.target.transport)

    def _log_detail(self, what: str, error: BaseException) -> None:
        """The library's own words, for the operator: one line, URLs and headers scrubbed."""
        detail = "; ".join(f"{type(c).__name__}: {c}" for c in causes(error)[:4])
        log.info("MCP server %s: %s: %s", self.target.name, what, _clip(self._scrub(" ".join(detail.split()))))

    async def _fail(self, message: str, reason: str = "") -> None:
        status = self.status
        status.last_error = _clip(self._scrub(message))
        status.last_error_reason = reason
        status.last_error_time = utc_now()
        await self._set_state(McpState.ERROR)

    async def _set_state(self, state: McpState) -> None:
        self.status.state = state
        if state == McpState.CONNECTING:
            self._settled.clear()
        await self._report_now()
        if state != McpState.CONNECTING:
            self._settled.set()

    async def _report_now(self) -> None:
        try:
            await self._report(self.target.server_id, self.status)
        except Exception:  # losing one status write must not stop the connection
            log.exception("could not record the state of MCP server %s", self.target.name)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = spawn(work, name=f"mcp-{self.target.server_id}-report")

    def wake(self) -> None:
        """Skip the rest of a backoff delay."""
        self._wake.set()


class McpTool:
    """One tool of an MCP server, as the run loop calls it."""

    requires_approval = False

    def __init__(self, manager: McpManager, server_id: str, info: McpToolInfo) -> None:
        self._manager = manager
        self.server_id = server_id
        self.tool_name = info.name
        self.name = call_name(server_id, info.name)
        self.description = info.description or info.title or info.name
        self.parameters = dict(info.input_schema)

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        connection = self._manager.get(self.server_id)
        if connection is None:
            raise ToolError(f"MCP server mcpServers/{self.server_id} does not exist (MCP_SERVER_NOT_FOUND)")
        return await connection.call(self.tool_name, arguments)


class McpManager:
    """Every connection of this process, by server id; also the registry's source of MCP tools."""

    def __init__(self, settings: McpSettings, log_dir: Path, report: Reporter, egress: EgressPolicy | None = None) -> None:
        self.settings = settings
        self.egress = egress or EgressPolicy()
        self.log_dir = log_dir
        self._report = report
        self._connections: dict[str, McpConnection] = {}
        self._closing = False

    def get(self, server_id: str) -> McpConnection | None:
        return self._connections.get(server_id)

    async def apply(self, target: McpTarget, status: McpStatus | None = None) -> McpConnection:
        """(Re)connect a server with this registration, replacing any connection it had."""
        old = self._connections.pop(target.server_id, None)
        if old is not None:
            status = status or old.status
            await old.stop()
        fresh = McpStatus(
            restart_count=status.restart_count if status else 0,
            tools=status.tools if status else (),
            tools_time=status.tools_time if status else None,
            protocol_version=status.protocol_version if status else "",
            server_version=status.server_version if status else "",
            ready_time=status.ready_time if status else None,
        )
        connection = McpConnection(target, self.settings, self._report, self.log_dir, fresh, self.egress)
        if not self._closing:
            self._connections[target.server_id] = connection
            connection.start()
        return connection

    async def remove(self, server_id: str) -> None:
        connection = self._connections.pop(server_id, None)
        if connection is not None:
            await connection.stop()

    async def close(self) -> None:
        self._closing = True
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)

    # -- the tool registry's view ------------------------------------------------

    def tool(self, name: str) -> McpTool | None:
        parsed = parse_call_name(name)
        if parsed is None:
            return None
        server_id, tool_name = parsed
        connection = self._connections.get(server_id)
        if connection is None:
            return None
        info = connection.tool(tool_name)
        return McpTool(self, server_id, info) if info is not None else None


async def _list_tools(client: Any) -> tuple[McpToolInfo, ...]:
    tools: list[McpToolInfo] = []
    cursor: str | None = None
    from mcp_types import PaginatedRequestParams

    for _ in range(100):  # a server that pages forever is cut off
        result = await client.session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        for tool in result.tools:
            tools.append(
                McpToolInfo(
                    name=tool.name,
                    title=tool.title or (tool.annotations.title if tool.annotations and tool.annotations.title else "") or "",
                    description=tool.description or "",
                    input_schema=_schema(tool.name, "input", tool.input_schema) or {"type": "object"},
                    output_schema=_schema(tool.name, "output", tool.output_schema),
                )
            )
        cursor = result.next_cursor
        if not cursor:
            break
    return tuple(tools)


def _schema(tool: str, which: str, schema: Any) -> dict[str, Any] | None:
    """A tool's JSON schema as a Struct carries it (ListTools shows it). One that cannot be carried
    (nested too deeply, NaN...) is dropped: any object is then sent, and the MCP server checks its input."""
    if not schema:
        return None
    try:
        return json_values.normalize(schema)
    except json_values.JsonValueError as exc:
        log.warning("MCP tool %r: its %s schema is left out: %s", tool, which, exc)
        return None


def _tool_output(result: Any) -> dict[str, Any]:
    """A CallToolResult as the model sees it: structured content when there is some, else the content blocks."""
    blocks = [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in (result.content or [])]
    text = "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    if getattr(result, "is_error", False):
        raise ToolError(_clip(text) or "the tool reported an error")
    structured = getattr(result, "structured_content", None)
    if isinstance(structured, dict):
        return structured
    if blocks and all(b.get("type") == "text" for b in blocks):
        return {"text": text}
    return {"content": blocks}


def _is_connection_failure(error: BaseException) -> bool:
    import anyio

    return isinstance(error, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError))


def _describe(error: BaseException) -> str:
    """A one-line explanation in the server's own words; the exception itself is for the log."""
    from mcp.shared.exceptions import MCPError

    chain = causes(error)
    for cause in chain:
        if isinstance(cause, (FileNotFoundError, PermissionError)) and cause.filename is not None:
            return f"cannot start the command ({connection_trouble(cause)})"
        if isinstance(cause, MCPError):  # the MCP server's (or its protocol's) own words
            return _clip(" ".join(_CONTROL_CHARS.sub(" ", cause.error.message).split())) or f"the server answered error {cause.error.code}"
        if isinstance(cause, http_errors("HTTPStatusError")):
            # Looked up by name in each HTTP client module; every HTTPStatusError carries its response.
            return f"the server answered HTTP {cause.response.status_code}"  # type: ignore[attr-defined]
    if any(isinstance(cause, TimeoutError) for cause in chain):
        return "timed out"
    if any(isinstance(cause, (OSError, *http_errors("HTTPError"))) for cause in chain):
        return connection_trouble(error)
    if any(_is_connection_failure(cause) for cause in chain):
        return "the connection closed"
    return "an unexpected failure (the server's log has the detail)"


# Terminal escape sequences first, then any other control character.
_CONTROL_CHARS = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x1f\x7f-\x9f]")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def stdio_command_problem(command: str) -> str | None:
    """Why a stdio command cannot be run on this host, or None."""
    import shutil

    if os.path.isabs(command):
        if not os.path.isfile(command):
            return f"{command!r} does not exist on the server"
        if not os.access(command, os.X_OK):
            return f"{command!r} is not executable"
        return None
    if "/" in command or os.sep in command:
        return "must be an absolute path or a command name found on the server's PATH"
    if shutil.which(command) is None:
        return f"{command!r} is not found on the server's PATH"
    return None

