"""Agents: validation, creation, updates with etags, deletion with cascade rules."""

from __future__ import annotations

import copy
import enum
from typing import Any, Mapping

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, NotFound, Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.common import apply_path, check_labels, check_text, plan_update, refuse_if_runs_active
from runwire.server.domain.context import DomainContext
from runwire.server.domain.mcp_servers import check_agent_mcp_tools
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.domain.secrets import SECRET
from runwire.server.domain.secrets import not_found as secret_not_found
from runwire.server.domain.versioned import VersionedRecords
from runwire.server.store import repositories as repo
from runwire.server.store import secrets as secret_repo
from runwire.server.store.models import AgentRow
from runwire.server.store.records import AgentRecord
from runwire.server.store.transaction import CoreTransaction, Transaction, orm
from runwire.server.wire import convert

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
    return AGENTS.not_found(name)


AGENTS = register(
    ResourceKind(
        field="agent",
        pattern=names.AGENT,
        row=AgentRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=repo.AGENT_LISTING,
        title="agent",
        not_found_reason="AGENT_NOT_FOUND",
        method="Agent",
        to_proto=convert.agent_proto,
    )
)


class AgentService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[AgentRow] = ResourceWriter(ctx, AGENTS)
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
            secret_problem = SECRET.problem(api_key_secret)
            if secret_problem:
                v.add(f"{prefix}.model.api_key_secret", secret_problem)
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
                if agent_problem := names.AGENT.problem(tool["agent"]):
                    v.add(f"{path}.agent", agent_problem)
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
                server_problem = names.MCP_SERVER.problem(server)
                if server_problem:
                    v.add(f"{path}.mcp_server", server_problem)
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

    async def _check_mcp_tools(self, tools: list[Any], db: Transaction | None = None) -> None:
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

    async def create(self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, agent_id: str = "") -> AgentRow:
        v = Violations()
        if agent_id and not names.ID_PATTERN.fullmatch(agent_id):
            v.add("agent_id", names.ID_RULE)
        self._validate(fields, v=v)
        now = self.ctx.clock()
        row = AgentRow(
            id=agent_id or names.new_id(),
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

        async def check(core: CoreTransaction) -> None:
            db = orm(core)
            await _check_secret(db, row.owner, row.model)
            await _check_agent_tools(db, row.owner, row.tools)

        return await self.writer.create(caller, row, options, check=check)

    async def get(self, caller: Principal, name: str, field: str = "name") -> AgentRecord:
        """The agent as a read-only record (the columns of AgentRow); change agents through update().

        Every call reads the agent's version from the database (so a change made anywhere is seen at
        once), and the whole row only when that version is not the one read last time.
        """
        (agent_id,) = names.AGENT.parse(name, field)
        owner = self.writer.owner_scope(caller)
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

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> AgentRow:
        plan = plan_update(options.update_mask, values, UPDATABLE)

        async def change(db: Transaction, row: AgentRow, target: AgentRow) -> None:
            merged = _fields_of(row)
            for path, value in plan.changes.items():
                apply_path(merged, path, value)
            self._validate(merged)
            if merged["tools"] != row.tools:
                await self._check_mcp_tools(merged["tools"], db)
            await _check_secret(db, row.owner, merged["model"] or {})
            await _check_agent_tools(db, row.owner, merged["tools"])
            _assign(target, merged)

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        session_ids: list[str] = []

        async def check(db: Transaction, row: AgentRow) -> None:
            session_ids.extend(await repo.session_ids_of_agent(db, row.id))
            if session_ids and not options.force:
                raise FailedPrecondition(
                    f"agent {name!r} has {len(session_ids)} session(s); delete them first or pass force=true to delete them with their messages",
                    reason="AGENT_HAS_SESSIONS",
                    metadata={"resource": name, "session_count": str(len(session_ids))},
                )
            await refuse_if_runs_active(db, session_ids)

        async def remove(db: Transaction, row: AgentRow) -> None:
            # Sessions deleted with their agent (force) are announced by the agent's event alone.
            await repo.delete_sessions_with_messages(db, session_ids)
            await db.delete(row)

        await self.writer.delete(caller, name, options, check=check, remove=remove)


async def _check_secret(db: Transaction, owner: str, model: Mapping[str, Any]) -> None:
    """The secret an agent names must be its owner's: anyone else's is NOT_FOUND, as if it did not exist."""
    name = model.get("api_key_secret") or ""
    if name and await secret_repo.get_secret(db, SECRET.parse(name, "agent.model.api_key_secret")[0], owner) is None:
        raise secret_not_found(name)


async def _check_agent_tools(db: Transaction, owner: str, tools: list[Any]) -> None:
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
