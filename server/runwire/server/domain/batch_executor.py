"""Executes batches: each task becomes a run, with bounded concurrency, attempts, timeouts and restarts.

One driver task per active batch feeds its queued tasks, in input order, to
task workers under two limits: the batch's `max_concurrency` and the
server's `max_concurrent_batch_tasks`. A worker starts a run for its task
(creating the task's own session first when it has none) and follows the
run's events until it ends.

Exactly once: the commit that creates a task's run is the one that marks the
task started and records the run, and only a task still in the expected
status can be started. One process drives a batch: the one holding its
lease (store/leases.py), and every write of the driver checks the batch's
fencing number in the same transaction, so a driver whose lease was taken
writes nothing more and stops. The process that takes a batch over finds
each started task's run ended (a run cut short by its owner's death ends
FAILED SERVER_RESTARTED), or still going (it follows it): a task whose run
succeeded keeps its result, an interrupted one is queued again once, and a
second interruption fails it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from runwire.server.background import spawn
from runwire.server.core import names
from runwire.server.core.errors import DomainError, ResourceExhausted
from runwire.server.core.principal import Principal
from runwire.server.core.statuses import ACTIVE_STATUSES as ACTIVE_RUN_STATUSES
from runwire.server.core.statuses import RunStatus
from runwire.server.domain.agents import not_found as agent_not_found
from runwire.server.domain.batches import (
    ACTIVE_BATCH_STATES,
    STARTED_TASK_STATUSES,
    BatchState,
    TaskStatus,
    record_batch,
    record_task,
    task_name,
)
from runwire.server.domain.context import DomainContext
from runwire.server.domain.runs import RunService
from runwire.server.store import batches as store
from runwire.server.store import repositories as repo
from runwire.server.store import work_queue
from runwire.server.store.leases import LeaseLost, LeaseTerms
from runwire.server.store.models import BatchRow, BatchTaskRow, RunColumns, RunRow
from runwire.server.store.signals import SignalBus
from runwire.server.store.transaction import CoreTransaction

log = logging.getLogger("runwire.batches")

# Run failures worth another attempt (up to `max_attempts`).
RETRYABLE_REASONS = frozenset({"PROVIDER_ERROR", "INTERNAL"})
# Run failures that say the server went away, not that the task failed.
INTERRUPTED_REASONS = frozenset({"SERVER_RESTARTED", "SHUTTING_DOWN"})
STOP_REASONS = {
    "cancelled": ("BATCH_CANCELLED", "the batch was cancelled", TaskStatus.CANCELLED, BatchState.CANCELLED),
    "timed_out": ("BATCH_TIMED_OUT", "the batch reached its timeout", TaskStatus.CANCELLED, BatchState.TIMED_OUT),
}
FEED_CHUNK = 200
RUN_LIMIT_RETRY_SECONDS = 0.5

# Writes a batch's results file when it ends; returns the `files/{file}` name.
WriteOutput = Callable[[BatchRow, list[BatchTaskRow]], Awaitable[str]]


# Signals between replicas: a batch changed (watchers read it again), and a batch is being cancelled (its
# driver stops it). Items are batch ids.
BATCH_CHANGED_SIGNAL = "b"
BATCH_CANCEL_SIGNAL = "x"
# How long CancelBatch waits for the batch to stop, and how often a replica that does not drive the batch
# signals its driver again meanwhile.
CANCEL_WAIT_SECONDS = 10.0
CANCEL_RESEND_SECONDS = 2.0


class ChangeSignals:
    """Wakes watchers of a batch when it or one of its tasks changes, here and (through the signal bus) on
    the other replicas."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self.bus: SignalBus | None = None

    def signal(self, batch_id: str) -> asyncio.Event:
        """The event the next change of `batch_id` sets (take it before reading, so no change is missed)."""
        event = self._events.get(batch_id)
        if event is None:
            event = self._events[batch_id] = asyncio.Event()
        return event

    def changed(self, batch_id: str) -> None:
        """A change of the batch committed here: wake its watchers, here and on the other replicas."""
        self.woken([batch_id])
        if self.bus is not None:
            self.bus.publish(BATCH_CHANGED_SIGNAL, [batch_id])

    def woken(self, batch_ids: list[str]) -> None:
        for batch_id in batch_ids:
            event = self._events.pop(batch_id, None)
            if event is not None:
                event.set()


