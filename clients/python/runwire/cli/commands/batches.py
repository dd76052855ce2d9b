"""`runwire batches ...`: create batches of agent tasks, follow them with a progress bar, read their results.

Tasks come from a local JSONL file (one task per line, for example
`{"custom_id": "q1", "agent": "agents/support", "text": "Hello"}`, or
`"crew": "crews/blog"` instead of the agent), from a file already uploaded to
the server (`--input-file files/ID`), or from `--agent` (or `--crew`) with
one `--text` per task.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, TextIO

from google.protobuf import json_format

from runwire.cli import arguments, errors, framework, output
from runwire.cli.framework import Api, CliError
from runwire.cli.names import agent_name, batch_name, crew_name, file_name
from runwire.client import RunwireError
from runwire.client.calls import Service
from runwire.v1 import batch_pb2, batch_pb2_grpc

EXIT_BATCH_NOT_SUCCEEDED = 1
TERMINAL = {
    batch_pb2.Batch.STATE_SUCCEEDED,
    batch_pb2.Batch.STATE_PARTIALLY_SUCCEEDED,
    batch_pb2.Batch.STATE_FAILED,
    batch_pb2.Batch.STATE_CANCELLED,
    batch_pb2.Batch.STATE_TIMED_OUT,
}
BAR_WIDTH = 30
STATE_FIELD = batch_pb2.Batch.DESCRIPTOR.fields_by_name["state"]
STATUS_FIELD = batch_pb2.BatchTask.DESCRIPTOR.fields_by_name["status"]
_NAME_HELP = "the batch, batches/ID or ID"


def _stub(api: Api) -> Service:
    return api.service(batch_pb2_grpc.BatchServiceStub)


def read_tasks_file(path: str) -> list[batch_pb2.BatchTaskInput]:
    """Tasks of a local JSONL file; a bad line stops here, named by its number."""
    return [task for task, _ in read_numbered_tasks(path)]


def read_numbered_tasks(path: str) -> list[tuple[batch_pb2.BatchTaskInput, int]]:
    """(task, line number) of each task of a local JSONL file; a bad line stops here, named by its number."""
    try:
        handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
        with handle:
            lines = handle.read().split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path!r}: {exc}") from None
    tasks = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            tasks.append((json_format.Parse(line, batch_pb2.BatchTaskInput()), number))
        except json_format.ParseError as exc:
            raise CliError(f"{path}, line {number}: not a task: {exc}") from None
    return tasks


_TASK_FIELD = re.compile(r"(?:batch\.)?inline_tasks\.tasks\[(\d+)\]\.?")


def _task_lines_named(text: str, path: str, line_numbers: list[int]) -> str:
    """`batch.inline_tasks.tasks[2].agent` -> `questions.jsonl, line 3: agent` for the tasks read from the file."""

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(line_numbers):  # a task from --text, after the file's
            return match.group(0)
        rest = "" if match.group(0).endswith("]") else ": "
        return f"{path}, line {line_numbers[index]}{rest}"

    return _TASK_FIELD.sub(name, text)


def batches_create(args: argparse.Namespace, api: Api) -> int:
    batch = batch_pb2.Batch(display_name=args.display_name or "", labels=framework.labels(args.label))
    if args.input_file:
        batch.input_file = file_name(args.input_file)
    else:
        numbered = read_numbered_tasks(args.tasks_file) if args.tasks_file else []
        line_numbers = [number for _, number in numbered]
        tasks = [task for task, _ in numbered]
        if args.text:
            if not args.agent and not args.crew:
                args.parser.error("--text needs --agent or --crew")
            runs: dict[str, Any] = {"agent": agent_name(args.agent)} if args.agent else {"crew": crew_name(args.crew)}
            tasks += [batch_pb2.BatchTaskInput(text=t, **runs) for t in args.text]
        if not tasks:
            args.parser.error("give the tasks: --tasks-file PATH, --input-file FILE, or --agent AGENT (or --crew CREW) --text TEXT ...")
        batch.inline_tasks.tasks.extend(tasks)
    options = batch.options
    options.max_concurrency = args.max_concurrency or 0
    options.max_attempts = args.max_attempts or 0
    options.write_output_file = bool(args.write_output_file)
    if args.batch_timeout:
        options.timeout.CopyFrom(framework.duration(args.batch_timeout))
    if args.task_timeout:
        options.task_timeout.CopyFrom(framework.duration(args.task_timeout))
    try:
        created = _stub(api).CreateBatch(
            batch_pb2.CreateBatchRequest(batch=batch, batch_id=args.id or "", validate_only=args.validate_only)
        )
    except RunwireError as error:
        if not args.tasks_file or args.input_file:
            raise
        # The server names a task by its position; the person knows it by its line in the file.
        for line in errors.describe(error, framework.server_address(args), args.timeout):
            print(_task_lines_named(line, args.tasks_file, line_numbers), file=sys.stderr)
        return errors.EXIT_FAILURE
    if args.validate_only:
        framework.show(args, created)
        if not args.json:
            print(f"validate only: {created.counts.total} task(s) are valid; nothing was created", file=sys.stderr)
        return 0
    if not args.watch:
        framework.show(args, created)
        return 0
    print(f"batch: {created.name}", file=sys.stderr)
    return _watch(args, api, created.name)


def batches_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _stub(api).GetBatch(batch_pb2.GetBatchRequest(name=batch_name(args.name))))


def _batch_row(b: batch_pb2.Batch) -> list[str]:
    return [
        b.name,
        output.cell(b.display_name, framework.NAME_COLUMN_WIDTH),
        output.enum_label(STATE_FIELD, b.state),
        f"{_done(b)}/{b.counts.total}",
        str(b.counts.succeeded),
        output.timestamp_text(b, "create_time"),
    ]


def batches_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.pager(_stub(api).ListBatches, batch_pb2.ListBatchesRequest(**framework.list_options(args)))
    return framework.print_pages(args, pager, "batches", ["NAME", "DISPLAY NAME", "STATE", "DONE", "SUCCEEDED", "CREATED"], _batch_row)


def _task_row(t: batch_pb2.BatchTask) -> list[str]:
    result = t.output.text if t.HasField("output") else f"{t.error.reason}: {t.error.message}".strip(": ")
    return [
        str(t.index),
        output.cell(t.custom_id, 24),
        output.enum_label(STATUS_FIELD, t.status),
        t.run,
        output.cell(result, framework.TEXT_COLUMN_WIDTH),
    ]


def batches_tasks(args: argparse.Namespace, api: Api) -> int:
    request = batch_pb2.ListBatchTasksRequest(parent=batch_name(args.name), **framework.list_options(args))
    pager = api.pager(_stub(api).ListBatchTasks, request)
    return framework.print_pages(args, pager, "tasks", ["TASK", "CUSTOM ID", "STATUS", "RUN", "RESULT"], _task_row)


def batches_cancel(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _stub(api).CancelBatch(batch_pb2.CancelBatchRequest(name=batch_name(args.name))))


def batches_watch(args: argparse.Namespace, api: Api) -> int:
    return _watch(args, api, batch_name(args.name))


def _watch(args: argparse.Namespace, api: Api, name: str) -> int:
    """Follow a batch to its end: a progress line on stderr, the final batch on stdout."""
    # A batch can take hours: the watch has no deadline.
    call = _stub(api).WatchBatch(batch_pb2.WatchBatchRequest(name=name), timeout=None)
    last: batch_pb2.Batch | None = None
    try:
        for message in call:
            last = message.batch
            if args.json:  # the stream, one JSON object per line
                output.print_json_line(message)
            else:
                _progress(last, sys.stderr)
    except RunwireError:
        if not args.json:
            sys.stderr.write("\n")
        raise
    if not args.json:
        sys.stderr.write("\n")
    if last is None:
        raise CliError(f"the server ended the watch of {name} without sending the batch")
    if not args.json:
        framework.show(args, last)
    return 0 if last.state == batch_pb2.Batch.STATE_SUCCEEDED else EXIT_BATCH_NOT_SUCCEEDED


def _done(batch: batch_pb2.Batch) -> int:
    c = batch.counts
    return c.succeeded + c.failed + c.cancelled + c.timed_out


def _progress(batch: batch_pb2.Batch, out: TextIO) -> None:
    total, done = batch.counts.total, _done(batch)
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    c = batch.counts
    state = output.enum_label(STATE_FIELD, batch.state)
    line = (
        f"[{bar}] {done}/{total} {state} succeeded {c.succeeded} failed {c.failed} "
        f"running {c.running + c.requires_input} queued {c.queued}"
    )
    if c.cancelled or c.timed_out:
        line += f" cancelled {c.cancelled} timed out {c.timed_out}"
    # A terminal rewrites the line in place; a pipe or file gets one line per update.
    out.write(f"\r{line}\x1b[K" if out.isatty() else f"{line}\n")
    out.flush()


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "batches", "run many agent tasks as a batch and follow it", "Manage batches.")

    create = framework.leaf(
        group,
        "create",
        "create a batch of agent tasks",
        batches_create,
        common,
        epilog="examples:\n"
        "  runwire batches create --tasks-file questions.jsonl --max-concurrency 8 --watch\n"
        "  runwire batches create --agent support --text 'Hello' --text 'Bonjour'\n\n"
        'a tasks file has one task per line: {"custom_id": "q1", "agent": "agents/support", "text": "Hello"}',
    )
    source = create.add_mutually_exclusive_group()
    source.add_argument("--tasks-file", metavar="PATH", help="a local JSONL file of tasks, one per line (- for stdin)")
    source.add_argument("--input-file", metavar="FILE", help="a JSONL file uploaded to the server, files/ID or ID")
    runs = create.add_mutually_exclusive_group()
    runs.add_argument("--agent", metavar="AGENT", help="the agent of the --text tasks, agents/ID or ID")
    runs.add_argument("--crew", metavar="CREW", help="the crew the --text tasks execute (each task's run is a crew run), crews/ID or ID")
    create.add_argument("--text", action="append", metavar="TEXT", help="one task's input, repeatable (with --agent or --crew)")
    create.add_argument("--display-name", metavar="NAME", help="human-readable name")
    create.add_argument("--id", metavar="ID", help="the batch id (generated when omitted)")
    create.add_argument("--max-concurrency", type=int, metavar="N", help="tasks executing at once (server default 4)")
    create.add_argument("--max-attempts", type=int, metavar="N", help="attempts per task, 1 to 5 (default 1)")
    create.add_argument("--batch-timeout", type=arguments.positive_number, metavar="SECONDS", help="time limit of the whole batch (default 24 h)")
    create.add_argument("--task-timeout", type=arguments.positive_number, metavar="SECONDS", help="time limit of each task's run")
    create.add_argument("--write-output-file", action="store_true", help="write the results to a JSONL file when the batch ends")
    framework.add_validate_only_option(create, "check the tasks without creating the batch")
    create.add_argument("--watch", action="store_true", help="then follow the batch with a progress bar until it ends")
    framework.add_label_option(create)

    get = framework.leaf(group, "get", "show a batch with its counts", batches_get, common)
    framework.add_name_argument(get, _NAME_HELP, metavar=None)

    listing = framework.leaf(group, "list", "list batches", batches_list, common)
    framework.add_list_options(listing, filter_help="AIP-160 filter, for example 'state = RUNNING'")

    tasks = framework.leaf(group, "tasks", "list the tasks of a batch with their results", batches_tasks, common)
    framework.add_name_argument(tasks, _NAME_HELP, metavar=None)
    framework.add_list_options(tasks, filter_help="AIP-160 filter, for example 'status = FAILED'")

    watch = framework.leaf(
        group,
        "watch",
        "follow a batch with a progress bar until it ends (exit code 0 only when every task succeeded)",
        batches_watch,
        common,
    )
    framework.add_name_argument(watch, _NAME_HELP, metavar=None)

    cancel = framework.leaf(group, "cancel", "cancel a batch: running tasks are stopped, queued ones never start", batches_cancel, common)
    framework.add_name_argument(cancel, _NAME_HELP, metavar=None)


__all__ = ["add_commands", "read_tasks_file"]
