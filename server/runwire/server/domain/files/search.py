"""Files: search of the extracted text, by keywords (full text) or by meaning (semantic), for callers and for runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sqlalchemy import and_, or_, select

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, InvalidArgument, NotFound
from runwire.server.core.filtering import FilterError
from runwire.server.core.paging import SearchQuery, query_fingerprint, resolve_page_size
from runwire.server.core.principal import Principal
from runwire.server.domain.common import filter_error, parse_filter_field
from runwire.server.domain.context import DomainContext
from runwire.server.domain.files.processing import FileProcessing
from runwire.server.domain.files.records import FileState, SearchHit, SearchMode
from runwire.server.files import embeddings
from runwire.server.store import file_repository as files_repo
from runwire.server.store import repositories as repo
from runwire.server.store.filter_sql import filter_to_sql
from runwire.server.store.models import FileRow, SessionRow

MAX_SEARCH_RESULTS = 100
MAX_SEARCH_WORDS = 32
SNIPPET_CHARS = 300


class FileSearchService:
    def __init__(self, ctx: DomainContext, processing: FileProcessing) -> None:
        self.ctx = ctx
        # Where the chunks and their vectors come from, and the model that embeds a query.
        self.processing = processing

    # -- search ---------------------------------------------------------------

    async def search(
        self,
        caller: Principal,
        search: SearchQuery,
        *,
        session: str = "",
        agent: str = "",
        mode: int = SearchMode.UNSPECIFIED,
    ) -> tuple[list[SearchHit], str]:
        query = search.text
        words = _query_words(query, self.ctx.limits.max_search_query_chars)
        semantic = self._semantic_mode(mode)
        size = resolve_page_size(search.page_size, 10, MAX_SEARCH_RESULTS)
        expr = parse_filter_field(search.filter, self.ctx.limits.max_filter_chars)
        try:
            filter_clause = filter_to_sql(expr, files_repo.SEARCH_FILTER_FIELDS)
        except FilterError as exc:
            raise filter_error(exc) from None
        fingerprint = query_fingerprint(
            "files:search", caller.id, query, session, agent, search.filter.strip(), str(int(semantic))
        )
        after = self.ctx.page_tokens.decode(search.page_token, fingerprint)
        offset = int(after[0]) if after else 0
        owner = None if caller.is_admin else caller.id
        conditions = [FileRow.state == FileState.COMPLETED]
        if owner is not None:
            conditions.append(FileRow.owner == owner)
        if filter_clause is not None:
            conditions.append(filter_clause)
        async with self.ctx.store.read() as db:
            if session:
                (session_id,) = names.SESSION.parse(session, "session")
                if await repo.get_session(db, session_id, owner, self.ctx.clock()) is None:
                    raise NotFound(f"session {session!r} does not exist", reason="SESSION_NOT_FOUND", metadata={"resource": session})
                conditions.append(FileRow.session_id == session_id)
            elif agent:
                (agent_id,) = names.AGENT.parse(agent, "agent")
                if await repo.get_agent(db, agent_id, owner) is None:
                    raise NotFound(f"agent {agent!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": agent})
                conditions.append(FileRow.agent_id == agent_id)
            if semantic:
                candidates = await files_repo.chunks_with_embeddings(db, file_scope=and_(*conditions), model=embeddings.MODEL_NAME)
            else:
                hits = await files_repo.search_chunks(
                    db, words=words, file_scope=and_(*conditions), full_text_index=self.processing.full_text_index, offset=offset, limit=size + 1
                )
        if semantic:
            hits = (await self._rank_semantically(query, candidates))[offset : offset + size + 1]
        token = self.ctx.page_tokens.encode(fingerprint, [offset + size]) if len(hits) > size else ""
        return [_hit(h, words) for h in hits[:size]], token

    async def search_for_run(
        self, principal: Principal, session: str, query: str, limit: int, *, semantic: bool = False
    ) -> list[SearchHit]:
        """What the `file_search` tool sees: the owner's COMPLETED files attached to the run's session or its agent."""
        words = _query_words(query, self.ctx.limits.max_search_query_chars)
        if semantic:
            self._semantic_mode(SearchMode.SEMANTIC)
        (session_id,) = names.SESSION.parse(session, "session")
        async with self.ctx.store.read() as db:
            row = await db.execute(select(SessionRow.agent_id).where(SessionRow.id == session_id))
            agent_id = row.scalar_one_or_none()
            attached = FileRow.session_id == session_id
            if agent_id is not None:
                attached = or_(attached, FileRow.agent_id == agent_id)
            scope = and_(FileRow.owner == principal.id, FileRow.state == FileState.COMPLETED, attached)
            if semantic:
                candidates = await files_repo.chunks_with_embeddings(db, file_scope=scope, model=embeddings.MODEL_NAME)
            else:
                hits = await files_repo.search_chunks(
                    db, words=words, file_scope=scope, full_text_index=self.processing.full_text_index, offset=0, limit=limit
                )
        if semantic:
            hits = (await self._rank_semantically(query, candidates))[:limit]
        return [_hit(h, words) for h in hits]

    def _semantic_mode(self, mode: int) -> bool:
        """Whether `mode` asks for semantic search; FAILED_PRECONDITION when this server cannot do it."""
        if mode not in tuple(SearchMode):
            raise InvalidArgument.field("mode", f"is {mode}, not a known search mode")
        if mode != SearchMode.SEMANTIC:
            return False
        if self.processing.embedder is None:
            raise FailedPrecondition(self.processing.semantic_unavailable, reason="SEMANTIC_SEARCH_UNAVAILABLE")
        return True

    async def _rank_semantically(
        self, query: str, candidates: list[tuple[files_repo.ChunkHit, bytes]]
    ) -> list[files_repo.ChunkHit]:
        """All candidates, most similar in meaning to the query first (cosine similarity; vectors are unit length)."""
        embedder = self.processing.embedder
        assert embedder is not None
        if not candidates:
            return []

        def rank() -> list[files_repo.ChunkHit]:
            import numpy as np

            target = embedder.embed([query])[0]
            matrix = np.frombuffer(b"".join(v for _, v in candidates), dtype="<f4").reshape(len(candidates), -1)
            scores = matrix @ target
            order = np.argsort(-scores, kind="stable")
            return [replace(candidates[i][0], score=float(scores[i])) for i in order]

        return await asyncio.to_thread(rank)


def _query_words(query: str, max_chars: int) -> list[str]:
    if len(query) > max_chars:
        raise InvalidArgument.field("query", f"is {len(query)} characters long; the limit is {max_chars}")
    words = query.split()
    if not words:
        raise InvalidArgument.field("query", "is required: one or more words to look for")
    if len(words) > MAX_SEARCH_WORDS:
        raise InvalidArgument.field("query", f"has {len(words)} words; the limit is {MAX_SEARCH_WORDS}")
    return words


def _hit(hit: files_repo.ChunkHit, words: list[str]) -> SearchHit:
    return SearchHit(
        file=names.FILE.format(hit.file_id),
        filename=hit.filename,
        chunk_index=hit.chunk_index,
        snippet=_snippet(hit.text, words),
        score=hit.score,
        text_offset=hit.text_offset,
        text_chars=len(hit.text),
        page_number=hit.page_number,
    )


def _snippet(text: str, words: list[str]) -> str:
    """Up to SNIPPET_CHARS of the chunk around the first word found, on one line."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    found = [at for at in (lowered.find(w.lower()) for w in words) if at >= 0]
    start = max(0, min(found) - SNIPPET_CHARS // 3) if found else 0
    prefix = "…" if start else ""
    room = SNIPPET_CHARS - len(prefix)
    excerpt = flat[start : start + room]
    if start + room < len(flat):
        excerpt = excerpt[:-1] + "…"
    return prefix + excerpt