@dataclass
class _Control:
    """What the driver of one batch shares with its workers and with CancelBatch."""

    batch: BatchRow
    # The batch's fencing number when this process took its lease; every write of the driver checks it.
    fence: int = 0
    lost: bool = False
    stop_reason: str = ""
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    runs: dict[int, str] = field(default_factory=dict)
    workers: set[asyncio.Task[None]] = field(default_factory=set)
    driver: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Ending:
    """How a task ends, or that it runs again."""

    status: TaskStatus | None  # None: another attempt
    reason: str = ""
    message: str = ""
    output: dict[str, Any] | None = None


class BatchExecutor:
    def __init__(
        self, ctx: DomainContext, runs: RunService, lease: LeaseTerms, write_output: WriteOutput | None = None
    ) -> None:
        self.ctx = ctx
        self.runs = runs
        # False in an API-only process: its batches wait without an owner for a worker to drive them.
        self.executes = runs.executes
        # This process as the owner of the batches it creates or takes over.
        self.lease = lease
        self.changes = ChangeSignals()
        # Without it, a batch that asks for a results file ends without one.
        self.write_output = write_output
        self._controls: dict[str, _Control] = {}
        self._slots = asyncio.Semaphore(ctx.limits.max_concurrent_batch_tasks)
        self._closing = False
        self._bus: SignalBus | None = None

    def use_signals(self, bus: SignalBus) -> None:
        self.changes.bus = bus
        self._bus = bus
        bus.on(BATCH_CHANGED_SIGNAL, self.changes.woken)
        bus.on(BATCH_CANCEL_SIGNAL, self._cancel_signalled)

    def _cancel_signalled(self, batch_ids: list[str]) -> None:
        """Another replica took a CancelBatch (the batch is CANCELLING in the database): stop the batches
        driven here, under their fence, as a CancelBatch made here would."""
        for batch_id in batch_ids:
            control = self._controls.get(batch_id)
            if control is not None and not control.lost:
                spawn(self._stop(control, "cancelled"), name=f"batch-cancel-{batch_id}")

    # -- control --------------------------------------------------------------

    def start(self, batch: BatchRow) -> None:
        """Drive a batch whose lease this process holds (it created it, or claimed it)."""
        if self._closing:
            return
        previous = self._controls.get(batch.id)
        if previous is not None:
            if previous.fence == batch.fence:
                return
            self.lose(batch.id)  # claimed again: the old driver's lease is gone
        control = self._controls[batch.id] = _Control(batch=batch, fence=batch.fence)
        control.driver = spawn(self._drive(control), name=f"batch-{batch.id}")

    def queued(self) -> None:
        """A batch now waits without an owner (an API-only process): the work queue looks for a worker."""
        self.runs.queued()

    def held(self) -> dict[str, int]:
        """The batches this process drives, with their fencing numbers."""
        return {batch_id: c.fence for batch_id, c in self._controls.items() if not c.lost}

    def lose(self, batch_id: str) -> None:
        """Another process drives the batch now: stop driving it here, writing nothing more."""
        control = self._controls.get(batch_id)
        if control is None or control.lost:
            return
        log.warning("batch %s: lease lost to another process (fence %d); stopping its driver here", batch_id, control.fence)
        control.lost = True
        control.stopped.set()
        if self._controls.get(batch_id) is control:
            del self._controls[batch_id]
        current = asyncio.current_task()
        for task in [control.driver, *control.workers]:
            if task is not None and task is not current and not task.done():
                task.cancel()

    async def cancel(self, batch_id: str, by: str) -> None:
        """Stop a batch being cancelled, and wait (a little) for its running tasks to stop."""
        control = self._controls.get(batch_id)
        if control is None and self._bus is not None and await self._driven_elsewhere(batch_id):
            # Another live replica drives it: its driver stops it under its fence.
            await self._await_remote_stop(batch_id)
            return
        if control is None:
            # No driver here or elsewhere (it ended meanwhile, its driver died, or the server is shutting
            # down): settle it directly.
            await self._settle_without_driver(batch_id, "cancelled")
            return
        await self._stop(control, "cancelled")
        try:
            await asyncio.wait_for(asyncio.shield(control.done.wait()), timeout=10.0)
        except TimeoutError:
            pass  # the batch stays CANCELLING until its last run has stopped

    async def _driven_elsewhere(self, batch_id: str) -> bool:
        async with self.ctx.store.read() as db:
            batch = await store.get_batch(db, batch_id, None)
        return (
            batch is not None
            and batch.lease_owner not in ("", self.lease.owner)
            and batch.lease_expires is not None
            and batch.lease_expires > self.ctx.clock()
        )

    async def _await_remote_stop(self, batch_id: str) -> None:
        """Signal the batch's driver on another replica, and wait (a little) for the batch to end there."""
        assert self._bus is not None
        deadline = asyncio.get_running_loop().time() + CANCEL_WAIT_SECONDS
        while True:
            changed = self.changes.signal(batch_id)
            async with self.ctx.store.read() as db:
                batch = await store.get_batch(db, batch_id, None)
            if batch is None or batch.state not in ACTIVE_BATCH_STATES:
                return
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return  # the batch stays CANCELLING until its last run has stopped
            self._bus.publish(BATCH_CANCEL_SIGNAL, [batch_id])
            try:
                await asyncio.wait_for(changed.wait(), min(left, CANCEL_RESEND_SECONDS))
            except TimeoutError:
                pass

    async def take_over(self, batches: list[BatchRow]) -> int:
        """Batches whose lease this process just claimed: settle what their previous driver left started,
        then drive each on from where it was."""
        for batch in batches:
            try:
                await self._settle_started_tasks(batch)
            except LeaseLost:
                continue  # claimed by another process meanwhile
            self.start(batch)
            control = self._controls.get(batch.id)
            if batch.state == BatchState.CANCELLING and control is not None:
                await self._stop(control, "cancelled")
        return len(batches)

    def close(self) -> None:
        """Start no more tasks: the server is shutting down (runs end SHUTTING_DOWN, resumed at the next start)."""
        self._closing = True
        for control in self._controls.values():
            control.stopped.set()

    async def wait_closed(self, timeout: float) -> None:
        """Wait for the drivers; then stop what still follows a run (a run left waiting for a person is
        detached by the shutdown and never ends here: the next start follows it again)."""
        tasks = [c.driver for c in self._controls.values() if c.driver is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        leftovers = set(pending)
        for control in list(self._controls.values()):
            leftovers |= control.workers
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)

    # -- driving a batch ------------------------------------------------------

    async def _drive(self, control: _Control) -> None:
        batch = control.batch
        loop = asyncio.get_running_loop()
        remaining = (batch.deadline - self.ctx.clock()).total_seconds()
        timer = loop.call_later(max(remaining, 0.0), lambda: spawn(self._stop(control, "timed_out"), name=f"batch-timeout-{control.batch.id}"))
        per_batch = asyncio.Semaphore(batch.max_concurrency)
        try:
            await self._follow_started(control, per_batch)
            await self._feed(control, per_batch)
            while control.workers:
                await asyncio.wait(set(control.workers))
            if not self._closing and not control.lost:
                await self._finish(control)
        except asyncio.CancelledError:
            if not control.lost:
                raise
        except LeaseLost:
            self.lose(batch.id)
        except Exception:
            log.exception("batch %s: the driver failed", batch.id)
        finally:
            timer.cancel()
            control.done.set()
            if self._controls.get(batch.id) is control:
                del self._controls[batch.id]

    async def _follow_started(self, control: _Control, per_batch: asyncio.Semaphore) -> None:
        """Tasks whose run a previous process left waiting for a person (it waits on): follow them again."""
        async with self.ctx.store.read() as db:
            started = await store.tasks_with_status(db, control.batch.id, STARTED_TASK_STATUSES)
        for task in started:
            if not await self._acquire(per_batch, control):
                return
            if not await self._acquire(self._slots, control):
                per_batch.release()
                return
            self._spawn(control, task, per_batch)

    def _spawn(self, control: _Control, task: BatchTaskRow, per_batch: asyncio.Semaphore) -> None:
        worker = spawn(self._work(control, task, per_batch), name=f"batch-task-{control.batch.id}-{task.index}")
        control.workers.add(worker)
        worker.add_done_callback(control.workers.discard)

    async def _feed(self, control: _Control, per_batch: asyncio.Semaphore) -> None:
        batch = control.batch
        after = 0
        while not control.stopped.is_set():
            async with self.ctx.store.read() as db:
                queued = await store.tasks_with_status(db, batch.id, (TaskStatus.QUEUED,), after_index=after, limit=FEED_CHUNK)
            if not queued:
                return
            for task in queued:
                after = task.index
                if not await self._acquire(per_batch, control):
                    return
                if not await self._acquire(self._slots, control):
                    per_batch.release()
                    return
                self._spawn(control, task, per_batch)

    @staticmethod
    async def _acquire(slots: asyncio.Semaphore, control: _Control) -> bool:
        """A slot, or False when the batch stops first."""
        if control.stopped.is_set():
            return False
        if not slots.locked():  # a free slot is taken without waiting: no race with the stop to set up
            await slots.acquire()
            return True
        acquire = asyncio.ensure_future(slots.acquire())
        stopped = asyncio.ensure_future(control.stopped.wait())
        await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not acquire.done():
            acquire.cancel()
            return False
        if control.stopped.is_set():
            slots.release()
            return False
        return True

    async def _stop(self, control: _Control, why: str) -> None:
        if control.stop_reason or control.done.is_set():
            return
        control.stop_reason = why
        control.stopped.set()
        reason, message, status, _ = STOP_REASONS[why]
        try:
            await self._end_queued(control.batch.id, status, reason, message, control.fence)
        except LeaseLost:
            self.lose(control.batch.id)
            return
        for run_id in list(control.runs.values()):
            await self.runs.stop_anywhere(run_id, message, "batch")

    async def _end_queued(
        self, batch_id: str, status: TaskStatus, reason: str, message: str, fence: int | None = None
    ) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.write() as db:
            version = await store.bump_version(self.ctx.store, db, batch_id, now, fence)
            ended = await store.end_tasks(
                db,
                batch_id,
                (TaskStatus.QUEUED,),
                {"status": int(status), "error_reason": reason, "error_message": message, "end_time": now, "update_time": now, "version": version},
            )
            if ended:
                batch = await store.get_batch(db, batch_id, None)
                changed = await store.tasks_changed_after(db, batch_id, version - 1, self.ctx.limits.max_batch_tasks)
                for task in changed:  # read after the change: as this transaction leaves them
                    await record_task(self.ctx, db, batch.owner if batch is not None else "", task)
        self.changes.changed(batch_id)

    async def _finish(self, control: _Control) -> None:
        batch = control.batch
        async with self.ctx.store.read() as db:
            counts = (await store.task_counts(db, [batch.id]))[batch.id]
        if control.stop_reason:
            state = STOP_REASONS[control.stop_reason][3]
        elif counts.of(TaskStatus.SUCCEEDED) == counts.total:
            state = BatchState.SUCCEEDED
        elif counts.of(TaskStatus.SUCCEEDED) == 0:
            state = BatchState.FAILED
        else:
            state = BatchState.PARTIALLY_SUCCEEDED
        await self._end_batch(batch.id, state, control.fence)

    async def _end_batch(self, batch_id: str, state: BatchState, fence: int | None = None) -> None:
        output_file = ""
        async with self.ctx.store.read() as db:
            batch = await store.get_batch(db, batch_id, None)
            if batch is None:
                return
            tasks = await store.tasks_with_status(db, batch_id, TaskStatus) if batch.write_output_file else []
        if batch.write_output_file and self.write_output is not None:
            try:
                output_file = await self.write_output(batch, tasks)
            except Exception:
                log.exception("batch %s: writing the output file failed", batch_id)
        now = self.ctx.clock()
        async with self.ctx.store.write() as db:
            moved = await store.set_batch_state(
                self.ctx.store, db, batch_id, now, ACTIVE_BATCH_STATES, fence, state=int(state), end_time=now, output_file=output_file
            )
            if moved is not None:
                await record_batch(self.ctx, db, "batch.updated", batch_id)
        self.changes.changed(batch_id)

    # -- one task -------------------------------------------------------------

    async def _work(self, control: _Control, task: BatchTaskRow, per_batch: asyncio.Semaphore) -> None:
        try:
            await self._execute_task(control, task)
        except LeaseLost:
            self.lose(control.batch.id)
        except Exception:  # a bug must not leave the task started forever
            log.exception("batch %s: task %d failed", control.batch.id, task.index)
            try:
                ending = _Ending(
                    TaskStatus.FAILED, "INTERNAL", "the task failed on an internal error (the server's log has the detail)"
                )
                await self._record_end(control, task, TaskStatus(task.status), ending, (0, 0))
            except LeaseLost:
                self.lose(control.batch.id)
        finally:
            per_batch.release()
            self._slots.release()

    async def _execute_task(self, control: _Control, task: BatchTaskRow) -> None:
        batch = control.batch
        owner = Principal(id=batch.owner, is_admin=True)  # access was checked when the batch was created
        expected = TaskStatus(task.status)  # QUEUED; RUNNING between attempts
        tokens = (0, 0)
        if expected in STARTED_TASK_STATUSES:
            # Its run, resumed after a restart, goes on: follow it instead of starting another.
            ended = await self._follow_run(control, task, task.run_id)
            tokens = (ended.input_tokens or 0, ended.output_tokens or 0)
            ending = decide(ended, task.attempts, batch.max_attempts, control.stop_reason)
            if ending is None and not self._closing and not control.lost:
                # Its owner died mid-run: the interrupted attempt is replaced by a new one, once.
                if not await self._settle_interrupted(control, task, ended):
                    return
                expected, tokens = TaskStatus.QUEUED, (0, 0)
            elif ending is None or (ending.status is None and self._closing):
                return
            elif ending.status is not None or control.stopped.is_set():
                if ending.status is None:
                    reason, message, status, _ = STOP_REASONS[control.stop_reason]
                    ending = _Ending(status, reason, message)
                await self._record_end(control, task, TaskStatus.RUNNING, ending, tokens)
                return
            else:
                expected = TaskStatus.RUNNING
        while True:
            if control.stopped.is_set():
                if expected != TaskStatus.QUEUED:  # stopped between two attempts
                    reason, message, status, _ = STOP_REASONS.get(control.stop_reason, STOP_REASONS["cancelled"])
                    if not self._closing:
                        await self._record_end(control, task, expected, _Ending(status, reason, message), tokens)
                return
            try:
                if task.own_session:
                    await self._ensure_session(owner, batch, task)
                run = await self._start_run(owner, control, task, expected)
            except _TaskTaken:
                return  # cancelled (or taken) before it could start
            except _NoTaskSlot:
                # As many batch tasks run as the server allows (in all processes): wait for one to end.
                await asyncio.sleep(RUN_LIMIT_RETRY_SECONDS)
                continue
            except ResourceExhausted as error:
                if error.reason != "RUN_LIMIT_EXCEEDED":
                    await self._record_end(control, task, expected, _Ending(TaskStatus.FAILED, error.reason, error.message), tokens)
                    return
                # The owner has as many active runs as allowed: wait for one to end.
                await asyncio.sleep(RUN_LIMIT_RETRY_SECONDS)
                continue
            except DomainError as error:
                ending = _Ending(TaskStatus.FAILED, error.reason, error.message)
                await self._record_end(control, task, expected, ending, tokens)
                return
            expected = TaskStatus.RUNNING
            task.attempts += 1
            ended = await self._follow_run(control, task, run.id)
            tokens = (tokens[0] + (ended.input_tokens or 0), tokens[1] + (ended.output_tokens or 0))
            ending = decide(ended, task.attempts, batch.max_attempts, control.stop_reason)
            if ending is None and not self._closing and not control.lost:
                # This process runs the run; it ended SERVER_RESTARTED only if its lease was taken,
                # which took the batch's too. Settled like an interruption all the same.
                if not await self._settle_interrupted(control, task, ended):
                    return
                expected, tokens = TaskStatus.QUEUED, (0, 0)
                continue
            if ending is None or (ending.status is None and self._closing):
                return  # interrupted by the shutdown: settled when the server starts again
            if ending.status is None and not control.stopped.is_set():
                continue
            if ending.status is None:
                reason, message, status, _ = STOP_REASONS[control.stop_reason]
                ending = _Ending(status, reason, message)
            await self._record_end(control, task, TaskStatus.RUNNING, ending, tokens)
            return

    async def _ensure_session(self, owner: Principal, batch: BatchRow, task: BatchTaskRow) -> None:
        """The task's own session, created at its first start (the owner's session quota was checked with the batch)."""
        now = self.ctx.clock()
        async with self.ctx.store.write_core() as db:
            if await repo.session_exists(self.ctx.store, db, task.session_id):
                return  # created by an earlier attempt
            if not await repo.agent_exists(self.ctx.store, db, task.agent_id):
                raise agent_not_found(names.AGENT.format(task.agent_id))
            await store.insert_session(
                self.ctx.store,
                db,
                {
                    "id": task.session_id,
                    "owner": batch.owner,
                    "agent_id": task.agent_id,
                    "display_name": "",
                    "labels": {"batch": batch.id},
                    "metadata": {},
                    "expire_time": None,
                    "message_count": 0,
                    "create_time": now,
                    "update_time": now,
                    "revision": 1,
                },
            )

    async def _start_run(self, owner: Principal, control: _Control, task: BatchTaskRow, expected: TaskStatus) -> RunColumns:
        batch = control.batch

        async def mark_started(db: CoreTransaction, run: RunColumns) -> None:
            # The server's concurrent batch tasks, counted over every batch and process.
            await work_queue.lock(self.ctx.store, db, [work_queue.BATCH_TASKS_KEY])
            others = await work_queue.started_batch_tasks(self.ctx.store, db, STARTED_TASK_STATUSES, but=task.pk)
            if others >= self.ctx.limits.max_concurrent_batch_tasks:
                raise _NoTaskSlot()
            now = self.ctx.clock()
            version = await store.set_batch_state(
                self.ctx.store, db, batch.id, now, (BatchState.QUEUED,), control.fence, state=int(BatchState.RUNNING), start_time=now
            )
            if version is not None:
                await record_batch(self.ctx, db, "batch.updated", batch.id)
            else:
                version = await store.bump_version(self.ctx.store, db, batch.id, now, control.fence)
            values: dict[str, Any] = {
                "status": int(TaskStatus.RUNNING),
                "run_id": run.id,
                "attempts": task.attempts + 1,
                "update_time": now,
                "version": version,
            }
            if task.start_time is None:
                values["start_time"] = task.start_time = now
            changed = await store.update_task(self.ctx.store, db, task.pk, (expected,), values)
            if changed is None:
                raise _TaskTaken()
            await record_task(self.ctx, db, batch.owner, changed)

        options = {"max_duration": batch.task_timeout_seconds} if batch.task_timeout_seconds else {}
        run = await self.runs.create(
            owner,
            "" if task.crew_id else names.SESSION.format(task.session_id),
            list(task.input),
            crew_name=names.CREW.format(task.crew_id) if task.crew_id else "",
            options=options,
            labels={"batch": batch.id},
            batch_task=task_name(batch.id, task.index),
            within=mark_started,
            queue=True,  # any process with room runs it: a batch's tasks spread over the replicas
        )
        self.changes.changed(batch.id)
        batch.state = BatchState.RUNNING
        return run

    async def _follow_run(self, control: _Control, task: BatchTaskRow, run_id: str) -> store.RunRecord:
        """The task's run once it has ended; a stop of the batch cancels it."""
        control.runs[task.pk] = run_id
        if control.stopped.is_set() and control.stop_reason:
            await self.runs.stop_anywhere(run_id, STOP_REASONS[control.stop_reason][1], "batch")
        try:
            return await self._await_run(control, task, run_id)
        finally:
            control.runs.pop(task.pk, None)

    async def _await_run(self, control: _Control, task: BatchTaskRow, run_id: str) -> store.RunRecord:
        """Follow the run to its end, showing on the task when it waits for a person."""
        # A run this process runs is followed from its channel even once it has ended (no read back).
        event_log = self.runs.event_log
        async for events in event_log.follow(run_id, 0, event_log.channel(run_id)):
            for event in events:
                kind = event.WhichOneof("payload")
                if kind == "input_required":
                    await self._set_status(control, task, TaskStatus.RUNNING, TaskStatus.REQUIRES_INPUT)
                elif kind == "input_received":
                    await self._set_status(control, task, TaskStatus.REQUIRES_INPUT, TaskStatus.RUNNING)
        run = await self.ctx.store.fetch_one(store.RUN_RECORD_BY_ID, {"id": run_id})
        assert run is not None
        return run

    async def _set_status(self, control: _Control, task: BatchTaskRow, before: TaskStatus, after: TaskStatus) -> None:
        now = self.ctx.clock()
        async with self.ctx.store.write_core() as db:
            version = await store.bump_version(self.ctx.store, db, control.batch.id, now, control.fence)
            values = {"status": int(after), "update_time": now, "version": version}
            changed = await store.update_task(self.ctx.store, db, task.pk, (before,), values)
            if changed is not None:
                await record_task(self.ctx, db, control.batch.owner, changed)
        self.changes.changed(control.batch.id)

    async def _record_end(
        self, control: _Control, task: BatchTaskRow, expected: TaskStatus, ending: _Ending, tokens: tuple[int, int]
    ) -> None:
        assert ending.status is not None
        now = self.ctx.clock()
        values: dict[str, Any] = {
            "status": int(ending.status),
            "output": ending.output or {},
            "error_reason": ending.reason,
            "error_message": ending.message,
            "input_tokens": task.input_tokens + tokens[0],
            "output_tokens": task.output_tokens + tokens[1],
            "end_time": now,
            "duration_ms": (now - task.start_time).total_seconds() * 1000 if task.start_time else None,
            "update_time": now,
        }
        async with self.ctx.store.write_core() as db:
            values["version"] = await store.bump_version(self.ctx.store, db, control.batch.id, now, control.fence)
            changed = await store.update_task(self.ctx.store, db, task.pk, (expected, TaskStatus.REQUIRES_INPUT), values)
            if changed is not None:
                await record_task(self.ctx, db, control.batch.owner, changed)
        self.changes.changed(control.batch.id)

    async def _settle_interrupted(self, control: _Control, task: BatchTaskRow, run: Any) -> bool:
        """A task whose run was cut short by its owner's death: queued again (True, with `task` brought
        up to date), or failed at its second interruption (False)."""
        now = self.ctx.clock()
        values = _settled(task, run, control.batch.max_attempts, now)
        async with self.ctx.store.write_core() as db:
            values.update(update_time=now, version=await store.bump_version(self.ctx.store, db, control.batch.id, now, control.fence))
            changed = await store.update_task(self.ctx.store, db, task.pk, STARTED_TASK_STATUSES, values)
            if changed is not None:
                await record_task(self.ctx, db, control.batch.owner, changed)
        self.changes.changed(control.batch.id)
        if changed is None or changed.status != TaskStatus.QUEUED:
            return False
        for name in ("status", "attempts", "interruptions", "input_tokens", "output_tokens"):
            setattr(task, name, getattr(changed, name))
        return True

    # -- after a takeover -----------------------------------------------------

    async def _settle_started_tasks(self, batch: BatchRow) -> None:
        """Tasks a previous driver started: record or requeue each whose run has ended; those whose run
        goes on (it waits for a person, or its owner lives) the driver follows."""
        async with self.ctx.store.write() as db:
            started = await store.tasks_with_status(db, batch.id, STARTED_TASK_STATUSES)
            if not started:
                return
            now = self.ctx.clock()
            version = await store.bump_version(self.ctx.store, db, batch.id, now, batch.fence)
            for task in started:
                run = await store.get_run(db, task.run_id) if task.run_id else None
                if run is not None and run.status in ACTIVE_RUN_STATUSES:
                    continue  # its run goes on: the driver follows it
                values = _settled(task, run, batch.max_attempts, now)
                values.update(update_time=now, version=version)
                changed = await store.update_task(self.ctx.store, db, task.pk, STARTED_TASK_STATUSES, values)
                if changed is not None:
                    await record_task(self.ctx, db, batch.owner, changed)

    async def _settle_without_driver(self, batch_id: str, why: str) -> None:
        reason, message, status, state = STOP_REASONS[why]
        await self._end_queued(batch_id, status, reason, message)
        async with self.ctx.store.read() as db:
            started = await store.tasks_with_status(db, batch_id, STARTED_TASK_STATUSES)
        for task in started:
            await self.runs.stop_anywhere(task.run_id, message, "batch")
        if not started:
            await self._end_batch(batch_id, state)


