"""Runs: creation with admission limits, reads, cancellation, answers from people, and event streams.

A cancel or an answer may reach any replica. It is recorded in the database first (the first answer to an
input request wins there, atomically), then signalled to the run's owner, which applies it exactly as a
request made to it; a replica that does not own the run waits (bounded) for the run's events to show the
outcome and answers with it. An owner that dies before applying it leaves it recorded: the process that
claims the run applies it (store/run_controls.py, take_over)."""

from __future__ import annotations

import asyncio
import builtins
import copy
import logging
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from google.protobuf import json_format
from sqlalchemy import bindparam, func, insert, select

from runwire.server.background import spawn
from runwire.server.core import names
from runwire.server.core.clock import utc_now
from runwire.server.core.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    QuotaViolation,
    ResourceExhausted,
    Violations,
)
from runwire.server.core.etags import check_etag
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import TERMINAL_STATUSES, RunStatus
from runwire.server.domain import crew_runs
from runwire.server.domain.agents import MAX_INPUT_TIMEOUT_SECONDS, MAX_RUN_SECONDS, MAX_STEPS, AgentState
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.domain.common import check_labels, parse_filter_field
from runwire.server.domain.context import DomainContext
from runwire.server.domain.crew_runs import DEFAULT_MAX_DEPTH, ChildLink
from runwire.server.domain.crews import get_crew_row, limit_of
from runwire.server.domain.crews import not_found as crew_not_found
from runwire.server.domain.messages import MessageService
from runwire.server.domain.resources import ListQuery
from runwire.server.domain.sessions import not_found as session_not_found
from runwire.server.engine.events import TERMINAL_PAYLOADS, RunEventLog
from runwire.server.engine.providers import ToolCallRequest
from runwire.server.engine.runner import Answer, RestoredWait, Runner, RunPlan, TakenOver, TreePosition, stamp_now
from runwire.server.engine.tools import ToolError, ToolRegistry
from runwire.server.store import leases, run_controls, work_queue
from runwire.server.store import repositories as repo
from runwire.server.store.filter_sql import FieldSpec, filter_to_sql
from runwire.server.store.leases import LeaseLost, LeaseTerms
from runwire.server.store.models import (
    AgentRow,
    MessageRow,
    RunColumns,
    RunControlRow,
    RunEventRow,
    RunRow,
    SessionRow,
    new_incarnation,
)
from runwire.server.store.records import LiveSession, RunAgent, RunValues
from runwire.server.store.signals import SignalBus
from runwire.server.store.store import Listing, OrderExpression
from runwire.server.store.transaction import Transaction, orm
from runwire.server.wire import convert, json_values
from runwire.v1 import common_pb2, message_pb2, run_pb2

log = logging.getLogger("runwire.runs")

RUN = names.NamePattern.of("runs")
# The kind of signal that asks a run's owner to apply the control requests recorded for it: items are run ids.
RUN_CONTROL_SIGNAL = "c"
# How often a replica waiting for the owner to apply a request signals it again (a signal may be lost).
CONTROL_RESEND_SECONDS = 2.0
MAX_ADDITIONAL_INSTRUCTIONS = 100_000
MAX_ANSWER_CHARS = 100_000
MAX_REASON_CHARS = 2_000
MAX_CANCEL_REASON_CHARS = 1_000
METRICS_SAMPLE = 100_000
NOT_YET = datetime(9999, 12, 31)

STATUS_VALUES = {s.name: int(s) for s in RunStatus if s != RunStatus.UNSPECIFIED}

_RUN_COLUMNS = tuple(c.key for c in RunRow.__table__.columns if c.key != "pk")
_INSERT_RUN = insert(RunRow.__table__)
_INSERT_RUN_EVENT = insert(RunEventRow.__table__)
_RUN_EXISTS = select(RunRow.pk).where(RunRow.id == bindparam("run_id"))

RUN_LISTING = Listing(
    filter_fields={
        "agent": FieldSpec(repo.resource_name_sql("agents/", RunRow.agent_id), "string"),
        "session": FieldSpec(repo.resource_name_sql("sessions/", RunRow.session_id), "string"),
        "status": FieldSpec(RunRow.status, "enum", enum_values=STATUS_VALUES),
        "labels": FieldSpec(RunRow.labels, "map"),
        "create_time": FieldSpec(RunRow.create_time, "timestamp"),
        "start_time": FieldSpec(RunRow.start_time, "timestamp"),
        "end_time": FieldSpec(RunRow.end_time, "timestamp"),
        "duration": FieldSpec(RunRow.duration_ms / 1000.0, "duration"),
        "usage.total_tokens": FieldSpec(RunRow.input_tokens + RunRow.output_tokens, "int"),
        "error.reason": FieldSpec(RunRow.error_reason, "string"),
        "batch_task": FieldSpec(RunRow.batch_task, "string"),
        "crew": FieldSpec(repo.resource_name_sql("crews/", RunRow.crew_id), "string"),
        "parent_run": FieldSpec(repo.resource_name_sql("runs/", RunRow.parent_run_id), "string"),
        "root_run": FieldSpec(repo.resource_name_sql("runs/", RunRow.root_run_id), "string"),
        "depth": FieldSpec(RunRow.depth, "int"),
        "crew_task": FieldSpec(RunRow.crew_task, "string"),
        "crew_member": FieldSpec(RunRow.crew_member, "string"),
    },
    order_columns={
        "create_time": RunRow.create_time,
        "update_time": RunRow.update_time,
        # Runs not started or not ended sort after all others (ascending).
        "start_time": OrderExpression(
            func.coalesce(RunRow.start_time, NOT_YET), lambda row: row.start_time or NOT_YET
        ),
        "end_time": OrderExpression(func.coalesce(RunRow.end_time, NOT_YET), lambda row: row.end_time or NOT_YET),
        "duration": OrderExpression(
            func.coalesce(RunRow.duration_ms, -1.0), lambda row: row.duration_ms if row.duration_ms is not None else -1.0
        ),
        "usage.total_tokens": OrderExpression(
            RunRow.input_tokens + RunRow.output_tokens, lambda row: (row.input_tokens or 0) + (row.output_tokens or 0)
        ),
        "name": RunRow.id,
    },
    tiebreak=RunRow.pk,
)


def not_found(name: str) -> NotFound:
    return NotFound(f"run {name!r} does not exist", reason="RUN_NOT_FOUND", metadata={"resource": name})


@dataclass(frozen=True)
class RunMetricsSummary:
    counts: dict[int, int]
    input_tokens: int
    output_tokens: int
    tool_calls: int
    duration_p50_ms: float | None
    duration_p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None


