"""Transactions and keyset listing shared by every repository."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections import abc
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence, TypeVar, cast, overload

from sqlalchemy import Connection, CursorResult, Engine, Result, Row, Select, and_, event, func, or_, select
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from runwire.server.background import spawn
from runwire.server.core.filtering import Expr
from runwire.server.core.paging import OrderKey
from runwire.server.store.database import create_engine, create_inline_engine, is_sqlite, runs_inline, session_factory
from runwire.server.store.filter_sql import FieldSpec, filter_to_sql
from runwire.server.store.transaction import BatchTransaction, CoreTransaction, CoreWrite, InlineSession, Transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=tuple[Any, ...])  # a NamedTuple record (store/records.py)


# Session.info keys: what to call once the session's transaction commits, and what to await as its
# last work (see Store.after_commit and Store.before_commit).
_AFTER_COMMIT = "runwire_after_commit"
_BEFORE_COMMIT = "runwire_before_commit"


@event.listens_for(Session, "after_commit")
def _call_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, {}):
        callback()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    session.info.pop(_BEFORE_COMMIT, None)


# How often inline SQLite checkpoints its WAL, when anything was committed since the last time.
CHECKPOINT_INTERVAL_SECONDS = 1.0

# Distinct statements compiled for inline SQLite at most; the hot ones are a few dozen module constants.
MAX_COMPILED_STATEMENTS = 1024


# SQLAlchemy's default storage format of SQLite DATETIME values.
_SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _bind_processor(impl: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The type's bind processor; for SQLite DATETIME in the default format, one that gives the same text
    through datetime.isoformat (C) instead of %-formatting seven fields: runs bind several times per change."""
    process = impl.bind_processor(dialect)
    # `_storage_format` is SQLAlchemy's own attribute: if it ever goes, the faster path quietly does too.
    if process is None or not isinstance(impl, SQLITE_DATETIME) or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
        return process

    def naive_datetime_as_text(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)  # dates, aware datetimes, None, and errors as SQLAlchemy has them

    return naive_datetime_as_text


# How a namedtuple's _make() builds a record from a row (the statement's columns were checked against its fields).
_new_tuple = tuple.__new__


