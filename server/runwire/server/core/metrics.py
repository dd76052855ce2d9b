"""Prometheus metrics, served over HTTP on their own port (`--metrics-port`, 127.0.0.1 by default).

The call interceptor records the call-level metrics. The rest of the server
reports through the small functions below, which are cheap enough for hot
paths and never fail:

    metrics.run_started()                      # a run left QUEUED for RUNNING
    metrics.run_finished("succeeded")          # a run ended: succeeded, failed, cancelled, timed_out
    metrics.tokens_streamed(n)                 # n output tokens produced by a provider
    metrics.set_runs_by_status({"queued": 3})  # the server refreshes this from the database on its own
    metrics.set_batches({"running": 1}) / metrics.set_batch_tasks({"queued": 10})
    metrics.set_files({"processing": 2}) / metrics.file_bytes_uploaded(n)

Every metric lives in one registry, `REGISTRY`, which the HTTP endpoint serves.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("runwire.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)

CALLS = Counter("runwire_calls", "Finished calls by method and status code.", ["method", "code"], registry=REGISTRY)
CALL_SECONDS = Histogram(
    "runwire_call_duration_seconds",
    "Time from the start of a call to its status, by method (streams: their whole life).",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
ACTIVE_STREAMS = Gauge("runwire_active_streams", "Open streaming calls by method.", ["method"], registry=REGISTRY)
STREAM_MESSAGES = Counter(
    "runwire_stream_messages_sent", "Messages sent on server-streaming calls, by method.", ["method"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "runwire_rate_limit_refusals",
    "Calls refused by a rate limit (`limit`: rate or streams), by method class and tier.",
    ["limit", "method_class", "tier"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "runwire_auth_failures", "Calls refused as UNAUTHENTICATED, by ErrorInfo reason.", ["reason"], registry=REGISTRY
)
RUNS = Gauge("runwire_runs", "Runs not yet ended, by status (refreshed from the database).", ["status"], registry=REGISTRY)
RUNS_STARTED = Counter("runwire_runs_started", "Runs that started executing.", registry=REGISTRY)
RUNS_FINISHED = Counter("runwire_runs_finished", "Runs that ended, by final status.", ["status"], registry=REGISTRY)
TOKENS = Counter("runwire_tokens_streamed", "Output tokens produced by model providers.", registry=REGISTRY)
BATCHES = Gauge("runwire_batches", "Batches by state.", ["state"], registry=REGISTRY)
BATCH_TASKS = Gauge("runwire_batch_tasks", "Batch tasks by state.", ["state"], registry=REGISTRY)
FILES = Gauge("runwire_files", "Files by processing state.", ["state"], registry=REGISTRY)
FILE_BYTES = Counter("runwire_file_bytes_uploaded", "Bytes of files uploaded.", registry=REGISTRY)
INFO = Gauge("runwire_build_info", "Always 1; labels describe the server.", ["version"], registry=REGISTRY)

# Labelled children are looked up once and kept: prometheus_client's .labels() takes a lock and builds a tuple.
_calls: dict[tuple[str, str], Any] = {}
_seconds: dict[str, Any] = {}
_streams: dict[str, Any] = {}
_stream_messages: dict[str, Any] = {}


def call_finished(method: str, code_name: str, seconds: float) -> None:
    key = (method, code_name)
    counter = _calls.get(key)
    if counter is None:
        counter = _calls[key] = CALLS.labels(method, code_name)
    counter.inc()
    histogram = _seconds.get(method)
    if histogram is None:
        histogram = _seconds[method] = CALL_SECONDS.labels(method)
    histogram.observe(seconds)


def stream_gauge(method: str) -> Any:
    gauge = _streams.get(method)
    if gauge is None:
        gauge = _streams[method] = ACTIVE_STREAMS.labels(method)
    return gauge


def stream_messages(method: str) -> Any:
    counter = _stream_messages.get(method)
    if counter is None:
        counter = _stream_messages[method] = STREAM_MESSAGES.labels(method)
    return counter


def rate_limited(limit: str, method_class: str, tier: str) -> None:
    RATE_LIMITED.labels(limit, method_class, tier).inc()


def auth_failed(reason: str) -> None:
    AUTH_FAILURES.labels(reason).inc()


# -- for the engine, batches and files ----------------------------------------------


def run_started() -> None:
    RUNS_STARTED.inc()


def run_finished(status: str) -> None:
    """`status`: succeeded, failed, cancelled or timed_out."""
    RUNS_FINISHED.labels(status.lower()).inc()


def tokens_streamed(count: int) -> None:
    if count > 0:
        TOKENS.inc(count)


def _set_all(gauge: Gauge, values: Mapping[str, float], known: set[str]) -> None:
    for state in known - set(values):
        gauge.labels(state).set(0)
    for state, value in values.items():
        gauge.labels(state.lower()).set(value)
        known.add(state.lower())


_run_states: set[str] = set()
_batch_states: set[str] = set()
_task_states: set[str] = set()
_file_states: set[str] = set()


def set_runs_by_status(counts: Mapping[str, float]) -> None:
    _set_all(RUNS, counts, _run_states)


def set_batches(counts: Mapping[str, float]) -> None:
    _set_all(BATCHES, counts, _batch_states)


def set_batch_tasks(counts: Mapping[str, float]) -> None:
    _set_all(BATCH_TASKS, counts, _task_states)


def set_files(counts: Mapping[str, float]) -> None:
    _set_all(FILES, counts, _file_states)


def file_bytes_uploaded(count: int) -> None:
    if count > 0:
        FILE_BYTES.inc(count)


# -- the HTTP endpoint -----------------------------------------------------------------


class MetricsServer:
    """GET /metrics on host:port in a daemon thread (prometheus_client's WSGI server)."""

    def __init__(self, host: str, port: int, version: str) -> None:
        INFO.labels(version).set(1)
        self._httpd, self._thread = start_http_server(port, addr=host, registry=REGISTRY)
        self.port: int = self._httpd.server_address[1]
        self.host = host

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

