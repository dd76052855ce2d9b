"""Crews: agents with roles working under a process; validation, creation, updates with etags, deletion."""

from __future__ import annotations

import copy
import enum
import re
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, select

from runwire.server.core import names
from runwire.server.core.errors import NotFound, Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.agents import MAX_RUN_SECONDS
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.domain.common import apply_path, check_labels, check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.store import repositories as repo
from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import AgentRow, CrewRow
from runwire.server.store.store import Listing
from runwire.server.store.transaction import CoreTransaction, Transaction, orm
from runwire.server.wire import convert

CREW = names.CREW
# Keys of members and tasks inside one crew: short, readable, usable in filters and plans.
KEY_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}")
KEY_RULE = "must be 1 to 63 characters of lower-case letters, digits and '-', starting with a letter"
MAX_MEMBERS = 32
MAX_TASKS = 64
MAX_ROLE_CHARS = 200
MAX_GOAL_CHARS = 2_000
MAX_TASK_DESCRIPTION_CHARS = 100_000
MAX_EXPECTED_OUTPUT_CHARS = 10_000
# The member id a manager's child runs carry; no member may take it.
MANAGER_MEMBER = "manager"

# limit -> (lowest, highest, default); 0 always means the default.
LIMITS: dict[str, tuple[float, float, float]] = {
    "max_depth": (1, 8, 4),
    "max_child_runs": (1, 1_000, 100),
    "max_total_tokens": (0, 10**12, 0),
    "max_duration": (0, MAX_RUN_SECONDS, 0),
    "max_parallel_tasks": (1, 16, 4),
    "max_replans": (0, 16, 3),
}

UPDATABLE = ("display_name", "description", "members", "process", "manager", "tasks", "limits", "labels")


class Process(enum.IntEnum):
    UNSPECIFIED = 0
    SEQUENTIAL = 1
    PARALLEL = 2
    HIERARCHICAL = 3


CREW_LISTING = Listing(
    filter_fields={
        "display_name": FieldSpec(CrewRow.display_name, "string"),
        "description": FieldSpec(CrewRow.description, "string"),
        "process": FieldSpec(CrewRow.process, "enum", enum_values={p.name: int(p) for p in Process if p}),
        "manager": FieldSpec(repo.resource_name_sql("agents/", CrewRow.manager_id), "string"),
        "labels": FieldSpec(CrewRow.labels, "map"),
        "create_time": FieldSpec(CrewRow.create_time, "timestamp"),
        "update_time": FieldSpec(CrewRow.update_time, "timestamp"),
    },
    order_columns={
        "display_name": CrewRow.display_name,
        "create_time": CrewRow.create_time,
        "update_time": CrewRow.update_time,
        "name": CrewRow.id,
    },
    tiebreak=CrewRow.pk,
)

_CREW_BY_ID = select(CrewRow).where(CrewRow.id == bindparam("id"))
_AGENTS_OF = select(AgentRow.id, AgentRow.owner).where(AgentRow.id.in_(bindparam("ids", expanding=True)))


def not_found(name: str) -> NotFound:
    return NotFound(f"crew {name!r} does not exist", reason="CREW_NOT_FOUND", metadata={"resource": name})


def limit_of(limits: Mapping[str, Any], key: str) -> float:
    """A crew limit, or its default when unset."""
    return float(limits.get(key) or LIMITS[key][2])


async def get_crew_row(db: Transaction, crew_id: str, owner: str | None) -> CrewRow | None:
    row = (await db.execute(_CREW_BY_ID, {"id": crew_id})).scalar_one_or_none()
    if row is None or (owner is not None and row.owner != owner):
        return None
    return row


CREWS = register(
    ResourceKind(
        field="crew",
        pattern=names.CREW,
        row=CrewRow,
        tenancy=Tenancy.OWNER_OR_ADMIN,
        listing=CREW_LISTING,
        title="crew",
        not_found_reason="CREW_NOT_FOUND",
        method="Crew",
        to_proto=convert.crew_proto,
    )
)


