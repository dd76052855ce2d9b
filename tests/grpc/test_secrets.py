"""Secrets: a principal's own keys, write-only, encrypted at rest, usable only by its own agents and sent only to
their own base_url."""

from __future__ import annotations

import dataclasses
import logging
import stat
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import text

from runwire.server.app import RunwireServer
from runwire.server.config import NetworkSettings, RunSettings, Settings
from runwire.v1 import agent_pb2, secret_pb2, secret_pb2_grpc, session_pb2
from tests.conftest import make_settings, rpc_error
from tests.fakes.openai_server import FakeOpenAIServer, text_stream
from tests.grpc.mcp_support import principal_for
from tests.grpc.run_support import Runs, connected, kind

ADMIN_KEY = "sk-admin-configured-key"
USER_KEY = "sk-alices-own-key-0123456789"
ALICE, BOB = (("x-test-principal", "alice"),), (("x-test-principal", "bob"),)


def secret_settings(tmp_path: Path) -> Settings:
    runs = RunSettings(builtin_tokens_per_second=0, provider_retry_base_seconds=0.01, openai_api_key=ADMIN_KEY)
    return dataclasses.replace(
        make_settings(tmp_path), runs=runs, network=NetworkSettings(egress_allowed_destinations=("127.0.0.1",))
    )


@dataclasses.dataclass
class Secrets:
    runs: Runs
    stub: secret_pb2_grpc.SecretServiceStub

    @property
    def server(self) -> RunwireServer:
        return self.runs.server

    async def create(self, secret_id: str, value: str, metadata=(), **fields) -> secret_pb2.Secret:  # type: ignore[no-untyped-def]
        return await self.stub.CreateSecret(
            secret_pb2.CreateSecretRequest(secret=secret_pb2.Secret(value=value, **fields), secret_id=secret_id),
            metadata=metadata,
        )

    async def agent(self, base_url: str, api_key_secret: str, metadata=()) -> agent_pb2.Agent:  # type: ignore[no-untyped-def]
        model = agent_pb2.ModelConfig(provider="openai", model="m", base_url=base_url, api_key_secret=api_key_secret)
        return await self.runs.client.agents.CreateAgent(
            agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Mine", model=model)), metadata=metadata
        )


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[Secrets]:
    server = RunwireServer(secret_settings(tmp_path), principal_for=principal_for)
    await server.start()
    try:
        async with connected(server) as runs:
            yield Secrets(runs, secret_pb2_grpc.SecretServiceStub(runs.client.channel))
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
async def secrets(tmp_path: Path) -> AsyncIterator[Secrets]:
    async with serving(tmp_path) as s:
        yield s


async def session_of(secrets: Secrets, agent: str) -> str:
    created = await secrets.runs.client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent))
    )
    return created.name


async def test_an_agent_sends_its_owners_secret_to_its_own_base_url_and_nothing_else(secrets: Secrets) -> None:
    async with FakeOpenAIServer() as fake:
        await secrets.create("model-key", USER_KEY)
        agent = await secrets.agent(fake.base_url, "secrets/model-key")
        assert agent.model.api_key_secret == "secrets/model-key"
        session = await session_of(secrets, agent.name)

        fake.script(text_stream("one"))
        events = await secrets.runs.execute_all(session, "Hi")
        assert kind(events[-1]) == "run_completed"
        assert fake.requests[0].headers["authorization"] == f"Bearer {USER_KEY}"

        # Rotating the value: the next run sends the new one.
        await secrets.stub.UpdateSecret(
            secret_pb2.UpdateSecretRequest(
                secret=secret_pb2.Secret(name="secrets/model-key", value="sk-rotated"),
                update_mask=field_mask_pb2.FieldMask(paths=["value"]),
            )
        )
        fake.script(text_stream("two"))
        assert kind((await secrets.runs.execute_all(session, "Again"))[-1]) == "run_completed"
        assert fake.requests[1].headers["authorization"] == "Bearer sk-rotated"

        # Deleted: the next run fails with the reason, and nothing is sent.
        await secrets.stub.DeleteSecret(secret_pb2.DeleteSecretRequest(name="secrets/model-key"))
        events = await secrets.runs.execute_all(session, "Once more")
    assert events[-1].run_failed.error.reason == "SECRET_NOT_FOUND"
    assert len(fake.requests) == 2
    assert all(ADMIN_KEY not in str(r.headers) for r in fake.requests)


