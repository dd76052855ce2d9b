"""Settings of authentication, rate limits, metrics and transport: parsing and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runwire.server.api.ratelimit import Limit, MemoryBuckets, RateLimiter, method_class
from runwire.server.config import Bucket, RateLimitOverride, RateLimitSettings, Settings, SettingsError
from runwire.server.core.principal import Principal
from runwire.server.logging_setup import redact


def test_defaults_are_secure() -> None:
    settings = Settings.load(env={})
    assert not settings.auth.insecure and not settings.auth.allow_anonymous
    assert settings.rate_limits.enabled and settings.rate_limits.max_streams_per_principal == 32
    assert settings.metrics_port == 0 and settings.log_format == "json" and settings.default_deadline_seconds == 60


def test_environment_variables_and_flags_reach_nested_settings() -> None:
    settings = Settings.load(
        env={
            "RUNWIRE_INSECURE_NO_AUTH": "yes",
            "RUNWIRE_RATE_LIMITS_ENABLED": "off",
            "RUNWIRE_MAX_STREAMS_PER_PRINCIPAL": "4",
            "RUNWIRE_JWT_ISSUER": "https://issuer",
            "RUNWIRE_API_KEY_CACHE_SECONDS": "1.5",
            "RUNWIRE_KEEPALIVE_PERMIT_WITHOUT_CALLS": "false",
        },
        metrics_port=9100,
        insecure_no_auth=None,
    )
    assert settings.auth.insecure and settings.auth.jwt_issuer == "https://issuer" and settings.auth.api_key_cache_seconds == 1.5
    assert not settings.rate_limits.enabled and settings.rate_limits.max_streams_per_principal == 4
    assert settings.metrics_port == 9100 and settings.keepalive_permit_without_calls is False
    assert Settings.load(env={}, insecure_no_auth=True).auth.insecure


def test_secrets_stay_out_of_the_settings_repr() -> None:
    secret = "rw_" + "s" * 40
    settings = Settings.load(env={"RUNWIRE_BOOTSTRAP_ADMIN_KEY": secret, "RUNWIRE_JWT_HS256_SECRET": "h" * 40, "RUNWIRE_REDIS_URL": "redis://:pw@x:6379/0"})
    assert secret not in repr(settings) and "h" * 40 not in repr(settings) and "pw@" not in repr(settings)


def test_rate_limit_tiers_and_overrides_from_json() -> None:
    tiers = {"default": {"execute": {"requests_per_second": 2, "burst": 5}, "read": None}, "premium": {"upload": {"requests_per_second": 1, "burst": 1}}}
    overrides = [
        {"method": "/runwire.v1.RunService/ExecuteAgent", "requests_per_second": 1, "burst": 2},
        {"principal": "svc:batch", "method_class": "METHOD_CLASS_RUN", "requests_per_second": 0, "burst": 0},
    ]
    settings = Settings.load(env={"RUNWIRE_RATE_LIMIT_TIERS": json.dumps(tiers), "RUNWIRE_RATE_LIMIT_OVERRIDES": json.dumps(overrides)})
    table = settings.rate_limits.tiers
    assert table["default"]["run"] == Bucket(2, 5) and "read" not in table["default"]
    assert table["premium"]["file"] == Bucket(1, 1) and table["default"]["write"] == Bucket(20, 100)
    assert settings.rate_limits.overrides == (
        RateLimitOverride(1, 2, method="/runwire.v1.RunService/ExecuteAgent"),
        RateLimitOverride(0, 0, principal="svc:batch", method_class="run"),
    )


@pytest.mark.parametrize(
    "env",
    [
        {"RUNWIRE_RATE_LIMIT_TIERS": "{not json"},
        {"RUNWIRE_RATE_LIMIT_TIERS": '{"gold": {}}'},
        {"RUNWIRE_RATE_LIMIT_TIERS": '{"default": {"sideways": {"requests_per_second": 1, "burst": 1}}}'},
        {"RUNWIRE_RATE_LIMIT_TIERS": '{"default": {"read": {"requests_per_second": 0, "burst": 1}}}'},
        {"RUNWIRE_RATE_LIMIT_TIERS": '{"default": {"read": {"requests_per_second": 1, "burst": 0}}}'},
        {"RUNWIRE_RATE_LIMIT_OVERRIDES": '[{"requests_per_second": 1, "burst": 1}]'},
        {"RUNWIRE_RATE_LIMIT_OVERRIDES": '[{"method": "ExecuteAgent", "requests_per_second": 1, "burst": 1}]'},
        {"RUNWIRE_RATE_LIMIT_OVERRIDES": '[{"principal": "a", "rps": 1}]'},
        {"RUNWIRE_AUTH_MODE": "trust-me"},
        {"RUNWIRE_BOOTSTRAP_ADMIN_KEY": "short"},
        {"RUNWIRE_JWT_HS256_SECRET": "too-short"},
        {"RUNWIRE_JWT_JWKS_FILE": "/no/such/file.json"},
        {"RUNWIRE_INSECURE_NO_AUTH": "maybe"},
        {"RUNWIRE_LOG_FORMAT": "xml"},
        {"RUNWIRE_REDIS_URL": "http://cache"},
        {"RUNWIRE_DEFAULT_DEADLINE_SECONDS": "-1"},
        {"RUNWIRE_MAX_STREAMS_PER_PRINCIPAL": "0"},
    ],
)
def test_bad_settings_are_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.load(env=env)


@pytest.mark.parametrize(
    "method, klass",
    [
        ("/runwire.v1.AgentService/GetAgent", "read"),
        ("/runwire.v1.MessageService/SearchMessages", "read"),
        ("/runwire.v1.SessionService/BatchDeleteSessions", "write"),
        ("/runwire.v1.RunService/ExecuteAgent", "run"),
        ("/runwire.v1.RunService/SubmitInput", "run"),
        ("/runwire.v1.RunService/StreamRunEvents", "stream"),
        ("/runwire.v1.RunService/CancelRun", "write"),
        ("/runwire.v1.FileService/UploadFile", "file"),
        ("/runwire.v1.AdminService/ListApiKeys", "admin"),
        ("/runwire.v1.ConfigService/UpdateConfig", "admin"),
    ],
)
def test_methods_fall_into_classes(method: str, klass: str) -> None:
    assert method_class(method) == klass


def test_token_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    limit = Limit("alice|read", Bucket(rate=2, burst=2), "principal:alice class:read", "read")
    assert [buckets.take_now(limit).allowed for _ in range(3)] == [True, True, False]
    refused = buckets.take_now(limit)
    assert refused.retry_after_seconds == pytest.approx(0.5) and refused.reset_seconds == pytest.approx(1.0)
    now[0] = 0.5
    allowed = buckets.take_now(limit)
    assert allowed.allowed and allowed.remaining == 0
    now[0] = 100
    assert buckets.take_now(limit).remaining == 1  # full again, less this call


def test_the_most_specific_override_wins() -> None:
    overrides = (
        RateLimitOverride(1, 1, method="/runwire.v1.AgentService/GetAgent"),
        RateLimitOverride(2, 2, principal="alice"),
        RateLimitOverride(3, 3, principal="alice", method="/runwire.v1.AgentService/GetAgent"),
        RateLimitOverride(4, 4, method_class="write"),
    )
    limiter = RateLimiter(RateLimitSettings(overrides=overrides), MemoryBuckets())
    alice, bob = Principal("alice"), Principal("bob")
    get = "/runwire.v1.AgentService/GetAgent"
    assert limiter.limit_for(alice, get).bucket == Bucket(3, 3)  # type: ignore[union-attr]
    assert limiter.limit_for(alice, "/runwire.v1.AgentService/ListAgents").bucket == Bucket(2, 2)  # type: ignore[union-attr]
    assert limiter.limit_for(bob, get).bucket == Bucket(1, 1)  # type: ignore[union-attr]
    assert limiter.limit_for(bob, "/runwire.v1.AgentService/CreateAgent").bucket == Bucket(4, 4)  # type: ignore[union-attr]
    assert limiter.limit_for(bob, "/runwire.v1.AgentService/ListAgents").bucket == Bucket(50, 200)  # type: ignore[union-attr]
    anonymous = Principal("anonymous", tier="anonymous")
    assert limiter.limit_for(anonymous, "/runwire.v1.AdminService/ListApiKeys") is None  # no admin bucket: unlimited


def test_log_output_masks_anything_shaped_like_a_secret() -> None:
    text = redact("key rw_" + "a" * 40 + " and Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln and authorization: bearer abc.def")
    assert "a" * 40 not in text and "eyJ" not in text and "abc.def" not in text and text.count("[REDACTED]") >= 3


def test_the_jwks_loader_needs_an_rsa_key(tmp_path: Path) -> None:
    from runwire.server.api.auth import load_jwks

    empty = tmp_path / "jwks.json"
    empty.write_text('{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')
    with pytest.raises(ValueError):
        load_jwks(empty)
