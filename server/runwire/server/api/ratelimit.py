"""Rate limits: a token bucket per principal and method class (or per overridden method), sized by tier.

Classes follow runwire.v1.RateLimitBucket.MethodClass: `read` (Get, List,
Search), `write` (everything else that changes state), `run` (starting work:
ExecuteAgent, StreamTokens, CreateRun, SubmitInput, CreateBatch, AnalyzeFile),
`stream` (opening streams that follow something), `file` (UploadFile,
DownloadFile) and `admin` (ConfigService, AdminService). Overrides from the
configuration win over tiers, the most specific first: principal and method,
then principal, then method.

Buckets live in this process by default (`MemoryBuckets`, no I/O at all), or
in Redis (`RedisBuckets`, one EVALSHA of a Lua script per call) so that every
replica shares them. Open streams per principal are counted per replica.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol, cast

from runwire.server.config import Bucket, RateLimitOverride, RateLimitSettings
from runwire.server.core.errors import QuotaViolation, ResourceExhausted
from runwire.server.core.principal import Principal

log = logging.getLogger("runwire.ratelimit")

_RUN_METHODS = frozenset(
    {
        "/runwire.v1.RunService/ExecuteAgent",
        "/runwire.v1.RunService/StreamTokens",
        "/runwire.v1.RunService/CreateRun",
        "/runwire.v1.RunService/SubmitInput",
        "/runwire.v1.BatchService/CreateBatch",
        "/runwire.v1.FileService/AnalyzeFile",
    }
)
_STREAM_METHODS = frozenset(
    {
        "/runwire.v1.RunService/StreamRunEvents",
        "/runwire.v1.FileService/WatchFile",
        "/runwire.v1.BatchService/WatchBatch",
        "/runwire.v1.EventService/Subscribe",
        "/runwire.v1.EventService/Connect",
    }
)
_FILE_METHODS = frozenset({"/runwire.v1.FileService/UploadFile", "/runwire.v1.FileService/DownloadFile"})
_ADMIN_SERVICES = ("/runwire.v1.ConfigService/", "/runwire.v1.AdminService/")
_READ_VERBS = ("Get", "List", "Search", "Check", "Validate")
# A bucket blocked by configuration (rate 0) asks callers to come back after this long.
BLOCKED_RETRY_SECONDS = 3600.0


def method_class(method: str) -> str:
    if method in _RUN_METHODS:
        return "run"
    if method in _STREAM_METHODS:
        return "stream"
    if method in _FILE_METHODS:
        return "file"
    if method.startswith(_ADMIN_SERVICES):
        return "admin"
    if method.rpartition("/")[2].startswith(_READ_VERBS):
        return "read"
    return "write"


@dataclass(frozen=True, slots=True)
class Limit:
    """The bucket one call draws from: its key and its size."""

    key: str
    bucket: Bucket
    subject: str
    method_class: str


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field, on every call
class Decision:
    allowed: bool
    limit: int
    remaining: int
    # Seconds until the bucket is full again, and until one call is allowed (0 when allowed).
    reset_seconds: float
    retry_after_seconds: float

    def headers(self) -> tuple[tuple[str, str], ...]:
        values = (
            _kept_header(_LIMIT_HEADERS, "x-ratelimit-limit", self.limit),
            ("x-ratelimit-remaining", str(self.remaining)),
            _kept_header(_RESET_HEADERS, "x-ratelimit-reset", math.ceil(self.reset_seconds)),
        )
        if not self.allowed:
            return (*values, ("retry-after", str(max(1, math.ceil(self.retry_after_seconds)))))
        return values


# The limit and reset headers take few values (bucket sizes; seconds until full): each is made once.
_LIMIT_HEADERS: dict[int, tuple[str, str]] = {}
_RESET_HEADERS: dict[int, tuple[str, str]] = {}
MAX_KEPT_HEADERS = 4096


def _kept_header(kept: dict[int, tuple[str, str]], name: str, value: int) -> tuple[str, str]:
    header = kept.get(value)
    if header is None:
        if len(kept) >= MAX_KEPT_HEADERS:
            kept.clear()
        header = kept[value] = (name, str(value))
    return header


def decide(tokens_after: float, allowed: bool, bucket: Bucket) -> Decision:
    rate, burst = bucket.rate, bucket.burst
    if rate <= 0:
        return Decision(False, burst, 0, BLOCKED_RETRY_SECONDS, BLOCKED_RETRY_SECONDS)
    remaining = max(0, int(tokens_after))
    reset = max(0.0, (burst - tokens_after) / rate)
    retry = 0.0 if allowed else max(0.0, (1.0 - tokens_after) / rate)
    return Decision(allowed, burst, remaining, reset, retry)


class Buckets(Protocol):
    name: str

    async def take(self, limit: Limit) -> Decision: ...

    async def close(self) -> None: ...


class MemoryBuckets:
    """Token buckets in this process: a dict of [tokens, last refill time]."""

    name = "memory"

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[str, list[float]] = {}
        self._takes = 0

    def take_now(self, limit: Limit) -> Decision:
        bucket = limit.bucket
        if bucket.rate <= 0:
            return decide(0.0, False, bucket)
        now = self._clock()
        state = self._state.get(limit.key)
        if state is None:
            state = self._state[limit.key] = [float(bucket.burst), now]
            self._takes += 1
            if self._takes >= 10_000:
                self._prune(now)
        rate, burst = bucket.rate, bucket.burst
        tokens = state[0] + (now - state[1]) * rate
        if tokens > burst:
            tokens = float(burst)
        state[1] = now
        if tokens >= 1.0:
            tokens -= 1.0
            state[0] = tokens
            # decide(tokens, True, bucket), inline: every allowed call comes here.
            return Decision(True, burst, int(tokens), (burst - tokens) / rate, 0.0)
        state[0] = tokens
        return decide(tokens, False, bucket)

    async def take(self, limit: Limit) -> Decision:
        return self.take_now(limit)

    def _prune(self, now: float) -> None:
        # Buckets untouched for an hour are full again (no tier refills that slowly): forgetting them changes nothing.
        self._takes = 0
        stale = [key for key, (_, last) in self._state.items() if now - last > 3600]
        for key in stale:
            del self._state[key]

    async def close(self) -> None:
        self._state.clear()


# KEYS[1]: the bucket. ARGV: rate per second, burst. Redis's own clock, so replicas agree.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    """Token buckets in Redis, shared by every replica. If Redis fails, calls are let through (and logged)."""

    name = "redis"

    def __init__(self, url: str, key_prefix: str) -> None:
        import redis.asyncio as redis_asyncio

        self.client = redis_asyncio.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self.client.register_script(TOKEN_BUCKET_LUA)
        self._prefix = f"{key_prefix}ratelimit:"
        self._last_failure_log = 0.0

    async def take(self, limit: Limit) -> Decision:
        bucket = limit.bucket
        if bucket.rate <= 0:
            return decide(0.0, False, bucket)
        try:
            allowed, tokens = await self._script(keys=[self._prefix + limit.key], args=[bucket.rate, bucket.burst])
        except Exception as exc:  # fail open: a Redis outage must not take the API down with it
            now = time.monotonic()
            if now - self._last_failure_log > 30:
                self._last_failure_log = now
                log.error("rate limiting through Redis failed; letting calls through: %s", type(exc).__name__)
            return Decision(True, bucket.burst, bucket.burst, 0.0, 0.0)
        return decide(float(tokens), bool(int(allowed)), bucket)

    async def close(self) -> None:
        await self.client.aclose()


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, buckets: Buckets) -> None:
        self.settings = settings
        self.buckets = buckets
        # Buckets of this process: check_now() answers without waiting.
        self.in_process = type(buckets) is MemoryBuckets
        self._limits: dict[tuple[str, str, str], Limit | None] = {}
        self._by_principal_method: dict[tuple[str, str], RateLimitOverride] = {}
        self._by_principal_class: dict[tuple[str, str], RateLimitOverride] = {}
        self._by_method: dict[str, RateLimitOverride] = {}
        self._by_class: dict[str, RateLimitOverride] = {}
        for o in settings.overrides:
            if o.principal and o.method:
                self._by_principal_method[(o.principal, o.method)] = o
            elif o.principal:
                self._by_principal_class[(o.principal, o.method_class)] = o
            elif o.method:
                self._by_method[o.method] = o
            else:
                self._by_class[o.method_class] = o

    def limit_for(self, principal: Principal, method: str) -> Limit | None:
        """The bucket a call draws from, or None when it is unlimited. Resolved once per (principal, tier, method)."""
        cache_key = (principal.id, principal.tier, method)
        try:
            return self._limits[cache_key]
        except KeyError:
            pass
        limit = self._resolve(principal, method)
        if len(self._limits) >= 100_000:
            self._limits.clear()
        self._limits[cache_key] = limit
        return limit

    def _resolve(self, principal: Principal, method: str) -> Limit | None:
        klass = method_class(method)
        who = principal.id
        override = self._by_principal_method.get((who, method))
        if override is not None:
            return Limit(f"{who}|{method}", Bucket(override.rate, override.burst), f"principal:{who} method:{method}", klass)
        override = self._by_principal_class.get((who, klass)) or self._by_principal_class.get((who, ""))
        if override is not None:
            return Limit(f"{who}|p:{klass}", Bucket(override.rate, override.burst), f"principal:{who} class:{klass}", klass)
        override = self._by_method.get(method)
        if override is not None:
            return Limit(f"{who}|{method}", Bucket(override.rate, override.burst), f"principal:{who} method:{method}", klass)
        override = self._by_class.get(klass)
        if override is not None:
            return Limit(f"{who}|c:{klass}", Bucket(override.rate, override.burst), f"principal:{who} class:{klass}", klass)
        bucket = self.settings.tiers.get(principal.tier, {}).get(klass)
        if bucket is None:
            return None
        return Limit(f"{who}|{klass}", bucket, f"principal:{who} class:{klass}", klass)

    def check_now(self, principal: Principal, method: str) -> tuple[Limit, Decision] | None:
        """check() for buckets in this process (`in_process`), without a coroutine."""
        limit = self.limit_for(principal, method)
        if limit is None:
            return None
        return limit, cast(MemoryBuckets, self.buckets).take_now(limit)

    async def check(self, principal: Principal, method: str) -> tuple[Limit, Decision] | None:
        if self.in_process:  # no await: nothing to wait for
            return self.check_now(principal, method)
        limit = self.limit_for(principal, method)
        if limit is None:
            return None
        return limit, await self.buckets.take(limit)

    async def close(self) -> None:
        await self.buckets.close()


def rate_limited(principal: Principal, method: str, limit: Limit, decision: Decision) -> ResourceExhausted:
    retry = decision.retry_after_seconds
    rate = limit.bucket.rate
    description = (
        f"{rate:g} calls per second, bursts of {limit.bucket.burst} ({principal.tier} tier, {limit.method_class} calls)"
        if rate > 0
        else f"{limit.method_class} calls are blocked for this caller by configuration"
    )
    return ResourceExhausted(
        f"rate limit reached for {limit.method_class} calls; retry in {max(retry, 0.001):.3g}s",
        reason="RATE_LIMITED",
        quota_violations=[QuotaViolation(subject=limit.subject, description=description)],
        metadata={"method_class": limit.method_class, "tier": principal.tier, "method": method},
        retry_after_seconds=retry,
    )


class StreamSlots:
    """Open server-streaming and bidirectional calls per principal, on this replica."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, principal: Principal) -> bool:
        count = self._open.get(principal.id, 0)
        if count >= self.limit:
            return False
        self._open[principal.id] = count + 1
        return True

    def release(self, principal: Principal) -> None:
        count = self._open.get(principal.id, 0) - 1
        if count > 0:
            self._open[principal.id] = count
        else:
            self._open.pop(principal.id, None)


def stream_limit_exceeded(principal: Principal, limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the caller has {limit} streams open, the most allowed; close one first",
        reason="STREAM_LIMIT_EXCEEDED",
        quota_violations=[QuotaViolation(subject=f"principal:{principal.id}", description=f"at most {limit} open streams")],
        metadata={"limit": str(limit)},
        retry_after_seconds=1.0,
    )