class _Compiled:
    """A Core statement compiled once for an inline SQLite DBAPI connection.

    Executing through SQLAlchemy's Connection costs about 60 µs per statement (execution context, result
    wrapper, parameter processing per row); the statement itself about 10. The hottest statements (the
    point reads every call or run starts with, and the event writer's inserts and updates) run their
    compiled SQL on the sqlite3 connection with the same bind and result processors SQLAlchemy would
    apply (taken from the dialect's types; naive datetimes through a faster equivalent, see
    _bind_processor); rows come back as named tuples with the columns' keys.
    """

    __slots__ = ("sql", "sources", "bind_processors", "unprocessed_binds", "result_processors", "processed", "record")

    def __init__(
        self, statement: Any, dialect: Any, keys: Sequence[str] | None = None, record: type[tuple[Any, ...]] | None = None
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if compiled.positiontup is None:
            raise ValueError("positional parameters only")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("Python-side column defaults need SQLAlchemy's execution context")
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("expanding parameters are rendered per execution")
        binds = [compiled.binds[name] for name in compiled.positiontup]
        if any(bind.callable is not None for bind in binds):
            raise ValueError("parameters computed at execution")
        self.sql = compiled.string
        # Each position's value: the parameter of the bind's key, else the value compiled into it (a literal
        # LIMIT, or None for an INTEGER PRIMARY KEY that SQLite assigns).
        self.sources = tuple((bind.key, bind.value) for bind in binds)
        self.bind_processors = tuple(_bind_processor(bind.type.dialect_impl(dialect), dialect) for bind in binds)
        self.unprocessed_binds = all(process is None for process in self.bind_processors)
        # A SELECT's columns, or what an INSERT/UPDATE/DELETE returns (RETURNING); none otherwise.
        columns = list(statement.exported_columns)
        self.result_processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        # The positions that have a processor (JSON, datetimes, booleans), each with its processor.
        self.processed = tuple((i, f) for i, f in enumerate(self.result_processors) if f is not None)
        # A statement without columns gets a Record of no fields; rows() is only called on ones with columns.
        column_keys = [c.key for c in columns]
        if record is not None and list(getattr(record, "_fields", ())) != column_keys:
            raise TypeError(f"{record.__name__} does not have the statement's columns in order: {column_keys}")
        # A record type of the caller's, else one made of the columns' keys.
        self.record: type[tuple[Any, ...]] = record or collections.namedtuple("Record", column_keys)

    def _args(self, params: Mapping[str, Any]) -> list[Any]:
        if self.unprocessed_binds:  # most point reads: ids and owners, bound as they are
            return [params[key] if key in params else compiled_value for key, compiled_value in self.sources]
        args = []
        for (key, compiled_value), process in zip(self.sources, self.bind_processors, strict=True):
            value = params[key] if key in params else compiled_value
            args.append(value if process is None else process(value))
        return args

    def first(self, connection: Any, params: Mapping[str, Any]) -> Any | None:
        """The first row as a record, or None: the point read every call starts with."""
        cursor = connection.execute(self.sql, self._args(params))
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            return None
        return _new_tuple(self.record, self._process(row) if self.processed else row)  # as _make(), without its frame

    def _process(self, row: Sequence[Any]) -> list[Any]:
        """The row's values through their columns' result processors (JSON, datetimes, booleans)."""
        values = list(row)
        for index, process in self.processed:
            value = values[index]
            if value is not None:
                values[index] = process(value)
        return values

    def rows(self, connection: Any, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as records."""
        cursor = connection.execute(self.sql, self._args(params))
        raw = cursor.fetchall()
        cursor.close()
        record, processed = self.record, self.processed
        return [_new_tuple(record, self._process(row) if processed else row) for row in raw]

    def execute(self, connection: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        if isinstance(params, abc.Mapping):
            connection.execute(self.sql, self._args(params)).close()
        else:
            connection.executemany(self.sql, [self._args(p) for p in params]).close()


class Store:
    """Owns the engine. SQLite allows one writer, so writes are serialized in-process instead of failing busy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.inline = runs_inline(url)
        self.engine: Engine | AsyncEngine
        if self.inline:
            self.engine = create_inline_engine(url)
            self._inline_sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runwire-db-writer")
            self._checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runwire-db-checkpoint")
        else:
            self.engine = create_engine(url)
            self._async_sessions = session_factory(self.engine)
        self._write_lock = asyncio.Lock() if is_sqlite(url) else None
        self._point_reader: Connection | None = None
        # The sqlite3 connection under the point reader, kept at hand (reaching it through SQLAlchemy's
        # Connection is five property lookups per read); forgotten when the pool invalidates or closes it.
        self._raw_point_reader: Any = None
        if self.inline:
            event.listen(self.engine, "invalidate", self._forget_raw_reader)
            event.listen(self.engine, "close", self._forget_raw_reader)
        self._write_connection: Connection | None = None
        self._commits_since_checkpoint = 0
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_connection: Any = None
        # Hot statements (module constants, by identity; inserts also by their parameter keys) compiled for
        # the inline connections.
        self._compiled_statements: dict[tuple[Any, tuple[str, ...] | None, type[Any] | None], _Compiled | None] = {}

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        if self.inline:
            with self._inline_sessions() as session:
                yield InlineSession(session)
            return
        async with self._async_sessions() as db:
            yield db

    async def fetch_one(self, statement: Any, params: Mapping[str, Any]) -> Row[*tuple[Any, ...]] | None:
        """The first row of a Core `statement`, for hot point reads.

        No ORM session: on inline SQLite one long-lived autocommit connection answers them (each SELECT
        sees every commit before it), which costs a tenth of opening and closing a Session per read.
        """
        if self.inline:
            compiled = self._compiled(statement)
            if compiled is None:
                return self._reader().execute(statement, params).first()
            return compiled.first(self._raw_reader(), params)
        async with self.engine.connect() as connection:  # type: ignore[union-attr]
            return (await connection.execute(statement, params)).first()

    async def fetch_all(self, statement: Any, params: Mapping[str, Any]) -> list[Row[*tuple[Any, ...]]]:
        """Every row of a Core `statement`, read as fetch_one() reads."""
        if self.inline:
            compiled = self._compiled(statement)
            if compiled is None:
                return list(self._reader().execute(statement, params).all())
            return compiled.rows(self._raw_reader(), params)
        async with self.engine.connect() as connection:  # type: ignore[union-attr]
            return list((await connection.execute(statement, params)).all())

    async def fetch_record(self, statement: Any, params: Mapping[str, Any], record: type[R]) -> R | None:
        """fetch_one() as a `record` (a NamedTuple whose fields are the statement's columns, in order): the
        compiled inline read builds it directly; another read maps its row."""
        if self.inline:
            compiled = self._compiled(statement, record=record)
            if compiled is not None:
                return compiled.first(self._raw_reader(), params)
            row = self._reader().execute(statement, params).first()
        else:
            async with self.engine.connect() as connection:  # type: ignore[union-attr]
                row = (await connection.execute(statement, params)).first()
        return None if row is None else record._make(row)  # type: ignore[attr-defined]  # a NamedTuple

    async def fetch_records(self, statement: Any, params: Mapping[str, Any], record: type[R]) -> list[R]:
        """fetch_all() as `record`s, as fetch_record() reads."""
        if self.inline:
            compiled = self._compiled(statement, record=record)
            if compiled is not None:
                return compiled.rows(self._raw_reader(), params)
            rows = self._reader().execute(statement, params).all()
        else:
            async with self.engine.connect() as connection:  # type: ignore[union-attr]
                rows = (await connection.execute(statement, params)).all()
        return [record._make(row) for row in rows]  # type: ignore[attr-defined]  # a NamedTuple

    def _compiled(
        self, statement: Any, keys: tuple[str, ...] | None = None, record: type[Any] | None = None
    ) -> _Compiled | None:
        """The statement compiled for the inline connections, or None: SQLAlchemy must execute it (see
        _Compiled), or the cache is full (statements are meant to be module constants, not built per call)."""
        key = (statement, keys, record)
        if key in self._compiled_statements:
            return self._compiled_statements[key]
        if len(self._compiled_statements) >= MAX_COMPILED_STATEMENTS:
            return None
        try:
            compiled: _Compiled | None = _Compiled(statement, self.engine.dialect, keys, record)
        except ValueError:
            compiled = None
        self._compiled_statements[key] = compiled
        return compiled

    def execute_in(
        self, session: BatchTransaction, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Execute a Core INSERT/UPDATE/DELETE in `session`'s transaction (a list of parameter sets runs as
        executemany). On inline SQLite the compiled SQL runs on the session's own sqlite3 connection, so
        it commits or rolls back with everything else in the transaction."""
        if not self.inline:
            session.execute(statement, params)
            return
        first = params if isinstance(params, abc.Mapping) else (params[0] if params else None)
        if first is None:
            return
        keys = tuple(first) if getattr(statement, "is_insert", False) else None
        compiled = self._compiled(statement, keys)
        if compiled is None:
            session.execute(statement, params)
            return
        compiled.execute(_dbapi_connection_of(session), params)

    async def execute_on(
        self, db: CoreTransaction, statement: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """execute_in for a transaction from `write()` (an InlineSession, or an AsyncSession elsewhere) or
        from `write_core()`."""
        if isinstance(db, CoreWrite):
            self.execute_in(db.connection, statement, params)
        elif self.inline:
            self.execute_in(db.sync_session, statement, params)
        else:
            await db.execute(statement, params)

    async def rows_on(self, db: CoreTransaction, statement: Any, params: Mapping[str, Any]) -> list[Any]:
        """rows_in for a transaction from `write()` or `write_core()`."""
        if isinstance(db, CoreWrite):
            return self.rows_in(db.connection, statement, params)
        if self.inline:
            return self.rows_in(db.sync_session, statement, params)
        return list((await db.execute(statement, params)).all())

    def rows_in(self, session: BatchTransaction, statement: Any, params: Mapping[str, Any]) -> list[Any]:
        """The rows of a Core SELECT, or of a statement with RETURNING, in `session`'s transaction (see
        execute_in)."""
        compiled = self._compiled(statement) if self.inline else None
        if compiled is None:
            return list(session.execute(statement, params).all())
        return compiled.rows(_dbapi_connection_of(session), params)

    @property
    def _inline_engine(self) -> Engine:
        """The synchronous engine of an inline store (SQLite); the point reader, writer and checkpoints use it."""
        engine = self.engine
        assert isinstance(engine, Engine), "only an inline store has a synchronous engine"
        return engine

    def _raw_reader(self) -> Any:
        """The sqlite3 connection under the point reader (autocommit: each SELECT sees every commit before it)."""
        raw = self._raw_point_reader
        if raw is None:
            raw = self._raw_point_reader = self._reader().connection.dbapi_connection
        return raw

    def _forget_raw_reader(self, dbapi_connection: Any, *_: Any) -> None:
        if dbapi_connection is self._raw_point_reader:
            self._raw_point_reader = None

    def _reader(self) -> Connection:
        reader = self._point_reader
        if reader is None or reader.closed or reader.invalidated:
            self._raw_point_reader = None
            reader = self._point_reader = self._inline_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return reader

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        self._ensure_checkpointer()
        if self._write_lock is None:
            async with self._transaction() as db:
                yield db
            return
        async with self._write_lock:
            async with self._transaction() as db:
                yield db

    @asynccontextmanager
    async def write_core(self) -> AsyncIterator[CoreTransaction]:
        """A write transaction for Core statements only (execute_on, rows_on, after_commit; no ORM).

        On inline SQLite it runs on the write connection without an ORM Session, whose opening,
        committing and closing cost more than a run's creation SQL; elsewhere it is `write()`.
        """
        if not self.inline:
            async with self.write() as db:
                yield db
            return
        assert self._write_lock is not None  # inline is SQLite
        self._ensure_checkpointer()
        async with self._write_lock:
            with self._writing() as connection:
                transaction = CoreWrite(connection)
                yield transaction
                for last_work in transaction.before_commit:
                    await last_work(transaction)
        for callback in transaction.on_commit:
            callback()

    @overload
    def before_commit(self, db: CoreWrite, last_work: Callable[[CoreWrite], Awaitable[None]]) -> None: ...
    @overload
    def before_commit(self, db: Transaction, last_work: Callable[[Transaction], Awaitable[None]]) -> None: ...

    def before_commit(self, db: CoreTransaction, last_work: Callable[[Any], Awaitable[None]]) -> None:
        """Await `last_work(db)` once, after everything else in the transaction `db` (from write() or
        write_core()) and before it commits: for work that takes a lock every writer needs, which must come
        after the transaction's row locks so that two transactions never wait on each other."""
        if isinstance(db, CoreWrite):
            db.before_commit[last_work] = None
        else:
            db.sync_session.info.setdefault(_BEFORE_COMMIT, {})[last_work] = None

    def after_commit(self, db: CoreTransaction, callback: Callable[[], None]) -> None:
        """Call `callback` once the transaction `db` (from write() or write_core()) commits, once however
        often it is asked for; never after a rollback."""
        if isinstance(db, CoreWrite):
            db.on_commit[callback] = None
        else:
            db.sync_session.info.setdefault(_AFTER_COMMIT, {})[callback] = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Transaction]:
        if self.inline:
            with self._inline_sessions() as session, session.begin():
                inline = InlineSession(session)
                yield inline
                await _before_commit(inline)
            self._commits_since_checkpoint += 1
            return
        async with self._async_sessions() as db, db.begin():
            yield db
            await _before_commit(db)

    async def write_batch(self, work: Callable[[BatchTransaction], T], *, small: bool = False) -> T:
        """Run `work` (synchronous, Core statements through execute_in and rows_in) in one write transaction.

        Inline SQLite runs a large batch on a dedicated writer thread: the commit blocks that thread, not
        the event loop, so producers keep queueing while it is written and the next commit carries all of
        it. A `small` batch commits on the loop at once: a busy loop keeps the GIL for up to Python's
        switch interval (5 ms), so a thread hop can cost more than the commit itself.
        """
        self._ensure_checkpointer()
        async with self._write_lock if self._write_lock is not None else contextlib.nullcontext():
            if self.inline and small:
                return self._transact(work)
            if self.inline:
                return await asyncio.get_running_loop().run_in_executor(self._writer_thread, self._transact, work)
            async with self._async_sessions() as db, db.begin():
                return await db.run_sync(work)

    def _transact(self, work: Callable[[BatchTransaction], T]) -> T:
        with self._writing() as connection:
            return work(connection)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One inline transaction on the write connection, without a Session: opening, committing and
        closing a Session (and checking its connection in and out of the pool) cost more than a batch's SQL.
        The write lock keeps these transactions one at a time.

        Compiled statements run on the sqlite3 connection, which opens its transaction at the first
        write; a statement SQLAlchemy must execute begins the Connection's own transaction on the same
        sqlite3 connection. Either way one commit, or one rollback, ends it.
        """
        connection = self._write_connection
        if connection is None or connection.closed or connection.invalidated:
            connection = self._write_connection = self._inline_engine.connect()
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None, "a pooled connection that is not invalidated has its DBAPI connection"
        try:
            yield connection
        except BaseException:
            if connection.in_transaction():
                connection.rollback()
            else:
                dbapi.rollback()
            raise
        if connection.in_transaction():
            connection.commit()
        else:
            dbapi.commit()
        self._commits_since_checkpoint += 1

    def _ensure_checkpointer(self) -> None:
        if self.inline and self._checkpointer is None:
            self._checkpointer = spawn(self._checkpoint_forever(), name="runwire-db-checkpoint")

    async def _checkpoint_forever(self) -> None:
        """Copy committed WAL pages into the database file off the loop (see database.py): PASSIVE never
        waits for readers or writers, and what it leaves is taken next time."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_SECONDS)
            if self._commits_since_checkpoint:
                self._commits_since_checkpoint = 0
                try:
                    await loop.run_in_executor(self._checkpoint_thread, self._checkpoint)
                except Exception:  # the next round tries again
                    log.exception("checkpointing the SQLite WAL failed")

    def _checkpoint(self) -> None:
        """On the checkpoint thread, with a connection of its own (closed by close() once the thread is done)."""
        if self._checkpoint_connection is None:
            self._checkpoint_connection = self._inline_engine.raw_connection()
        self._checkpoint_connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
        if self._point_reader is not None:
            self._point_reader.close()
            self._point_reader = None
            self._raw_point_reader = None
        if self.inline:
            self._writer_thread.shutdown(wait=True)
            self._checkpoint_thread.shutdown(wait=True)
            if self._checkpoint_connection is not None:
                self._checkpoint_connection.close()
                self._checkpoint_connection = None
        if self._write_connection is not None:
            self._write_connection.close()
            self._write_connection = None
        if isinstance(self.engine, AsyncEngine):
            await self.engine.dispose()
        else:
            self.engine.dispose()


