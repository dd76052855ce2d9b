"""A run step's JSON (the runs.steps column) is what json_format makes of it, on the direct path too."""

from __future__ import annotations

import pytest
from google.protobuf import json_format, struct_pb2

from runwire.server.engine.runner import step_json
from runwire.v1 import common_pb2, run_pb2


def full_step() -> run_pb2.RunStep:
    step = run_pb2.RunStep(index=2)
    call = step.model_call
    call.provider, call.model, call.text, call.message = "builtin", "m-1", "t1 t2", "sessions/s/messages/m"
    call.finish_reason = run_pb2.ModelCall.FINISH_REASON_LENGTH
    call.attempts = 3
    call.time_to_first_token.FromNanoseconds(1_234_567)
    call.duration.FromNanoseconds(2_000_000_000)
    step.usage.input_tokens, step.usage.output_tokens, step.usage.total_tokens = 3, 2, 5
    step.start_time.FromNanoseconds(1_795_400_000_123_456_000)
    step.end_time.FromNanoseconds(1_795_400_000_125_456_789)
    step.duration.FromNanoseconds(2_000_789)
    return step


def zero_valued_step() -> run_pb2.RunStep:
    step = run_pb2.RunStep()
    step.model_call.SetInParent()
    step.usage.SetInParent()
    step.start_time.SetInParent()
    return step


def with_tool_call() -> run_pb2.RunStep:
    step = full_step()
    execution = step.tool_calls.add()
    execution.call.CopyFrom(common_pb2.ToolCall(id="c1", tool="calculator", arguments=struct_pb2.Struct()))
    return step


@pytest.mark.parametrize("step", [full_step(), zero_valued_step(), run_pb2.RunStep(), with_tool_call()], ids=["full", "zeros", "empty", "tool-call"])
def test_step_json_is_what_json_format_gives(step: run_pb2.RunStep) -> None:
    assert step_json(step) == json_format.MessageToDict(step, preserving_proto_field_name=True)
    assert json_format.ParseDict(step_json(step), run_pb2.RunStep()) == step


def test_the_direct_path_knows_every_field() -> None:
    # A new field must be added to step_json (or the step must go through json_format): this fails first.
    assert [f.name for f in run_pb2.RunStep.DESCRIPTOR.fields] == [
        "index", "model_call", "tool_calls", "usage", "start_time", "end_time", "duration",
    ]
    assert [f.name for f in run_pb2.ModelCall.DESCRIPTOR.fields] == [
        "provider", "model", "finish_reason", "text", "message", "time_to_first_token", "duration", "attempts",
    ]
    assert [f.name for f in common_pb2.Usage.DESCRIPTOR.fields] == ["input_tokens", "output_tokens", "total_tokens"]
