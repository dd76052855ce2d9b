"""The run loop: model -> tool calls -> tool results -> model, until a final answer or a limit.

One asyncio task per run. The task owns the run while it is active and this
process holds the run's lease: it is the only writer of the run's events (so
`seq` needs no coordination) and of its row, through the run's recorder.
Streams observe through the event log and never drive the run. When the
recorder finds the lease taken by another process, the task stops here
without writing anything more.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, Mapping, Protocol, Sequence

from google.protobuf import json_format, struct_pb2

from runwire.server.background import spawn
from runwire.server.config import RunSettings
from runwire.server.core import metrics, names
from runwire.server.core.clock import utc_now
from runwire.server.core.errors import ErrorReasonName
from runwire.server.core.mcp import HANDOVER, agent_tool_call_name
from runwire.server.core.paging import SearchQuery
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import MessageRole as Role
from runwire.server.core.statuses import RunStatus
from runwire.server.engine.endpoints import ProviderEndpoints
from runwire.server.engine.events import RunEventLog, RunRecorder
from runwire.server.engine.failures import tool_failure
from runwire.server.engine.providers import (
    REJECTED,
    FinishChunk,
    ModelMessage,
    ModelRequest,
    Provider,
    ProviderError,
    QuestionChunk,
    TextChunk,
    ToolCallRequest,
    ToolSpec,
    UsageChunk,
)
from runwire.server.engine.tools import ToolContext, ToolError, ToolRegistry
from runwire.server.store import messages as message_writer
from runwire.server.store import repositories as repo
from runwire.server.store import work_queue
from runwire.server.store.leases import LeaseLost
from runwire.server.store.models import MessageRow
from runwire.server.store.records import MessageValues
from runwire.server.store.store import Store
from runwire.server.wire import convert, json_values
from runwire.v1 import common_pb2, run_pb2

log = logging.getLogger("runwire.runs")

# A tool call's arguments and a tool's result, as JSON: several fit in one run event and one GetRun
# answer well below the default 8 MiB message limit.
MAX_TOOL_ARGUMENTS_BYTES = 256 * 1024
MAX_TOOL_RESULT_BYTES = 1024 * 1024

_FINISH = {
    "stop": run_pb2.ModelCall.FINISH_REASON_STOP,
    "tool_calls": run_pb2.ModelCall.FINISH_REASON_TOOL_CALLS,
    "length": run_pb2.ModelCall.FINISH_REASON_LENGTH,
    "content_filter": run_pb2.ModelCall.FINISH_REASON_CONTENT_FILTER,
}
_MODEL_ROLES = {Role.USER: "user", Role.ASSISTANT: "assistant", Role.SYSTEM: "system"}


class MessageHit(Protocol):
    @property
    def message(self) -> MessageRow: ...
    @property
    def snippet(self) -> str: ...


class MessageSearch(Protocol):
    """What the built-in session search needs of the messages (the domain's MessageService)."""

    async def search(self, caller: Principal, parent: str, search: SearchQuery) -> tuple[Sequence[MessageHit], str]: ...


# The verb of the `run.*` resource event of each final status.
_RUN_CHANGE = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.TIMED_OUT: "timed_out",
}


# How often a run whose slot is held by a run of another process looks again.
ADMISSION_RETRY_SECONDS = 0.25


class RunFailure(Exception):
    """A run fails with `reason` (its Failure's reason, an ErrorReason name)."""

    def __init__(self, reason: ErrorReasonName, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class TreePosition:
    """Where a run sits in its run tree (domain/crew_runs.py): the top, the levels below it, the crew task
    it serves, and how deep the tree may go."""

    root_run_id: str = ""
    depth: int = 0
    crew_task: str = ""
    crew_member: str = ""
    max_depth: int = 4
    # A handover's run goes on in its parent's session while the parent waits for it: no session slot.
    shares_session: bool = False


class TakenOverTree(Protocol):
    """What a crew run taken over from another process had done, as far as the runner needs it."""

    @property
    def elapsed_seconds(self) -> float: ...
    @property
    def waiting(self) -> Mapping[str, object]: ...


# (result, is error, state) of another agent called as a tool.
DelegatedResult = tuple[dict[str, str], bool, run_pb2.ToolExecution.State.ValueType]


class RunTree(Protocol):
    """Runs that start other runs (domain/crew_runs.py): a crew run, another agent called as a tool, a
    handover. The wiring gives one to the Runner (`Runner.use_run_tree`); without one, such runs fail
    with a clear reason and agent tools answer an error."""

    async def drive_crew(self, active: ActiveRun) -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
        """Execute the crew run `active` (plan.crew) to its final answer."""
        ...

    async def call_agent(self, active: ActiveRun, agent_id: str, text: str) -> DelegatedResult:
        """Another agent called as a tool by `active`, as a child run whose answer is the result."""
        ...

    async def hand_over(self, active: ActiveRun, agent_id: str, text: str) -> run_pb2.RunOutput:
        """The conversation of `active` handed over to another agent: that child run's output."""
        ...


# The parameters of another agent offered as a tool.
AGENT_TOOL_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "What to ask or hand over"}},
    "required": ["input"],
}


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs, resolved when it was created."""

    run_id: str
    owner: str
    session_id: str
    agent_id: str
    instructions: str
    model: Mapping[str, Any]
    tools: tuple[Mapping[str, Any], ...]
    max_steps: int
    max_duration: float
    tool_timeout: float
    input_timeout: float
    max_concurrent_runs_of_agent: int
    initial_seq: int
    input: tuple[Mapping[str, Any], ...] = ()
    # The deadline (time.time() seconds) of the streaming call that started the run: it bounds the model
    # calls made while that caller waits (see ActiveRun.caller_deadline). None for runs started by CreateRun,
    # which outlive their call by design.
    deadline: float | None = None
    # When the run was created (time.time() seconds), for a run claimed from the queue by another
    # process or later: its queue duration counts from then. None: from the launch here.
    created_at: float | None = None
    # A crew run: the crew as it was when the run was created (see domain/crew_runs.py). It calls no
    # model itself: the runner's RunTree (`drive_crew`) plans and starts its child runs.
    crew: Mapping[str, Any] | None = None
    # A crew run another process started, taken over here: what its log says it had done.
    crew_resumed: TakenOverTree | None = None
    tree: TreePosition = TreePosition()

    @classmethod
    def of_ended(cls, run_id: str, owner: str, session_id: str, agent_id: str, last_seq: int) -> RunPlan:
        """Just enough of a plan to record what a run that no longer executes left behind."""
        return cls(
            run_id=run_id,
            owner=owner,
            session_id=session_id,
            agent_id=agent_id,
            instructions="",
            model={},
            tools=(),
            max_steps=0,
            max_duration=0.0,
            tool_timeout=0.0,
            input_timeout=0.0,
            max_concurrent_runs_of_agent=0,
            initial_seq=last_seq,
        )

    @property
    def name(self) -> str:
        return f"runs/{self.run_id}"

    @property
    def session(self) -> str:
        return names.SESSION.format(self.session_id)

    @property
    def provider(self) -> str:
        return str(self.model.get("provider") or "builtin")


@dataclass(frozen=True)
class RestoredWait:
    """A run a previous process left waiting for input, as the database holds it, so a new one can resume it."""

    request: run_pb2.InputRequest
    steps: tuple[run_pb2.RunStep, ...]
    input_tokens: int
    output_tokens: int
    tool_calls: int
    # Seconds the run had been going (from its start time) and the time to its first token, if any.
    elapsed_seconds: float
    time_to_first_token: float | None
    # For an approval: the step whose tool calls were running (rebuilt from the run's messages and events)
    # and its calls still without a result, the pending one first.
    open_step: run_pb2.RunStep | None = None
    calls_without_result: tuple[ToolCallRequest, ...] = ()


@dataclass(frozen=True)
class TakenOver:
    """What a run cut off by its owner's death left, as the database holds it, for the process that ends it."""

    text: str
    calls_without_result: tuple[common_pb2.ToolCall, ...]
    input_tokens: int
    output_tokens: int
    tool_calls: int
    time_to_first_token: float | None
    # Seconds from its start to now, or None when it never started.
    elapsed_seconds: float | None


