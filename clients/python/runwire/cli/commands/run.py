"""`runwire run AGENT TEXT`: run an agent and print its text as it arrives.
`runwire run --crew CREW TEXT`: run a crew the same way.

The run's name and the new session's go to stderr first, with tool calls and
their results; a tool that needs approval is approved or denied with --approve
/ --deny, or asked at the terminal; a question from the agent is answered with
--answer or at the terminal. With --json every event is printed as one JSON
object per line instead.

Ctrl-C stops the command, not the run: the run goes on on the server, and the
command says so and how to follow it (`runwire runs follow RUN`) or cancel it
(`runwire runs cancel RUN`).

A crew run prints its final answer on stdout; on stderr, its plan as a task
table (again when tasks are added or re-planned, one line per task that
starts or ends in between), and each child run's text, tool calls and end
prefixed by [MEMBER/TASK]. A member's request for approval or an answer is
asked as an agent's is.

exit codes: 0 the run succeeded; 1 the run failed, was cancelled or timed out
(or a call failed); 2 bad usage; 3 the run waits for input the command could
not give; 4 the run succeeded but a tool call failed (for example a tool the
agent does not have), named by a `warning:` line on stderr; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterable

from runwire.cli import framework, output
from runwire.cli.framework import Api, CliError
from runwire.cli.names import agent_name, crew_name, run_name, session_name
from runwire.client.json_values import message_to_json
from runwire.v1 import crew_pb2, run_pb2, session_pb2

EXIT_RUN_FAILED = 1
EXIT_NEEDS_INPUT = 3
EXIT_TOOL_FAILED = 4
_ENDINGS = ("run_completed", "run_failed", "run_cancelled", "run_timed_out")
_STATUS_FIELD = run_pb2.Run.DESCRIPTOR.fields_by_name["status"]
_TASK_STATE_FIELD = crew_pb2.CrewPlanTask.DESCRIPTOR.fields_by_name["state"]
_NAME_HELP = "runs/ID or ID"


class _Interrupted(CliError):
    """Ctrl-C while following a run: the run goes on, and the message says how to reach it."""

    exit_code = framework.EXIT_INTERRUPTED


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[common],
        help="run an agent and print its answer as it streams",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("agent", nargs="?", help="the agent, `agents/ID` or `ID` (left out with --crew)")
    parser.add_argument("text", nargs="?", help="what to say to the agent, or the crew's input")
    parser.add_argument("--session", help="continue this session (default: a new session, printed on stderr)")
    parser.add_argument("--crew", metavar="CREW", help="run this crew (`crews/ID` or `ID`) instead of an agent: `runwire run --crew CREW TEXT`")
    _decision_options(parser)
    parser.set_defaults(handler=framework.command(run_agent), parser=parser)
    _add_runs(commands, common)


def _decision_options(parser: argparse.ArgumentParser) -> None:
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true", help="approve every tool call that needs approval")
    decision.add_argument("--deny", action="store_true", help="deny every tool call that needs approval")
    parser.add_argument("--answer", help="the answer to give if the agent asks a question")


def run_agent(args: argparse.Namespace, api: Api) -> int:
    if args.crew:
        return _run_crew(args, api)
    if args.text is None:
        args.parser.error("give the agent and the text: runwire run AGENT TEXT (or runwire run --crew CREW TEXT)")
    if args.session:
        session = session_name(args.session)
    else:
        session = api.sessions.create(session_pb2.Session(agent=agent_name(args.agent))).name
        print(f"session: {session}", file=sys.stderr)
    # The stream resumes where it stopped if the connection drops while the run goes on. No deadline: the
    # run's own limits bound it, and a person may take any time at the approval or question prompt.
    return follow_events(args, api, api.runs.execute(session, args.text, timeout=None))


def _run_crew(args: argparse.Namespace, api: Api) -> int:
    if args.session:
        args.parser.error("--session is for an agent's run; a crew's tasks run in sessions of their own")
    if args.agent is None or args.text is not None:
        args.parser.error("give the crew's input only: runwire run --crew CREW TEXT")
    # As for an agent: resumed after a drop, no deadline (the crew's limits bound it).
    return follow_events(args, api, api.crews.execute(crew_name(args.crew), args.agent, timeout=None))


def follow_events(args: argparse.Namespace, api: Api, events: Iterable[run_pb2.RunEvent], run: str = "") -> int:
    """Print a run's events as `runwire run` does, answer what it asks, and return the exit code."""
    state = _Following(run)
    try:
        for event in events:
            if not state.run:
                state.run = event.run
                print(f"run: {event.run}", file=sys.stderr)
            code = state.show(args, api, event)
            if code is not None:
                return code
    except KeyboardInterrupt:
        state.end_line()
        raise _Interrupted(_still_running(state.run)) from None
    state.end_line()
    state.crew.finish()
    raise CliError(f"the stream of {state.run or 'the run'} ended before the run did; follow it with `runwire runs follow`")


