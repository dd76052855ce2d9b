"""Crew runs: a run that executes a crew. It calls no model itself: it plans the crew's tasks, starts a
child run of a member's agent for each, and copies every event of its children into its own log (as
`child_run_event`, in the order they happen), with the plan re-emitted (`crew_plan_updated`) whenever a
task starts or ends. Its log is therefore the whole execution, replayable from any seq like any run's.

A task's result is recorded (plan event and `runs.crew_plan`, committed) before any task that needs it
starts, so a succeeded task never runs again. The crew run owns its children: stopping it (cancel,
timeout, a failed task, a limit) cancels every child still active, and waits for them to end."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import jsonschema
from google.protobuf import json_format

from runwire.server.core import names
from runwire.server.core.errors import ErrorReasonName, InvalidArgument, Violations, reason_named
from runwire.server.core.statuses import RunStatus
from runwire.server.domain.crews import MANAGER_MEMBER, Process, check_tasks, limit_of
from runwire.server.engine.events import TERMINAL_PAYLOADS, RunEventLog
from runwire.server.engine.runner import ActiveRun, DelegatedResult, RunFailure, Runner, TreePosition
from runwire.server.store.models import CrewRow
from runwire.server.wire import json_values
from runwire.v1 import common_pb2, crew_pb2, run_pb2

if TYPE_CHECKING:
    from runwire.server.domain.runs import RunService

log = logging.getLogger("runwire.crews")

# The provider column of crew runs: they hold no provider slot.
PROVIDER = "crew"
TaskState = crew_pb2.CrewPlanTask.State
PENDING, RUNNING, SUCCEEDED = TaskState.STATE_PENDING, TaskState.STATE_RUNNING, TaskState.STATE_SUCCEEDED
FAILED, CANCELLED = TaskState.STATE_FAILED, TaskState.STATE_CANCELLED
# How long a stopping run waits for its children to end before it records its own end.
CHILDREN_STOP_SECONDS = 30.0
DEFAULT_MAX_DEPTH = 4


@dataclass(frozen=True)
class ChildLink:
    """Where a child run sits in its tree: its parent, the top, its depth, and the crew task it executes.
    `agent_id`: for a handover, the agent that goes on in the parent's session."""

    run_id: str
    root_run_id: str
    depth: int
    owner: str
    crew_task: str = ""
    crew_member: str = ""
    agent_id: str = ""
    max_depth: int = DEFAULT_MAX_DEPTH

    def position(self, run_id: str) -> TreePosition:
        """The tree position of the child run `run_id` this link creates."""
        return TreePosition(
            root_run_id=self.root_run_id or run_id,
            depth=self.depth,
            crew_task=self.crew_task,
            crew_member=self.crew_member,
            max_depth=self.max_depth,
            shares_session=bool(self.agent_id),
        )

    @classmethod
    def below(cls, active: ActiveRun, *, agent_id: str = "") -> ChildLink:
        """A link to a new child of the run `active`, in the same crew task."""
        plan, tree = active.plan, active.plan.tree
        return cls(
            run_id=plan.run_id,
            root_run_id=tree.root_run_id or plan.run_id,
            depth=tree.depth + 1,
            owner=plan.owner,
            crew_task=tree.crew_task,
            crew_member=tree.crew_member,
            agent_id=agent_id,
            max_depth=tree.max_depth,
        )


@dataclass(frozen=True)
class Resumed:
    """A crew run taken over from a process that stopped or died, as its log and rows hold it."""

    plan: Mapping[str, Any]
    # Direct child run name -> the last of its events copied into the crew run's log.
    copied: Mapping[str, int]
    # Run name (any depth) -> its latest (input, output) tokens.
    usage: Mapping[str, tuple[int, int]]
    children_started: int
    descendants: int
    # Direct child run id -> the input request (JSON) it waits for.
    waiting: Mapping[str, Mapping[str, Any]]
    elapsed_seconds: float


def spec_of(crew: CrewRow) -> dict[str, Any]:
    """The crew as a run keeps it: later changes of the crew do not reach runs already started."""
    return {
        "crew_id": crew.id,
        "process": int(crew.process or Process.SEQUENTIAL),
        "members": [
            {"id": m["id"], "agent_id": m["agent"].rpartition("/")[2], "role": m.get("role") or "", "goal": m.get("goal") or ""}
            for m in crew.members or []
        ],
        "manager_id": crew.manager_id or "",
        "tasks": json_values.normalize({"tasks": list(crew.tasks or [])})["tasks"],
        "limits": dict(crew.limits or {}),
    }