@dataclass
class Answer:
    approval: run_pb2.Approval | None
    text: str
    answered_by: str


@dataclass
class ActiveRun:
    plan: RunPlan
    seq: int
    # The run's one writer here, holding its lease.
    recorder: RunRecorder
    status: RunStatus = RunStatus.QUEUED
    task: asyncio.Task[None] | None = None
    # Whether the task has begun its lifecycle. A task cancelled before its first step never runs its
    # coroutine (no except, no finally): a cancel that early is left for the lifecycle to act on.
    lifecycle_started: bool = False
    pending: run_pb2.InputRequest | None = None
    answer: asyncio.Future[Answer] | None = None
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    answered: dict[str, Answer] = field(default_factory=dict)
    cancel_reason: str = ""
    # The agent owner's key for its own base_url (from `model.api_key_secret`), read when the run starts.
    model_api_key: str = field(default="", repr=False)
    cancelled_by: str = ""
    started: float = 0.0
    time_to_first_token: float | None = None
    steps: list[run_pb2.RunStep] = field(default_factory=list)
    # The steps column's JSON of the first len(step_dicts) steps: a completed step does not change.
    step_dicts: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    # What the session would lose if the run stopped now: streamed text not yet saved, calls without results.
    unsaved_text: list[str] = field(default_factory=list)
    calls_without_result: list[common_pb2.ToolCall] = field(default_factory=list)
    # The step in progress, recorded as interrupted if the run stops before it completes.
    current_step: run_pb2.RunStep | None = None
    current_step_started: float = 0.0
    # Set once the run records how it ended: from then on nothing may end it another way.
    finishing: bool = False
    # Set when a shutdown leaves the run waiting for input: it stops here and the next start resumes it.
    detached: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    # The conversation the model sees: read when the run starts, then extended by the run itself.
    history: list[ModelMessage] = field(default_factory=list)
    # The starting caller's deadline while that caller still waits for the run; None once the run has
    # paused for a person or the caller has gone, when only the run's own limits govern it.
    caller_deadline: float | None = None
    # The timer of the model call the caller's deadline bounds right now, so releasing the caller stops it.
    caller_deadline_timer: asyncio.Timeout | None = None
    # (agent id, input) once the model handed the conversation over: the step's end starts that agent's run.
    handover: tuple[str, str] | None = None
    # Child run id -> the input request it waits for: while any does, this run waits too (domain/crew_runs.py).
    children_waiting: dict[str, run_pb2.InputRequest] = field(default_factory=dict)


