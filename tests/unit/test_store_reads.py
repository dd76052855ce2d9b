"""The inline SQLite point reads (Store.fetch_one / fetch_all) return what SQLAlchemy itself would."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator, NamedTuple

import pytest
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, bindparam, insert, select

from runwire.server.store.store import Store

METADATA = MetaData()
THINGS = Table(
    "things",
    METADATA,
    Column("pk", Integer, primary_key=True),
    Column("name", String(20)),
    Column("payload", JSON),
    Column("seen", DateTime(), nullable=True),
)
ROWS = [
    {"name": "a", "payload": {"x": [1, 2], "y": None}, "seen": datetime(2026, 11, 22, 20, 1, 2, 345678)},
    {"name": "b", "payload": [], "seen": None},
    {"name": "c", "payload": {"nested": {"z": "é"}}, "seen": datetime(2026, 11, 22, 20, 1, 2)},
]
BY_NAME = select(THINGS.c.name, THINGS.c.payload, THINGS.c.seen).where(THINGS.c.name == bindparam("name"))
SEEN_BEFORE = (
    select(THINGS.c.name, THINGS.c.seen.label("when"))
    .where(THINGS.c.seen < bindparam("before"))
    .order_by(THINGS.c.pk)
    .limit(bindparam("limit"))
)
ALL_BUT_ONE = select(THINGS.c.name).where(THINGS.c.name != "b").order_by(THINGS.c.pk.desc()).limit(5)


@asynccontextmanager
async def things_store(path: Path, *, with_rows: bool = False) -> AsyncIterator[Store]:
    """An inline SQLite Store over a new database holding THINGS (and ROWS in it, when asked); closed after."""
    store = Store(f"sqlite:///{path}")
    try:
        with store.engine.begin() as connection:  # type: ignore[union-attr]
            METADATA.create_all(connection)
            if with_rows:
                connection.execute(insert(THINGS), ROWS)
        yield store
    finally:
        await store.close()


async def test_point_reads_match_sqlalchemy_results_with_their_types(tmp_path: Path) -> None:
    async with things_store(tmp_path / "reads.db", with_rows=True) as store:

        def expected(statement, params):  # type: ignore[no-untyped-def]
            with store.engine.connect() as connection:  # type: ignore[union-attr]
                return [tuple(row) for row in connection.execute(statement, params)]

        for name in ("a", "b", "c", "missing"):
            row = await store.fetch_one(BY_NAME, {"name": name})
            want = expected(BY_NAME, {"name": name})
            assert (None if row is None else tuple(row)) == (want[0] if want else None)
        row = await store.fetch_one(BY_NAME, {"name": "a"})
        assert row is not None
        assert row.payload == {"x": [1, 2], "y": None} and row.seen == datetime(2026, 11, 22, 20, 1, 2, 345678)

        params = {"before": datetime(2026, 11, 22, 20, 1, 2, 1), "limit": 10}
        rows = await store.fetch_all(SEEN_BEFORE, params)
        assert [tuple(r) for r in rows] == expected(SEEN_BEFORE, params) == [("c", datetime(2026, 11, 22, 20, 1, 2))]
        assert rows[0].when == datetime(2026, 11, 22, 20, 1, 2)

        # A literal parameter compiled into the statement, and the same statement read again (cached).
        for _ in range(2):
            assert [tuple(r) for r in await store.fetch_all(ALL_BUT_ONE, {})] == [("c",), ("a",)]


async def test_statements_in_a_batch_commit_and_roll_back_with_it(tmp_path: Path) -> None:
    from sqlalchemy import update

    async with things_store(tmp_path / "writes.db") as store:
        rename = update(THINGS).where(THINGS.c.name == bindparam("old")).values(name=bindparam("new"))

        def write(session):  # type: ignore[no-untyped-def]
            store.execute_in(session, insert(THINGS), ROWS)  # executemany
            store.execute_in(session, rename, {"old": "b", "new": "bee"})
            return store.rows_in(session, BY_NAME, {"name": "bee"})

        (inside,) = await store.write_batch(write, small=True)
        assert tuple(inside) == ("bee", [], None)
        assert [tuple(r) for r in await store.fetch_all(select(THINGS.c.pk, THINGS.c.name).order_by(THINGS.c.pk), {})] == [
            (1, "a"),
            (2, "bee"),
            (3, "c"),
        ]
        row = await store.fetch_one(BY_NAME, {"name": "a"})
        assert row is not None and row.seen == ROWS[0]["seen"] and row.payload == ROWS[0]["payload"]

        def fail(session):  # type: ignore[no-untyped-def]
            store.execute_in(session, rename, {"old": "a", "new": "gone"})
            raise RuntimeError("abandon the batch")

        try:
            await store.write_batch(fail)  # on the writer thread
        except RuntimeError:
            pass
        assert await store.fetch_one(BY_NAME, {"name": "a"}) is not None
        assert await store.fetch_one(BY_NAME, {"name": "gone"}) is None


async def test_statements_the_compiler_cannot_serve_go_through_sqlalchemy(tmp_path: Path) -> None:
    async with things_store(tmp_path / "fallback.db", with_rows=True) as store:
        # An expanding IN is rendered per execution: SQLAlchemy executes it, with the same result.
        names_in = select(THINGS.c.name).where(THINGS.c.name.in_(bindparam("names", expanding=True))).order_by(THINGS.c.pk)
        assert [tuple(r) for r in await store.fetch_all(names_in, {"names": ["a", "c"]})] == [("a",), ("c",)]
        assert [tuple(r) for r in await store.fetch_all(names_in, {"names": ["b"]})] == [("b",)]
        row = await store.fetch_one(names_in, {"names": ["c"]})
        assert row is not None and row.name == "c"

        def rename_many(session):  # type: ignore[no-untyped-def]
            from sqlalchemy import update

            store.execute_in(
                session, update(THINGS).where(THINGS.c.name.in_(bindparam("names", expanding=True))).values(name="z"), {"names": ["a", "b"]}
            )

        await store.write_batch(rename_many, small=True)
        assert [tuple(r) for r in await store.fetch_all(select(THINGS.c.name).order_by(THINGS.c.pk), {})] == [("z",), ("z",), ("c",)]

        # A batch mixing both kinds rolls back whole: SQLAlchemy's transaction and the compiled statements
        # share one sqlite3 connection, and the next batch on it starts clean.
        def mixed_then_fail(session):  # type: ignore[no-untyped-def]
            from sqlalchemy import update

            store.execute_in(session, insert(THINGS), {"name": "d", "payload": {}, "seen": None})
            store.execute_in(
                session, update(THINGS).where(THINGS.c.name.in_(bindparam("names", expanding=True))).values(name="y"), {"names": ["z"]}
            )
            raise RuntimeError("abandon the batch")

        for small in (True, False):
            try:
                await store.write_batch(mixed_then_fail, small=small)
            except RuntimeError:
                pass
            assert [tuple(r) for r in await store.fetch_all(select(THINGS.c.name).order_by(THINGS.c.pk), {})] == [("z",), ("z",), ("c",)]
        await store.write_batch(lambda session: store.execute_in(session, insert(THINGS), {"name": "e", "payload": {}, "seen": None}))
        names = [tuple(r) for r in await store.fetch_all(select(THINGS.c.name).order_by(THINGS.c.pk), {})]
        assert names == [("z",), ("z",), ("c",), ("e",)]


async def test_commit_hooks_run_once_in_order_and_never_after_a_rollback(tmp_path: Path) -> None:
    import pytest
    from sqlalchemy import func

    async with things_store(tmp_path / "hooks.db") as store:
        counted: list[int] = []

        def count_committed() -> None:
            with store.engine.connect() as connection:  # type: ignore[union-attr]
                counted.append(connection.execute(select(func.count()).select_from(THINGS)).scalar_one())

        # write_core() runs without an ORM Session; write() with one: both honour the same contract.
        for number, open_transaction in enumerate((store.write_core, store.write), start=1):
            last_work_done: list[str] = []

            async def last_work(db: Any, done: list[str] = last_work_done, number: int = number) -> None:
                done.append("done")
                await store.execute_on(db, insert(THINGS), {"name": f"last{number}", "payload": {}, "seen": None})

            async with open_transaction() as db:
                store.before_commit(db, last_work)
                store.before_commit(db, last_work)  # asked twice, done once
                await store.execute_on(db, insert(THINGS), {"name": f"n{number}", "payload": {}, "seen": None})
                store.after_commit(db, count_committed)
                store.after_commit(db, count_committed)  # asked twice, called once
                assert len(counted) == number - 1 and not last_work_done
            assert last_work_done == ["done"]
            assert counted[-1] == 2 * number and len(counted) == number  # the last work committed with it

            with pytest.raises(RuntimeError):
                async with open_transaction() as db:
                    await store.execute_on(db, insert(THINGS), {"name": "lost", "payload": {}, "seen": None})
                    store.before_commit(db, last_work)
                    store.after_commit(db, count_committed)
                    raise RuntimeError("abandon the transaction")
            assert len(counted) == number and last_work_done == ["done"]
            assert await store.fetch_one(BY_NAME, {"name": "lost"}) is None


async def test_the_wal_is_checkpointed_off_the_committing_connection(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from runwire.server.store import store as store_module

    big_rows = [{"name": f"r{i}", "payload": {"text": "x" * 4000}, "seen": None} for i in range(1_500)]  # > 1,000 pages

    def write_big(session):  # type: ignore[no-untyped-def]
        store.execute_in(session, insert(THINGS), big_rows)

    for interval, checkpointed in ((3600.0, False), (0.05, True)):
        monkeypatch.setattr(store_module, "CHECKPOINT_INTERVAL_SECONDS", interval)
        path = tmp_path / f"wal-{interval}.db"
        async with things_store(path) as store:
            before = path.stat().st_size
            await store.write_batch(write_big, small=True)  # a commit on the loop
            if not checkpointed:
                # SQLite's automatic checkpoint would have copied the pages at that commit.
                assert path.stat().st_size == before
            else:
                for _ in range(200):  # the background checkpoint copies them within a few intervals
                    if path.stat().st_size > 4_000_000:
                        break
                    await asyncio.sleep(0.05)
                assert path.stat().st_size > 4_000_000
            assert len(await store.fetch_all(select(THINGS.c.name), {})) == len(big_rows)


async def test_compiled_writes_store_datetimes_as_sqlalchemy_does(tmp_path: Path) -> None:
    # The compiled path formats naive datetimes itself (isoformat); the stored text must be SQLAlchemy's,
    # or ordering and comparisons against rows SQLAlchemy wrote would break.
    from datetime import date, timedelta, timezone

    from sqlalchemy import text

    values = [
        datetime(2026, 11, 23, 3, 40),  # no microseconds: isoformat would drop them unless told not to
        datetime(2026, 11, 23, 3, 40, 0, 5),
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))),  # aware: SQLAlchemy drops the offset
        date(2020, 1, 2),
    ]
    async with things_store(tmp_path / "datetimes.db") as store:
        def write(session):  # type: ignore[no-untyped-def]
            store.execute_in(session, insert(THINGS), [{"name": f"c{i}", "payload": {}, "seen": v} for i, v in enumerate(values)])

        await store.write_batch(write, small=True)
        with store.engine.begin() as connection:  # type: ignore[union-attr]
            connection.execute(insert(THINGS), [{"name": f"s{i}", "payload": {}, "seen": v} for i, v in enumerate(values)])
            stored = dict(connection.execute(text("SELECT name, seen FROM things")).all())
        for i in range(len(values)):
            assert stored[f"c{i}"] == stored[f"s{i}"], values[i]
        assert stored["c0"] == "2026-11-23 03:40:00.000000"


class Thing(NamedTuple):
    name: str
    payload: Any
    seen: datetime | None


class Misnamed(NamedTuple):
    name: str
    seen: datetime | None
    payload: Any


async def test_typed_reads_build_the_record_the_caller_names(tmp_path: Path) -> None:
    """fetch_record/fetch_records return the caller's record type, with the values fetch_one reads, through
    the compiled read and through SQLAlchemy (a statement the compiler cannot serve) alike."""
    async with things_store(tmp_path / "records.db", with_rows=True) as store:
        for name in ("a", "b", "c"):
            record = await store.fetch_record(BY_NAME, {"name": name}, Thing)
            assert type(record) is Thing and tuple(record) == tuple(await store.fetch_one(BY_NAME, {"name": name}) or ())
        assert await store.fetch_record(BY_NAME, {"name": "missing"}, Thing) is None
        by_name_in = select(THINGS.c.name, THINGS.c.payload, THINGS.c.seen).where(THINGS.c.name.in_(["a", "c"]))
        records = await store.fetch_records(by_name_in.order_by(THINGS.c.pk), {}, Thing)
        assert [type(r) for r in records] == [Thing, Thing] and [r.name for r in records] == ["a", "c"]
        assert records[0].payload == ROWS[0]["payload"] and records[1].seen == ROWS[2]["seen"]


async def test_a_record_whose_fields_are_not_the_statement_columns_is_refused(tmp_path: Path) -> None:
    async with things_store(tmp_path / "misnamed.db", with_rows=True) as store:
        with pytest.raises(TypeError, match="Misnamed does not have the statement's columns"):
            await store.fetch_record(BY_NAME, {"name": "a"}, Misnamed)


async def test_a_point_reader_the_pool_invalidated_is_replaced_before_the_next_read(tmp_path: Path) -> None:
    async with things_store(tmp_path / "invalidated.db", with_rows=True) as store:
        assert (await store.fetch_one(BY_NAME, {"name": "a"}))[0] == "a"  # type: ignore[index]
        first_connection = store._raw_reader()
        store._reader().invalidate()  # as SQLAlchemy does after a disconnect error: the sqlite3 connection is closed
        assert (await store.fetch_one(BY_NAME, {"name": "b"}))[0] == "b"  # type: ignore[index]
        assert store._raw_reader() is not first_connection
