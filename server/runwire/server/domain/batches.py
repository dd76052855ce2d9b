"""Batches: many agent tasks checked as a whole, executed as runs, read and watched while they progress.

A batch's input (inline tasks or a JSONL file) is checked completely before
anything is created: every bad task is reported at once, by position. The
tasks then execute through `BatchExecutor` (domain/batch_executor.py).
"""

from __future__ import annotations

import asyncio
import enum
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, AsyncIterator, Mapping, Protocol, Sequence

from google.protobuf import json_format
from sqlalchemy import select

from runwire.server.core import names
from runwire.server.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    QuotaViolation,
    ResourceExhausted,
    Violations,
)
from runwire.server.core.etags import check_etag
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.agents import MAX_RUN_SECONDS, AgentState
from runwire.server.domain.common import check_labels, check_text
from runwire.server.domain.context import DomainContext
from runwire.server.domain.crews import get_crew_row
from runwire.server.domain.files.records import FileState, Purpose
from runwire.server.domain.files.service import FileService
from runwire.server.domain.messages import MessageService
from runwire.server.domain.resources import ListQuery, WriteOptions
from runwire.server.store import batches as store
from runwire.server.store import repositories as repo
from runwire.server.store.leases import LeaseTerms
from runwire.server.store.models import BatchRow, BatchTaskRow
from runwire.server.store.transaction import CoreTransaction, Transaction
from runwire.server.wire import convert, json_values
from runwire.v1 import batch_pb2

BATCH = names.NamePattern.of("batches")
MAX_CUSTOM_ID_CHARS = 64
MAX_ATTEMPTS = 5
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT_SECONDS = 24 * 3600.0
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
# A BadRequest detail with more violations would pass gRPC's default 8 KiB metadata limit.
MAX_REPORTED_VIOLATIONS = 25
MAX_CHANGED_TASKS = 1_000
MIN_WATCH_INTERVAL = 0.1
MAX_WATCH_INTERVAL = 60.0
DEFAULT_WATCH_INTERVAL = 1.0


class BatchState(enum.IntEnum):
    UNSPECIFIED = 0
    QUEUED = 1
    RUNNING = 2
    CANCELLING = 3
    SUCCEEDED = 4
    PARTIALLY_SUCCEEDED = 5
    FAILED = 6
    CANCELLED = 7
    TIMED_OUT = 8


class TaskStatus(enum.IntEnum):
    UNSPECIFIED = 0
    QUEUED = 1
    RUNNING = 2
    REQUIRES_INPUT = 3
    SUCCEEDED = 4
    FAILED = 5
    CANCELLED = 6
    TIMED_OUT = 7


ACTIVE_BATCH_STATES = frozenset({BatchState.QUEUED, BatchState.RUNNING, BatchState.CANCELLING})
TERMINAL_TASK_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT})
STARTED_TASK_STATUSES = frozenset({TaskStatus.RUNNING, TaskStatus.REQUIRES_INPUT})


def not_found(name: str) -> NotFound:
    return NotFound(f"batch {name!r} does not exist", reason="BATCH_NOT_FOUND", metadata={"resource": name})


def task_name(batch_id: str, index: int) -> str:
    return f"batches/{batch_id}/tasks/{index}"


async def record_batch(ctx: DomainContext, db: CoreTransaction, type: str, batch_id: str) -> None:
    """Record `batch.{verb}` with the batch as this transaction leaves it, its task counts included."""
    rows = await ctx.store.rows_on(db, store.BATCH_RECORD_BY_ID, {"id": batch_id})
    if not rows:
        return
    row, counts = rows[0], await store.task_counts_of(ctx.store, db, batch_id)
    await ctx.events.record(db, type, BATCH.format(batch_id), row.owner, convert.batch_proto(BatchView(row, counts)))


