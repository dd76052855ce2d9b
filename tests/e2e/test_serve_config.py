"""End to end: `runwire serve --config FILE`, under environment variables and flags, read and reloaded with grpcurl."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_serve_grpcurl import ServeProcess, grpcurl

pytestmark = pytest.mark.e2e


def test_the_file_sits_under_environment_and_flags_and_reloads(tmp_path: Path) -> None:
    config_file = tmp_path / "runwire.toml"
    config_file.write_text('[server]\nport = 1\nshutdown_grace = "7s"\n\n[limits]\nmax_page_size = 2\n')
    # ServeProcess passes --port (a flag) and RUNWIRE_SHUTDOWN_GRACE_SECONDS=2 (an environment variable).
    server = ServeProcess(tmp_path / "data", "--config", str(config_file))
    try:
        read = grpcurl(server.address, "runwire.v1.ConfigService/GetConfig")
        assert read.returncode == 0, read.stderr
        config = json.loads(read.stdout)
        assert config["source"] == str(config_file)
        assert config["limits"]["max_page_size"] == 2  # the file over the default
        assert config["server"]["shutdown_grace"] == "2s"  # the environment over the file
        assert config["server"]["port"] == server.port  # the flag over the file

        config_file.write_text('[server]\nshutdown_grace = "7s"\n\n[limits]\nmax_page_size = 5\n')
        reloaded = grpcurl(server.address, "runwire.v1.ConfigService/ReloadConfig", data={})
        assert reloaded.returncode == 0, reloaded.stderr
        after = json.loads(reloaded.stdout)
        assert after["limits"]["max_page_size"] == 5 and after["revision"] == "2" and "pending_restart_fields" not in after
    finally:
        assert server.stop() == 0


def test_an_invalid_file_stops_the_server_with_every_problem(tmp_path: Path) -> None:
    config_file = tmp_path / "runwire.toml"
    config_file.write_text('[limits]\nmax_page_size = -1\n\n[server]\nshutdown_grace = "soon"\n')
    result = subprocess.run(
        [sys.executable, "-m", "runwire.cli.main", "serve", "--config", str(config_file), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "limits.max_page_size" in result.stderr and "(and 1 more)" in result.stderr and str(config_file) in result.stderr
