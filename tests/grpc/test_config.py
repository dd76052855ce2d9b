"""ConfigService through real stubs: admins only, read with secrets redacted, all-or-nothing updates that the
running server uses at once, validation without applying, and reloading the configuration file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2

from runwire.server import config_fields as cf
from runwire.server.app import RunwireServer
from runwire.server.config import RunSettings
from runwire.v1 import agent_pb2, config_pb2, config_pb2_grpc, file_pb2, file_pb2_grpc
from tests.conftest import ON_POSTGRES, new_request_id, rpc_error
from tests.grpc.leak_support import assert_no_internals
from tests.grpc.secure_support import ADMIN_KEY, Caller, api_key, caller, create_key, fails, running, secure_settings

RuntimeConfig = config_pb2.RuntimeConfig


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


@dataclasses.dataclass
class Admin:
    server: RunwireServer
    caller: Caller
    config: config_pb2_grpc.ConfigServiceStub


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "runwire.toml"
    path.write_text("[limits]\nmax_page_size = 3\n")
    return path


@pytest.fixture
async def admin(tmp_path: Path, config_file: Path) -> AsyncIterator[Admin]:
    runs = RunSettings(builtin_tokens_per_second=0, openai_api_key="sk-very-secret")
    settings = dataclasses.replace(secure_settings(tmp_path), runs=runs, config_file=str(config_file))
    async with running(settings) as server, caller(server, api_key(ADMIN_KEY)) as admin_caller:
        yield Admin(server, admin_caller, config_pb2_grpc.ConfigServiceStub(admin_caller.channel))


async def update(admin: Admin, config: RuntimeConfig, *paths: str, **request: Any) -> RuntimeConfig:
    return await admin.config.UpdateConfig(config_pb2.UpdateConfigRequest(config=config, update_mask=mask(*paths), **request))


async def test_only_admins_read_or_change_the_configuration(admin: Admin) -> None:
    secret = (await create_key(admin.caller, "alice")).secret
    async with caller(admin.server, api_key(secret)) as alice:
        stub = config_pb2_grpc.ConfigServiceStub(alice.channel)
        calls = [
            stub.GetConfig(config_pb2.GetConfigRequest()),
            stub.UpdateConfig(
                config_pb2.UpdateConfigRequest(
                    config=RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=1)), update_mask=mask("limits.max_page_size")
                )
            ),
            stub.ValidateConfig(config_pb2.ValidateConfigRequest(config=RuntimeConfig())),
            stub.ReloadConfig(config_pb2.ReloadConfigRequest()),
        ]
        for call in calls:
            failure = await fails(call)
            assert failure.code == grpc.StatusCode.PERMISSION_DENIED and failure.reason == "PERMISSION_DENIED"
    assert (await admin.config.GetConfig(config_pb2.GetConfigRequest())).limits.max_page_size == 1000


async def test_the_configuration_in_effect_is_read_with_secrets_redacted(admin: Admin, config_file: Path) -> None:
    config = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    assert config.providers.openai.api_key == "********"
    assert "sk-very-secret" not in str(config)
    assert config.limits.default_page_size == 50 and config.limits.max_page_size == 1000
    assert config.server.keepalive.time.seconds == 60 and config.server.max_receive_message_bytes == 8 * 1024 * 1024
    assert config.rate_limits.enabled is False and config.auth.allow_anonymous is False
    assert config.source == str(config_file) and config.revision == 1 and config.etag
    assert config.updated_by == ""


async def test_a_lower_page_size_limit_takes_effect_at_once(admin: Admin) -> None:
    for index in range(4):
        await admin.caller.agent(f"Agent {index}")
    before = await admin.caller.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=100))
    assert len(before.agents) == 4

    current = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    changed = await update(admin, RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=2), etag=current.etag), "limits.max_page_size")
    assert changed.limits.max_page_size == 2 and changed.revision == 2 and changed.updated_by == "admin"

    after = await admin.caller.agents.ListAgents(agent_pb2.ListAgentsRequest(page_size=100))
    assert len(after.agents) == 2 and after.next_page_token

    stale = await fails(update(admin, RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=5), etag=current.etag), "limits.max_page_size"))
    assert stale.code == grpc.StatusCode.ABORTED and stale.reason == "ETAG_MISMATCH"


async def test_bad_values_are_refused_with_every_problem_and_nothing_changes(admin: Admin) -> None:
    config = RuntimeConfig(
        limits=config_pb2.LimitsConfig(max_page_size=20, default_page_size=-5, default_run_steps=5_000),
        rate_limits=config_pb2.RateLimitsConfig(
            tiers=[config_pb2.RateLimitTier(tier=2, buckets=[config_pb2.RateLimitBucket(method_class=1, requests_per_second=-1, burst=1)])]
        ),
    )
    failure = await rpc_error(update(admin, config, "limits", "rate_limits.tiers"))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and failure.reason == "CONFIG_INVALID"
    error = failure_details(failure)
    assert {"config.limits.default_page_size", "config.limits.default_run_steps", "config.rate_limits.tiers[0].buckets[0].requests_per_second"} <= error

    unchanged = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    assert unchanged.revision == 1 and unchanged.limits.max_page_size == 1000

    restart_only = await rpc_error(update(admin, RuntimeConfig(server=config_pb2.ServerConfig(port=9999)), "server.port"))
    assert restart_only.code == grpc.StatusCode.INVALID_ARGUMENT and "config.server.port" in failure_details(restart_only)
    unknown = await rpc_error(update(admin, RuntimeConfig(), "events.max_buffered_events"))
    assert "update_mask" in failure_details(unknown)
    everything = await rpc_error(update(admin, RuntimeConfig(), "*"))
    assert "update_mask" in failure_details(everything)


def failure_details(failure: Any) -> set[str]:
    """The field paths of a failure's BadRequest."""
    return set(failure.field_violations)