def _still_running(run: str) -> str:
    if not run:
        return "interrupted before the run started"
    return (
        f"interrupted; {run} goes on on the server: follow it with `runwire runs follow {run}`, "
        f"cancel it with `runwire runs cancel {run}`"
    )


class _Following:
    def __init__(self, run: str) -> None:
        self.run = run
        self.wrote_text = False
        self.failed_tools: list[str] = []
        self.crew = _CrewView()

    def end_line(self) -> None:
        if self.wrote_text:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.wrote_text = False

    def show(self, args: argparse.Namespace, api: Api, event: run_pb2.RunEvent) -> int | None:
        kind = event.WhichOneof("payload")
        if args.json:
            output.print_json_line(event)
        elif kind == "text_delta":
            sys.stdout.write(event.text_delta.text)
            sys.stdout.flush()
            self.wrote_text = True
        elif kind in ("tool_call_started", "tool_call_completed"):
            print(_tool_line(event), file=sys.stderr)
        elif kind == "run_handed_over":
            self.end_line()
            handed = event.run_handed_over
            print(f"[handed over to {handed.agent}: {handed.child_run}]", file=sys.stderr)
        elif kind == "crew_plan_updated":
            self.end_line()
            self.crew.plan_updated(event.crew_plan_updated)
        elif kind == "child_run_event":
            self.end_line()
            self.crew.child_event(event.child_run_event)
        if kind == "tool_call_completed" and event.tool_call_completed.state == run_pb2.ToolExecution.STATE_FAILED:
            done = event.tool_call_completed
            error = done.result.output.fields["error"].string_value if "error" in done.result.output.fields else ""
            self.failed_tools.append(f"{done.tool}: {error}" if error else done.tool)
        elif kind == "input_required" and _still_waiting(api, event.input_required.input_request):
            _answer(args, api, event.input_required.input_request)
        elif kind in _ENDINGS:
            self.end_line()
            self.crew.finish()
            if kind != "run_completed":
                print(f"error: {event.run} ended {_ending(event)}", file=sys.stderr)
                return EXIT_RUN_FAILED
            for failure in self.failed_tools:
                print(f"warning: a tool call failed: {failure}", file=sys.stderr)
            return EXIT_TOOL_FAILED if self.failed_tools else 0
        return None


def _tool_line(event: run_pb2.RunEvent) -> str:
    """`[tool {arguments}]` for a call that starts, `[tool result: ...]` (or `error:`) for one that ended."""
    if event.WhichOneof("payload") == "tool_call_started":
        tool = event.tool_call_started.tool_call
        return f"[{tool.tool} {message_to_json(tool.arguments, indent=None)}]"
    done = event.tool_call_completed
    outcome = "error" if done.result.is_error else "result"
    return f"[{done.tool} {outcome}: {message_to_json(done.result.output, indent=None)}]"