class _NoTaskSlot(Exception):
    """max_concurrent_batch_tasks tasks run already, counting every process."""


class _TaskTaken(Exception):
    """The task was no longer in the status expected when its run was to be created (the batch was stopped)."""


def decide(run: RunRow | store.RunRecord, attempts: int, max_attempts: int, stop_reason: str) -> _Ending | None:
    """How a task ends after its run ended; `_Ending(None)` for another attempt, None when the server is going away."""
    status = RunStatus(run.status)
    if status == RunStatus.SUCCEEDED:
        return _Ending(TaskStatus.SUCCEEDED, output=dict(run.output or {}))
    if status == RunStatus.CANCELLED:
        if stop_reason:
            reason, message, task_status, _ = STOP_REASONS[stop_reason]
            return _Ending(task_status, reason, message)
        return _Ending(TaskStatus.CANCELLED, run.error_reason or "RUN_CANCELLED", run.error_message or "the run was cancelled")
    if status == RunStatus.TIMED_OUT:
        return _Ending(TaskStatus.TIMED_OUT, "RUN_TIMED_OUT", run.error_message or "the run reached its maximum duration")
    if status == RunStatus.FAILED and run.error_reason in INTERRUPTED_REASONS:
        return None
    if status == RunStatus.FAILED and run.error_reason in RETRYABLE_REASONS and attempts < max_attempts:
        return _Ending(None)
    return _Ending(TaskStatus.FAILED, run.error_reason or "INTERNAL", run.error_message or "the run failed")


def _settled(task: BatchTaskRow, run: RunRow | None, max_attempts: int, now: Any) -> dict[str, Any]:
    """The new values of a task a previous process left started."""
    requeue = {"status": int(TaskStatus.QUEUED)}
    if run is None or run.status not in {int(s) for s in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT)}:
        ending: _Ending | None = None
    else:
        ending = decide(run, task.attempts, max_attempts, "")
    tokens = {
        "input_tokens": task.input_tokens + (run.input_tokens or 0 if run else 0),
        "output_tokens": task.output_tokens + (run.output_tokens or 0 if run else 0),
    }
    if ending is None:
        if task.interruptions == 0:
            # The interrupted attempt is replaced by a new one, once.
            return {**requeue, "interruptions": 1, "attempts": max(task.attempts - 1, 0), **tokens}
        ending = _Ending(TaskStatus.FAILED, "SERVER_RESTARTED", "the server restarted twice while the task was running")
    if ending.status is None:
        return {**requeue, **tokens}
    return {
        "status": int(ending.status),
        "output": ending.output or {},
        "error_reason": ending.reason,
        "error_message": ending.message,
        "end_time": now,
        "duration_ms": (now - task.start_time).total_seconds() * 1000 if task.start_time else None,
        **tokens,
    }

