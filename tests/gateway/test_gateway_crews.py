"""Crews through the gateway: the standard methods as REST/JSON, and a crew executed over JSON lines and
Server-Sent Events (the plan and every child's events in one stream, the final answer's tokens)."""

from __future__ import annotations

import json
import uuid

import httpx
from gateway_stack import details_by_type
from test_gateway_streams import EVENT_STREAM, _payload, _server_sent_events


def _agent(rest: httpx.Client, display_name: str) -> str:
    # Tokens as fast as the reader takes them, so a crew of several child runs ends quickly.
    body = {"displayName": display_name, "model": {"options": {"tokens_per_second": 100000}}}
    created = rest.post("/v1/agents", json=body)
    assert created.status_code == 200, created.text
    return created.json()["name"]


def _crew(rest: httpx.Client) -> dict:
    researcher, writer = _agent(rest, "Researcher"), _agent(rest, "Writer")
    crew = {
        "displayName": "Blog",
        "members": [{"id": "research", "agent": researcher, "role": "Researcher"}, {"id": "write", "agent": writer}],
        "tasks": [
            {"id": "facts", "description": "[[tokens:3]]", "member": "research"},
            {"id": "post", "description": "Write the post", "member": "write", "context": ["facts"]},
        ],
    }
    created = rest.post("/v1/crews", params={"crewId": f"blog-{uuid.uuid4().hex[:8]}"}, json=crew)
    assert created.status_code == 200, created.text
    return created.json()


def test_crews_over_rest_create_get_list_update_and_delete(rest: httpx.Client) -> None:
    crew = _crew(rest)
    name = crew["name"]
    assert crew["process"] == "PROCESS_SEQUENTIAL" and [t["id"] for t in crew["tasks"]] == ["facts", "post"]
    assert rest.get(f"/v1/{name}").json() == crew

    listed = rest.get("/v1/crews", params={"filter": 'display_name = "Blog"', "pageSize": 100})
    assert listed.status_code == 200 and name in [c["name"] for c in listed.json()["crews"]]

    patched = rest.patch(f"/v1/{name}", params={"updateMask": "process"}, json={"process": "PROCESS_PARALLEL", "etag": crew["etag"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["process"] == "PROCESS_PARALLEL" and patched.json()["members"] == crew["members"]
    stale = rest.patch(f"/v1/{name}", params={"updateMask": "description"}, json={"description": "x", "etag": crew["etag"]})
    assert stale.status_code == 409 and details_by_type(stale.json())["ErrorInfo"]["reason"] == "ETAG_MISMATCH"

    assert rest.delete(f"/v1/{name}").status_code == 200
    gone = rest.get(f"/v1/{name}")
    assert gone.status_code == 404
    assert details_by_type(gone.json())["ErrorInfo"]["reason"] == "CREW_NOT_FOUND"
    assert rest.delete(f"/v1/{name}", params={"allowMissing": True}).status_code == 200


def test_an_invalid_crew_is_400_with_field_violations(rest: httpx.Client) -> None:
    response = rest.post("/v1/crews", json={"displayName": "No members"})
    assert response.status_code == 400
    fields = [v["field"] for v in details_by_type(response.json())["BadRequest"]["fieldViolations"]]
    assert "crew.members" in fields


def test_a_crew_executes_over_json_lines_with_its_plan_and_child_events(rest: httpx.Client) -> None:
    crew = _crew(rest)
    with rest.stream("POST", f"/v1/{crew['name']}:execute", json={"input": [{"text": "Tides"}]}) as response:
        assert response.status_code == 200
        events = [json.loads(line)["result"] for line in response.iter_lines() if line]
    kinds = [_payload(e) for e in events]
    assert kinds[0] == "runCreated" and kinds[-1] == "runCompleted"
    plans = [e["crewPlanUpdated"]["plan"] for e in events if "crewPlanUpdated" in e]
    assert [t["state"] for t in plans[0]["tasks"]] == ["STATE_PENDING", "STATE_PENDING"]
    assert [t["state"] for t in plans[-1]["tasks"]] == ["STATE_SUCCEEDED", "STATE_SUCCEEDED"]
    children = [e["childRunEvent"] for e in events if "childRunEvent" in e]
    assert {(c["crewMember"], c["crewTask"]) for c in children} == {("research", "facts"), ("write", "post")}
    assert "".join(c["event"]["textDelta"]["text"] for c in children if c["crewTask"] == "facts" and "textDelta" in c["event"]) == "t1 t2 t3"
    answer = "".join(e["textDelta"]["text"] for e in events if "textDelta" in e)
    assert answer == events[-1]["runCompleted"]["output"]["text"] == plans[-1]["tasks"][1]["output"]

    # The crew run's children, by the REST filter.
    children_runs = rest.get("/v1/runs", params={"filter": f'parent_run = "{events[0]["run"]}"', "orderBy": "create_time"})
    assert [r["crewTask"] for r in children_runs.json()["runs"]] == ["facts", "post"]


def test_a_crew_executes_over_server_sent_events_and_streams_its_final_answer(rest: httpx.Client) -> None:
    crew = _crew(rest)
    body = {"input": [{"text": "Tides"}]}
    with rest.stream("POST", f"/v1/{crew['name']}:execute", json=body, headers=EVENT_STREAM) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        events = [data for _, data in _server_sent_events(response)]
    assert _payload(events[-1]) == "runCompleted"
    assert any("crewPlanUpdated" in e for e in events) and any("childRunEvent" in e for e in events)

    with rest.stream("POST", f"/v1/{crew['name']}:streamTokens", json=body, headers=EVENT_STREAM) as response:
        assert response.status_code == 200
        tokens = [data for _, data in _server_sent_events(response)]
    assert tokens[-1]["final"] is True
    assert "".join(t["text"] for t in tokens) == events[-1]["runCompleted"]["output"]["text"]

    with rest.stream("POST", "/v1/crews/missing:execute", json=body) as response:
        assert response.status_code == 404
        assert details_by_type(json.loads(response.read())["error"])["ErrorInfo"]["reason"] == "CREW_NOT_FOUND"