class _CrewView:
    """A crew run's plan and its children's events on stderr: the plan as a task table when tasks are added or
    re-planned (and at the end), one line per task whose state changes in between, and each child's text (by
    whole lines), tool calls and end prefixed by [MEMBER/TASK]."""

    def __init__(self) -> None:
        self.plan: crew_pb2.CrewPlan | None = None
        self.shown: crew_pb2.CrewPlan | None = None
        self.partial_lines: dict[str, str] = {}

    def plan_updated(self, update: run_pb2.CrewPlanUpdated) -> None:
        before, self.plan = self.plan, update.plan
        if before is None or [t.id for t in before.tasks] != [t.id for t in update.plan.tasks]:
            self._table(update.reason)
            return
        states = {t.id: t.state for t in before.tasks}
        for task in update.plan.tasks:
            if task.state != states.get(task.id):
                print(f"[plan] {task.id}: {_task_state(task)}{_task_detail(task)}", file=sys.stderr)

    def finish(self) -> None:
        for run in list(self.partial_lines):
            self._flush(run)
        if self.plan is not None and self.plan != self.shown:
            self._table("final")

    def _table(self, reason: str) -> None:
        assert self.plan is not None
        self.shown = self.plan
        print(f"plan (revision {self.plan.revision}, {reason or 'updated'}):", file=sys.stderr)
        rows = [
            [t.id, t.member, _task_state(t), ",".join(t.context) or "-", t.child_run or "-", _task_result(t)]
            for t in self.plan.tasks
        ]
        output.print_table(["TASK", "MEMBER", "STATE", "NEEDS", "CHILD RUN", "RESULT"], rows, out=sys.stderr)

    def child_event(self, child: run_pb2.ChildRunEvent) -> None:
        event, prefix = child.event, _child_prefix(child)
        kind = event.WhichOneof("payload")
        if kind == "text_delta":
            # Children stream tokens side by side: each child's text is printed a whole line at a time.
            text = self.partial_lines.get(child.run, "") + event.text_delta.text
            *lines, self.partial_lines[child.run] = text.split("\n")
            for line in lines:
                print(f"{prefix} {line}", file=sys.stderr)
        elif kind in ("tool_call_started", "tool_call_completed"):
            print(f"{prefix} {_tool_line(event)}", file=sys.stderr)
        elif kind == "input_required":
            request = event.input_required.input_request
            wants = f"approval of {request.tool_call.tool}" if request.kind == run_pb2.InputRequest.KIND_APPROVAL else "an answer"
            print(f"{prefix} waits for {wants}", file=sys.stderr)
        elif kind == "run_handed_over":
            print(f"{prefix} handed over to {event.run_handed_over.agent} ({event.run_handed_over.child_run})", file=sys.stderr)
        elif kind in _ENDINGS:
            self._flush(child.run, prefix)
            print(f"{prefix} {'done' if kind == 'run_completed' else 'ended ' + _ending(event)}", file=sys.stderr)

    def _flush(self, run: str, prefix: str = "") -> None:
        rest = self.partial_lines.pop(run, "")
        if rest:
            print(f"{prefix or '[' + run + ']'} {rest}", file=sys.stderr)


def _child_prefix(child: run_pb2.ChildRunEvent) -> str:
    """`[member/task]`; a run deeper down (an agent called as a tool) adds its agent: `[member/task > agents/x]`.
    A child of an agent's own run (a delegation) is named by its agent: `[agents/x]`."""
    if not child.crew_task:
        return f"[{child.agent}]"
    who = f"{child.crew_member or child.agent}/{child.crew_task}"
    return f"[{who} > {child.agent}]" if child.depth > 1 else f"[{who}]"


def _task_state(task: crew_pb2.CrewPlanTask) -> str:
    return output.enum_label(_TASK_STATE_FIELD, task.state)


def _task_detail(task: crew_pb2.CrewPlanTask) -> str:
    if task.state == crew_pb2.CrewPlanTask.STATE_RUNNING and task.child_run:
        return f" ({task.child_run})"
    if task.HasField("error"):
        return f": {task.error.reason}: {task.error.message}"
    return ""


def _task_result(task: crew_pb2.CrewPlanTask) -> str:
    if task.HasField("error"):
        return output.cell(f"{task.error.reason}: {task.error.message}", 40)
    return output.cell(task.output, 40) if task.output else "-"


def _ending(event: run_pb2.RunEvent) -> str:
    kind = event.WhichOneof("payload")
    if kind == "run_failed":
        return f"FAILED: {event.run_failed.error.reason}: {event.run_failed.error.message}"
    if kind == "run_cancelled":
        return f"CANCELLED: {event.run_cancelled.reason}"
    return "TIMED_OUT"


