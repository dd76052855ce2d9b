"""The configuration file: TOML with the sections of config.proto, under environment variables and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwire.server import config_fields
from runwire.server.config import Bucket, Settings, SettingsError
from tests.grpc.leak_support import assert_no_internals


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runwire.toml"
    path.write_text(text)
    return path


def test_flags_beat_environment_beats_file_beats_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\nport = 6000\nshutdown_grace = "30s"\n[limits]\nmax_page_size = 200\n')
    settings = Settings.load(env={"RUNWIRE_PORT": "7000", "RUNWIRE_MAX_PAGE_SIZE": "300"}, config_file=path, max_page_size=400)
    assert settings.host == "0.0.0.0"  # file over default
    assert settings.shutdown_grace_seconds == 30.0
    assert settings.port == 7000  # environment over file
    assert settings.limits.max_page_size == 400  # flag over environment
    assert settings.limits.default_page_size == 50  # default
    assert settings.config_file == str(path) and settings.flag_overrides == {"max_page_size": 400}


def test_the_file_is_named_by_the_environment_when_no_flag_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nmax_page_size = 12\n")
    assert Settings.load(env={"RUNWIRE_CONFIG_FILE": str(path)}).limits.max_page_size == 12
    assert Settings.load(env={}).config_file == ""


def test_durations_rate_limits_and_secrets_are_read_in_their_natural_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server.keepalive]
time = "5m"
timeout = 15
[limits]
default_tool_timeout = "1500ms"
[providers.openai]
api_key = "sk-file"
[rate_limits]
enabled = true
[[rate_limits.tiers]]
tier = "TIER_DEFAULT"
buckets = [{ method_class = "read", requests_per_second = 5, burst = 10 }]
[[rate_limits.overrides]]
principal = "svc:batch"
method_class = "METHOD_CLASS_RUN"
requests_per_second = 100
burst = 100
[database]
url = "postgresql://runwire:hunter2@db/runwire"
""",
    )
    settings = Settings.load(env={}, config_file=path)
    assert settings.keepalive_time_seconds == 300 and settings.keepalive_timeout_seconds == 15
    assert settings.runs.default_tool_timeout_seconds == 1.5
    assert settings.rate_limits.tiers == {"default": {"read": Bucket(5, 10)}}
    assert settings.rate_limits.overrides[0].principal == "svc:batch" and settings.rate_limits.overrides[0].method_class == "run"
    shown = config_fields.to_values(settings)
    assert shown["providers"]["openai"]["api_key"] == "********"
    assert shown["database"]["url"] == "postgresql://runwire:********@db/runwire"
    assert shown["server"]["keepalive"]["time"] == "300s"


def test_every_problem_of_a_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, '[limits]\nmax_page_size = -1\ncolour = 1\n[server]\nworkers = 2\nshutdown_grace = "forever"\n')
    with pytest.raises(config_fields.ConfigError) as caught:
        Settings.load(env={}, config_file=path)
    assert {p for p, _ in caught.value.violations} == {
        "limits.max_page_size",
        "limits.colour",
        "server.workers",
        "server.shutdown_grace",
    }
    assert str(path) in str(caught.value)


def test_a_missing_or_broken_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load(env={}, config_file=tmp_path / "nope.toml")
    broken = write(tmp_path, "[limits\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(env={}, config_file=broken)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RUNWIRE_PORT": "abc"}, "RUNWIRE_PORT must be an integer; got 'abc'"),
        ({"RUNWIRE_PORT": "x" * 200}, "RUNWIRE_PORT must be an integer; got '" + "x" * 79 + "…'"),
        ({"RUNWIRE_RATE_LIMIT_TIERS": "{bad"}, "RUNWIRE_RATE_LIMIT_TIERS is not JSON (line 1, column 2)"),
        ({"RUNWIRE_RATE_LIMIT_OVERRIDES": "[1,"}, "RUNWIRE_RATE_LIMIT_OVERRIDES is not JSON (line 1, column 4)"),
    ],
)
def test_values_that_cannot_be_read_are_refused_in_the_servers_words(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(env=env, config_file="")
    assert str(caught.value) == expected
    assert_no_internals(str(caught.value))


def test_broken_toml_is_refused_with_its_position_only(tmp_path: Path) -> None:
    broken = write(tmp_path, "[limits]\nmax_page_size = = 3\n")
    with pytest.raises(config_fields.ConfigError) as caught:
        Settings.load(env={}, config_file=broken)
    assert caught.value.violations == [("file", "is not valid TOML (line 2, column 17)")]


def test_every_field_of_the_table_round_trips_through_its_shown_form() -> None:
    defaults = Settings()
    shown = config_fields.to_values(defaults)
    again, violations = config_fields.settings_from_values(shown)
    assert violations == []
    assert config_fields.changed_paths(defaults, again) == []


def test_every_field_of_the_table_is_a_field_of_runtime_config() -> None:
    from runwire.v1 import config_pb2

    for field in config_fields.FIELDS:
        descriptor = config_pb2.RuntimeConfig.DESCRIPTOR
        for part in field.path.split("."):
            assert part in descriptor.fields_by_name, f"{field.path}: no field {part!r} in {descriptor.full_name}"
            proto_field = descriptor.fields_by_name[part]
            descriptor = proto_field.message_type


def test_docs_list_every_field_with_whether_it_changes_live() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    for field in config_fields.FIELDS:
        rows = [line for line in text.splitlines() if line.startswith(f"| `{field.path}`")]
        assert len(rows) == 1, f"docs/config.md has no row for {field.path}"
        assert ("| live |" in rows[0]) == field.live, f"docs/config.md says otherwise about {field.path}"


@pytest.mark.parametrize(
    ("text", "env", "field"),
    [
        ("[limits]\nmax_page_size = 0\n", {}, "limits.max_page_size"),
        ("[limits]\ndefault_run_steps = 0\n", {}, "limits.default_run_steps"),
        ('[sessions]\nsweeper_interval = "0s"\n', {}, "sessions.sweeper_interval"),
        ("[limits]\ndefault_page_size = 2000\n", {}, "limits.default_page_size"),
        ("", {"RUNWIRE_MAX_PAGE_SIZE": "20000"}, "limits.max_page_size"),
        ("", {"RUNWIRE_DEFAULT_PAGE_SIZE": "2000"}, "limits.default_page_size"),
        ("", {"RUNWIRE_MAX_CONCURRENT_RUNS": "1000000"}, "limits.max_concurrent_runs"),
    ],
)
def test_limits_out_of_range_in_the_file_or_environment_stop_the_start(tmp_path: Path, text: str, env: dict[str, str], field: str) -> None:
    with pytest.raises(config_fields.ConfigError) as caught:
        Settings.load(env=env, config_file=write(tmp_path, text))
    assert [path for path, _ in caught.value.violations] == [field]


def test_a_default_page_size_left_to_its_default_is_capped_by_a_lower_maximum(tmp_path: Path) -> None:
    settings = Settings.load(env={}, config_file=write(tmp_path, "[limits]\nmax_page_size = 10\n"))
    assert (settings.limits.max_page_size, settings.limits.default_page_size) == (10, 50)
