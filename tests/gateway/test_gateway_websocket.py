"""The real-time channel for browsers: EventService.Connect as a WebSocket, and SSE streams that resume with Last-Event-ID."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest
from gateway_stack import WEB_ORIGIN, Stack
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

EVENT_STREAM = {"accept": "text/event-stream"}
# The builtin model calls the calculator, which the agent may call only with a person's approval.
APPROVAL_DIRECTIVE = '[[tool:calculator {"expression": "6*7"}]]'
WAIT_S = 30


def websocket_url(stack: Stack, query: str = "") -> str:
    return stack.base_url.replace("http://", "ws://", 1) + "/v1/events:connect" + query


def approval_session(rest: httpx.Client) -> str:
    tools = [{"name": "calculator", "requiresApproval": True}]
    agent = rest.post("/v1/agents", json={"displayName": "Approval agent", "tools": tools}).json()
    return rest.post("/v1/sessions", json={"agent": agent["name"]}).json()["name"]


def send(connection: ClientConnection, **message: Any) -> None:
    connection.send(json.dumps(message))


def next_of(connection: ClientConnection, kind: str) -> dict:
    """The next ConnectResponse carrying `kind`; pings are answered on the way, as a client must."""
    while True:
        response = json.loads(connection.recv(timeout=WAIT_S))
        if "ping" in response:
            send(connection, pong={"nonce": response["ping"].get("nonce", "")})
        if kind in response:
            return response


def test_a_websocket_client_answers_a_runs_approval_and_sees_it_complete(stack: Stack, rest: httpx.Client) -> None:
    session = approval_session(rest)
    with connect(websocket_url(stack), additional_headers={"x-api-key": stack.admin_key}) as connection:
        assert next_of(connection, "connected")["connected"]["principal"]
        send(connection, hello={"clientName": "ws-test", "acceptInputRequests": True})
        send(connection, correlationId="sub", subscribe={"topics": ["EVENT_TOPIC_RUNS"], "types": ["run.succeeded"]})
        assert next_of(connection, "subscribed")["correlationId"] == "sub"
        run = rest.post("/v1/runs", json={"session": session, "input": [{"text": APPROVAL_DIRECTIVE}]}).json()

        request = next_of(connection, "request")["request"]
        assert request["inputRequest"]["run"] == run["name"]
        assert request["inputRequest"]["toolCall"]["tool"] == "calculator"
        approval = {"serverRequestId": request["id"], "approval": {"decision": "DECISION_APPROVE"}}
        send(connection, correlationId="answer", response=approval)
        resolved = next_of(connection, "requestResolved")
        assert resolved["correlationId"] == "answer"
        assert resolved["requestResolved"]["outcome"] == "OUTCOME_ANSWERED"

        event = next_of(connection, "event")["event"]["event"]
        assert (event["type"], event["resource"]) == ("run.succeeded", run["name"])
        assert "42" in event["run"]["output"]["text"]
        send(connection, correlationId="bye", ping={"nonce": "last"})
        assert next_of(connection, "pong")["correlationId"] == "bye"


def test_a_browser_credential_in_the_url_works_and_stays_out_of_the_log(stack: Stack) -> None:
    token_query = f"?access_token={stack.admin_key}"
    with connect(websocket_url(stack, token_query), origin=WEB_ORIGIN) as connection:
        assert next_of(connection, "connected")["connected"]["principal"]
    assert stack.gateway_log is not None
    log = stack.gateway_log.read_text()
    assert "GET /v1/events:connect 101" in log
    assert stack.admin_key not in log and "access_token" not in log


def test_without_credentials_the_socket_closes_as_a_policy_violation_with_the_reason(stack: Stack) -> None:
    with connect(websocket_url(stack)) as connection:
        with pytest.raises(ConnectionClosed) as closed:
            connection.recv(timeout=WAIT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason.startswith("UNAUTHENTICATED ")


def test_an_origin_not_allowed_is_refused_before_the_upgrade(stack: Stack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(websocket_url(stack), origin="http://elsewhere.example", additional_headers={"x-api-key": stack.admin_key})
    assert refused.value.response.status_code == 403


def _server_sent_events(response: httpx.Response) -> Iterator[tuple[str | None, dict]]:
    """(id, JSON data) of each event as it arrives."""
    event_id, data = None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event_id, json.loads("\n".join(data))
            event_id, data = None, []
        elif line.startswith("id: "):
            event_id = line.removeprefix("id: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))


def run_history(events: list[tuple[str | None, dict]]) -> tuple[list[tuple[str | None, dict]], str]:
    """The events other than text deltas, with their ids, and the text: what any replay of a run must agree on."""
    others = [(event_id, data) for event_id, data in events if "textDelta" not in data]
    return others, "".join(data["textDelta"]["text"] for _, data in events if "textDelta" in data)


def test_a_run_stream_resumes_after_its_last_event_id_with_exactly_the_missed_events(rest: httpx.Client) -> None:
    agent = rest.post("/v1/agents", json={"displayName": "Resumed agent"}).json()
    session = rest.post("/v1/sessions", json={"agent": agent["name"]}).json()["name"]
    # A run of several events, followed in full as SSE.
    with rest.stream("POST", f"/v1/{session}:execute", json={"input": [{"text": "resume me please"}]}, headers=EVENT_STREAM) as response:
        whole = list(_server_sent_events(response))
    assert [event_id for event_id, _ in whole] == [data["seq"] for _, data in whole]
    run = whole[0][1]["run"]
    seen_until = whole[2][0]
    assert seen_until is not None

    # The browser reconnects to the same URL (afterSeq=0), sending the id of the last event it got.
    with rest.stream(
        "GET", f"/v1/{run}:streamEvents", params={"afterSeq": 0}, headers={**EVENT_STREAM, "last-event-id": seen_until}
    ) as response:
        assert response.status_code == 200
        resumed = list(_server_sent_events(response))
    # Exactly what a request for the events after that seq answers, and the same history as what was missed
    # (a replay may merge consecutive text deltas into one event under the last one's seq).
    with rest.stream("GET", f"/v1/{run}:streamEvents", params={"afterSeq": seen_until}, headers=EVENT_STREAM) as response:
        assert resumed == list(_server_sent_events(response))
    assert run_history(resumed) == run_history(whole[3:])
    assert int(resumed[0][0] or 0) > int(seen_until)


def test_a_subscription_resumes_after_its_last_event_id(stack: Stack, rest: httpx.Client) -> None:
    agents = [rest.post("/v1/agents", json={"displayName": f"Followed {i}"}).json()["name"] for i in range(3)]
    body = {"resources": agents, "fromBeginningOfRetention": True}

    def subscribe(headers: dict[str, str]) -> list[tuple[str | None, dict]]:
        """The events up to caught_up."""
        events = []
        with rest.stream("POST", "/v1/events:subscribe", json=body, headers={**EVENT_STREAM, **headers}) as response:
            assert response.status_code == 200
            for event_id, data in _server_sent_events(response):
                events.append((event_id, data))
                if "caughtUp" in data:
                    return events
        raise AssertionError("the subscription ended before caught_up")

    whole = subscribe({})
    created = [(event_id, data) for event_id, data in whole if "event" in data]
    assert [data["event"]["resource"] for _, data in created] == agents
    assert [event_id for event_id, _ in created] == [data["event"]["cursor"] for _, data in created]
    resumed = subscribe({"last-event-id": created[0][0]})
    assert [data for _, data in resumed if "event" in data] == [data for _, data in created[1:]]