def _answer(args: argparse.Namespace, api: Api, request: run_pb2.InputRequest) -> None:
    answer: dict[str, Any] = {}
    interactive = sys.stdin.isatty()
    if request.kind == run_pb2.InputRequest.KIND_APPROVAL:
        call = request.tool_call
        arguments = message_to_json(call.arguments, indent=None)
        if args.approve or args.deny:
            approve = bool(args.approve)
        elif interactive:
            reply = input(f"approve {call.tool} {arguments}? [y/N] ").strip().lower()
            approve = reply in ("y", "yes")
        else:
            raise _NeedsInput(
                f"the agent wants to call {call.tool} {arguments} and needs approval; rerun with --approve or --deny, "
                f"or answer with `runwire runs approve {request.run}` (or `deny`)"
            )
        decision = run_pb2.Approval.DECISION_APPROVE if approve else run_pb2.Approval.DECISION_DENY
        answer["approval"] = run_pb2.Approval(decision=decision, reason="" if approve else "denied at the command line")
        print(f"[{'approved' if approve else 'denied'} {call.tool}]", file=sys.stderr)
    else:
        if args.answer is not None:
            answer["text"] = args.answer
        elif interactive:
            answer["text"] = input(f"{request.prompt} ")
        else:
            raise _NeedsInput(
                f"the agent asks: {request.prompt!r}; rerun with --answer TEXT, "
                f"or answer with `runwire runs answer {request.run} TEXT`"
            )
    api.runs.submit_input(request.run, request.id, **answer)


def _still_waiting(api: Api, request: run_pb2.InputRequest) -> bool:
    """A replayed request may have been answered since; only the run's pending one is asked."""
    run = api.runs.get(request.run)
    return run.status == run_pb2.Run.STATUS_REQUIRES_INPUT and run.pending_input.id == request.id


class _NeedsInput(CliError):
    exit_code = EXIT_NEEDS_INPUT


# -- runwire runs ------------------------------------------------------------------


def _run_row(r: run_pb2.Run) -> list[str]:
    return [r.name, r.agent or r.crew, r.session, output.enum_label(_STATUS_FIELD, r.status), output.timestamp_text(r, "create_time")]


def runs_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.runs.list(**framework.list_options(args))
    return framework.print_pages(args, pager, "runs", ["NAME", "AGENT", "SESSION", "STATUS", "CREATED"], _run_row)


def runs_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.runs.get(run_name(args.name)))


def runs_events(args: argparse.Namespace, api: Api) -> int:
    """The run's events after --after-seq: the ones stored, then (with --follow) the live ones to the end."""
    name = run_name(args.name)
    if args.follow:
        events: Iterable[run_pb2.RunEvent] = api.runs.stream(name, args.after_seq)
    else:
        events = _stored_events(api, name, args.after_seq)
    try:
        for event in events:
            if args.json:
                output.print_json_line(event)
            else:
                print(_event_line(event))
    except KeyboardInterrupt:
        raise _Interrupted(f"interrupted; {name} is not affected") from None
    return 0


def _stored_events(api: Api, name: str, after_seq: int) -> Iterable[run_pb2.RunEvent]:
    """The events a run has so far: all of an ended run's, a waiting run's up to its question; a running run has no end yet."""
    run = api.runs.get(name)
    if run.status == run_pb2.Run.STATUS_REQUIRES_INPUT:
        for event in api.runs.stream(name, after_seq):
            yield event
            if event.WhichOneof("payload") == "input_required" and event.input_required.input_request.id == run.pending_input.id:
                return
        return
    if run.status in (run_pb2.Run.STATUS_QUEUED, run_pb2.Run.STATUS_RUNNING):
        raise CliError(f"{name} is still going; pass --follow to follow it to its end")
    yield from api.runs.stream(name, after_seq)


def _event_line(event: run_pb2.RunEvent) -> str:
    kind = event.WhichOneof("payload") or "unknown"
    detail = message_to_json(getattr(event, kind), indent=None, preserving_proto_field_name=True) if kind != "unknown" else ""
    return f"{event.seq:>5}  {kind}  {detail}".rstrip()


def runs_cancel(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, api.runs.cancel(run_name(args.name), reason=args.reason or ""))


def _pending_input(api: Api, name: str, kind: int) -> run_pb2.InputRequest:
    run = api.runs.get(name)
    if run.status != run_pb2.Run.STATUS_REQUIRES_INPUT or not run.HasField("pending_input"):
        raise CliError(f"{name} is not waiting for input")
    if run.pending_input.kind != kind:
        wanted = "an approval" if kind == run_pb2.InputRequest.KIND_APPROVAL else "an answer to a question"
        raise CliError(f"{name} does not wait for {wanted}; see `runwire runs get {name}`")
    return run.pending_input


