"""Files: AnalyzeFile, the text of a file extracted again, or summarized by an agent's model."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, NotFound, Unavailable, Violations
from runwire.server.core.principal import Principal
from runwire.server.domain.context import DomainContext
from runwire.server.domain.files.processing import FileProcessing
from runwire.server.domain.files.records import (
    DEFAULT_TEXT_CHARS,
    MAX_TEXT_CHARS,
    Analysis,
    AnalyzeMode,
    FileState,
    not_found,
    not_ready,
    record_change,
    require_completed,
)
from runwire.server.domain.files.service import FileService
from runwire.server.domain.resources import WriteOptions
from runwire.server.domain.secrets import SecretService
from runwire.server.engine.providers import ModelMessage, ModelRequest, ProviderError, TextChunk, UsageChunk
from runwire.server.files import sniff
from runwire.server.store import file_repository as files_repo
from runwire.server.store import repositories as repo
from runwire.server.store.models import FileRow

MAX_INSTRUCTIONS_CHARS = 10_000
# How much of a file's text a summary is based on.
SUMMARY_SOURCE_CHARS = 100_000


class FileAnalysisService:
    def __init__(
        self,
        ctx: DomainContext,
        files: FileService,
        processing: FileProcessing,
        providers: Mapping[str, Any],
        secrets: SecretService | None = None,
    ) -> None:
        self.ctx = ctx
        self.files = files
        self.processing = processing
        self.providers = providers
        # Reads the secret an agent names for its own base_url (AnalyzeFile calls the agent's model).
        self.secrets = secrets

    # -- analysis -------------------------------------------------------------

    async def analyze(
        self,
        caller: Principal,
        name: str,
        *,
        mode: int,
        agent: str = "",
        instructions: str = "",
        max_chars: int = 0,
        options: WriteOptions,
    ) -> Analysis:
        v = Violations()
        if mode not in (AnalyzeMode.EXTRACT_TEXT, AnalyzeMode.SUMMARIZE):
            v.add("mode", "is required: MODE_EXTRACT_TEXT or MODE_SUMMARIZE")
        if mode == AnalyzeMode.SUMMARIZE and not agent:
            v.add("agent", "is required with MODE_SUMMARIZE: the agent whose model writes the summary")
        if mode == AnalyzeMode.EXTRACT_TEXT and agent:
            v.add("agent", "is only used with MODE_SUMMARIZE")
        if agent and names.AGENT.problem(agent):
            v.add("agent", names.AGENT.problem(agent) or "")
        if len(instructions) > MAX_INSTRUCTIONS_CHARS:
            v.add("instructions", f"is {len(instructions)} characters long; the limit is {MAX_INSTRUCTIONS_CHARS:,}")
        if max_chars < 0 or max_chars > MAX_TEXT_CHARS:
            v.add("max_chars", f"must be between 1 and {MAX_TEXT_CHARS:,} (0 means {DEFAULT_TEXT_CHARS:,})")
        v.raise_if_any()
        self.ctx.idempotency.validate(options.request_id)
        max_chars = max_chars or DEFAULT_TEXT_CHARS
        started = time.perf_counter()
        row = await self.files.get(caller, name)
        if row.state in (FileState.PENDING, FileState.PROCESSING):
            raise not_ready(row, name)
        if mode == AnalyzeMode.EXTRACT_TEXT:
            row = await self._extract_again(caller, row, name)
            text = await self._text_prefix(row, max_chars + 1)
            return Analysis(row, mode, text[:max_chars], len(text) > max_chars, None, None, time.perf_counter() - started)
        require_completed(row, name)
        summary, usage = await self._summarize(caller, row, agent, instructions)
        return Analysis(row, mode, summary[:max_chars], len(summary) > max_chars, *usage, time.perf_counter() - started)

    async def _extract_again(self, caller: Principal, row: FileRow, name: str) -> FileRow:
        if row.content_type not in sniff.EXTRACTABLE:
            raise FailedPrecondition(
                f"the server extracts no text from {row.content_type}", reason="UNSUPPORTED_CONTENT_TYPE"
            )
        async with self.ctx.store.write() as db:
            stored = await files_repo.get_file(db, row.id, None)
            if stored is None:
                raise not_found(name)
            if stored.state in (FileState.PENDING, FileState.PROCESSING):
                raise not_ready(stored, name)
            stored.state, stored.progress = FileState.PENDING, 0.0
            stored.update_time = self.ctx.clock()
            stored.revision += 1
            await record_change(self.ctx, db, "file.updated", stored)
        self.processing.notify(row.id)
        # Shielded: a caller that gives up does not leave the file half-processed; the extraction finishes.
        await asyncio.shield(self.processing.schedule(row.id))
        return await self.files.get(caller, name)

    async def _text_prefix(self, row: FileRow, chars: int) -> str:
        if row.state != FileState.COMPLETED:
            return ""
        async with self.ctx.store.read() as db:
            return await files_repo.text_slice(db, row.id, 0, chars)

    async def _summarize(
        self, caller: Principal, row: FileRow, agent_name: str, instructions: str
    ) -> tuple[str, tuple[int, int]]:
        (agent_id,) = names.AGENT.parse(agent_name, "agent")
        async with self.ctx.store.read() as db:
            agent = await repo.get_agent(db, agent_id, None if caller.is_admin else caller.id)
            if agent is None:
                raise NotFound(f"agent {agent_name!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": agent_name})
            source = await files_repo.text_slice(db, row.id, 0, SUMMARY_SOURCE_CHARS)
        provider_name = str(agent.model.get("provider") or "builtin")
        provider = self.providers.get(provider_name)
        if provider is None:
            raise FailedPrecondition(f"the agent's provider {provider_name!r} is not available", reason="PROVIDER_ERROR")
        system = "\n\n".join(
            p
            for p in (
                agent.instructions,
                f"Summarize the document {row.filename!r} that the user sends.",
                instructions,
            )
            if p
        )
        model = agent.model
        if provider_name == "openai" and not model.get("base_url"):
            problem = self.ctx.endpoints.problem(str(model.get("endpoint") or ""), str(model.get("model") or ""))
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.reason)
        api_key = ""
        if model.get("api_key_secret"):
            if self.secrets is None:
                raise FailedPrecondition("secrets cannot be read by this server", reason="SECRET_NOT_FOUND")
            # The agent owner's key, sent only to the agent's own base_url, as in a run.
            api_key = await self.secrets.value_for(agent.owner, str(model["api_key_secret"]))
        request = ModelRequest(
            model=str(model.get("model") or ""),
            messages=(ModelMessage(role="system", text=system), ModelMessage(role="user", text=source)),
            temperature=model.get("temperature"),
            max_output_tokens=model.get("max_output_tokens"),
            base_url=str(model.get("base_url") or ""),
            api_key=api_key,
            endpoint=str(model.get("endpoint") or ""),
            options=dict(model.get("options") or {}),
        )
        parts: list[str] = []
        usage = (0, 0)
        try:
            async for chunk in provider.stream(request):
                if isinstance(chunk, TextChunk):
                    parts.append(chunk.text)
                elif isinstance(chunk, UsageChunk):
                    usage = (chunk.input_tokens, chunk.output_tokens)
        except ProviderError as error:
            if error.reason != "PROVIDER_ERROR":  # a refused destination or a removed endpoint: not transient
                raise FailedPrecondition(f"the model provider failed: {error.message}", reason=error.reason) from None
            raise Unavailable(f"the model provider failed: {error.message}", reason="PROVIDER_ERROR") from None
        return "".join(parts), usage
