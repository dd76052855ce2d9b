"""Queries for MCP server registrations. Servers are shared: lookups are not scoped by owner."""

from __future__ import annotations

from typing import Mapping

from sqlalchemy import delete, select

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import AgentRow, McpServerRow
from runwire.server.store.store import Listing
from runwire.server.store.transaction import Transaction

MCP_STATE_VALUES = {"CONNECTING": 1, "READY": 2, "ERROR": 3, "DISABLED": 4}

MCP_SERVER_LISTING = Listing(
    filter_fields={
        "display_name": FieldSpec(McpServerRow.display_name, "string"),
        "description": FieldSpec(McpServerRow.description, "string"),
        "state": FieldSpec(McpServerRow.state, "enum", enum_values=MCP_STATE_VALUES),
        "disabled": FieldSpec(McpServerRow.disabled, "bool"),
        "transport": FieldSpec(McpServerRow.transport_kind, "string"),
        "owner": FieldSpec(McpServerRow.owner, "string"),
        "labels": FieldSpec(McpServerRow.labels, "map"),
        "create_time": FieldSpec(McpServerRow.create_time, "timestamp"),
        "update_time": FieldSpec(McpServerRow.update_time, "timestamp"),
    },
    order_columns={
        "display_name": McpServerRow.display_name,
        "create_time": McpServerRow.create_time,
        "update_time": McpServerRow.update_time,
        "name": McpServerRow.id,
    },
    tiebreak=McpServerRow.pk,
)


async def get_mcp_server(db: Transaction, server_id: str) -> McpServerRow | None:
    return (await db.execute(select(McpServerRow).where(McpServerRow.id == server_id))).scalar_one_or_none()


async def all_mcp_servers(db: Transaction) -> list[McpServerRow]:
    return list((await db.execute(select(McpServerRow).order_by(McpServerRow.id))).scalars())


async def delete_mcp_server(db: Transaction, server_id: str) -> None:
    await db.execute(delete(McpServerRow).where(McpServerRow.id == server_id))


async def agents_using_mcp_server(db: Transaction, server_name: str, limit: int = 10) -> tuple[int, list[str]]:
    """How many agents list a tool of the server, and the ids of the first few. Agents keep tools as JSON,
    so the match is done here rather than in SQL that SQLite and PostgreSQL would spell differently."""
    ids: list[str] = []
    rows = await db.execute(select(AgentRow.id, AgentRow.tools))
    for agent_id, tools in rows:
        if any(isinstance(t, Mapping) and t.get("mcp_server") == server_name for t in tools or []):
            ids.append(agent_id)
    return len(ids), sorted(ids)[:limit]


async def known_mcp_tools(db: Transaction, server_ids: list[str]) -> dict[str, tuple[bool, set[str]]]:
    """For each existing server: whether its tool list was ever read, and the tool names in it."""
    if not server_ids:
        return {}
    rows = await db.execute(
        select(McpServerRow.id, McpServerRow.tools_time, McpServerRow.tools).where(McpServerRow.id.in_(server_ids))
    )
    return {sid: (tools_time is not None, {str(t.get("name")) for t in tools or []}) for sid, tools_time, tools in rows}