async def test_a_value_is_never_returned_logged_or_stored_in_clear(
    secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await secrets.create("model-key", USER_KEY, display_name="Model key", labels={"team": "a"})
    fetched = await secrets.stub.GetSecret(secret_pb2.GetSecretRequest(name=created.name))
    listed = await secrets.stub.ListSecrets(secret_pb2.ListSecretsRequest())
    updated = await secrets.stub.UpdateSecret(
        secret_pb2.UpdateSecretRequest(
            secret=secret_pb2.Secret(name=created.name, display_name="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )

    for shown in (created, fetched, updated, *listed.secrets):
        assert shown.value == "" and USER_KEY not in str(shown)
    assert created.owner == "admin" and created.etag and created.value_time.seconds > 0
    assert [s.name for s in listed.secrets] == ["secrets/model-key"]
    assert updated.display_name == "Renamed" and updated.etag != created.etag
    assert USER_KEY not in caplog.text

    async with secrets.server._store.read() as db:
        rows = (await db.execute(text("SELECT owner, nonce, ciphertext FROM secrets"))).all()
    assert len(rows) == 1
    assert rows[0][0] == "admin"
    assert USER_KEY.encode() not in bytes(rows[0][2]) and len(bytes(rows[0][1])) == 12


async def test_the_key_is_generated_once_into_the_data_directory_readable_by_the_owner_only(tmp_path: Path) -> None:
    async with serving(tmp_path) as secrets:
        await secrets.create("model-key", USER_KEY)
    key_file = tmp_path / "data" / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    # A restart keeps the key, so the stored value still opens.
    async with FakeOpenAIServer() as fake, serving(tmp_path) as secrets:
        fake.script(text_stream("ok"))
        agent = await secrets.agent(fake.base_url, "secrets/model-key")
        assert kind((await secrets.runs.execute_all(await session_of(secrets, agent.name), "Hi"))[-1]) == "run_completed"
        assert fake.requests[0].headers["authorization"] == f"Bearer {USER_KEY}"
    assert key_file.read_text() == first


async def test_another_principal_can_neither_read_nor_use_a_secret(secrets: Secrets) -> None:
    await secrets.create("alices-key", USER_KEY, metadata=ALICE)

    for call in (
        secrets.stub.GetSecret(secret_pb2.GetSecretRequest(name="secrets/alices-key"), metadata=BOB),
        secrets.stub.DeleteSecret(secret_pb2.DeleteSecretRequest(name="secrets/alices-key"), metadata=BOB),
        secrets.agent("https://models.example.com/v1", "secrets/alices-key", metadata=BOB),
        # Admins included: a secret is personal.
        secrets.stub.GetSecret(secret_pb2.GetSecretRequest(name="secrets/alices-key")),
    ):
        failure = await rpc_error(call)
        assert failure.code == grpc.StatusCode.NOT_FOUND and failure.reason == "SECRET_NOT_FOUND"
        assert USER_KEY not in failure.message

    listed = await secrets.stub.ListSecrets(secret_pb2.ListSecretsRequest(), metadata=BOB)
    assert list(listed.secrets) == []
    mine = await secrets.agent("https://models.example.com/v1", "secrets/alices-key", metadata=ALICE)
    assert mine.model.api_key_secret == "secrets/alices-key"


async def test_invalid_requests_get_field_violations(secrets: Secrets) -> None:
    await secrets.create("model-key", USER_KEY)
    cases = [
        (secrets.create("no-value", ""), "secret.value"),
        (secrets.agent("", "secrets/model-key"), "agent.model.api_key_secret"),
        (secrets.agent("https://models.example.com/v1", "model-key"), "agent.model.api_key_secret"),
        (
            secrets.stub.UpdateSecret(secret_pb2.UpdateSecretRequest(secret=secret_pb2.Secret(name="secrets/model-key", value="x"))),
            "update_mask",
        ),
    ]
    for call, field in cases:
        failure = await rpc_error(call)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in failure.field_violations, (field, failure.field_violations)
    duplicate = await rpc_error(secrets.create("model-key", "again"))
    assert duplicate.code == grpc.StatusCode.ALREADY_EXISTS
    stale = await rpc_error(secrets.stub.DeleteSecret(secret_pb2.DeleteSecretRequest(name="secrets/model-key", etag="W/\"0\"")))
    assert stale.code == grpc.StatusCode.ABORTED and stale.reason == "ETAG_MISMATCH"


async def test_analyze_file_with_an_agents_own_endpoint_sends_its_secret_not_the_servers_key(secrets: Secrets) -> None:
    from runwire.v1 import file_pb2, file_pb2_grpc

    files = file_pb2_grpc.FileServiceStub(secrets.runs.client.channel)
    metadata = file_pb2.UploadFileMetadata(filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
    uploaded = await files.UploadFile(
        iter([file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"Minutes of the gecko committee")])
    )
    async for snapshot in files.WatchFile(file_pb2.WatchFileRequest(name=uploaded.name), timeout=30):
        if snapshot.state == file_pb2.File.STATE_COMPLETED:
            break
    async with FakeOpenAIServer() as fake:
        await secrets.create("model-key", USER_KEY)
        agent = await secrets.agent(fake.base_url, "secrets/model-key")
        fake.script(text_stream("a summary"))
        Mode = file_pb2.AnalyzeFileRequest
        summary = await files.AnalyzeFile(Mode(name=uploaded.name, mode=Mode.MODE_SUMMARIZE, agent=agent.name))
    assert summary.text == "a summary"
    assert fake.requests[0].headers["authorization"] == f"Bearer {USER_KEY}"
