"""Queries for agents, sessions, messages, runs, API keys and idempotency records. Every resource lookup is scoped by owner."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import String, bindparam, delete, func, literal, select, update
from sqlalchemy import inspect as sa_inspect

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import (
    AgentRow,
    ApiKeyRow,
    IdempotencyRecord,
    MessageRow,
    RunRow,
    ServerKey,
    SessionRow,
)
from runwire.server.store.records import (
    AgentRecord,
    LiveSession,
    MessageRecord,
    MessageVersion,
    RecentMessage,
    RunAgent,
    SessionKey,
    SessionRecord,
)
from runwire.server.store.store import Listing, OrderExpression, Store, rows_changed
from runwire.server.store.transaction import CoreTransaction, Transaction


def resource_name_sql(*parts: Any) -> Any:
    """Resource names built in SQL with `||` (SQLite before 3.44 has no concat()); NULL parts give NULL."""
    expression = None
    for part in parts:
        term = literal(part, String) if isinstance(part, str) else part
        expression = term if expression is None else expression + term
    return expression


ROLE_VALUES = {"USER": 1, "ASSISTANT": 2, "SYSTEM": 3, "TOOL": 4}
AGENT_STATE_VALUES = {"ACTIVE": 1, "DISABLED": 2}

AGENT_LISTING = Listing(
    filter_fields={
        "display_name": FieldSpec(AgentRow.display_name, "string"),
        "description": FieldSpec(AgentRow.description, "string"),
        "state": FieldSpec(AgentRow.state, "enum", enum_values=AGENT_STATE_VALUES),
        "model.provider": FieldSpec(AgentRow.model["provider"].as_string(), "string"),
        "model.model": FieldSpec(AgentRow.model["model"].as_string(), "string"),
        "labels": FieldSpec(AgentRow.labels, "map"),
        "create_time": FieldSpec(AgentRow.create_time, "timestamp"),
        "update_time": FieldSpec(AgentRow.update_time, "timestamp"),
    },
    order_columns={
        "display_name": AgentRow.display_name,
        "create_time": AgentRow.create_time,
        "update_time": AgentRow.update_time,
        "name": AgentRow.id,
    },
    tiebreak=AgentRow.pk,
)

SESSION_LISTING = Listing(
    filter_fields={
        "agent": FieldSpec(resource_name_sql("agents/", SessionRow.agent_id), "string"),
        "display_name": FieldSpec(SessionRow.display_name, "string"),
        "labels": FieldSpec(SessionRow.labels, "map"),
        "message_count": FieldSpec(SessionRow.message_count, "int"),
        "create_time": FieldSpec(SessionRow.create_time, "timestamp"),
        "update_time": FieldSpec(SessionRow.update_time, "timestamp"),
        "expire_time": FieldSpec(SessionRow.expire_time, "timestamp"),
    },
    order_columns={
        "display_name": SessionRow.display_name,
        "create_time": SessionRow.create_time,
        "update_time": SessionRow.update_time,
        "message_count": SessionRow.message_count,
        "name": SessionRow.id,
    },
    tiebreak=SessionRow.pk,
)

MESSAGE_LISTING = Listing(
    filter_fields={
        "role": FieldSpec(MessageRow.role, "enum", enum_values=ROLE_VALUES),
        "text": FieldSpec(MessageRow.text, "string"),
        "parent_message": FieldSpec(
            resource_name_sql("sessions/", MessageRow.session_id, "/messages/", MessageRow.parent_id),
            "string",
            nullable_empty=True,
        ),
        "run": FieldSpec(resource_name_sql("runs/", MessageRow.run_id), "string", nullable_empty=True),
        "labels": FieldSpec(MessageRow.labels, "map"),
        "create_time": FieldSpec(MessageRow.create_time, "timestamp"),
        "update_time": FieldSpec(MessageRow.update_time, "timestamp"),
    },
    order_columns={
        "create_time": MessageRow.create_time,
        "update_time": MessageRow.update_time,
        # The whole name: listed across sessions (`sessions/-`), messages are ordered by session first.
        "name": OrderExpression(
            resource_name_sql("sessions/", MessageRow.session_id, "/messages/", MessageRow.id),
            lambda row: f"sessions/{row.session_id}/messages/{row.id}",
        ),
    },
    tiebreak=MessageRow.pk,
)


def live_sessions(now: datetime) -> Any:
    """Sessions past their expiry are invisible even before the sweeper deletes them."""
    return (SessionRow.expire_time.is_(None)) | (SessionRow.expire_time > now)


# Hot lookups are built once: constructing a statement costs more than running it on SQLite.
_AGENT_BY_ID = select(AgentRow).where(AgentRow.id == bindparam("id"))
_AGENT_BY_ID_AND_OWNER = _AGENT_BY_ID.where(AgentRow.owner == bindparam("owner"))


def _record_columns(model: Any) -> list[Any]:
    """A model's columns labelled with their attribute names (SessionRow.client_metadata is the column
    `metadata`), for Core reads whose rows stand in for the model's read-only attributes (store/records.py)."""
    return [attribute.columns[0].label(attribute.key) for attribute in sa_inspect(model).column_attrs]


