"""Server settings: defaults that embed everything, overridden by RUNWIRE_* environment variables and flags."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

MIB = 1024 * 1024


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Limits:
    """Named limits enforced by the domain layer (documented in README.md)."""

    default_page_size: int = 50
    max_page_size: int = 1000
    max_sessions_per_owner: int = 10_000
    max_batch_size: int = 100
    max_display_name_chars: int = 200
    max_description_chars: int = 2_000
    max_instructions_chars: int = 100_000
    max_labels: int = 64
    max_tools_per_agent: int = 64
    max_message_parts: int = 256
    max_message_text_bytes: int = 1 * MIB
    max_metadata_bytes: int = 64 * 1024
    max_filter_chars: int = 2_000
    max_search_query_chars: int = 1_000


@dataclass(frozen=True)
class RunSettings:
    """Defaults and ceilings of run execution; agents and requests may lower the defaults."""

    # Runs executing at once in the whole server, and per provider; more wait QUEUED.
    max_concurrent_runs: int = 64
    max_concurrent_runs_per_provider: int = 32
    # Active (queued, running or waiting) runs one caller may have; more are refused.
    max_active_runs_per_caller: int = 100
    default_max_steps: int = 10
    default_max_run_seconds: float = 600.0
    default_tool_timeout_seconds: float = 60.0
    default_input_timeout_seconds: float = 3600.0
    # Session messages given to the model, newest last.
    max_history_messages: int = 200
    # Model calls that fail retryably (timeouts, 429, 5xx) before anything streamed.
    provider_max_attempts: int = 3
    provider_retry_base_seconds: float = 0.2
    builtin_tokens_per_second: float = 100.0
    openai_base_url: str = ""
    openai_api_key: str = ""
    openai_model: str = ""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 50051
    data_dir: Path = Path("./data")
    # Empty means SQLite in WAL mode at {data_dir}/runwire.db.
    database_url: str = ""
    log_level: str = "INFO"
    # gRPC transport limits; oversized messages are refused with RESOURCE_EXHAUSTED.
    max_receive_message_bytes: int = 8 * MIB
    max_send_message_bytes: int = 8 * MIB
    shutdown_grace_seconds: float = 10.0
    # Background sweeper: expired sessions and old idempotency records.
    sweep_interval_seconds: float = 60.0
    idempotency_window: timedelta = timedelta(hours=24)
    limits: Limits = field(default_factory=Limits)
    runs: "RunSettings" = field(default_factory=lambda: RunSettings())

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'runwire.db').resolve()}"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Defaults, then RUNWIRE_* variables, then explicit overrides (flags); None overrides are skipped."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        limit_values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in ("limits", "runs"):
                continue
            raw = env.get(f"RUNWIRE_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, f.type)
        for f in dataclasses.fields(Limits):
            raw = env.get(f"RUNWIRE_{f.name.upper()}")
            if raw is not None and raw != "":
                limit_values[f.name] = _convert(f.name, raw, "int")
        run_values: dict[str, Any] = {}
        for f in dataclasses.fields(RunSettings):
            raw = env.get(f"RUNWIRE_{f.name.upper()}")
            if raw is not None and raw != "":
                run_values[f.name] = _convert(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("data_dir"), str):
            values["data_dir"] = Path(values["data_dir"])
        if "limits" not in values:
            values["limits"] = Limits(**limit_values)
        if "runs" not in values:
            values["runs"] = RunSettings(**run_values)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        if self.shutdown_grace_seconds < 0:
            raise SettingsError("shutdown_grace_seconds must be >= 0")
        if self.sweep_interval_seconds <= 0:
            raise SettingsError("sweep_interval_seconds must be > 0")
        for f in dataclasses.fields(Limits):
            if getattr(self.limits, f.name) <= 0:
                raise SettingsError(f"{f.name} must be > 0")
        for f in dataclasses.fields(RunSettings):
            value = getattr(self.runs, f.name)
            if isinstance(value, (int, float)) and value < 0:
                raise SettingsError(f"{f.name} must be >= 0")


def _convert(name: str, raw: str, type_name: Any) -> Any:
    type_name = str(type_name)
    try:
        if "timedelta" in type_name:
            return timedelta(seconds=float(raw))
        if "Path" in type_name:
            return Path(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"RUNWIRE_{name.upper()}={raw!r}: {exc}") from None
    return raw