class Runner:
    def __init__(
        self,
        store: Store,
        event_log: RunEventLog,
        messages: MessageSearch,
        providers: Mapping[str, Provider],
        tools: ToolRegistry,
        settings: RunSettings,
        clock: Callable[[], Any] = utc_now,
    ) -> None:
        self.store = store
        self.log = event_log
        self.messages = messages
        self.providers = providers
        self.tools = tools
        self.settings = settings
        self.clock = clock
        self.active: dict[str, ActiveRun] = {}
        # Active runs per owner, kept with `active`: the per-caller limit is checked on every run start.
        self._active_per_owner: collections.Counter[str] = collections.Counter()
        self._global = asyncio.Semaphore(settings.max_concurrent_runs)
        self._per_provider: dict[str, asyncio.Semaphore] = {}
        self._per_agent: dict[str, asyncio.Semaphore] = {}
        self._session_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        # (owner, agent id) -> the owner's PROFILE memories the agent is given at the start of a run.
        self.profile_memories: Callable[[str, str], Awaitable[list[str]]] | None = None
        # (owner, `secrets/...`) -> the value; raises RunFailure when the secret cannot be used.
        self.secret_value: Callable[[str, str], Awaitable[str]] | None = None
        # The admin-configured endpoints, checked again at each start: the configuration may have changed.
        self.endpoints: ProviderEndpoints | None = None
        # Called when a run here ends (room for one more): the work queue claims queued runs at once.
        self.on_room: Callable[[], None] | None = None
        # Set when a run here ends: runs waiting for a slot held elsewhere look again at once.
        self._slot_freed = asyncio.Event()
        # Crew runs and runs that call or hand over to other agents: given by the wiring (use_run_tree).
        self._run_tree: RunTree | None = None

    def use_run_tree(self, run_tree: RunTree) -> None:
        """Give the runner what executes crew runs and child runs of other agents (once, at wiring)."""
        self._run_tree = run_tree

    def _tree(self) -> RunTree:
        if self._run_tree is None:
            raise RunFailure("INTERNAL", "this server cannot run crews or agents as tools: no run tree is configured")
        return self._run_tree

    # -- control --------------------------------------------------------------

    def launch(self, plan: RunPlan, recorder: RunRecorder) -> ActiveRun:
        active = ActiveRun(plan=plan, seq=plan.initial_seq, recorder=recorder, caller_deadline=plan.deadline)
        self._watch_lease(active)
        self._add_active(active)
        active.task = spawn(self._lifecycle(active), name=f"run-{plan.run_id}")
        return active

    def restore(self, plan: RunPlan, waiting: RestoredWait, recorder: RunRecorder) -> ActiveRun:
        """Take over a run that waits for input (its previous owner stopped or died): it waits on, then
        carries on when answered."""
        active = ActiveRun(plan=plan, seq=plan.initial_seq, recorder=recorder, status=RunStatus.REQUIRES_INPUT)
        self._watch_lease(active)
        active.steps = [copy_step(s) for s in waiting.steps]
        active.input_tokens, active.output_tokens = waiting.input_tokens, waiting.output_tokens
        active.tool_calls = waiting.tool_calls
        active.time_to_first_token = waiting.time_to_first_token
        active.started = time.monotonic() - waiting.elapsed_seconds
        active.pending = waiting.request
        active.answer = asyncio.get_running_loop().create_future()
        self._add_active(active)
        active.task = spawn(self._lifecycle(active, waiting), name=f"run-{plan.run_id}")
        return active

    def active_runs_of(self, owner: str) -> int:
        return self._active_per_owner[owner]

    def room(self) -> int:
        """How many more runs this process takes now: its share of the work (max_concurrent_runs)."""
        return max(self.settings.max_concurrent_runs - len(self.active), 0)

    def _add_active(self, active: ActiveRun) -> None:
        if active.plan.run_id not in self.active:
            self._active_per_owner[active.plan.owner] += 1
        self.active[active.plan.run_id] = active

    def _remove_active(self, active: ActiveRun) -> None:
        if self.active.pop(active.plan.run_id, None) is not None:
            owner = active.plan.owner
            self._active_per_owner[owner] -= 1
            if self._active_per_owner[owner] <= 0:
                del self._active_per_owner[owner]
            self._slot_freed.set()
            if self.on_room is not None:
                self.on_room()

    def _watch_lease(self, active: ActiveRun) -> None:
        active.recorder.on_lost = lambda: self._lost(active)

    def _lost(self, active: ActiveRun) -> None:
        """Another process owns the run now: stop it here (no more model calls, tools or writes)."""
        active.detached = True
        if active.task is not None and not active.task.done() and active.task is not asyncio.current_task():
            active.task.cancel()

    async def end_taken_over(
        self,
        plan: RunPlan,
        recorder: RunRecorder,
        taken: TakenOver,
        reason: str,
        message: str,
        cancelled: tuple[str, str] | None = None,
        crew_plan: run_pb2.CrewPlanUpdated | None = None,
    ) -> None:
        """End a run whose owner died mid-run, now that this process holds its lease: the text it had
        streamed and committed becomes an interrupted assistant message and its tool calls without a
        result get an error result, the way a cancelled run keeps them (the same code writes them);
        then it fails with `reason`, or, when a cancel of it was recorded (`cancelled`: reason, by), it ends
        CANCELLED as that request asked. A crew run records its last plan (`crew_plan`) first. Returns once
        that is durable."""
        active = ActiveRun(plan=plan, seq=plan.initial_seq, recorder=recorder, status=RunStatus.RUNNING)
        active.input_tokens, active.output_tokens = taken.input_tokens, taken.output_tokens
        active.tool_calls = taken.tool_calls
        active.time_to_first_token = taken.time_to_first_token
        if taken.elapsed_seconds is not None:
            active.started = time.monotonic() - taken.elapsed_seconds
        if taken.text:
            active.unsaved_text.append(taken.text)
        active.calls_without_result = list(taken.calls_without_result)
        await self._save_interrupted(active)
        if crew_plan is not None:
            await self.record(active, [self.event(active, crew_plan_updated=crew_plan)], crew_plan=_to_json(crew_plan.plan))
        if cancelled is not None:
            active.cancel_reason, active.cancelled_by = cancelled
            await self._finish_stopped(active)
            return
        await self._finish(
            active,
            RunStatus.FAILED,
            run_failed=run_pb2.RunFailed(error=common_pb2.Failure(reason=reason, message=message)),
            error=(reason, message),
        )

    def request_cancel(self, run_id: str, reason: str, by: str) -> ActiveRun | None:
        active = self.active.get(run_id)
        if active is None or active.task is None or active.task.done():
            return None
        if active.finishing:
            return active  # it is ending another way; a run ends once
        if not active.cancel_reason:
            active.cancel_reason, active.cancelled_by = reason, by
            if active.lifecycle_started:
                active.task.cancel()
        return active

    def release_caller(self, run_id: str) -> None:
        """The caller that started the run has gone before its deadline: from now on only the run's own
        limits bound it. A deadline that has passed already stays in force for the model call it cut off."""
        active = self.active.get(run_id)
        if active is not None and active.caller_deadline is not None and time.time() < active.caller_deadline:
            _drop_caller_deadline(active)

    async def answer(self, run_id: str, input_request_id: str, answer: Answer) -> str:
        """Deliver a person's answer and wait until the run has recorded it.

        Returns "accepted", or why not: "answered" (another answer came first) or
        "expired" (the request timed out and the run is failing).
        """
        active = self.active.get(run_id)
        assert active is not None and active.answer is not None and active.pending is not None
        assert active.pending.id == input_request_id
        if active.answer.cancelled():
            return "expired"
        if active.answer.done():
            return "answered"
        active.resumed.clear()
        active.answer.set_result(answer)
        waiters = {asyncio.ensure_future(active.resumed.wait()), asyncio.ensure_future(active.finished.wait())}
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        return "accepted"

    async def shutdown(self, grace: float) -> None:
        """Give active runs `grace` seconds, then stop them; each records why it ended."""
        for active in list(self.active.values()):
            self._detach_if_waiting(active)
        tasks = [a.task for a in self.active.values() if a.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for active in list(self.active.values()):
            if not self._detach_if_waiting(active):
                self.request_cancel(active.plan.run_id, "the server shut down", "server")
        if pending:
            await asyncio.wait(pending, timeout=5)

    @staticmethod
    def _detach_if_waiting(active: ActiveRun) -> bool:
        """A run waiting for a person stays waiting in the database; the next start resumes it. So does a
        run whose child waits for one (a crew run, or an agent's delegation)."""
        own = active.pending is not None and active.answer is not None and not active.answer.done()
        waiting = own or bool(active.children_waiting)
        if not waiting or active.finishing or active.task is None or active.task.done():
            return False
        active.detached = True
        active.task.cancel()
        return True

    # -- lifecycle ------------------------------------------------------------

    async def _lifecycle(self, active: ActiveRun, restored: RestoredWait | None = None) -> None:
        queued_at = time.monotonic()
        try:
            active.lifecycle_started = True
            if active.cancel_reason:  # cancelled before this task first ran
                raise asyncio.CancelledError
            async with AsyncExitStack() as slots:
                if active.plan.crew is None:  # a crew run holds no slot: its children do
                    await self._acquire_slots(active, slots)
                if restored is None:
                    if active.plan.crew is None:
                        await self._admit(active)
                    queued = (
                        time.time() - active.plan.created_at
                        if active.plan.created_at is not None
                        else time.monotonic() - queued_at
                    )
                    await self._execute(active, max(queued, 0.0))
                else:
                    await self._resume(active, restored)
        except asyncio.CancelledError:
            # Cancelled while still queued.
            if not active.finished.is_set() and not active.detached:
                await self._finish_stopped(active)
        except LeaseLost:
            active.detached = True  # the recorder has logged it; the new owner ends or resumes the run
        except Exception:  # a bug must not leave the run active forever
            log.exception("run %s crashed", active.plan.run_id)
            if not active.finished.is_set() and not active.recorder.lost:
                await self._finish(
                    active,
                    RunStatus.FAILED,
                    run_failed=run_pb2.RunFailed(error=common_pb2.Failure(reason="INTERNAL", message="internal error")),
                    error=("INTERNAL", "internal error"),
                )
        finally:
            self._remove_active(active)
            active.finished.set()
            if not active.detached:
                # Ended (its recorder is gone already), or stopped here without ending: its lease lapses,
                # and a claim pass ends it. A run detached waiting for a person keeps its lease till shutdown.
                self.log.release(active.recorder)

    async def _acquire_slots(self, active: ActiveRun, stack: AsyncExitStack) -> None:
        plan = active.plan
        if not plan.tree.shares_session:
            lock, users = self._session_locks.get(plan.session_id, (asyncio.Lock(), 0))
            self._session_locks[plan.session_id] = (lock, users + 1)
            stack.callback(self._release_session, plan.session_id)
            await stack.enter_async_context(lock)
        await stack.enter_async_context(self._global)
        provider_slots = self._per_provider.setdefault(
            plan.provider, asyncio.Semaphore(self.settings.max_concurrent_runs_per_provider)
        )
        await stack.enter_async_context(provider_slots)
        if plan.max_concurrent_runs_of_agent:
            agent_slots = self._per_agent.setdefault(
                plan.agent_id, asyncio.Semaphore(plan.max_concurrent_runs_of_agent)
            )
            await stack.enter_async_context(agent_slots)

    async def _admit(self, active: ActiveRun) -> None:
        """The run's slot counted across every process (store/work_queue.py): its session runs nothing
        else anywhere, its provider and agent are under their limits. Until then it waits QUEUED, looking
        again when a run here ends, or every ADMISSION_RETRY_SECONDS for runs elsewhere."""
        while True:
            self._slot_freed.clear()  # before looking: a run that ends meanwhile is not missed
            if await self._try_admit(active):
                return
            try:
                await asyncio.wait_for(self._slot_freed.wait(), ADMISSION_RETRY_SECONDS)
            except TimeoutError:
                pass

    async def _try_admit(self, active: ActiveRun) -> bool:
        plan = active.plan
        try:
            return await work_queue.admit_run(
                self.store,
                plan.run_id,
                active.recorder.fence,
                # A handover's run shares its waiting parent's session: its own key, never busy.
                session_id=f"{plan.session_id}/handover/{plan.run_id}" if plan.tree.shares_session else plan.session_id,
                provider=plan.provider,
                provider_limit=self.settings.max_concurrent_runs_per_provider,
                agent_id=plan.agent_id,
                agent_limit=plan.max_concurrent_runs_of_agent,
                now=self.clock(),
            )
        except LeaseLost:
            active.recorder.lose()  # taken by another process, or ended meanwhile: nothing more here
            raise

    def _release_session(self, session_id: str) -> None:
        lock, users = self._session_locks[session_id]
        if users <= 1:
            del self._session_locks[session_id]
        else:
            self._session_locks[session_id] = (lock, users - 1)

    async def _execute(self, active: ActiveRun, queued_seconds: float) -> None:
        plan = active.plan
        provider = self.providers.get(plan.provider)
        active.started = time.monotonic()
        active.status = RunStatus.RUNNING
        if plan.crew_resumed is not None:
            # Taken over: it started elsewhere, and goes on here within the time it has left.
            active.started -= plan.crew_resumed.elapsed_seconds
            active.status = RunStatus.REQUIRES_INPUT if plan.crew_resumed.waiting else RunStatus.RUNNING
            await self._run_to_end(
                active, lambda: self._tree().drive_crew(active), max(plan.max_duration - plan.crew_resumed.elapsed_seconds, 0.0)
            )
            return
        metrics.run_started()
        started = run_pb2.RunStarted(provider=plan.provider, model=str(plan.model.get("model") or ""))
        started.queue_duration.FromNanoseconds(int(queued_seconds * 1e9))
        await self._emit(
            active,
            self._event(active, run_started=started),
            {"status": RunStatus.RUNNING, "start_time": self.clock()},
            run_change="run.started",
        )

        async def work() -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
            if plan.crew is not None:
                return await self._tree().drive_crew(active)
            if provider is None:
                raise RunFailure("PROVIDER_ERROR", f"provider {plan.provider!r} is not configured on this server")
            await self._read_model_key(active)
            await self._append_input(active)
            return await self._loop(active, provider)

        await self._run_to_end(active, work, plan.max_duration)

    async def _resume(self, active: ActiveRun, waiting: RestoredWait) -> None:
        """Wait on for the answer a previous process was waiting for, then carry on as the run would have."""
        plan = active.plan
        provider = self.providers.get(plan.provider)

        async def work() -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
            if provider is None:
                raise RunFailure("PROVIDER_ERROR", f"provider {plan.provider!r} is not configured on this server")
            await self._read_model_key(active)
            await self._load_history(active)
            if waiting.open_step is None:  # a question, asked after its step completed
                answer = await self._wait_for_answer(active, waiting.request)
                await self._add_message(active, Role.USER, [{"text": answer.text}])
                return await self._loop(active, provider, first_step=len(active.steps))
            # As before the restart: the step is in progress and its calls lack results until they run.
            step = copy_step(waiting.open_step)
            active.current_step, active.current_step_started = step, time.monotonic()
            active.calls_without_result = [
                common_pb2.ToolCall(id=c.id, tool=c.name, arguments=_struct(c.arguments)) for c in waiting.calls_without_result
            ]
            answer = await self._wait_for_answer(active, waiting.request)
            for index, call in enumerate(waiting.calls_without_result):
                step.tool_calls.append(await self._run_tool(active, step.index, call, answer if index == 0 else None))
            active.tool_calls += len(step.tool_calls)
            await self._complete_step(active, step)
            return await self._loop(active, provider, first_step=step.index + 1)

        await self._run_to_end(active, work, max(plan.max_duration - (time.monotonic() - active.started), 0.0))

    async def _read_model_key(self, active: ActiveRun) -> None:
        """The endpoint the agent names, and the owner's secret it names, checked at each start: a changed
        configuration or a deleted or rotated secret counts now."""
        model = active.plan.model
        if active.plan.provider == "openai" and not model.get("base_url") and self.endpoints is not None:
            problem = self.endpoints.problem(str(model.get("endpoint") or ""), str(model.get("model") or ""))
            if problem is not None:
                raise RunFailure(problem.reason, problem.message)
        name = str(model.get("api_key_secret") or "")
        if not name:
            return
        if self.secret_value is None:
            raise RunFailure("SECRET_NOT_FOUND", f"secret {name!r} cannot be read by this server")
        active.model_api_key = await self.secret_value(active.plan.owner, name)

    async def _run_to_end(
        self, active: ActiveRun, work: Callable[[], Awaitable[tuple[run_pb2.RunOutput, common_pb2.Usage]]], time_left: float
    ) -> None:
        """Run `work` within the run's remaining time and record how the run ended."""
        plan = active.plan
        try:
            async with asyncio.timeout(time_left):
                output, usage = await work()
        except TimeoutError:
            await self._save_interrupted(active)
            timed_out = run_pb2.RunTimedOut()
            timed_out.max_duration.FromNanoseconds(int(plan.max_duration * 1e9))
            await self._finish(
                active,
                RunStatus.TIMED_OUT,
                run_timed_out=timed_out,
                error=("RUN_TIMED_OUT", f"the run reached its maximum duration of {plan.max_duration:g} s"),
            )
        except asyncio.CancelledError:
            if active.detached:
                return
            await self._save_interrupted(active)
            await self._finish_stopped(active)
        except RunFailure as failure:
            await self._save_interrupted(active)
            await self._finish(
                active,
                RunStatus.FAILED,
                run_failed=run_pb2.RunFailed(error=common_pb2.Failure(reason=failure.reason, message=failure.message)),
                error=(failure.reason, failure.message),
            )
        else:
            # Outside the deadline: a run that has done its work does not time out while recording it.
            await self._finish(
                active,
                RunStatus.SUCCEEDED,
                run_completed=run_pb2.RunCompleted(output=output, usage=usage),
                output=_to_json(output),
            )

    async def _finish_stopped(self, active: ActiveRun) -> None:
        """Cancelled by a caller, or stopped by a server shutdown."""
        if active.cancelled_by == "server":
            message = "the server shut down while the run was active"
            await self._finish(
                active,
                RunStatus.FAILED,
                run_failed=run_pb2.RunFailed(error=common_pb2.Failure(reason="SHUTTING_DOWN", message=message)),
                error=("SHUTTING_DOWN", message),
            )
            return
        await self._finish(
            active,
            RunStatus.CANCELLED,
            run_cancelled=run_pb2.RunCancelled(reason=active.cancel_reason, cancelled_by=active.cancelled_by),
            error=("RUN_CANCELLED", active.cancel_reason or "cancelled"),
        )

    # -- the loop -------------------------------------------------------------

    async def _append_input(self, active: ActiveRun) -> None:
        await self._load_history(active)
        await self._add_message(active, Role.USER, list(active.plan.input))

    async def _loop(
        self, active: ActiveRun, provider: Provider, first_step: int = 0
    ) -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
        """Steps until the model answers without tools: the run's output and usage."""
        plan = active.plan
        for step_index in range(first_step, plan.max_steps):
            step = run_pb2.RunStep(index=step_index)
            stamp_now(step.start_time)
            step_started = time.monotonic()
            active.current_step, active.current_step_started = step, step_started
            step.model_call.provider = plan.provider
            step.model_call.model = str(plan.model.get("model") or "")
            step.model_call.finish_reason = run_pb2.ModelCall.FINISH_REASON_INTERRUPTED
            outcome = await self._model_call(active, provider, step_index, step)

            parts: list[dict[str, Any]] = []
            if outcome.text or not (outcome.calls or outcome.question):
                parts.append({"text": outcome.text})
            if outcome.question is not None:
                parts = [{"text": outcome.question.prompt}]
            parts += [{"tool_call": _call_dict(c)} for c in outcome.calls]
            assistant = await self._add_message(active, Role.ASSISTANT, parts)
            active.unsaved_text.clear()
            step.model_call.message = names.MESSAGE.format(assistant.session_id, assistant.id)
            active.calls_without_result = [
                common_pb2.ToolCall(id=c.id, tool=c.name, arguments=_struct(c.arguments)) for c in outcome.calls
            ]

            for call in outcome.calls:
                step.tool_calls.append(await self._run_tool(active, step_index, call))
            active.tool_calls += len(outcome.calls)
            usage = await self._complete_step(active, step)
            if active.handover is not None:
                agent_id, text = active.handover
                return await self._tree().hand_over(active, agent_id, text), usage

            if outcome.question is not None:
                request = run_pb2.InputRequest(kind=run_pb2.InputRequest.KIND_QUESTION, prompt=outcome.question.prompt)
                answer = await self._ask(active, request)
                await self._add_message(active, Role.USER, [{"text": answer.text}])
                continue
            if outcome.calls:
                continue
            output = run_pb2.RunOutput(
                text=outcome.text, parts=[convert.part_proto(p) for p in parts], message=step.model_call.message
            )
            return output, usage
        raise RunFailure("MAX_STEPS_EXCEEDED", f"the run reached its limit of {plan.max_steps} steps")

    async def _complete_step(self, active: ActiveRun, step: run_pb2.RunStep) -> common_pb2.Usage:
        """Record the step in progress as done, with the run's usage so far."""
        stamp_now(step.end_time)
        step.duration.FromNanoseconds(int((time.monotonic() - active.current_step_started) * 1e9))
        active.steps.append(step)
        active.current_step = None
        usage = common_pb2.Usage(
            input_tokens=active.input_tokens,
            output_tokens=active.output_tokens,
            total_tokens=active.input_tokens + active.output_tokens,
        )
        await self._emit(
            active,
            [
                self._event(active, step_completed=run_pb2.StepCompleted(step=step)),
                self._event(active, usage_updated=run_pb2.UsageUpdated(usage=usage)),
            ],
            {
                "steps": _steps_json(active),
                "input_tokens": active.input_tokens,
                "output_tokens": active.output_tokens,
                "tool_call_count": active.tool_calls,
            },
        )
        return usage

    async def _model_call(
        self, active: ActiveRun, provider: Provider, step_index: int, step: run_pb2.RunStep
    ) -> _ModelOutcome:
        plan = active.plan
        request = ModelRequest(
            model=str(plan.model.get("model") or ""),
            messages=tuple(active.history),
            tools=tuple(self._tool_specs(plan)),
            temperature=plan.model.get("temperature"),
            max_output_tokens=plan.model.get("max_output_tokens"),
            base_url=str(plan.model.get("base_url") or ""),
            api_key=active.model_api_key,
            endpoint=str(plan.model.get("endpoint") or ""),
            options=dict(plan.model.get("options") or {}),
        )
        call_started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            outcome = _ModelOutcome()
            first_text_at: float | None = None
            try:
                # aclosing: an early exit (cancel, failure) closes the provider's HTTP response at once.
                async with self._caller_deadline(active), contextlib.aclosing(provider.stream(request)) as chunks:
                    async for chunk in chunks:
                        if isinstance(chunk, TextChunk):
                            if not chunk.text:
                                continue
                            text = json_values.valid_text(chunk.text)  # a model may send a lone surrogate
                            changes: dict[str, Any] | None = None
                            if first_text_at is None:
                                first_text_at = time.monotonic()
                                if active.time_to_first_token is None:
                                    active.time_to_first_token = first_text_at - active.started
                                    # Recorded with the first delta, so GetRun shows it while the run goes on.
                                    changes = {"time_to_first_token_ms": active.time_to_first_token * 1000}
                            outcome.text_parts.append(text)
                            active.unsaved_text.append(text)
                            if changes is None and active.recorder.merge_delta(text, step_index):
                                continue  # the writer is busy: the token joins the delta still waiting for it
                            await self._emit(
                                active,
                                self._event(active, text_delta=run_pb2.TextDelta(text=text, step_index=step_index)),
                                changes,
                                durable=changes is not None,  # the run's first token
                            )
                        elif isinstance(chunk, ToolCallRequest):
                            outcome.calls.append(checked_call(chunk))
                        elif isinstance(chunk, QuestionChunk):
                            outcome.question = QuestionChunk(json_values.valid_text(chunk.prompt))
                        elif isinstance(chunk, UsageChunk):
                            outcome.input_tokens = _token_count(chunk.input_tokens)
                            outcome.output_tokens = _token_count(chunk.output_tokens)
                        elif isinstance(chunk, FinishChunk):
                            outcome.finish = chunk.reason
                break
            except TimeoutError:
                deadline = active.caller_deadline
                if deadline is not None and time.time() >= deadline:
                    raise RunFailure("DEADLINE_EXCEEDED", "the caller's deadline passed during a model call") from None
                raise
            except ProviderError as error:
                streamed = bool(outcome.text_parts)
                if error.retryable and not streamed and attempts < self.settings.provider_max_attempts:
                    delay = self.settings.provider_retry_base_seconds * (2 ** (attempts - 1))
                    if error.retry_after is not None:
                        delay = max(delay, min(error.retry_after, 30.0))
                    log.info("run %s: retrying model call in %.2fs: %s", plan.run_id, delay, error.message)
                    await asyncio.sleep(delay)
                    continue
                raise RunFailure(error.reason, f"{plan.provider} provider: {error.message}") from None
            finally:
                active.caller_deadline_timer = None

        active.input_tokens += outcome.input_tokens
        active.output_tokens += outcome.output_tokens
        metrics.tokens_streamed(outcome.output_tokens)
        model_call = step.model_call
        model_call.provider = plan.provider
        model_call.model = request.model
        model_call.finish_reason = _FINISH.get(outcome.finish, run_pb2.ModelCall.FINISH_REASON_STOP)
        model_call.text = outcome.text
        model_call.attempts = attempts
        model_call.duration.FromNanoseconds(int((time.monotonic() - call_started) * 1e9))
        if first_text_at is not None:
            model_call.time_to_first_token.FromNanoseconds(int((first_text_at - call_started) * 1e9))
        step.usage.input_tokens = outcome.input_tokens
        step.usage.output_tokens = outcome.output_tokens
        step.usage.total_tokens = outcome.input_tokens + outcome.output_tokens
        return outcome

    @staticmethod
    def _caller_deadline(active: ActiveRun) -> Any:
        """A model call's bound by the caller's deadline, while the caller waits for the run."""
        if active.caller_deadline is None:
            return contextlib.nullcontext()
        timer = active.caller_deadline_timer = asyncio.timeout(max(active.caller_deadline - time.time(), 0.0))
        return timer

    async def _run_tool(
        self, active: ActiveRun, step_index: int, call: ToolCallRequest, approved: Answer | None = None
    ) -> run_pb2.ToolExecution:
        """Run one tool call; `approved` is the answer to its approval request when that was asked already."""
        plan = active.plan
        config = next((t for t in plan.tools if agent_tool_call_name(t) == call.name), None)
        proto_call = common_pb2.ToolCall(id=call.id, tool=call.name, arguments=_struct(call.arguments))
        tool = self.tools.get(call.name) if config is not None else None
        execution = run_pb2.ToolExecution(
            call=proto_call,
            required_approval=approved is not None
            or bool(config and (config.get("requires_approval") or getattr(tool, "requires_approval", False))),
        )
        arguments = dict(call.arguments)
        denied_reason: str | None = None
        if call.rejected:
            # Nothing to approve or run: the model hears why and may try again.
            execution.required_approval = False
            stamp_now(execution.end_time)
            execution.state = run_pb2.ToolExecution.STATE_FAILED
            return await self._record_result(active, step_index, call, execution, {"error": call.rejected}, True)
        if execution.required_approval:
            execution.state = run_pb2.ToolExecution.STATE_AWAITING_APPROVAL
            answer = approved
            if answer is None:
                request = run_pb2.InputRequest(
                    kind=run_pb2.InputRequest.KIND_APPROVAL,
                    tool_call=proto_call,
                    prompt=f"The agent wants to call {call.name}, which needs a person's approval.",
                )
                answer = await self._ask(active, request)
            execution.decided_by = answer.answered_by
            approval = answer.approval or run_pb2.Approval(decision=run_pb2.Approval.DECISION_DENY)
            if approval.decision == run_pb2.Approval.DECISION_DENY:
                denied_reason = approval.reason or "no reason given"
            elif approval.HasField("edited_arguments"):
                execution.original_arguments.CopyFrom(proto_call.arguments)
                arguments = json_values.from_struct(approval.edited_arguments)  # checked when it was submitted
                execution.call.arguments.CopyFrom(approval.edited_arguments)

        delegated = str(config.get("agent") or "") if config is not None else ""
        if denied_reason is not None:
            # The tool never ran: no start time, zero duration.
            execution.state = run_pb2.ToolExecution.STATE_DENIED
            output, is_error = {"error": f"the call was denied by a person: {denied_reason}"}, True
        else:
            started = time.monotonic()
            stamp_now(execution.start_time)
            await self._emit(
                active,
                self._event(active, tool_call_started=run_pb2.ToolCallStarted(tool_call=execution.call, step_index=step_index)),
            )
            if delegated:
                output, is_error, execution.state = await self._delegate(active, config or {}, arguments)
            else:
                output, is_error, execution.state = await self._call_tool(active, call.name, arguments, config is not None)
            execution.duration.FromNanoseconds(int((time.monotonic() - started) * 1e9))
        stamp_now(execution.end_time)
        return await self._record_result(active, step_index, call, execution, output, is_error)

    async def _record_result(
        self,
        active: ActiveRun,
        step_index: int,
        call: ToolCallRequest,
        execution: run_pb2.ToolExecution,
        output: Mapping[str, Any],
        is_error: bool,
    ) -> run_pb2.ToolExecution:
        try:
            checked = checked_json(output, MAX_TOOL_RESULT_BYTES)
        except json_values.JsonValueError as exc:
            checked, is_error = {"error": f"the tool's result was rejected: {exc}"}, True
            execution.state = run_pb2.ToolExecution.STATE_FAILED
        result = common_pb2.ToolResult(tool_call_id=call.id, output=_struct(checked), is_error=is_error)
        execution.result.CopyFrom(result)
        completed = run_pb2.ToolCallCompleted(
            result=result, tool=call.name, state=execution.state, duration=execution.duration, step_index=step_index
        )
        await self._emit(active, self._event(active, tool_call_completed=completed))
        await self._add_message(active, Role.TOOL, [{"tool_result": _result_dict(result)}])
        active.calls_without_result = [c for c in active.calls_without_result if c.id != call.id]
        return execution

    async def _delegate(
        self, active: ActiveRun, config: Mapping[str, Any], arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool, run_pb2.ToolExecution.State.ValueType]:
        """Another agent as a tool: a child run whose answer is the result, or a handover (recorded now,
        started when the step ends). Bounded by the run's own limits, not the tool timeout: the child may
        wait for a person."""
        agent_id = str(config.get("agent") or "").rpartition("/")[2]
        text = arguments.get("input")
        if not isinstance(text, str) or not text.strip():
            return {"error": "the argument `input` (a non-empty string) is required"}, True, run_pb2.ToolExecution.STATE_FAILED
        if active.plan.tree.depth + 1 > active.plan.tree.max_depth:
            message = f"CREW_DEPTH_EXCEEDED: a child run would be deeper than the limit of {active.plan.tree.max_depth}"
            return {"error": message}, True, run_pb2.ToolExecution.STATE_FAILED
        if self._run_tree is None:
            return {"error": "agents cannot be called as tools on this server"}, True, run_pb2.ToolExecution.STATE_FAILED
        if config.get("delegation") == HANDOVER:
            if active.handover is not None:
                return {"error": "the conversation was already handed over"}, True, run_pb2.ToolExecution.STATE_FAILED
            active.handover = (agent_id, text)
            return {"handed_over_to": names.AGENT.format(agent_id)}, False, run_pb2.ToolExecution.STATE_SUCCEEDED
        return await self._run_tree.call_agent(active, agent_id, text)

    async def _call_tool(
        self, active: ActiveRun, name: str, arguments: dict[str, Any], allowed: bool
    ) -> tuple[dict[str, Any], bool, run_pb2.ToolExecution.State.ValueType]:
        if not allowed:
            return {"error": f"tool {name!r} is not available to this agent"}, True, run_pb2.ToolExecution.STATE_FAILED
        context = ToolContext(
            principal=Principal(id=active.plan.owner),
            session=active.plan.session,
            run=active.plan.name,
            search_session=lambda query, limit: self._search_session(active, query, limit),
            agent=names.AGENT.format(active.plan.agent_id),
        )
        try:
            output = await asyncio.wait_for(self.tools.call(name, arguments, context), active.plan.tool_timeout)
            return output, False, run_pb2.ToolExecution.STATE_SUCCEEDED
        except ToolError as error:  # its message is the server's (or the MCP server's) own words
            return {"error": str(error)}, True, run_pb2.ToolExecution.STATE_FAILED
        except TimeoutError:
            message = f"the tool did not finish within {active.plan.tool_timeout:g} s"
            return {"error": message}, True, run_pb2.ToolExecution.STATE_TIMED_OUT
        except Exception as error:  # a bug or an outside failure: the model reads our words, the log the detail
            log.warning("run %s: tool %s failed: %s: %s", active.plan.run_id, name, type(error).__name__, error)
            return {"error": tool_failure(error)}, True, run_pb2.ToolExecution.STATE_FAILED

    async def _search_session(self, active: ActiveRun, query: str, limit: int) -> list[dict[str, Any]]:
        hits, _ = await self.messages.search(
            Principal(id=active.plan.owner), active.plan.session, SearchQuery(text=query, page_size=limit)
        )
        return [
            {
                "message": names.MESSAGE.format(h.message.session_id, h.message.id),
                "role": Role(h.message.role).name,
                "snippet": h.snippet,
            }
            for h in hits
        ]

    async def _ask(self, active: ActiveRun, request: run_pb2.InputRequest) -> Answer:
        """Pause in REQUIRES_INPUT until a person answers, or fail with INPUT_TIMEOUT."""
        request.id = str(uuid.uuid4())
        request.run = active.plan.name
        stamp_now(request.create_time)
        request.expire_time.FromNanoseconds(request.create_time.ToNanoseconds() + int(active.plan.input_timeout * 1e9))
        active.pending = request
        active.answer = asyncio.get_running_loop().create_future()
        active.status = RunStatus.REQUIRES_INPUT
        # A run that waits for a person is durable: its caller's deadline no longer bounds it.
        _drop_caller_deadline(active)
        await self._commit(
            active,
            [self._event(active, input_required=run_pb2.InputRequired(input_request=request))],
            run_change="run.requires_input",
            status=RunStatus.REQUIRES_INPUT,
            pending_input=_to_json(request),
        )
        return await self._wait_for_answer(active, request)

    async def _wait_for_answer(self, active: ActiveRun, request: run_pb2.InputRequest) -> Answer:
        """The answer to the pending `request` (recorded as received), or INPUT_TIMEOUT at its expire time."""
        assert active.answer is not None
        time_left = max(request.expire_time.ToNanoseconds() / 1e9 - time.time(), 0.0)
        try:
            answer = await asyncio.wait_for(asyncio.shield(active.answer), time_left)
        except TimeoutError:
            active.answer.cancel()  # answers arriving from now on are told the request expired
            raise RunFailure(
                "INPUT_TIMEOUT", f"nobody answered input request {request.id} within {active.plan.input_timeout:g} s"
            ) from None
        active.answered[request.id] = answer
        active.pending, active.answer = None, None
        active.status = RunStatus.RUNNING
        received = run_pb2.InputReceived(input_request_id=request.id, answered_by=answer.answered_by)
        if answer.approval is not None:
            received.approval.CopyFrom(answer.approval)
        else:
            received.text = answer.text
        await self._commit(
            active,
            [self._event(active, input_received=received)],
            run_change="run.resumed",
            status=RunStatus.RUNNING,
            pending_input={},
        )
        active.resumed.set()
        return answer

    # -- recording ------------------------------------------------------------

    def event(self, active: ActiveRun, **payload: Any) -> run_pb2.RunEvent:
        """The run's next event (its seq taken now), for a driver of the run such as a crew's."""
        return self._event(active, **payload)

    async def record(
        self, active: ActiveRun, events: list[run_pb2.RunEvent], *, run_change: str = "", durable: bool = False, **changes: Any
    ) -> None:
        """Record events with row changes: queued in order, or (`durable`) returned once committed."""
        if durable:
            await self._commit(active, events, run_change, **changes)
        else:
            await self._emit(active, events, changes or None, run_change=run_change)

    def _event(self, active: ActiveRun, **payload: Any) -> run_pb2.RunEvent:
        active.seq += 1
        event = run_pb2.RunEvent(run=active.plan.name, seq=active.seq, **payload)
        stamp_now(event.create_time)
        return event

    async def _emit(
        self,
        active: ActiveRun,
        event: run_pb2.RunEvent | list[run_pb2.RunEvent],
        changes: dict[str, Any] | None = None,
        statements: tuple[Any, ...] = (),
        *,
        resource_events: tuple[Any, ...] = (),
        run_change: str = "",
        durable: bool = False,
    ) -> None:
        """Queue events (with row changes and statements) without waiting for the commit, unless the
        writer is behind or `durable` asks to (then also for the run's followers to send them). Order is
        kept: whatever is queued later commits in the same or a later batch. `run_change` names the `run.*`
        resource event of a status change; tokens never have one."""
        events = event if isinstance(event, list) else [event]
        if changes is not None:
            changes = {**changes, "update_time": self.clock()}
        write = active.recorder.append(events, changes, statements, resource_events=resource_events, run_change=run_change)
        if durable:
            await write.wait()
            # Its stream sends it (and what came before) before the run takes the loop again.
            await self.log.followers_caught_up((active.plan.run_id,))
        elif self.log.backlogged:
            await write.wait()

    async def _commit(self, active: ActiveRun, events: list[run_pb2.RunEvent], run_change: str, **changes: Any) -> None:
        """Record a status change with its events and its `run_change` resource event; wait until durable."""
        changes["update_time"] = self.clock()
        await active.recorder.append(events, changes, run_change=run_change).wait()

    async def _finish(
        self,
        active: ActiveRun,
        status: RunStatus,
        *,
        error: tuple[str, str] | None = None,
        output: dict[str, Any] | None = None,
        **payload: Any,
    ) -> None:
        active.finishing = True
        metrics.run_finished(status.name)
        elapsed = time.monotonic() - active.started if active.started else 0.0
        event = self._event(active, **payload)
        terminal = event.WhichOneof("payload")
        assert terminal is not None, "a terminal event has its payload"
        body = getattr(event, terminal)
        if terminal == "run_completed":
            body.duration.FromNanoseconds(int(elapsed * 1e9))
            if active.time_to_first_token is not None:
                body.time_to_first_token.FromNanoseconds(int(active.time_to_first_token * 1e9))
        active.status = status
        changes: dict[str, Any] = {
            "status": status,
            "end_time": self.clock(),
            "duration_ms": elapsed * 1000 if active.started else None,
            "time_to_first_token_ms": active.time_to_first_token * 1000 if active.time_to_first_token is not None else None,
            "pending_input": {},
            "input_tokens": active.input_tokens,
            "output_tokens": active.output_tokens,
            "tool_call_count": active.tool_calls,
        }
        if active.steps:
            changes["steps"] = _steps_json(active)
        if output is not None:
            changes["output"] = output
        if error is not None and status != RunStatus.SUCCEEDED:
            changes["error_reason"], changes["error_message"] = error
        try:
            await self._commit(active, [event], f"run.{_RUN_CHANGE[status]}", **changes)
        finally:
            active.finished.set()
            active.resumed.set()

    async def _save_interrupted(self, active: ActiveRun) -> None:
        """Keep the session's history and the run's steps consistent when a run stops mid-step.

        Streamed text is kept as an interrupted assistant message; each tool call without a result
        is completed as CANCELLED, with an error result the next model call will see; the step in
        progress is recorded with what it did (finish reason INTERRUPTED if the model was cut off).
        """
        step = active.current_step
        try:
            if active.unsaved_text:
                text = "".join(active.unsaved_text)
                active.unsaved_text.clear()
                if step is not None:
                    step.model_call.text = text
                await self._add_message(active, Role.ASSISTANT, [{"text": text}], labels={"interrupted": "true"})
            for call in active.calls_without_result:
                result = common_pb2.ToolResult(
                    tool_call_id=call.id, output=_struct({"error": "the run stopped before the tool finished"}), is_error=True
                )
                if step is not None:
                    step_index = step.index
                    execution = next((t for t in step.tool_calls if t.call.id == call.id), None)
                    if execution is None:
                        execution = step.tool_calls.add(call=call)
                        execution.required_approval = any(
                            agent_tool_call_name(t) == call.tool and t.get("requires_approval") for t in active.plan.tools
                        )
                    execution.state = run_pb2.ToolExecution.STATE_CANCELLED
                    execution.result.CopyFrom(result)
                    stamp_now(execution.end_time)
                    completed = run_pb2.ToolCallCompleted(
                        result=result, tool=call.tool, state=execution.state, step_index=step_index
                    )
                    await self._emit(active, self._event(active, tool_call_completed=completed))
                await self._add_message(active, Role.TOOL, [{"tool_result": _result_dict(result)}], labels={"interrupted": "true"})
            active.calls_without_result = []
            if step is not None:
                active.current_step = None
                stamp_now(step.end_time)
                step.duration.FromNanoseconds(int((time.monotonic() - active.current_step_started) * 1e9))
                active.steps.append(step)
                await self._emit(active, self._event(active, step_completed=run_pb2.StepCompleted(step=step)))
        except LeaseLost:
            raise
        except Exception:  # the run's own end must still be recorded
            log.exception("run %s: could not save interrupted work", active.plan.run_id)

    async def _add_message(
        self, active: ActiveRun, role: Role, content: Sequence[Mapping[str, Any]], labels: dict[str, str] | None = None
    ) -> MessageValues:
        """Append a message to the session, in the same commit as its message_created event.
        Returns the message's columns (a record: an ORM instance costs more than the insert)."""
        now = self.clock()
        plan = active.plan
        values = message_writer.message_values(
            session_id=plan.session_id,
            message_id=names.new_id(),
            owner=plan.owner,
            role=role,
            content=content,
            run_id=plan.run_id,
            labels=labels,
            now=now,
        )
        row = MessageValues(pk=None, **values)
        statements = message_writer.insert_statements(values)
        message = convert.message_proto(row)
        event = self._event(active, message_created=run_pb2.MessageCreated(message=message))
        await self._emit(
            active, event, statements=statements, resource_events=(("message.created", message.name, plan.owner, message),)
        )
        active.history.extend(model_messages(role, content))
        return row

    # -- reading --------------------------------------------------------------

    async def _load_history(self, active: ActiveRun) -> None:
        """The conversation so far, read once when the run starts; the run then adds its own messages."""
        plan = active.plan
        history: list[ModelMessage] = []
        instructions = plan.instructions
        if self.profile_memories is not None:
            profile = await self.profile_memories(plan.owner, plan.agent_id)
            if profile:
                known = "What you know about the user, from memory:\n" + "\n".join(f"- {line}" for line in profile)
                instructions = f"{instructions}\n\n{known}" if instructions else known
        if instructions:
            history.append(ModelMessage(role="system", text=instructions))
        rows = await repo.recent_messages(self.store, plan.session_id, self.settings.max_history_messages)
        for row in rows:
            history.extend(model_messages(Role(row.role), list(row.content or [])))
        active.history = history

    def _tool_specs(self, plan: RunPlan) -> list[ToolSpec]:
        specs = []
        for config in plan.tools:
            if config.get("agent"):
                verb = "Hand the conversation over to" if config.get("delegation") == HANDOVER else "Ask"
                specs.append(
                    ToolSpec(
                        name=agent_tool_call_name(config),
                        description=f"{verb} the agent {config['agent']}",
                        parameters=AGENT_TOOL_PARAMETERS,
                    )
                )
                continue
            # An MCP tool its server has not reported (not connected yet, or deleted) is left out.
            tool = self.tools.get(agent_tool_call_name(config))
            if tool is not None:
                specs.append(ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters))
        return specs


