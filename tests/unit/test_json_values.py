"""The one conversion between JSON values and google.protobuf.Struct: numbers, limits and refusals."""

from __future__ import annotations

import json
import math

import pytest
from google.protobuf import json_format, struct_pb2

from runwire.server.wire import json_values
from runwire.server.wire.json_values import MAX_DEPTH, MAX_SAFE_INTEGER, JsonValueError


def round_trip(value: dict) -> dict:
    """Through a Struct and the wire, as a client or a stored event carries it."""
    wired = struct_pb2.Struct.FromString(json_values.to_struct(value).SerializeToString())
    return json_values.from_struct(wired)


def nested(depth: int, leaf: object = 1, *, lists: bool = False) -> object:
    value = leaf
    for _ in range(depth):
        value = [value] if lists else {"a": value}
    return value


def test_integers_come_back_as_integers() -> None:
    back = round_trip({"n": 42, "zero": 0, "negative": -7, "list": [1, 2, [3, {"deep": 4}]], "flag": True})

    assert back == {"n": 42, "zero": 0, "negative": -7, "list": [1, 2, [3, {"deep": 4}]], "flag": True}
    assert type(back["n"]) is int and type(back["list"][2][1]["deep"]) is int
    assert type(back["flag"]) is bool
    assert json.dumps(back["n"]) == "42"


def test_fractions_strings_and_null_are_kept() -> None:
    value = {"x": 1.5, "tiny": 5e-324, "s": "42", "none": None, "empty": {}, "no_items": []}

    assert round_trip(value) == value
    assert type(round_trip(value)["s"]) is str


def test_integers_are_exact_up_to_javascripts_safe_integer() -> None:
    back = round_trip(
        {"max": MAX_SAFE_INTEGER, "min": -MAX_SAFE_INTEGER, "two_to_53": 2**53, "over": 2**53 + 1, "under": -(2**53) - 1}
    )

    assert back["max"] == 2**53 - 1 and type(back["max"]) is int
    assert back["min"] == -(2**53 - 1) and type(back["min"]) is int
    # Beyond it a double cannot hold every integer: 2^53 + 1 arrives as the double 2^53, shown as a float
    # so that it does not pass for the exact integer that was sent.
    assert back["two_to_53"] == float(2**53) and type(back["two_to_53"]) is float
    assert back["over"] == float(2**53) and type(back["over"]) is float
    assert back["under"] == -float(2**53) and type(back["under"]) is float


def test_large_and_negative_zero_numbers() -> None:
    back = round_trip({"big": 1e300, "int64_max": 2**63 - 1, "negative_zero": -0.0, "integral_float": 3.0})

    assert back["big"] == 1e300 and type(back["big"]) is float
    assert back["int64_max"] == float(2**63 - 1) and type(back["int64_max"]) is float
    assert back["negative_zero"] == 0 and type(back["negative_zero"]) is int
    assert back["integral_float"] == 3 and type(back["integral_float"]) is int


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        ({"x": math.nan}, "x", "not a JSON number"),
        ({"x": {"y": [1, math.inf]}}, "x.y[1]", "not a JSON number"),
        ({"x": -math.inf}, "x", "not a JSON number"),
        ({"x": 10**400}, "x", "too large for a double"),
        ({"x": {1: "one"}}, "x", "key that is a number"),
        ({"x": object()}, "x", "not a JSON value"),
        ({"x": {1, 2}}, "x", "not a JSON value"),
    ],
)
def test_values_json_cannot_carry_are_refused_with_their_place(value: dict, path: str, problem: str) -> None:
    with pytest.raises(JsonValueError) as caught:
        json_values.to_struct(value)

    assert caught.value.path == path and problem in caught.value.problem


def test_lone_surrogates_become_the_replacement_character() -> None:
    lone = json.loads('"a\\ud800b"')

    assert json_values.valid_text(lone) == "a\ufffdb"
    assert json_values.valid_text("\ud83d\ude00") == "\U0001f600", "a pair split in two is joined"
    assert json_values.valid_text("plain") == "plain" and json_values.valid_text("é") == "é"
    assert round_trip({lone: [lone]}) == {"a\ufffdb": ["a\ufffdb"]}


def test_a_non_object_is_refused() -> None:
    with pytest.raises(JsonValueError, match="not a JSON object but a list"):
        json_values.normalize([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("lists", [False, True])
def test_nesting_is_limited(lists: bool) -> None:
    deepest = {"v": nested(MAX_DEPTH - 1, lists=lists)}
    assert round_trip(deepest) == deepest

    with pytest.raises(JsonValueError, match=f"deeper than {MAX_DEPTH} levels"):
        json_values.to_struct({"v": nested(MAX_DEPTH, lists=lists)})
    with pytest.raises(JsonValueError, match="deeper than"):
        json_values.to_struct({"v": nested(80, lists=lists)})


def test_a_struct_from_elsewhere_is_checked_on_the_way_out() -> None:
    """A caller's Struct may hold NaN or nest deeper than the limit: refused, not passed on."""
    with_nan = struct_pb2.Struct()
    with_nan["x"] = math.nan
    with pytest.raises(JsonValueError, match="not a JSON number"):
        json_values.from_struct(with_nan)

    deep = struct_pb2.Struct()
    deep.update({"v": nested(30)})
    with pytest.raises(JsonValueError, match="deeper than"):
        json_values.from_struct(deep)


def test_the_deepest_value_allowed_still_decodes_inside_the_deepest_message() -> None:
    """A Struct at the limit, inside a run's step inside a resource event inside a Connect message,
    stays within protobuf's decoding limit: what the server sends, clients can read."""
    from runwire.v1 import event_pb2

    response = event_pb2.ConnectResponse()
    execution = response.event.event.run.steps.add().tool_calls.add()
    json_values.to_struct({"v": nested(MAX_DEPTH - 1)}, execution.call.arguments)
    json_values.to_struct({"v": nested(MAX_DEPTH - 1, lists=True)}, execution.original_arguments)

    decoded = event_pb2.ConnectResponse.FromString(response.SerializeToString())

    assert json_values.from_struct(decoded.event.event.run.steps[0].tool_calls[0].call.arguments)["v"] == nested(MAX_DEPTH - 1)


def test_message_json_shows_integers() -> None:
    struct = json_values.to_struct({"n": 42, "x": 0.5})

    assert json_values.with_integers(json_format.MessageToDict(struct)) == {"n": 42, "x": 0.5}
    assert json.dumps(json_values.with_integers(json_format.MessageToDict(struct)), sort_keys=True) == '{"n": 42, "x": 0.5}'