def stopped_plan(plan_json: Mapping[str, Any], reason: str) -> run_pb2.CrewPlanUpdated | None:
    """The last plan of a crew run that ends without its conductor (cancelled while its owner was gone):
    its tasks that had not ended are cancelled. None when none was left."""
    plan = json_format.ParseDict(dict(plan_json), crew_pb2.CrewPlan(), ignore_unknown_fields=True)
    open_tasks = [task for task in plan.tasks if task.state in (PENDING, RUNNING)]
    for task in open_tasks:
        task.state = CANCELLED
        task.error.CopyFrom(common_pb2.Failure(reason="RUN_CANCELLED", message=reason))
    if not open_tasks:
        return None
    plan.revision += 1
    return run_pb2.CrewPlanUpdated(plan=plan, reason="stopped")


class _Execution:
    """One crew run in progress here."""

    def __init__(self, active: ActiveRun) -> None:
        self.active = active
        self.spec: Mapping[str, Any] = active.plan.crew or {}
        self.members = {m["id"]: m for m in self.spec.get("members") or []}
        self.plan = crew_pb2.CrewPlan()
        self.children_started = 0
        # Runs started below the crew's own children (agents they called, handovers).
        self.descendants = 0
        # Set once a limit of the tree is exceeded: the crew run is failing, and its children stopping.
        self.exceeded = False
        # Child run id -> its crew task, while it is active.
        self.live: dict[str, str] = {}
        self.usage: dict[str, tuple[int, int]] = {}
        self.followers: set[asyncio.Task[Any]] = set()
        # Task id -> (child run id, last event copied) of tasks a taken-over crew run follows on.
        self.resume: dict[str, tuple[str, int]] = {}

    @property
    def name(self) -> str:
        return self.active.plan.name

    def task(self, task_id: str) -> crew_pb2.CrewPlanTask:
        return next(t for t in self.plan.tasks if t.id == task_id)

    def limit(self, key: str) -> float:
        return limit_of(self.spec.get("limits") or {}, key)


