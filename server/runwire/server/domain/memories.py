"""Long-term memories: profile, facts and conversation summaries a principal's agents recall across sessions.

A memory belongs to the principal that created it and is visible only to it
(admins included: memories are personal) and to its agents, through the
built-in `memory` tool. A memory scoped to an agent is recalled only by that
agent. Expired memories are invisible at once and deleted by the sweeper.
"""

from __future__ import annotations

import copy
import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import select

from runwire.server.wire import convert
from runwire.server.core import names
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.core.etags import check_etag
from runwire.server.domain.common import check_immutable, check_labels, check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.core.errors import AlreadyExists, InvalidArgument, NotFound, Violations
from runwire.server.core.paging import Page, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.domain.sessions import not_found as session_not_found
from runwire.server.store import memories as memory_repo
from runwire.server.store import repositories as repo
from runwire.server.store.models import MemoryRow

MEMORY = names.NamePattern.of("memories")
MAX_CONTENT_CHARS = 10_000
MAX_TTL = timedelta(days=3650)
MAX_CLEAR_AGE = timedelta(days=36_500)
DEFAULT_SEARCH_RESULTS = 10
MAX_SEARCH_RESULTS = 100
# Matches scored per search; the newest are kept when more match.
MAX_SEARCH_CANDIDATES = 1_000
SNIPPET_CHARS = 160
UPDATABLE = ("type", "content", "agent", "labels", "metadata", "expire_time", "ttl")


class MemoryType(enum.IntEnum):
    """runwire.v1.Memory.Type values."""

    UNSPECIFIED = 0
    PROFILE = 1
    FACT = 2
    CONVERSATION = 3


def not_found(name: str) -> NotFound:
    return NotFound(f"memory {name!r} does not exist", reason="MEMORY_NOT_FOUND", metadata={"resource": name})


@dataclass(frozen=True)
class MemoryHit:
    memory: MemoryRow
    snippet: str
    score: float


