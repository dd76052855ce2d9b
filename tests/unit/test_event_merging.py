"""A run's tokens merge into the text delta still waiting for the event writer, and only into that."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from runwire.server.engine.events import MAX_MERGED_DELTA_CHARS, RunEventLog
from runwire.server.store.models import Base, RunEventRow
from runwire.server.store.store import Store
from runwire.v1 import run_pb2
from tests.unit.run_rows import insert_run


def delta(seq: int, text_: str, step: int = 0) -> run_pb2.RunEvent:
    return run_pb2.RunEvent(run="runs/r1", seq=seq, text_delta=run_pb2.TextDelta(text=text_, step_index=step))


async def stored(store: Store) -> list[tuple[int, str]]:
    rows = await store.fetch_all(select(RunEventRow.__table__.c.seq, RunEventRow.__table__.c.payload).order_by(RunEventRow.__table__.c.seq), {})
    return [(seq, run_pb2.RunEvent.FromString(payload).text_delta.text) for seq, payload in rows]


async def test_tokens_join_the_waiting_delta_until_the_writer_takes_it(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'events.db'}")
    with store.engine.begin() as connection:  # type: ignore[union-attr]
        Base.metadata.create_all(connection)

    async def no_events(run_id: str, after: int, limit: int) -> list[run_pb2.RunEvent]:
        return []

    async def finished(run_id: str) -> bool:
        return True

    await insert_run(store, "r1")
    log = RunEventLog(store, no_events, finished)
    r1, r2 = log.recorder("r1", fence=1), log.recorder("r2", fence=1)
    log.start()
    try:
        channel = log.open_channel("r1", [])
        first = r1.append([delta(1, "t1 ")])
        # The writer has not run yet (nothing awaited since): the next tokens of the same step merge.
        assert r1.merge_delta("t2 ", 0)
        assert r1.merge_delta("t3 ", 0)
        assert not r1.merge_delta("x", 1), "another step's text is another event"
        assert not r2.merge_delta("x", 0), "another run has no waiting delta"
        await first.wait()
        assert not r1.merge_delta("t4 ", 0), "the writer has taken the delta"
        assert [(e.seq, e.text_delta.text) for e in channel.events] == [(1, "t1 t2 t3 ")]

        # A write carrying statements (a message insert, say) is never merged into.
        with_statement = r1.append([delta(2, "t4 ")], statements=((text("SELECT 1"), None),))
        assert not r1.merge_delta("t5 ", 0)
        await with_statement.wait()

        # A merged delta stops growing at MAX_MERGED_DELTA_CHARS; the rest starts a new event.
        big = r1.append([delta(3, "a" * (MAX_MERGED_DELTA_CHARS - 1))])
        assert r1.merge_delta("b", 0)
        assert not r1.merge_delta("c", 0)
        await big.wait()

        assert await stored(store) == [(1, "t1 t2 t3 "), (2, "t4 "), (3, "a" * (MAX_MERGED_DELTA_CHARS - 1) + "b")]
    finally:
        await log.close()
        await store.close()