def _submit(args: argparse.Namespace, api: Api, name: str, request: run_pb2.InputRequest, **answer: Any) -> int:
    api.runs.submit_input(name, request.id, **answer)
    if not args.follow:
        framework.show(args, api.runs.get(name))
        return 0
    return follow_events(args, api, api.runs.stream(name), run=name)


def runs_approve(args: argparse.Namespace, api: Api) -> int:
    name = run_name(args.name)
    request = _pending_input(api, name, run_pb2.InputRequest.KIND_APPROVAL)
    approval = run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
    return _submit(args, api, name, request, approval=approval)


def runs_deny(args: argparse.Namespace, api: Api) -> int:
    name = run_name(args.name)
    request = _pending_input(api, name, run_pb2.InputRequest.KIND_APPROVAL)
    approval = run_pb2.Approval(decision=run_pb2.Approval.DECISION_DENY, reason=args.reason or "denied at the command line")
    return _submit(args, api, name, request, approval=approval)


def runs_answer(args: argparse.Namespace, api: Api) -> int:
    name = run_name(args.name)
    request = _pending_input(api, name, run_pb2.InputRequest.KIND_QUESTION)
    return _submit(args, api, name, request, text=args.text)


def runs_follow(args: argparse.Namespace, api: Api) -> int:
    name = run_name(args.name)
    return follow_events(args, api, api.runs.stream(name, args.after_seq), run=name)


def _add_after_seq_options(parser: argparse.ArgumentParser, help_text: str) -> None:
    framework.add_name_argument(parser, _NAME_HELP, metavar="RUN")
    parser.add_argument("--after-seq", type=int, default=0, metavar="SEQ", help=help_text)


def _add_runs(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "runs", "list, show, follow, answer and cancel runs", "Manage runs (agents executing in sessions).")

    listing = framework.leaf(group, "list", "list runs as a table (newest first by default)", runs_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on agent, session, status, create_time, start_time, end_time, duration, "
        "usage.total_tokens, error.reason, batch_task, labels.KEY, crew, parent_run, root_run, depth, crew_task, "
        "crew_member; e.g. 'status = FAILED AND agent = \"agents/support\"'",
    )

    get = framework.leaf(group, "get", "show one run with its steps", runs_get, common)
    framework.add_name_argument(get, _NAME_HELP, metavar="RUN")

    events = framework.leaf(
        group,
        "events",
        "print a run's events, one per line: those stored, or with --follow up to the run's end",
        runs_events,
        common,
        epilog="example:\n  runwire runs events runs/abc --after-seq 12 --follow --json",
    )
    _add_after_seq_options(events, "only events after this sequence number")
    events.add_argument("--follow", action="store_true", help="keep following live events until the run ends")

    follow = framework.leaf(
        group,
        "follow",
        "follow a run as `runwire run` does (after Ctrl-C, or from another terminal), answering what it asks",
        runs_follow,
        common,
        epilog="exit codes as `runwire run`: 0 succeeded, 1 failed/cancelled/timed out, 3 needs input, 4 a tool call failed",
    )
    _add_after_seq_options(follow, "print only what comes after this sequence number")
    _decision_options(follow)

    cancel = framework.leaf(group, "cancel", "cancel a run", runs_cancel, common)
    framework.add_name_argument(cancel, _NAME_HELP, metavar="RUN")
    cancel.add_argument("--reason", metavar="TEXT", help="why, recorded with the run")

    for verb, behavior, text in (
        ("approve", runs_approve, "approve the tool call a run waits for"),
        ("deny", runs_deny, "deny the tool call a run waits for"),
        ("answer", runs_answer, "answer the question a run waits for"),
    ):
        parser = framework.leaf(group, verb, text, behavior, common)
        framework.add_name_argument(parser, _NAME_HELP, metavar="RUN")
        if verb == "answer":
            parser.add_argument("text", metavar="TEXT", help="the answer")
        if verb == "deny":
            parser.add_argument("--reason", metavar="TEXT", help="why, told to the model")
        parser.add_argument("--follow", action="store_true", help="then follow the run to its end as `runwire runs follow` does")
        parser.set_defaults(approve=False, deny=False, answer=None, after_seq=0)
