"""MCP servers: registration rules, who may change what, and keeping each one connected.

Registrations are shared: every caller can read them and use their tools,
only the owner or an admin changes or deletes one, and only an admin may
register a command to run on this host (stdio). The connection itself lives
in engine/mcp.py; its state is written back to the registration on every
change, so listings filter on it and it survives restarts.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from runwire.server.config import McpSettings
from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, NotFound, PermissionDenied, Violations
from runwire.server.core.mcp import SECRET_PLACEHOLDER, McpToolInfo, mask_url, unmask_url
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import McpState
from runwire.server.domain.common import apply_path, check_labels, check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.engine.egress import EgressPolicy
from runwire.server.engine.mcp import (
    DEFAULT_CALL_TIMEOUT_SECONDS,
    McpManager,
    McpStatus,
    McpTarget,
    stdio_command_problem,
)
from runwire.server.store import mcp_servers as mcp_repo
from runwire.server.store.models import McpServerRow
from runwire.server.store.transaction import Transaction
from runwire.server.wire.tools import mcp_server_proto

log = logging.getLogger("runwire.mcp")

MAX_ARGS = 256
MAX_ARG_CHARS = 4_096
MAX_ENV = 64
MAX_HEADERS = 32
MAX_URL_CHARS = 2_048
MAX_VALUE_CHARS = 8_192
MIN_CALL_TIMEOUT_SECONDS = 1.0
MAX_CALL_TIMEOUT_SECONDS = 600.0
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
UPDATABLE = ("display_name", "description", "stdio", "http", "disabled", "call_timeout", "labels")
# Fields whose change reconnects the server.
CONNECTION_FIELDS = ("transport", "disabled", "call_timeout")


def not_found(name: str) -> NotFound:
    return MCP_SERVERS.not_found(name)


MCP_SERVERS = register(
    ResourceKind(
        field="mcp_server",
        pattern=names.MCP_SERVER,
        row=McpServerRow,
        tenancy=Tenancy.SHARED,
        listing=mcp_repo.MCP_SERVER_LISTING,
        title="MCP server",
        not_found_reason="MCP_SERVER_NOT_FOUND",
        method="McpServer",
        etag_kind="mcpServer",
        to_proto=mcp_server_proto,
    )
)


class McpServerService:
    def __init__(self, ctx: DomainContext, settings: McpSettings, manager: McpManager) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[McpServerRow] = ResourceWriter(ctx, MCP_SERVERS)
        self.settings = settings
        self.manager = manager

    # -- validation ---------------------------------------------------------

    def _validate(self, fields: Mapping[str, Any], v: Violations, prefix: str = "mcp_server") -> None:
        limits = self.ctx.limits
        check_text(v, f"{prefix}.display_name", fields.get("display_name", ""), limits.max_display_name_chars, required=True)
        check_text(v, f"{prefix}.description", fields.get("description", ""), limits.max_description_chars)
        check_labels(v, f"{prefix}.labels", fields.get("labels") or {}, limits.max_labels)
        timeout = fields.get("call_timeout") or 0.0
        if timeout and not MIN_CALL_TIMEOUT_SECONDS <= timeout <= MAX_CALL_TIMEOUT_SECONDS:
            v.add(f"{prefix}.call_timeout", "must be between 1 second and 10 minutes, or 0 for 60 seconds")
        transport = fields.get("transport") or {}
        if "stdio" in transport:
            _check_stdio(v, f"{prefix}.stdio", transport["stdio"])
        elif "http" in transport:
            _check_http(v, f"{prefix}.http", transport["http"], self.ctx.egress)
        else:
            v.add(f"{prefix}.stdio", "exactly one transport must be set: stdio (a local command) or http (a URL)")

    @staticmethod
    def _require_admin_for_stdio(caller: Principal, fields: Mapping[str, Any]) -> None:
        if "stdio" in (fields.get("transport") or {}) and not caller.is_admin:
            raise PermissionDenied(
                "an MCP server with a stdio transport runs a command on the server's host: only admins may register it "
                "or change its transport",
                reason="PERMISSION_DENIED",
            )

    # -- commands -----------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        options: WriteOptions,
        *,
        mcp_server_id: str = "",
        wait_seconds: float | None = None,
    ) -> McpServerRow:
        v = Violations()
        if mcp_server_id and not names.ID_PATTERN.fullmatch(mcp_server_id):
            v.add("mcp_server_id", names.ID_RULE)
        self._validate(fields, v)
        v.raise_if_any()
        self._require_admin_for_stdio(caller, fields)
        now = self.ctx.clock()
        transport = copy.deepcopy(dict(fields["transport"]))
        disabled = bool(fields.get("disabled"))
        row = McpServerRow(
            id=mcp_server_id or names.new_id(),
            owner=caller.id,
            display_name=fields["display_name"],
            description=fields.get("description") or "",
            transport=transport,
            transport_kind=next(iter(transport)),
            disabled=disabled,
            call_timeout_seconds=float(fields.get("call_timeout") or 0.0),
            labels=dict(fields.get("labels") or {}),
            state=McpState.DISABLED if disabled else McpState.CONNECTING,
            last_error={},
            last_error_time=None,
            restart_count=0,
            ready_time=None,
            tools=[],
            tools_time=None,
            protocol_version="",
            server_version="",
            create_time=now,
            update_time=now,
            revision=1,
        )
        created = await self.writer.create(caller, row, options)
        if options.validate_only:
            return created
        await self._connect(created, wait_seconds)
        return await self.get(caller, names.MCP_SERVER.format(created.id))

    async def get(self, caller: Principal, name: str, field: str = "name") -> McpServerRow:
        return await self.writer.get(caller, name, field)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(
        self,
        caller: Principal,
        name: str,
        values: Mapping[str, Any],
        options: WriteOptions,
        *,
        wait_seconds: float | None = None,
    ) -> McpServerRow:
        plan = plan_update(options.update_mask, values, UPDATABLE)
        reconnect = False

        async def change(db: Transaction, row: McpServerRow, target: McpServerRow) -> None:
            nonlocal reconnect
            merged = _fields_of(row)
            for path, value in plan.changes.items():
                if path in ("stdio", "http"):
                    continue
                apply_path(merged, path, value)
            transport_paths = [p for p in plan.changes if p in ("stdio", "http")]
            if transport_paths:
                merged["transport"] = _updated_transport(row.transport, values, transport_paths)
            v = Violations()
            self._validate(merged, v)
            v.raise_if_any()
            if transport_paths:
                self._require_admin_for_stdio(caller, {"transport": merged["transport"]})
                self._require_admin_for_stdio(caller, {"transport": row.transport})
            before = {key: copy.deepcopy(_fields_of(row)[key]) for key in CONNECTION_FIELDS}
            _assign(target, merged)
            reconnect = any(before[key] != merged[key] for key in CONNECTION_FIELDS)
            if reconnect:
                _reset_connection_report(target, self.ctx.clock())

        row = await self.writer.update(caller, name, options, change)
        if options.validate_only:
            return row
        if reconnect:
            await self._connect(row, wait_seconds)
        return await self.get(caller, name)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        async def check(db: Transaction, row: McpServerRow) -> None:
            count, agent_ids = await mcp_repo.agents_using_mcp_server(db, name)
            if count and not options.force:
                shown = ", ".join(names.AGENT.format(a) for a in agent_ids)
                raise FailedPrecondition(
                    f"{count} agent(s) use tools of {name!r} ({shown}); remove the tools from them or pass force=true",
                    reason="MCP_SERVER_IN_USE",
                    metadata={"resource": name, "agent_count": str(count), "agents": shown},
                )

        async def remove(db: Transaction, row: McpServerRow) -> None:
            await mcp_repo.delete_mcp_server(db, row.id)

        row = await self.writer.delete(caller, name, options, check=check, remove=remove)
        if row is not None:
            await self.manager.remove(row.id)

    async def refresh(self, caller: Principal, name: str, options: WriteOptions, *, wait_seconds: float | None = None) -> McpServerRow:
        """Reconnect (restart the process, for stdio) and read the tools again: the owner or an admin. The
        registration does not change (no new revision); its connection report starts again."""
        names.MCP_SERVER.parse(name, "name")
        method, request_id, fingerprint = "RefreshMcpServer", options.request_id, options.fingerprint
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, method, fingerprint) is not None:
                return await self.writer.get_in(db, caller, name)
            row = await self.writer.get_in(db, caller, name)
            self.writer.check_writer(caller, row)
            if row.disabled:
                raise FailedPrecondition(
                    f"MCP server {name!r} is disabled; enable it (disabled=false) to connect it",
                    reason="MCP_SERVER_DISABLED",
                    metadata={"resource": name},
                )
            _reset_connection_report(row, self.ctx.clock())
            self.ctx.idempotency.remember(db, caller, request_id, method, fingerprint, [name])
            await self.writer.record(db, "updated", row)
        await self._connect(row, wait_seconds)
        return await self.get(caller, name)

    # -- connections --------------------------------------------------------

    async def connect_all(self) -> None:
        """At start: reconnect every registered server (in the background; nothing waits for them)."""
        async with self.ctx.store.read() as db:
            rows = await mcp_repo.all_mcp_servers(db)
        for row in rows:
            status = _status_of(row)
            if status.state == McpState.READY:
                # READY was the previous process's connection: until this one connects, say CONNECTING.
                status.state = McpState.CONNECTING
                await self.record_status(row.id, status)
            await self.manager.apply(self._target(row), status)
        if rows:
            log.info("reconnecting %d registered MCP server(s)", len(rows))

    async def record_status(self, server_id: str, status: McpStatus) -> None:
        """A connection's state changed: write it to the registration."""
        values: dict[str, Any] = {
            "state": int(status.state),
            "restart_count": status.restart_count,
            "ready_time": status.ready_time,
            "tools": [t.to_json() for t in status.tools],
            "tools_time": status.tools_time,
            "protocol_version": status.protocol_version[:40],
            "server_version": status.server_version[:200],
            "update_time": self.ctx.clock(),
        }
        if status.last_error:
            values["last_error"] = {"reason": status.last_error_reason or "MCP_SERVER_UNAVAILABLE", "message": status.last_error}
            values["last_error_time"] = status.last_error_time
        async with self.ctx.store.write() as db:
            row = await mcp_repo.get_mcp_server(db, server_id)
            if row is None:
                return  # deleted meanwhile
            for key, value in values.items():
                setattr(row, key, value)
            await self.writer.record(db, "updated", row)

    async def _connect(self, row: McpServerRow, wait_seconds: float | None) -> None:
        target = self._target(row)
        connection = await self.manager.apply(target, _status_of(row))
        wait = target.call_timeout if wait_seconds is None else min(wait_seconds, target.call_timeout)
        if not target.disabled:
            await connection.wait_settled(wait)

    def _target(self, row: McpServerRow) -> McpTarget:
        return McpTarget(
            server_id=row.id,
            transport=copy.deepcopy(row.transport),
            call_timeout=row.call_timeout_seconds or DEFAULT_CALL_TIMEOUT_SECONDS,
            disabled=row.disabled,
        )


