"""Control requests for runs (a cancel, an answer), recorded so that the run's owner applies them whichever
replica took the request, and a new owner applies them after a takeover. The first request of a key wins:
the insert of a second one does nothing, atomically on every backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from runwire.server.store.models import RunControlRow
from runwire.server.store.store import Store

CANCEL = "cancel"


def answer_key(input_request_id: str) -> str:
    return f"answer:{input_request_id}"


async def record(store: Store, run_id: str, key: str, by: str, payload: dict[str, Any], now: datetime) -> bool:
    """Record a control request; True when it is the first of its key for the run (False: one was first)."""
    dialect: Any = postgresql if store.backend == "postgresql" else sqlite
    statement = (
        dialect.insert(RunControlRow)
        .values(run_id=run_id, key=key, requested_by=by, payload=payload, create_time=now)
        .on_conflict_do_nothing(index_elements=["run_id", "key"])
        .returning(RunControlRow.pk)
    )
    async with store.write() as db:
        return (await db.execute(statement)).first() is not None


async def of_runs(store: Store, run_ids: Sequence[str]) -> dict[str, dict[str, RunControlRow]]:
    """The control requests recorded for `run_ids`: run id -> key -> request."""
    if not run_ids:
        return {}
    async with store.read() as db:
        rows = (await db.execute(select(RunControlRow).where(RunControlRow.run_id.in_(list(run_ids))))).scalars().all()
    found: dict[str, dict[str, RunControlRow]] = {}
    for row in rows:
        found.setdefault(row.run_id, {})[row.key] = row
    return found