@dataclass
class _ModelOutcome:
    text_parts: list[str] = field(default_factory=list)
    calls: list[ToolCallRequest] = field(default_factory=list)
    question: QuestionChunk | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    finish: str = "stop"

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def _drop_caller_deadline(active: ActiveRun) -> None:
    active.caller_deadline = None
    if active.caller_deadline_timer is not None:
        active.caller_deadline_timer.reschedule(None)


def copy_step(step: run_pb2.RunStep) -> run_pb2.RunStep:
    copied = run_pb2.RunStep()
    copied.CopyFrom(step)
    return copied


def stamp_now(timestamp: Any) -> None:
    """Timestamp.GetCurrentTime() goes through datetime and costs more than the rest of a token's event."""
    nanos = time.time_ns()
    timestamp.seconds, timestamp.nanos = divmod(nanos, 1_000_000_000)


def model_messages(role: Role, content: Sequence[Mapping[str, Any]]) -> list[ModelMessage]:
    """A stored message as the model sees it: tool messages become one message per result."""
    if role == Role.TOOL:
        return [
            ModelMessage(
                role="tool",
                text=json.dumps(part["tool_result"].get("output") or {}),
                tool_call_id=part["tool_result"].get("tool_call_id", ""),
            )
            for part in content
            if "tool_result" in part
        ]
    calls = tuple(
        ToolCallRequest(
            id=part["tool_call"].get("id", ""),
            name=part["tool_call"].get("tool", ""),
            arguments=part["tool_call"].get("arguments") or {},
        )
        for part in content
        if "tool_call" in part
    )
    return [ModelMessage(role=_MODEL_ROLES.get(role, "user"), text=message_writer.text_of(content), tool_calls=calls)]  # type: ignore[arg-type]


