"""Agents: validation, creation, updates with etags, deletion with cascade rules."""

from __future__ import annotations

import copy
import enum
from typing import Any, Mapping

from sqlalchemy import select

from runwire.server.wire import convert
from runwire.server.core import names
from runwire.server.domain.common import apply_path, check_labels, check_text, plan_update, refuse_if_runs_active
from runwire.server.core.etags import check_etag
from runwire.server.domain.context import DomainContext
from runwire.server.domain.mcp_servers import check_agent_mcp_tools
from runwire.server.core.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from runwire.server.core.paging import Page
from runwire.server.domain.versioned import VersionedRecords
from runwire.server.core.principal import Principal
from runwire.server.domain.secrets import SECRET
from runwire.server.domain.secrets import not_found as secret_not_found
from runwire.server.store import repositories as repo
from runwire.server.store import secrets as secret_repo
from runwire.server.store.models import AgentRow
from runwire.server.store.repositories import AgentRecord

PROVIDERS = ("builtin", "openai")
BUILTIN_TOOLS = ("calculator", "current_time", "session_search", "file_search", "memory")
MAX_STEPS = 1_000
MAX_RUN_SECONDS = 24 * 3600
MAX_CONCURRENT_RUNS = 1_000
MAX_TOOL_TIMEOUT_SECONDS = 3600
MAX_INPUT_TIMEOUT_SECONDS = 7 * 24 * 3600

UPDATABLE = (
    "display_name",
    "description",
    "instructions",
    "model",
    "model.provider",
    "model.model",
    "model.temperature",
    "model.max_output_tokens",
    "model.base_url",
    "model.api_key_secret",
    "model.endpoint",
    "model.options",
    "tools",
    "limits",
    "limits.max_steps",
    "limits.max_run_duration",
    "limits.max_concurrent_runs",
    "limits.tool_timeout",
    "limits.input_timeout",
    "state",
    "labels",
)


class AgentState(enum.IntEnum):
    UNSPECIFIED = 0
    ACTIVE = 1
    DISABLED = 2


def not_found(name: str) -> NotFound:
    return NotFound(f"agent {name!r} does not exist", reason="AGENT_NOT_FOUND", metadata={"resource": name})


