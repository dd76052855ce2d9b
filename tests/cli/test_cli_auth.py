"""The `runwire` client commands against a server that checks credentials: --api-key and RUNWIRE_API_KEY."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from tests.grpc.secure_support import ADMIN_KEY, running, secure_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_the_api_key_comes_from_the_option_or_the_environment(
    server: RunwireServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWIRE_API_KEY", raising=False)
    address = f"127.0.0.1:{server.port}"
    code, _, err = await _run(capsys, "agents", "list", "--server", address)
    assert code == 1 and "UNAUTHENTICATED" in err and ADMIN_KEY not in err
    code, out, _ = await _run(capsys, "agents", "create", "--display-name", "Keyed", "--server", address, "--api-key", ADMIN_KEY, "--json")
    assert code == 0 and '"owner": "admin"' in out
    monkeypatch.setenv("RUNWIRE_API_KEY", ADMIN_KEY)
    code, out, _ = await _run(capsys, "agents", "list", "--server", address)
    assert code == 0 and "Keyed" in out
    code, _, err = await _run(capsys, "agents", "list", "--server", address, "--api-key", "rw_" + "n" * 40)
    assert code == 1 and "UNAUTHENTICATED" in err