class CrewConductor:
    def __init__(self, runs: RunService, runner: Runner, event_log: RunEventLog) -> None:
        self.runs = runs
        self.runner = runner
        self.event_log = event_log

    async def drive(self, active: ActiveRun) -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
        crew = _Execution(active)
        goal = "\n".join(str(part.get("text") or "") for part in active.plan.input if part.get("text"))
        resumed = active.plan.crew_resumed
        if isinstance(resumed, Resumed):
            self._restore(crew, resumed)
        try:
            if crew.spec.get("process") == Process.HIERARCHICAL:
                final = await self._hierarchical(crew, goal)
            else:
                if not crew.plan.tasks:
                    self._set_tasks(crew, crew.spec.get("tasks") or [], "crew")
                    await self._publish(crew, "planned", durable=True)
                await self._execute_tasks(crew)
                final = crew.plan.tasks[-1].output
        finally:
            if active.detached:
                # Left waiting for a person at shutdown: its children wait on too, for the next start.
                await self._leave_children(crew)
            else:
                await self._stop_children(crew, active.cancel_reason or "the crew run stopped")
        # The final answer as the crew run's own text: StreamTokens on a crew streams it.
        if final:
            delta = self.runner.event(active, text_delta=run_pb2.TextDelta(text=final, step_index=0))
            await self.runner.record(active, [delta], durable=True)
        usage = _usage(active)
        return run_pb2.RunOutput(text=final, parts=[common_pb2.ContentPart(text=final)]), usage

    def _restore(self, crew: _Execution, resumed: Resumed) -> None:
        """Continue where the crew run's log stops: tasks that succeeded keep their result; a task whose
        child run was cut off follows that child on from the last event copied (and runs again as a new
        child if the child failed with the restart)."""
        json_format.ParseDict(dict(resumed.plan), crew.plan, ignore_unknown_fields=True)
        crew.usage.update(resumed.usage)
        crew.children_started = resumed.children_started
        crew.descendants = resumed.descendants
        for child_id, request in resumed.waiting.items():
            crew.active.children_waiting[child_id] = json_format.ParseDict(dict(request), run_pb2.InputRequest(), ignore_unknown_fields=True)
        crew.resume = {
            t.id: (t.child_run.rpartition("/")[2], resumed.copied.get(t.child_run, 0))
            for t in crew.plan.tasks
            if t.state == RUNNING and t.child_run
        }
        for task in crew.plan.tasks:
            if task.state == RUNNING and task.id not in crew.resume:
                task.state = PENDING  # taken, but its child was never created

    # -- processes --------------------------------------------------------------

    async def _execute_tasks(self, crew: _Execution) -> None:
        """Start every task whose dependencies have succeeded (one at a time for SEQUENTIAL, at most
        max_parallel_tasks for PARALLEL and HIERARCHICAL) until none is left; a failed task fails the run."""
        sequential = crew.spec.get("process") == Process.SEQUENTIAL
        width = 1 if sequential else int(crew.limit("max_parallel_tasks"))
        running: dict[asyncio.Task[None], str] = {}
        for task_id, (child_id, after_seq) in list(crew.resume.items()):
            del crew.resume[task_id]
            follower = asyncio.ensure_future(self._follow_on(crew, task_id, child_id, after_seq))
            crew.followers.add(follower)
            follower.add_done_callback(crew.followers.discard)
            running[follower] = task_id
        while True:
            done = {t.id for t in crew.plan.tasks if t.state == SUCCEEDED}
            pending = [t for t in crew.plan.tasks if t.state == PENDING]
            ready = [t for t in pending if all(c in done for c in t.context)]
            if sequential:
                ready = pending[:1] if not running else []
            for task in ready[: max(width - len(running), 0)]:
                task.state = RUNNING  # taken now, so the next look does not start it again
                follower = asyncio.ensure_future(self._execute_task(crew, task.id))
                crew.followers.add(follower)
                follower.add_done_callback(crew.followers.discard)
                running[follower] = task.id
            if not running:
                left = [t.id for t in crew.plan.tasks if t.state == PENDING]
                if left:  # waits for a task that did not succeed: cannot happen with a valid plan
                    raise RunFailure("CREW_PLAN_INVALID", f"tasks {', '.join(left)} wait for tasks that cannot run")
                return
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for follower in finished:
                running.pop(follower)
                follower.result()  # a failed task fails the crew run

    async def _hierarchical(self, crew: _Execution, goal: str) -> str:
        members = "\n".join(
            f"- {m['id']}: {m['role'] or 'member'}{' - ' + m['goal'] if m['goal'] else ''}" for m in crew.members.values()
        )
        if crew.plan.tasks:
            pass  # taken over after planning: the plan stands
        elif crew.spec.get("tasks"):
            tasks = [dict(task) for task in crew.spec["tasks"]]
            if any(not task.get("member") for task in tasks):
                # The crew's own tasks, but the manager decides who does those that name no member.
                listing = "\n".join(
                    f"- {t['id']}: {t.get('description') or ''}" + (f" (member: {t['member']})" if t.get("member") else " (member: to assign)")
                    for t in tasks
                )
                answer = await self._ask_manager(
                    crew,
                    "plan",
                    f"Crew planning.\n\nGoal:\n{goal}\n\nMembers:\n{members}\n\nTasks:\n{listing}\n\n{ASSIGN_FORMAT}",
                )
                self._assign_members(crew, tasks, answer)
            self._set_tasks(crew, tasks, "crew")
        else:
            answer = await self._ask_manager(
                crew,
                "plan",
                f"Crew planning.\n\nGoal:\n{goal}\n\nMembers:\n{members}\n\n{PLAN_FORMAT}",
            )
            self._set_tasks(crew, self._parse_plan(crew, answer, required=True) or [], "manager")
        if crew.plan.revision == 0:
            await self._publish(crew, "planned", durable=True)
        await self._execute_tasks(crew)
        replans = int(crew.limit("max_replans"))
        review = 0
        while True:
            review += 1
            results = "\n".join(f"- {t.id} ({t.member}): {t.output}" for t in crew.plan.tasks if t.state == SUCCEEDED)
            answer = await self._ask_manager(
                crew,
                f"review-{review}",
                f"Crew review {review}.\n\nGoal:\n{goal}\n\nMembers:\n{members}\n\nResults of the tasks:\n{results}\n\n"
                f"Answer with the final answer, or, to change the plan, {PLAN_FORMAT}",
            )
            changed = self._parse_plan(crew, answer, required=False) if review <= replans else None
            if changed is None:
                return answer
            self._replan(crew, changed)
            await self._publish(crew, "replanned", durable=True)
            await self._execute_tasks(crew)

    def _set_tasks(self, crew: _Execution, tasks: Sequence[Mapping[str, Any]], source: str) -> None:
        first_member = next(iter(crew.members), "")
        crew.plan.source = source
        for task in tasks:
            member = task.get("member") or first_member
            crew.plan.tasks.add(
                id=task["id"],
                description=str(task.get("description") or ""),
                expected_output=str(task.get("expected_output") or ""),
                member=member,
                agent=names.AGENT.format(crew.members[member]["agent_id"]),
                context=list(task.get("context") or []),
                state=PENDING,
            )

    def _assign_members(self, crew: _Execution, tasks: list[dict[str, Any]], answer: str) -> None:
        """Give each task without a member the member the manager's plan names for it. An answer that is
        no plan, names an unknown member or leaves a task unassigned fails the run with CREW_PLAN_INVALID."""
        parsed = _json_object(answer)
        if parsed is None:
            raise RunFailure("CREW_PLAN_INVALID", 'the manager did not answer a plan assigning the tasks ({"tasks": [...]})')
        assigned = {
            entry["id"]: entry["member"]
            for entry in parsed["tasks"]
            if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("member"), str)
        }
        for task in tasks:
            if task.get("member"):
                continue
            member = assigned.get(task["id"], "")
            if not member:
                raise RunFailure("CREW_PLAN_INVALID", f"the manager's plan assigns no member to task {task['id']!r}")
            if member not in crew.members:
                raise RunFailure("CREW_PLAN_INVALID", f"the manager's plan assigns task {task['id']!r} to {member!r}, not a member of the crew")
            task["member"] = member

    def _replan(self, crew: _Execution, tasks: Sequence[Mapping[str, Any]]) -> None:
        """The manager's new plan: tasks that succeeded keep their result (they do not run again), tasks
        not started are replaced, and those the new plan drops are cancelled (kept in the plan)."""
        kept = {t.id: t for t in crew.plan.tasks if t.state == SUCCEEDED}
        dropped = [t for t in crew.plan.tasks if t.id not in kept and t.id not in {n["id"] for n in tasks}]
        old = crew_pb2.CrewPlan()
        old.CopyFrom(crew.plan)
        del crew.plan.tasks[:]
        new = [n for n in tasks if n["id"] not in kept]
        for task in old.tasks:
            if task.id in kept:
                crew.plan.tasks.append(task)
        self._set_tasks(crew, new, "manager")
        for task in dropped:
            if task.state != CANCELLED:
                task.state = CANCELLED
                task.error.CopyFrom(common_pb2.Failure(reason="RUN_CANCELLED", message="dropped by the manager's new plan"))
            crew.plan.tasks.append(task)

    def _parse_plan(self, crew: _Execution, answer: str, *, required: bool) -> list[dict[str, Any]] | None:
        """The tasks of a plan the manager answered, or None when the answer is no plan (and none is
        required). A plan that does not hold together fails the run with CREW_PLAN_INVALID."""
        parsed = _json_object(answer)
        if parsed is None:
            if required:
                raise RunFailure("CREW_PLAN_INVALID", 'the manager did not answer a plan ({"tasks": [...]})')
            return None
        tasks = [t for t in parsed["tasks"] if isinstance(t, dict)]
        if not tasks or len(tasks) != len(parsed["tasks"]):
            raise RunFailure("CREW_PLAN_INVALID", "the manager's plan has no tasks, or entries that are not tasks")
        v = Violations()
        check_tasks(v, "tasks", tasks, set(crew.members))
        try:
            v.raise_if_any("the manager's plan is invalid")
        except InvalidArgument as error:
            raise RunFailure("CREW_PLAN_INVALID", str(error)) from None
        return tasks

    # -- tasks ------------------------------------------------------------------

    async def _follow_on(self, crew: _Execution, task_id: str, child_id: str, after_seq: int) -> None:
        task = crew.task(task_id)
        agent_id = crew.members[task.member]["agent_id"]
        crew.live[child_id] = task_id
        try:
            ended = await self._relay(crew, child_id, agent_id, task_id, task.member, after_seq)
        finally:
            crew.live.pop(child_id, None)
        if ended.WhichOneof("payload") == "run_failed" and ended.run_failed.error.reason == "SERVER_RESTARTED":
            await self._execute_task(crew, task_id)  # cut off with the process: it runs again
            return
        await self._finish_task(crew, task, ended)

    async def _execute_task(self, crew: _Execution, task_id: str) -> None:
        """Run a task as a child run of its member's agent. A member is given its task, not the crew's
        input: the manager (HIERARCHICAL) turns that into tasks."""
        task = crew.task(task_id)
        member = crew.members[task.member]
        done = {t.id: t for t in crew.plan.tasks if t.state == SUCCEEDED}
        # SEQUENTIAL: a task without context is given every earlier result; otherwise those it names.
        needed = list(task.context) or (
            [t.id for t in crew.plan.tasks if t.id in done] if crew.spec.get("process") == Process.SEQUENTIAL else []
        )
        lines = [f"You are {member['role']} in a crew." if member["role"] else "", f"Your goal: {member['goal']}" if member["goal"] else ""]
        lines += [f"Task: {task.description}"]
        if task.expected_output:
            lines.append(f"Expected output: {task.expected_output}")
        if needed:
            lines.append("Results of earlier tasks:\n" + "\n".join(f"- {n}: {done[n].output}" for n in needed if n in done))
        ended = await self._run_child(crew, member["agent_id"], "\n".join(line for line in lines if line), task.id, task.member, plan_task=task)
        await self._finish_task(crew, task, ended)

    async def _finish_task(self, crew: _Execution, task: crew_pb2.CrewPlanTask, ended: run_pb2.RunEvent) -> None:
        kind = ended.WhichOneof("payload")
        if kind == "run_completed":
            output = ended.run_completed.output.text
            problem = _schema_problem(self._task_schema(crew, task.id), output)
            if problem is None:
                task.output, task.state = output, SUCCEEDED
                # Durable before any task that needs it starts: a succeeded task never runs again.
                await self._publish(crew, f"task {task.id} succeeded", durable=True)
                return
            failure = common_pb2.Failure(reason="CREW_TASK_OUTPUT_INVALID", message=f"the result of task {task.id!r} {problem}")
        else:
            failure = _failure_of(ended)
        task.state = CANCELLED if kind == "run_cancelled" else FAILED
        task.error.CopyFrom(failure)
        await self._publish(crew, f"task {task.id} {'cancelled' if task.state == CANCELLED else 'failed'}", durable=True)
        reason: ErrorReasonName = "CREW_TASK_OUTPUT_INVALID" if failure.reason == "CREW_TASK_OUTPUT_INVALID" else "CREW_TASK_FAILED"
        raise RunFailure(reason, f"task {task.id!r} of member {task.member!r} did not succeed: {failure.reason}: {failure.message}")

    def _task_schema(self, crew: _Execution, task_id: str) -> Mapping[str, Any] | None:
        for task in crew.spec.get("tasks") or []:
            if task.get("id") == task_id and task.get("output_schema"):
                return task["output_schema"]
        return None

    async def _ask_manager(self, crew: _Execution, step: str, text: str) -> str:
        ended = await self._run_child(crew, crew.spec["manager_id"], text, step, MANAGER_MEMBER)
        if ended.WhichOneof("payload") != "run_completed":
            failure = _failure_of(ended)
            raise RunFailure("CREW_TASK_FAILED", f"the manager's {step} did not succeed: {failure.reason}: {failure.message}")
        return ended.run_completed.output.text

    async def _run_child(
        self,
        crew: _Execution,
        agent_id: str,
        text: str,
        task_id: str,
        member: str,
        plan_task: crew_pb2.CrewPlanTask | None = None,
    ) -> run_pb2.RunEvent:
        """Start a child run of `agent_id` on `text` in a session of its own, copy its events into the
        crew run's log until it ends, and return its terminal event."""
        if crew.children_started + crew.descendants >= crew.limit("max_child_runs"):
            raise RunFailure(
                "CREW_CHILD_RUN_LIMIT_EXCEEDED",
                f"the crew run would start more than {crew.limit('max_child_runs'):g} child runs",
            )
        crew.children_started += 1
        plan = crew.active.plan
        session = await self.runs.new_session(plan.owner, agent_id, {"crew_run": plan.run_id, "crew_task": task_id})
        link = ChildLink(
            run_id=plan.run_id, root_run_id=plan.tree.root_run_id or plan.run_id, depth=plan.tree.depth + 1, owner=plan.owner,
            crew_task=task_id, crew_member=member, max_depth=int(crew.limit("max_depth")),
        )
        child = await self.runs.create_child(link, session, text)
        crew.live[child.id] = task_id
        if plan_task is not None:
            plan_task.child_run = f"runs/{child.id}"
            await self._publish(crew, f"task {task_id} started")
        try:
            return await self._follow(crew, child.id, agent_id, task_id, member)
        finally:
            crew.live.pop(child.id, None)

    async def _follow(self, crew: _Execution, child_id: str, agent_id: str, task_id: str, member: str) -> run_pb2.RunEvent:
        return await self._relay(crew, child_id, agent_id, task_id, member, 0)

    async def _relay(
        self, crew: _Execution, child_id: str, agent_id: str, task_id: str, member: str, after_seq: int
    ) -> run_pb2.RunEvent:
        active = crew.active

        def account(copied: list[run_pb2.ChildRunEvent]) -> None:
            # Usage of the whole tree: every descendant's own usage, from its latest usage event.
            for child in copied:
                if child.depth > 1 and child.event.WhichOneof("payload") == "run_created":
                    crew.descendants += 1
                    if crew.children_started + crew.descendants > crew.limit("max_child_runs") and not crew.exceeded:
                        crew.exceeded = True
                        raise RunFailure(
                            "CREW_CHILD_RUN_LIMIT_EXCEEDED",
                            f"the crew's run tree started more than {crew.limit('max_child_runs'):g} child runs",
                        )
                if child.event.WhichOneof("payload") == "usage_updated":
                    usage = child.event.usage_updated.usage
                    crew.usage[child.run] = (usage.input_tokens, usage.output_tokens)
            active.input_tokens = sum(i for i, _ in crew.usage.values())
            active.output_tokens = sum(o for _, o in crew.usage.values())
            total = active.input_tokens + active.output_tokens
            if crew.limit("max_total_tokens") and total > crew.limit("max_total_tokens") and not crew.exceeded:
                crew.exceeded = True
                raise RunFailure(
                    "CREW_TOKEN_LIMIT_EXCEEDED",
                    f"the crew's runs used {total} tokens, more than its limit of {crew.limit('max_total_tokens'):g}",
                )

        relay = ChildRelay(self.runner, self.event_log, active, child_id, agent_id, member=member, task=task_id, account=account)
        relay.after_seq = after_seq
        try:
            return await relay.follow()
        except RunFailure as exceeded:
            # A limit of the tree: this child stops now (its end copied), and the crew run fails.
            await relay.stop_and_drain(self.runs, exceeded.message)
            raise

    async def _publish(self, crew: _Execution, reason: str, *, durable: bool = False) -> None:
        crew.plan.revision += 1
        plan = crew_pb2.CrewPlan()
        plan.CopyFrom(crew.plan)
        event = self.runner.event(crew.active, crew_plan_updated=run_pb2.CrewPlanUpdated(plan=plan, reason=reason))
        await self.runner.record(crew.active, [event], durable=durable, crew_plan=_json(plan))

    async def _leave_children(self, crew: _Execution) -> None:
        """Stop following the children without stopping them or recording anything: the crew run is left
        waiting (a graceful shutdown), and the process that resumes it follows them again."""
        followers = list(crew.followers)
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)

    async def _stop_children(self, crew: _Execution, reason: str) -> None:
        """Cancel every child still active and wait (bounded) for them and their followers to end, then
        record the tasks that will not run as cancelled."""
        by = crew.active.cancelled_by or "crew"
        for child_id in list(crew.live):
            try:
                await self.runs.stop_anywhere(child_id, reason, by)
            except Exception:
                log.exception("%s: could not stop child run %s", crew.name, child_id)
        if crew.followers:
            _, late = await asyncio.wait(list(crew.followers), timeout=CHILDREN_STOP_SECONDS)
            for follower in late:
                follower.cancel()
            for follower in list(crew.followers):
                if follower.done() and not follower.cancelled():
                    follower.exception()  # retrieved: its failure is the crew's, recorded already
        stopped = False
        for task in crew.plan.tasks:
            if task.state in (PENDING, RUNNING):
                task.state = CANCELLED
                task.error.CopyFrom(common_pb2.Failure(reason="RUN_CANCELLED", message=reason))
                stopped = True
        if stopped and not crew.active.recorder.lost:
            await self._publish(crew, "stopped", durable=True)


