"""Counts over every principal, for AdminService.GetServerInfo."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from runwire.server.store.models import AgentRow, ApiKeyRow, BatchRow, FileRow, McpServerRow, RunRow, SessionRow
from runwire.server.store.repositories import live_sessions
from runwire.server.store.transaction import Transaction

# runwire.v1.Run.Status values of the runs counted by state.
_RUN_STATES = {"runs_queued": 1, "runs_running": 2, "runs_requires_input": 3}
# runwire.v1.Batch.State QUEUED, RUNNING and CANCELLING; runwire.v1.McpServer.State READY.
_ACTIVE_BATCH_STATES = (1, 2, 3)
_MCP_READY = 2


async def resource_counts(db: Transaction, now: datetime) -> dict[str, int]:
    counts = {
        "agents": (await db.execute(select(func.count()).select_from(AgentRow))).scalar_one(),
        "sessions": (await db.execute(select(func.count()).select_from(SessionRow).where(live_sessions(now)))).scalar_one(),
        "files": (await db.execute(select(func.count()).select_from(FileRow))).scalar_one(),
        "batches_active": (
            await db.execute(select(func.count()).select_from(BatchRow).where(BatchRow.state.in_(_ACTIVE_BATCH_STATES)))
        ).scalar_one(),
        "mcp_servers": (await db.execute(select(func.count()).select_from(McpServerRow))).scalar_one(),
        "mcp_servers_ready": (
            await db.execute(select(func.count()).select_from(McpServerRow).where(McpServerRow.state == _MCP_READY))
        ).scalar_one(),
        "active_api_keys": (
            await db.execute(
                select(func.count())
                .select_from(ApiKeyRow)
                .where(ApiKeyRow.revoke_time.is_(None), (ApiKeyRow.expire_time.is_(None)) | (ApiKeyRow.expire_time > now))
            )
        ).scalar_one(),
    }
    by_status = dict(
        (await db.execute(select(RunRow.status, func.count()).where(RunRow.status.in_(list(_RUN_STATES.values()))).group_by(RunRow.status))).all()
    )
    for name, status in _RUN_STATES.items():
        counts[name] = by_status.get(status, 0)
    return counts