# -- agents' references to MCP tools --------------------------------------------


async def check_agent_mcp_tools(db: Transaction, tools: list[Mapping[str, Any]], prefix: str, v: Violations) -> None:
    """Each MCP tool an agent lists must be of a registered server, and of its tools when their list is known.
    A server not yet connected has no list: its tool names are taken on trust until it connects."""
    wanted = {str(t.get("mcp_server")).rpartition("/")[2] for t in tools if t.get("mcp_server")}
    if not wanted:
        return
    known = await mcp_repo.known_mcp_tools(db, sorted(wanted))
    for index, tool in enumerate(tools):
        server = str(tool.get("mcp_server") or "")
        if not server or names.MCP_SERVER.problem(server):
            continue
        server_id = server.rpartition("/")[2]
        if server_id not in known:
            v.add(f"{prefix}[{index}].mcp_server", f"MCP server {server!r} does not exist")
            continue
        listed, tool_names = known[server_id]
        name = str(tool.get("name") or "")
        if listed and name and name not in tool_names:
            offered = ", ".join(sorted(tool_names)[:20]) or "none"
            v.add(f"{prefix}[{index}].name", f"{server!r} has no tool {name!r}; its tools: {offered}")


# -- helpers -------------------------------------------------------------------


def _check_stdio(v: Violations, path: str, stdio: Mapping[str, Any]) -> None:
    command = str(stdio.get("command") or "")
    if not command.strip():
        v.add(f"{path}.command", "is required: an absolute path or a command name on the server's PATH")
    elif "\0" in command or len(command) > MAX_ARG_CHARS:
        v.add(f"{path}.command", "is not a valid command")
    else:
        problem = stdio_command_problem(command)
        if problem:
            v.add(f"{path}.command", problem)
    args = list(stdio.get("args") or [])
    if len(args) > MAX_ARGS:
        v.add(f"{path}.args", f"has {len(args)} arguments; the limit is {MAX_ARGS}")
    for index, arg in enumerate(args):
        if "\0" in arg or len(arg) > MAX_ARG_CHARS:
            v.add(f"{path}.args[{index}]", f"must be at most {MAX_ARG_CHARS} characters, without NUL")
    env = dict(stdio.get("env") or {})
    if len(env) > MAX_ENV:
        v.add(f"{path}.env", f"has {len(env)} variables; the limit is {MAX_ENV}")
    for key, value in env.items():
        if not ENV_NAME.fullmatch(key):
            v.add(f"{path}.env", f"{key[:100]!r} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)")
        elif "\0" in value or len(value) > MAX_VALUE_CHARS:
            v.add(f"{path}.env.{key}", f"must be at most {MAX_VALUE_CHARS} characters, without NUL")
    cwd = str(stdio.get("cwd") or "")
    if cwd and (not os.path.isabs(cwd) or not os.path.isdir(cwd)):
        v.add(f"{path}.cwd", f"{cwd[:300]!r} is not an absolute path of an existing directory on the server")