class RunService:
    def __init__(
        self,
        ctx: DomainContext,
        runner: Runner,
        event_log: RunEventLog,
        messages: MessageService,
        tools: ToolRegistry,
        lease: LeaseTerms,
        *,
        executes: bool = True,
    ) -> None:
        self.ctx = ctx
        # False in an API-only process: every run it creates waits QUEUED for a worker.
        self.executes = executes
        # Called after a run is queued without an owner: the work queue here looks for room at once.
        self.on_queued: Callable[[], None] | None = None
        # This process as the owner of the runs it creates or takes over.
        self.lease = lease
        self.runner = runner
        self.event_log = event_log
        self.messages = messages
        self.tools = tools
        # The bus to the owners of runs held by other processes (set by the server), and how long a
        # request waits for the owner to apply it: past a takeover by default, so a dead owner's runs too.
        self.signals: SignalBus | None = None
        self.control_wait_seconds = 30.0
        self._applying: set[asyncio.Task[None]] = set()

    def use_signals(self, signals: SignalBus) -> None:
        self.signals = signals
        signals.on(RUN_CONTROL_SIGNAL, self._controls_signalled)

    # -- create ---------------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        session_name: str,
        input_parts: list[dict[str, Any]],
        *,
        options: Mapping[str, Any],
        labels: Mapping[str, str],
        request_id: str = "",
        fingerprint: str = "",
        method: str = "CreateRun",
        run_id: str = "",
        validate_only: bool = False,
        session_field: str = "session",
        deadline: float | None = None,
        batch_task: str = "",
        within: Callable[[Any, RunColumns], Awaitable[None]] | None = None,
        before_start: Callable[[RunColumns], Awaitable[None]] | None = None,
        queue: bool = False,
        crew_name: str = "",
        parent: ChildLink | None = None,
    ) -> RunColumns:
        """Create a run and start it. With `crew_name` (and no session) the run executes that crew
        (domain/crew_runs.py); with `parent`, it is a child run in the parent's tree. `within` runs in the creating transaction, so what it writes
        commits with the run or not at all (a batch marks its task started this way); it writes through
        `store.execute_on` and `store.rows_on` only, as the transaction may have no ORM Session. `before_start`
        runs after the commit and before the run starts, which it does whatever `before_start` does: a
        stream opens itself there, so its headers are not queued behind the run's first steps.

        The run starts here at once when this process executes runs and has room (it holds the lease from
        the creating commit); otherwise, or with `queue` (batch tasks, spread over every process), it
        waits QUEUED without an owner and the first process with room claims it (Ownership)."""
        v = Violations()
        # CreateRun nests the run's fields under `run`; ExecuteAgent and StreamTokens have them at the top.
        prefix = "run." if session_field == "run.session" else ""
        crew_field = f"{prefix}crew"
        if crew_name and session_name:
            v.add(crew_field, "set either session (to run its agent) or crew (to run a crew), not both")
        elif crew_name:
            if problem := names.CREW.problem(crew_name):
                v.add(crew_field, problem)
        elif session_problem := names.SESSION.problem(session_name):
            v.add(session_field, session_problem)
        self.messages.validate_content(v, input_parts, f"{prefix}input")
        check_labels(v, f"{prefix}labels", labels, self.ctx.limits.max_labels)
        if len(options.get("additional_instructions") or "") > MAX_ADDITIONAL_INSTRUCTIONS:
            v.add(f"{prefix}options.additional_instructions", f"is longer than {MAX_ADDITIONAL_INSTRUCTIONS:,} characters")
        for key in ("max_steps", "max_duration", "input_timeout"):
            if (options.get(key) or 0) < 0:
                v.add(f"{prefix}options.{key}", "must not be negative")
        if run_id and not names.ID_PATTERN.fullmatch(run_id):
            v.add("run_id", names.ID_RULE)
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        session_id = session_name.split("/")[1] if session_name else ""
        chosen_id = bool(run_id)
        run_id = run_id or names.new_id()
        now = self.ctx.clock()

        # Without a request_id (whose record is ORM), a run's creation is Core statements only, and its
        # transaction needs no ORM Session (see Store.write_core).
        store = self.ctx.store
        async with store.write_core() if not (request_id or crew_name or (parent and parent.agent_id)) else store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, method, fingerprint)
            if replayed is not None:
                return await self._get_in(orm(db), caller, replayed[0])
            crew_spec: dict[str, Any] = {}
            # A crew run has neither session nor agent: stand-ins with the fields the run's plan reads.
            session: LiveSession
            agent: AgentRow | RunAgent | None
            if crew_name:
                crew_row = await get_crew_row(orm(db), crew_name.split("/")[1], None if caller.is_admin else caller.id)
                if crew_row is None:
                    raise crew_not_found(crew_name)
                crew_spec = crew_runs.spec_of(crew_row)
                session = LiveSession(id="", owner=crew_row.owner, agent_id="")
                agent = RunAgent(
                    id="", state=AgentState.ACTIVE, limits={}, instructions="", model={"provider": crew_runs.PROVIDER}, tools=[]
                )
            else:
                found = await repo.get_session_with_agent(
                    self.ctx.store, db, session_id, None if caller.is_admin else caller.id, now
                )
                if found is None:
                    raise session_not_found(session_name)
                session, agent = found
                if agent is None:
                    raise agent_not_found(names.AGENT.format(session.agent_id))
                if parent is not None and parent.agent_id:
                    # A handover: the other agent goes on in the same session.
                    agent = await repo.get_agent(orm(db), parent.agent_id, None)
                    if agent is None:
                        raise agent_not_found(names.AGENT.format(parent.agent_id))
            if agent.state == AgentState.DISABLED:
                raise FailedPrecondition(
                    f"agent {names.AGENT.format(agent.id)!r} is disabled and accepts no runs",
                    reason="AGENT_DISABLED",
                    metadata={"resource": names.AGENT.format(agent.id)},
                )
            _check_options_within_limits(agent.limits or {}, options, prefix)
            # Generated ids do not collide; only an id the client chose needs the check.
            if chosen_id and await store.rows_on(db, _RUN_EXISTS, {"run_id": run_id}):
                raise AlreadyExists(f"run {RUN.format(run_id)!r} already exists", reason="ALREADY_EXISTS")
            limit = self.runner.settings.max_active_runs_per_caller
            # Counted in the database: the caller's runs in every process.
            await work_queue.lock(store, db, [work_queue.owner_key(session.owner)])
            # A child run counts against its tree's limits (CrewLimits), not the caller's.
            active = await work_queue.active_runs_of(store, db, session.owner) if parent is None else 0
            if active >= limit:
                raise ResourceExhausted(
                    f"the caller has {active} active run(s); the limit is {limit}; wait for one to end",
                    reason="RUN_LIMIT_EXCEEDED",
                    quota_violations=[QuotaViolation(f"principal:{session.owner}", f"at most {limit} active runs")],
                    metadata={"limit": str(limit)},
                    retry_after_seconds=1.0,
                )
            plan_limits = self._resolve_limits(agent.limits or {}, options)
            if crew_spec:
                plan_limits["max_duration"] = float(crew_spec["limits"].get("max_duration") or plan_limits["max_duration"])
            # A crew run holds no slot (its children do): it starts where it is created, if that executes runs.
            here = self.executes and (bool(crew_spec) or (not queue and self.runner.room() > 0))
            # The run's columns as a plain object (convert.run_proto reads it like a RunRow): an ORM
            # instance costs more to build than the Core insert below.
            row = RunValues(
                id=run_id,
                owner=session.owner,
                session_id=session.id,
                agent_id=agent.id,
                status=RunStatus.QUEUED,
                input=copy.deepcopy(input_parts),
                options=dict(options),
                output={},
                steps=[],
                pending_input={},
                labels=dict(labels),
                request_id=request_id,
                error_reason="",
                error_message="",
                input_tokens=0,
                output_tokens=0,
                tool_call_count=0,
                start_time=None,
                end_time=None,
                time_to_first_token_ms=None,
                duration_ms=None,
                batch_task=batch_task,
                create_time=now,
                update_time=now,
                revision=1,
                incarnation=new_incarnation(),
                last_seq=1,
                provider=str((agent.model or {}).get("provider") or "builtin"),
                crew_id=crew_name.split("/")[1] if crew_name else "",
                # A child run keeps its tree's depth limit, so whichever process executes it enforces it.
                crew_spec=crew_spec or ({"limits": {"max_depth": parent.max_depth}} if parent is not None else {}),
                crew_plan={},
                parent_run_id=parent.run_id if parent else "",
                root_run_id=parent.root_run_id if parent else run_id,
                depth=parent.depth if parent else 0,
                crew_task=parent.crew_task if parent else "",
                crew_member=parent.crew_member if parent else "",
                # Executed here: this process holds the lease from the first commit. Else no owner yet.
                lease_owner=self.lease.owner if here else "",
                lease_expires=self.lease.expiry(now) if here else None,
                fence=1 if here else 0,
                pk=None,
            )
            created = run_pb2.RunEvent(run=RUN.format(run_id), seq=1, run_created=run_pb2.RunCreated(run=convert.run_proto(row)))
            stamp_now(created.create_time)
            if validate_only:
                return row
            # Core inserts: a run starts on every ExecuteAgent, and the ORM's flush costs more than the SQL.
            await store.execute_on(db, _INSERT_RUN, {key: getattr(row, key) for key in _RUN_COLUMNS})
            await store.execute_on(db, _INSERT_RUN_EVENT, {"run_id": run_id, "seq": 1, "payload": created.SerializeToString()})
            await self.ctx.events.record(db, "run.created", RUN.format(run_id), row.owner, created.run_created.run)
            if within is not None:
                await within(db, row)
            self.ctx.idempotency.remember(db, caller, request_id, method, fingerprint, [RUN.format(run_id)])
            plan = RunPlan(
                run_id=run_id,
                owner=session.owner,
                session_id=session.id,
                agent_id=agent.id,
                instructions="\n\n".join(
                    p for p in (agent.instructions, options.get("additional_instructions") or "") if p
                ),
                model=copy.deepcopy(agent.model or {}),
                tools=tuple(copy.deepcopy(agent.tools or [])),
                max_concurrent_runs_of_agent=int((agent.limits or {}).get("max_concurrent_runs") or 0),
                initial_seq=1,
                input=tuple(copy.deepcopy(input_parts)),
                deadline=deadline,
                crew=crew_spec or None,
                tree=parent.position(run_id)
                if parent is not None
                else TreePosition(
                    root_run_id=run_id,
                    max_depth=int(limit_of(crew_spec.get("limits") or {}, "max_depth")) if crew_spec else DEFAULT_MAX_DEPTH,
                ),
                **plan_limits,
            )
        if not here:
            if before_start is not None:
                await before_start(row)
            self.queued()
            return row
        self.event_log.open_channel(run_id, [created])
        recorder = self.event_log.recorder(run_id, fence=1)
        if before_start is None:
            self.runner.launch(plan, recorder)
            return row
        try:
            await before_start(row)
        finally:
            self.runner.launch(plan, recorder)
        return row

    def _plan_of_stored(self, row: RunRow, agent: Any, **extra: Any) -> RunPlan:
        """The plan of a stored run that starts or resumes in this process (claimed from the queue, or taken
        over while it waits), with its agent as it is now: a changed agent takes effect there."""
        options = row.options or {}
        return RunPlan(
            run_id=row.id,
            owner=row.owner,
            session_id=row.session_id,
            agent_id=agent.id,
            instructions="\n\n".join(p for p in (agent.instructions, options.get("additional_instructions") or "") if p),
            model=copy.deepcopy(agent.model or {}),
            tools=tuple(copy.deepcopy(agent.tools or [])),
            max_concurrent_runs_of_agent=int((agent.limits or {}).get("max_concurrent_runs") or 0),
            initial_seq=row.last_seq,
            input=tuple(copy.deepcopy(row.input or [])),
            tree=TreePosition(
                root_run_id=row.root_run_id or row.id,
                depth=row.depth or 0,
                crew_task=row.crew_task or "",
                crew_member=row.crew_member or "",
                max_depth=int(limit_of((row.crew_spec or {}).get("limits") or {}, "max_depth")),
            ),
            **self._resolve_limits(agent.limits or {}, options),
            **extra,
        )

    async def create_child(self, link: ChildLink, session_name: str, text: str) -> RunColumns:
        """Start a child run in the tree of `link.run_id` (a crew task, an agent called as a tool, a
        handover), as the tree's owner."""
        return await self.create(
            Principal(id=link.owner),
            session_name,
            [{"text": text}],
            options={},
            labels={"parent_run": link.run_id},
            method="",
            parent=link,
        )

    async def new_session(self, owner: str, agent_id: str, labels: Mapping[str, str]) -> str:
        """A session of its own for a child run (a crew task, an agent called as a tool)."""
        now = self.ctx.clock()
        session_id = names.new_id()
        async with self.ctx.store.write() as db:
            db.add(SessionRow(id=session_id, owner=owner, agent_id=agent_id, labels=dict(labels), create_time=now, update_time=now, revision=1))
        return names.SESSION.format(session_id)

    def _resolve_limits(self, agent_limits: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
        """Request options, else the agent's limits, else the server's defaults."""
        defaults = self.runner.settings
        return {
            "max_steps": int(options.get("max_steps") or agent_limits.get("max_steps") or defaults.default_max_steps),
            "max_duration": float(
                options.get("max_duration") or agent_limits.get("max_run_duration") or defaults.default_max_run_seconds
            ),
            "input_timeout": float(
                options.get("input_timeout") or agent_limits.get("input_timeout") or defaults.default_input_timeout_seconds
            ),
            "tool_timeout": float(agent_limits.get("tool_timeout") or defaults.default_tool_timeout_seconds),
        }

    # -- read -----------------------------------------------------------------

    async def get(self, caller: Principal, name: str, field: str = "name") -> RunRow:
        RUN.parse(name, field)
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name)

    async def _get_in(self, db: Transaction, caller: Principal, name: str) -> RunRow:
        (run_id,) = RUN.parse(name, "name")
        stmt = select(RunRow).where(RunRow.id == run_id)
        if not caller.is_admin:
            stmt = stmt.where(RunRow.owner == caller.id)
        row = (await db.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, query: ListQuery) -> tuple[Page, RunMetricsSummary]:
        base = select(RunRow)
        if not caller.is_admin:
            base = base.where(RunRow.owner == caller.id)
        page = await self.ctx.list(
            caller,
            "runs",
            base,
            RUN_LISTING,
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
            default_order="create_time desc",
        )
        return page, await self._metrics(base, query.filter)

    async def _metrics(self, base: Any, filter_text: str) -> RunMetricsSummary:
        clause = filter_to_sql(parse_filter_field(filter_text, self.ctx.limits.max_filter_chars), RUN_LISTING.filter_fields)
        if clause is not None:
            base = base.where(clause)
        runs = base.subquery()
        async with self.ctx.store.read() as db:
            counts: dict[int, int] = dict(
                (await db.execute(select(runs.c.status, func.count()).group_by(runs.c.status))).all()
            )
            sums = (
                await db.execute(
                    select(
                        func.coalesce(func.sum(runs.c.input_tokens), 0),
                        func.coalesce(func.sum(runs.c.output_tokens), 0),
                        func.coalesce(func.sum(runs.c.tool_call_count), 0),
                    )
                )
            ).one()
            durations = [
                d
                for d in (
                    await db.execute(select(runs.c.duration_ms).where(runs.c.duration_ms.is_not(None)).limit(METRICS_SAMPLE))
                ).scalars()
            ]
            ttfts = [
                t
                for t in (
                    await db.execute(
                        select(runs.c.time_to_first_token_ms)
                        .where(runs.c.time_to_first_token_ms.is_not(None))
                        .limit(METRICS_SAMPLE)
                    )
                ).scalars()
            ]
        return RunMetricsSummary(
            counts={int(k): int(v) for k, v in counts.items()},
            input_tokens=int(sums[0]),
            output_tokens=int(sums[1]),
            tool_calls=int(sums[2]),
            duration_p50_ms=_percentile(durations, 50),
            duration_p95_ms=_percentile(durations, 95),
            ttft_p50_ms=_percentile(ttfts, 50),
            ttft_p95_ms=_percentile(ttfts, 95),
        )

    # -- control --------------------------------------------------------------

    async def cancel(
        self, caller: Principal, name: str, *, reason: str = "", etag: str = "", request_id: str = "", fingerprint: str = ""
    ) -> RunRow:
        self.ctx.idempotency.validate(request_id)
        if request_id:
            async with self.ctx.store.read() as db:
                replayed = await self.ctx.idempotency.replay(db, caller, request_id, "CancelRun", fingerprint)
            if replayed is not None:
                return await self.get(caller, replayed[0])
        row = await self.get(caller, name)
        check_etag("run", row.id, row.revision, row.incarnation, etag)
        if len(reason) > MAX_CANCEL_REASON_CHARS:
            raise InvalidArgument.field("reason", f"is longer than {MAX_CANCEL_REASON_CHARS:,} characters")
        if row.status in TERMINAL_STATUSES:
            raise self._not_active(name, row)
        reason = reason or "cancelled by request"
        # Recorded first: the owner may be another process, or die before it stops the run.
        await run_controls.record(self.ctx.store, row.id, run_controls.CANCEL, caller.id, {"reason": reason}, utc_now())
        active = self.runner.request_cancel(row.id, reason, caller.id)
        if active is not None:
            await active.finished.wait()
        elif await self._cancel_queued(row, reason, caller.id):
            pass
        elif row.id not in self.runner.active:
            # Another process owns the run (or will, after a takeover): it stops the run, and its events say so.
            await self._await_owner(name, row, lambda event: False)
        cancelled = await self.get(caller, name)
        if cancelled.status in TERMINAL_STATUSES and cancelled.status != RunStatus.CANCELLED:
            raise self._not_active(name, cancelled)  # it ended another way while being cancelled
        if request_id:
            async with self.ctx.store.write() as db:
                self.ctx.idempotency.remember(db, caller, request_id, "CancelRun", fingerprint, [name])
        return cancelled

    async def _cancel_queued(self, row: RunRow, reason: str, by: str) -> bool:
        """A run queued for whichever process has room, which none has claimed yet: this process claims it
        and ends it CANCELLED itself, rather than waiting for a worker with room. False when it is not such
        a run, or another process claimed it first (that one applies the recorded cancel)."""
        if row.status != RunStatus.QUEUED or row.lease_owner:
            return False
        now = utc_now()
        claimed = await leases.claim(
            self.ctx.store, "runs", self.lease.owner, now, self.lease.expiry(now), (RunStatus.QUEUED,), 1,
            unowned=True, only=(row.id,),
        )
        if not claimed:
            return False
        claimed_row = claimed[0]
        recorder = self.event_log.recorder(claimed_row.id, claimed_row.fence)
        plan = RunPlan.of_ended(claimed_row.id, claimed_row.owner, claimed_row.session_id, claimed_row.agent_id, claimed_row.last_seq)
        self.event_log.open_channel(claimed_row.id, await load_events(self.ctx.store, claimed_row.id, claimed_row.last_seq - 1, 1))
        nothing = TakenOver("", (), 0, 0, 0, None, None)
        try:
            await self.runner.end_taken_over(plan, recorder, nothing, "", "", cancelled=(reason, by))
        except LeaseLost:
            return False
        return True

    async def submit_input(
        self,
        caller: Principal,
        name: str,
        input_request_id: str,
        *,
        approval: run_pb2.Approval | None,
        text: str | None,
        request_id: str = "",
        fingerprint: str = "",
    ) -> RunRow:
        self.ctx.idempotency.validate(request_id)
        if request_id:
            async with self.ctx.store.read() as db:
                replayed = await self.ctx.idempotency.replay(db, caller, request_id, "SubmitInput", fingerprint)
            if replayed is not None:
                return await self.get(caller, replayed[0])
        row = await self._answer(caller, name, input_request_id, approval=approval, text=text)
        if request_id:
            async with self.ctx.store.write() as db:
                self.ctx.idempotency.remember(db, caller, request_id, "SubmitInput", fingerprint, [name])
        return row

    async def _answer(
        self, caller: Principal, name: str, input_request_id: str, *, approval: run_pb2.Approval | None, text: str | None
    ) -> RunRow:
        if not input_request_id:
            raise InvalidArgument.field("input_request_id", "is required")
        if approval is None and text is None:
            raise InvalidArgument.field("answer", "set approval (for an approval request) or text (for a question)")
        row = await self.get(caller, name)
        if row.status in TERMINAL_STATUSES:
            raise self._not_active(name, row)
        asked_by = str((row.pending_input or {}).get("run") or "")
        if row.status == RunStatus.REQUIRES_INPUT and asked_by and asked_by != name:
            # A run below this one asked (a crew's task, an agent called as a tool): answered there.
            if row.pending_input.get("id") == input_request_id:
                await self._answer(Principal(id=row.owner), asked_by, input_request_id, approval=approval, text=text)
                return await self.get(caller, name)
        # What the run waits for, as its row says on every replica (the owner's memory says the same).
        pending = None
        if row.status == RunStatus.REQUIRES_INPUT and row.pending_input:
            pending = json_format.ParseDict(row.pending_input, run_pb2.InputRequest(), ignore_unknown_fields=True)
        if pending is None or pending.id != input_request_id:
            active = self.runner.active.get(row.id)
            if active is not None and active.pending is not None and active.pending.id == input_request_id:
                pending = active.pending  # asked here a moment ago: the row shows it once committed
            elif await self._answer_recorded(row.id, input_request_id):
                raise self._already_answered(name, input_request_id)
            else:
                raise NotFound(
                    f"run {name!r} is not waiting for input request {input_request_id!r}",
                    reason="INPUT_REQUEST_NOT_FOUND",
                    metadata={"resource": name},
                )
        if pending.kind == run_pb2.InputRequest.KIND_APPROVAL:
            if approval is None:
                raise InvalidArgument.field("approval", "this input request is an approval: answer with approval")
            self._check_approval(pending, approval)
        elif text is None or not text.strip():
            raise InvalidArgument.field("text", "this input request is a question: answer with text")
        elif len(text) > MAX_ANSWER_CHARS:
            raise InvalidArgument.field("text", f"is longer than {MAX_ANSWER_CHARS:,} characters")
        if pending.HasField("expire_time") and pending.expire_time.ToNanoseconds() <= utc_now().timestamp() * 1e9:
            raise self._expired(name, input_request_id)
        payload = {"text": text or "", "approval": json_format.MessageToDict(approval) if approval is not None else None}
        key = run_controls.answer_key(input_request_id)
        # The first answer recorded wins, whichever replica took it.
        if not await run_controls.record(self.ctx.store, row.id, key, caller.id, payload, utc_now()):
            raise self._already_answered(name, input_request_id)
        active = self.runner.active.get(row.id)
        if active is not None and active.pending is not None and active.pending.id == input_request_id:
            outcome = await self.runner.answer(
                row.id, input_request_id, Answer(approval=approval, text=text or "", answered_by=caller.id)
            )
            if outcome == "answered":  # applied already (its owner read it back from the record)
                outcome = "accepted"
        else:
            # Another process owns the run: it resumes the run with this answer, and the run's events say so.
            ended = await self._await_owner(
                name,
                row,
                lambda event: event.WhichOneof("payload") == "input_received"
                and event.input_received.input_request_id == input_request_id,
            )
            outcome = "accepted" if ended is None or ended.WhichOneof("payload") == "input_received" else "ended"
        if outcome == "expired":
            raise self._expired(name, input_request_id)
        answered = await self.get(caller, name)
        if outcome == "ended" and answered.error_reason == "INPUT_TIMEOUT":
            raise self._expired(name, input_request_id)
        if outcome == "ended":
            raise self._not_active(name, answered)
        return answered

    @staticmethod
    def _already_answered(name: str, input_request_id: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"input request {input_request_id} was already answered",
            reason="INPUT_REQUEST_ALREADY_ANSWERED",
            metadata={"resource": name},
        )

    @staticmethod
    def _expired(name: str, input_request_id: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"input request {input_request_id} expired before it was answered",
            reason="INPUT_REQUEST_EXPIRED",
            metadata={"resource": name},
        )

    async def _answer_recorded(self, run_id: str, input_request_id: str) -> bool:
        controls = await run_controls.of_runs(self.ctx.store, [run_id])
        return run_controls.answer_key(input_request_id) in controls.get(run_id, {})

    async def _await_owner(
        self, name: str, row: RunRow, applied: Callable[[run_pb2.RunEvent], bool]
    ) -> run_pb2.RunEvent | None:
        """Signal the owner of a run held elsewhere to apply what was recorded for it, and wait until the
        run's events show it applied (`applied`) or the run ended: that event. Signalled again now and then
        (a signal may be lost, or the run may move to a new owner, which applies it after its claim)."""
        resend = asyncio.ensure_future(self._signal_owner_until_done(row.id))
        try:
            async with asyncio.timeout(self.control_wait_seconds):
                async for batch in self.event_log.follow(row.id, row.last_seq):
                    for event in batch:
                        if applied(event) or event.WhichOneof("payload") in TERMINAL_PAYLOADS:
                            return event
        except TimeoutError:
            raise DeadlineExceeded(
                f"the process that owns run {name!r} did not apply the request within "
                f"{self.control_wait_seconds:g} s; it stays recorded, and the run's owner applies it",
                reason="DEADLINE_EXCEEDED",
                metadata={"resource": name},
            ) from None
        finally:
            resend.cancel()
        return None

    async def _signal_owner_until_done(self, run_id: str) -> None:
        while self.signals is not None:
            self.signals.publish(RUN_CONTROL_SIGNAL, [run_id])
            await asyncio.sleep(CONTROL_RESEND_SECONDS)

    def _controls_signalled(self, run_ids: builtins.list[str]) -> None:
        """Control requests were recorded for these runs: apply those of the runs this process executes."""
        for run_id in run_ids:
            if run_id in self.runner.active:
                task = spawn(self.apply_controls([run_id]), name=f"run-controls-{run_id}")
                self._applying.add(task)
                task.add_done_callback(self._applying.discard)

    async def apply_controls(self, run_ids: builtins.list[str]) -> None:
        """Apply the recorded control requests of runs executing here: a cancel stops the run; an answer to
        the input request it waits for resumes it (as if asked here)."""
        try:
            recorded = await run_controls.of_runs(self.ctx.store, run_ids)
        except Exception:
            log.exception("reading the control requests of %d run(s) failed", len(run_ids))
            return
        for run_id, controls in recorded.items():
            cancel = controls.get(run_controls.CANCEL)
            if cancel is not None:
                self.runner.request_cancel(run_id, str(cancel.payload.get("reason") or ""), cancel.requested_by)
                continue
            active = self.runner.active.get(run_id)
            if active is None or active.pending is None or active.answer is None or active.answer.done():
                continue
            answer = controls.get(run_controls.answer_key(active.pending.id))
            if answer is None:
                continue
            approval = answer.payload.get("approval")
            await self.runner.answer(
                run_id,
                active.pending.id,
                Answer(
                    approval=json_format.ParseDict(approval, run_pb2.Approval()) if approval is not None else None,
                    text=str(answer.payload.get("text") or ""),
                    answered_by=answer.requested_by,
                ),
            )

    def _check_approval(self, pending: run_pb2.InputRequest, approval: run_pb2.Approval) -> None:
        if approval.decision == run_pb2.Approval.DECISION_UNSPECIFIED:
            raise InvalidArgument.field("approval.decision", "is required: DECISION_APPROVE or DECISION_DENY")
        if len(approval.reason) > MAX_REASON_CHARS:
            raise InvalidArgument.field("approval.reason", f"is longer than {MAX_REASON_CHARS} characters")
        if approval.HasField("edited_arguments"):
            if approval.decision != run_pb2.Approval.DECISION_APPROVE:
                raise InvalidArgument.field("approval.edited_arguments", "only goes with DECISION_APPROVE")
            tool = self.tools.get(pending.tool_call.tool)
            edited = convert.struct_to_dict(approval.edited_arguments, "approval.edited_arguments")
            if tool is not None:
                try:
                    self.tools.check_arguments(tool, edited)
                except ToolError as error:
                    raise InvalidArgument.field("approval.edited_arguments", str(error)) from None

    async def pending_input_requests(self, caller: Principal) -> builtins.list[tuple[str, run_pb2.InputRequest]]:
        """The caller's runs waiting for a person, with what each asks, oldest first."""
        async with self.ctx.store.read() as db:
            rows = (
                await db.execute(
                    select(RunRow.id, RunRow.pending_input)
                    .where(RunRow.owner == caller.id, RunRow.status == int(RunStatus.REQUIRES_INPUT))
                    .order_by(RunRow.pk)
                )
            ).all()
        pending = []
        for run_id, request in rows:
            if request:
                pending.append((RUN.format(run_id), json_format.ParseDict(request, run_pb2.InputRequest())))
        return pending

    @staticmethod
    def _not_active(name: str, row: RunRow) -> FailedPrecondition:
        return FailedPrecondition(
            f"run {name!r} has already ended ({RunStatus(row.status).name})",
            reason="RUN_NOT_ACTIVE",
            metadata={"resource": name, "status": RunStatus(row.status).name},
        )

    # -- events ---------------------------------------------------------------

    async def events(self, caller: Principal, name: str, after_seq: int, field: str = "run") -> AsyncIterator[builtins.list[run_pb2.RunEvent]]:
        row = await self.get(caller, name, field)
        if after_seq < 0:
            raise InvalidArgument.field("after_seq", "must not be negative")
        # Events are published only once durable, so no reader can have seen a seq above last_seq.
        if after_seq > row.last_seq:
            raise OutOfRange(
                f"run {name!r} has {row.last_seq} event(s); after_seq {after_seq} is beyond them",
                reason="INVALID_ARGUMENT",
                metadata={"last_seq": str(row.last_seq)},
            )
        return self.event_log.follow(row.id, after_seq)

    def follow_started(self, run_id: str) -> AsyncIterator[builtins.list[run_pb2.RunEvent]]:
        """Every event of a run `create` just returned to this caller (so no read or check again)."""
        return self.event_log.follow(run_id, 0, self.event_log.channel(run_id))

    def request_cancel(self, run_name: str, reason: str, by: str) -> None:
        self.runner.request_cancel(run_name.split("/")[-1], reason, by)

    async def stop_anywhere(self, run_id: str, reason: str, by: str) -> None:
        """Cancel a run wherever it is, without waiting for it to end (a batch stopping its tasks' runs,
        which execute on any process with room): here if it runs here, at once if it waits in the queue
        for a process with room, else recorded and signalled to its owner, which applies it (or the next
        owner, after a takeover)."""
        if self.runner.request_cancel(run_id, reason, by) is not None:
            return
        row = await self._row_or_none(run_id)
        if row is None or row.status in TERMINAL_STATUSES:
            return
        await run_controls.record(self.ctx.store, run_id, run_controls.CANCEL, by, {"reason": reason}, utc_now())
        if await self._cancel_queued(row, reason, by):
            return
        if self.signals is not None:
            self.signals.publish(RUN_CONTROL_SIGNAL, [run_id])

    async def _row_or_none(self, run_id: str) -> RunRow | None:
        async with self.ctx.store.read() as db:
            return (await db.execute(select(RunRow).where(RunRow.id == run_id))).scalar_one_or_none()

    def caller_gone(self, run_name: str) -> None:
        """The stream of the call that started the run ended before the run did (and did not cancel it):
        the caller's deadline bounds the run no more, only the run's own limits do."""
        self.runner.release_caller(run_name.split("/")[-1])


    # -- queued work ----------------------------------------------------------

    def queued(self) -> None:
        """Work now waits without an owner: the work queue here looks for room at once."""
        if self.on_queued is not None:
            self.on_queued()

    async def start_claimed(self, rows: builtins.list[RunRow]) -> int:
        """Queued runs without an owner that this process just claimed (it has room): start each here,
        as its creator would have, with its agent as it is now."""
        started = 0
        for row in rows:
            recorder = self.event_log.recorder(row.id, row.fence)
            if row.crew_id and row.crew_spec:
                self.event_log.open_channel(row.id, await load_events(self.ctx.store, row.id, 0, row.last_seq))
                self.runner.launch(await self._crew_plan_of_stored(row), recorder)
                started += 1
                continue
            async with self.ctx.store.read() as db:
                agent = await repo.get_agent(db, row.agent_id, None)
            if agent is None or agent.state == AgentState.DISABLED:
                plan = RunPlan.of_ended(row.id, row.owner, row.session_id, row.agent_id, row.last_seq)
                nothing = TakenOver("", (), 0, 0, 0, None, None)
                why = "was deleted" if agent is None else "was disabled"
                reason = "AGENT_NOT_FOUND" if agent is None else "AGENT_DISABLED"
                try:
                    await self.runner.end_taken_over(plan, recorder, nothing, reason, f"the run's agent {why} before it started")
                except LeaseLost:
                    pass
                continue
            plan = self._plan_of_stored(row, agent, created_at=row.create_time.replace(tzinfo=UTC).timestamp())
            self.event_log.open_channel(row.id, await load_events(self.ctx.store, row.id, 0, row.last_seq))
            self.runner.launch(plan, recorder)
            log.info("runs/%s: claimed from the queue, starting here (fence %d)", row.id, row.fence)
            started += 1
        # A cancel recorded while they waited in the queue (its signal found no owner): applied now.
        if rows:
            await self.apply_controls([row.id for row in rows])
        return started

    # -- takeover -------------------------------------------------------------

    async def take_over(self, rows: builtins.list[RunRow]) -> tuple[int, int]:
        """Runs whose lease this process just claimed (their owner stopped or died): (failed, resumed).
        A run that waits for a person waits on here with the same input request, and resumes when
        answered; any other can never finish, so it ends FAILED SERVER_RESTARTED, keeping what it
        streamed, and nothing waits for it forever. Every write goes through the run's new recorder."""
        failed = resumed = 0
        now = utc_now()
        recorded = await run_controls.of_runs(self.ctx.store, [row.id for row in rows])
        if await self._cancel_with_their_trees(rows, recorded, now):
            recorded = await run_controls.of_runs(self.ctx.store, [row.id for row in rows])
        restored: list[str] = []
        for row in rows:
            recorder = self.event_log.recorder(row.id, row.fence)
            if row.crew_id and row.crew_spec and row.id not in recorded:
                # A crew run goes on from what its log holds: results recorded stay, cut tasks run again.
                self.event_log.open_channel(row.id, await load_events(self.ctx.store, row.id, row.last_seq - 1, 1))
                self.runner.launch(await self._crew_plan_of_stored(row), recorder)
                resumed += 1
                continue
            waiting = None
            if row.status == RunStatus.REQUIRES_INPUT:
                async with self.ctx.store.read() as db:
                    waiting = await self._waiting_state(db, row, now)
            if waiting is not None:
                self.event_log.open_channel(row.id, await load_events(self.ctx.store, row.id, row.last_seq - 1, 1))
                self.runner.restore(waiting[0], waiting[1], recorder)
                restored.append(row.id)
                resumed += 1
                continue
            try:
                async with self.ctx.store.read() as db:
                    taken = await _taken_over(db, row, now)
                plan = RunPlan.of_ended(row.id, row.owner, row.session_id, row.agent_id, row.last_seq)
                cancel = recorded.get(row.id, {}).get(run_controls.CANCEL)
                await self.runner.end_taken_over(
                    plan,
                    recorder,
                    taken,
                    "SERVER_RESTARTED",
                    RESTARTED_MESSAGE,
                    # Cancelled before its owner died: it ends as that request asked.
                    cancelled=(str(cancel.payload.get("reason") or ""), cancel.requested_by) if cancel is not None else None,
                    crew_plan=crew_runs.stopped_plan(row.crew_plan, str(cancel.payload.get("reason") or "cancelled"))
                    if cancel is not None and row.crew_id and row.crew_plan
                    else None,
                )
            except LeaseLost:
                continue  # another process claimed it meanwhile, and ends it
            except Exception:
                # Let the lease lapse: the next claim pass (here or elsewhere) tries again.
                self.event_log.release(recorder)
                raise
            failed += 1
        # What was recorded for the runs that wait on here (a cancel, the answer), applied as if asked here.
        waiting_controlled = [run_id for run_id in restored if run_id in recorded]
        if waiting_controlled:
            task = spawn(self.apply_controls(waiting_controlled), name="run-controls-restored")
            self._applying.add(task)
            task.add_done_callback(self._applying.discard)
        return failed, resumed

    async def _cancel_with_their_trees(
        self, rows: builtins.list[RunRow], recorded: Mapping[str, Mapping[str, RunControlRow]], now: datetime
    ) -> bool:
        """A cancel recorded for a run whose owner died before applying it is the whole tree's: its active
        descendants are cancelled too (those taken over here end CANCELLED with it, the others are stopped
        where they execute), and a taken-over child whose ancestor's cancel is recorded ends CANCELLED,
        not SERVER_RESTARTED, whichever process takes the ancestor over. True when it recorded any cancel."""
        store, batch, added = self.ctx.store, {row.id for row in rows}, False
        for row in rows:
            if row.parent_run_id and run_controls.CANCEL not in recorded.get(row.id, {}):
                cancel = await self._ancestor_cancel(row.parent_run_id)
                if cancel is not None:
                    added |= await run_controls.record(store, row.id, run_controls.CANCEL, cancel.requested_by, dict(cancel.payload), now)
        for row in rows:
            cancel = recorded.get(row.id, {}).get(run_controls.CANCEL)
            if cancel is None:
                continue
            for descendant in await self._active_descendants(row.id):
                if descendant in batch:
                    added |= await run_controls.record(store, descendant, run_controls.CANCEL, cancel.requested_by, dict(cancel.payload), now)
                else:
                    await self.stop_anywhere(descendant, str(cancel.payload.get("reason") or ""), cancel.requested_by)
        return added

    async def _ancestor_cancel(self, parent_run_id: str) -> RunControlRow | None:
        """The cancel recorded for the nearest run above (from `parent_run_id` up to the top), or None."""
        ancestors: builtins.list[str] = []
        async with self.ctx.store.read() as db:
            while parent_run_id and parent_run_id not in ancestors:
                ancestors.append(parent_run_id)
                parent_run_id = (
                    await db.execute(select(RunRow.parent_run_id).where(RunRow.id == parent_run_id))
                ).scalar_one_or_none() or ""
        recorded = await run_controls.of_runs(self.ctx.store, ancestors)
        return next((recorded[a][run_controls.CANCEL] for a in ancestors if run_controls.CANCEL in recorded.get(a, {})), None)

    async def _active_descendants(self, run_id: str) -> builtins.list[str]:
        """The runs below `run_id` (children, their children, ...) that have not ended."""
        found: builtins.list[str] = []
        level = [run_id]
        async with self.ctx.store.read() as db:
            while level:
                children = (
                    await db.execute(select(RunRow.id, RunRow.status).where(RunRow.parent_run_id.in_(level)))
                ).all()
                level = [child_id for child_id, _ in children]
                found += [child_id for child_id, status in children if status not in TERMINAL_STATUSES]
        return found

    async def _crew_plan_of_stored(self, row: RunRow) -> RunPlan:
        """The plan of a crew run another process started, with what its log says it had done (its plan,
        how far it had copied each child's events, the tree's usage) and which children wait for a person."""
        async with self.ctx.store.read() as db:
            events = await _events_of(db, row.id)
            child_rows = list(
                (await db.execute(select(RunRow).where(RunRow.parent_run_id == row.id).order_by(RunRow.pk))).scalars()
            )
        copied: dict[str, int] = {}
        usage: dict[str, tuple[int, int]] = {}
        descendants = 0
        for event in events:
            if event.WhichOneof("payload") != "child_run_event":
                continue
            child = event.child_run_event
            if child.depth == 1:
                copied[child.run] = max(copied.get(child.run, 0), child.event.seq)
            elif child.event.WhichOneof("payload") == "run_created":
                descendants += 1
            if child.event.WhichOneof("payload") == "usage_updated":
                counted = child.event.usage_updated.usage
                usage[child.run] = (counted.input_tokens, counted.output_tokens)
        waiting = {
            child.id: child.pending_input
            for child in child_rows
            if child.status == RunStatus.REQUIRES_INPUT and child.pending_input
        }
        resumed = crew_runs.Resumed(
            plan=dict(row.crew_plan or {}),
            copied=copied,
            usage=usage,
            children_started=len(child_rows),
            descendants=descendants,
            waiting=waiting,
            elapsed_seconds=(utc_now() - row.start_time).total_seconds() if row.start_time else 0.0,
        )
        crew_spec = dict(row.crew_spec)
        options = row.options or {}
        return RunPlan(
            run_id=row.id,
            owner=row.owner,
            session_id="",
            agent_id="",
            instructions="",
            model={"provider": crew_runs.PROVIDER},
            tools=(),
            max_concurrent_runs_of_agent=0,
            initial_seq=row.last_seq,
            input=tuple(copy.deepcopy(row.input or [])),
            crew=crew_spec,
            crew_resumed=resumed,
            tree=TreePosition(
                root_run_id=row.root_run_id or row.id,
                depth=row.depth or 0,
                max_depth=int(limit_of(crew_spec.get("limits") or {}, "max_depth")),
            ),
            **{
                **self._resolve_limits({}, options),
                "max_duration": float((crew_spec.get("limits") or {}).get("max_duration") or self._resolve_limits({}, options)["max_duration"]),
            },
        )

    async def _waiting_state(self, db: Transaction, row: RunRow, now: datetime) -> tuple[RunPlan, RestoredWait] | None:
        """What the runner needs to resume a run that waits for input, or None when it cannot be resumed."""
        if not row.pending_input:
            return None
        agent = await repo.get_agent(db, row.agent_id, None)
        if agent is None:
            return None
        request = json_format.ParseDict(row.pending_input, run_pb2.InputRequest(), ignore_unknown_fields=True)
        steps = tuple(json_format.ParseDict(s, run_pb2.RunStep(), ignore_unknown_fields=True) for s in row.steps or [])
        plan = self._plan_of_stored(row, agent)
        open_step = None
        calls: tuple[ToolCallRequest, ...] = ()
        if request.kind == run_pb2.InputRequest.KIND_APPROVAL:
            opened = await self._open_step(db, row, request, len(steps), plan)
            if opened is None:
                return None
            open_step, calls = opened
        waiting = RestoredWait(
            request=request,
            steps=steps,
            input_tokens=row.input_tokens or 0,
            output_tokens=row.output_tokens or 0,
            tool_calls=row.tool_call_count or 0,
            elapsed_seconds=(now - row.start_time).total_seconds() if row.start_time else 0.0,
            time_to_first_token=row.time_to_first_token_ms / 1000 if row.time_to_first_token_ms is not None else None,
            open_step=open_step,
            calls_without_result=calls,
        )
        return plan, waiting

    async def _open_step(
        self, db: Transaction, row: RunRow, request: run_pb2.InputRequest, index: int, plan: RunPlan
    ) -> tuple[run_pb2.RunStep, tuple[ToolCallRequest, ...]] | None:
        """The step whose tool call awaits approval, rebuilt from the run's messages and events: the calls
        of its assistant message still without a result (the pending one first) and those already done."""
        messages = list(
            (await db.execute(select(MessageRow).where(MessageRow.run_id == row.id).order_by(MessageRow.pk))).scalars()
        )
        pending_id = request.tool_call.id
        assistant = next(
            (m for m in reversed(messages) if any(p.get("tool_call", {}).get("id") == pending_id for p in m.content or [])),
            None,
        )
        if assistant is None:
            return None
        answered = {p["tool_result"].get("tool_call_id") for m in messages for p in m.content or [] if "tool_result" in p}
        made = [p["tool_call"] for p in assistant.content or [] if "tool_call" in p]
        calls = tuple(
            ToolCallRequest(
                id=c.get("id", ""),
                name=c.get("tool", ""),
                arguments=dict(c.get("arguments") or {}),
                rejected=c.get("rejected") or "",
            )
            for c in made
            if c.get("id") not in answered
        )
        if not calls or calls[0].id != pending_id:
            return None
        step = run_pb2.RunStep(index=index)
        step.model_call.provider = plan.provider
        step.model_call.model = str(plan.model.get("model") or "")
        step.model_call.message = names.MESSAGE.format(assistant.session_id, assistant.id)
        step.model_call.text = assistant.text or ""
        step.model_call.finish_reason = run_pb2.ModelCall.FINISH_REASON_TOOL_CALLS
        done = {c.get("id"): c for c in made if c.get("id") in answered}
        for event in await _events_of(db, row.id):
            completed = event.tool_call_completed
            if event.WhichOneof("payload") != "tool_call_completed" or completed.step_index != index:
                continue
            call = done.get(completed.result.tool_call_id)
            if call is None:
                continue
            execution = step.tool_calls.add(state=completed.state, result=completed.result, duration=completed.duration)
            execution.call.id, execution.call.tool = call.get("id", ""), call.get("tool", "")
            json_values.to_struct(call.get("arguments"), execution.call.arguments)
        return step, calls