class ChildRelay:
    """Copies a child run's events into its parent's log, in order, as `child_run_event`s (a grandchild's,
    which the child's log holds already, one level deeper, not nested); while the child waits for a person
    the parent waits too, with the same request. Returns the child's terminal event."""

    def __init__(
        self,
        runner: Runner,
        event_log: RunEventLog,
        active: ActiveRun,
        child_id: str,
        agent_id: str,
        *,
        member: str = "",
        task: str = "",
        account: Callable[[list[run_pb2.ChildRunEvent]], None] | None = None,
    ) -> None:
        self.runner, self.event_log, self.active = runner, event_log, active
        self.child_id, self.agent_id, self.member, self.task = child_id, agent_id, member, task
        self.account = account
        self.after_seq = 0

    async def follow(self) -> run_pb2.RunEvent:
        active = self.active
        async for batch in self.event_log.follow(self.child_id, self.after_seq):
            copied = [self._copy(event) for event in batch]
            self.after_seq = batch[-1].seq
            failure: RunFailure | None = None
            if self.account is not None:
                try:
                    self.account(copied)
                except RunFailure as exceeded:
                    failure = exceeded  # recorded with what caused it, then raised
            await self.runner.record(
                active,
                [self.runner.event(active, child_run_event=c) for c in copied],
                input_tokens=active.input_tokens,
                output_tokens=active.output_tokens,
            )
            if failure is not None:
                raise failure
            for event in batch:
                kind = event.WhichOneof("payload")
                if kind == "input_required":
                    await self._waits(event.input_required.input_request)
                elif kind == "input_received" or (kind in TERMINAL_PAYLOADS and self.child_id in active.children_waiting):
                    await self._resumed(event)
                if kind in TERMINAL_PAYLOADS:
                    return event
        raise RunFailure("INTERNAL", f"the events of child run runs/{self.child_id} ended without its end")

    async def stop_and_drain(self, runs: RunService, reason: str) -> None:
        """The parent stops: cancel the child and copy its events until it has ended (bounded)."""
        active = self.active
        try:
            await runs.stop_anywhere(self.child_id, reason, active.cancelled_by or "parent")
            async with asyncio.timeout(CHILDREN_STOP_SECONDS):
                await self.follow()
        except (TimeoutError, RunFailure):
            pass
        except Exception:
            log.exception("%s: could not stop child run runs/%s", active.plan.name, self.child_id)

    def _copy(self, event: run_pb2.RunEvent) -> run_pb2.ChildRunEvent:
        if event.WhichOneof("payload") == "child_run_event":
            deeper = run_pb2.ChildRunEvent()
            deeper.CopyFrom(event.child_run_event)
            deeper.depth += 1
            deeper.crew_member = deeper.crew_member or self.member
            deeper.crew_task = deeper.crew_task or self.task
            return deeper
        return run_pb2.ChildRunEvent(
            run=f"runs/{self.child_id}",
            parent_run=self.active.plan.name,
            depth=1,
            crew_member=self.member,
            crew_task=self.task,
            agent=names.AGENT.format(self.agent_id),
            event=event,
        )

    async def _waits(self, request: run_pb2.InputRequest) -> None:
        active = self.active
        active.children_waiting[self.child_id] = request
        active.status = RunStatus.REQUIRES_INPUT
        event = self.runner.event(active, input_required=run_pb2.InputRequired(input_request=request))
        await self.runner.record(
            active, [event], durable=True, run_change="run.requires_input",
            status=RunStatus.REQUIRES_INPUT, pending_input=_json(request),
        )

    async def _resumed(self, event: run_pb2.RunEvent) -> None:
        active = self.active
        if active.children_waiting.pop(self.child_id, None) is None:
            return
        events = []
        if event.WhichOneof("payload") == "input_received":
            events.append(self.runner.event(active, input_received=event.input_received))
        following = next(iter(active.children_waiting.values()), None)
        if following is None:
            active.status = RunStatus.RUNNING
            await self.runner.record(active, events, durable=True, run_change="run.resumed", status=RunStatus.RUNNING, pending_input={})
        else:
            await self.runner.record(active, events, durable=True, pending_input=_json(following))


