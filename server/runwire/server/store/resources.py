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
