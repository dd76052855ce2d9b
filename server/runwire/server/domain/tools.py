"""The tools agents can call: every tool of the registry (built-in) and of the registered MCP servers.

Tools are not rows of one table (built-ins live in code, MCP tools in their
server's registration), so listings filter, order and page in memory with
the same AIP rules and signed keyset tokens as every other list.
"""

from __future__ import annotations

import builtins
import functools
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Mapping

from runwire.server.core import names
from runwire.server.core.errors import InvalidArgument, NotFound
from runwire.server.core.filtering import And, Comparison, Expr, Not, Or
from runwire.server.core.mcp import agent_tool_call_name
from runwire.server.core.paging import OrderKey, Page, parse_order_by, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import McpState, ToolSource
from runwire.server.domain.common import parse_filter_field
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery
from runwire.server.engine.mcp import McpManager
from runwire.server.engine.tools import ToolRegistry
from runwire.server.store import mcp_servers as mcp_repo
from runwire.server.store.models import McpServerRow
from runwire.server.wire.tools import ToolView, mcp_tool_views

DEFAULT_PAGE_SIZE = 100
ORDER_FIELDS = ("call_name", "display_name", "update_time", "name")


class ToolService:
    def __init__(self, ctx: DomainContext, registry: ToolRegistry, manager: McpManager, agent_tools: Callable[..., Any]) -> None:
        self.ctx = ctx
        self.registry = registry
        self.manager = manager
        # (caller, agent name) -> the agent's tool entries; raises AGENT_NOT_FOUND like GetAgent.
        self._agent_tools = agent_tools

    async def list(
        self, caller: Principal, query: ListQuery, *, agent: str = ""
    ) -> Page:
        expr = parse_filter_field(query.filter, self.ctx.limits.max_filter_chars)
        if expr is not None:
            _check_filter(expr)
        order = parse_order_by(query.order_by, ORDER_FIELDS, "call_name")
        size = resolve_page_size(query.page_size, DEFAULT_PAGE_SIZE, self.ctx.limits.max_page_size)
        if agent:
            names.AGENT.parse(agent, "agent")
        tools = await self._all_tools()
        if agent:
            tools = _for_agent(tools, await self._agent_tools(caller, agent))
        if expr is not None:
            tools = [t for t in tools if _matches(expr, t)]
        tools.sort(key=functools.cmp_to_key(lambda a, b: _compare(_key(a, order), _key(b, order), order)))
        fingerprint = query_fingerprint("tools", caller.id, agent, query.filter.strip(), order)
        after = self.ctx.page_tokens.decode(query.page_token, fingerprint)
        if after is not None:
            if len(after) != len(order) + 1:
                raise InvalidArgument.field("page_token", "does not match this query", reason="INVALID_PAGE_TOKEN")
            tools_after = [t for t in tools if _compare(_key(t, order), after, order) > 0]
        else:
            tools_after = tools
        page = tools_after[:size]
        more = len(tools_after) > size
        token = self.ctx.page_tokens.encode(fingerprint, _key(page[-1], order)) if more and page else ""
        return Page(items=page, next_page_token=token, total_size=len(tools))

    async def get(self, caller: Principal, name: str) -> ToolView:
        if not name:
            raise InvalidArgument.field("name", "is required, in the form tools/{tool} or mcpServers/{mcp_server}/tools/{tool}")
        parts = name.split("/", 3)
        if len(parts) == 2 and parts[0] == "tools" and parts[1]:
            server_id = ""
        elif len(parts) == 4 and parts[0] == "mcpServers" and parts[2] == "tools" and parts[3]:
            if not names.ID_PATTERN.fullmatch(parts[1]):
                raise InvalidArgument.field("name", f"{name[:300]!r} has an invalid MCP server id {parts[1][:100]!r}")
            server_id = parts[1]
        else:
            raise InvalidArgument.field(
                "name", f"{name[:300]!r} is not a tool name of the form tools/{{tool}} or mcpServers/{{mcp_server}}/tools/{{tool}}"
            )
        if server_id:
            async with self.ctx.store.read() as db:
                row = await mcp_repo.get_mcp_server(db, server_id)
            if row is None:
                server = names.MCP_SERVER.format(server_id)
                raise NotFound(f"MCP server {server!r} does not exist", reason="MCP_SERVER_NOT_FOUND", metadata={"resource": server})
            found = next((t for t in self._tools_of(row) if t.name == name), None)
        else:
            found = next((t for t in self._builtin_tools() if t.name == name), None)
        if found is None:
            raise NotFound(f"tool {name!r} does not exist", reason="TOOL_NOT_FOUND", metadata={"resource": name})
        return found

    async def _all_tools(self) -> builtins.list[ToolView]:
        async with self.ctx.store.read() as db:
            rows = await mcp_repo.all_mcp_servers(db)
        tools = self._builtin_tools()
        for row in rows:
            tools.extend(self._tools_of(row))
        return tools

    def _builtin_tools(self) -> builtins.list[ToolView]:
        return [
            ToolView(
                name=f"tools/{tool.name}",
                call_name=tool.name,
                display_name=str(getattr(tool, "title", "") or tool.name),
                description=tool.description,
                parameters=tool.parameters,
                output_schema=getattr(tool, "output_schema", None),
                source=ToolSource.BUILTIN,
                mcp_server="",
                requires_approval=bool(getattr(tool, "requires_approval", False)),
                available=True,
                update_time=None,
            )
            for tool in self.registry.builtins()
        ]

    def _tools_of(self, row: McpServerRow) -> builtins.list[ToolView]:
        connection = self.manager.get(row.id)
        return mcp_tool_views(row, available=connection is not None and connection.status.state == McpState.READY)