# Columns, not entities: a read-only record for callers that only look (GetAgent), fetched without a Session.
_AGENT_RECORD_BY_ID = select(*_record_columns(AgentRow)).where(AgentRow.id == bindparam("id"))
_AGENT_RECORD_BY_ID_AND_OWNER = _AGENT_RECORD_BY_ID.where(AgentRow.owner == bindparam("owner"))


async def find_agent_record(store: Store, agent_id: str, owner: str | None) -> AgentRecord | None:
    """The agent's columns by attribute (as on AgentRow), or None; for reads that change nothing."""
    if owner is None:
        return await store.fetch_record(_AGENT_RECORD_BY_ID, {"id": agent_id}, AgentRecord)
    return await store.fetch_record(_AGENT_RECORD_BY_ID_AND_OWNER, {"id": agent_id, "owner": owner}, AgentRecord)


# What tells one version of an agent from another (its etag is made of them): changes bump the revision,
# and a deleted and re-created agent has another incarnation.
_AGENT_VERSION_BY_ID = select(AgentRow.revision, AgentRow.incarnation).where(AgentRow.id == bindparam("id"))
_AGENT_VERSION_BY_ID_AND_OWNER = _AGENT_VERSION_BY_ID.where(AgentRow.owner == bindparam("owner"))


async def find_agent_version(store: Store, agent_id: str, owner: str | None) -> tuple[int, str] | None:
    """The agent's (revision, incarnation), or None when there is no such agent (of `owner`)."""
    if owner is None:
        row = await store.fetch_one(_AGENT_VERSION_BY_ID, {"id": agent_id})
    else:
        row = await store.fetch_one(_AGENT_VERSION_BY_ID_AND_OWNER, {"id": agent_id, "owner": owner})
    return None if row is None else (row[0], row[1])


async def get_agent(db: Transaction, agent_id: str, owner: str | None) -> AgentRow | None:
    if owner is None:
        return (await db.execute(_AGENT_BY_ID, {"id": agent_id})).scalar_one_or_none()
    return (await db.execute(_AGENT_BY_ID_AND_OWNER, {"id": agent_id, "owner": owner})).scalar_one_or_none()


_AGENT_EXISTS = select(AgentRow.pk).where(AgentRow.id == bindparam("id"))
_SESSION_EXISTS = select(SessionRow.pk).where(SessionRow.id == bindparam("id"))


async def agent_exists(store: Store, db: CoreTransaction, agent_id: str) -> bool:
    """Whether any owner's agent has this id, in the transaction `db` (from write() or write_core())."""
    return bool(await store.rows_on(db, _AGENT_EXISTS, {"id": agent_id}))


async def session_exists(store: Store, db: CoreTransaction, session_id: str) -> bool:
    """Whether any owner's session has this id, in the transaction `db` (from write() or write_core())."""
    return bool(await store.rows_on(db, _SESSION_EXISTS, {"id": session_id}))


_LIVE_SESSION_BY_ID = select(SessionRow).where(
    SessionRow.id == bindparam("id"), (SessionRow.expire_time.is_(None)) | (SessionRow.expire_time > bindparam("now"))
)
_LIVE_SESSION_BY_ID_AND_OWNER = _LIVE_SESSION_BY_ID.where(SessionRow.owner == bindparam("owner"))


# The columns of SessionRow by attribute, read-only (GetSession): read without a Session, as AgentRecord is.
_LIVE_SESSION_RECORD_BY_ID = select(*_record_columns(SessionRow)).where(
    SessionRow.id == bindparam("id"), (SessionRow.expire_time.is_(None)) | (SessionRow.expire_time > bindparam("now"))
)
_LIVE_SESSION_RECORD_BY_ID_AND_OWNER = _LIVE_SESSION_RECORD_BY_ID.where(SessionRow.owner == bindparam("owner"))


