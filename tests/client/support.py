"""Support for the client tests: a TCP proxy whose connections a test can cut, and a run to follow."""

from __future__ import annotations

import asyncio
import contextlib

from runwire.v1 import agent_pb2, agent_pb2_grpc, session_pb2, session_pb2_grpc

# Bounds every wait of these tests, so that a bug fails a test instead of hanging it.
WAIT = 30.0


class Proxy:
    """Forwards TCP connections from its own port to the server's; `cut()` drops every open one mid-stream."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Cut every connection once this many bytes have gone from the server to the client (one time).
        self._cut_after: int | None = None
        self.cuts = 0

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        pipes = [
            asyncio.ensure_future(self._pipe(client_reader, server_writer)),
            asyncio.ensure_future(self._pipe(server_reader, client_writer, downstream=True)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, server_writer):
            writer.transport.abort()
            self._writers.discard(writer)
        for pipe in pipes:
            pipe.cancel()
            self._tasks.discard(pipe)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, downstream: bool = False) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(4096):
                if downstream and self._cut_after is not None:
                    if len(data) >= self._cut_after:
                        writer.write(data[: self._cut_after])
                        self.cut()
                        return
                    self._cut_after -= len(data)
                writer.write(data)
                await writer.drain()

    def cut_after(self, downstream_bytes: int) -> None:
        """Cut every connection after `downstream_bytes` more bytes from the server, in the middle of whatever it sends."""
        self._cut_after = downstream_bytes

    def cut(self) -> None:
        """Drop every connection now, as a network failure would (no goodbye on either side)."""
        self._cut_after = None
        self.cuts += 1
        for writer in list(self._writers):
            writer.transport.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()

    async def restart(self) -> None:
        """Listen again on the same port after `stop()`."""
        await self.start()


async def slow_session(port: int, tokens_per_second: float) -> str:
    """A session whose agent streams builtin tokens at `tokens_per_second`."""
    async with __import__("grpc").aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        agent = await agent_pb2_grpc.AgentServiceStub(channel).CreateAgent(
            agent_pb2.CreateAgentRequest(
                agent=agent_pb2.Agent(display_name="slow", model=agent_pb2.ModelConfig(options={"tokens_per_second": tokens_per_second}))
            )
        )
        session = await session_pb2_grpc.SessionServiceStub(channel).CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name))
        )
    return session.name