async def test_validate_reports_problems_without_applying_anything(admin: Admin) -> None:
    bad = await admin.config.ValidateConfig(
        config_pb2.ValidateConfigRequest(config=RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=-10, default_page_size=20)))
    )
    assert not bad.valid and not bad.HasField("config")
    assert [v.field for v in bad.violations] == ["config.limits.max_page_size"]

    good = await admin.config.ValidateConfig(
        config_pb2.ValidateConfigRequest(
            config=RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=10, default_page_size=5)), update_mask=mask("limits")
        )
    )
    assert good.valid and good.config.limits.max_page_size == 10 and good.config.providers.openai.api_key == "********"
    preview = await update(admin, RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=7)), "limits.max_page_size", validate_only=True)
    assert preview.limits.max_page_size == 7
    assert (await admin.config.GetConfig(config_pb2.GetConfigRequest())).limits.max_page_size == 1000


async def test_a_rate_limit_set_at_run_time_applies_to_the_next_calls(admin: Admin) -> None:
    secret = (await create_key(admin.caller, "bob")).secret
    tier = config_pb2.RateLimitTier(
        tier=2,  # TIER_DEFAULT, bob's tier; the admin's premium tier is left unlimited
        buckets=[config_pb2.RateLimitBucket(method_class=config_pb2.RateLimitBucket.METHOD_CLASS_READ, requests_per_second=0.001, burst=2)],
    )
    applied = await update(admin, RuntimeConfig(rate_limits=config_pb2.RateLimitsConfig(enabled=True, tiers=[tier])), "rate_limits")
    assert applied.rate_limits.enabled and applied.rate_limits.tiers[0].buckets[0].burst == 2
    async with caller(admin.server, api_key(secret)) as bob:
        for _ in range(2):
            await bob.agents.ListAgents(agent_pb2.ListAgentsRequest())
        limited = await fails(bob.agents.ListAgents(agent_pb2.ListAgentsRequest()))
        assert limited.code == grpc.StatusCode.RESOURCE_EXHAUSTED and limited.reason == "RATE_LIMITED"

        await update(admin, RuntimeConfig(rate_limits=config_pb2.RateLimitsConfig(enabled=False)), "rate_limits.enabled")
        await bob.agents.ListAgents(agent_pb2.ListAgentsRequest())


async def test_secrets_sent_back_redacted_are_kept(admin: Admin) -> None:
    current = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    await update(admin, current, "providers.openai")
    assert admin.server.settings.runs.openai_api_key == "sk-very-secret"
    providers = config_pb2.ProvidersConfig(openai=config_pb2.OpenAiProviderConfig(api_key="sk-new"))
    await update(admin, RuntimeConfig(providers=providers), "providers.openai.api_key")
    assert admin.server.settings.runs.openai_api_key == "sk-new"


async def test_a_retried_update_is_applied_once(admin: Admin) -> None:
    request_id = new_request_id()
    config = RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=9))
    first = await update(admin, config, "limits.max_page_size", request_id=request_id)
    again = await update(admin, config, "limits.max_page_size", request_id=request_id)
    assert first.revision == again.revision == 2


