"""`runwire run AGENT TEXT`: run an agent and print its text as it arrives.

Tool calls and their results go to stderr; a tool that needs approval is
approved or denied with --approve / --deny, or asked at the terminal; a
question from the agent is answered with --answer or at the terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


from runwire.client.json_values import message_to_json
from runwire.cli.resources import Api, CliError, _command, agent_name, session_name
from runwire.v1 import run_pb2, session_pb2

EXIT_RUN_FAILED = 1
EXIT_NEEDS_INPUT = 3


def add_run_command(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[common],
        help="run an agent and print its answer as it streams",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("agent", help="the agent, `agents/ID` or `ID`")
    parser.add_argument("text", help="what to say to the agent")
    parser.add_argument("--session", help="continue this session (default: a new session, printed on stderr)")
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true", help="approve every tool call that needs approval")
    decision.add_argument("--deny", action="store_true", help="deny every tool call that needs approval")
    parser.add_argument("--answer", help="the answer to give if the agent asks a question")
    parser.set_defaults(handler=_command(run_agent))


def run_agent(args: argparse.Namespace, api: Api) -> int:
    if args.session:
        session = session_name(args.session)
    else:
        session = api.sessions.create(session_pb2.Session(agent=agent_name(args.agent))).name
        print(f"session: {session}", file=sys.stderr)
    # The stream resumes where it stopped if the connection drops while the run goes on. No deadline: the
    # run's own limits bound it, and a person may take any time at the approval or question prompt.
    wrote_text = False
    for event in api.runs.execute(session, args.text, timeout=None):
        kind = event.WhichOneof("payload")
        if kind == "text_delta":
            sys.stdout.write(event.text_delta.text)
            sys.stdout.flush()
            wrote_text = True
        elif kind == "tool_call_started":
            tool = event.tool_call_started.tool_call
            print(f"[{tool.tool} {message_to_json(tool.arguments, indent=None)}]", file=sys.stderr)
        elif kind == "tool_call_completed":
            done = event.tool_call_completed
            outcome = "error" if done.result.is_error else "result"
            print(f"[{done.tool} {outcome}: {message_to_json(done.result.output, indent=None)}]", file=sys.stderr)
        elif kind == "input_required":
            _answer(args, api, event.input_required.input_request)
        elif kind == "run_completed":
            if wrote_text:
                sys.stdout.write("\n")
            return 0
        elif kind in ("run_failed", "run_cancelled", "run_timed_out"):
            if wrote_text:
                sys.stdout.write("\n")
            print(f"error: the run ended {_ending(event)}", file=sys.stderr)
            return EXIT_RUN_FAILED
    return EXIT_RUN_FAILED


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
            raise CliError(
                f"the agent wants to call {call.tool} {arguments} and needs approval; rerun with --approve or --deny"
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
            raise CliError(f"the agent asks: {request.prompt!r}; rerun with --answer TEXT")
    api.runs.submit_input(request.run, request.id, **answer)
