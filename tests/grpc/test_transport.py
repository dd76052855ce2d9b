"""Transport hardening: keepalive and connection-age settings reach gRPC, and old connections are closed."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import grpc

from runwire.server.config import Settings
from runwire.server.grpc_server import transport_options
from runwire.v1 import agent_pb2
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, running, secure_settings


def test_settings_become_channel_arguments() -> None:
    settings = dataclasses.replace(
        Settings(),
        max_metadata_bytes=4096,
        keepalive_time_seconds=30,
        max_connection_idle_seconds=300,
        max_connection_age_seconds=600,
        max_connection_age_grace_seconds=15,
    )
    options = dict(transport_options(settings))
    assert options["grpc.max_metadata_size"] == 4096 and options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.max_connection_idle_ms"] == 300_000
    assert options["grpc.max_connection_age_ms"] == 600_000 and options["grpc.max_connection_age_grace_ms"] == 15_000
    assert "grpc.max_connection_age_ms" not in dict(transport_options(Settings()))


async def test_connections_older_than_the_maximum_age_are_closed(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path, max_connection_age_seconds=0.5, max_connection_age_grace_seconds=0.5)
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        run = await admin.waiting_run()
        started = time.monotonic()
        stream = admin.follow(run)
        try:
            while await asyncio.wait_for(stream.read(), 15) is not grpc.aio.EOF:
                pass
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 10
        # The client reconnects for the next call.
        await admin.agents.ListAgents(agent_pb2.ListAgentsRequest())