async def find_live_session_record(store: Store, session_id: str, owner: str | None, now: datetime) -> SessionRecord | None:
    """The session's columns by attribute (as on SessionRow) unless it expired, or None."""
    if owner is None:
        return await store.fetch_record(_LIVE_SESSION_RECORD_BY_ID, {"id": session_id, "now": now}, SessionRecord)
    params = {"id": session_id, "now": now, "owner": owner}
    return await store.fetch_record(_LIVE_SESSION_RECORD_BY_ID_AND_OWNER, params, SessionRecord)


_LIVE_SESSION_KEY_BY_ID = select(SessionRow.pk, SessionRow.owner).where(
    SessionRow.id == bindparam("id"), (SessionRow.expire_time.is_(None)) | (SessionRow.expire_time > bindparam("now"))
)
_LIVE_SESSION_KEY_BY_ID_AND_OWNER = _LIVE_SESSION_KEY_BY_ID.where(SessionRow.owner == bindparam("owner"))


async def find_live_session_key(store: Store, session_id: str, owner: str | None, now: datetime) -> SessionKey | None:
    """The live session's pk and owner, or None: whether find_live_session_record() would find it, without
    reading (and decoding) the rest of its columns."""
    if owner is None:
        return await store.fetch_record(_LIVE_SESSION_KEY_BY_ID, {"id": session_id, "now": now}, SessionKey)
    params = {"id": session_id, "now": now, "owner": owner}
    return await store.fetch_record(_LIVE_SESSION_KEY_BY_ID_AND_OWNER, params, SessionKey)


async def find_live_session_on(store: Store, db: CoreTransaction, session_id: str, owner: str | None, now: datetime) -> SessionKey | None:
    """find_live_session_key() in the transaction `db` (from write() or write_core()): what a message's
    creation needs of its session."""
    if owner is None:
        rows = await store.rows_on(db, _LIVE_SESSION_KEY_BY_ID, {"id": session_id, "now": now})
    else:
        rows = await store.rows_on(db, _LIVE_SESSION_KEY_BY_ID_AND_OWNER, {"id": session_id, "now": now, "owner": owner})
    return SessionKey._make(rows[0]) if rows else None


async def get_session(db: Transaction, session_id: str, owner: str | None, now: datetime) -> SessionRow | None:
    if owner is None:
        return (await db.execute(_LIVE_SESSION_BY_ID, {"id": session_id, "now": now})).scalar_one_or_none()
    params = {"id": session_id, "now": now, "owner": owner}
    return (await db.execute(_LIVE_SESSION_BY_ID_AND_OWNER, params)).scalar_one_or_none()


_S, _A = SessionRow.__table__.c, AgentRow.__table__.c
# Core columns (no ORM entities): a run starts on every ExecuteAgent, and loading two entities cost more
# than the statement. The agent is outer-joined so a session whose agent is gone still reads.
_LIVE_SESSION_WITH_AGENT = (
    select(
        _S.id, _S.owner, _S.agent_id,
        _A.id.label("agent_found"), _A.state, _A.limits, _A.instructions, _A.model, _A.tools,
    )
    .select_from(SessionRow.__table__.outerjoin(AgentRow.__table__, _A.id == _S.agent_id))
    .where(_S.id == bindparam("id"), (_S.expire_time.is_(None)) | (_S.expire_time > bindparam("now")))
)
_LIVE_SESSION_WITH_AGENT_AND_OWNER = _LIVE_SESSION_WITH_AGENT.where(_S.owner == bindparam("owner"))


async def get_session_with_agent(
    store: Store, db: CoreTransaction, session_id: str, owner: str | None, now: datetime
) -> tuple[LiveSession, RunAgent | None] | None:
    """A live session's id, owner and agent_id, and its agent's id, state, limits, instructions, model
    and tools (None when the agent is gone); None when there is no such live session."""
    params: dict[str, Any] = {"id": session_id, "now": now}
    statement = _LIVE_SESSION_WITH_AGENT
    if owner is not None:
        params["owner"] = owner
        statement = _LIVE_SESSION_WITH_AGENT_AND_OWNER
    rows = await store.rows_on(db, statement, params)
    if not rows:
        return None
    row = rows[0]
    session = LiveSession(id=row.id, owner=row.owner, agent_id=row.agent_id)
    if row.agent_found is None:
        return session, None
    agent = RunAgent(
        id=row.agent_found, state=row.state, limits=row.limits, instructions=row.instructions, model=row.model,
        tools=row.tools,
    )
    return session, agent