def checked_call(call: ToolCallRequest) -> ToolCallRequest:
    """A model's tool call with its arguments as a Struct will carry them, or rejected (with empty
    arguments) when they cannot be: whatever a model sends ends as a tool error it can read."""
    call = dataclasses.replace(call, id=json_values.valid_text(call.id), name=json_values.valid_text(call.name))
    if call.rejected:
        return dataclasses.replace(call, arguments={})
    try:
        arguments = checked_json(call.arguments, MAX_TOOL_ARGUMENTS_BYTES)
    except json_values.JsonValueError as exc:
        return dataclasses.replace(call, arguments={}, rejected=f"{REJECTED} {exc}")
    return dataclasses.replace(call, arguments=arguments)


def checked_json(value: Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """`value` normalized for a Struct (see json_values), and at most `max_bytes` as JSON."""
    normalized = json_values.normalize(value)
    size = json_values.encoded_size(normalized)
    if size > max_bytes:
        raise json_values.JsonValueError("", f"{size} bytes of JSON, more than the limit of {max_bytes}")
    return normalized


def _call_dict(call: ToolCallRequest) -> dict[str, Any]:
    stored: dict[str, Any] = {"id": call.id, "tool": call.name, "arguments": call.arguments}
    if call.rejected:
        stored["rejected"] = call.rejected
    return stored


def _token_count(value: Any) -> int:
    """A provider's token count as an int64 field takes it: a count that is not one is taken as 0."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= json_values.MAX_SAFE_INTEGER:
        return 0
    return value


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_values.to_struct(value)


def _to_json(message: Any) -> dict[str, Any]:
    return json_values.with_integers(json_format.MessageToDict(message, preserving_proto_field_name=True))


def _steps_json(active: ActiveRun) -> list[dict[str, Any]]:
    """The steps column, converting only the steps completed since the last time (the conversion is
    the slowest part of recording a step)."""
    for step in active.steps[len(active.step_dicts) :]:
        active.step_dicts.append(step_json(step))
    return list(active.step_dicts)


# The message-typed time fields of ModelCall and RunStep, in the order MessageToDict writes them.
_MODEL_CALL_TIMES: tuple[Literal["time_to_first_token", "duration"], ...] = ("time_to_first_token", "duration")
_STEP_TIMES: tuple[Literal["start_time", "end_time", "duration"], ...] = ("start_time", "end_time", "duration")


def step_json(step: run_pb2.RunStep) -> dict[str, Any]:
    """`step` as json_format.MessageToDict(preserving_proto_field_name=True) gives it. A step without tool
    calls (most of them) is built directly: json_format costs about as much as the rest of recording a
    step. tests/unit/test_step_json.py fails when a field of RunStep, ModelCall or Usage is added."""
    if step.tool_calls:
        return _to_json(step)
    out: dict[str, Any] = {}
    if step.index:
        out["index"] = step.index
    if step.HasField("model_call"):
        call = step.model_call
        model_call: dict[str, Any] = {}
        for name in ("provider", "model"):
            if value := getattr(call, name):
                model_call[name] = value
        if call.finish_reason:
            model_call["finish_reason"] = run_pb2.ModelCall.FinishReason.Name(call.finish_reason)
        for name in ("text", "message"):
            if value := getattr(call, name):
                model_call[name] = value
        for name in _MODEL_CALL_TIMES:
            if call.HasField(name):
                model_call[name] = getattr(call, name).ToJsonString()
        if call.attempts:
            model_call["attempts"] = call.attempts
        out["model_call"] = model_call
    if step.HasField("usage"):
        usage = step.usage
        # int64 fields are strings in JSON.
        out["usage"] = {
            name: str(value)
            for name, value in (
                ("input_tokens", usage.input_tokens),
                ("output_tokens", usage.output_tokens),
                ("total_tokens", usage.total_tokens),
            )
            if value
        }
    for name in _STEP_TIMES:
        if step.HasField(name):
            out[name] = getattr(step, name).ToJsonString()
    return out


def _result_dict(result: common_pb2.ToolResult) -> dict[str, Any]:
    return {
        "tool_call_id": result.tool_call_id,
        "output": json_values.from_struct(result.output),
        "is_error": result.is_error,
    }
