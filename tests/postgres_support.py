"""A real PostgreSQL cluster for the tests that run the server on it (the asyncpg path)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.redis_support import free_port

# Debian puts the server binaries beside each other under a versioned directory, off the PATH.
_DEBIAN_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _binary(name: str) -> str:
    found = shutil.which(name) or next((str(d / name) for d in _DEBIAN_BINARIES if (d / name).exists()), None)
    if found is None:
        pytest.fail(f"{name} is not installed; `make test` installs PostgreSQL (apt-get install postgresql)")
    return found


class PostgresServer:
    """A throwaway cluster on a free port of 127.0.0.1: trust authentication, no fsync, removed at stop().

    PostgreSQL refuses to run as root; as root the cluster belongs to the `postgres` user that the Debian
    package creates."""

    USER = "runwire"

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's temporary directory: that is private to the user running the tests.
        self.directory = directory = Path(tempfile.mkdtemp(prefix="runwire-postgres-"))
        self.data = directory / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(directory, user="postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", self.USER, "-E", "UTF8", "--no-sync")
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(directory / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            "start",
        )
        self._template = self._new_database_name()
        self.execute(f"CREATE DATABASE {self._template}")
        self._migrated = False
        self._databases: dict[str, str] = {}

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._as, *command], capture_output=True, text=True, cwd=self.directory)
        if result.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{tail}")

    def execute(self, sql: str) -> None:
        self._run(_binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, "-d", "postgres", "-q", "-c", sql)

    @staticmethod
    def _new_database_name() -> str:
        return f"runwire_{uuid.uuid4().hex[:12]}"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def database_for(self, owner: str) -> str:
        """The URL of `owner`'s database (a test's directory): fresh at its first use, the same after, so a
        test that restarts its server finds its data."""
        if owner not in self._databases:
            self._databases[owner] = self.new_database()
        return self._databases[owner]

    def new_database(self) -> str:
        """A fresh database at the newest schema (copied from a template migrated once), as a URL."""
        if not self._migrated:
            # On a thread of its own: callers may be inside a running event loop.
            with ThreadPoolExecutor(max_workers=1) as thread:
                thread.submit(asyncio.run, self._migrate_template()).result()
            self._migrated = True
        name = self._new_database_name()
        self.execute(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return self.url(name)

    async def _migrate_template(self) -> None:
        from runwire.server.store.database import create_engine, migrate

        engine = create_engine(self.url(self._template))
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    def stop(self) -> None:
        subprocess.run([*self._as, _binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)