class MemoryService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx

    # -- validation -------------------------------------------------------------

    def _validate(self, v: Violations, fields: Mapping[str, Any], prefix: str, *, partial: bool = False) -> None:
        limits = self.ctx.limits
        if not partial or "type" in fields:
            memory_type = fields.get("type") or 0
            if memory_type not in (MemoryType.PROFILE, MemoryType.FACT, MemoryType.CONVERSATION):
                v.add(f"{prefix}.type", "is required: TYPE_PROFILE, TYPE_FACT or TYPE_CONVERSATION")
        if not partial or "content" in fields:
            check_text(v, f"{prefix}.content", fields.get("content") or "", MAX_CONTENT_CHARS, required=True)
        if fields.get("agent"):
            problem = names.AGENT.problem(fields["agent"])
            if problem:
                v.add(f"{prefix}.agent", problem)
        if fields.get("session"):
            problem = names.SESSION.problem(fields["session"])
            if problem:
                v.add(f"{prefix}.session", problem)
        check_labels(v, f"{prefix}.labels", fields.get("labels") or {}, limits.max_labels)
        metadata = fields.get("metadata") or {}
        size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
        if size > limits.max_metadata_bytes:
            v.add(f"{prefix}.metadata", f"is {size:,} bytes serialized; the limit is {limits.max_metadata_bytes:,}")
        ttl = fields.get("ttl")
        if ttl is not None and not timedelta(seconds=1) <= ttl <= MAX_TTL:
            v.add(f"{prefix}.ttl", "must be between 1 second and 10 years")
        expire_time = fields.get("expire_time")
        if expire_time is not None and expire_time <= self.ctx.clock():
            v.add(f"{prefix}.expire_time", "must be in the future")

    async def _check_references(self, db: Any, caller: Principal, fields: Mapping[str, Any]) -> None:
        """The agent and session a memory names must exist and be the caller's."""
        owner = None if caller.is_admin else caller.id
        agent = fields.get("agent")
        if agent and await repo.get_agent(db, names.AGENT.parse(agent, "memory.agent")[0], owner) is None:
            raise agent_not_found(agent)
        session = fields.get("session")
        if session:
            (session_id,) = names.SESSION.parse(session, "memory.session")
            if await repo.get_session(db, session_id, owner, self.ctx.clock()) is None:
                raise session_not_found(session)

    # -- commands ---------------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        *,
        memory_id: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> MemoryRow:
        v = Violations()
        if memory_id and not names.ID_PATTERN.fullmatch(memory_id):
            v.add("memory_id", names.ID_RULE)
        self._validate(v, fields, "memory")
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        now = self.ctx.clock()
        memory_id = memory_id or names.new_id()
        row = MemoryRow(
            id=memory_id,
            owner=caller.id,
            type=int(fields["type"]),
            content=fields["content"],
            agent_id=_id_of(fields.get("agent")),
            session_id=_id_of(fields.get("session")),
            labels=dict(fields.get("labels") or {}),
            client_metadata=copy.deepcopy(dict(fields.get("metadata") or {})),
            expire_time=now + fields["ttl"] if fields.get("ttl") is not None else fields.get("expire_time"),
            create_time=now,
            update_time=now,
            revision=1,
        )
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "CreateMemory", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            await self._check_references(db, caller, fields)
            if validate_only:
                return row
            if await memory_repo.memory_id_taken(db, memory_id):
                raise AlreadyExists(f"memory {MEMORY.format(memory_id)!r} already exists", reason="ALREADY_EXISTS")
            db.add(row)
            await self._record(db, "memory.created", row)
            self.ctx.idempotency.remember(db, caller, request_id, "CreateMemory", fingerprint, [MEMORY.format(memory_id)])
        return row

    async def get(self, caller: Principal, name: str) -> MemoryRow:
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name)

    async def _get_in(self, db: Any, caller: Principal, name: str, field: str = "name") -> MemoryRow:
        (memory_id,) = MEMORY.parse(name, field)
        row = await memory_repo.get_memory(db, memory_id, caller.id, self.ctx.clock())
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, *, page_size: int, page_token: str, filter_text: str, order_by: str) -> Page:
        base = select(MemoryRow).where(MemoryRow.owner == caller.id, memory_repo.live_memories(self.ctx.clock()))
        return await self.ctx.list(
            caller,
            "memories",
            base,
            memory_repo.MEMORY_LISTING,
            page_size=page_size,
            page_token=page_token,
            filter_text=filter_text,
            order_by=order_by,
            default_order="create_time desc",
        )

    async def update(
        self,
        caller: Principal,
        name: str,
        values: Mapping[str, Any],
        mask_paths: list[str],
        *,
        etag: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> MemoryRow:
        MEMORY.parse(name, "memory.name")
        plan = plan_update(mask_paths, values, UPDATABLE)
        if list(mask_paths) == ["*"]:
            # `*` names the expiration oneof once: ttl when the request sets it, otherwise expire_time.
            plan.changes.pop("expire_time" if plan.changes.get("ttl") is not None else "ttl")
        if "ttl" in plan.changes and "expire_time" in plan.changes:
            raise InvalidArgument.field("update_mask", "set either ttl or expire_time, not both")
        v = Violations()
        self._validate(v, plan.changes, "memory", partial=True)
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UpdateMemory", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            row = await self._get_in(db, caller, name, "memory.name")
            check_etag("memory", row.id, row.revision, row.incarnation, etag)
            check_immutable("memory.session", values.get("session"), _name_of(names.SESSION, row.session_id))
            if plan.changes.get("agent"):
                await self._check_references(db, caller, {"agent": plan.changes["agent"]})
            target = _preview(row) if validate_only else row
            now = self.ctx.clock()
            for path, value in plan.changes.items():
                if path == "type":
                    target.type = int(value)
                elif path == "content":
                    target.content = value
                elif path == "agent":
                    target.agent_id = _id_of(value)
                elif path == "labels":
                    target.labels = dict(value or {})
                elif path == "metadata":
                    target.client_metadata = copy.deepcopy(dict(value or {}))
                elif path == "expire_time":
                    target.expire_time = value
                elif path == "ttl":
                    target.expire_time = now + value if value is not None else None
            if validate_only:
                return target
            row.update_time = now
            row.revision += 1
            await self._record(db, "memory.updated", row)
            self.ctx.idempotency.remember(db, caller, request_id, "UpdateMemory", fingerprint, [name])
        return row

    async def delete(
        self,
        caller: Principal,
        name: str,
        *,
        etag: str = "",
        allow_missing: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> None:
        (memory_id,) = MEMORY.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteMemory", fingerprint) is not None:
                return
            row = await memory_repo.get_memory(db, memory_id, caller.id, self.ctx.clock())
            if row is None:
                if allow_missing:
                    return
                raise not_found(name)
            check_etag("memory", row.id, row.revision, row.incarnation, etag)
            await self._record(db, "memory.deleted", row)
            await db.delete(row)
            self.ctx.idempotency.remember(db, caller, request_id, "DeleteMemory", fingerprint, [])

    async def search(
        self,
        caller: Principal,
        query: str,
        *,
        types: Sequence[int] = (),
        agent: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[MemoryHit], str]:
        """Memories containing every word of `query`, best first: more occurrences score higher, then newer."""
        v = Violations()
        words = query.split()
        if not words:
            v.add("query", "is required: one or more words to look for")
        elif len(query) > self.ctx.limits.max_search_query_chars:
            v.add("query", f"is {len(query)} characters long; the limit is {self.ctx.limits.max_search_query_chars}")
        _check_types(v, types, "types")
        if agent:
            problem = names.AGENT.problem(agent)
            if problem:
                v.add("agent", problem)
        if page_size < 0:
            v.add("page_size", "must not be negative")
        v.raise_if_any()
        size = resolve_page_size(page_size, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS)
        fingerprint = query_fingerprint("memories:search", caller.id, query, sorted(types), agent)
        after = self.ctx.page_tokens.decode(page_token, fingerprint)
        offset = int(after[0]) if after else 0
        async with self.ctx.store.read() as db:
            rows = await memory_repo.search_memories(
                db, caller.id, words, types, _id_of(agent), self.ctx.clock(), MAX_SEARCH_CANDIDATES
            )
        hits = sorted((MemoryHit(row, _snippet(row.content, words[0]), _score(row.content, words)) for row in rows), key=lambda h: -h.score)
        page = hits[offset : offset + size]
        token = self.ctx.page_tokens.encode(fingerprint, [offset + size]) if len(hits) > offset + size else ""
        return page, token

    async def clear(
        self,
        caller: Principal,
        *,
        types: Sequence[int] = (),
        agent: str = "",
        older_than: timedelta | None = None,
        before: datetime | None = None,
        all_memories: bool = False,
        validate_only: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> int:
        """Deletes, in one transaction, every memory of the caller matching all the criteria given; returns the count."""
        v = Violations()
        _check_types(v, types, "types")
        if agent:
            problem = names.AGENT.problem(agent)
            if problem:
                v.add("agent", problem)
        if older_than is not None and not timedelta(seconds=1) <= older_than <= MAX_CLEAR_AGE:
            v.add("older_than", "must be between 1 second and 100 years")
        if not (types or agent or older_than is not None or before is not None or all_memories):
            v.add("all", "set a criterion (types, agent, older_than, before), or all=true to clear every memory")
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        now = self.ctx.clock()
        cutoff = now - older_than if older_than is not None else before
        agent_id = _id_of(agent)
        async with self.ctx.store.write() as db:
            if validate_only:
                return await memory_repo.count_memories_matching(db, caller.id, types, agent_id, cutoff, now)
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "ClearMemories", fingerprint)
            if replayed is not None:
                return int(replayed[0])
            for row in await memory_repo.memories_matching(db, caller.id, types, agent_id, cutoff, now):
                await self._record(db, "memory.deleted", row)
            deleted = await memory_repo.delete_memories_matching(db, caller.id, types, agent_id, cutoff, now)
            self.ctx.idempotency.remember(db, caller, request_id, "ClearMemories", fingerprint, [str(deleted)])
        return deleted

    async def profile_for(self, owner: str, agent_id: str, limit: int = 50) -> list[str]:
        """The PROFILE memories given to an agent at the start of a run."""
        return await memory_repo.profile_memories(self.ctx.store, owner, agent_id, self.ctx.clock(), limit)

    async def sweep_expired(self) -> int:
        async with self.ctx.store.write() as db:
            now = self.ctx.clock()
            for row in await memory_repo.expired_memories(db, now):
                await self._record(db, "memory.expired", row)
            return await memory_repo.delete_expired_memories(db, now)

    async def _record(self, db: Any, type: str, row: MemoryRow) -> None:
        await self.ctx.events.record(db, type, MEMORY.format(row.id), row.owner, convert.memory_proto(row))


def _check_types(v: Violations, types: Sequence[int], field: str) -> None:
    for index, memory_type in enumerate(types):
        if memory_type not in (MemoryType.PROFILE, MemoryType.FACT, MemoryType.CONVERSATION):
            v.add(f"{field}[{index}]", "must be TYPE_PROFILE, TYPE_FACT or TYPE_CONVERSATION")


def _id_of(name: str | None) -> str | None:
    return name.split("/", 1)[1] if name else None


def _name_of(pattern: names.NamePattern, resource_id: str | None) -> str:
    return pattern.format(resource_id) if resource_id else ""


def _score(content: str, words: Sequence[str]) -> float:
    text = content.lower()
    occurrences = sum(text.count(word.lower()) for word in words)
    # Denser matches rank first: occurrences per 100 words, so a short exact memory beats a long rambling one.
    return occurrences * 100.0 / max(len(text.split()), 1)


def _snippet(text: str, word: str) -> str:
    at = text.lower().find(word.lower())
    start = max(0, at - SNIPPET_CHARS // 2) if at >= 0 else 0
    excerpt = text[start : start + SNIPPET_CHARS]
    return ("…" if start > 0 else "") + excerpt + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _preview(row: MemoryRow) -> MemoryRow:
    return MemoryRow(
        id=row.id,
        owner=row.owner,
        type=row.type,
        content=row.content,
        agent_id=row.agent_id,
        session_id=row.session_id,
        labels=dict(row.labels),
        client_metadata=copy.deepcopy(row.client_metadata),
        expire_time=row.expire_time,
        create_time=row.create_time,
        update_time=row.update_time,
        revision=row.revision,
        incarnation=row.incarnation,
    )