async def record_task(ctx: DomainContext, db: CoreTransaction, owner: str, task: BatchTaskRow | store.TaskRecord) -> None:
    """Record `batch_task.updated` for `task` as this transaction leaves it: returned by its change, or read after it."""
    await ctx.events.record(db, "batch_task.updated", task_name(task.batch_id, task.index), owner, convert.task_proto(task))


@dataclass
class BatchView:
    """A batch with what is derived from its tasks."""

    row: BatchRow
    counts: store.TaskCounts


@dataclass(frozen=True)
class BatchOptions:
    max_concurrency: int = 0
    timeout: float = 0.0
    task_timeout: float = 0.0
    max_attempts: int = 0
    write_output_file: bool = False


@dataclass
class _TaskDraft:
    """One task of the input, checked, with where it came from (`path` names it in errors)."""

    path: str
    index: int
    line_number: int
    custom_id: str
    agent_id: str
    session_id: str
    input: list[dict[str, Any]]
    crew_id: str = ""


@dataclass
class WatchUpdate:
    batch: BatchView
    changed_tasks: list[BatchTaskRow] = field(default_factory=list)


class BatchChanges(Protocol):
    def signal(self, batch_id: str) -> asyncio.Event:
        """The event the next change of `batch_id` sets."""
        ...


class BatchDriver(Protocol):
    """What the service needs from the executor that drives batches (BatchExecutor, domain/batch_executor.py)."""

    @property
    def executes(self) -> bool: ...

    @property
    def lease(self) -> LeaseTerms: ...

    @property
    def changes(self) -> BatchChanges: ...

    def start(self, batch: BatchRow) -> None: ...

    def queued(self) -> None: ...

    async def cancel(self, batch_id: str, by: str) -> None: ...