async def session_ids_taken(db: Transaction, session_ids: Sequence[str]) -> set[str]:
    rows = await db.execute(select(SessionRow.id).where(SessionRow.id.in_(list(session_ids))))
    return set(rows.scalars().all())


async def count_sessions_of_owner(db: Transaction, owner: str, now: datetime) -> int:
    stmt = select(func.count()).select_from(SessionRow).where(SessionRow.owner == owner, live_sessions(now))
    return (await db.execute(stmt)).scalar_one()


async def delete_sessions_with_messages(db: Transaction, session_ids: Sequence[str]) -> int:
    ids = list(session_ids)
    if not ids:
        return 0
    await db.execute(delete(MessageRow).where(MessageRow.session_id.in_(ids)))
    result = await db.execute(delete(SessionRow).where(SessionRow.id.in_(ids)))
    return rows_changed(result)


async def session_ids_of_agent(db: Transaction, agent_id: str) -> list[str]:
    rows = await db.execute(select(SessionRow.id).where(SessionRow.agent_id == agent_id))
    return list(rows.scalars().all())


async def expired_session_ids(db: Transaction, now: datetime, limit: int) -> list[str]:
    stmt = select(SessionRow.id).where(SessionRow.expire_time <= now).order_by(SessionRow.expire_time).limit(limit)
    return list((await db.execute(stmt)).scalars().all())


async def get_message(db: Transaction, session_id: str, message_id: str) -> MessageRow | None:
    stmt = select(MessageRow).where(MessageRow.session_id == session_id, MessageRow.id == message_id)
    return (await db.execute(stmt)).scalar_one_or_none()


# Messages read as MessageRecord (ListMessages): rows fetched without a Session, as AgentRecord and
# SessionRecord are.
_M = MessageRow.__table__.c
_SESSION_MESSAGE_COUNT = select(func.count()).select_from(MessageRow.__table__).where(_M.session_id == bindparam("session_id"))
_AFTER_ASCENDING = (_M.create_time > bindparam("after_time")) | (
    (_M.create_time == bindparam("after_time")) & (_M.pk > bindparam("after_pk"))
)
_AFTER_DESCENDING = (_M.create_time < bindparam("after_time")) | (
    (_M.create_time == bindparam("after_time")) & (_M.pk < bindparam("after_pk"))
)


def _session_message_pages(*columns: Any) -> dict[tuple[bool, bool], Any]:
    """`columns` of one session's messages by create time (the default order of ListMessages), by (newest
    first, after a key): the first page or the page after a key, the tie-break being the surrogate key, as in
    MESSAGE_LISTING. Each row also carries the session's message count, so the page and the total come from
    one snapshot, as list_page() reads them in one transaction."""
    base = select(*columns, _SESSION_MESSAGE_COUNT.scalar_subquery().label("messages_in_session")).where(
        _M.session_id == bindparam("session_id")
    )
    pages = {}
    for descending in (False, True):
        for after in (False, True):
            statement = base.where(_AFTER_DESCENDING if descending else _AFTER_ASCENDING) if after else base
            order = (_M.create_time.desc(), _M.pk.desc()) if descending else (_M.create_time.asc(), _M.pk.asc())
            pages[descending, after] = statement.order_by(*order).limit(bindparam("limit"))
    return pages


_SESSION_MESSAGES_PAGES = _session_message_pages(*_record_columns(MessageRow))
# What tells one version of a message's row from another: the surrogate key (a message deleted and created
# again has another), the revision (every update bumps it), the incarnation, and what changes without a new
# revision: the reply count (a reply added or deleted).
_SESSION_MESSAGE_VERSIONS_PAGES = _session_message_pages(_M.id, _M.pk, _M.revision, _M.incarnation, _M.reply_count)
# Records kept only of messages this small (text, and parts in all), so the kept records stay small.
KEPT_MESSAGE_TEXT_CHARS = 4096
KEPT_MESSAGE_PARTS = 8


