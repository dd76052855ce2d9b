"""The baseline: a bare grpc.aio server answering with the same message shapes as Runwire, doing no work.

GetAgent returns a fixed agent; GetSession a fixed session; ListMessages a fixed page of 20 messages
(a message's shape as Runwire answers it: name, role, one text part, text, times, etag); CreateMessage
that message made from the request, with the fields the server fills in; ExecuteAgent, StreamTokens and StreamRunEvents
stream `[[tokens:N]]` one-token text deltas as fast as the reader takes them (no
database, no engine); StreamRunEvents on `runs/idle` stays open without
sending anything, for the idle-stream memory figure. UploadFile writes the
chunks it receives to a temporary file, as they come, and answers with their
count of bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile

import grpc
from google.protobuf import timestamp_pb2

from runwire.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    file_pb2,
    file_pb2_grpc,
    message_pb2,
    message_pb2_grpc,
    run_pb2,
    run_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)

TOKENS = re.compile(r"\[\[tokens:(\d+)\]\]")
AGENT = agent_pb2.Agent(
    name="agents/bench",
    display_name="Bench",
    instructions="Answer briefly.",
    model=agent_pb2.ModelConfig(provider="builtin"),
    owner="local",
    etag='"0123456789abcdef"',
)


NOW = timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=123_456_000)
SESSION = session_pb2.Session(
    name="sessions/0123456789abcdef0123456789abcdef",
    agent="agents/bench",
    owner="local",
    message_count=20,
    create_time=NOW,
    update_time=NOW,
    etag='"0123456789abcdef"',
)


def message(index: int, content: list[common_pb2.ContentPart] | None = None) -> message_pb2.Message:
    text = f"Message number {index} of the benchmark's session."
    return message_pb2.Message(
        name=f"{SESSION.name}/messages/{index:032x}",
        role=message_pb2.Message.ROLE_USER,
        content=content if content is not None else [common_pb2.ContentPart(text=text)],
        text=text if content is None else "".join(part.text for part in content),
        create_time=NOW,
        update_time=NOW,
        etag='"0123456789abcdef"',
    )


MESSAGES_PAGE = message_pb2.ListMessagesResponse(messages=[message(i) for i in range(20)], next_page_token="p" * 40, total_size=20)


class BareSessions(session_pb2_grpc.SessionServiceServicer):
    async def GetSession(self, request, context):  # type: ignore[no-untyped-def]
        return SESSION


class BareMessages(message_pb2_grpc.MessageServiceServicer):
    async def ListMessages(self, request, context):  # type: ignore[no-untyped-def]
        return MESSAGES_PAGE

    async def CreateMessage(self, request, context):  # type: ignore[no-untyped-def]
        return message(21, list(request.message.content))


class BareAgents(agent_pb2_grpc.AgentServiceServicer):
    async def GetAgent(self, request, context):  # type: ignore[no-untyped-def]
        return AGENT


class BareRuns(run_pb2_grpc.RunServiceServicer):
    async def ExecuteAgent(self, request, context):  # type: ignore[no-untyped-def]
        match = TOKENS.search(request.input[0].text if request.input else "")
        count = int(match.group(1)) if match else 1
        for seq in range(1, count + 1):
            yield run_pb2.RunEvent(run="runs/bench", seq=seq, text_delta=run_pb2.TextDelta(text=f"t{seq} "))
        yield run_pb2.RunEvent(run="runs/bench", seq=count + 1, run_completed=run_pb2.RunCompleted())

    async def StreamTokens(self, request, context):  # type: ignore[no-untyped-def]
        match = TOKENS.search(request.input[0].text if request.input else "")
        count = int(match.group(1)) if match else 1
        for seq in range(1, count + 1):
            yield run_pb2.StreamTokensResponse(text=f"t{seq} ", seq=seq)
        yield run_pb2.StreamTokensResponse(seq=count + 1, final=True)

    async def StreamRunEvents(self, request, context):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # idle until the client goes away
        yield run_pb2.RunEvent()  # pragma: no cover


class BareFiles(file_pb2_grpc.FileServiceServicer):
    async def UploadFile(self, request_iterator, context):  # type: ignore[no-untyped-def]
        size = 0
        handle, path = tempfile.mkstemp(prefix="bare-upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                async for request in request_iterator:
                    if request.WhichOneof("data") == "chunk":
                        out.write(request.chunk)
                        size += len(request.chunk)
        finally:
            os.unlink(path)
        return file_pb2.File(name="files/bench", size_bytes=size)


class GenericOnly:
    """The server as the generated add_*_to_server functions see it, keeping their generic handlers only, as
    Runwire does (runwire.server.grpc_server.GenericHandlersOnly): grpc.aio's registered methods cost every call a
    wait on one pending request per method, so the baseline would grow slower with each service it adds."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:  # type: ignore[no-untyped-def]
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service, handlers) -> None:  # type: ignore[no-untyped-def]
        pass  # the generic handler added beside them serves the same methods


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handlers = GenericOnly(server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(BareAgents(), handlers)
    run_pb2_grpc.add_RunServiceServicer_to_server(BareRuns(), handlers)
    file_pb2_grpc.add_FileServiceServicer_to_server(BareFiles(), handlers)
    session_pb2_grpc.add_SessionServiceServicer_to_server(BareSessions(), handlers)
    message_pb2_grpc.add_MessageServiceServicer_to_server(BareMessages(), handlers)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    print("listening", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
