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

import bisect
import itertools
import logging
import math
import time
from typing import Any, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

log = logging.getLogger("runwire.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
# Whether series carry `_created` samples (PROMETHEUS_DISABLE_CREATED_SERIES), as prometheus_client decides for its own.
_use_created: bool = getattr(prometheus_metrics, "_use_created", True)

CALL_SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class _CallMetric:
    """One method's calls: counts by status code, and the duration histogram's buckets and sum."""

    __slots__ = ("codes", "buckets", "sum", "created", "codes_created")

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.codes_created: dict[str, float] = {}
        self.buckets = [0] * (len(CALL_SECONDS_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        self.created = time.time()


class CallMetrics(Collector):
    """runwire_calls (a counter by method and code) and runwire_call_duration_seconds (a histogram by method).

    Every call adds to plain per-method numbers, without the locks and label lookups of prometheus_client's
    Counter and Histogram (the event loop is their only writer); a scrape turns them into the same series
    those would expose, `_created` included."""

    def __init__(self) -> None:
        self._methods: dict[str, _CallMetric] = {}
        self._bounds = [floatToGoString(b) for b in (*CALL_SECONDS_BUCKETS, math.inf)]

    def record(self, method: str, code_name: str, seconds: float) -> None:
        metric = self._methods.get(method)
        if metric is None:
            metric = self._methods[method] = _CallMetric()
        codes = metric.codes
        if code_name in codes:
            codes[code_name] += 1
        else:
            codes[code_name] = 1
            metric.codes_created[code_name] = time.time()
        metric.buckets[bisect.bisect_left(CALL_SECONDS_BUCKETS, seconds)] += 1
        metric.sum += seconds

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily("runwire_calls", "Finished calls by method and status code.", labels=["method", "code"])
        seconds = HistogramMetricFamily(
            "runwire_call_duration_seconds",
            "Time from the start of a call to its status, by method (streams: their whole life).",
            labels=["method"],
        )
        # Copies under the GIL: the event loop adds methods and codes while a scrape reads them.
        for method, metric in list(self._methods.items()):
            created = dict(metric.codes_created) if _use_created else {}
            for code_name, count in list(metric.codes.items()):
                calls.add_metric([method, code_name], count, created=created.get(code_name))
            counts, total = list(metric.buckets), metric.sum
            cumulative = list(itertools.accumulate(counts))
            seconds.add_metric([method], list(zip(self._bounds, cumulative, strict=True)), total)
            if _use_created:
                seconds.samples.append(Sample("runwire_call_duration_seconds_created", {"method": method}, metric.created))
        yield calls
        yield seconds


CALLS = CallMetrics()
REGISTRY.register(CALLS)
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
_streams: dict[str, Any] = {}
_stream_messages: dict[str, Any] = {}


call_finished = CALLS.record


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

