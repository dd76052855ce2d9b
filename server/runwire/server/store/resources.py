"""Row lookups shared by every resource kind: one row by id within a tenancy scope, ids already taken."""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import select

from runwire.server.store.transaction import Transaction


def scoped_select(row_type: Any, owner: str | None, live: Any = None) -> Any:
    """Rows of `row_type` that `owner` may see (every row when None), live ones only when `live` is given."""
    stmt = select(row_type)
    if owner is not None:
        stmt = stmt.where(row_type.owner == owner)
    if live is not None:
        stmt = stmt.where(live)
    return stmt


async def find_row(db: Transaction, row_type: Any, resource_id: str, owner: str | None, live: Any = None) -> Any:
    stmt = scoped_select(row_type, owner, live).where(row_type.id == resource_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def ids_taken(db: Transaction, row_type: Any, resource_ids: Sequence[str]) -> set[str]:
    """The ids among `resource_ids` that a row of any owner already has (live or expired)."""
    rows = await db.execute(select(row_type.id).where(row_type.id.in_(list(resource_ids))))
    return set(rows.scalars().all())


def scoped_children(
    row_type: Any, parent_type: Any, parent_column: str, parent_id: str | None, owner: str | None, live: Any = None
) -> Any:
    """Rows of a collection inside another kind's rows (`row_type.<parent_column>` holds the parent's id):
    those of `parent_id` (of every parent when None) whose parent `owner` owns (any when None) and is
    live when `live` (a clause on the parent) is given."""
    column = getattr(row_type, parent_column)
    stmt = select(row_type).join(parent_type, parent_type.id == column)
    if parent_id is not None:
        stmt = stmt.where(column == parent_id)
    if owner is not None:
        stmt = stmt.where(parent_type.owner == owner)
    if live is not None:
        stmt = stmt.where(live)
    return stmt


async def find_one(db: Transaction, stmt: Any) -> Any:
    return (await db.execute(stmt)).scalar_one_or_none()


async def child_ids_taken(
    db: Transaction, row_type: Any, parent_column: str, parent_id: str, resource_ids: Sequence[str]
) -> set[str]:
    """The ids among `resource_ids` that a row of the parent's collection already has."""
    stmt = select(row_type.id).where(getattr(row_type, parent_column) == parent_id, row_type.id.in_(list(resource_ids)))
    return set((await db.execute(stmt)).scalars().all())
