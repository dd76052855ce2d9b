"""Engines and migrations (Alembic, applied on start).

SQLite runs inline on the event loop (`sqlite:///…`, the default): it is a
library in this process and its indexed statements take tens of
microseconds, less than one hop to a worker thread, so a thread per call
(aiosqlite) costs more than the work it moves off the loop. Queries stay
bounded (indexes, page sizes) so none holds the loop for long.
`sqlite+aiosqlite:///…` still selects the thread-per-connection driver, and
any other URL (`postgresql+asyncpg://…`) runs fully async.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from runwire.server.store.models import Base

log = logging.getLogger("runwire.server.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def runs_inline(url: str | URL) -> bool:
    """SQLite through the standard sqlite3 module, called directly from the event loop."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() in ("pysqlite", "")


def _prepare_sqlite_file(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_inline_engine(url: str) -> Engine:
    parsed = make_url(url).set(drivername="sqlite+pysqlite")
    _prepare_sqlite_file(parsed)
    # Connections move between the loop and the writer thread, one user at a time (the pool checks them out).
    engine = create_sync_engine(parsed, connect_args={"timeout": 5, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _no_automatic_checkpoints)
    return engine


# The WAL file's size once checkpointed: a burst of writes does not keep its disk space for good.
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def _no_automatic_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    """By default the commit that takes the WAL past 1,000 pages copies them into the database file and
    syncs it, on the event loop for an inline commit: several milliseconds every hundred or so runs.
    `Store` checkpoints from a background thread instead."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        _prepare_sqlite_file(make_url(url))
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable across process crashes in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # SQLite's lower() folds ASCII only; case-insensitive filters and search (`lower(x) LIKE lower(y)`)
    # must fold every script, as PostgreSQL's does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class DatabaseNotUsable(Exception):
    """The database cannot be used as it is; the message is one line for whoever starts the server."""


def _upgrade(sync_connection: Any) -> None:
    """Checks what the database holds, then applies every pending migration on this one connection.

    The caller holds one transaction around it: the schema moves from its revision to the newest, or stays.
    """
    script = ScriptDirectory.from_config(alembic_config(str(sync_connection.engine.url)))
    heads = script.get_heads()
    head = heads[0] if heads else None
    current = _current_revision(sync_connection, script, head)
    if current == head:
        return
    config = alembic_config(str(sync_connection.engine.url))
    config.attributes["connection"] = sync_connection
    try:
        command.upgrade(config, "head")
    except Exception as exc:
        log.error("migrating the database from revision %s to %s failed: %s: %s", current or "(empty)", head, type(exc).__name__, exc)
        log.debug("the failed migration", exc_info=True)
        raise DatabaseNotUsable(
            f"migrating the database from revision {current or '(empty)'} to {head} failed and was rolled back; "
            "the database is unchanged (the log has the detail)"
        ) from None


def _current_revision(sync_connection: Any, script: ScriptDirectory, head: str | None) -> str | None:
    """The database's revision, after refusing what this server must not touch and repairing a first start cut short."""
    try:
        tables = set(inspect(sync_connection).get_table_names())
    except DBAPIError as exc:
        log.error("reading the database's tables failed: %s", exc)
        raise DatabaseNotUsable("the database cannot be read; it is not a Runwire database (the log has the detail)") from None
    revision = None
    if "alembic_version" in tables:
        revisions = [row[0] for row in sync_connection.execute(text("SELECT version_num FROM alembic_version"))]
        if len(revisions) > 1:
            raise DatabaseNotUsable(f"the database records several schema revisions ({', '.join(revisions)}); it was not made by Runwire")
        revision = revisions[0] if revisions else None
    if revision is not None:
        try:
            script.get_revision(revision)
        except Exception:
            raise DatabaseNotUsable(
                f"the database is at schema revision {revision}, which this Runwire version does not know (its newest is "
                f"{head}); it was written by a newer version: run that version, or restore a backup"
            ) from None
        return revision
    ours = {table for table in tables if _is_runwire_table(table)}
    foreign = tables - ours
    if ours and not any(_has_rows(sync_connection, table) for table in ours):
        # A first start ended during its migrations by an older version, which committed each statement:
        # empty tables and no revision. Nothing was ever stored, so they are made again from nothing.
        log.warning("the database holds %d empty table(s) from a first start cut short; creating the schema again", len(ours))
        for table in sorted(ours):
            if not table.startswith(f"{FULL_TEXT_TABLE}_"):  # the full-text index's shadow tables go with it
                sync_connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        return None
    if ours:
        raise DatabaseNotUsable(
            "the database holds Runwire tables with data but no schema revision; it was not made by a complete start. "
            "Restore a backup, or move the database aside to start empty"
        )
    if foreign and sync_connection.dialect.name == "sqlite":
        # A SQLite database is Runwire's own file; tables of something else mean the path is wrong.
        raise DatabaseNotUsable(f"the database holds {len(foreign)} table(s) that are not Runwire's; it is not a Runwire database")
    return None


# SQLite's full-text index of file chunks: a virtual table (and shadow tables named after it) with no model.
FULL_TEXT_TABLE = "file_chunks_fts"


def _is_runwire_table(table: str) -> bool:
    return table in Base.metadata.tables or table == "alembic_version" or table.startswith(FULL_TEXT_TABLE)


def _has_rows(sync_connection: Any, table: str) -> bool:
    return sync_connection.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None


def _migration_engine(url: URL) -> Engine:
    """A SQLite connection whose transactions SQLAlchemy, not the sqlite3 module, begins and ends.

    sqlite3's legacy transaction control (Python < 3.12) begins a transaction only before INSERT, UPDATE,
    DELETE and REPLACE: CREATE TABLE, CREATE INDEX and DROP TABLE outside one commit at once, so a start
    ended during its migrations left some tables behind. With the module's control off and an explicit
    BEGIN IMMEDIATE, every statement of every pending migration is in one transaction, as on PostgreSQL.
    """
    engine = create_sync_engine(url.set(drivername="sqlite+pysqlite"), connect_args={"timeout": 30}, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _explicit_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection, record)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def migrate(engine: AsyncEngine | Engine) -> None:
    """Bring the schema to the newest revision, all pending migrations in one transaction.

    Raises DatabaseNotUsable when the database is not Runwire's, is newer than this server, or a migration fails.
    """
    url = engine.url
    if is_sqlite(url) and url.database and url.database != ":memory:":
        # Off the event loop: the transaction can wait for the file's lock (timeout above).
        await asyncio.to_thread(_migrate_sqlite_file, url)
        return
    if isinstance(engine, Engine):
        with engine.begin() as connection:
            _upgrade(connection)
        return
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _migrate_sqlite_file(url: URL) -> None:
    migration_engine = _migration_engine(url)
    try:
        with migration_engine.begin() as connection:
            _upgrade(connection)
    except DatabaseNotUsable:
        raise
    except DBAPIError as exc:
        log.error("opening the database failed: %s", exc)
        raise DatabaseNotUsable("the database cannot be read; it is not a Runwire database (the log has the detail)") from None
    finally:
        migration_engine.dispose()


LOCK_FILE = "runwire.lock"


class DataDirInUse(OSError):
    """Another process (group) already serves this data dir."""


# Locks this process holds: path -> (descriptor, servers using it). Servers in one process are one group.
_HELD: dict[Path, tuple[int, int]] = {}


class DataDirLock:
    """An exclusive lock on the directory of a SQLite database (the data dir by default), held while a
    server uses it: a SQLite database and its leases belong to one process (group), so a second
    `runwire serve` on it stops before it touches anything. The kernel releases the lock when the
    process ends, however it ends. Servers within one process share it; `first` tells the one that took
    it from the others (only that one may take over leases it finds unexpired)."""

    def __init__(self, directory: Path) -> None:
        self.path = (directory / LOCK_FILE).resolve()
        self.first = False
        self._held = False

    def acquire(self) -> None:
        held = _HELD.get(self.path)
        if held is not None:
            _HELD[self.path] = (held[0], held[1] + 1)
            self._held = True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise DataDirInUse(
                f"the data dir {self.path.parent} is in use by another runwire process{by}; a SQLite data dir "
                "serves one process: give each server its own data dir, or share PostgreSQL"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[self.path] = (fd, 1)
        self.first = self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        fd, users = _HELD[self.path]
        if users > 1:
            _HELD[self.path] = (fd, users - 1)
            return
        del _HELD[self.path]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def sqlite_directory(url: str) -> Path | None:
    """The directory of a SQLite database file, or None (in memory, or not SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve().parent