def small_message(row: Any) -> bool:
    """Whether a message's record (and what is made of it) is small enough to keep between reads."""
    return len(row.text) <= KEPT_MESSAGE_TEXT_CHARS and len(row.content) <= KEPT_MESSAGE_PARTS


def _message_version(row: MessageRecord | MessageVersion) -> tuple[Any, ...]:
    return (row.pk, row.revision, row.incarnation, row.reply_count)


async def session_messages_page(
    store: Store, session_id: str, order: Sequence[Any], after: Sequence[Any] | None, limit: int, records: Any = None
) -> tuple[list[MessageRecord], bool, int] | None:
    """list_page() of one session's messages without a filter, for the orders by create time alone: the rows
    (read-only records) after the `after` key, whether more follow, and the session's message count; None
    for any other order. The caller has checked that the session is live and the caller's.

    With `records` (domain/versioned.py's VersionedRecords), the page's versions are read first, and the whole
    rows only when one of them is not the version kept: the same record objects come back while no message
    of the page changes."""
    if len(order) != 1 or order[0].field != "create_time":
        return None
    descending = order[0].descending
    params: dict[str, Any] = {"session_id": session_id, "limit": limit + 1}
    if after is not None:
        if len(after) != 2:
            raise ValueError("page key does not match the order")
        params["after_time"], params["after_pk"] = after
    key = (descending, after is not None)
    if records is not None:
        versions = await store.fetch_records(_SESSION_MESSAGE_VERSIONS_PAGES[key], params, MessageVersion)
        kept = [records.get((session_id, v.id), _message_version(v)) for v in versions[:limit]]
        if versions and None not in kept:
            return kept, len(versions) > limit, versions[0].messages_in_session
    rows = await store.fetch_records(_SESSION_MESSAGES_PAGES[key], params, MessageRecord)
    if records is not None:
        for row in rows[:limit]:
            if small_message(row):
                records.put((session_id, row.id), _message_version(row), row)
    if rows:
        total = rows[0].messages_in_session
    else:  # no row to carry the count
        counted = await store.fetch_one(_SESSION_MESSAGE_COUNT, {"session_id": session_id})
        total = counted[0] if counted is not None else 0
    return rows[:limit], len(rows) > limit, total


_MESSAGE_ID_TAKEN = select(_M.pk).where(_M.session_id == bindparam("session_id"), _M.id == bindparam("id"))


async def message_id_taken(store: Store, db: CoreTransaction, session_id: str, message_id: str) -> bool:
    """Whether the session has a message of this id, in the transaction `db` (from write() or write_core())."""
    return bool(await store.rows_on(db, _MESSAGE_ID_TAKEN, {"session_id": session_id, "id": message_id}))


async def thread_below(db: Transaction, session_id: str, message_id: str) -> list[str]:
    """Ids of every reply below a message, breadth first."""
    found: list[str] = []
    frontier = [message_id]
    while frontier:
        stmt = select(MessageRow.id).where(MessageRow.session_id == session_id, MessageRow.parent_id.in_(frontier))
        frontier = list((await db.execute(stmt)).scalars().all())
        found.extend(frontier)
    return found


async def search_messages(
    db: Transaction,
    owner: str,
    session_id: str | None,
    words: Sequence[str],
    now: datetime,
    offset: int,
    limit: int,
) -> list[MessageRow]:
    stmt = (
        select(MessageRow)
        .join(SessionRow, SessionRow.id == MessageRow.session_id)
        .where(SessionRow.owner == owner, live_sessions(now))
    )
    if session_id is not None:
        stmt = stmt.where(MessageRow.session_id == session_id)
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(MessageRow.text.ilike(f"%{escaped}%", escape="\\"))
    stmt = stmt.order_by(MessageRow.create_time.desc(), MessageRow.pk.desc()).offset(offset).limit(limit)
    return list((await db.execute(stmt)).scalars().all())


async def find_idempotency_record(db: Transaction, owner: str, request_id: str) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.owner == owner, IdempotencyRecord.request_id == request_id)
    return (await db.execute(stmt)).scalar_one_or_none()


_I = IdempotencyRecord.__table__.c
_IDEMPOTENCY_RECORD = select(_I.pk, _I.method, _I.fingerprint, _I.result, _I.create_time).where(
    _I.owner == bindparam("owner"), _I.request_id == bindparam("request_id")
)
_DELETE_IDEMPOTENCY_RECORD = delete(IdempotencyRecord.__table__).where(_I.pk == bindparam("pk"))
_INSERT_IDEMPOTENCY_RECORD = IdempotencyRecord.__table__.insert()