class Delegation:
    """Another agent used by a run: called as a tool (a child run in a session of its own, whose answer is
    the result) or handed the conversation (a child run in the same session, whose answer is the run's)."""

    def __init__(self, runs: RunService, runner: Runner, event_log: RunEventLog) -> None:
        self.runs, self.runner, self.event_log = runs, runner, event_log

    async def call_agent(self, active: ActiveRun, agent_id: str, text: str) -> DelegatedResult:
        plan = active.plan
        session = await self.runs.new_session(plan.owner, agent_id, {"parent_run": plan.run_id})
        child = await self.runs.create_child(ChildLink.below(active), session, text)
        ended = await self._relay(active, child.id, agent_id)
        if ended.WhichOneof("payload") == "run_completed":
            output = ended.run_completed.output
            return {"output": output.text, "run": f"runs/{child.id}"}, False, run_pb2.ToolExecution.STATE_SUCCEEDED
        failure = _failure_of(ended)
        return (
            {"error": f"the agent's run did not succeed: {failure.reason}: {failure.message}", "run": f"runs/{child.id}"},
            True,
            run_pb2.ToolExecution.STATE_FAILED,
        )

    async def hand_over(self, active: ActiveRun, agent_id: str, text: str) -> run_pb2.RunOutput:
        child = await self.runs.create_child(ChildLink.below(active, agent_id=agent_id), active.plan.session, text)
        handed = run_pb2.RunHandedOver(agent=names.AGENT.format(agent_id), child_run=f"runs/{child.id}", message=text)
        await self.runner.record(active, [self.runner.event(active, run_handed_over=handed)], durable=True)
        ended = await self._relay(active, child.id, agent_id)
        if ended.WhichOneof("payload") == "run_completed":
            return ended.run_completed.output
        failure = _failure_of(ended)
        raise RunFailure(reason_named(failure.reason, "INTERNAL"), f"the run handed over to {names.AGENT.format(agent_id)} did not succeed: {failure.message}")

    async def _relay(self, active: ActiveRun, child_id: str, agent_id: str) -> run_pb2.RunEvent:
        tree = active.plan.tree
        relay = ChildRelay(self.runner, self.event_log, active, child_id, agent_id, member=tree.crew_member, task=tree.crew_task)
        try:
            return await relay.follow()
        except asyncio.CancelledError:
            # The parent stops (cancelled, timed out): so does the child, and its end is copied first. A parent
            # left waiting at a shutdown (its child waits for a person) leaves the child waiting too.
            if not active.detached:
                await relay.stop_and_drain(self.runs, active.cancel_reason or "the parent run stopped")
            raise


