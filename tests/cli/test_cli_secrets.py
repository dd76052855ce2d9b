"""`runwire secrets`, run in-process against a server that checks credentials: values go in through standard
input and never come back out."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import AsyncIterator

import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from tests.grpc.secure_support import ADMIN_KEY, running, secure_settings

VALUE = "sk-typed-into-stdin-0123456789"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


@pytest.fixture
def cli(server: RunwireServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RUNWIRE_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("RUNWIRE_SERVER", f"127.0.0.1:{server.port}")

    async def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


async def test_secrets_are_created_from_stdin_listed_rotated_and_deleted_without_showing_values(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = await cli("secrets", "create", "--id", "model-key", "--display-name", "Model key", "--json", stdin=VALUE + "\n")
    assert code == 0
    created = json.loads(out)
    assert created["name"] == "secrets/model-key" and "value" not in created

    code, out, _ = await cli("secrets", "list")
    assert code == 0 and "secrets/model-key" in out and "Model key" in out

    code, out, _ = await cli("secrets", "rotate", "model-key", "--json", stdin="sk-new-value")
    assert code == 0 and json.loads(out)["etag"] != created["etag"]

    code, out, _ = await cli("secrets", "get", "model-key", "--json")
    assert code == 0 and "value" not in json.loads(out)

    code, out, _ = await cli("secrets", "delete", "model-key")
    assert code == 0 and "deleted secrets/model-key" in out
    code, _, err = await cli("secrets", "get", "model-key")
    assert code != 0 and "SECRET_NOT_FOUND" in err


async def test_an_empty_value_is_refused(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = await cli("secrets", "create", "--id", "empty-key", stdin="")
    assert code != 0 and "secret.value" in err
