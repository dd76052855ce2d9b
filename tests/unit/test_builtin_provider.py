"""The builtin provider's token stream: its text, and how often it lets other tasks run at unlimited rate."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from runwire.server.engine.builtin_provider import UNLIMITED_BURST_TOKENS, BuiltinProvider
from runwire.server.engine.providers import ModelMessage, ModelRequest, TextChunk


def request(text: str, max_output_tokens: int | None = None) -> ModelRequest:
    return ModelRequest(
        model="",
        messages=(ModelMessage(role="user", text=text),),
        tools=(),
        temperature=None,
        max_output_tokens=max_output_tokens,
        base_url="",
        options={},
    )


async def texts(provider: BuiltinProvider, text: str, max_output_tokens: int | None = None) -> list[str]:
    return [c.text async for c in provider.stream(request(text, max_output_tokens)) if isinstance(c, TextChunk)]


async def test_tokens_directive_streams_numbered_words() -> None:
    provider = BuiltinProvider()
    assert await texts(provider, "[[tokens:3]]") == ["t1 ", "t2 ", "t3"]
    assert "".join(await texts(provider, "[[tokens:50]]")) == " ".join(f"t{i}" for i in range(1, 51))
    assert await texts(provider, "[[tokens:0]]") == []
    # max_output_tokens cuts the answer where it is, trailing space and all.
    assert await texts(provider, "[[tokens:5]]", max_output_tokens=2) == ["t1 ", "t2 "]


async def test_unlimited_rate_lets_other_tasks_run_between_bursts() -> None:
    provider = BuiltinProvider(tokens_per_second=0)
    turns = 0
    stop = asyncio.Event()

    async def count_turns() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    seen: list[int] = []
    count = UNLIMITED_BURST_TOKENS * 3 + 5
    async for chunk in provider.stream(request(f"[[tokens:{count}]]")):
        if isinstance(chunk, TextChunk):
            seen.append(turns)
    stop.set()
    await counter
    assert len(seen) == count
    # Within a burst no other task runs; between bursts (and after the last token) one does.
    bursts = [seen[i : i + UNLIMITED_BURST_TOKENS] for i in range(0, count, UNLIMITED_BURST_TOKENS)]
    assert all(len(set(burst)) == 1 for burst in bursts)
    assert all(later[0] > earlier[0] for earlier, later in pairwise(bursts))
