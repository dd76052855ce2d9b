"""The counts of active runs that every CreateRun and admission make read only active runs: each is answered
from an index that starts with its key and the status, not by reading a caller's or an agent's whole history."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine

from runwire.server.store import work_queue
from runwire.server.store.models import Base


@pytest.mark.parametrize(
    ("statement", "key", "index"),
    [
        (work_queue._ACTIVE_OF_OWNER, {"owner": "alice"}, "ix_runs_owner_status"),
        (work_queue._OF_AGENT, {"agent_id": "a1"}, "ix_runs_agent_status"),
        (work_queue._OF_PROVIDER, {"provider": "builtin"}, "ix_runs_status_provider"),
    ],
    ids=["caller", "agent", "provider"],
)
def test_a_count_of_active_runs_searches_its_index_by_key_and_status(statement: Any, key: dict[str, str], index: str) -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    sql = str(statement.params(**key).compile(engine, compile_kwargs={"literal_binds": True}))
    connection = engine.raw_connection()
    try:
        plan = " ".join(str(step[-1]) for step in connection.execute("EXPLAIN QUERY PLAN " + sql))
    finally:
        connection.close()
    assert f"INDEX {index} (" in plan and "status=?" in plan, (sql, plan)