async def find_idempotency_record_on(store: Store, db: CoreTransaction, owner: str, request_id: str) -> Any:
    """find_idempotency_record() as Core columns, in the transaction `db` (from write() or write_core())."""
    rows = await store.rows_on(db, _IDEMPOTENCY_RECORD, {"owner": owner, "request_id": request_id})
    return rows[0] if rows else None


async def delete_idempotency_record_on(store: Store, db: CoreTransaction, pk: int) -> None:
    await store.execute_on(db, _DELETE_IDEMPOTENCY_RECORD, {"pk": pk})


async def insert_idempotency_record_on(store: Store, db: CoreTransaction, values: dict[str, Any]) -> None:
    """An idempotency record (the columns of IdempotencyRecord but pk), in the transaction `db`."""
    await store.execute_on(db, _INSERT_IDEMPOTENCY_RECORD, values)


async def delete_idempotency_records_before(db: Transaction, cutoff: datetime) -> int:
    result = await db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.create_time < cutoff))
    return rows_changed(result)


async def server_key(db: Transaction, name: str) -> str:
    """The named server secret, created on first use."""
    existing = await db.get(ServerKey, name)
    if existing is not None:
        return existing.value
    value = secrets.token_hex(32)
    db.add(ServerKey(name=name, value=value))
    await db.flush()
    return value


_RECENT_MESSAGES = (
    select(MessageRow.role, MessageRow.content)
    .where(MessageRow.session_id == bindparam("session_id"))
    .order_by(MessageRow.create_time.desc(), MessageRow.pk.desc())
    .limit(bindparam("limit"))
)


async def recent_messages(store: Store, session_id: str, limit: int) -> list[RecentMessage]:
    """Role and content of the newest `limit` messages of a session, oldest first: the conversation a
    model sees (read without a Session, as every run starts with it)."""
    rows = await store.fetch_records(_RECENT_MESSAGES, {"session_id": session_id, "limit": limit}, RecentMessage)
    rows.reverse()
    return rows


async def count_runs_by_status(db: Transaction, statuses: Sequence[int]) -> dict[int, int]:
    """Runs per status among `statuses` (for the metrics gauge; the status index serves it)."""
    stmt = select(RunRow.status, func.count()).where(RunRow.status.in_(list(statuses))).group_by(RunRow.status)
    return {status: count for status, count in (await db.execute(stmt)).all()}


_API_KEY_BY_HASH = select(ApiKeyRow).where(ApiKeyRow.secret_hash == bindparam("hash"))
_API_KEY_BY_ID = select(ApiKeyRow).where(ApiKeyRow.id == bindparam("id"))


async def get_api_key_by_hash(db: Transaction, secret_hash: str) -> ApiKeyRow | None:
    return (await db.execute(_API_KEY_BY_HASH, {"hash": secret_hash})).scalar_one_or_none()


async def get_api_key(db: Transaction, key_id: str) -> ApiKeyRow | None:
    return (await db.execute(_API_KEY_BY_ID, {"id": key_id})).scalar_one_or_none()


async def api_key_id_taken(db: Transaction, key_id: str) -> bool:
    return (await db.execute(select(ApiKeyRow.pk).where(ApiKeyRow.id == key_id))).first() is not None


async def any_api_key(db: Transaction) -> bool:
    return (await db.execute(select(ApiKeyRow.pk).limit(1))).first() is not None


async def record_api_key_use(db: Transaction, key_ids: Sequence[str], when: datetime) -> None:
    stmt = update(ApiKeyRow).where(ApiKeyRow.id.in_(sorted(key_ids))).values(last_use_time=when)
    await db.execute(stmt.execution_options(synchronize_session=False))


# Run statuses that have not ended: QUEUED, RUNNING, REQUIRES_INPUT (runwire.v1.Run.Status).
_ACTIVE_RUN_STATUSES = (1, 2, 3)


async def sessions_with_active_runs(db: Transaction, session_ids: Sequence[str]) -> list[str]:
    stmt = (
        select(RunRow.session_id)
        .where(RunRow.session_id.in_(list(session_ids)), RunRow.status.in_(_ACTIVE_RUN_STATUSES))
        .distinct()
    )
    return sorted((await db.execute(stmt)).scalars().all())