class BatchService:
    def __init__(
        self, ctx: DomainContext, messages: MessageService, executor: BatchDriver, files: FileService | None = None
    ) -> None:
        self.ctx = ctx
        self.messages = messages
        self.executor = executor
        # Where input files come from; without it only inline input is accepted.
        self.files = files
        if files is not None:
            files.refuse_deletion_while(self._input_of_active_batch)

    # -- create ---------------------------------------------------------------

    async def create(
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        *,
        inline_tasks: Sequence[Mapping[str, Any]] | None,
        input_file: str,
        options: BatchOptions,
        write: WriteOptions,
        batch_id: str = "",
    ) -> BatchView:
        limits = self.ctx.limits
        v = Violations()
        check_text(v, "batch.display_name", fields.get("display_name") or "", limits.max_display_name_chars)
        check_labels(v, "batch.labels", fields.get("labels") or {}, limits.max_labels)
        self._check_options(v, options)
        if batch_id and not names.ID_PATTERN.fullmatch(batch_id):
            v.add("batch_id", names.ID_RULE)
        if inline_tasks is None and not input_file:
            v.add("batch.input", "set inline_tasks or input_file")
        if input_file:
            problem = names.NamePattern.of("files").problem(input_file)
            if problem:
                v.add("batch.input_file", problem)
        v.raise_if_any()
        self.ctx.idempotency.validate(write.request_id)

        if inline_tasks is not None:
            drafts = self._check_inline(inline_tasks)
        else:
            drafts = await self._check_file(caller, input_file)
        async with self.ctx.store.read() as db:
            await self._check_references(db, caller, drafts, options)
            await self._check_session_quota(db, caller, drafts)

        batch_id = batch_id or names.new_id()
        now = self.ctx.clock()
        timeout = options.timeout or DEFAULT_TIMEOUT_SECONDS
        row = BatchRow(
            id=batch_id,
            owner=caller.id,
            display_name=fields.get("display_name") or "",
            state=BatchState.QUEUED,
            input_file=input_file,
            max_concurrency=options.max_concurrency or min(DEFAULT_CONCURRENCY, limits.max_batch_concurrency),
            max_attempts=options.max_attempts or 1,
            task_timeout_seconds=options.task_timeout,
            timeout_seconds=timeout,
            deadline=now + timedelta(seconds=timeout),
            write_output_file=int(options.write_output_file),
            output_file="",
            error_reason="",
            error_message="",
            labels=dict(fields.get("labels") or {}),
            request_id=write.request_id,
            create_time=now,
            update_time=now,
            revision=1,
            version=0,
            # Created here, so driven here: this process holds the lease from the first commit. An
            # API-only process drives nothing: the batch waits without an owner for a worker to claim it.
            lease_owner=self.executor.lease.owner if self.executor.executes else "",
            lease_expires=self.executor.lease.expiry(now) if self.executor.executes else None,
            fence=1 if self.executor.executes else 0,
        )
        counts = store.TaskCounts(by_status={int(TaskStatus.QUEUED): len(drafts)})
        if write.validate_only:
            return BatchView(row, counts)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, write.request_id, "CreateBatch", write.fingerprint)
            if replayed is not None:
                return await self._view_in(db, caller, replayed[0])
            if await store.batch_id_taken(db, batch_id):
                raise AlreadyExists(f"batch {BATCH.format(batch_id)!r} already exists", reason="ALREADY_EXISTS")
            db.add(row)
            await db.flush()
            await store.insert_tasks(db, [self._task_values(batch_id, d, now) for d in drafts])
            await record_batch(self.ctx, db, "batch.created", batch_id)
            self.ctx.idempotency.remember(db, caller, write.request_id, "CreateBatch", write.fingerprint, [BATCH.format(batch_id)])
        if self.executor.executes:
            self.executor.start(row)
        else:
            self.executor.queued()
        return BatchView(row, counts)

    def _check_options(self, v: Violations, options: BatchOptions) -> None:
        ceiling = self.ctx.limits.max_batch_concurrency
        if not 0 <= options.max_concurrency <= ceiling:
            v.add("batch.options.max_concurrency", f"must be between 1 and {ceiling} (0 means {DEFAULT_CONCURRENCY})")
        if not 0 <= options.timeout <= MAX_TIMEOUT_SECONDS:
            v.add("batch.options.timeout", f"must be between 0 and {MAX_TIMEOUT_SECONDS:g} s (7 days)")
        if not 0 <= options.task_timeout <= MAX_RUN_SECONDS:
            v.add("batch.options.task_timeout", f"must be between 0 and {MAX_RUN_SECONDS:g} s")
        if not 0 <= options.max_attempts <= MAX_ATTEMPTS:
            v.add("batch.options.max_attempts", f"must be between 1 and {MAX_ATTEMPTS} (0 means 1)")
        if options.write_output_file and self.files is None:
            v.add("batch.options.write_output_file", "this server has no file service to write an output file to")

    def _check_size(self, count: int, field_path: str) -> None:
        maximum = self.ctx.limits.max_batch_tasks
        if count > maximum:
            raise InvalidArgument(
                f"the batch has {count:,} tasks; the limit is {maximum:,}",
                reason="BATCH_TOO_LARGE",
                field_violations=[FieldViolation(field_path, f"holds {count:,} tasks; the limit is {maximum:,}")],
                metadata={"limit": str(maximum), "task_count": str(count)},
            )
        if count == 0:
            raise InvalidArgument.field(field_path, "must hold at least one task")

    def _check_inline(self, tasks: Sequence[Mapping[str, Any]]) -> list[_TaskDraft]:
        self._check_size(len(tasks), "batch.inline_tasks.tasks")
        v = Violations()
        drafts = [
            self._check_task(v, f"batch.inline_tasks.tasks[{i}]", i + 1, 0, task) for i, task in enumerate(tasks)
        ]
        self._check_custom_ids(v, drafts)
        _raise_violations(v)
        return drafts

    async def _check_file(self, caller: Principal, input_file: str) -> list[_TaskDraft]:
        if self.files is None:
            raise InvalidArgument.field("batch.input_file", "this server has no file service; give inline_tasks")
        row = await self.files.get(caller, input_file, "batch.input_file")
        if row.purpose != Purpose.BATCH_INPUT:
            raise InvalidArgument.field(
                "batch.input_file", f"is a file of purpose {Purpose(row.purpose).name}; a batch reads a BATCH_INPUT file"
            )
        if row.state != FileState.COMPLETED:
            raise FailedPrecondition(
                f"file {input_file!r} is {FileState(row.state).name}, not COMPLETED",
                reason="FILE_NOT_READY",
                metadata={"resource": input_file},
            )
        content = await self.files.read_content(caller, input_file)
        return await asyncio.to_thread(self._parse_jsonl, content)

    async def _input_of_active_batch(self, db: Transaction, file_id: str) -> str | None:
        """Why a file cannot be deleted: a batch that has not ended reads it."""
        batch_id = await store.active_batch_reading(db, f"files/{file_id}", ACTIVE_BATCH_STATES)
        return f"it is the input of {BATCH.format(batch_id)}, which has not ended" if batch_id else None

    def _parse_jsonl(self, content: bytes) -> list[_TaskDraft]:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument.field("batch.input_file", f"is not UTF-8 (byte {exc.start})") from None
        lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
        self._check_size(len(lines), "batch.input_file")
        v = Violations()
        drafts: list[_TaskDraft] = []
        for index, (number, line) in enumerate(lines, start=1):
            path = f"lines[{number}]"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                v.add(path, f"is not JSON (column {exc.colno})")
                continue
            except RecursionError:
                v.add(path, "nests objects and lists too deeply")
                continue
            if not isinstance(value, dict):
                v.add(path, "must be a JSON object (a BatchTaskInput)")
                continue
            try:
                message = json_format.ParseDict(value, batch_pb2.BatchTaskInput())
            except json_format.ParseError:
                # protobuf's words name its own classes and lists; the caller gets the field and ours.
                where, problem = json_values.proto_json_problem(value, batch_pb2.BatchTaskInput.DESCRIPTOR) or (
                    "",
                    "is not a valid BatchTaskInput",
                )
                v.add(f"{path}.{where}" if where else path, problem)
                continue
            try:
                fields = task_input_fields(message, path)
            except InvalidArgument as exc:
                v.items.extend(exc.field_violations)
                continue
            drafts.append(self._check_task(v, path, index, number, fields))
        self._check_custom_ids(v, drafts)
        _raise_violations(v)
        return drafts

    def _check_task(self, v: Violations, path: str, index: int, line_number: int, task: Mapping[str, Any]) -> _TaskDraft:
        custom_id = task.get("custom_id") or ""
        if len(custom_id) > MAX_CUSTOM_ID_CHARS:
            v.add(f"{path}.custom_id", f"is longer than {MAX_CUSTOM_ID_CHARS} characters")
        agent, session = task.get("agent") or "", task.get("session") or ""
        agent_id = session_id = crew_id = ""
        crew = task.get("crew") or ""
        if crew:
            if agent or session:
                v.add(f"{path}.crew", "a task executes a crew or an agent: set crew, or agent and session, not both")
            elif problem := names.CREW.problem(crew):
                v.add(f"{path}.crew", problem)
            else:
                crew_id = crew.split("/")[1]
        elif not agent and not session:
            v.add(f"{path}.agent", "is required unless session (or crew) is set")
        if agent:
            problem = names.AGENT.problem(agent)
            if problem:
                v.add(f"{path}.agent", problem)
            else:
                agent_id = agent.split("/")[1]
        if session:
            problem = names.SESSION.problem(session)
            if problem:
                v.add(f"{path}.session", problem)
            else:
                session_id = session.split("/")[1]
        text, parts = task.get("text") or "", list(task.get("input") or [])
        if text and parts:
            v.add(f"{path}.text", "set exactly one of text and input, not both")
        elif not text and not parts:
            v.add(f"{path}.text", "set exactly one of text and input")
        elif text:
            parts = [{"text": text}]
            size = len(text.encode())
            if size > self.ctx.limits.max_message_text_bytes:
                v.add(f"{path}.text", f"is {size:,} bytes; the limit is {self.ctx.limits.max_message_text_bytes:,}")
        else:
            self.messages.validate_content(v, parts, f"{path}.input")
        return _TaskDraft(path, index, line_number, custom_id or str(index), agent_id, session_id, parts, crew_id)

    @staticmethod
    def _check_custom_ids(v: Violations, drafts: Sequence[_TaskDraft]) -> None:
        first: dict[str, str] = {}
        for draft in drafts:
            if draft.custom_id in first:
                v.add(f"{draft.path}.custom_id", f"{draft.custom_id!r} is also the custom_id of {first[draft.custom_id]}")
            else:
                first[draft.custom_id] = draft.path

    async def _check_references(
        self, db: Transaction, caller: Principal, drafts: Sequence[_TaskDraft], options: BatchOptions
    ) -> None:
        """Agents and sessions must exist, be the caller's and agree; each is looked up once."""
        owner = None if caller.is_admin else caller.id
        now = self.ctx.clock()
        sessions: dict[str, Any] = {}
        for session_id in {d.session_id for d in drafts if d.session_id}:
            sessions[session_id] = await repo.get_session(db, session_id, owner, now)
        agents: dict[str, Any] = {}
        for agent_id in {d.agent_id for d in drafts if d.agent_id} | {s.agent_id for s in sessions.values() if s}:
            agents[agent_id] = await repo.get_agent(db, agent_id, owner)
        v = Violations()
        crews = {crew_id: await get_crew_row(db, crew_id, owner) for crew_id in {d.crew_id for d in drafts if d.crew_id}}
        for draft in drafts:
            if draft.crew_id:
                if crews[draft.crew_id] is None:
                    v.add(f"{draft.path}.crew", f"{names.CREW.format(draft.crew_id)!r} does not exist")
                continue
            if draft.session_id:
                session = sessions[draft.session_id]
                if session is None:
                    v.add(f"{draft.path}.session", f"{names.SESSION.format(draft.session_id)!r} does not exist")
                    continue
                if draft.agent_id and draft.agent_id != session.agent_id:
                    v.add(
                        f"{draft.path}.agent",
                        f"the session belongs to {names.AGENT.format(session.agent_id)!r}, not to this agent",
                    )
                    continue
                draft.agent_id = session.agent_id
            agent = agents.get(draft.agent_id)
            if agent is None:
                v.add(f"{draft.path}.agent", f"{names.AGENT.format(draft.agent_id)!r} does not exist")
            elif agent.state == AgentState.DISABLED:
                v.add(f"{draft.path}.agent", f"{names.AGENT.format(agent.id)!r} is disabled and accepts no runs")
            elif options.task_timeout and (agent.limits or {}).get("max_run_duration") and options.task_timeout > agent.limits["max_run_duration"]:
                v.add(
                    "batch.options.task_timeout",
                    f"is {options.task_timeout:g} s, above the run limit of {names.AGENT.format(agent.id)!r} "
                    f"({agent.limits['max_run_duration']:g} s)",
                )
        _raise_violations(v)

    async def _check_session_quota(self, db: Transaction, caller: Principal, drafts: Sequence[_TaskDraft]) -> None:
        """Tasks without a session each get one when they start: they must fit in the owner's session limit now."""
        needed = sum(1 for d in drafts if not d.session_id and not d.crew_id)
        if not needed:
            return
        existing = await repo.count_sessions_of_owner(db, caller.id, self.ctx.clock())
        cap = self.ctx.limits.max_sessions_per_owner
        if existing + needed > cap:
            raise ResourceExhausted(
                f"the caller has {existing} session(s); the batch's {needed} task(s) without a session would pass "
                f"the limit of {cap}",
                reason="SESSION_QUOTA_EXCEEDED",
                quota_violations=[QuotaViolation(f"principal:{caller.id}", f"at most {cap} sessions per owner")],
                metadata={"limit": str(cap), "current": str(existing)},
            )

    @staticmethod
    def _task_values(batch_id: str, draft: _TaskDraft, now: Any) -> dict[str, Any]:
        return {
            "batch_id": batch_id,
            "index": draft.index,
            "custom_id": draft.custom_id,
            "line_number": draft.line_number,
            "agent_id": draft.agent_id,
            # A task without a session gets one of its own, created when it first starts (a crew's runs
            # make their own).
            "session_id": "" if draft.crew_id else draft.session_id or names.new_id(),
            "own_session": 0 if draft.session_id or draft.crew_id else 1,
            "crew_id": draft.crew_id,
            "input": draft.input,
            "status": int(TaskStatus.QUEUED),
            "run_id": "",
            "output": {},
            "error_reason": "",
            "error_message": "",
            "attempts": 0,
            "interruptions": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "start_time": None,
            "end_time": None,
            "duration_ms": None,
            "update_time": now,
            "version": 0,
        }

    # -- read -----------------------------------------------------------------

    async def get(self, caller: Principal, name: str, field_name: str = "name") -> BatchView:
        BATCH.parse(name, field_name)
        async with self.ctx.store.read() as db:
            return await self._view_in(db, caller, name)

    async def _row_in(self, db: Transaction, caller: Principal, name: str) -> BatchRow:
        (batch_id,) = BATCH.parse(name, "name")
        row = await store.get_batch(db, batch_id, None if caller.is_admin else caller.id)
        if row is None:
            raise not_found(name)
        return row

    async def _view_in(self, db: Transaction, caller: Principal, name: str) -> BatchView:
        row = await self._row_in(db, caller, name)
        counts = await store.task_counts(db, [row.id])
        return BatchView(row, counts[row.id])

    async def list(self, caller: Principal, query: ListQuery) -> tuple[list[BatchView], Page]:
        base = select(BatchRow)
        if not caller.is_admin:
            base = base.where(BatchRow.owner == caller.id)
        page = await self.ctx.list(
            caller,
            "batches",
            base,
            store.BATCH_LISTING,
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
            default_order="create_time desc",
        )
        async with self.ctx.store.read() as db:
            counts = await store.task_counts(db, [r.id for r in page.items])
        return [BatchView(r, counts[r.id]) for r in page.items], page

    async def list_tasks(self, caller: Principal, parent: str, query: ListQuery) -> Page:
        (batch_id,) = BATCH.parse(parent, "parent")
        async with self.ctx.store.read() as db:
            await self._row_in(db, caller, parent)
        return await self.ctx.list(
            caller,
            "batch_tasks",
            select(BatchTaskRow).where(BatchTaskRow.batch_id == batch_id),
            store.TASK_LISTING,
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
            default_order="index",
            scope=(batch_id,),
        )

    async def get_task(self, caller: Principal, name: str) -> BatchTaskRow:
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "batches" or parts[2] != "tasks" or not parts[3].isdigit():
            raise InvalidArgument.field("name", f"{name[:300]!r} is not a task name of the form batches/{{batch}}/tasks/{{task}}")
        async with self.ctx.store.read() as db:
            await self._row_in(db, caller, f"batches/{parts[1]}")
            row = await store.get_task(db, parts[1], int(parts[3]))
        if row is None:
            raise NotFound(f"batch task {name!r} does not exist", reason="BATCH_TASK_NOT_FOUND", metadata={"resource": name})
        return row

    # -- cancel ---------------------------------------------------------------

    async def cancel(self, caller: Principal, name: str, options: WriteOptions) -> BatchView:
        self.ctx.idempotency.validate(options.request_id)
        if options.request_id:
            async with self.ctx.store.read() as db:
                replayed = await self.ctx.idempotency.replay(db, caller, options.request_id, "CancelBatch", options.fingerprint)
            if replayed is not None:
                return await self.get(caller, replayed[0])
        BATCH.parse(name, "name")
        async with self.ctx.store.write() as db:
            row = await self._row_in(db, caller, name)
            check_etag("batch", row.id, row.revision, row.incarnation, options.etag)
            moved = await store.set_batch_state(
                self.ctx.store, db, row.id, self.ctx.clock(), (BatchState.QUEUED, BatchState.RUNNING), state=int(BatchState.CANCELLING)
            )
            if moved is None and row.state != BatchState.CANCELLING:
                raise FailedPrecondition(
                    f"batch {name!r} has already ended ({BatchState(row.state).name})",
                    reason="BATCH_NOT_ACTIVE",
                    metadata={"resource": name, "state": BatchState(row.state).name},
                )
            if moved is not None:
                await record_batch(self.ctx, db, "batch.updated", row.id)
            self.ctx.idempotency.remember(db, caller, options.request_id, "CancelBatch", options.fingerprint, [name])
        await self.executor.cancel(row.id, caller.id)
        return await self.get(caller, name)

    # -- watch ----------------------------------------------------------------

    async def watch(
        self, caller: Principal, name: str, *, include_tasks: bool, min_interval: float
    ) -> AsyncIterator[WatchUpdate]:
        if min_interval and not MIN_WATCH_INTERVAL <= min_interval <= MAX_WATCH_INTERVAL:
            raise InvalidArgument.field("min_interval", "must be between 100 milliseconds and 1 minute (0 means 1 second)")
        first = await self.get(caller, name)
        return self._follow(caller, name, first, include_tasks, min_interval or DEFAULT_WATCH_INTERVAL)

    async def _follow(
        self, caller: Principal, name: str, view: BatchView, include_tasks: bool, interval: float
    ) -> AsyncIterator[WatchUpdate]:
        loop = asyncio.get_running_loop()
        batch_id = view.row.id
        seen_version: int | None = None
        while True:
            changed = self.executor.changes.signal(batch_id)
            sent_at = loop.time()
            if seen_version is not None:
                view = await self.get(caller, name)
            if view.row.version != seen_version:
                tasks: list[BatchTaskRow] = []
                if include_tasks:
                    async with self.ctx.store.read() as db:
                        if seen_version is None:
                            tasks = await store.started_tasks(db, batch_id, MAX_CHANGED_TASKS)
                        else:
                            tasks = await store.tasks_changed_after(db, batch_id, seen_version, MAX_CHANGED_TASKS)
                # More changes than one message carries: the rest follow, from the last version sent.
                truncated = len(tasks) == MAX_CHANGED_TASKS
                seen_version = tasks[-1].version if truncated else view.row.version
                yield WatchUpdate(view, tasks)
                if view.row.state not in ACTIVE_BATCH_STATES and not truncated:
                    return
                if truncated:
                    await asyncio.sleep(interval)
                    continue
            # Wait for a change, at most a poll interval (another replica may be the one executing it).
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(interval, DEFAULT_WATCH_INTERVAL))
            except TimeoutError:
                pass
            await asyncio.sleep(max(0.0, sent_at + interval - loop.time()))


def _raise_violations(v: Violations) -> None:
    """INVALID_ARGUMENT with the first violations (so the status fits in metadata) and the total count."""
    if not v.items:
        return
    total = len(v.items)
    first = v.items[0]
    more = f" (and {total - 1} more)" if total > 1 else ""
    raise InvalidArgument(
        f"the batch input has invalid tasks: {first.field}: {first.description}{more}",
        field_violations=v.items[:MAX_REPORTED_VIOLATIONS],
        metadata={"violation_count": str(total)},
    )


def task_input_fields(task: batch_pb2.BatchTaskInput, field: str) -> dict[str, Any]:
    """A BatchTaskInput (inline, or one line of a file) in domain form; `field` names it in errors."""
    return {
        "custom_id": task.custom_id,
        "agent": task.agent,
        "session": task.session,
        "crew": task.crew,
        "text": task.text,
        "input": [convert.part_to_dict(p, f"{field}.input[{i}]") for i, p in enumerate(task.input)],
    }
