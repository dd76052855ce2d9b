"""Authentication through real stubs: API keys (AdminService), JWTs (HS256, RS256 from a JWKS file), bootstrap,
insecure mode, anonymous callers, and what stays open (health, reflection)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import AsyncIterator, Callable

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from runwire.server.app import RunwireServer
from runwire.server.domain.api_keys import hash_secret
from runwire.v1 import admin_pb2, agent_pb2, common_pb2
from tests.grpc.secure_support import (
    ADMIN_KEY,
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    Caller,
    api_key,
    auth_settings,
    bearer,
    caller,
    create_key,
    fails,
    hs256_token,
    running,
    secure_settings,
)

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as instance:
        yield instance


@pytest.fixture
async def admin(server: RunwireServer) -> AsyncIterator[Caller]:
    async with caller(server, api_key(ADMIN_KEY)) as c:
        yield c


@pytest.fixture
async def anonymous(server: RunwireServer) -> AsyncIterator[Caller]:
    async with caller(server) as c:
        yield c


# -- no credentials ------------------------------------------------------------------


async def test_a_call_without_credentials_is_unauthenticated_unary_and_streaming(anonymous: Caller) -> None:
    unary = await fails(anonymous.agents.ListAgents(agent_pb2.ListAgentsRequest()))
    assert unary.code == UNAUTHENTICATED and unary.reason == "UNAUTHENTICATED"
    assert "x-api-key" in unary.message and unary.request_id
    streaming = await fails(anonymous.follow("runs/abcd"))
    assert streaming.code == UNAUTHENTICATED and streaming.reason == "UNAUTHENTICATED"
    executing = await fails(anonymous.execute("sessions/abcd", "hi"))
    assert executing.code == UNAUTHENTICATED


async def test_health_and_reflection_stay_open(anonymous: Caller) -> None:
    health = health_pb2_grpc.HealthStub(anonymous.channel)
    response = await health.Check(health_pb2.HealthCheckRequest(service="runwire.v1.AdminService"))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(anonymous.channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for item in responses:
        assert "runwire.v1.AgentService" in {s.name for s in item.list_services_response.service}
        break


# -- API keys ------------------------------------------------------------------------


async def test_an_admin_creates_a_key_whose_secret_is_shown_once(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "alice", tier=common_pb2.TIER_PREMIUM)
    key = created.api_key
    assert created.secret.startswith("rw_") and len(created.secret) == 43
    assert key.key_prefix == created.secret[:12]
    assert key.principal == "alice" and key.role == admin_pb2.ApiKey.ROLE_USER and key.tier == 3
    assert key.state == admin_pb2.ApiKey.STATE_ACTIVE and key.created_by == "admin"
    # Only a hash is stored, and no read returns the secret again.
    fetched = await admin.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=key.name))
    listed = await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(filter='principal = "alice"'))
    assert fetched == key and list(listed.api_keys) == [key]
    assert created.secret not in str(fetched) + str(listed)
    row = await server.api_keys.find_by_secret(created.secret)
    assert row is not None and row.secret_hash == hash_secret(created.secret) and created.secret not in repr(vars(row))

    async with caller(server, api_key(created.secret)) as alice:
        agent = await alice.agent("alice's")
        assert agent.owner == "alice"
    async with caller(server, bearer(created.secret)) as alice_bearer:
        assert (await alice_bearer.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name))).owner == "alice"


async def test_a_retried_create_returns_the_key_without_its_secret(admin: Caller) -> None:
    request = admin_pb2.CreateApiKeyRequest(
        api_key=admin_pb2.ApiKey(display_name="ci", principal="svc:ci"), request_id="0b6c8a0e-2a55-4f4e-9c1c-0f0a1a2b3c4d"
    )
    first = await admin.admin.CreateApiKey(request)
    again = await admin.admin.CreateApiKey(request)
    assert first.secret and not again.secret and again.api_key.name == first.api_key.name


async def test_create_rejects_bad_keys_with_field_details(admin: Caller) -> None:
    failure = await fails(
        admin.admin.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(principal="no spaces allowed", tier=1))
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    past = admin_pb2.ApiKey(display_name="old", principal="bob")
    past.expire_time.FromSeconds(int(time.time()) - 60)
    expired = await fails(admin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(api_key=past)))
    assert expired.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_revoked_key_is_refused_at_once_even_while_cached(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "bob")
    async with caller(server, api_key(created.secret)) as bob:
        await bob.agents.ListAgents(agent_pb2.ListAgentsRequest())  # now cached
        revoked = await admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=created.api_key.name))
        assert revoked.state == admin_pb2.ApiKey.STATE_REVOKED and revoked.revoked_by == "admin"
        for call in (bob.agents.ListAgents(agent_pb2.ListAgentsRequest()), bob.follow("runs/abcd")):
            failure = await fails(call)
            assert (failure.code, failure.reason) == (UNAUTHENTICATED, "API_KEY_REVOKED"), failure.message
            assert failure.metadata["api_key"] == created.api_key.name
    # Revoking again returns it unchanged.
    assert await admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=created.api_key.name)) == revoked
    listed = await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest(filter="state = REVOKED"))
    assert [k.name for k in listed.api_keys] == [created.api_key.name]


async def test_revoking_a_key_closes_the_streams_opened_with_it(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "carol")
    async with caller(server, api_key(created.secret)) as carol:
        run = await carol.waiting_run()
        stream = carol.follow(run)
        await asyncio.wait_for(stream.initial_metadata(), 10)
        await admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=created.api_key.name))
        failure = await fails(stream)
        assert (failure.code, failure.reason) == (UNAUTHENTICATED, "API_KEY_REVOKED")


async def test_an_expired_key_is_refused(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "dave", expire_in=1.0)
    async with caller(server, api_key(created.secret)) as dave:
        await dave.agents.ListAgents(agent_pb2.ListAgentsRequest())
        await asyncio.sleep(1.1)
        failure = await fails(dave.agents.ListAgents(agent_pb2.ListAgentsRequest()))
        assert (failure.code, failure.reason) == (UNAUTHENTICATED, "API_KEY_EXPIRED")
    fetched = await admin.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=created.api_key.name))
    assert fetched.state == admin_pb2.ApiKey.STATE_EXPIRED


@pytest.mark.parametrize(
    "metadata",
    [
        [api_key("rw_" + "x" * 40)],  # well-formed, unknown
        [api_key("not-a-key")],
        [("authorization", "Basic dXNlcjpwYXNz")],
        [("authorization", "Bearer")],
        [api_key(ADMIN_KEY), bearer(ADMIN_KEY)],  # two credentials
        [api_key(ADMIN_KEY), api_key(ADMIN_KEY)],
    ],
    ids=["unknown-key", "malformed-key", "basic-auth", "empty-bearer", "both-headers", "repeated-header"],
)
async def test_bad_credentials_are_unauthenticated(server: RunwireServer, metadata: list[tuple[str, str]]) -> None:
    async with caller(server, *metadata) as someone:
        failure = await fails(someone.agents.ListAgents(agent_pb2.ListAgentsRequest()))
        assert (failure.code, failure.reason) == (UNAUTHENTICATED, "UNAUTHENTICATED")
        assert ADMIN_KEY not in failure.message


async def test_only_admins_manage_keys(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "erin")
    async with caller(server, api_key(created.secret)) as erin:
        for call in (
            erin.admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(api_key=admin_pb2.ApiKey(display_name="x", principal="erin"))),
            erin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest()),
            erin.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=created.api_key.name)),
            erin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name=created.api_key.name)),
        ):
            failure = await fails(call)
            assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    missing = await fails(admin.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name="apiKeys/nope-nope")))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND")


async def test_last_use_time_is_recorded(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "frank")
    assert not created.api_key.HasField("last_use_time")
    async with caller(server, api_key(created.secret)) as frank:
        await frank.agents.ListAgents(agent_pb2.ListAgentsRequest())
    await server._record_key_use()
    fetched = await admin.admin.GetApiKey(admin_pb2.GetApiKeyRequest(name=created.api_key.name))
    assert abs(fetched.last_use_time.seconds - time.time()) < 60


# -- JWT -----------------------------------------------------------------------------


async def test_hs256_tokens_name_the_principal_role_and_tier(server: RunwireServer) -> None:
    async with caller(server, bearer(hs256_token("grace"))) as grace:
        agent = await grace.agent()
        assert agent.owner == "grace"
        denied = await fails(grace.admin.ListApiKeys(admin_pb2.ListApiKeysRequest()))
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED
    async with caller(server, bearer(hs256_token("ops", role="admin"))) as ops:
        await ops.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())
        # Admins see every tenant's resources.
        assert (await ops.agents.GetAgent(agent_pb2.GetAgentRequest(name=agent.name))).owner == "grace"


@pytest.mark.parametrize(
    "make_token, why",
    [
        (lambda: hs256_token(expires_in=-120), "expired"),
        (lambda: hs256_token(secret="another-secret-that-is-32-bytes-long"), "signature"),
        (lambda: hs256_token(aud="someone-else"), "audience"),
        (lambda: hs256_token(iss="https://evil.test"), "issuer"),
        (lambda: hs256_token(exp=None), "exp"),
        (lambda: hs256_token(sub="has spaces"), "principal"),
        (
            lambda: jwt.encode(
                {"sub": "x", "exp": int(time.time()) + 60, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE}, None, algorithm="none"
            ),
            "algorithm",
        ),
        (lambda: "not.a.jwt", "well-formed"),
    ],
    ids=["expired", "forged", "wrong-audience", "wrong-issuer", "no-expiry", "bad-subject", "alg-none", "garbage"],
)
async def test_bad_tokens_are_unauthenticated_unary_and_streaming(
    server: RunwireServer, make_token: Callable[[], str], why: str
) -> None:
    # Made when the test runs, not when tests are collected: a valid expiry must not lapse meanwhile.
    async with caller(server, bearer(make_token())) as someone:
        for call in (someone.agents.ListAgents(agent_pb2.ListAgentsRequest()), someone.follow("runs/abcd")):
            failure = await fails(call)
            expected = "TOKEN_EXPIRED" if why == "expired" else "TOKEN_INVALID"
            assert (failure.code, failure.reason) == (UNAUTHENTICATED, expected)
            assert why in failure.message
            # The message is the server's own, never the JWT library's text.
            assert "jwt" not in failure.message.lower() or "well-formed JWT" in failure.message


async def test_rs256_tokens_are_checked_against_the_jwks_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = secure_settings(tmp_path, auth=auth_settings(jwt_hs256_secret="", jwt_jwks_file=str(jwks)))
    claims = {"sub": "heidi", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": int(time.time()) + 60, "tier": "premium"}
    good = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k1"})
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, impostor, algorithm="RS256", headers={"kid": "k1"})
    unknown_kid = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "k2"})
    # An HS256 token signed with the public key (the classic key-confusion attack) is refused too.
    confused = hs256_token("heidi", secret=JWT_SECRET)
    async with running(settings) as server:
        async with caller(server, bearer(good)) as heidi:
            assert (await heidi.agent()).owner == "heidi"
        for token in (forged, unknown_kid, confused):
            async with caller(server, bearer(token)) as someone:
                failure = await fails(someone.agents.ListAgents(agent_pb2.ListAgentsRequest()))
                assert failure.code == UNAUTHENTICATED


# -- bootstrap, insecure mode, anonymous callers ------------------------------------


async def test_a_bootstrap_admin_key_is_generated_once_when_none_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = secure_settings(tmp_path, auth=auth_settings(bootstrap_admin_key=""))
    async with running(settings) as first:
        secret = first.generated_admin_key
        assert secret is not None
        printed = capsys.readouterr().err
        assert "RUNWIRE BOOTSTRAP ADMIN KEY" in printed and secret in printed
        async with caller(first, api_key(secret)) as admin:
            listed = await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())
            assert [(k.principal, k.role) for k in listed.api_keys] == [("admin", admin_pb2.ApiKey.ROLE_ADMIN)]
    async with running(settings) as second:
        assert second.generated_admin_key is None
        assert "BOOTSTRAP" not in capsys.readouterr().err
        async with caller(second, api_key(secret)) as admin:
            await admin.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())


async def test_a_configured_bootstrap_key_is_not_resurrected_once_revoked(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path)
    async with running(settings) as server:
        async with caller(server, api_key(ADMIN_KEY)) as admin:
            second_admin = await create_key(admin, "root", role=admin_pb2.ApiKey.ROLE_ADMIN)
            await admin.admin.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(name="apiKeys/bootstrap-admin"))
    async with running(settings) as server:
        async with caller(server, api_key(ADMIN_KEY)) as old:
            failure = await fails(old.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            assert failure.reason == "API_KEY_REVOKED"
        async with caller(server, api_key(second_admin.secret)) as root:
            await root.admin.ListApiKeys(admin_pb2.ListApiKeysRequest())


async def test_insecure_mode_says_so_and_runs_every_call_as_local(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = secure_settings(tmp_path, auth=auth_settings(insecure_no_auth=True))
    async with running(settings) as server:
        assert "AUTHENTICATION IS OFF" in capsys.readouterr().err
        async with caller(server) as nobody:
            assert (await nobody.agent()).owner == "local"
            denied = await fails(nobody.admin.ListApiKeys(admin_pb2.ListApiKeysRequest()))
            assert denied.code == grpc.StatusCode.PERMISSION_DENIED


async def test_anonymous_callers_when_allowed(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path, auth=auth_settings(allow_anonymous=True))
    async with running(settings) as server:
        async with caller(server) as nobody:
            assert (await nobody.agent()).owner == "anonymous"
        # Credentials that are sent are still checked.
        async with caller(server, api_key("rw_" + "y" * 40)) as wrong:
            assert (await fails(wrong.agents.ListAgents(agent_pb2.ListAgentsRequest()))).code == UNAUTHENTICATED


# -- request ids -----------------------------------------------------------------------


async def test_request_ids_come_back_in_metadata_and_error_details(admin: Caller, anonymous: Caller) -> None:
    call = admin.agents.ListAgents(agent_pb2.ListAgentsRequest(), metadata=(("x-request-id", "req-123"),))
    await call
    assert ("x-request-id", "req-123") in tuple(await call.trailing_metadata())
    generated = admin.agents.ListAgents(agent_pb2.ListAgentsRequest())
    await generated
    assert len(dict(await generated.trailing_metadata())["x-request-id"]) == 32
    failure = await fails(anonymous.agents.GetAgent(agent_pb2.GetAgentRequest(name="agents/abcd"), metadata=(("x-request-id", "req-9"),)))
    assert failure.request_id == "req-9" and failure.metadata["request_id"] == "req-9"
    assert failure.trailers["x-request-id"] == "req-9"
    session = await admin.session()
    stream = admin.execute(session.name, "hello")
    headers = dict(await stream.initial_metadata())
    assert headers["x-request-id"]
    async for _ in stream:
        pass


async def test_caller_deadlines_are_exposed_and_a_default_bounds_unary_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runwire.server.api.calls import current_call

    seen: list[float | None] = []
    settings = secure_settings(tmp_path, default_deadline_seconds=0.3)
    async with running(settings) as server:
        original = server.agents.list

        async def slow_list(caller, query):  # type: ignore[no-untyped-def]
            seen.append(current_call().time_remaining())
            if query.filter == "slow":
                await asyncio.sleep(2)
            return await original(caller, query)

        monkeypatch.setattr(server.agents, "list", slow_list)
        async with caller(server, api_key(ADMIN_KEY)) as admin:
            await admin.agents.ListAgents(agent_pb2.ListAgentsRequest(), timeout=20)
            assert seen[-1] is not None and 15 < seen[-1] <= 20.5  # grpc measures with its own clock
            await admin.agents.ListAgents(agent_pb2.ListAgentsRequest())
            assert seen[-1] is not None and 0 < seen[-1] <= 0.3
            failure = await fails(admin.agents.ListAgents(agent_pb2.ListAgentsRequest(filter="slow")))
            assert (failure.code, failure.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED")
            # Streams are not cut by the default.
            session = await admin.session()
            events = [e async for e in admin.execute(session.name, "[[tokens:5]] [[sleep:0.5]]")]
            assert events[-1].WhichOneof("payload") == "run_completed"  # it outlived the 0.3 s default


# -- how credentials are read --------------------------------------------------------


def _case_and_whitespace_variants(secret: str) -> list[tuple[str, str]]:
    return [
        ("authorization", f"bearer {secret}"),
        ("authorization", f"BEARER {secret}"),
        ("authorization", f"Bearer {secret} "),
        ("authorization", f" Bearer  {secret}  "),
    ]


async def test_the_scheme_is_case_insensitive_and_surrounding_whitespace_is_ignored_for_keys_and_tokens(
    server: RunwireServer, admin: Caller
) -> None:
    # (gRPC metadata carries no tabs; the gateway's HTTP server trims them before the server sees the value.)
    created = await create_key(admin, "ivy")
    token = hs256_token("ivy")
    for metadata in [
        *_case_and_whitespace_variants(created.secret),
        *_case_and_whitespace_variants(token),
        ("x-api-key", f"{created.secret} "),
        ("x-api-key", f" {created.secret}"),
        ("x-api-key", f"  {created.secret}  "),
    ]:
        async with caller(server, metadata) as ivy:
            agents = await ivy.agents.ListAgents(agent_pb2.ListAgentsRequest())
            assert list(agents.agents) == [], metadata


async def test_anything_else_in_the_credential_must_match_exactly(server: RunwireServer, admin: Caller) -> None:
    created = await create_key(admin, "jack")
    secret, token = created.secret, hs256_token("jack")
    for metadata, reason in [
        (("x-api-key", secret.upper()), "UNAUTHENTICATED"),
        (("x-api-key", secret[:-1] + " " + secret[-1]), "UNAUTHENTICATED"),
        (("x-api-key", secret + "x"), "UNAUTHENTICATED"),
        (("authorization", f"Bearer {secret}x"), "UNAUTHENTICATED"),
        (("authorization", f"Bearer {secret[:10]} {secret[10:]}"), "UNAUTHENTICATED"),
        (("authorization", f"Token {secret}"), "UNAUTHENTICATED"),
        (("authorization", f"Bearer{secret}"), "UNAUTHENTICATED"),
        (("authorization", f"Bearer {token}x"), "TOKEN_INVALID"),
        (("authorization", f"Bearer {token[:20]} {token[20:]}"), "TOKEN_INVALID"),
    ]:
        async with caller(server, metadata) as someone:
            failure = await fails(someone.agents.ListAgents(agent_pb2.ListAgentsRequest()))
            assert (failure.code, failure.reason) == (UNAUTHENTICATED, reason), metadata
            assert secret not in failure.message