def _for_agent(tools: list[ToolView], agent_tools: list[Mapping[str, Any]]) -> list[ToolView]:
    """The tools an agent lists, with its effective requires_approval."""
    wanted = {agent_tool_call_name(t): bool(t.get("requires_approval")) for t in agent_tools}
    return [replace(t, requires_approval=t.requires_approval or wanted[t.call_name]) for t in tools if t.call_name in wanted]


# -- filter, order ----------------------------------------------------------------

_STRING_FIELDS = ("call_name", "display_name", "description", "mcp_server")
_BOOL_FIELDS = ("requires_approval", "available")
_ALL_FIELDS = (*_STRING_FIELDS, *_BOOL_FIELDS, "source")


def _check_filter(expr: Expr) -> None:
    if isinstance(expr, (And, Or)):
        for item in expr.items:
            _check_filter(item)
        return
    if isinstance(expr, Not):
        _check_filter(expr.item)
        return
    field, op, value = expr.field, expr.op, expr.value
    if field not in _ALL_FIELDS:
        raise _filter_problem(f"cannot filter on {field!r}; fields: {', '.join(_ALL_FIELDS)}")
    if field in _STRING_FIELDS:
        if op not in ("=", "!=", ":"):
            raise _filter_problem(f"{field} takes =, != or :")
    elif op not in ("=", "!="):
        raise _filter_problem(f"{field} takes = or !=")
    elif field in _BOOL_FIELDS and value.text not in ("true", "false"):
        raise _filter_problem(f"{field} is true or false")
    elif field == "source" and _source_value(value.text) is None:
        raise _filter_problem("source is BUILTIN or MCP")


def _filter_problem(message: str) -> InvalidArgument:
    return InvalidArgument.field("filter", message, reason="INVALID_FILTER")


def _source_value(text: str) -> ToolSource | None:
    text = text.removeprefix("SOURCE_")
    return ToolSource.__members__.get(text) if text in ("BUILTIN", "MCP") else None


def _matches(expr: Expr, tool: ToolView) -> bool:
    if isinstance(expr, And):
        return all(_matches(item, tool) for item in expr.items)
    if isinstance(expr, Or):
        return any(_matches(item, tool) for item in expr.items)
    if isinstance(expr, Not):
        return not _matches(expr.item, tool)
    assert isinstance(expr, Comparison)
    actual: Any = getattr(tool, expr.field)
    if expr.field == "source":
        wanted: Any = _source_value(expr.value.text)
    elif expr.field in _BOOL_FIELDS:
        wanted = expr.value.text == "true"
    else:
        wanted = expr.value.text
    if expr.op == ":":
        if wanted == "*":
            return bool(actual)
        return str(wanted).lower() in str(actual).lower()
    return (actual == wanted) == (expr.op == "=")


def _key(tool: ToolView, order: tuple[OrderKey, ...]) -> list[Any]:
    values: list[Any] = []
    for key in order:
        value = getattr(tool, key.field)
        values.append(value.isoformat() if isinstance(value, datetime) else (value or ""))
    values.append(tool.name)
    return values


def _compare(a: list[Any], b: list[Any], order: tuple[OrderKey, ...]) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == y:
            continue
        descending = index < len(order) and order[index].descending
        smaller = str(x) < str(y)
        return (1 if smaller else -1) if descending else (-1 if smaller else 1)
    return 0
