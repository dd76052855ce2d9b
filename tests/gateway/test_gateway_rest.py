"""REST/JSON through the gateway binary in front of a real `runwire serve`."""

from __future__ import annotations

import json
import uuid

import httpx
from gateway_stack import RATE_LIMITED_PATH, ROOT, WEB_ORIGIN, Stack, details_by_type


def _label() -> str:
    return "g" + uuid.uuid4().hex[:12]


def test_health_endpoints_report_the_gateway_and_the_server(rest: httpx.Client) -> None:
    assert rest.get("/healthz").status_code == 200
    ready = rest.get("/readyz")
    assert (ready.status_code, ready.text.strip()) == (200, "SERVING")


def test_openapi_document_is_the_generated_one(rest: httpx.Client) -> None:
    served = rest.get("/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    committed = json.loads((ROOT / "generated" / "openapi" / "runwire.swagger.json").read_text())
    assert served.json() == committed
    assert {"/v1/agents", "/v1/sessions", "/v1/runs"} <= set(committed["paths"])


def test_agent_crud_with_an_update_mask(rest: httpx.Client) -> None:
    created = rest.post("/v1/agents", json={"displayName": "REST agent", "instructions": "Be brief."})
    assert created.status_code == 200, created.text
    agent = created.json()
    assert agent["name"].startswith("agents/") and agent["etag"]

    assert rest.get(f"/v1/{agent['name']}").json()["displayName"] == "REST agent"

    # Only the masked field changes, written with its JSON name as in the body.
    patched = rest.patch(
        f"/v1/{agent['name']}",
        params={"updateMask": "displayName"},
        json={"displayName": "Renamed", "instructions": "not in the mask"},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["displayName"], patched.json()["instructions"]) == ("Renamed", "Be brief.")

    # Without a mask the gateway derives it from the fields the body sets.
    described = rest.patch(f"/v1/{agent['name']}", json={"description": "set alone"})
    assert described.status_code == 200, described.text
    assert (described.json()["description"], described.json()["displayName"]) == ("set alone", "Renamed")

    assert rest.delete(f"/v1/{agent['name']}").status_code == 200
    gone = rest.get(f"/v1/{agent['name']}")
    assert gone.status_code == 404
    info = details_by_type(gone.json())["ErrorInfo"]
    assert info["reason"] == "AGENT_NOT_FOUND" and info["metadata"]["resource"] == agent["name"]


def test_secrets_are_served_and_their_values_never_come_back(rest: httpx.Client) -> None:
    secret_id = _label()
    created = rest.post(f"/v1/secrets?secretId={secret_id}", json={"displayName": "Key", "value": "sk-through-rest"})
    assert created.status_code == 200, created.text
    assert created.json()["name"] == f"secrets/{secret_id}" and created.json()["value"] == ""

    rotated = rest.patch(f"/v1/secrets/{secret_id}?updateMask=value", json={"value": "sk-rotated"})
    assert rotated.status_code == 200, rotated.text
    listed = rest.get("/v1/secrets").text
    assert secret_id in listed and "sk-through-rest" not in listed and "sk-rotated" not in listed
    assert rest.delete(f"/v1/secrets/{secret_id}").status_code == 200
    assert rest.get(f"/v1/secrets/{secret_id}").status_code == 404


def test_session_crud_with_an_update_mask(rest: httpx.Client) -> None:
    agent = rest.post("/v1/agents", json={"displayName": "Session owner"}).json()
    created = rest.post("/v1/sessions", json={"agent": agent["name"], "displayName": "first", "labels": {"k": "v"}})
    assert created.status_code == 200, created.text
    session = created.json()
    patched = rest.patch(
        f"/v1/{session['name']}",
        params={"update_mask": "display_name"},
        json={"displayName": "second", "labels": {"k": "ignored"}},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["displayName"], patched.json()["labels"]) == ("second", {"k": "v"})
    assert rest.get(f"/v1/{session['name']}").json()["displayName"] == "second"
    assert rest.delete(f"/v1/{session['name']}").status_code == 200
    missing = rest.get(f"/v1/{session['name']}")
    assert missing.status_code == 404
    assert details_by_type(missing.json())["ErrorInfo"]["reason"] == "SESSION_NOT_FOUND"


def test_pages_follow_next_page_token_to_every_agent_once(rest: httpx.Client) -> None:
    label = _label()
    created = {
        rest.post("/v1/agents", json={"displayName": f"Paged {i}", "labels": {"suite": label}}).json()["name"]
        for i in range(5)
    }
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params = {"pageSize": 2, "filter": f'labels.suite = "{label}"', "pageToken": token}
        page = rest.get("/v1/agents", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["agents"]) <= 2
        seen += [agent["name"] for agent in body["agents"]]
        pages += 1
        token = body["nextPageToken"]
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted(created)


def test_invalid_input_is_400_with_field_violations(rest: httpx.Client) -> None:
    response = rest.post("/v1/agents", json={"instructions": "no name"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 3
    violations = details_by_type(body)["BadRequest"]["fieldViolations"]
    assert [v["field"] for v in violations] == ["agent.display_name"]

    negative = rest.get("/v1/agents", params={"pageSize": -1})
    assert negative.status_code == 400
    assert details_by_type(negative.json())["BadRequest"]["fieldViolations"][0]["field"] == "page_size"


def test_an_unknown_json_field_is_refused(rest: httpx.Client) -> None:
    response = rest.post("/v1/agents", json={"displayName": "x", "dispalyName": "typo"})
    assert response.status_code == 400
    assert response.json()["code"] == 3 and "dispalyName" in response.json()["message"]


def test_errors_speak_the_callers_language(rest: httpx.Client) -> None:
    response = rest.get("/v1/agents/missing", headers={"accept-language": "fr"})
    assert response.status_code == 404
    localized = details_by_type(response.json())["LocalizedMessage"]
    assert localized["locale"] == "fr"


def test_a_call_without_credentials_is_401_with_the_status_body(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as anonymous:
        response = anonymous.get("/v1/agents")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == 16
    assert details_by_type(body)["ErrorInfo"]["reason"] == "UNAUTHENTICATED"


def test_a_wrong_key_is_401_and_a_bearer_key_works(stack: Stack) -> None:
    with stack.client(key="rw_" + "x" * 40) as wrong:
        assert wrong.get("/v1/agents").status_code == 401
    with httpx.Client(
        base_url=stack.base_url, headers={"authorization": f"Bearer {stack.admin_key}"}, timeout=30
    ) as bearer:
        assert bearer.get("/v1/agents").status_code == 200


def test_the_request_id_goes_both_ways(rest: httpx.Client) -> None:
    mine = rest.get("/v1/agents/nope", headers={"x-request-id": "trace-42"})
    assert mine.headers["x-request-id"] == "trace-42"
    assert details_by_type(mine.json())["RequestInfo"]["requestId"] == "trace-42"

    # None sent (or one the server would refuse): the gateway picks one and the server uses it.
    for headers in ({}, {"x-request-id": "bad id with spaces"}):
        response = rest.get("/v1/agents/nope", headers=headers)
        generated = response.headers["x-request-id"]
        assert generated and generated != "bad id with spaces"
        assert details_by_type(response.json())["RequestInfo"]["requestId"] == generated
    assert rest.get("/v1/agents").headers["x-request-id"]



def test_unary_responses_carry_the_rate_limit_headers(rest: httpx.Client) -> None:
    response = rest.get("/v1/agents", params={"pageSize": 1})
    assert int(response.headers["x-ratelimit-limit"]) > 0
    assert int(response.headers["x-ratelimit-remaining"]) < int(response.headers["x-ratelimit-limit"])


def test_a_rate_limited_call_is_429_with_when_to_retry(rest: httpx.Client) -> None:
    response = rest.get(RATE_LIMITED_PATH)
    assert response.status_code == 429
    details = details_by_type(response.json())
    assert response.json()["code"] == 8
    assert details["ErrorInfo"]["reason"] == "RATE_LIMITED"
    assert "retryDelay" in details["RetryInfo"] and details["QuotaFailure"]["violations"]
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["retry-after"]) >= 1


def test_browsers_on_the_allowed_origin_may_call(rest: httpx.Client) -> None:
    preflight = rest.options(
        "/v1/agents",
        headers={
            "origin": WEB_ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "X-API-Key" in preflight.headers["access-control-allow-headers"]

    listed = rest.get("/v1/agents", headers={"origin": WEB_ORIGIN})
    assert listed.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "X-Request-Id" in listed.headers["access-control-expose-headers"]

    elsewhere = rest.get("/v1/agents", headers={"origin": "http://elsewhere.example"})
    assert elsewhere.status_code == 200 and "access-control-allow-origin" not in elsewhere.headers


def test_grpc_timeout_sets_the_call_deadline(rest: httpx.Client) -> None:
    # A deadline already over when the call is made: 504 DEADLINE_EXCEEDED, with the status body.
    response = rest.get("/v1/agents", headers={"grpc-timeout": "1n"})
    assert response.status_code == 504
    assert response.json()["code"] == 4


def test_server_messages_are_sent_read_and_acknowledged_over_rest(rest: httpx.Client) -> None:
    sent = rest.post(
        "/v1/serverMessages:sendNotification",
        json={"notification": {"recipient": {"principal": "principals/admin"}, "text": "through REST", "priority": "PRIORITY_HIGH"}},
    )
    assert sent.status_code == 200, sent.text
    name = sent.json()["name"]
    assert sent.json()["deliveries"][0]["state"] == "STATE_QUEUED"
    inbox = rest.get("/v1/serverMessages", params={"filter": "read = false"}).json()["serverMessages"]
    assert name in [m["name"] for m in inbox]
    read = rest.post(f"/v1/{name}:acknowledge", json={})
    assert read.status_code == 200 and read.json()["state"] == "STATE_READ"
    assert rest.get(f"/v1/{name}").json()["state"] == "STATE_READ"
    assert rest.get("/v1/serverMessages:connections").status_code == 200