class AgentService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self._records = VersionedRecords()

    # -- validation ---------------------------------------------------------

    def _validate(self, fields: Mapping[str, Any], prefix: str = "agent", v: Violations | None = None) -> None:
        limits = self.ctx.limits
        v = v or Violations()
        check_text(v, f"{prefix}.display_name", fields.get("display_name", ""), limits.max_display_name_chars, required=True)
        check_text(v, f"{prefix}.description", fields.get("description", ""), limits.max_description_chars)
        check_text(v, f"{prefix}.instructions", fields.get("instructions", ""), limits.max_instructions_chars)
        check_labels(v, f"{prefix}.labels", fields.get("labels") or {}, limits.max_labels)
        model = fields.get("model") or {}
        provider = model.get("provider") or "builtin"
        if provider not in PROVIDERS:
            v.add(f"{prefix}.model.provider", f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
        temperature = model.get("temperature")
        if temperature is not None and not 0 <= temperature <= 2:
            v.add(f"{prefix}.model.temperature", "must be between 0 and 2")
        max_tokens = model.get("max_output_tokens")
        if max_tokens is not None and not 1 <= max_tokens <= 1_000_000:
            v.add(f"{prefix}.model.max_output_tokens", "must be between 1 and 1,000,000")
        base_url = model.get("base_url") or ""
        if base_url and not base_url.startswith(("http://", "https://")):
            v.add(f"{prefix}.model.base_url", "must be an http:// or https:// URL")
        elif base_url and (refused := self.ctx.egress.literal_problem(base_url)):
            v.add(f"{prefix}.model.base_url", f"is not an allowed destination: {refused}", reason="DESTINATION_NOT_ALLOWED")
        endpoint = model.get("endpoint") or ""
        if endpoint and base_url:
            v.add(f"{prefix}.model.endpoint", "set either endpoint (configured by an admin) or base_url (your own), not both")
        elif endpoint and provider != "openai":
            v.add(f"{prefix}.model.endpoint", "is for provider openai")
        elif provider == "openai" and not base_url:
            problem = self.ctx.endpoints.problem(endpoint, model.get("model") or "")
            if problem is not None:
                v.add(f"{prefix}.model.{problem.field}", problem.message, reason=problem.reason)
        api_key_secret = model.get("api_key_secret") or ""
        if api_key_secret:
            problem = SECRET.problem(api_key_secret)
            if problem:
                v.add(f"{prefix}.model.api_key_secret", problem)
            elif not base_url:
                # The owner's key goes only to the owner's own endpoint, never to the server's.
                v.add(f"{prefix}.model.api_key_secret", "requires model.base_url: the secret is sent only there")
        tools = fields.get("tools") or []
        if len(tools) > limits.max_tools_per_agent:
            v.add(f"{prefix}.tools", f"has {len(tools)} tools; the limit is {limits.max_tools_per_agent}")
        seen: set[tuple[str, str]] = set()
        for index, tool in enumerate(tools):
            path = f"{prefix}.tools[{index}]"
            name, server = tool.get("name", ""), tool.get("mcp_server", "")
            if tool.get("agent"):
                # Another agent as a tool (docs/crews.md): it names nothing else.
                if problem := names.AGENT.problem(tool["agent"]):
                    v.add(f"{path}.agent", problem)
                if name or server:
                    v.add(f"{path}.agent", "an agent tool has no name or mcp_server: the agent is the tool")
                if tool.get("delegation", 1) not in (1, 2):
                    v.add(f"{path}.delegation", f"unknown delegation {tool.get('delegation')}")
                if ("agent", tool["agent"]) in seen:
                    v.add(f"{path}.agent", f"agent {tool['agent']!r} is listed twice")
                seen.add(("agent", tool["agent"]))
                continue
            if not name:
                v.add(f"{path}.name", "is required")
            elif server:
                problem = names.MCP_SERVER.problem(server)
                if problem:
                    v.add(f"{path}.mcp_server", problem)
            elif name not in BUILTIN_TOOLS:
                v.add(f"{path}.name", f"unknown built-in tool {name!r}; built-in tools: {', '.join(BUILTIN_TOOLS)}")
            if (name, server) in seen:
                v.add(f"{path}.name", f"tool {name!r} is listed twice")
            seen.add((name, server))
        run_limits = fields.get("limits") or {}
        for key, maximum, unit in (
            ("max_steps", MAX_STEPS, ""),
            ("max_run_duration", MAX_RUN_SECONDS, " seconds"),
            ("max_concurrent_runs", MAX_CONCURRENT_RUNS, ""),
            ("tool_timeout", MAX_TOOL_TIMEOUT_SECONDS, " seconds"),
            ("input_timeout", MAX_INPUT_TIMEOUT_SECONDS, " seconds"),
        ):
            value = run_limits.get(key) or 0
            if value < 0 or value > maximum:
                v.add(f"{prefix}.limits.{key}", f"must be between 0 (server default) and {maximum:,}{unit}")
        state = fields.get("state", 0)
        if state not in {s.value for s in AgentState}:
            v.add(f"{prefix}.state", f"unknown state {state}")
        v.raise_if_any()

    async def _check_mcp_tools(self, tools: list[Any], db: Any = None) -> None:
        """MCP tools must name a registered server (and one of its tools, once their list is known)."""
        if not any(t.get("mcp_server") for t in tools):
            return
        v = Violations()
        if db is None:
            async with self.ctx.store.read() as db:
                await check_agent_mcp_tools(db, tools, "agent.tools", v)
        else:
            await check_agent_mcp_tools(db, tools, "agent.tools", v)
        v.raise_if_any()

    # -- commands -----------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        *,
        agent_id: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> AgentRow:
        v = Violations()
        if agent_id and not names.ID_PATTERN.fullmatch(agent_id):
            v.add("agent_id", names.ID_RULE)
        self._validate(fields, v=v)
        agent_id = agent_id or names.new_id()
        self.ctx.idempotency.validate(request_id)
        now = self.ctx.clock()
        row = AgentRow(
            id=agent_id,
            owner=caller.id,
            display_name=fields["display_name"],
            description=fields.get("description", ""),
            instructions=fields.get("instructions", ""),
            model=_normalized_model(fields.get("model") or {}),
            tools=copy.deepcopy(list(fields.get("tools") or [])),
            limits=dict(fields.get("limits") or {}),
            state=fields.get("state") or AgentState.ACTIVE,
            labels=dict(fields.get("labels") or {}),
            create_time=now,
            update_time=now,
            revision=1,
        )
        await self._check_mcp_tools(row.tools)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "CreateAgent", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            await _check_secret(db, row.owner, row.model)
            await _check_agent_tools(db, row.owner, row.tools)
            if validate_only:
                return row
            if await repo.agent_exists(self.ctx.store, db, agent_id):
                raise AlreadyExists(f"agent {names.AGENT.format(agent_id)!r} already exists", reason="ALREADY_EXISTS")
            db.add(row)
            await self._record(db, "agent.created", row)
            self.ctx.idempotency.remember(db, caller, request_id, "CreateAgent", fingerprint, [names.AGENT.format(agent_id)])
        return row

    async def get(self, caller: Principal, name: str, field: str = "name") -> AgentRecord:
        """The agent as a read-only record (the columns of AgentRow); change agents through update().

        Every call reads the agent's version from the database (so a change made anywhere is seen at
        once), and the whole row only when that version is not the one read last time.
        """
        (agent_id,) = names.AGENT.parse(name, field)
        owner = None if caller.is_admin else caller.id
        version = await repo.find_agent_version(self.ctx.store, agent_id, owner)
        if version is None:
            raise not_found(name)
        record = self._records.get(agent_id, version)
        if record is None:
            record = await repo.find_agent_record(self.ctx.store, agent_id, owner)
            if record is None:  # deleted in between
                raise not_found(name)
            self._records.put(agent_id, (record.revision, record.incarnation), record)
        return record

    async def _get_in(self, db: Any, caller: Principal, name: str, agent_id: str | None = None) -> AgentRow:
        agent_id = agent_id or names.AGENT.parse(name, "name")[0]
        row = await repo.get_agent(db, agent_id, None if caller.is_admin else caller.id)
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, *, page_size: int, page_token: str, filter_text: str, order_by: str) -> Page:
        base = select(AgentRow)
        if not caller.is_admin:
            base = base.where(AgentRow.owner == caller.id)
        return await self.ctx.list(
            caller,
            "agents",
            base,
            repo.AGENT_LISTING,
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
    ) -> AgentRow:
        (agent_id,) = names.AGENT.parse(name, "agent.name")
        plan = plan_update(mask_paths, values, UPDATABLE)
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UpdateAgent", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            row = await self._get_in(db, caller, name, agent_id)
            check_etag("agent", row.id, row.revision, row.incarnation, etag)
            merged = _fields_of(row)
            for path, value in plan.changes.items():
                apply_path(merged, path, value)
            self._validate(merged)
            if merged["tools"] != row.tools:
                await self._check_mcp_tools(merged["tools"], db)
            await _check_secret(db, row.owner, merged["model"] or {})
            await _check_agent_tools(db, row.owner, merged["tools"])
            if validate_only:
                return _row_with(row, merged)
            _assign(row, merged)
            row.update_time = self.ctx.clock()
            row.revision += 1
            await self._record(db, "agent.updated", row)
            self.ctx.idempotency.remember(db, caller, request_id, "UpdateAgent", fingerprint, [name])
        return row

    async def delete(
        self,
        caller: Principal,
        name: str,
        *,
        etag: str = "",
        force: bool = False,
        allow_missing: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> None:
        (agent_id,) = names.AGENT.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteAgent", fingerprint) is not None:
                return
            row = await repo.get_agent(db, agent_id, None if caller.is_admin else caller.id)
            if row is None:
                if allow_missing:
                    return
                raise not_found(name)
            check_etag("agent", row.id, row.revision, row.incarnation, etag)
            session_ids = await repo.session_ids_of_agent(db, agent_id)
            if session_ids and not force:
                raise FailedPrecondition(
                    f"agent {name!r} has {len(session_ids)} session(s); delete them first or pass force=true to delete them with their messages",
                    reason="AGENT_HAS_SESSIONS",
                    metadata={"resource": name, "session_count": str(len(session_ids))},
                )
            await refuse_if_runs_active(db, session_ids)
            await repo.delete_sessions_with_messages(db, session_ids)
            await db.delete(row)
            # Sessions deleted with their agent (force) are announced by the agent's event alone.
            await self._record(db, "agent.deleted", row)
            self.ctx.idempotency.remember(db, caller, request_id, "DeleteAgent", fingerprint, [])

    async def _record(self, db: Any, type: str, row: AgentRow) -> None:
        await self.ctx.events.record(db, type, names.AGENT.format(row.id), row.owner, convert.agent_proto(row))


async def _check_secret(db: Any, owner: str, model: Mapping[str, Any]) -> None:
    """The secret an agent names must be its owner's: anyone else's is NOT_FOUND, as if it did not exist."""
    name = model.get("api_key_secret") or ""
    if name and await secret_repo.get_secret(db, SECRET.parse(name, "agent.model.api_key_secret")[0], owner) is None:
        raise secret_not_found(name)


async def _check_agent_tools(db: Any, owner: str, tools: list[Any]) -> None:
    """An agent offered as a tool must be its owner's: anyone else's is NOT_FOUND, as if it did not exist."""
    for tool in tools:
        name = tool.get("agent") or ""
        if name and await repo.get_agent(db, name.rpartition("/")[2], owner) is None:
            raise not_found(name)


def _normalized_model(model: Mapping[str, Any]) -> dict[str, Any]:
    normalized = dict(model)
    normalized["provider"] = normalized.get("provider") or "builtin"
    return normalized


def _fields_of(row: AgentRow) -> dict[str, Any]:
    return {
        "display_name": row.display_name,
        "description": row.description,
        "instructions": row.instructions,
        "model": copy.deepcopy(row.model),
        "tools": copy.deepcopy(row.tools),
        "limits": copy.deepcopy(row.limits),
        "state": row.state,
        "labels": dict(row.labels),
    }


def _assign(row: AgentRow, fields: Mapping[str, Any]) -> None:
    row.display_name = fields["display_name"]
    row.description = fields.get("description") or ""
    row.instructions = fields.get("instructions") or ""
    row.model = _normalized_model(fields.get("model") or {})
    row.tools = list(fields.get("tools") or [])
    row.limits = dict(fields.get("limits") or {})
    row.state = fields.get("state") or AgentState.ACTIVE
    row.labels = dict(fields.get("labels") or {})


def _row_with(row: AgentRow, fields: Mapping[str, Any]) -> AgentRow:
    preview = AgentRow(
        id=row.id,
        owner=row.owner,
        create_time=row.create_time,
        update_time=row.update_time,
        revision=row.revision,
        incarnation=row.incarnation,
    )
    _assign(preview, fields)
    return preview
