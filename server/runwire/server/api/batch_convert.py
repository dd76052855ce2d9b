"""Batch protos from rows: for the servicer, the results file and the resource events."""

from __future__ import annotations

import json
import time
from typing import Any, Sequence

from google.protobuf import json_format

from runwire.server.api import convert
from runwire.server.domain.common import etag_of
from runwire.server.store.models import BatchRow, BatchTaskRow
from runwire.v1 import batch_pb2, common_pb2

Batch = batch_pb2.Batch


def batch_proto(row: BatchRow, counts: Any) -> batch_pb2.Batch:
    """`counts`: the batch's task counts (store.batches.TaskCounts)."""
    batch = Batch(
        name=f"batches/{row.id}",
        display_name=row.display_name,
        state=row.state,
        input_file=row.input_file,
        options=batch_pb2.BatchOptions(
            max_concurrency=row.max_concurrency,
            timeout=convert.duration(row.timeout_seconds),
            task_timeout=convert.duration(row.task_timeout_seconds),
            max_attempts=row.max_attempts,
            write_output_file=bool(row.write_output_file),
        ),
        counts=batch_pb2.BatchCounts(
            total=counts.total,
            queued=counts.of(batch_pb2.BatchTask.STATUS_QUEUED),
            running=counts.of(batch_pb2.BatchTask.STATUS_RUNNING),
            requires_input=counts.of(batch_pb2.BatchTask.STATUS_REQUIRES_INPUT),
            succeeded=counts.of(batch_pb2.BatchTask.STATUS_SUCCEEDED),
            failed=counts.of(batch_pb2.BatchTask.STATUS_FAILED),
            cancelled=counts.of(batch_pb2.BatchTask.STATUS_CANCELLED),
            timed_out=counts.of(batch_pb2.BatchTask.STATUS_TIMED_OUT),
        ),
        output_file=row.output_file,
        usage=common_pb2.Usage(
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            total_tokens=counts.input_tokens + counts.output_tokens,
        ),
        create_time=convert.timestamp(row.create_time),
        start_time=convert.timestamp(row.start_time),
        end_time=convert.timestamp(row.end_time),
        update_time=convert.timestamp(row.update_time),
        labels=row.labels or {},
        owner=row.owner,
        etag=etag_of("batch", row.id, row.revision or 1),
    )
    if row.error_reason:
        batch.error.reason, batch.error.message = row.error_reason, row.error_message
    return batch


def task_proto(row: BatchTaskRow) -> batch_pb2.BatchTask:
    task = batch_pb2.BatchTask(
        name=f"batches/{row.batch_id}/tasks/{row.index}",
        custom_id=row.custom_id,
        index=row.index,
        line_number=row.line_number,
        agent=f"agents/{row.agent_id}",
        session=f"sessions/{row.session_id}" if row.run_id or not row.own_session else "",
        status=row.status,
        run=f"runs/{row.run_id}" if row.run_id else "",
        attempts=row.attempts,
        usage=common_pb2.Usage(
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            total_tokens=row.input_tokens + row.output_tokens,
        ),
        start_time=convert.timestamp(row.start_time),
        end_time=convert.timestamp(row.end_time),
        update_time=convert.timestamp(row.update_time),
    )
    if row.output:
        json_format.ParseDict(row.output, task.output, ignore_unknown_fields=True)
    if row.error_reason:
        task.error.reason, task.error.message = row.error_reason, row.error_message
    if row.duration_ms is not None:
        task.duration.FromNanoseconds(int(row.duration_ms * 1e6))
    elif row.start_time is not None:
        # A task in progress: its duration is the time elapsed so far.
        started = convert.timestamp(row.start_time)
        assert started is not None
        task.duration.FromNanoseconds(max(time.time_ns() - started.ToNanoseconds(), 0))
    return task


def results_jsonl(tasks: Sequence[BatchTaskRow]) -> bytes:
    """A batch's results file: one line per task in input order, each the proto3 JSON of its BatchTask."""
    lines = [
        json.dumps(json_format.MessageToDict(task_proto(t), preserving_proto_field_name=True), separators=(",", ":"))
        for t in sorted(tasks, key=lambda t: t.index)
    ]
    return ("\n".join(lines) + "\n").encode()
