"""Rate limits through real stubs: buckets per principal and method class, tiers, overrides, stream limits.

Every test of the buckets runs twice: with the in-process buckets and with a
real Redis started by the test set-up (the `redis_server` fixture).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest

from runwire.server.config import Bucket, RateLimitOverride, RateLimitSettings
from runwire.v1 import admin_pb2, agent_pb2, common_pb2, run_pb2
from tests.grpc.secure_support import (
    ADMIN_KEY,
    api_key,
    auth_settings,
    caller,
    create_key,
    fails,
    running,
    secure_settings,
)
from tests.redis_support import RedisServer

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
GENEROUS = Bucket(1000, 1000)


def tiers(**default: Bucket) -> dict[str, dict[str, Bucket]]:
    """Small buckets for the default tier where given; everything else generous so set-up calls pass."""
    generous = {c: GENEROUS for c in ("read", "write", "run", "stream", "file", "admin")}
    return {
        "anonymous": dict(generous),
        "default": {**generous, **default},
        "premium": {c: Bucket(1000, 1000) for c in generous},
    }


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def limited_settings(tmp_path: Path, backend: str, redis: RedisServer | None, **limits: object):  # type: ignore[no-untyped-def]
    extra: dict[str, object] = {}
    if backend == "redis":
        assert redis is not None
        extra = {"redis_url": redis.url, "redis_key_prefix": f"test-{uuid.uuid4().hex[:8]}:"}
    return secure_settings(tmp_path, rate_limits=RateLimitSettings(**limits), **extra)  # type: ignore[arg-type]


@pytest.fixture
def redis_if_needed(backend: str, request: pytest.FixtureRequest) -> RedisServer | None:
    return request.getfixturevalue("redis_server") if backend == "redis" else None


def headers(metadata: object) -> dict[str, str]:
    return {k: v for k, v in (metadata or ()) if k.startswith(("x-ratelimit", "retry-after"))}  # type: ignore[attr-defined]


async def test_a_bucket_runs_out_refuses_with_details_and_refills(tmp_path: Path, backend: str, redis_if_needed: RedisServer | None) -> None:
    settings = limited_settings(tmp_path, backend, redis_if_needed, tiers=tiers(read=Bucket(5, 3)))
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        assert server.rate_limiter is not None and server.rate_limiter.buckets.name == backend
        alice_key = await create_key(admin, "alice")
        async with caller(server, api_key(alice_key.secret)) as alice:
            remaining = []
            for _ in range(3):
                call = alice.agents.ListAgents(agent_pb2.ListAgentsRequest())
                await call
                meta = headers(await call.trailing_metadata())
                assert meta["x-ratelimit-limit"] == "3" and "retry-after" not in meta
                remaining.append(meta["x-ratelimit-remaining"])
            assert remaining == ["2", "1", "0"]
            refused = await fails(alice.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            assert (refused.code, refused.reason) == (RESOURCE_EXHAUSTED, "RATE_LIMITED")
            assert refused.retry_delay is not None and 0 < refused.retry_delay <= 0.2 + 1e-6
            assert refused.quota == ["principal:alice class:read"]
            assert refused.metadata["method_class"] == "read" and refused.metadata["tier"] == "default"
            assert refused.trailers["retry-after"] == "1"
            assert refused.trailers["x-ratelimit-limit"] == "3" and refused.trailers["x-ratelimit-remaining"] == "0"
            assert int(refused.trailers["x-ratelimit-reset"]) >= 1
            # Other classes have their own buckets, and other principals too.
            await alice.agent()
            bob_key = await create_key(admin, "bob")
            async with caller(server, api_key(bob_key.secret)) as bob:
                await bob.agents.ListAgents(agent_pb2.ListAgentsRequest())
            # The bucket refills at 5 per second.
            await asyncio.sleep(refused.retry_delay + 0.05)
            await alice.agents.ListAgents(agent_pb2.ListAgentsRequest())


async def test_streaming_calls_are_limited_too(tmp_path: Path, backend: str, redis_if_needed: RedisServer | None) -> None:
    settings = limited_settings(tmp_path, backend, redis_if_needed, tiers=tiers(run=Bucket(0.01, 1), stream=Bucket(0.01, 1)))
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        key = await create_key(admin, "carol")
        async with caller(server, api_key(key.secret)) as carol:
            session = await carol.session()
            stream = carol.execute(session.name, "[[tokens:3]]")
            assert headers(await stream.initial_metadata())["x-ratelimit-remaining"] == "0"
            events = [e async for e in stream]
            run = events[0].run
            again = await fails(carol.execute(session.name, "[[tokens:3]]"))
            assert (again.code, again.reason, again.metadata["method_class"]) == (RESOURCE_EXHAUSTED, "RATE_LIMITED", "run")
            assert again.trailers["x-ratelimit-limit"] == "1"
            follow = carol.follow(run)
            assert [e async for e in follow]
            refused = await fails(carol.follow(run))
            assert (refused.code, refused.reason, refused.metadata["method_class"]) == (RESOURCE_EXHAUSTED, "RATE_LIMITED", "stream")
            assert refused.retry_delay is not None and refused.retry_delay > 50


async def test_overrides_win_over_tiers_most_specific_first(tmp_path: Path, backend: str, redis_if_needed: RedisServer | None) -> None:
    overrides = (
        RateLimitOverride(rate=0.01, burst=1, method="/runwire.v1.RunService/ExecuteAgent"),
        RateLimitOverride(rate=0.01, burst=3, principal="vip", method="/runwire.v1.RunService/ExecuteAgent"),
        RateLimitOverride(rate=0, burst=0, principal="banned", method_class="write"),
    )
    settings = limited_settings(tmp_path, backend, redis_if_needed, tiers=tiers(), overrides=overrides)
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        plain, vip, banned = [await create_key(admin, p) for p in ("plain", "vip", "banned")]
        async with caller(server, api_key(plain.secret)) as someone:
            session = await someone.session()
            [e async for e in someone.execute(session.name, "hi")]
            refused = await fails(someone.execute(session.name, "hi"))
            assert refused.reason == "RATE_LIMITED" and refused.quota == ["principal:plain method:/runwire.v1.RunService/ExecuteAgent"]
            # The same class through another method is not affected.
            await someone.runs.CreateRun(
                run_pb2.CreateRunRequest(run=run_pb2.Run(session=session.name, input=[common_pb2.ContentPart(text="hi")]))
            )
        async with caller(server, api_key(vip.secret)) as vip_caller:
            session = await vip_caller.session()
            for _ in range(3):
                [e async for e in vip_caller.execute(session.name, "hi")]
            assert (await fails(vip_caller.execute(session.name, "hi"))).reason == "RATE_LIMITED"
        async with caller(server, api_key(banned.secret)) as banned_caller:
            await banned_caller.agents.ListAgents(agent_pb2.ListAgentsRequest())  # reads still work
            blocked = await fails(banned_caller.agent())
            assert blocked.reason == "RATE_LIMITED" and blocked.retry_delay == 3600


async def test_tiers_size_the_buckets(tmp_path: Path, backend: str, redis_if_needed: RedisServer | None) -> None:
    table = tiers(write=Bucket(0.01, 1))
    table["premium"]["write"] = Bucket(0.01, 3)
    settings = limited_settings(tmp_path, backend, redis_if_needed, tiers=table)
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        default_key = await create_key(admin, "dora")
        premium_key = await create_key(admin, "petra", tier=common_pb2.TIER_PREMIUM)
        async with caller(server, api_key(default_key.secret)) as dora, caller(server, api_key(premium_key.secret)) as petra:
            await dora.agent()
            assert (await fails(dora.agent())).metadata["tier"] == "default"
            for _ in range(3):
                await petra.agent()
            refused = await fails(petra.agent())
            assert refused.metadata["tier"] == "premium" and refused.trailers["x-ratelimit-limit"] == "3"


async def test_open_streams_per_principal_are_capped(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path, rate_limits=RateLimitSettings(tiers=tiers(), max_streams_per_principal=2))
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        key = await create_key(admin, "erin")
        async with caller(server, api_key(key.secret)) as erin:
            run = await erin.waiting_run()
            first, second = erin.follow(run), erin.follow(run)
            for stream in (first, second):
                await asyncio.wait_for(stream.initial_metadata(), 10)
            refused = await fails(erin.follow(run))
            assert (refused.code, refused.reason) == (RESOURCE_EXHAUSTED, "STREAM_LIMIT_EXCEEDED")
            assert refused.quota == ["principal:erin"]
            # Another principal is not affected.
            async with caller(server, api_key(ADMIN_KEY)) as admin_streams:
                other = admin_streams.follow(run)
                await asyncio.wait_for(other.initial_metadata(), 10)
                other.cancel()
            first.cancel()
            for _ in range(100):  # the server sees the cancellation shortly after
                third = erin.follow(run)
                # An admitted stream sends its headers at once; a refused one ends with none.
                if "x-request-id" in dict(await asyncio.wait_for(third.initial_metadata(), 10)):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("a stream slot was never freed")
            third.cancel()
            second.cancel()


async def test_revocations_reach_other_replicas_through_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    """Two servers over one database and one Redis: a key revoked on one is refused by the other at once,
    although the other would otherwise trust it from memory for a minute."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    auth = auth_settings(api_key_cache_seconds=60)
    first_settings = secure_settings(tmp_path, auth=auth, redis_url=redis_server.url, redis_key_prefix=prefix)
    async with running(first_settings) as first, running(first_settings) as second:
        async with caller(first, api_key(ADMIN_KEY)) as admin:
            key = await create_key(admin, "mallory")
            async with caller(second, api_key(key.secret)) as on_second:
                await on_second.agents.ListAgents(agent_pb2.ListAgentsRequest())  # cached on the second server
                await admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=key.api_key.name))
                for _ in range(100):
                    try:
                        await on_second.agents.ListAgents(agent_pb2.ListAgentsRequest())
                    except grpc.aio.AioRpcError as error:
                        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the second server kept trusting the revoked key")
