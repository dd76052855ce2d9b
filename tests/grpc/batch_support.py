"""Support for the BatchService tests: a server with its batch stubs, and ways to wait for batches."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable

import grpc

from runwire.server.app import RunwireServer
from runwire.server.config import Limits, Settings
from runwire.v1 import batch_pb2, batch_pb2_grpc, file_pb2, file_pb2_grpc, run_pb2
from tests.grpc.run_support import Runs, connected, run_settings, seconds

Batch = batch_pb2.Batch
Task = batch_pb2.BatchTask
TERMINAL_STATES = {
    Batch.STATE_SUCCEEDED,
    Batch.STATE_PARTIALLY_SUCCEEDED,
    Batch.STATE_FAILED,
    Batch.STATE_CANCELLED,
    Batch.STATE_TIMED_OUT,
}
# Generous: a batch of a few hundred tasks on a busy two-core machine.
BATCH_TIMEOUT = 120.0


def batch_settings(tmp_path: Path, limits: Limits | None = None, **runs: Any) -> Settings:
    settings = run_settings(tmp_path, **runs)
    return dataclasses.replace(settings, limits=limits or Limits())


def task(agent: str = "", text: str = "", custom_id: str = "", session: str = "", **fields: Any) -> batch_pb2.BatchTaskInput:
    return batch_pb2.BatchTaskInput(agent=agent, text=text, custom_id=custom_id, session=session, **fields)


@dataclasses.dataclass
class Batches:
    runs: Runs
    stub: batch_pb2_grpc.BatchServiceStub

    @property
    def server(self) -> RunwireServer:
        return self.runs.server

    def create_call(
        self,
        tasks: Iterable[batch_pb2.BatchTaskInput] | None = None,
        *,
        input_file: str = "",
        batch_id: str = "",
        request_id: str = "",
        validate_only: bool = False,
        max_concurrency: int = 0,
        timeout: float = 0,
        task_timeout: float = 0,
        max_attempts: int = 0,
        write_output_file: bool = False,
        **fields: Any,
    ) -> Any:
        batch = Batch(
            options=batch_pb2.BatchOptions(
                max_concurrency=max_concurrency,
                timeout=seconds(timeout) if timeout else None,
                task_timeout=seconds(task_timeout) if task_timeout else None,
                max_attempts=max_attempts,
                write_output_file=write_output_file,
            ),
            **fields,
        )
        if input_file:
            batch.input_file = input_file
        else:
            batch.inline_tasks.tasks.extend(list(tasks or []))
        return self.stub.CreateBatch(
            batch_pb2.CreateBatchRequest(batch=batch, batch_id=batch_id, request_id=request_id, validate_only=validate_only)
        )

    async def create(self, tasks: Iterable[batch_pb2.BatchTaskInput] | None = None, **kwargs: Any) -> Batch:
        return await self.create_call(tasks, **kwargs)

    async def get(self, name: str) -> Batch:
        return await self.stub.GetBatch(batch_pb2.GetBatchRequest(name=name))

    async def tasks(self, parent: str, **request: Any) -> list[Task]:
        """Every task of the batch (all pages), in the order asked."""
        found: list[Task] = []
        token = ""
        while True:
            page = await self.stub.ListBatchTasks(
                batch_pb2.ListBatchTasksRequest(parent=parent, page_token=token, page_size=100, **request)
            )
            found.extend(page.tasks)
            token = page.next_page_token
            if not token:
                return found

    async def cancel(self, name: str) -> Batch:
        return await self.stub.CancelBatch(batch_pb2.CancelBatchRequest(name=name))

    def watch(self, name: str, include_tasks: bool = False, min_interval: float = 0.1) -> Any:
        return self.stub.WatchBatch(
            batch_pb2.WatchBatchRequest(name=name, include_tasks=include_tasks, min_interval=seconds(min_interval)),
            timeout=BATCH_TIMEOUT,
        )

    async def watch_to_end(self, name: str, include_tasks: bool = False) -> list[batch_pb2.WatchBatchResponse]:
        """Every WatchBatch message until the stream ends (it ends after a terminal snapshot)."""
        call = self.watch(name, include_tasks)

        async def read() -> list[batch_pb2.WatchBatchResponse]:
            seen = []
            while (message := await call.read()) is not grpc.aio.EOF:
                seen.append(message)
            return seen

        return await asyncio.wait_for(read(), BATCH_TIMEOUT)

    async def wait_for(self, name: str, condition: Callable[[Batch], bool], timeout: float = BATCH_TIMEOUT) -> Batch:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = await self.get(name)
            if condition(batch):
                return batch
            if loop.time() > deadline:
                raise AssertionError(f"{name} never met the condition; last seen:\n{batch}")
            await asyncio.sleep(0.02)

    async def wait_end(self, name: str) -> Batch:
        return await self.wait_for(name, lambda b: b.state in TERMINAL_STATES)

    async def upload(self, data: bytes, filename: str = "tasks.jsonl", purpose: int = file_pb2.File.PURPOSE_BATCH_INPUT) -> str:
        """Upload `data` as a file; its name."""
        stub = file_pb2_grpc.FileServiceStub(self.runs.client.channel)
        first = file_pb2.UploadFileRequest(metadata=file_pb2.UploadFileMetadata(filename=filename, purpose=purpose))
        uploaded = await stub.UploadFile(iter([first, file_pb2.UploadFileRequest(chunk=data)]))
        return uploaded.name

    async def download(self, name: str) -> bytes:
        stub = file_pb2_grpc.FileServiceStub(self.runs.client.channel)
        return b"".join([m.chunk async for m in stub.DownloadFile(file_pb2.DownloadFileRequest(name=name))])

    async def runs_of(self, task_name: str) -> list[run_pb2.Run]:
        listed = await self.runs.list(filter=f'batch_task = "{task_name}"', page_size=100)
        return list(listed.runs)


@asynccontextmanager
async def connected_batches(server: RunwireServer) -> AsyncIterator[Batches]:
    async with connected(server) as runs:
        yield Batches(runs=runs, stub=batch_pb2_grpc.BatchServiceStub(runs.client.channel))


@asynccontextmanager
async def serving_batches(tmp_path: Path, limits: Limits | None = None, **runs: Any) -> AsyncIterator[Batches]:
    server = RunwireServer(batch_settings(tmp_path, limits, **runs))
    await server.start()
    try:
        async with connected_batches(server) as batches:
            yield batches
    finally:
        await server.stop(grace=0.5)

