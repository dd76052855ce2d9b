"""A run's event stream that survives dropped connections.

`client.runs.execute(...)` and `client.runs.stream(...)` return a run stream:
iterate it for the run's `RunEvent`s, from the first to the terminal one. When
the connection drops (the call fails with UNAVAILABLE, or ends before the
terminal event), the stream waits for the channel to be ready again and asks
for the rest with `StreamRunEvents(run, after_seq=<last seq received>)`: the
events come in order, none missing, none twice. A drop before the first
event repeats `ExecuteAgent` with the same `request_id`, which starts no
second run. It gives up, raising the last error, when no event has come for
`ResumePolicy.timeout` seconds of reconnecting, or when the call's deadline
(the whole stream's) has passed.

A crew run's stream holds the plan (`crew_plan_updated`) and every child
run's events (`child_run_event`) besides its own; the stream keeps the latest
plan in `plan`, and `text` is the run's own text so far: for a crew run, its
final answer, never a child's tokens.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator

import grpc

from runwire.client.errors import RunwireError, Unavailable
from runwire.v1 import crew_pb2, run_pb2

TERMINAL_EVENTS = frozenset({"run_completed", "run_failed", "run_cancelled", "run_timed_out"})


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """How a run stream reconnects after a drop."""

    # Give up after this many seconds of reconnecting without receiving an event.
    timeout: float = 30.0
    initial_backoff: float = 0.05
    max_backoff: float = 2.0


def is_terminal(event: run_pb2.RunEvent) -> bool:
    return event.WhichOneof("payload") in TERMINAL_EVENTS


class _Progress:
    """Where a run stream is: the run, the last seq received, and how long it has been reconnecting."""

    def __init__(self, run: str, after_seq: int, timeout: float | None, policy: ResumePolicy) -> None:
        self.run = run
        self.last_seq = after_seq
        self.finished = False
        self.plan: crew_pb2.CrewPlan | None = None
        self.text = ""
        self.resumes = 0
        self._policy = policy
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._dropped_at: float | None = None
        self._failures = 0

    def remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def accept(self, event: run_pb2.RunEvent) -> bool:
        """Record an event; False for one already delivered (a repeated ExecuteAgent replays from seq 1)."""
        if event.seq <= self.last_seq:
            return False
        self.run = event.run or self.run
        self.last_seq = event.seq
        self.finished = is_terminal(event)
        kind = event.WhichOneof("payload")
        if kind == "crew_plan_updated":
            self.plan = event.crew_plan_updated.plan
        elif kind == "text_delta":
            self.text += event.text_delta.text
        self._dropped_at, self._failures = None, 0
        return True

    def after_drop(self, error: RunwireError | None) -> float:
        """The pause before reconnecting, or raise when the drop is not one to resume from."""
        if error is not None and error.code != grpc.StatusCode.UNAVAILABLE:
            raise error
        if error is None:
            error = Unavailable(grpc.StatusCode.UNAVAILABLE, f"the stream of {self.run or 'the run'} ended before the run did")
        now = time.monotonic()
        self._dropped_at = self._dropped_at or now
        if now - self._dropped_at >= self._policy.timeout or (self._deadline is not None and now >= self._deadline):
            raise error
        delay = min(self._policy.max_backoff, self._policy.initial_backoff * (2**self._failures))
        self._failures += 1
        self.resumes += 1
        return delay

    def wait_limit(self) -> float:
        """How long to wait for the channel to be ready before the next attempt."""
        remaining = self.remaining()
        left = self._policy.timeout - (time.monotonic() - (self._dropped_at or time.monotonic()))
        return max(0.0, min(left, remaining) if remaining is not None else left)


# open(progress) starts the first call; follow(progress) resumes (StreamRunEvents, or a repeated ExecuteAgent).
Opener = Callable[[_Progress], Any]


class _RunStreamState:
    """What both kinds of run stream hold: the calls to open and resume, where the stream is, the current call."""

    def __init__(self, channel: Any, open_call: Opener, resume_call: Opener, progress: _Progress) -> None:
        self._channel = channel
        self._open = open_call
        self._resume = resume_call
        self._progress = progress
        self._call: Any = None

    @property
    def run(self) -> str:
        """The run's name, `runs/...`; empty until the first event."""
        return self._progress.run

    @property
    def last_seq(self) -> int:
        return self._progress.last_seq

    @property
    def resumes(self) -> int:
        """How many times the stream reconnected."""
        return self._progress.resumes

    @property
    def plan(self) -> crew_pb2.CrewPlan | None:
        """A crew run's plan as its latest `crew_plan_updated` holds it; None before one (or for an agent's run)."""
        return self._progress.plan

    @property
    def text(self) -> str:
        """The run's own text so far (its `text_delta`s, not its children's): a crew run's final answer."""
        return self._progress.text

    def cancel(self) -> None:
        """Stop following the run (the run itself goes on unless it was started with cancel_on_disconnect)."""
        if self._call is not None:
            self._call.cancel()

    def _start(self, attempt: int) -> Any:
        """The call of this attempt: the first opens the stream, the later ones resume it."""
        self._call = (self._open if attempt == 0 else self._resume)(self._progress)
        return self._call

    def _end_attempt(self) -> None:
        """An attempt that did not reach the terminal event leaves no call running."""
        if self._call is not None and not self._progress.finished:
            self._call.cancel()


class RunStream(_RunStreamState):
    """The events of one run, resumed after dropped connections (sync)."""

    def __iter__(self) -> Iterator[run_pb2.RunEvent]:
        progress = self._progress
        attempt = 0
        while not progress.finished:
            error: RunwireError | None = None
            try:
                for event in self._start(attempt):
                    if progress.accept(event):
                        yield event
                        if progress.finished:
                            return
            except RunwireError as failure:
                error = failure
            finally:
                self._end_attempt()
            time.sleep(progress.after_drop(error))
            ready = grpc.channel_ready_future(self._channel)
            try:
                ready.result(timeout=progress.wait_limit())
            except grpc.FutureTimeoutError:
                ready.cancel()  # the next attempt fails fast and counts against the policy's timeout
            attempt += 1


class AsyncRunStream(_RunStreamState):
    """The events of one run, resumed after dropped connections (asyncio)."""

    async def __aiter__(self) -> AsyncIterator[run_pb2.RunEvent]:
        progress = self._progress
        attempt = 0
        while not progress.finished:
            error: RunwireError | None = None
            try:
                async for event in self._start(attempt):
                    if progress.accept(event):
                        yield event
                        if progress.finished:
                            return
            except RunwireError as failure:
                error = failure
            finally:
                self._end_attempt()
            await asyncio.sleep(progress.after_drop(error))
            try:
                await asyncio.wait_for(self._channel.channel_ready(), progress.wait_limit())
            except TimeoutError:
                pass  # the next attempt fails fast and counts against the policy's timeout
            attempt += 1
