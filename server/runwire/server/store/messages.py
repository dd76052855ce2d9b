"""The one writer of messages: every message row, whoever adds it (CreateMessage, a run's own messages),
is inserted and removed here, with its session's counters (`message_count`, `update_time`) and its
parent's `reply_count` kept in the same transaction.

Statements, not a transaction of its own: a run's messages ride in its run recorder's batched commit
(`insert_statements`), a CreateMessage in the domain's `Store.write()` (`insert`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, delete, insert, update

from runwire.server.store.models import MessageRow, SessionRow, new_incarnation
from runwire.server.store.store import Store, rows_changed
from runwire.server.store.transaction import CoreTransaction, Transaction

_MESSAGES = MessageRow.__table__
_SESSIONS = SessionRow.__table__
_COLUMNS = tuple(c.key for c in _MESSAGES.columns if c.key != "pk")
_INSERT = insert(_MESSAGES)
# `_delta` messages more (or fewer) in the session, which changed at `_now` (0 for an edit).
_COUNT = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("_session_id"))
    .values(message_count=_SESSIONS.c.message_count + bindparam("_delta"), update_time=bindparam("_now"))
)
_COUNT_REPLY = (
    update(_MESSAGES)
    .where(_MESSAGES.c.session_id == bindparam("_session_id"), _MESSAGES.c.id == bindparam("_parent_id"))
    .values(reply_count=_MESSAGES.c.reply_count + bindparam("_delta"))
)

Statement = tuple[Any, Mapping[str, Any]]


def text_of(content: Sequence[Mapping[str, Any]]) -> str:
    """A message's text: its text parts, one per line (the `text` column, searched and shown to models)."""
    return "\n".join(part["text"] for part in content if "text" in part)


def message_values(
    *,
    session_id: str,
    message_id: str,
    owner: str,
    role: int,
    content: Sequence[Any],
    now: datetime,
    parent_id: str | None = None,
    run_id: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The columns of a new message."""
    return {
        "session_id": session_id,
        "id": message_id,
        "owner": owner,
        "parent_id": parent_id,
        "role": int(role),
        "content": content,
        "text": text_of(content),
        "run_id": run_id,
        "labels": dict(labels or {}),
        "reply_count": 0,
        "create_time": now,
        "update_time": now,
        "revision": 1,
        "incarnation": new_incarnation(),
    }


def insert_statements(values: Mapping[str, Any]) -> tuple[Statement, ...]:
    """Insert a message (`message_values`) and count it in its session (and its parent's replies)."""
    row = {key: values[key] for key in _COLUMNS}
    session = {"_session_id": values["session_id"], "_delta": 1, "_now": values["create_time"]}
    statements: tuple[Statement, ...] = ((_INSERT, row), (_COUNT, session))
    if values["parent_id"] is not None:
        statements += ((_COUNT_REPLY, {"_session_id": values["session_id"], "_parent_id": values["parent_id"], "_delta": 1}),)
    return statements


async def insert_message(store: Store, db: CoreTransaction, values: Mapping[str, Any]) -> None:
    """`insert_statements` in a transaction from `Store.write()`."""
    for statement, params in insert_statements(values):
        await store.execute_on(db, statement, params)


async def touch_session(store: Store, db: CoreTransaction, session_id: str, now: datetime) -> None:
    """A message of the session changed: the session did too."""
    await store.execute_on(db, _COUNT, {"_session_id": session_id, "_delta": 0, "_now": now})


async def remove(
    store: Store, db: Transaction, session_id: str, message_ids: Sequence[str], parent_id: str | None, now: datetime
) -> int:
    """Delete messages of a session (a message and the thread below it, whose top answers `parent_id`)
    and uncount them, in a transaction from `Store.write()`; returns how many there were. Rows already
    loaded in `db` keep the counters they were loaded with."""
    result = await db.execute(
        delete(MessageRow).where(MessageRow.session_id == session_id, MessageRow.id.in_(list(message_ids)))
    )
    removed = rows_changed(result)
    await store.execute_on(db, _COUNT, {"_session_id": session_id, "_delta": -removed, "_now": now})
    if parent_id is not None:
        await store.execute_on(db, _COUNT_REPLY, {"_session_id": session_id, "_parent_id": parent_id, "_delta": -1})
    return removed
