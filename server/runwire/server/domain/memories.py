"""Long-term memories: profile, facts and conversation summaries a principal's agents recall across sessions.

A memory belongs to the principal that created it and is visible only to it
(admins included: memories are personal) and to its agents, through the
built-in `memory` tool. A memory scoped to an agent is recalled only by that
agent. Expired memories are invisible at once and deleted by the sweeper.
"""

from __future__ import annotations

import builtins
import copy
import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from runwire.server.core import names
from runwire.server.core.errors import NotFound, Violations
from runwire.server.core.paging import Page, SearchQuery, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.domain.common import check_immutable, check_labels, check_text, expire_time_of, expiring_changes
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.domain.sessions import not_found as session_not_found
from runwire.server.store import memories as memory_repo
from runwire.server.store import repositories as repo
from runwire.server.store.models import MemoryRow
from runwire.server.store.transaction import CoreTransaction, Transaction, orm
from runwire.server.wire import convert

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
    return MEMORIES.not_found(name)


@dataclass(frozen=True)
class MemoryHit:
    memory: MemoryRow
    snippet: str
    score: float


MEMORIES = register(
    ResourceKind(
        field="memory",
        pattern=MEMORY,
        row=MemoryRow,
        tenancy=Tenancy.OWNER,
        listing=memory_repo.MEMORY_LISTING,
        title="memory",
        not_found_reason="MEMORY_NOT_FOUND",
        method="Memory",
        to_proto=convert.memory_proto,
        live=memory_repo.live_memories,
    )
)


class MemoryService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[MemoryRow] = ResourceWriter(ctx, MEMORIES)

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

    async def _check_references(self, db: Transaction, caller: Principal, fields: Mapping[str, Any]) -> None:
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
        self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions = WriteOptions(), *, memory_id: str = ""
    ) -> MemoryRow:
        v = Violations()
        if memory_id and not names.ID_PATTERN.fullmatch(memory_id):
            v.add("memory_id", names.ID_RULE)
        self._validate(v, fields, "memory")
        v.raise_if_any()
        now = self.ctx.clock()
        row = MemoryRow(
            id=memory_id or names.new_id(),
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

        async def check(db: CoreTransaction) -> None:
            await self._check_references(orm(db), caller, fields)

        return await self.writer.create(caller, row, options, check=check)

    async def get(self, caller: Principal, name: str) -> MemoryRow:
        return await self.writer.get(caller, name)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> MemoryRow:
        MEMORY.parse(name, "memory.name")
        changes = expiring_changes(options.update_mask, values, UPDATABLE)
        v = Violations()
        self._validate(v, changes, "memory", partial=True)
        v.raise_if_any()

        async def change(db: Transaction, row: MemoryRow, target: MemoryRow) -> None:
            check_immutable("memory.session", values.get("session"), _name_of(names.SESSION, row.session_id))
            if changes.get("agent"):
                await self._check_references(db, caller, {"agent": changes["agent"]})
            now = self.ctx.clock()
            for path, value in changes.items():
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
                elif path in ("expire_time", "ttl"):
                    target.expire_time = expire_time_of(path, value, now)

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions = WriteOptions()) -> None:
        await self.writer.delete(caller, name, options)

    async def search(
        self,
        caller: Principal,
        search: SearchQuery,
        *,
        types: Sequence[int] = (),
        agent: str = "",
    ) -> tuple[builtins.list[MemoryHit], str]:
        """Memories containing every word of the query, best first: more occurrences score higher, then newer."""
        query = search.text
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
        if search.page_size < 0:
            v.add("page_size", "must not be negative")
        v.raise_if_any()
        size = resolve_page_size(search.page_size, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS)
        fingerprint = query_fingerprint("memories:search", caller.id, query, sorted(types), agent)
        after = self.ctx.page_tokens.decode(search.page_token, fingerprint)
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
        options: WriteOptions,
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
        self.ctx.idempotency.validate(options.request_id)
        now = self.ctx.clock()
        cutoff = now - older_than if older_than is not None else before
        agent_id = _id_of(agent)
        async with self.ctx.store.write() as db:
            if options.validate_only:
                return await memory_repo.count_memories_matching(db, caller.id, types, agent_id, cutoff, now)
            replayed = await self.ctx.idempotency.replay(db, caller, options.request_id, "ClearMemories", options.fingerprint)
            if replayed is not None:
                return int(replayed[0])
            for row in await memory_repo.memories_matching(db, caller.id, types, agent_id, cutoff, now):
                await self.writer.record(db, "deleted", row)
            deleted = await memory_repo.delete_memories_matching(db, caller.id, types, agent_id, cutoff, now)
            self.ctx.idempotency.remember(db, caller, options.request_id, "ClearMemories", options.fingerprint, [str(deleted)])
        return deleted

    async def profile_for(self, owner: str, agent_id: str, limit: int = 50) -> builtins.list[str]:
        """The PROFILE memories given to an agent at the start of a run."""
        return await memory_repo.profile_memories(self.ctx.store, owner, agent_id, self.ctx.clock(), limit)

    async def sweep_expired(self) -> int:
        async with self.ctx.store.write() as db:
            now = self.ctx.clock()
            for row in await memory_repo.expired_memories(db, now):
                await self.writer.record(db, "expired", row)
            return await memory_repo.delete_expired_memories(db, now)



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