def _check_http(v: Violations, path: str, http: Mapping[str, Any], egress: EgressPolicy) -> None:
    url = str(http.get("url") or "")
    if not url:
        v.add(f"{path}.url", "is required, for example https://mcp.example.com/mcp")
    else:
        problem = _url_problem(url)
        if problem:
            v.add(f"{path}.url", problem)
        elif refused := egress.literal_problem(url):
            v.add(f"{path}.url", f"is not an allowed destination: {refused}", reason="DESTINATION_NOT_ALLOWED")
    headers = dict(http.get("headers") or {})
    if len(headers) > MAX_HEADERS:
        v.add(f"{path}.headers", f"has {len(headers)} headers; the limit is {MAX_HEADERS}")
    for key, value in headers.items():
        if not HEADER_NAME.fullmatch(key):
            v.add(f"{path}.headers", f"{key[:100]!r} is not a valid HTTP header name")
        elif any(c in value for c in "\r\n\0") or len(value) > MAX_VALUE_CHARS:
            v.add(f"{path}.headers.{key}", f"must be at most {MAX_VALUE_CHARS} characters, without line breaks")


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_CHARS:
        return f"is {len(url)} characters long; the limit is {MAX_URL_CHARS}"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{mask_url(url)[:300]!r} is not a valid URL (check the host and the port)"
    if parts.scheme not in ("http", "https"):
        return f"{mask_url(url)[:300]!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{mask_url(url)[:300]!r} has no host"
    return None


