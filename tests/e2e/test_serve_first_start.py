"""End to end: the first `runwire serve` on an empty data dir, ended by a signal while it builds the database,
and databases a server must refuse. A start either completes the schema or leaves nothing; the next start is healthy."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from alembic.script import ScriptDirectory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runwire.server.store.database import alembic_config
from runwire.server.store.models import Base
from tests.e2e.test_serve_grpcurl import ADMIN_KEY, ServeProcess

pytestmark = pytest.mark.e2e
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _start(data_dir: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "RUNWIRE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    return subprocess.Popen(
        [sys.executable, "-m", "runwire.cli.main", "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )


def _interrupt_first_start(data_dir: Path, sig: signal.Signals, delay: float) -> None:
    """Signals the process `delay` seconds after its database file appears: while the migrations run."""
    process = _start(data_dir)
    database = data_dir / "runwire.db"
    try:
        while not database.exists():
            assert process.poll() is None, "runwire serve ended before it created its database"
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(sig)
    finally:
        if process.poll() is None and sig != signal.SIGKILL:
            process.send_signal(sig)
        process.wait(timeout=30)


def _tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _revision(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        return [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_first_start_ended_during_its_migrations_leaves_a_data_dir_that_starts(tmp_path: Path, sig: signal.Signals) -> None:
    for attempt, delay in enumerate((0.0, 0.004, 0.012, 0.025, 0.05)):
        data_dir = tmp_path / f"data-{attempt}"
        _interrupt_first_start(data_dir, sig, delay)
        database = data_dir / "runwire.db"
        left = _tables(database)
        # All or nothing: either no table at all, or the complete schema at the newest revision.
        assert left == set() or (Base.metadata.tables.keys() <= left and _revision(database) == [HEAD]), (delay, sorted(left))

        server = ServeProcess(data_dir, log_name=f"restart-{attempt}.log")
        try:
            with grpc.insecure_channel(server.address) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert health.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            assert server.stop() == 0
        assert Base.metadata.tables.keys() <= _tables(database)
        assert _revision(database) == [HEAD]
        assert "Traceback" not in server.log.read_text()


def _contents(database: Path) -> object:
    """What the file holds: its SQL dump (the journal mode may change the header), or its bytes if it is none."""
    try:
        with closing(sqlite3.connect(database)) as connection:
            return list(connection.iterdump())
    except sqlite3.DatabaseError:
        return database.read_bytes()


def _refused(data_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RUNWIRE_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, "RUNWIRE_LOG_LEVEL": "CRITICAL"}
    return subprocess.run(
        [sys.executable, "-m", "runwire.cli.main", "serve", "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("prepare", "explanation"),
    [
        (
            lambda db: db.executescript(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('0042');"
            ),
            "is at schema revision 0042, which this Runwire version does not know (its newest is " + HEAD + "); "
            "it was written by a newer version",
        ),
        (lambda db: db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"), "table(s) that are not Runwire's"),
        (None, "the database cannot be read; it is not a Runwire database"),
    ],
    ids=["newer-revision", "foreign-tables", "not-a-database"],
)
def test_a_database_the_server_must_not_use_is_explained_in_one_line(tmp_path: Path, prepare: object, explanation: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = data_dir / "runwire.db"
    if prepare is None:
        database.write_text("a shopping list, not a database\n" * 100)
    else:
        with closing(sqlite3.connect(database)) as connection:
            prepare(connection)  # type: ignore[operator]
            connection.commit()
    before = _contents(database)

    refused = _refused(data_dir)
    assert refused.returncode == 1
    lines = (refused.stdout + refused.stderr).strip().splitlines()
    assert lines == [f"runwire serve: database {database.resolve()}: {lines[0].split(': ', 2)[2]}"]
    assert explanation in lines[0]
    assert "Traceback" not in lines[0] and "sqlite3" not in lines[0] and "Error" not in lines[0]
    assert _contents(database) == before