async def _before_commit(db: Transaction) -> None:
    for last_work in db.sync_session.info.pop(_BEFORE_COMMIT, {}):
        await last_work(db)


def rows_changed(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE changed. execute() is typed as returning a Result; for DML it is a
    CursorResult, which counts them."""
    return cast(CursorResult[Any], result).rowcount or 0


def _dbapi_connection_of(target: BatchTransaction) -> Any:
    """The sqlite3 connection under a Session's transaction or a Connection."""
    if isinstance(target, Session):
        return target.connection().connection.dbapi_connection
    return target.connection.dbapi_connection


@dataclass(frozen=True)
class OrderExpression:
    """An orderable SQL expression and how to read its value from a loaded row (for page tokens).
    Nullable columns are ordered through coalesce() with a sentinel, so keyset comparisons hold."""

    expression: Any
    value_of: Callable[[Any], Any]


@dataclass(frozen=True)
class Listing:
    """What a resource exposes to list calls: its filterable fields and orderable columns."""

    filter_fields: Mapping[str, FieldSpec]
    order_columns: Mapping[str, InstrumentedAttribute[Any] | OrderExpression]
    tiebreak: InstrumentedAttribute[Any]


def _sql(column: Any) -> Any:
    return column.expression if isinstance(column, OrderExpression) else column


def key_of(row: Any, listing: Listing, order: Sequence[OrderKey]) -> list[Any]:
    values = []
    for key in order:
        column = listing.order_columns[key.field]
        values.append(column.value_of(row) if isinstance(column, OrderExpression) else getattr(row, column.key))
    values.append(getattr(row, listing.tiebreak.key))
    return values


async def list_page(
    db: Transaction,
    base: Select[Any],
    listing: Listing,
    *,
    filter_expr: Expr | None,
    order: Sequence[OrderKey],
    after: Sequence[Any] | None,
    limit: int,
) -> tuple[list[Any], bool, int]:
    """Rows after the `after` key, whether more follow, and the total matching the filter."""
    clause = filter_to_sql(filter_expr, listing.filter_fields)
    if clause is not None:
        base = base.where(clause)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()

    columns = [_sql(listing.order_columns[k.field]) for k in order] + [listing.tiebreak]
    descending = [k.descending for k in order] + [order[-1].descending if order else False]
    stmt = base
    if after is not None:
        if len(after) != len(columns):
            raise ValueError("page key does not match the order")
        stmt = stmt.where(_after_key(columns, descending, after))
    stmt = stmt.order_by(*[c.desc() if d else c.asc() for c, d in zip(columns, descending, strict=True)]).limit(limit + 1)
    rows = list((await db.execute(stmt)).scalars().all())
    return rows[:limit], len(rows) > limit, total


def _after_key(columns: Sequence[Any], descending: Sequence[bool], values: Sequence[Any]) -> Any:
    # (a, b, pk) > (va, vb, vpk) with a direction per column, expanded so every database can use it.
    alternatives = []
    for i, (column, desc) in enumerate(zip(columns, descending, strict=True)):
        equal_prefix = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if desc else column > values[i]
        alternatives.append(and_(*equal_prefix, step))
    return or_(*alternatives)
