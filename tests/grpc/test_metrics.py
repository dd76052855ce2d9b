"""Prometheus metrics, tested by scraping the HTTP endpoint while calls go through real stubs."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runwire.server.config import Bucket, RateLimitOverride, RateLimitSettings
from runwire.server.core import metrics
from runwire.v1 import agent_pb2
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, fails, running, secure_settings
from tests.redis_support import free_port

LIST_AGENTS = "/runwire.v1.AgentService/ListAgents"
GET_AGENT = "/runwire.v1.AgentService/GetAgent"
STREAM_RUN_EVENTS = "/runwire.v1.RunService/StreamRunEvents"
EXECUTE_AGENT = "/runwire.v1.RunService/ExecuteAgent"


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
            return response.read().decode()

    text = await asyncio.to_thread(fetch)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_calls_latency_streams_refusals_and_runs_are_scraped(tmp_path: Path) -> None:
    port = free_port()
    tiers = {t: {c: Bucket(1000, 1000) for c in ("read", "write", "run", "stream", "file", "admin")} for t in ("anonymous", "default", "premium")}
    override = RateLimitOverride(rate=0.01, burst=2, method=LIST_AGENTS)
    settings = secure_settings(tmp_path, metrics_port=port, rate_limits=RateLimitSettings(tiers=tiers, overrides=(override,)))
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        assert server.metrics_server is not None and server.metrics_server.port == port
        before = await scrape(port)
        key = await create_key(admin, "alice")
        async with caller(server, api_key(key.secret)) as alice, caller(server) as nobody:
            await alice.agents.ListAgents(agent_pb2.ListAgentsRequest())
            missing = await fails(alice.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/nope")))
            assert missing.code == grpc.StatusCode.NOT_FOUND
            await alice.agents.ListAgents(agent_pb2.ListAgentsRequest())
            refused = await fails(alice.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            assert refused.reason == "RATE_LIMITED"
            await fails(nobody.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            session = await alice.session()
            events = [e async for e in alice.execute(session.name, "[[tokens:4]]")]
            run = await alice.waiting_run(session.name)
            stream = alice.follow(run)
            await asyncio.wait_for(stream.initial_metadata(), 10)
            await server.gauges.refresh()
            during = await scrape(port)
            stream.cancel()
        for _ in range(100):
            after = await scrape(port)
            if value(after, "runwire_active_streams", method=STREAM_RUN_EVENTS) == value(before, "runwire_active_streams", method=STREAM_RUN_EVENTS):
                break
            await asyncio.sleep(0.05)

    def delta(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert delta("runwire_calls_total", method=LIST_AGENTS, code="OK") == 2
    assert delta("runwire_calls_total", method=GET_AGENT, code="NOT_FOUND") == 1
    assert delta("runwire_calls_total", method=LIST_AGENTS, code="RESOURCE_EXHAUSTED") == 1
    assert delta("runwire_calls_total", method=LIST_AGENTS, code="UNAUTHENTICATED") == 1
    assert delta("runwire_calls_total", method=EXECUTE_AGENT, code="OK") == 1
    assert delta("runwire_call_duration_seconds_count", method=LIST_AGENTS) == 4
    assert delta("runwire_call_duration_seconds_bucket", method=LIST_AGENTS, le="+Inf") == 4
    assert delta("runwire_stream_messages_sent_total", method=EXECUTE_AGENT) == len(events)
    assert delta("runwire_rate_limit_refusals_total", limit="rate", method_class="read", tier="default") == 1
    assert delta("runwire_auth_failures_total", reason="UNAUTHENTICATED") == 1
    assert delta("runwire_active_streams", method=STREAM_RUN_EVENTS) == 1
    assert value(during, "runwire_runs", status="requires_input") >= 1
    assert value(during, "runwire_build_info", version="0.1.0") == 1
    assert value(after, "runwire_active_streams", method=STREAM_RUN_EVENTS) == value(before, "runwire_active_streams", method=STREAM_RUN_EVENTS)


async def test_the_engine_facing_functions_feed_their_metrics(tmp_path: Path) -> None:
    port = free_port()
    async with running(secure_settings(tmp_path, metrics_port=port)):
        before = await scrape(port)
        metrics.run_started()
        metrics.run_finished("SUCCEEDED")
        metrics.tokens_streamed(42)
        metrics.set_batches({"running": 2})
        metrics.set_batch_tasks({"queued": 7, "running": 3})
        metrics.set_files({"processing": 1})
        metrics.file_bytes_uploaded(1024)
        after = await scrape(port)
    assert value(after, "runwire_runs_started_total") - value(before, "runwire_runs_started_total") == 1
    assert value(after, "runwire_runs_finished_total", status="succeeded") - value(before, "runwire_runs_finished_total", status="succeeded") == 1
    assert value(after, "runwire_tokens_streamed_total") - value(before, "runwire_tokens_streamed_total") == 42
    assert value(after, "runwire_batches", state="running") == 2
    assert value(after, "runwire_batch_tasks", state="queued") == 7
    assert value(after, "runwire_files", state="processing") == 1
    assert value(after, "runwire_file_bytes_uploaded_total") - value(before, "runwire_file_bytes_uploaded_total") == 1024


async def test_metrics_are_off_unless_a_port_is_given(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server:
        assert server.metrics_server is None


@pytest.mark.parametrize("port", [-1, 70000])
def test_a_bad_metrics_port_is_refused(port: int) -> None:
    from runwire.server.config import Settings, SettingsError

    with pytest.raises(SettingsError):
        Settings.load(env={"RUNWIRE_METRICS_PORT": str(port)})