def _fields_of(row: McpServerRow) -> dict[str, Any]:
    return {
        "display_name": row.display_name,
        "description": row.description,
        "transport": copy.deepcopy(row.transport),
        "disabled": row.disabled,
        "call_timeout": row.call_timeout_seconds,
        "labels": dict(row.labels or {}),
    }


def _updated_transport(current: Mapping[str, Any], values: Mapping[str, Any], paths: list[str]) -> dict[str, Any]:
    """The transport after an update of `stdio` and/or `http`; placeholders keep the stored secrets."""
    chosen = [p for p in paths if values.get(p)]
    if len(chosen) != 1:
        return {}
    kind = chosen[0]
    new = copy.deepcopy(dict(values[kind]))
    old = dict(current.get(kind) or {})
    secret_key = "env" if kind == "stdio" else "headers"
    stored = dict(old.get(secret_key) or {})
    secrets = dict(new.get(secret_key) or {})
    for key, value in secrets.items():
        if value == SECRET_PLACEHOLDER and key in stored:
            secrets[key] = stored[key]
    new[secret_key] = secrets
    if kind == "http":
        new["url"] = unmask_url(str(new.get("url") or ""), str(old.get("url") or ""))
    return {kind: new}


def _assign(row: McpServerRow, fields: Mapping[str, Any]) -> None:
    row.display_name = fields["display_name"]
    row.description = fields.get("description") or ""
    row.transport = copy.deepcopy(dict(fields["transport"]))
    row.transport_kind = next(iter(row.transport))
    row.disabled = bool(fields.get("disabled"))
    row.call_timeout_seconds = float(fields.get("call_timeout") or 0.0)
    row.labels = dict(fields.get("labels") or {})


def _reset_connection_report(row: McpServerRow, now: Any) -> None:
    """Updated or refreshed: the error and restart count start again; tools stay until re-read."""
    row.last_error = {}
    row.last_error_time = None
    row.restart_count = 0
    row.state = McpState.DISABLED if row.disabled else McpState.CONNECTING
    row.update_time = now


def _status_of(row: McpServerRow) -> McpStatus:
    return McpStatus(
        state=McpState(row.state) if row.state in McpState._value2member_map_ else McpState.CONNECTING,
        restart_count=row.restart_count,
        ready_time=row.ready_time,
        tools=tuple(McpToolInfo.from_json(t) for t in row.tools or []),
        tools_time=row.tools_time,
        protocol_version=row.protocol_version,
        server_version=row.server_version,
    )

