"""BatchService through real stubs: execution, results, cancellation, timeouts, validation, restarts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Awaitable, Callable

import grpc

from runwire.server.app import RunwireServer
from runwire.server.config import Limits
from runwire.v1 import batch_pb2, event_pb2, file_pb2, file_pb2_grpc, run_pb2, session_pb2
from tests.conftest import new_request_id, rpc_error
from tests.grpc.batch_support import (
    Batch,
    Task,
    batch_settings,
    connected_batches,
    serving_batches,
    task,
)
from tests.grpc.leak_support import assert_no_internals
from tests.grpc.run_support import SUCCEEDED
from tests.grpc.test_events import events_stub, live, read_events


async def test_a_batch_of_200_tasks_runs_each_task_once_and_keeps_per_task_results(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        tasks = [
            task(agent, f"question {i} [[error:400]]" if i % 10 == 0 else f"question {i}", custom_id=f"q{i}")
            for i in range(1, 201)
        ]
        created = await batches.create(tasks, max_concurrency=8, display_name="two hundred")
        assert created.name.startswith("batches/") and created.counts.total == 200
        assert created.state in (Batch.STATE_QUEUED, Batch.STATE_RUNNING)

        snapshots = await batches.watch_to_end(created.name)
        assert all(s.batch.counts.running + s.batch.counts.requires_input <= 8 for s in snapshots)
        final = snapshots[-1].batch
        assert final.state == Batch.STATE_PARTIALLY_SUCCEEDED
        assert (final.counts.total, final.counts.succeeded, final.counts.failed) == (200, 180, 20)
        assert final.counts.queued == final.counts.running == 0
        assert final.HasField("end_time") and final.HasField("start_time")
        assert final.usage.total_tokens > 0
        assert await batches.get(created.name) == final

        listed = await batches.tasks(created.name)
        assert [t.index for t in listed] == list(range(1, 201))
        for t in listed:
            assert t.name == f"{created.name}/tasks/{t.index}"
            assert t.custom_id == f"q{t.index}" and t.attempts == 1
            assert t.run.startswith("runs/") and t.session.startswith("sessions/")
            if t.index % 10 == 0:
                assert t.status == Task.STATUS_FAILED and t.error.reason == "PROVIDER_ERROR"
                assert not t.HasField("output")
            else:
                assert t.status == Task.STATUS_SUCCEEDED and not t.HasField("error")
                assert t.output.text == f"You said: question {t.index}"
        # Each task ran as exactly one run, linked both ways; each in a session of its own.
        assert len({t.session for t in listed}) == 200
        for t in listed[:20]:
            runs = await batches.runs_of(t.name)
            assert [r.name for r in runs] == [t.run]
            assert runs[0].batch_task == t.name and runs[0].session == t.session
        failed = await batches.stub.ListBatchTasks(
            batch_pb2.ListBatchTasksRequest(parent=created.name, filter="status = FAILED", page_size=50)
        )
        assert failed.total_size == 20 and {t.index for t in failed.tasks} == set(range(10, 201, 10))
        one = await batches.stub.GetBatchTask(batch_pb2.GetBatchTaskRequest(name=f"{created.name}/tasks/7"))
        assert one == listed[6]


async def test_tasks_run_in_given_sessions_and_in_sessions_of_their_own(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        session = await batches.runs.session(agent)
        created = await batches.create([task(session=session, text="in the session"), task(agent, "alone")])
        snapshots = await batches.watch_to_end(created.name)
        assert snapshots[-1].batch.state == Batch.STATE_SUCCEEDED
        first, second = await batches.tasks(created.name)
        assert first.session == session and first.agent == agent and first.custom_id == "1"
        assert second.session != session and second.custom_id == "2"
        texts = [m.text for m in await batches.runs.messages(session)]
        assert texts == ["in the session", "You said: in the session"]
        own = await batches.runs.client.sessions.GetSession(session_pb2.GetSessionRequest(name=second.session))
        assert own.labels["batch"] == created.name.split("/")[1] and own.agent == agent


async def test_watch_with_tasks_reports_each_task_change_and_ends_after_the_terminal_snapshot(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, f"t{i}") for i in range(5)], max_concurrency=2)
        snapshots = await batches.watch_to_end(created.name, include_tasks=True)
        assert snapshots[-1].batch.state == Batch.STATE_SUCCEEDED
        assert all(s.batch.state != Batch.STATE_SUCCEEDED for s in snapshots[:-1])
        last_seen = {}
        for snapshot in snapshots:
            for changed in snapshot.changed_tasks:
                last_seen[changed.index] = changed.status
        assert last_seen == {i: Task.STATUS_SUCCEEDED for i in range(1, 6)}


async def test_a_failing_task_is_attempted_up_to_max_attempts(tmp_path: Path) -> None:
    async with serving_batches(tmp_path, provider_max_attempts=1) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[error:503]]"), task(agent, "fine")], max_attempts=3)
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_PARTIALLY_SUCCEEDED
        failing, fine = await batches.tasks(created.name)
        assert failing.status == Task.STATUS_FAILED and failing.attempts == 3 and failing.error.reason == "PROVIDER_ERROR"
        runs = await batches.runs_of(failing.name)
        assert len(runs) == 3 and all(r.status == run_pb2.Run.STATUS_FAILED for r in runs)
        assert failing.run in {r.name for r in runs}
        assert fine.status == Task.STATUS_SUCCEEDED and fine.attempts == 1


async def test_cancel_stops_running_tasks_and_queued_tasks_never_start(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[sleep:30]]") for _ in range(6)], max_concurrency=2)
        await batches.wait_for(created.name, lambda b: b.counts.running == 2)
        cancelled = await batches.cancel(created.name)
        assert cancelled.state in (Batch.STATE_CANCELLING, Batch.STATE_CANCELLED)
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_CANCELLED
        assert final.counts.cancelled == 6 and final.counts.running == final.counts.queued == 0
        listed = await batches.tasks(created.name)
        started = [t for t in listed if t.run]
        assert len(started) == 2
        for t in started:
            run = await batches.runs.get(t.run)
            assert run.status == run_pb2.Run.STATUS_CANCELLED
            assert t.error.reason == "BATCH_CANCELLED" and t.attempts == 1
        for t in listed:
            if not t.run:
                assert t.attempts == 0 and t.error.reason == "BATCH_CANCELLED" and not t.HasField("start_time")
        # Nothing more starts afterwards, and an ended batch cannot be cancelled again.
        assert len((await batches.runs.list(filter=f'labels.batch = "{created.name.split("/")[1]}"')).runs) == 2
        failure = await rpc_error(batches.stub.CancelBatch(batch_pb2.CancelBatchRequest(name=created.name)))
        assert failure.code == grpc.StatusCode.FAILED_PRECONDITION and failure.reason == "BATCH_NOT_ACTIVE"


async def test_cancel_ends_task_runs_still_queued_for_a_process_with_room(tmp_path: Path) -> None:
    # One run at a time in this process: of two started tasks, one's run waits in the queue for room.
    async with serving_batches(tmp_path, max_concurrent_runs=1) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[sleep:30]]") for _ in range(2)], max_concurrency=2)
        await batches.wait_for(created.name, lambda b: b.counts.running == 2)
        await batches.cancel(created.name)
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_CANCELLED and final.counts.cancelled == 2
        for listed in await batches.tasks(created.name):
            run = await batches.runs.get(listed.run)
            assert run.status == run_pb2.Run.STATUS_CANCELLED, run.name


async def test_the_batch_timeout_ends_it_timed_out(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[sleep:30]]") for _ in range(3)], max_concurrency=1, timeout=1.0)
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_TIMED_OUT and final.counts.cancelled == 3
        first, *never_started = await batches.tasks(created.name)
        assert {t.error.reason for t in [first, *never_started]} == {"BATCH_TIMED_OUT"}
        assert (await batches.runs.get(first.run)).status == run_pb2.Run.STATUS_CANCELLED
        assert all(not t.run and t.attempts == 0 for t in never_started)


async def test_the_task_timeout_bounds_each_run(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[sleep:30]]"), task(agent, "quick")], task_timeout=5)
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert (final.state, final.counts.timed_out, final.counts.succeeded) == (Batch.STATE_PARTIALLY_SUCCEEDED, 1, 1)
        slow = (await batches.tasks(created.name))[0]
        assert slow.status == Task.STATUS_TIMED_OUT and slow.error.reason == "RUN_TIMED_OUT"
        assert (await batches.runs.get(slow.run)).options.max_duration.seconds == 5


async def test_a_task_waiting_for_a_person_shows_it_and_goes_on_when_answered(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[ask:Which colour?]]")])
        await batches.wait_for(created.name, lambda b: b.counts.requires_input == 1)
        waiting = (await batches.tasks(created.name))[0]
        assert waiting.status == Task.STATUS_REQUIRES_INPUT
        run = await batches.runs.get(waiting.run)
        await batches.runs.submit_call(run.name, run.pending_input.id, text="blue")
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_SUCCEEDED


async def test_invalid_tasks_are_all_reported_by_position_and_nothing_is_created(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        other = await batches.runs.agent()
        session = await batches.runs.session(other)
        tasks = [
            task(agent, "fine", custom_id="a"),
            task(text="no agent"),
            task(agent, "", custom_id="b"),
            task("agents/x", "bad name"),
            task("agents/does-not-exist", "missing"),
            task(agent, "both", input=[{"text": "x"}]),
            task(agent, "dup", custom_id="a"),
            task(agent, "wrong agent", session=session),
            task(agent, "x" * 10, custom_id="c" * 65),
        ]
        failure = await rpc_error(batches.create_call(tasks))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        prefix = "batch.inline_tasks.tasks"
        assert set(failure.field_violations) == {
            f"{prefix}[1].agent",
            f"{prefix}[2].text",
            f"{prefix}[3].agent",
            f"{prefix}[5].text",
            f"{prefix}[6].custom_id",
            f"{prefix}[8].custom_id",
        }
        assert "custom_id of batch.inline_tasks.tasks[0]" in failure.field_violations[f"{prefix}[6].custom_id"]
        # Names that parse are then looked up: the references are checked once the shapes are right.
        fixed = [t for i, t in enumerate(tasks) if i in (0, 4, 7)]
        failure = await rpc_error(batches.create_call(fixed))
        assert set(failure.field_violations) == {f"{prefix}[1].agent", f"{prefix}[2].agent"}
        assert "does not exist" in failure.field_violations[f"{prefix}[1].agent"]
        assert "belongs to" in failure.field_violations[f"{prefix}[2].agent"]
        listed = await batches.stub.ListBatches(batch_pb2.ListBatchesRequest())
        assert listed.total_size == 0


async def test_violations_are_capped_with_the_total_in_error_info(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        failure = await rpc_error(batches.create_call([task(text="no agent") for _ in range(40)]))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert len(failure.field_violations) == 25 and failure.metadata["violation_count"] == "40"
        assert "batch.inline_tasks.tasks[0].agent" in failure.field_violations
        assert "batch.inline_tasks.tasks[24].agent" in failure.field_violations


async def test_size_and_option_limits(tmp_path: Path) -> None:
    async with serving_batches(tmp_path, limits=Limits(max_batch_tasks=5, max_batch_concurrency=3)) as batches:
        agent = await batches.runs.agent()
        too_many = await rpc_error(batches.create_call([task(agent, "x") for _ in range(6)]))
        assert too_many.code == grpc.StatusCode.INVALID_ARGUMENT and too_many.reason == "BATCH_TOO_LARGE"
        empty = await rpc_error(batches.create_call([]))
        assert "batch.inline_tasks.tasks" in empty.field_violations
        options = await rpc_error(batches.create_call([task(agent, "x")], max_concurrency=4, max_attempts=6, timeout=-1))
        assert {"batch.options.max_concurrency", "batch.options.max_attempts", "batch.options.timeout"} <= set(
            options.field_violations
        )
        none = await rpc_error(batches.stub.CreateBatch(batch_pb2.CreateBatchRequest(batch=Batch())))
        assert "batch.input" in none.field_violations
        bad_id = await rpc_error(batches.create_call([task(agent, "x")], batch_id="Bad_Id"))
        assert "batch_id" in bad_id.field_violations


async def test_validate_only_idempotency_reads_and_not_found(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        checked = await batches.create([task(agent, "x"), task(agent, "y")], validate_only=True, batch_id="checked")
        assert checked.counts.total == 2 and checked.name == "batches/checked"
        assert (await rpc_error(batches.stub.GetBatch(batch_pb2.GetBatchRequest(name="batches/checked")))).reason == "BATCH_NOT_FOUND"

        request_id = new_request_id()
        first = await batches.create([task(agent, "x")], request_id=request_id, labels={"team": "a"})
        again = await batches.create([task(agent, "x")], request_id=request_id, labels={"team": "a"})
        assert again.name == first.name
        await batches.watch_to_end(first.name)
        second = await batches.create([task(agent, "y")], batch_id="named-batch", display_name="named")
        await batches.watch_to_end(second.name)
        duplicate = await rpc_error(batches.create_call([task(agent, "y")], batch_id="named-batch"))
        assert duplicate.code == grpc.StatusCode.ALREADY_EXISTS

        listed = await batches.stub.ListBatches(batch_pb2.ListBatchesRequest(order_by="create_time"))
        assert [b.name for b in listed.batches] == [first.name, second.name] and listed.total_size == 2
        filtered = await batches.stub.ListBatches(batch_pb2.ListBatchesRequest(filter='labels.team = "a" AND state = SUCCEEDED'))
        assert [b.name for b in filtered.batches] == [first.name]
        assert all(b.counts.total == 1 for b in listed.batches)

        missing = await rpc_error(batches.stub.GetBatchTask(batch_pb2.GetBatchTaskRequest(name=f"{first.name}/tasks/9")))
        assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "BATCH_TASK_NOT_FOUND"
        bad = await rpc_error(batches.stub.GetBatch(batch_pb2.GetBatchRequest(name="nope")))
        assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
        watch = await rpc_error(batches.watch("batches/nope-nope").read())
        assert watch.code == grpc.StatusCode.NOT_FOUND


async def test_a_batch_interrupted_by_a_restart_completes_with_every_task_run_once(tmp_path: Path) -> None:
    settings = batch_settings(tmp_path, builtin_tokens_per_second=20)
    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected_batches(server) as batches:
            agent = await batches.runs.agent()
            created = await batches.create([task(agent, f"[[tokens:10]] n{i}") for i in range(12)], max_concurrency=3)
            await batches.wait_for(created.name, lambda b: b.counts.succeeded >= 2 and b.counts.running > 0)
    finally:
        await server.stop(grace=0)  # running tasks end SHUTTING_DOWN

    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected_batches(server) as batches:
            final = (await batches.watch_to_end(created.name))[-1].batch
            assert final.state == Batch.STATE_SUCCEEDED and final.counts.succeeded == 12
            for t in await batches.tasks(created.name):
                runs = await batches.runs_of(t.name)
                assert [r.status for r in runs].count(SUCCEEDED) == 1, t
                assert t.run == next(r.name for r in runs if r.status == SUCCEEDED)
                assert all(r.error.reason == "SHUTTING_DOWN" for r in runs if r.status != SUCCEEDED)
    finally:
        await server.stop(grace=0.5)


async def test_tasks_without_a_session_must_fit_in_the_owners_session_limit(tmp_path: Path) -> None:
    async with serving_batches(tmp_path, limits=Limits(max_sessions_per_owner=4)) as batches:
        agent = await batches.runs.agent()
        session = await batches.runs.session(agent)
        failure = await rpc_error(batches.create_call([task(agent, f"t{i}") for i in range(4)]))
        assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED and failure.reason == "SESSION_QUOTA_EXCEEDED"
        # Tasks in an existing session need none.
        created = await batches.create([task(session=session, text=f"t{i}") for i in range(4)] + [task(agent, "own")])
        assert (await batches.watch_to_end(created.name))[-1].batch.state == Batch.STATE_SUCCEEDED


async def test_tasks_from_an_uploaded_jsonl_file_and_results_written_to_a_file(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        lines = [json.dumps({"custom_id": f"line-{i}", "agent": agent, "text": f"hello {i}"}) for i in range(1, 4)]
        lines.insert(1, "")  # blank lines are skipped, and line numbers still count them
        input_file = await batches.upload(("\n".join(lines) + "\n").encode())
        created = await batches.create(input_file=input_file, write_output_file=True)
        assert created.input_file == input_file and created.counts.total == 3
        final = (await batches.watch_to_end(created.name))[-1].batch
        assert final.state == Batch.STATE_SUCCEEDED and final.output_file.startswith("files/")
        tasks = await batches.tasks(created.name)
        assert [(t.custom_id, t.index, t.line_number) for t in tasks] == [("line-1", 1, 1), ("line-2", 2, 3), ("line-3", 3, 4)]

        results = [json.loads(line) for line in (await batches.download(final.output_file)).decode().splitlines()]
        assert [r["custom_id"] for r in results] == ["line-1", "line-2", "line-3"]
        assert [r["output"]["text"] for r in results] == ["You said: hello 1", "You said: hello 2", "You said: hello 3"]
        assert all(r["status"] == "STATUS_SUCCEEDED" for r in results)
        files = file_pb2_grpc.FileServiceStub(batches.runs.client.channel)
        output = await files.GetFile(file_pb2.GetFileRequest(name=final.output_file))
        assert output.purpose == file_pb2.File.PURPOSE_BATCH_OUTPUT


async def test_input_lines_json_or_a_struct_cannot_carry_are_reported_by_line_number(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        deep: object = 1
        for _ in range(30):
            deep = {"a": deep}
        lines = [
            json.dumps({"agent": agent, "text": "fine"}),
            '{"agent": "' + agent + '", "input": [{"data": ' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}]}",
            json.dumps({"agent": agent, "input": [{"data": {"deep": deep}}]}),
            '{"agent": "' + agent + '", "input": [{"text": "x"}, {"data": {"n": NaN}}]}',
        ]
        input_file = await batches.upload("\n".join(lines).encode())

        failure = await rpc_error(batches.create_call(input_file=input_file))

        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        fields = set(failure.field_violations)
        assert "lines[2]" in fields or any(f.startswith("lines[2].") for f in fields), fields
        assert any(f.startswith("lines[3].input[0].data.deep") for f in fields), fields
        assert "lines[4].input[1].data.n" in fields, fields
        assert not any(f.startswith("lines[1]") for f in fields), fields


async def test_lines_protobuf_cannot_read_are_refused_by_field_in_the_servers_words(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        lines = [
            json.dumps({"agent": agent, "text": 5}),
            json.dumps({"agent": agent, "input": {"text": "not a list"}}),
            json.dumps({"agent": agent, "input": [{"text": "x"}, {"toolCall": {"id": "c", "arguments": [1]}}]}),
            json.dumps({"agent": agent, "input": [{"parts": []}]}),
        ]
        input_file = await batches.upload("\n".join(lines).encode())

        failure = await rpc_error(batches.create_call(input_file=input_file))

    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.field_violations == {
        "lines[1].text": "must be a string",
        "lines[2].input": "must be a list",
        "lines[3].input[1].toolCall.arguments": "must be an object",
        "lines[4].input[0].parts": "is not a field of ContentPart",
    }
    for text in (failure.message, *failure.field_violations.values()):
        assert_no_internals(text)


async def test_bad_lines_of_an_input_file_are_all_reported_by_line_number(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        lines = [
            json.dumps({"agent": agent, "text": "fine"}),
            "{not json",
            json.dumps({"agent": agent, "text": "unknown field", "colour": "blue"}),
            "[1, 2]",
            "",
            json.dumps({"text": "no agent"}),
            json.dumps({"agent": "agents/does-not-exist", "text": "missing"}),
        ]
        input_file = await batches.upload("\n".join(lines).encode())
        failure = await rpc_error(batches.create_call(input_file=input_file))
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert set(failure.field_violations) == {"lines[2]", "lines[3].colour", "lines[4]", "lines[6].agent"}
        assert "not JSON" in failure.field_violations["lines[2]"]
        assert failure.field_violations["lines[3].colour"] == "is not a field of BatchTaskInput"
        fixed = await batches.upload("\n".join(lines[:1] + lines[6:]).encode())
        failure = await rpc_error(batches.create_call(input_file=fixed))
        assert set(failure.field_violations) == {"lines[2].agent"}

        for problem in failure.field_violations.values():
            assert_no_internals(problem)

        wrong_purpose = await batches.upload(b"hello", filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
        failure = await rpc_error(batches.create_call(input_file=wrong_purpose))
        assert "batch.input_file" in failure.field_violations
        missing = await rpc_error(batches.create_call(input_file="files/nope-nope"))
        assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "FILE_NOT_FOUND"
        assert (await batches.stub.ListBatches(batch_pb2.ListBatchesRequest())).total_size == 0


async def test_the_input_file_of_a_running_batch_cannot_be_deleted(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        input_file = await batches.upload(json.dumps({"agent": agent, "text": "[[sleep:30]]"}).encode())
        created = await batches.create(input_file=input_file)
        files = file_pb2_grpc.FileServiceStub(batches.runs.client.channel)
        failure = await rpc_error(files.DeleteFile(file_pb2.DeleteFileRequest(name=input_file)))
        assert failure.code == grpc.StatusCode.FAILED_PRECONDITION and failure.reason == "FILE_IN_USE"
        await batches.cancel(created.name)
        await batches.wait_end(created.name)
        await files.DeleteFile(file_pb2.DeleteFileRequest(name=input_file))


async def test_a_task_waiting_for_a_person_waits_on_across_a_restart(tmp_path: Path) -> None:
    settings = batch_settings(tmp_path)
    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected_batches(server) as batches:
            agent = await batches.runs.agent()
            created = await batches.create([task(agent, "[[ask:Which colour?]]"), task(agent, "plain")])
            await batches.wait_for(created.name, lambda b: b.counts.requires_input == 1 and b.counts.succeeded == 1)
    finally:
        await server.stop(grace=0)

    server = RunwireServer(settings)
    await server.start()
    try:
        async with connected_batches(server) as batches:
            waiting = (await batches.tasks(created.name))[0]
            assert waiting.status == Task.STATUS_REQUIRES_INPUT
            run = await batches.runs.get(waiting.run)
            await batches.runs.submit_call(run.name, run.pending_input.id, text="blue")
            final = (await batches.watch_to_end(created.name))[-1].batch
            assert final.state == Batch.STATE_SUCCEEDED
            answered = (await batches.tasks(created.name))[0]
            assert answered.run == waiting.run and answered.attempts == 1
            assert [r.name for r in await batches.runs_of(answered.name)] == [waiting.run]
    finally:
        await server.stop(grace=0.5)


async def test_the_server_wide_limit_bounds_tasks_of_all_batches_together(tmp_path: Path) -> None:
    async with serving_batches(tmp_path, limits=Limits(max_concurrent_batch_tasks=2)) as batches:
        agent = await batches.runs.agent()
        first = await batches.create([task(agent, "[[sleep:30]]") for _ in range(3)], max_concurrency=3)
        second = await batches.create([task(agent, "[[sleep:30]]") for _ in range(3)], max_concurrency=3)

        async def running() -> int:
            return sum([(await batches.get(b.name)).counts.running for b in (first, second)])

        loop_batches = [first, second]
        await asyncio.wait_for(_until(lambda: running(), 2), 30)
        # Nothing ends (every task sleeps): the two slots stay taken and the four other tasks wait.
        counts = [(await batches.get(b.name)).counts for b in loop_batches]
        assert sum(c.running for c in counts) == 2 and sum(c.queued for c in counts) == 4
        for b in loop_batches:
            await batches.cancel(b.name)
        for b in loop_batches:
            assert (await batches.wait_end(b.name)).state == Batch.STATE_CANCELLED


async def _until(value: Callable[[], Awaitable[int]], wanted: int) -> None:
    while await value() != wanted:
        await asyncio.sleep(0.02)


async def test_batch_and_task_changes_are_resource_events(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        stub = events_stub(batches.runs.client)
        call = await live(stub, from_now=True, topics=[event_pb2.EventTopic.EVENT_TOPIC_BATCHES])
        created = await batches.create([task(agent, "one"), task(agent, "two [[error:400]]")], max_concurrency=1)
        await batches.watch_to_end(created.name)
        # created; each task started and ended; the batch running, then ended.
        events = await read_events(call, 7)
        call.cancel()
    batch_events = [(e.type, e.batch.state) for e in events if e.resource == created.name]
    assert batch_events == [
        ("batch.created", Batch.STATE_QUEUED),
        ("batch.updated", Batch.STATE_RUNNING),
        ("batch.updated", Batch.STATE_PARTIALLY_SUCCEEDED),
    ]
    assert events[-1].batch.counts.succeeded == 1 and events[-1].batch.counts.failed == 1
    task_events = [(e.resource, e.batch_task.status) for e in events if e.type == "batch_task.updated"]
    assert task_events == [
        (f"{created.name}/tasks/1", Task.STATUS_RUNNING),
        (f"{created.name}/tasks/1", Task.STATUS_SUCCEEDED),
        (f"{created.name}/tasks/2", Task.STATUS_RUNNING),
        (f"{created.name}/tasks/2", Task.STATUS_FAILED),
    ]


async def test_queued_tasks_a_cancel_ends_are_announced_as_cancelled(tmp_path: Path) -> None:
    async with serving_batches(tmp_path) as batches:
        agent = await batches.runs.agent()
        created = await batches.create([task(agent, "[[sleep:30]]") for _ in range(4)], max_concurrency=1)
        await batches.wait_for(created.name, lambda b: b.counts.running == 1)
        stub = events_stub(batches.runs.client)
        call = await live(stub, from_now=True, topics=[event_pb2.EventTopic.EVENT_TOPIC_BATCHES])
        await batches.cancel(created.name)
        await batches.watch_to_end(created.name)
        # batch.updated (cancelling), three queued tasks ended, the running one ended, batch.updated (cancelled).
        events = await read_events(call, 6)
        call.cancel()
    ended_queued = [
        (e.resource, e.batch_task.status, e.batch_task.error.reason, e.batch_task.run)
        for e in events
        if e.type == "batch_task.updated" and not e.batch_task.run
    ]
    assert ended_queued == [
        (f"{created.name}/tasks/{index}", Task.STATUS_CANCELLED, "BATCH_CANCELLED", "") for index in (2, 3, 4)
    ]