RESTARTED_MESSAGE = "the server restarted while the run was active"


async def _taken_over(db: Transaction, row: RunRow, now: datetime) -> TakenOver:
    """What a run cut short left: the text it streamed and committed since its last assistant message,
    and the tool calls its messages hold without a result."""
    messages = list(
        (await db.execute(select(MessageRow).where(MessageRow.run_id == row.id).order_by(MessageRow.pk))).scalars()
    )
    answered = {p["tool_result"].get("tool_call_id") for m in messages for p in m.content or [] if "tool_result" in p}
    calls = tuple(
        common_pb2.ToolCall(id=c.get("id", ""), tool=c.get("tool", ""))
        for m in messages
        for p in m.content or []
        if "tool_call" in p and (c := p["tool_call"]).get("id") not in answered
    )
    ttft = row.time_to_first_token_ms
    return TakenOver(
        text=_text_since_last_assistant_message(await _events_of(db, row.id)) if row.status != RunStatus.REQUIRES_INPUT else "",
        calls_without_result=calls,
        input_tokens=row.input_tokens or 0,
        output_tokens=row.output_tokens or 0,
        tool_calls=row.tool_call_count or 0,
        time_to_first_token=ttft / 1000 if ttft is not None else None,
        elapsed_seconds=(now - row.start_time).total_seconds() if row.start_time else None,
    )


