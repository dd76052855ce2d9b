"""RunService: thin mapping of run RPCs onto the domain; streams observe runs through the event log."""

from __future__ import annotations

import time
from typing import Any, AsyncGenerator, AsyncIterator, Callable

from runwire.server.api.calls import ServicerContext, caller, current_call, send_headers
from runwire.server.api.options import list_query
from runwire.server.core.principal import Principal
from runwire.server.domain.runs import RunService, token_stream_end
from runwire.server.engine.events import coalesce, is_terminal
from runwire.server.store.models import RunColumns
from runwire.server.wire import convert
from runwire.v1 import run_pb2, run_pb2_grpc

RUN_HEADER = "runwire-run"


class RunServicer(run_pb2_grpc.RunServiceServicer):
    def __init__(self, runs: RunService) -> None:
        self.runs = runs

    async def _start(
        self,
        request: run_pb2.ExecuteAgentRequest | run_pb2.StreamTokensRequest,
        context: ServicerContext,
        method: str,
    ) -> str:
        async def open_stream(row: RunColumns) -> None:
            name = f"runs/{row.id}"
            current_call().follows = name
            await send_headers(context, (RUN_HEADER, name))

        row = await self.runs.create(
            caller(),
            request.session,
            [convert.part_to_dict(p, f"input[{i}]") for i, p in enumerate(request.input)],
            options=convert.run_options_fields(request.options),
            labels=dict(request.labels),
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            method=method,
            # The caller's deadline bounds the model calls made while it waits (docs/runs.md, Deadlines);
            # with cancel_on_disconnect the deadline ends the stream and that cancels the run instead.
            deadline=None if request.cancel_on_disconnect else current_call().deadline,
            # Headers first: sent while the run's first steps run, their completion would wait for them.
            before_start=open_stream,
            crew_name=request.crew,
        )
        await open_stream(row)  # a replayed request_id starts no run, so nothing has opened the stream yet
        return f"runs/{row.id}"

    async def _follow(
        self,
        principal: Principal,
        name: str,
        after_seq: int,
        *,
        cancel_on_disconnect: bool = False,
        started: bool = False,
        ends_stream: Callable[[run_pb2.RunEvent], bool] = is_terminal,
    ) -> AsyncGenerator[run_pb2.RunEvent, None]:
        """Coalesced events of a run; with `cancel_on_disconnect`, a stream closed before
        an event that `ends_stream` (the client went away) cancels the run. `started`: the caller's own
        new run, followed from its first event."""
        if started:
            batches = self.runs.follow_started(name.split("/", 1)[1])
        else:
            batches = await self.runs.events(principal, name, after_seq)
        current_call().resume_point = resume_run(name, after_seq)
        ended = False
        try:
            async for batch in batches:
                for event in coalesce(batch):
                    ended = ended or ends_stream(event)
                    yield event
        finally:
            if cancel_on_disconnect and not ended:
                self.runs.request_cancel(name, "the client disconnected", principal.id)
            elif started and not ended:
                self.runs.caller_gone(name)

    async def ExecuteAgent(self, request: run_pb2.ExecuteAgentRequest, context: ServicerContext) -> AsyncIterator[run_pb2.RunEvent]:
        name = await self._start(request, context, "ExecuteAgent")
        async for event in self._follow(
            caller(), name, 0, cancel_on_disconnect=request.cancel_on_disconnect, started=True
        ):
            yield event

    async def StreamTokens(self, request: run_pb2.StreamTokensRequest, context: ServicerContext) -> AsyncIterator[run_pb2.StreamTokensResponse]:
        name = await self._start(request, context, "StreamTokens")
        principal = caller()
        events = self._follow(
            principal,
            name,
            0,
            cancel_on_disconnect=request.cancel_on_disconnect,
            started=True,
            # The server ends this stream when the run needs a person; the run goes on.
            ends_stream=lambda event: is_terminal(event) or event.WhichOneof("payload") == "input_required",
        )
        async for event in events:
            kind = event.WhichOneof("payload")
            if kind == "text_delta":
                yield run_pb2.StreamTokensResponse(text=event.text_delta.text, seq=event.seq)
            elif kind == "run_completed":
                yield run_pb2.StreamTokensResponse(seq=event.seq, final=True)
                return
            else:
                error = token_stream_end(event)
                if error is not None:
                    await events.aclose()  # a run waiting for a person goes on without this stream
                    raise error

    async def CreateRun(self, request: run_pb2.CreateRunRequest, context: ServicerContext) -> run_pb2.Run:
        row = await self.runs.create(
            caller(),
            request.run.session,
            [convert.part_to_dict(p, f"run.input[{i}]") for i, p in enumerate(request.run.input)],
            options=convert.run_options_fields(request.run.options),
            labels=dict(request.run.labels),
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            run_id=request.run_id,
            validate_only=request.validate_only,
            session_field="run.session",
            crew_name=request.run.crew,
        )
        return _run(row)

    async def StreamRunEvents(self, request: run_pb2.StreamRunEventsRequest, context: ServicerContext) -> AsyncIterator[run_pb2.RunEvent]:
        batches = await self.runs.events(caller(), request.run, request.after_seq)
        current_call().resume_point = resume_run(request.run, request.after_seq)
        # Headers now, so a client knows the stream is open even while the run is quiet.
        await send_headers(context)
        async for batch in batches:
            for event in coalesce(batch):
                yield event

    async def CancelRun(self, request: run_pb2.CancelRunRequest, context: ServicerContext) -> run_pb2.Run:
        row = await self.runs.cancel(
            caller(),
            request.name,
            reason=request.reason,
            etag=request.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return _run(row)

    async def GetRun(self, request: run_pb2.GetRunRequest, context: ServicerContext) -> run_pb2.Run:
        return _run(await self.runs.get(caller(), request.name))

    async def ListRuns(self, request: run_pb2.ListRunsRequest, context: ServicerContext) -> run_pb2.ListRunsResponse:
        page, metrics = await self.runs.list(caller(), list_query(request))
        return run_pb2.ListRunsResponse(
            runs=[_without_steps(_run(r)) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
            metrics=convert.run_metrics_proto(metrics),
        )

    async def SubmitInput(self, request: run_pb2.SubmitInputRequest, context: ServicerContext) -> run_pb2.Run:
        which = request.WhichOneof("answer")
        row = await self.runs.submit_input(
            caller(),
            request.name,
            request.input_request_id,
            approval=request.approval if which == "approval" else None,
            text=request.text if which == "text" else None,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return _run(row)


def resume_run(name: str, after_seq: int) -> Callable[[Any], dict[str, str]]:
    """Where a run stream's client resumes (StreamRunEvents after_seq): the seq of the last message it got."""
    return lambda last: {"run": name, "last_seq": str(last.seq if last is not None else after_seq)}


def _run(row: RunColumns) -> run_pb2.Run:
    run = convert.run_proto(row)
    if run.HasField("start_time") and not run.HasField("end_time"):
        # A run in progress: its duration is the time elapsed so far.
        run.duration.FromNanoseconds(max(time.time_ns() - run.start_time.ToNanoseconds(), 0))
    return run


def _without_steps(run: run_pb2.Run) -> run_pb2.Run:
    """Listed runs leave out their steps; GetRun has them."""
    run.ClearField("steps")
    return run