async def test_reload_returns_to_the_file_and_lists_restart_only_changes(admin: Admin, config_file: Path) -> None:
    await update(admin, RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=9)), "limits.max_page_size")
    config_file.write_text('[server]\nport = 1\n\n[limits]\nmax_page_size = 3\ndefault_page_size = 2\n\n[sessions]\nsweeper_interval = "5m"\n')

    preview = await admin.config.ReloadConfig(config_pb2.ReloadConfigRequest(validate_only=True))
    assert preview.limits.max_page_size == 3
    assert (await admin.config.GetConfig(config_pb2.GetConfigRequest())).limits.max_page_size == 9

    reloaded = await admin.config.ReloadConfig(config_pb2.ReloadConfigRequest())
    assert reloaded.limits.max_page_size == 3 and reloaded.limits.default_page_size == 2
    assert reloaded.sessions.sweeper_interval.seconds == 300
    # On PostgreSQL the test's server got its database URL from the harness, not from this file.
    expected_restart_fields = ["server.port", "database.url"] if ON_POSTGRES else ["server.port"]
    assert list(reloaded.pending_restart_fields) == expected_restart_fields and reloaded.server.port == 0
    for index in range(4):
        await admin.caller.agent(f"Agent {index}")
    assert len((await admin.caller.agents.ListAgents(agent_pb2.ListAgentsRequest())).agents) == 2

    config_file.write_text("[limits]\nmax_page_size = 0.5\nwhatever = 1\n")
    invalid = await rpc_error(admin.config.ReloadConfig(config_pb2.ReloadConfigRequest()))
    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT and invalid.reason == "CONFIG_INVALID"
    assert {"limits.max_page_size", "limits.whatever"} <= failure_details(invalid)
    assert (await admin.config.GetConfig(config_pb2.GetConfigRequest())).revision == reloaded.revision

    config_file.unlink()
    missing = await fails(admin.config.ReloadConfig(config_pb2.ReloadConfigRequest()))
    assert missing.code == grpc.StatusCode.FAILED_PRECONDITION and missing.reason == "CONFIG_SOURCE_MISSING"
    # The message names no server path and repeats no reader's words; the source is GetConfig's to report.
    assert str(config_file.parent) not in missing.message and str(config_file.parent) not in invalid.message
    assert "Errno" not in missing.message and "No such file" not in missing.message


async def test_a_file_that_cannot_be_read_is_refused_by_field_in_the_servers_words(admin: Admin, config_file: Path) -> None:
    config_file.write_text('[limits]\nmax_page_size = "abc"\n')
    wrong_kind = await rpc_error(admin.config.ReloadConfig(config_pb2.ReloadConfigRequest()))
    config_file.write_text("[limits]\nmax_page_size = = 3\n")
    broken = await rpc_error(admin.config.ReloadConfig(config_pb2.ReloadConfigRequest(validate_only=True)))
    config_file.unlink()
    missing = await rpc_error(admin.config.ReloadConfig(config_pb2.ReloadConfigRequest()))

    assert wrong_kind.field_violations == {"limits.max_page_size": "must be a whole number"}
    assert broken.field_violations == {"file": "is not valid TOML (line 2, column 17)"}
    assert missing.reason == "CONFIG_SOURCE_MISSING" and "source" not in missing.metadata
    for failure in (wrong_kind, broken, missing):
        for text in (failure.message, *failure.metadata.values(), *failure.field_violations.values()):
            assert_no_internals(text, paths=[str(config_file)])


async def test_reload_without_a_file_is_a_failed_precondition(tmp_path: Path) -> None:
    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin_caller:
        stub = config_pb2_grpc.ConfigServiceStub(admin_caller.channel)
        failure = await fails(stub.ReloadConfig(config_pb2.ReloadConfigRequest()))
        assert failure.code == grpc.StatusCode.FAILED_PRECONDITION and failure.reason == "CONFIG_SOURCE_MISSING"
        assert (await stub.GetConfig(config_pb2.GetConfigRequest())).source == ""


async def test_file_limits_change_live_and_storage_stays_until_restart(admin: Admin) -> None:
    changed = await update(
        admin,
        RuntimeConfig(limits=config_pb2.LimitsConfig(max_upload_bytes=1024), files=config_pb2.FilesConfig(chunk_chars=500)),
        "limits.max_upload_bytes",
        "files.chunk_chars",
    )
    assert changed.limits.max_upload_bytes == 1024 and changed.files.chunk_chars == 500
    assert admin.server.files.settings.file_chunk_chars == 500
    files = file_pb2_grpc.FileServiceStub(admin.caller.channel)

    def upload(size: int) -> Any:
        metadata = file_pb2.UploadFileMetadata(filename="notes.txt", purpose=file_pb2.File.PURPOSE_ASSISTANTS)
        requests = [file_pb2.UploadFileRequest(metadata=metadata), file_pb2.UploadFileRequest(chunk=b"x" * size)]
        return files.UploadFile(iter(requests), metadata=(("x-api-key", ADMIN_KEY),), timeout=30)

    too_large = await rpc_error(upload(2048))
    assert too_large.code == grpc.StatusCode.RESOURCE_EXHAUSTED and too_large.reason == "FILE_TOO_LARGE"
    assert (await upload(512)).size_bytes == 512
    refused = await rpc_error(update(admin, RuntimeConfig(files=config_pb2.FilesConfig(storage_dir="/elsewhere")), "files.storage_dir"))
    assert "config.files.storage_dir" in refused.field_violations