def _text_since_last_assistant_message(events: list[run_pb2.RunEvent]) -> str:
    """The text deltas a run streamed after its last assistant message: the model call cut off."""
    parts: list[str] = []
    for event in events:
        kind = event.WhichOneof("payload")
        if kind == "text_delta":
            parts.append(event.text_delta.text)
        elif kind == "message_created" and event.message_created.message.role == message_pb2.Message.ROLE_ASSISTANT:
            parts.clear()
    return "".join(parts)


async def _events_of(db: Transaction, run_id: str) -> list[run_pb2.RunEvent]:
    rows = await db.execute(select(RunEventRow.payload).where(RunEventRow.run_id == run_id).order_by(RunEventRow.seq))
    return [run_pb2.RunEvent.FromString(payload) for payload in rows.scalars()]


def _check_options_within_limits(agent_limits: Mapping[str, Any], options: Mapping[str, Any], prefix: str) -> None:
    """Run options may lower the agent's limits, never raise them, nor go above the server's maximum."""
    v = Violations()
    for option, limit, server_maximum in (
        ("max_steps", "max_steps", MAX_STEPS),
        ("max_duration", "max_run_duration", MAX_RUN_SECONDS),
        ("input_timeout", "input_timeout", MAX_INPUT_TIMEOUT_SECONDS),
    ):
        value = options.get(option) or 0
        ceiling = agent_limits.get(limit) or server_maximum
        if value > ceiling:
            whose = "the agent's limit" if agent_limits.get(limit) else "the server's maximum"
            v.add(f"{prefix}options.{option}", f"is {value:g}, above {whose} of {ceiling:g}")
    v.raise_if_any()


