"""A run's row as the event writer needs it (its fence checked by every write), for tests of the event log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from runwire.server.store.models import RunRow
from runwire.server.store.store import Store


async def insert_run(store: Store, run_id: str, fence: int = 1, owner: str = "this-process") -> None:
    now = datetime(2026, 1, 1)
    values = dict(
        id=run_id, owner="local", session_id="s1", agent_id="a1", status=2, input=[], options={}, output={}, steps=[],
        pending_input={}, labels={}, request_id="", error_reason="", error_message="", input_tokens=0, output_tokens=0,
        tool_call_count=0, last_seq=0, batch_task="", create_time=now, update_time=now, revision=1,
        lease_owner=owner, lease_expires=now, fence=fence,
    )
    async with store.write_core() as db:
        await store.execute_on(db, insert(RunRow.__table__), values)
