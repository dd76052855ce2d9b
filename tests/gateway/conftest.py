"""A real `runwire serve` process and the REST/JSON gateway binary in front of it.

Both run for the whole session on free ports of 127.0.0.1; each test makes
its own resources, so tests stay independent. The gateway binary is the one
`make test` builds (RUNWIRE_GATEWAY_BIN), built here with `go build` when missing.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterator

import httpx
import pytest
from gateway_stack import ADMIN_KEY, RATE_LIMITED_METHOD, WEB_ORIGIN, Process, Stack, free_port, gateway_binary


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    binary = gateway_binary()
    root = tmp_path_factory.mktemp("gateway")
    port = free_port()
    closed = [{"method": RATE_LIMITED_METHOD, "requests_per_second": 0, "burst": 0}]
    env = {
        **os.environ,
        "RUNWIRE_SHUTDOWN_GRACE_SECONDS": "2",
        "RUNWIRE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "RUNWIRE_RATE_LIMIT_OVERRIDES": json.dumps(closed),
    }
    server = Process(
        [sys.executable, "-m", "runwire.cli.main", "serve", "--port", str(port), "--data-dir", str(root / "data")],
        root / "serve.log",
        env,
    )
    gateway = None
    try:
        server.wait_for("listening on")
        grpc_address = f"127.0.0.1:{port}"
        gateway = Process(
            [str(binary), "--listen", "127.0.0.1:0", "--upstream", grpc_address, "--cors-origins", WEB_ORIGIN], root / "gateway.log", dict(os.environ)
        )
        base_url = gateway.wait_for(r"listening on (http://\S+),").group(1)
        yield Stack(grpc_address=grpc_address, base_url=base_url, admin_key=ADMIN_KEY, gateway_log=root / "gateway.log")
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()


@pytest.fixture
def rest(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client
