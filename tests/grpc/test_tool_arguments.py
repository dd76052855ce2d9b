"""What a model sends as tool arguments, and what tools send back, through a real server: arguments that
cannot be used become the call's error result (never INTERNAL), and JSON numbers keep their types."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runwire.server.engine.runner import MAX_TOOL_ARGUMENTS_BYTES
from runwire.server.wire.json_values import MAX_DEPTH
from runwire.v1 import agent_pb2, common_pb2, memory_pb2, memory_pb2_grpc, message_pb2, run_pb2, session_pb2
from tests.conftest import rpc_error
from tests.fakes.openai_server import FakeOpenAIServer, chunk, events, text_stream, tool_piece, usage_chunk
from tests.grpc.mcp_support import READY, fake_stdio
from tests.grpc.run_support import (
    REQUIRES_INPUT,
    SUCCEEDED,
    TOOL_STATE,
    Runs,
    kind,
    serving,
    struct,
)
from tests.grpc.test_mcp_servers import mcp_serving


@pytest.fixture
async def runs(tmp_path: Path) -> AsyncIterator[Runs]:
    async with serving(tmp_path) as instance:
        yield instance


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def only(events_: list[run_pb2.RunEvent], wanted: str) -> list[run_pb2.RunEvent]:
    return [e for e in events_ if kind(e) == wanted]


def struct_json(value: Any) -> dict[str, Any]:
    """A Struct as the server's model sees it and as JSON tools show it."""
    from runwire.client import struct_to_dict

    return struct_to_dict(value)


async def assert_rejected_and_healthy(runs: Runs, events_: list[run_pb2.RunEvent], why: str) -> run_pb2.Run:
    """The run ended cleanly, its one call failed with `why` in the result the model saw, and the server
    still serves: the run, its messages and a health check all read back."""
    assert kind(events_[-1]) == "run_completed", events_[-1]
    (completed,) = [e.tool_call_completed for e in only(events_, "tool_call_completed")]
    assert completed.result.is_error and completed.state == TOOL_STATE.STATE_FAILED
    error = struct_json(completed.result.output)["error"]
    assert error.startswith("the arguments were rejected: "), error
    assert why in error
    assert only(events_, "tool_call_started") == [], "a rejected call never reaches the tool"
    run = await runs.get(events_[0].run)
    assert run.status == SUCCEEDED
    (execution,) = run.steps[0].tool_calls
    assert execution.state == TOOL_STATE.STATE_FAILED and struct_json(execution.call.arguments) == {}
    messages = await runs.messages((await runs.get(events_[0].run)).session)
    assert any(p.tool_result.is_error for m in messages for p in m.content if p.HasField("tool_result"))
    health = await health_pb2_grpc.HealthStub(runs.client.channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    return run


# -- arguments a model sends --------------------------------------------------------------------


async def test_deeply_nested_arguments_from_the_builtin_provider_are_a_tool_error(runs: Runs) -> None:
    session = await runs.session(tools=["calculator"])

    events_ = await runs.execute_all(session, f"[[tool:calculator {json.dumps(nested(80))}]]")

    run = await assert_rejected_and_healthy(runs, events_, f"deeper than {MAX_DEPTH} levels")
    assert "rejected" in run.output.text, "the model read the reason"
    again = await runs.execute_all(session, '[[tool:calculator {"expression": "1+1"}]]')
    assert kind(again[-1]) == "run_completed"
    assert not only(again, "tool_call_completed")[0].tool_call_completed.result.is_error


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ('{"expression": NaN}', "NaN is not a JSON value"),
        ('{"expression": Infinity}', "Infinity is not a JSON value"),
        ('{"expression": "1+1",}', "not valid JSON"),
        ('{"expression": [1, 2}', "not valid JSON"),
    ],
)
async def test_arguments_that_are_not_json_from_the_builtin_provider_are_a_tool_error(
    runs: Runs, arguments: str, why: str
) -> None:
    session = await runs.session(tools=["calculator"])

    events_ = await runs.execute_all(session, f"[[tool:calculator {arguments}]]")

    await assert_rejected_and_healthy(runs, events_, why)