def token_stream_end(event: run_pb2.RunEvent) -> DomainError | None:
    """How StreamTokens ends on an event that stops the text: None for success, else the error to answer with."""
    kind = event.WhichOneof("payload")
    metadata = {"run": event.run}
    if kind == "input_required":
        return FailedPrecondition(
            f"run {event.run} waits for a person (input request {event.input_required.input_request.id}); "
            "answer with SubmitInput and follow it with StreamRunEvents",
            reason="RUN_REQUIRES_INPUT",
            metadata={**metadata, "input_request_id": event.input_required.input_request.id},
        )
    if kind == "run_failed":
        error = event.run_failed.error
        return Aborted(
            f"run {event.run} failed: {error.message}",
            reason="RUN_FAILED",
            metadata={**metadata, "run_reason": error.reason},
        )
    if kind == "run_cancelled":
        return Cancelled(f"run {event.run} was cancelled: {event.run_cancelled.reason}", reason="RUN_CANCELLED", metadata=metadata)
    if kind == "run_timed_out":
        return DeadlineExceeded(f"run {event.run} reached its maximum duration", reason="RUN_TIMED_OUT", metadata=metadata)
    return None


async def load_events(store: Any, run_id: str, after_seq: int, limit: int) -> list[run_pb2.RunEvent]:
    async with store.read() as db:
        rows = await db.execute(
            select(RunEventRow.payload)
            .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
            .order_by(RunEventRow.seq)
            .limit(limit)
        )
        return [run_pb2.RunEvent.FromString(payload) for payload in rows.scalars()]


async def run_finished(store: Any, run_id: str) -> bool:
    async with store.read() as db:
        status = (await db.execute(select(RunRow.status).where(RunRow.id == run_id))).scalar()
    return status is None or status in TERMINAL_STATUSES


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return float(statistics.quantiles(values, n=100, method="inclusive")[percent - 1])
