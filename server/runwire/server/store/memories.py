"""Queries for memories. Every lookup is scoped by owner; expired memories are invisible before the sweeper runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import bindparam, delete, func, or_, select

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import MemoryRow
from runwire.server.store.repositories import resource_name_sql
from runwire.server.store.store import Listing, Store, rows_changed
from runwire.server.store.transaction import Transaction

MEMORY_TYPE_VALUES = {"PROFILE": 1, "FACT": 2, "CONVERSATION": 3}

MEMORY_LISTING = Listing(
    filter_fields={
        "type": FieldSpec(MemoryRow.type, "enum", enum_values=MEMORY_TYPE_VALUES),
        "agent": FieldSpec(resource_name_sql("agents/", MemoryRow.agent_id), "string", nullable_empty=True),
        "session": FieldSpec(resource_name_sql("sessions/", MemoryRow.session_id), "string", nullable_empty=True),
        "content": FieldSpec(MemoryRow.content, "string"),
        "labels": FieldSpec(MemoryRow.labels, "map"),
        "create_time": FieldSpec(MemoryRow.create_time, "timestamp"),
        "update_time": FieldSpec(MemoryRow.update_time, "timestamp"),
        "expire_time": FieldSpec(MemoryRow.expire_time, "timestamp"),
    },
    order_columns={
        "create_time": MemoryRow.create_time,
        "update_time": MemoryRow.update_time,
        "expire_time": MemoryRow.expire_time,
        "type": MemoryRow.type,
        "name": MemoryRow.id,
    },
    tiebreak=MemoryRow.pk,
)


def live_memories(now: Any) -> Any:
    return (MemoryRow.expire_time.is_(None)) | (MemoryRow.expire_time > now)


_LIVE_MEMORY = select(MemoryRow).where(
    MemoryRow.id == bindparam("id"), MemoryRow.owner == bindparam("owner"), live_memories(bindparam("now"))
)


async def get_memory(db: Transaction, memory_id: str, owner: str, now: datetime) -> MemoryRow | None:
    return (await db.execute(_LIVE_MEMORY, {"id": memory_id, "owner": owner, "now": now})).scalar_one_or_none()


async def memory_id_taken(db: Transaction, memory_id: str) -> bool:
    return (await db.execute(select(MemoryRow.pk).where(MemoryRow.id == memory_id))).first() is not None


def _escaped(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search_memories(
    db: Transaction,
    owner: str,
    words: Sequence[str],
    types: Sequence[int],
    agent_id: str | None,
    now: datetime,
    limit: int,
) -> list[MemoryRow]:
    """Live memories of `owner` containing every word (case-insensitively), newest first, at most `limit`.

    With `agent_id`, only the memories that agent recalls: those scoped to it and those of every agent."""
    stmt = select(MemoryRow).where(MemoryRow.owner == owner, live_memories(now))
    for word in words:
        stmt = stmt.where(MemoryRow.content.ilike(_escaped(word), escape="\\"))
    if types:
        stmt = stmt.where(MemoryRow.type.in_(list(types)))
    if agent_id is not None:
        stmt = stmt.where(or_(MemoryRow.agent_id.is_(None), MemoryRow.agent_id == agent_id))
    stmt = stmt.order_by(MemoryRow.create_time.desc(), MemoryRow.pk.desc()).limit(limit)
    return list((await db.execute(stmt)).scalars().all())


_PROFILE_CONTENT = (
    select(MemoryRow.content)
    .where(
        MemoryRow.owner == bindparam("owner"),
        MemoryRow.type == MEMORY_TYPE_VALUES["PROFILE"],
        or_(MemoryRow.agent_id.is_(None), MemoryRow.agent_id == bindparam("agent_id")),
        live_memories(bindparam("now")),
    )
    .order_by(MemoryRow.create_time, MemoryRow.pk)
    .limit(bindparam("limit"))
)


async def profile_memories(store: Store, owner: str, agent_id: str, now: datetime, limit: int) -> list[str]:
    """The content of the PROFILE memories an agent is given at the start of a run, oldest first (read without a
    Session, as every run starts with it)."""
    rows = await store.fetch_all(_PROFILE_CONTENT, {"owner": owner, "agent_id": agent_id, "now": now, "limit": limit})
    return [row[0] for row in rows]


def _clear_criteria(owner: str, types: Sequence[int], agent_id: str | None, before: datetime | None) -> list[Any]:
    criteria: list[Any] = [MemoryRow.owner == owner]
    if types:
        criteria.append(MemoryRow.type.in_(list(types)))
    if agent_id is not None:
        criteria.append(MemoryRow.agent_id == agent_id)
    if before is not None:
        criteria.append(MemoryRow.create_time < before)
    return criteria


async def count_memories_matching(
    db: Transaction, owner: str, types: Sequence[int], agent_id: str | None, before: datetime | None, now: datetime
) -> int:
    stmt = select(func.count()).select_from(MemoryRow).where(*_clear_criteria(owner, types, agent_id, before), live_memories(now))
    return (await db.execute(stmt)).scalar_one()


async def memories_matching(
    db: Transaction, owner: str, types: Sequence[int], agent_id: str | None, before: datetime | None, now: datetime
) -> list[MemoryRow]:
    """The live memories a clear with these criteria deletes."""
    stmt = select(MemoryRow).where(*_clear_criteria(owner, types, agent_id, before), live_memories(now))
    return list((await db.execute(stmt)).scalars().all())


async def expired_memories(db: Transaction, now: datetime) -> list[MemoryRow]:
    return list((await db.execute(select(MemoryRow).where(MemoryRow.expire_time <= now))).scalars().all())


async def delete_memories_matching(
    db: Transaction, owner: str, types: Sequence[int], agent_id: str | None, before: datetime | None, now: datetime
) -> int:
    """Deletes the matches (expired ones too, which the sweeper would delete anyway); returns the live ones deleted."""
    live = await count_memories_matching(db, owner, types, agent_id, before, now)
    stmt = delete(MemoryRow).where(*_clear_criteria(owner, types, agent_id, before))
    await db.execute(stmt.execution_options(synchronize_session=False))
    return live


async def delete_expired_memories(db: Transaction, now: datetime) -> int:
    result = await db.execute(delete(MemoryRow).where(MemoryRow.expire_time <= now).execution_options(synchronize_session=False))
    return rows_changed(result)


async def count_memories(db: Transaction) -> int:
    return (await db.execute(select(func.count()).select_from(MemoryRow))).scalar_one()