def duration(seconds: int, nanos: int = 0) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


async def test_durations_outside_protobufs_range_are_invalid_values_not_internal_errors(admin: Admin) -> None:
    config = RuntimeConfig(
        server=config_pb2.ServerConfig(shutdown_grace=duration(2**40)),
        events=config_pb2.EventsConfig(retention=duration(1, -5), heartbeat_interval=duration(0, 2**31 - 1)),
    )
    failure = await rpc_error(update(admin, config, "server.shutdown_grace", "events"))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and failure.reason == "CONFIG_INVALID"
    assert failure_details(failure) == {"config.server.shutdown_grace", "config.events.retention", "config.events.heartbeat_interval"}
    assert "Duration is not valid" not in failure.message

    checked = await admin.config.ValidateConfig(config_pb2.ValidateConfigRequest(config=config))
    assert not checked.valid and {v.field for v in checked.violations} == failure_details(failure)
    assert (await admin.config.GetConfig(config_pb2.GetConfigRequest())).revision == 1

    # update_time is output only: even a timestamp that cannot exist is ignored.
    ignored = RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=9))
    ignored.update_time.seconds = -(2**40)
    assert (await update(admin, ignored, "limits.max_page_size")).limits.max_page_size == 9


async def test_a_non_admin_learns_nothing_about_the_values_it_sent(admin: Admin) -> None:
    secret = (await create_key(admin.caller, "alice")).secret
    async with caller(admin.server, api_key(secret)) as alice:
        stub = config_pb2_grpc.ConfigServiceStub(alice.channel)
        bad = RuntimeConfig(server=config_pb2.ServerConfig(shutdown_grace=duration(2**40)))
        for call in (
            stub.UpdateConfig(config_pb2.UpdateConfigRequest(config=bad, update_mask=mask("server.shutdown_grace"))),
            stub.ValidateConfig(config_pb2.ValidateConfigRequest(config=bad)),
        ):
            assert (await fails(call)).code == grpc.StatusCode.PERMISSION_DENIED


# Every number field whose range excludes 0: proto3 cannot tell 0 from unset, so naming the field in the
# mask with no value asks for 0.
ZERO_REFUSED = [f.path for f in cf.FIELDS if f.kind in ("int", "float", "seconds") and f.minimum is not None and f.minimum > 0]


async def test_a_zero_for_a_named_limit_is_refused_not_reset_to_its_default(admin: Admin) -> None:
    assert "limits.max_page_size" in ZERO_REFUSED and "limits.default_page_size" in ZERO_REFUSED
    before = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    for path in ZERO_REFUSED:
        failure = await rpc_error(update(admin, RuntimeConfig(), path))
        assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONFIG_INVALID"), path
        assert failure_details(failure) == {f"config.{path}"}, path
        assert "got 0" in failure.field_violations[f"config.{path}"]
        validated = await admin.config.ValidateConfig(config_pb2.ValidateConfigRequest(config=RuntimeConfig(), update_mask=mask(path)))
        assert [v.field for v in validated.violations] == [f"config.{path}"], path
    after = await admin.config.GetConfig(config_pb2.GetConfigRequest())
    assert after.revision == before.revision and after.limits == before.limits


async def test_a_default_page_size_above_the_maximum_is_refused(admin: Admin) -> None:
    above = RuntimeConfig(limits=config_pb2.LimitsConfig(default_page_size=2000))
    failure = await rpc_error(update(admin, above, "limits.default_page_size"))
    assert (failure.code, failure.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CONFIG_INVALID")
    assert failure.field_violations == {"config.limits.default_page_size": "must be at most limits.max_page_size (1000); got 2000"}
    both = RuntimeConfig(limits=config_pb2.LimitsConfig(default_page_size=20, max_page_size=10))
    failure = await rpc_error(update(admin, both, "limits.default_page_size", "limits.max_page_size"))
    assert set(failure.field_violations) == {"config.limits.default_page_size"}
    validated = await admin.config.ValidateConfig(config_pb2.ValidateConfigRequest(config=both))
    assert [v.field for v in validated.violations] == ["config.limits.default_page_size"]
    # Lowering only the maximum caps the default page size instead: the default is not what was set.
    capped = await update(admin, RuntimeConfig(limits=config_pb2.LimitsConfig(max_page_size=10)), "limits.max_page_size")
    assert (capped.limits.max_page_size, capped.limits.default_page_size) == (10, 50)