class CrewRunTree:
    """The engine's RunTree: crew runs (CrewConductor) and other agents used by any run (Delegation)."""

    def __init__(self, runs: RunService, runner: Runner, event_log: RunEventLog) -> None:
        self.crews = CrewConductor(runs, runner, event_log)
        self.delegation = Delegation(runs, runner, event_log)

    async def drive_crew(self, active: ActiveRun) -> tuple[run_pb2.RunOutput, common_pb2.Usage]:
        return await self.crews.drive(active)

    async def call_agent(self, active: ActiveRun, agent_id: str, text: str) -> DelegatedResult:
        return await self.delegation.call_agent(active, agent_id, text)

    async def hand_over(self, active: ActiveRun, agent_id: str, text: str) -> run_pb2.RunOutput:
        return await self.delegation.hand_over(active, agent_id, text)


PLAN_FORMAT = (
    'answer with a JSON plan: {"tasks": [{"id": "...", "description": "...", "expected_output": "...", '
    '"member": "<member id>", "context": ["<ids of earlier tasks it needs>"]}]}'
)


ASSIGN_FORMAT = (
    'assign a member to every task marked "to assign": answer with a JSON plan of the tasks, '
    '{"tasks": [{"id": "<task id>", "member": "<member id>"}]}'
)


def _json_object(answer: str) -> dict[str, Any] | None:
    """The JSON plan in a manager's answer (`{"tasks": [...]}`, text around it allowed), or None."""
    text = answer.strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        parsed = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("tasks"), list):
        return None
    return parsed


def _schema_problem(schema: Mapping[str, Any] | None, output: str) -> str | None:
    if not schema:
        return None
    try:
        value = json.loads(output)
    except ValueError:
        return "is not JSON"
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as error:
        return f"does not follow its output schema: {error.message}"
    except jsonschema.SchemaError:
        return "cannot be checked: its output schema is not a valid JSON schema"
    return None


def _failure_of(event: run_pb2.RunEvent) -> common_pb2.Failure:
    kind = event.WhichOneof("payload")
    if kind == "run_failed":
        return event.run_failed.error
    if kind == "run_cancelled":
        return common_pb2.Failure(reason="RUN_CANCELLED", message=event.run_cancelled.reason or "cancelled")
    return common_pb2.Failure(reason="RUN_TIMED_OUT", message="the child run reached its maximum duration")


def _usage(active: ActiveRun) -> common_pb2.Usage:
    return common_pb2.Usage(
        input_tokens=active.input_tokens,
        output_tokens=active.output_tokens,
        total_tokens=active.input_tokens + active.output_tokens,
    )


def _json(message: Any) -> dict[str, Any]:
    return json_values.with_integers(json_format.MessageToDict(message, preserving_proto_field_name=True))