class CrewService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[CrewRow] = ResourceWriter(ctx, CREWS)

    # -- validation ---------------------------------------------------------

    def _validate(self, fields: Mapping[str, Any], prefix: str = "crew", v: Violations | None = None) -> None:
        limits = self.ctx.limits
        v = v or Violations()
        check_text(v, f"{prefix}.display_name", fields.get("display_name", ""), limits.max_display_name_chars, required=True)
        check_text(v, f"{prefix}.description", fields.get("description", ""), limits.max_description_chars)
        check_labels(v, f"{prefix}.labels", fields.get("labels") or {}, limits.max_labels)
        process = fields.get("process") or Process.SEQUENTIAL
        if process not in {int(p) for p in Process}:
            v.add(f"{prefix}.process", f"unknown process {process}")
        members = fields.get("members") or []
        if not members:
            v.add(f"{prefix}.members", "is required: at least one member")
        elif len(members) > MAX_MEMBERS:
            v.add(f"{prefix}.members", f"has {len(members)} members; the limit is {MAX_MEMBERS}")
        member_ids: set[str] = set()
        for index, member in enumerate(members):
            path = f"{prefix}.members[{index}]"
            key = member.get("id", "")
            if not KEY_PATTERN.fullmatch(key):
                v.add(f"{path}.id", KEY_RULE)
            elif key == MANAGER_MEMBER:
                v.add(f"{path}.id", f"{MANAGER_MEMBER!r} names the crew's manager; choose another id")
            elif key in member_ids:
                v.add(f"{path}.id", f"member {key!r} is listed twice")
            member_ids.add(key)
            problem = names.AGENT.problem(member.get("agent", ""))
            if problem:
                v.add(f"{path}.agent", problem)
            check_text(v, f"{path}.role", member.get("role", ""), MAX_ROLE_CHARS)
            check_text(v, f"{path}.goal", member.get("goal", ""), MAX_GOAL_CHARS)
        manager = fields.get("manager") or ""
        if process == Process.HIERARCHICAL:
            if not manager:
                v.add(f"{prefix}.manager", "is required for PROCESS_HIERARCHICAL")
            elif problem := names.AGENT.problem(manager):
                v.add(f"{prefix}.manager", problem)
        elif manager:
            v.add(f"{prefix}.manager", "is only for PROCESS_HIERARCHICAL")
        tasks = fields.get("tasks") or []
        if not tasks and process in (Process.SEQUENTIAL, Process.PARALLEL):
            v.add(f"{prefix}.tasks", "is required for PROCESS_SEQUENTIAL and PROCESS_PARALLEL: at least one task")
        check_tasks(v, f"{prefix}.tasks", tasks, member_ids)
        for key, (lowest, highest, _) in LIMITS.items():
            value = (fields.get("limits") or {}).get(key) or 0
            if value and not lowest <= value <= highest:
                v.add(f"{prefix}.limits.{key}", f"must be 0 (the default) or between {lowest:g} and {highest:,g}")
        v.raise_if_any()

    async def _check_agents(self, db: Transaction, caller_owner: str, fields: Mapping[str, Any]) -> None:
        """Every agent a crew names must exist and be the crew owner's (anyone else's is NOT_FOUND)."""
        wanted = [m["agent"] for m in fields.get("members") or []]
        if fields.get("manager"):
            wanted.append(fields["manager"])
        ids = {name.split("/")[1] for name in wanted}
        found = {row.id: row.owner for row in (await db.execute(_AGENTS_OF, {"ids": sorted(ids)})).all()}
        for name in wanted:
            agent_id = name.split("/")[1]
            if found.get(agent_id) != caller_owner:
                raise agent_not_found(name)

    # -- commands -----------------------------------------------------------

    async def create(self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, crew_id: str = "") -> CrewRow:
        v = Violations()
        if crew_id and not names.ID_PATTERN.fullmatch(crew_id):
            v.add("crew_id", names.ID_RULE)
        self._validate(fields, v=v)
        now = self.ctx.clock()
        row = CrewRow(id=crew_id or names.new_id(), owner=caller.id, create_time=now, update_time=now)
        _assign(row, fields)

        async def check(db: CoreTransaction) -> None:
            await self._check_agents(orm(db), caller.id, fields)

        return await self.writer.create(caller, row, options, check=check)

    async def get(self, caller: Principal, name: str, field: str = "name") -> CrewRow:
        return await self.writer.get(caller, name, field)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> CrewRow:
        plan = plan_update(options.update_mask, values, UPDATABLE)

        async def change(db: Transaction, row: CrewRow, target: CrewRow) -> None:
            merged = fields_of(row)
            for path, value in plan.changes.items():
                apply_path(merged, path, value)
            self._validate(merged)
            await self._check_agents(db, row.owner, merged)
            _assign(target, merged)

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        # Runs of the crew keep what they need (the crew as it was when they started).
        await self.writer.delete(caller, name, options)


