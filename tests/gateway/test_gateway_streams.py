"""Server-streaming RPCs through the gateway: newline-delimited JSON, and Server-Sent Events on request."""

from __future__ import annotations

import json
from typing import Iterator

import httpx
from gateway_stack import Stack, details_by_type

EVENT_STREAM = {"accept": "text/event-stream"}


def _session(rest: httpx.Client) -> str:
    agent = rest.post("/v1/agents", json={"displayName": "Streaming agent"}).json()
    return rest.post("/v1/sessions", json={"agent": agent["name"]}).json()["name"]


def _server_sent_events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    """(event type, JSON data) for each event, read as it arrives."""
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def _payload(event: dict) -> str:
    """The name of the oneof payload a RunEvent carries (runCreated, textDelta...)."""
    return next(key for key in event if key not in {"run", "seq", "createTime"})


def _seqs(events: list[dict]) -> list[int]:
    return [int(event["seq"]) for event in events]


def _same_run_history(events: list[dict]) -> tuple[list[dict], str, int]:
    """What a reader must see however its text deltas were merged: every other event, the text, the last seq."""
    others = [event for event in events if "textDelta" not in event]
    text = "".join(event["textDelta"]["text"] for event in events if "textDelta" in event)
    return others, text, int(events[-1]["seq"])


def test_execute_agent_streams_run_events_as_json_lines(rest: httpx.Client) -> None:
    session = _session(rest)
    with rest.stream("POST", f"/v1/{session}:execute", json={"input": [{"text": "line by line"}]}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"]
        lines = [json.loads(line) for line in response.iter_lines() if line]
    events = [line["result"] for line in lines]
    # Strictly increasing; consecutive text deltas may arrive merged under the last one's seq.
    assert _seqs(events) == sorted(set(_seqs(events))) and _seqs(events)[0] == 1
    assert _payload(events[0]) == "runCreated" and _payload(events[-1]) == "runCompleted"
    text = "".join(event["textDelta"]["text"] for event in events if "textDelta" in event)
    assert "line by line" in text


def test_stream_tokens_as_server_sent_events(rest: httpx.Client) -> None:
    session = _session(rest)
    with rest.stream(
        "POST", f"/v1/{session}:streamTokens", json={"input": [{"text": "hello sse"}]}, headers=EVENT_STREAM
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = list(_server_sent_events(response))
    assert {kind for kind, _ in events} == {"message"}
    tokens = [data for _, data in events]
    assert tokens[-1]["final"] is True
    assert "hello sse" in "".join(token["text"] for token in tokens)


def test_stream_run_events_resumes_after_a_sequence_number(rest: httpx.Client) -> None:
    session = _session(rest)
    with rest.stream("POST", f"/v1/{session}:execute", json={"input": [{"text": "replay me"}]}) as response:
        first = [json.loads(line)["result"] for line in response.iter_lines() if line]
    run = first[0]["run"]

    # The GET an EventSource would make: the events after seq 2, none twice.
    with rest.stream("GET", f"/v1/{run}:streamEvents", params={"afterSeq": 2}, headers=EVENT_STREAM) as response:
        assert response.status_code == 200
        replayed = [data for _, data in _server_sent_events(response)]
    missed = [event for event in first if int(event["seq"]) > 2]
    assert min(_seqs(replayed)) > 2
    assert _same_run_history(replayed) == _same_run_history(missed)

    with rest.stream("GET", f"/v1/{run}:streamEvents", params={"afterSeq": 2}) as response:
        as_lines = [json.loads(line)["result"] for line in response.iter_lines() if line]
    assert _same_run_history(as_lines) == _same_run_history(missed)


def test_a_stream_that_fails_before_its_first_event_answers_the_status(rest: httpx.Client) -> None:
    body = {"input": [{"text": "nobody listens"}]}
    with rest.stream("POST", "/v1/sessions/missing:execute", json=body) as response:
        assert response.status_code == 404
        error = json.loads(response.read())["error"]
    assert details_by_type(error)["ErrorInfo"]["reason"] == "SESSION_NOT_FOUND"

    with rest.stream("POST", "/v1/sessions/missing:execute", json=body, headers=EVENT_STREAM) as response:
        assert response.status_code == 404
        events = list(_server_sent_events(response))
    assert [kind for kind, _ in events] == ["error"]
    assert details_by_type(events[0][1])["ErrorInfo"]["reason"] == "SESSION_NOT_FOUND"


def test_a_bad_stream_request_is_400_with_field_violations(rest: httpx.Client) -> None:
    session = _session(rest)
    with rest.stream("POST", f"/v1/{session}:execute", json={"input": []}) as response:
        assert response.status_code == 400
        error = json.loads(response.read())["error"]
    assert details_by_type(error)["BadRequest"]["fieldViolations"][0]["field"] == "input"


def test_a_stream_without_credentials_is_401(stack: Stack, rest: httpx.Client) -> None:
    session = _session(rest)
    with httpx.Client(base_url=stack.base_url, timeout=30) as anonymous:
        with anonymous.stream("POST", f"/v1/{session}:execute", json={"input": [{"text": "hi"}]}) as response:
            assert response.status_code == 401
            error = json.loads(response.read())["error"]
    assert error["code"] == 16
