"""The shared pieces of every call's path: the default deadline's one timer, and the access line built from kept
parts."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest

from runwire.server.api.calls import UNKNOWN_PRINCIPAL, Call, DefaultDeadlines
from runwire.server.logging_setup import AccessLog


def _call(started: float) -> Call:
    return Call(method="/m", request_id="r", principal=UNKNOWN_PRINCIPAL, started=started)


async def test_the_default_deadline_cancels_the_calls_past_it_and_only_those() -> None:
    deadlines = DefaultDeadlines()
    never = asyncio.Event()
    tasks = [asyncio.create_task(never.wait()) for _ in range(3)]
    now = time.perf_counter()
    late, also_late, on_time = _call(now - 2), _call(now - 1), _call(now)
    deadlines.add(late, tasks[0], 0.2)
    deadlines.add(also_late, tasks[1], 0.2)
    deadlines.add(on_time, tasks[2], 0.2)
    await asyncio.sleep(0.05)  # one tick: a twentieth of the limit
    assert [late.expired, also_late.expired, on_time.expired] == [True, True, False]
    assert tasks[0].cancelled() and tasks[1].cancelled() and not tasks[2].done()
    deadlines.discard(on_time)  # it finished in time
    await asyncio.sleep(0.3)
    assert not tasks[2].done() and not on_time.expired
    tasks[2].cancel()


async def test_a_call_that_runs_past_the_default_deadline_is_cancelled_within_a_tick() -> None:
    deadlines = DefaultDeadlines()
    task = asyncio.create_task(asyncio.sleep(10))
    call = _call(time.perf_counter())
    deadlines.add(call, task, 0.2)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
    assert call.expired


@pytest.mark.parametrize(
    ("method", "code", "principal", "request_id", "reason"),
    [
        ("/runwire.v1.AgentService/GetAgent", "OK", "admin", "d803231dfc97f920dc7f3f70848f453c", ""),
        ("/m", "NOT_FOUND", 'us"er\\x', "rw_" + "a" * 40, "NOT_FOUND"),
        ("/m", "OK", "bearer", "abc", ""),  # a principal that redaction would join with what follows it
        ("/m", "OK", "é∂ü", "eyJabcdef.ghijkl.mno", "R\u2028"),
        ("/m", "OK", "http://u:p@h/x?token=1", "a:b", ""),
    ],
)
def test_an_access_line_from_kept_parts_is_the_line_made_whole(
    method: str, code: str, principal: str, request_id: str, reason: str
) -> None:
    access = AccessLog(logging.StreamHandler(io.StringIO()), "json")
    created = 1_800_000_000.25
    for _ in range(2):  # the second time from the kept parts
        line = access._json_line(created, method, code, principal, request_id, 0.0123456, reason)
        assert line == access._whole_json_line(created, method, code, principal, request_id, 0.0123456, reason)
    record = json.loads(line)
    assert (record["method"], record["code"], record["request_id"]) == (method, code, request_id)
    assert "rw_aaaa" not in record["message"] and "eyJabcdef.ghijkl" not in record["message"]