def check_tasks(v: Violations, prefix: str, tasks: Sequence[Mapping[str, Any]], member_ids: set[str]) -> None:
    """Tasks of a crew or of a manager's plan: distinct keys, known members, dependencies on earlier tasks
    only (so the graph has no cycle and plan order is a valid execution order)."""
    if len(tasks) > MAX_TASKS:
        v.add(prefix, f"has {len(tasks)} tasks; the limit is {MAX_TASKS}")
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        path = f"{prefix}[{index}]"
        key = task.get("id", "")
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            v.add(f"{path}.id", KEY_RULE)
        elif key in seen:
            v.add(f"{path}.id", f"task {key!r} is listed twice")
        check_text(v, f"{path}.description", str(task.get("description") or ""), MAX_TASK_DESCRIPTION_CHARS, required=True)
        check_text(v, f"{path}.expected_output", str(task.get("expected_output") or ""), MAX_EXPECTED_OUTPUT_CHARS)
        member = task.get("member") or ""
        if member and member not in member_ids:
            v.add(f"{path}.member", f"{member!r} is not a member of the crew")
        for position, needed in enumerate(task.get("context") or []):
            if needed not in seen:
                v.add(f"{path}.context[{position}]", f"{needed!r} is not an earlier task of the crew")
        seen.add(key)


def fields_of(row: CrewRow) -> dict[str, Any]:
    return {
        "display_name": row.display_name,
        "description": row.description,
        "members": copy.deepcopy(row.members),
        "process": row.process,
        "manager": names.AGENT.format(row.manager_id) if row.manager_id else "",
        "tasks": copy.deepcopy(row.tasks),
        "limits": copy.deepcopy(row.limits),
        "labels": dict(row.labels),
    }


def _assign(row: CrewRow, fields: Mapping[str, Any]) -> None:
    row.display_name = fields["display_name"]
    row.description = fields.get("description") or ""
    row.members = [
        {"id": m["id"], "agent": m["agent"], "role": m.get("role") or "", "goal": m.get("goal") or ""}
        for m in fields.get("members") or []
    ]
    row.process = fields.get("process") or Process.SEQUENTIAL
    row.manager_id = (fields.get("manager") or "").rpartition("/")[2]
    row.tasks = [
        {
            "id": t["id"],
            "description": t.get("description") or "",
            "expected_output": t.get("expected_output") or "",
            "member": t.get("member") or "",
            "context": list(t.get("context") or []),
            "output_schema": copy.deepcopy(t.get("output_schema") or {}),
        }
        for t in fields.get("tasks") or []
    ]
    row.limits = {k: v for k, v in (fields.get("limits") or {}).items() if v}
    row.labels = dict(fields.get("labels") or {})
