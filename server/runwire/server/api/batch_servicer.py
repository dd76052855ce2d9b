"""BatchService: thin mapping of batch RPCs onto the domain, and batch protos from rows."""

from __future__ import annotations

import json
from typing import AsyncIterator, Sequence

from google.protobuf import json_format

from runwire.server.api.calls import ServicerContext, caller, current_call, send_headers
from runwire.server.api.options import list_query, write_options
from runwire.server.core.principal import Principal
from runwire.server.domain.batches import BatchOptions, BatchService, task_input_fields
from runwire.server.domain.files.records import Purpose
from runwire.server.domain.files.service import FileService
from runwire.server.store.models import BatchRow, BatchTaskRow
from runwire.server.wire import convert, json_values
from runwire.server.wire.convert import batch_proto, task_proto
from runwire.v1 import batch_pb2, batch_pb2_grpc

Batch = batch_pb2.Batch


def results_jsonl(tasks: Sequence[BatchTaskRow]) -> bytes:
    """A batch's results file: one line per task in input order, each the proto3 JSON of its BatchTask."""
    lines = [
        json.dumps(
            json_values.with_integers(json_format.MessageToDict(task_proto(t), preserving_proto_field_name=True)),
            separators=(",", ":"),
        )
        for t in sorted(tasks, key=lambda t: t.index)
    ]
    return ("\n".join(lines) + "\n").encode()


async def write_results_file(files: FileService, batch: BatchRow, tasks: Sequence[BatchTaskRow]) -> str:
    """Store the results as a BATCH_OUTPUT file of the batch's owner; its name."""
    row = await files.create_from_bytes(
        Principal(id=batch.owner),
        filename=f"{batch.id}-results.jsonl",
        data=results_jsonl(tasks),
        purpose=int(Purpose.BATCH_OUTPUT),
        content_type="application/jsonl",
        labels={"batch": batch.id},
    )
    return f"files/{row.id}"


class BatchServicer(batch_pb2_grpc.BatchServiceServicer):
    def __init__(self, batches: BatchService) -> None:
        self.batches = batches

    async def CreateBatch(self, request: batch_pb2.CreateBatchRequest, context: ServicerContext) -> batch_pb2.Batch:
        batch = request.batch
        options = batch.options
        which = batch.WhichOneof("input")
        view = await self.batches.create(
            caller(),
            {"display_name": batch.display_name, "labels": dict(batch.labels)},
            inline_tasks=[
                task_input_fields(t, f"batch.inline_tasks.tasks[{i}]") for i, t in enumerate(batch.inline_tasks.tasks)
            ] if which == "inline_tasks" else None,
            input_file=batch.input_file if which == "input_file" else "",
            options=BatchOptions(
                max_concurrency=options.max_concurrency,
                timeout=convert.seconds(options.timeout),
                task_timeout=convert.seconds(options.task_timeout),
                max_attempts=options.max_attempts,
                write_output_file=options.write_output_file,
            ),
            write=write_options(request),
            batch_id=request.batch_id,
        )
        return batch_proto(view)

    async def GetBatch(self, request: batch_pb2.GetBatchRequest, context: ServicerContext) -> batch_pb2.Batch:
        return batch_proto(await self.batches.get(caller(), request.name))

    async def ListBatches(self, request: batch_pb2.ListBatchesRequest, context: ServicerContext) -> batch_pb2.ListBatchesResponse:
        views, page = await self.batches.list(caller(), list_query(request))
        return batch_pb2.ListBatchesResponse(
            batches=[batch_proto(v) for v in views], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def CancelBatch(self, request: batch_pb2.CancelBatchRequest, context: ServicerContext) -> batch_pb2.Batch:
        return batch_proto(await self.batches.cancel(caller(), request.name, write_options(request)))

    async def ListBatchTasks(self, request: batch_pb2.ListBatchTasksRequest, context: ServicerContext) -> batch_pb2.ListBatchTasksResponse:
        page = await self.batches.list_tasks(caller(), request.parent, list_query(request))
        return batch_pb2.ListBatchTasksResponse(
            tasks=[task_proto(r) for r in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def GetBatchTask(self, request: batch_pb2.GetBatchTaskRequest, context: ServicerContext) -> batch_pb2.BatchTask:
        return task_proto(await self.batches.get_task(caller(), request.name))

    async def WatchBatch(self, request: batch_pb2.WatchBatchRequest, context: ServicerContext) -> AsyncIterator[batch_pb2.WatchBatchResponse]:
        updates = await self.batches.watch(
            caller(),
            request.name,
            include_tasks=request.include_tasks,
            min_interval=convert.seconds(request.min_interval),
        )
        # Watching again starts with the batch as it is then: its name is all a client needs to resume.
        current_call().resume_point = lambda last: {"resource": request.name}
        await send_headers(context)
        async for update in updates:
            yield batch_pb2.WatchBatchResponse(
                batch=batch_proto(update.batch), changed_tasks=[task_proto(t) for t in update.changed_tasks]
            )
