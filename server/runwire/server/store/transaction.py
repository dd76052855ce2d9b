"""The transactions the store hands out, as the types repositories and the domain take.

A transaction comes in three shapes:

- `Transaction`, from `Store.write()` and `Store.read()`: an ORM session. Elsewhere it is SQLAlchemy's
  AsyncSession; on inline SQLite an `InlineSession`, the same methods over a synchronous Session run on
  the loop. Both satisfy the protocol as they are, so a statement costs no wrapper call.
- `CoreTransaction`, from `Store.write_core()`: a `CoreWrite` (Core statements on the write connection,
  no Session) on inline SQLite, a `Transaction` elsewhere. It is used through the store's Core methods
  only (execute_on, rows_on, after_commit, before_commit), which take either.
- `BatchTransaction`, what `Store.write_batch()` runs its synchronous work in: a Session or a Connection,
  used through execute_in and rows_in.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Protocol, TypeAlias, TypeVar, TypeVarTuple, overload

from sqlalchemy import Connection, Executable, Result
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TypedReturnsRows

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class Transaction(Protocol):
    """An ORM transaction (see the module's docstring): AsyncSession, or InlineSession on inline SQLite."""

    @property
    def sync_session(self) -> Session:
        """The synchronous Session underneath, for its `info` and its events."""
        ...

    @overload
    async def execute(self, statement: TypedReturnsRows[*_Ts], params: Any = None) -> Result[*_Ts]: ...
    @overload
    async def execute(self, statement: Executable, params: Any = None) -> Result[*tuple[Any, ...]]: ...

    async def scalar(self, statement: Executable, params: Any = None) -> Any: ...

    async def get(self, entity: type[_T], ident: Any) -> _T | None: ...

    async def delete(self, instance: object) -> None: ...

    async def flush(self) -> None: ...

    def add(self, instance: object) -> None: ...

    def add_all(self, instances: Iterable[object]) -> None: ...


class InlineSession:
    """The Transaction methods over a synchronous Session run on the loop (inline SQLite)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def sync_session(self) -> Session:
        """The underlying Session, as AsyncSession.sync_session (for session events such as after_commit)."""
        return self._session

    @overload
    async def execute(self, statement: TypedReturnsRows[*_Ts], params: Any = None) -> Result[*_Ts]: ...
    @overload
    async def execute(self, statement: Executable, params: Any = None) -> Result[*tuple[Any, ...]]: ...

    async def execute(self, statement: Executable, params: Any = None) -> Result[*tuple[Any, ...]]:
        return self._session.execute(statement, params)

    async def scalar(self, statement: Executable, params: Any = None) -> Any:
        return self._session.scalar(statement, params)

    async def get(self, entity: type[_T], ident: Any) -> _T | None:
        return self._session.get(entity, ident)

    async def delete(self, instance: object) -> None:
        self._session.delete(instance)

    async def flush(self) -> None:
        self._session.flush()

    async def rollback(self) -> None:
        self._session.rollback()

    def add(self, instance: object) -> None:
        self._session.add(instance)

    def add_all(self, instances: Iterable[object]) -> None:
        self._session.add_all(instances)


class CoreWrite:
    """A write transaction of Core statements only, from `Store.write_core()` on inline SQLite."""

    __slots__ = ("connection", "on_commit", "before_commit")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.on_commit: dict[Callable[[], None], None] = {}
        self.before_commit: dict[Callable[[CoreWrite], Awaitable[None]], None] = {}


CoreTransaction: TypeAlias = Transaction | CoreWrite
BatchTransaction: TypeAlias = Session | Connection


def orm(db: CoreTransaction) -> Transaction:
    """`db` for ORM work: a transaction from `write_core()` is an ORM session everywhere but on inline
    SQLite, where work that needs the ORM (a request_id's record, say) must use `write()` instead."""
    if isinstance(db, CoreWrite):
        raise TypeError("ORM work in a write_core() transaction on inline SQLite; use Store.write()")
    return db