async def test_arguments_beyond_the_size_limit_are_a_tool_error(runs: Runs) -> None:
    session = await runs.session(tools=["calculator"])
    huge = json.dumps({"expression": "1", "padding": "x" * (MAX_TOOL_ARGUMENTS_BYTES + 1)})

    events_ = await runs.execute_all(session, f"[[tool:calculator {huge}]]")

    await assert_rejected_and_healthy(runs, events_, f"more than the limit of {MAX_TOOL_ARGUMENTS_BYTES}")


def tool_call_stream(arguments: str, *, usage: tuple[int, int] = (20, 5)) -> Any:
    return events(
        [
            chunk(role="assistant"),
            chunk(tool_calls=[tool_piece(0, id="call_1", name="calculator", arguments=arguments)]),
            chunk(finish_reason="tool_calls"),
            usage_chunk(*usage),
        ]
    )


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        (json.dumps(nested(80)), f"deeper than {MAX_DEPTH} levels"),
        ('{"a":' * 3000 + "1" + "}" * 3000, "too deeply"),
        ('{"expression": ', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"expression": NaN}', "NaN is not a JSON value"),
    ],
)
async def test_unusable_arguments_from_an_openai_compatible_model_are_sent_back_to_it(
    runs: Runs, fake: FakeOpenAIServer, arguments: str, why: str
) -> None:
    fake.script(tool_call_stream(arguments), text_stream("Sorry, let me fix that."))
    session = await runs.session(tools=["calculator"], provider="openai", model="m", base_url=fake.base_url)

    events_ = await runs.execute_all(session, "Compute something")

    await assert_rejected_and_healthy(runs, events_, why)
    second = fake.requests[1].json()["messages"]
    assert second[1]["role"] == "assistant" and json.loads(second[1]["tool_calls"][0]["function"]["arguments"]) == {}
    assert second[2]["role"] == "tool" and why in json.loads(second[2]["content"])["error"]


async def test_token_counts_that_are_not_counts_are_taken_as_zero(runs: Runs, fake: FakeOpenAIServer) -> None:
    fake.script(text_stream("ok", usage=(10**30, -5)))
    session = await runs.session(provider="openai", model="m", base_url=fake.base_url)

    events_ = await runs.execute_all(session, "Hi")

    assert kind(events_[-1]) == "run_completed", events_[-1]
    run = await runs.get(events_[0].run)
    assert (run.usage.input_tokens, run.usage.output_tokens) == (0, 0)


def escaped(payload: dict[str, Any]) -> str:
    """An SSE payload as ASCII JSON text, so lone surrogates travel as `\\ud800` escapes."""
    return json.dumps(payload, ensure_ascii=True)


async def test_lone_surrogates_from_a_model_are_replaced_not_fatal(runs: Runs, fake: FakeOpenAIServer) -> None:
    """JSON allows `\\ud800`, which UTF-8 (and so protobuf) cannot encode: it becomes U+FFFD."""
    fake.script(
        events(
            [
                escaped(chunk(role="assistant", content="before \ud800 after")),
                escaped(chunk(tool_calls=[tool_piece(0, id="call_\udc00", name="calculator", arguments='{"expression": "1+1", "\\ud800": "\\udfff"}')])),
                escaped(chunk(finish_reason="tool_calls")),
            ]
        ),
        events([escaped(chunk(content="done \ud83d")), escaped(chunk(finish_reason="stop"))]),
    )
    session = await runs.session(tools=["calculator"], provider="openai", model="m", base_url=fake.base_url)

    events_ = await runs.execute_all(session, "Hi")

    assert kind(events_[-1]) == "run_completed", events_[-1]
    run = await runs.get(events_[0].run)
    assert run.steps[0].model_call.text == "before \ufffd after"
    assert struct_json(run.steps[0].tool_calls[0].call.arguments) == {"expression": "1+1", "\ufffd": "\ufffd"}
    assert run.steps[0].tool_calls[0].call.id == "call_\ufffd"
    assert run.output.text == "done \ufffd"


# -- numbers keep their types ---------------------------------------------------------------------


