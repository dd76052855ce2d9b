"""A run's stored output converts to the same RunOutput whether it takes the direct path or json_format's."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format

from runwire.server.wire.convert import set_run_output
from runwire.v1 import common_pb2, run_pb2

OUTPUTS: list[run_pb2.RunOutput] = [
    run_pb2.RunOutput(text="t1 t2", parts=[common_pb2.ContentPart(text="t1 t2")], message="sessions/s/messages/m"),
    run_pb2.RunOutput(text="only text"),
    run_pb2.RunOutput(parts=[common_pb2.ContentPart(text="a"), common_pb2.ContentPart(text="")]),
    run_pb2.RunOutput(),
    # Not text only: json_format converts these.
    run_pb2.RunOutput(text="x", parts=[common_pb2.ContentPart(file="files/f1"), common_pb2.ContentPart(text="x")]),
]


@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: json_format.MessageToJson(o, indent=None) or "empty")
def test_stored_output_round_trips(output: run_pb2.RunOutput) -> None:
    stored: dict[str, Any] = json_format.MessageToDict(output, preserving_proto_field_name=True)
    converted = run_pb2.RunOutput()
    set_run_output(converted, stored)
    assert converted == output


def test_a_batch_task_output_ignores_fields_it_no_longer_knows() -> None:
    # A task's output is stored by an older server too; a field since removed must not fail its reads.
    stored = {"text": "x", "parts": [{"file": "files/f1"}], "retired_field": 1}
    converted = run_pb2.RunOutput()
    set_run_output(converted, stored, ignore_unknown_fields=True)
    assert converted == run_pb2.RunOutput(text="x", parts=[common_pb2.ContentPart(file="files/f1")])
    with pytest.raises(json_format.ParseError):
        set_run_output(run_pb2.RunOutput(), stored)
