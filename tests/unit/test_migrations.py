"""The Alembic migrations build exactly the schema the models declare, on an empty database, all or nothing."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from runwire.server.store import database
from runwire.server.store.database import alembic_config, create_inline_engine, migrate
from runwire.server.store.models import Base


def _declared(name: str | None, type_: str, parent_names: object) -> bool:
    """Skips the SQLite full-text index (a virtual table and its shadow tables), which has no model."""
    return not (type_ == "table" and name is not None and name.startswith("file_chunks_fts"))


def _context(connection: object) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"include_name": _declared})


async def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = create_inline_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    await migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(_context(connection), Base.metadata)
    engine.dispose()
    assert differences == [], f"models and migrations differ; add a migration: {differences}"


async def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    engine = create_inline_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    await migrate(engine)
    await migrate(engine)
    with engine.connect() as connection:
        context = _context(connection)
        heads = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_heads()
        assert context.get_current_heads() == tuple(heads)
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


# -- all or nothing ---------------------------------------------------------------

# The newest revision, whatever migrations exist: a new one must not need this file edited.
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _schema(path: Path) -> list[tuple[str, str, str | None]]:
    """Everything the database file holds, as SQLite describes it, and its revision."""
    with closing(sqlite3.connect(path)) as connection:
        objects = connection.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        names = {name for _, name, _ in objects}
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchall() if "alembic_version" in names else []
    return objects + [("revision", row[0], None) for row in revision]


def _upgrade_to(path: Path, revision: str) -> None:
    """The real migrations up to `revision`, as an older server would have left the database."""
    engine = database._migration_engine(make_url(f"sqlite:///{path}"))
    with engine.begin() as connection:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


@pytest.fixture
def failing_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The migrations, with 0005 failing after its tables were created (as a full disk or a bug would)."""
    copy = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    broken = copy / "versions" / "0005_batches.py"
    source = broken.read_text()
    marker = "\n\ndef downgrade"
    assert marker in source
    broken.write_text(source.replace(marker, '\n    raise RuntimeError("the disk is full")\n' + marker, 1))
    monkeypatch.setattr(database, "MIGRATIONS_DIR", copy)
    return copy


async def test_a_migration_failing_midway_leaves_an_empty_database_empty(tmp_path: Path, failing_migrations: Path) -> None:
    path = tmp_path / "runwire.db"
    engine = create_inline_engine(f"sqlite:///{path}")
    with pytest.raises(database.DatabaseNotUsable, match="from revision \\(empty\\) to " + HEAD + " failed and was rolled back"):
        await migrate(engine)
    engine.dispose()
    # 0001 to 0004 ran before 0005 failed: none of their tables or indexes is left.
    assert _schema(path) == []


async def test_a_migration_failing_midway_leaves_the_previous_revision_exactly(tmp_path: Path, failing_migrations: Path) -> None:
    path = tmp_path / "runwire.db"
    _upgrade_to(path, "0003")
    before = _schema(path)
    assert ("revision", "0003", None) in before
    engine = create_inline_engine(f"sqlite:///{path}")
    with pytest.raises(database.DatabaseNotUsable, match="from revision 0003 to " + HEAD + " failed"):
        await migrate(engine)
    engine.dispose()
    assert _schema(path) == before


async def test_a_first_start_cut_short_by_an_older_version_is_made_again(tmp_path: Path) -> None:
    """Older versions committed each CREATE on its own: a kill left empty tables and no revision."""
    path = tmp_path / "runwire.db"
    _upgrade_to(path, "0002")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("DELETE FROM alembic_version")
        connection.commit()
    engine = create_inline_engine(f"sqlite:///{path}")
    await migrate(engine)
    with engine.connect() as connection:
        context = _context(connection)
        assert context.get_current_heads() == (HEAD,)
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


async def test_tables_with_data_but_no_revision_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runwire.db"
    _upgrade_to(path, "0002")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("DELETE FROM alembic_version")
        connection.execute("INSERT INTO server_keys (name, value) VALUES ('page_token_key', 'ab')")
        connection.commit()
    before = _schema(path)
    engine = create_inline_engine(f"sqlite:///{path}")
    with pytest.raises(database.DatabaseNotUsable, match="Runwire tables with data but no schema revision"):
        await migrate(engine)
    engine.dispose()
    assert _schema(path) == before


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        ("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('9999')",
         "at schema revision 9999, which this Runwire version does not know \\(its newest is " + HEAD + "\\)"),
        ("CREATE TABLE invoices (id INTEGER PRIMARY KEY)", "1 table\\(s\\) that are not Runwire's"),
    ],
    ids=["newer-revision", "foreign-tables"],
)
async def test_a_database_this_server_must_not_touch_is_refused_untouched(tmp_path: Path, prepare: str, message: str) -> None:
    path = tmp_path / "runwire.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(prepare)
    before = _schema(path)
    engine = create_inline_engine(f"sqlite:///{path}")
    with pytest.raises(database.DatabaseNotUsable, match=message):
        await migrate(engine)
    engine.dispose()
    assert _schema(path) == before


async def test_a_file_that_is_no_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runwire.db"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    engine = create_inline_engine(f"sqlite:///{path}")
    with pytest.raises(database.DatabaseNotUsable, match="not a Runwire database"):
        await migrate(engine)
    engine.dispose()
    assert path.read_bytes() == b"these are my notes, not a database\n" * 200