async def test_tool_results_keep_integers_for_the_model_and_in_events(runs: Runs) -> None:
    session = await runs.session(tools=["calculator"])

    events_ = await runs.execute_all(session, '[[tool:calculator {"expression": "6*7"}]]')

    assert kind(events_[-1]) == "run_completed"
    # The builtin provider repeats the result as the model received it: JSON with 42, not 42.0.
    output = (await runs.get(events_[0].run)).output.text
    assert re.search(r'"value": 42[,}]', output), output
    assert "42.0" not in output


async def test_integers_reach_an_openai_compatible_model_as_integers(runs: Runs, fake: FakeOpenAIServer) -> None:
    fake.script(tool_call_stream('{"expression": "2**10"}'), text_stream("done"))
    session = await runs.session(
        tools=["calculator"], provider="openai", model="m", base_url=fake.base_url, options={"seed": 7, "top_p": 0.5}
    )

    events_ = await runs.execute_all(session, "Compute")

    assert kind(events_[-1]) == "run_completed"
    first, second = (r.json() for r in fake.requests)
    assert first["seed"] == 7 and type(first["seed"]) is int and first["top_p"] == 0.5
    tool_message = second["messages"][2]
    assert tool_message["role"] == "tool"
    assert re.search(r'"value": 1024[,}]', tool_message["content"]), tool_message["content"]


async def test_approved_edited_arguments_reach_an_mcp_tool_as_integers(tmp_path: Path) -> None:
    async with mcp_serving(tmp_path) as mcp:
        await mcp.register(stdio=fake_stdio())
        await mcp.wait_for("mcpServers/fake-tools", lambda s: s.state == READY)
        session = await mcp.session(
            agent_pb2.AgentTool(name="describe", mcp_server="mcpServers/fake-tools", requires_approval=True)
        )
        runs = mcp.runs
        call = runs.execute(session, '[[tool:mcp.fake-tools.describe {"value": {"n": 1}}]]')
        first = await call.read()
        waiting = await runs.wait_status(first.run, REQUIRES_INPUT)
        edited = {"value": {"n": 42, "big": 2**53 + 1, "x": 1.5, "items": [1, -2, 0, 3.25], "flag": True}}

        await runs.approve(first.run, waiting.pending_input.id, edited=edited)
        run = await runs.wait_end(first.run)

        assert run.status == SUCCEEDED, run.error
        (execution,) = run.steps[0].tool_calls
        received = struct_json(execution.result.output)
        assert received["types"] == {"n": "int", "big": "float", "x": "float", "items": ["int", "int", "int", "float"], "flag": "bool"}
        assert received["value"]["n"] == 42 and received["count"] == 42
        assert re.search(r'"n": 42[,}]', run.output.text), run.output.text


# -- values callers send in Structs ---------------------------------------------------------------


def with_nan() -> Any:
    value = struct(ok=1)
    value["bad"] = math.nan
    return value


def too_deep() -> Any:
    return struct(deep=nested(MAX_DEPTH + 5))


@pytest.mark.parametrize("make", [with_nan, too_deep])
async def test_structs_that_json_cannot_carry_are_invalid_argument(runs: Runs, make: Any) -> None:
    agent = (await runs.client.agent()).name

    session = await rpc_error(
        runs.client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent, metadata=make()))
        )
    )
    assert session.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(field.startswith("session.metadata.") for field in session.field_violations), session.field_violations

    parent = (await runs.client.session(agent)).name
    message = await rpc_error(
        runs.client.messages.CreateMessage(
            message_pb2.CreateMessageRequest(
                parent=parent,
                message=message_pb2.Message(
                    role=message_pb2.Message.ROLE_USER,
                    content=[common_pb2.ContentPart(text="hi"), common_pb2.ContentPart(data=make())],
                ),
            )
        )
    )
    assert message.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(field.startswith("message.content[1].data.") for field in message.field_violations), message.field_violations

    memory = await rpc_error(
        memory_pb2_grpc.MemoryServiceStub(runs.client.channel).CreateMemory(
            memory_pb2.CreateMemoryRequest(
                memory=memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content="x", metadata=make())
            )
        )
    )
    assert memory.code == grpc.StatusCode.INVALID_ARGUMENT
    assert any(field.startswith("memory.metadata.") for field in memory.field_violations), memory.field_violations
