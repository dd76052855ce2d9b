"""A real browser (headless Chromium, driven by Selenium) on the real-time channel through the gateway.

The page (browser/realtime.html) is served from another loopback port, so every call it makes is
cross-origin and passes the gateway's origin check. The test restarts the gateway under it: the page's
WebSocket resumes its subscription from its cursor, and its EventSource resumes a run with Last-Event-ID.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import grpc
import httpx
import pytest
from gateway_stack import Process, Stack, free_port, gateway_binary

from runwire.v1 import common_pb2, run_pb2, run_pb2_grpc

PAGE_DIR = Path(__file__).parent / "browser"
CHROMIUM = os.environ.get("RUNWIRE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("RUNWIRE_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
APPROVAL_DIRECTIVE = '[[tool:calculator {"expression": "6*7"}]]'
WAIT_S = 30
EVENT_STREAM = {"accept": "text/event-stream"}


def until(condition: Callable[[], Any], what: str) -> Any:
    """The first truthy value of condition, polled; fails with `what` when it never comes."""
    deadline = time.monotonic() + WAIT_S
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited in vain for {what}")
        time.sleep(0.05)
    return value


class Gateway:
    """The gateway binary on a fixed port, so it can be stopped and started again at the same address."""

    def __init__(self, stack: Stack, page_origin: str, log_dir: Path) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.address}"
        self.command = [str(gateway_binary()), "--listen", self.address, "--upstream", stack.grpc_address, "--cors-origins", page_origin]
        self.log_dir = log_dir
        self.starts = 0
        self.process: Process | None = None

    def start(self) -> None:
        self.starts += 1
        self.process = Process(self.command, self.log_dir / f"gateway-{self.starts}.log", dict(os.environ))
        self.process.wait_for("listening on")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def page_server() -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(PAGE_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway(stack: Stack, page_server: str, tmp_path: Path) -> Iterator[Gateway]:
    running = Gateway(stack, page_server, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are missing: `make chromium` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def page_results(driver: Any) -> dict:
    return json.loads(driver.find_element("id", "results").text)


def run_history(events: list[tuple[str | None, dict]]) -> tuple[list[tuple[str | None, dict]], str]:
    """The events other than text deltas, with their ids, and the text: what any replay of a run agrees on
    (a replay may merge consecutive text deltas into one event under the last one's seq)."""
    others = [(event_id, data) for event_id, data in events if "textDelta" not in data]
    return others, "".join(data["textDelta"]["text"] for _, data in events if "textDelta" in data)


def server_sent_events(response: httpx.Response) -> Iterator[tuple[str | None, dict]]:
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


def test_a_browser_follows_runs_across_gateway_restarts_without_loss(
    stack: Stack, rest: httpx.Client, page_server: str, gateway: Gateway, browser: Any
) -> None:
    tools = [{"name": "calculator", "requiresApproval": True}]
    agent = rest.post("/v1/agents", json={"displayName": "Browser agent", "tools": tools}).json()
    session = rest.post("/v1/sessions", json={"agent": agent["name"]}).json()["name"]
    metadata = (("x-api-key", stack.admin_key),)
    channel = grpc.insecure_channel(stack.grpc_address)
    runs = run_pb2_grpc.RunServiceStub(channel)

    def create_run() -> str:
        run = run_pb2.Run(session=session, input=[common_pb2.ContentPart(text=APPROVAL_DIRECTIVE)])
        return runs.CreateRun(run_pb2.CreateRunRequest(run=run), metadata=metadata).name

    def succeeded(run: str) -> Callable[[], bool]:
        return lambda: any(e["type"] == "run.succeeded" and e["resource"] == run for e in page_results(browser)["socket"]["events"])

    browser.get(f"{page_server}/realtime.html?" + urlencode({"gateway": gateway.url, "token": stack.admin_key}))
    start_cursor = until(lambda: page_results(browser)["socket"]["startCursor"], "the page's subscription")

    # The page answers the approval over the WebSocket and sees the run succeed.
    first = create_run()
    until(succeeded(first), f"{first} to succeed on the page")

    # The gateway goes away: the page is told, then reconnects and resumes from its cursor. The run created
    # meanwhile reaches it in full, and so does its approval request, which is still pending.
    gateway.stop()
    results = until(lambda: (r := page_results(browser))["socket"]["closes"] and r, "the page to see the close")
    assert results["socket"]["closes"][0]["code"] == 1001
    assert results["socket"]["goingAway"] == ["REASON_SHUTTING_DOWN"]
    second = create_run()
    gateway.start()
    until(succeeded(second), f"{second} to succeed on the page")
    results = page_results(browser)
    assert results["socket"]["opened"] == 2
    assert results["socket"]["answered"][-2:] == [first, second]

    # Exactly the events an uninterrupted subscription from the same start delivers, none twice.
    expected = []
    body = {"topics": ["EVENT_TOPIC_RUNS"], "cursor": start_cursor}
    with httpx.Client(base_url=gateway.url, headers={"x-api-key": stack.admin_key}, timeout=WAIT_S) as direct:
        with direct.stream("POST", "/v1/events:subscribe", json=body, headers=EVENT_STREAM) as response:
            for _, data in server_sent_events(response):
                if "caughtUp" in data:
                    break
                if "event" in data:
                    event = data["event"]
                    expected.append({"cursor": event["cursor"], "type": event["type"], "resource": event["resource"]})
    seen = results["socket"]["events"]
    assert seen == expected[: len(seen)]
    assert {(e["type"], e["resource"]) for e in seen} >= {("run.succeeded", first), ("run.succeeded", second)}

    # A service sends a notification: the page receives it over the WebSocket and acknowledges it, which its
    # sender sees as read.
    sent = rest.post(
        "/v1/serverMessages:sendNotification",
        json={"notification": {"recipient": {"everyone": True}, "title": "Maintenance", "text": "Back at noon", "priority": "PRIORITY_HIGH"}},
    )
    assert sent.status_code == 200, sent.text
    name = sent.json()["name"]
    notes = until(lambda: page_results(browser)["socket"]["notifications"], "the notification on the page")
    assert notes == [{"name": name, "title": "Maintenance", "text": "Back at noon", "priority": "PRIORITY_HIGH"}]
    until(lambda: rest.get(f"/v1/{name}").json().get("state") == "STATE_READ", "the notification to be read")

    # A run followed with EventSource: the gateway goes away while the run waits for its approval, which
    # is given meanwhile; EventSource reconnects with Last-Event-ID and receives the rest, once.
    browser.execute_script("stopSocket()")
    third = create_run()
    browser.execute_script("followRun(arguments[0])", third)
    until(lambda: any("inputRequired" in e["data"] for e in page_results(browser)["sse"]["events"]), "the input request")
    gateway.stop()
    pending = runs.GetRun(run_pb2.GetRunRequest(name=third), metadata=metadata).pending_input
    approve = run_pb2.Approval(decision=run_pb2.Approval.DECISION_APPROVE)
    runs.SubmitInput(run_pb2.SubmitInputRequest(name=third, input_request_id=pending.id, approval=approve), metadata=metadata)
    gateway.start()
    results = until(lambda: (r := page_results(browser))["sse"]["done"] and r, "the run's last event on the page")
    channel.close()
    assert results["sse"]["errors"] >= 1  # the drop happened while the stream was open
    followed = [(event["id"], event["data"]) for event in results["sse"]["events"]]
    seqs = [int(data["seq"]) for _, data in followed]
    assert seqs == sorted(set(seqs)) and [event_id for event_id, _ in followed] == [data["seq"] for _, data in followed]
    with rest.stream("GET", f"/v1/{third}:streamEvents", headers=EVENT_STREAM) as response:
        uninterrupted = list(server_sent_events(response))
    assert run_history(followed) == run_history(uninterrupted)
    assert "runCompleted" in followed[-1][1]

