"""`runwire memory`, `runwire config` and `runwire admin`, run in-process against a server that checks credentials."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import AsyncIterator

import pytest

from runwire.cli.main import main
from runwire.server.app import RunwireServer
from tests.grpc.secure_support import ADMIN_KEY, running, secure_settings


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    config_file = tmp_path / "runwire.toml"
    config_file.write_text("[limits]\nmax_page_size = 25\n")
    settings = dataclasses.replace(secure_settings(tmp_path), config_file=str(config_file))
    async with running(settings) as instance:
        yield instance


@pytest.fixture
def cli(server: RunwireServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RUNWIRE_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("RUNWIRE_SERVER", f"127.0.0.1:{server.port}")

    async def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


async def test_memories_are_saved_listed_searched_and_cleared(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = await cli("memory", "create", "--type", "profile", "--content", "Prefers answers in French", "--id", "lang", "--json")
    assert code == 0 and json.loads(out)["name"] == "memories/lang"
    await cli("memory", "create", "--type", "fact", "--content", "Drinks green tea")
    code, out, _ = await cli("memory", "list", "--filter", "type = PROFILE")
    assert code == 0 and "memories/lang" in out and "tea" not in out
    code, out, _ = await cli("memory", "search", "tea")
    assert code == 0 and "Drinks green tea" in out
    code, out, _ = await cli("memory", "clear", "--type", "fact", "--validate-only")
    assert code == 0 and out.strip() == "would delete 1 memory"
    code, out, _ = await cli("memory", "clear")
    assert code == 1  # neither a criterion nor --all
    code, out, _ = await cli("memory", "clear", "--all")
    assert code == 0 and out.strip() == "deleted 2 memories"
    code, _, err = await cli("memory", "get", "lang")
    assert code == 1 and "MEMORY_NOT_FOUND" in err


async def test_the_configuration_is_read_changed_validated_and_reloaded(cli, server: RunwireServer) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = await cli("config", "get", "limits.max_page_size")
    assert code == 0 and out.strip() == "1000"
    code, out, _ = await cli("config", "set", "limits.max_page_size=200", "limits.default_run_duration=5m")
    assert code == 0 and out.strip() == "applied revision 2: limits.max_page_size, limits.default_run_duration"
    assert server.settings.limits.max_page_size == 200 and server.settings.runs.default_max_run_seconds == 300
    code, out, _ = await cli("config", "validate", "limits.max_page_size=-1")
    assert code == 1 and out.startswith("config.limits.max_page_size: must be between 1 and 10000")
    code, _, err = await cli("config", "set", "server.port=1")
    assert code == 1 and "CONFIG_INVALID" in err
    code, out, _ = await cli("config", "reload")
    assert code == 0 and "revision 3" in out
    assert server.settings.limits.max_page_size == 25


async def test_admin_info_shows_the_server(cli, database_backend: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = await cli("admin", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["backends"]["database"] == database_backend and info["config_revision"] == "1"
    code, out, _ = await cli("admin", "streams")
    assert code == 0 and out.splitlines()[0].split() == ["ID", "METHOD", "PRINCIPAL", "FOLLOWS", "STARTED", "SENT"]
