"""The configuration as runwire.v1.RuntimeConfig shows it: one table from its field paths to `Settings`.

The same table reads the configuration file (TOML, sections and field names
as in config.proto: `[limits] max_page_size = 500`), the values of
`ConfigService` calls (the proto's JSON form), and writes the configuration
back out with secrets redacted. Each field says whether the running server
can take a new value (`live`) or reads it only at start.

Values: whole numbers, booleans and strings as themselves; durations as
seconds (`30`, `0.5`) or text with a unit (`"500ms"`, `"30s"`, `"5m"`,
`"2h"`, `"1d"`, and the proto JSON form `"1.500s"`); enums by name with or
without their prefix (`"TIER_DEFAULT"` or `"default"`). A field left out, or
0 / empty where the proto field has no presence, takes its default.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Collection, Mapping
from urllib.parse import urlsplit, urlunsplit

from runwire.server.config import (
    MIB,
    Bucket,
    ProviderEndpoint,
    RateLimitOverride,
    Settings,
    SettingsError,
    _method_class,
    parse_allowed_destinations,
)

REDACTED = "********"
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
TIER_NAMES = ("anonymous", "default", "premium")


class ConfigError(SettingsError):
    """A configuration (file or request) has invalid fields: every (path, problem) pair."""

    def __init__(self, violations: list[tuple[str, str]], source: str = "") -> None:
        self.violations = violations
        where = f" in {source}" if source else ""
        first = f"{violations[0][0]}: {violations[0][1]}" if violations else "invalid"
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"invalid configuration{where}: {first}{more}")


@dataclass(frozen=True)
class ConfigField:
    """One field of RuntimeConfig: where its value lives in Settings and what values it takes."""

    path: str
    # Attribute path in Settings, e.g. `limits.max_page_size` or `keepalive_time_seconds`.
    attr: str
    kind: str  # int | seconds | bool | str | url | secret | secret_url | tiers | overrides | destinations | endpoints
    minimum: float | None = None
    maximum: float | None = None
    live: bool = False
    # The proto field has presence (`optional`): 0 or false is a value, not "take the default".
    presence: bool = False
    # Settings stores the duration as a timedelta rather than float seconds.
    timedelta: bool = False

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]


def _f(path: str, attr: str, kind: str, lo: float | None = None, hi: float | None = None, **flags: Any) -> ConfigField:
    return ConfigField(path, attr, kind, lo, hi, **flags)


HOUR, DAY = 3600.0, 86400.0
FIELDS: tuple[ConfigField, ...] = (
    _f("server.host", "host", "str"),
    _f("server.port", "port", "int", 0, 65535, presence=True),
    _f("server.max_receive_message_bytes", "max_receive_message_bytes", "int", MIB, 256 * MIB),
    _f("server.max_send_message_bytes", "max_send_message_bytes", "int", MIB, 256 * MIB),
    _f("server.max_concurrent_streams", "max_concurrent_streams", "int", 1, 10_000),
    _f("server.keepalive.time", "keepalive_time_seconds", "seconds", 10, 2 * HOUR),
    _f("server.keepalive.timeout", "keepalive_timeout_seconds", "seconds", 1, 600),
    _f("server.keepalive.permit_without_calls", "keepalive_permit_without_calls", "bool", presence=True),
    _f("server.keepalive.min_ping_interval", "keepalive_min_ping_interval_seconds", "seconds", 1, HOUR),
    _f("server.keepalive.max_connection_idle", "max_connection_idle_seconds", "seconds", 0, 30 * DAY),
    _f("server.keepalive.max_connection_age", "max_connection_age_seconds", "seconds", 0, 30 * DAY),
    _f("server.keepalive.max_connection_age_grace", "max_connection_age_grace_seconds", "seconds", 0, HOUR),
    _f("server.shutdown_grace", "shutdown_grace_seconds", "seconds", 0, 600, live=True),
    _f("database.url", "database_url", "secret_url"),
    _f("database.lease_ttl", "lease_ttl_seconds", "seconds", 1, HOUR),
    _f("database.lease_heartbeat_interval", "lease_heartbeat_seconds", "seconds", 0.1, 600),
    _f("database.lease_claim_interval", "lease_claim_interval_seconds", "seconds", 0.1, 600),
    _f("limits.default_page_size", "limits.default_page_size", "int", 1, 10_000, live=True),
    _f("limits.max_page_size", "limits.max_page_size", "int", 1, 10_000, live=True),
    _f("limits.max_message_bytes", "limits.max_message_text_bytes", "int", 1024, 256 * MIB, live=True),
    _f("limits.max_sessions_per_owner", "limits.max_sessions_per_owner", "int", 1, 100_000_000, live=True),
    _f("limits.default_run_steps", "runs.default_max_steps", "int", 1, 1_000, live=True),
    _f("limits.default_run_duration", "runs.default_max_run_seconds", "seconds", 1, DAY, live=True),
    _f("limits.default_tool_timeout", "runs.default_tool_timeout_seconds", "seconds", 0.001, HOUR, live=True),
    _f("limits.default_input_timeout", "runs.default_input_timeout_seconds", "seconds", 1, 7 * DAY, live=True),
    _f("limits.max_concurrent_runs", "runs.max_concurrent_runs", "int", 1, 100_000),
    _f("limits.max_active_runs_per_owner", "runs.max_active_runs_per_caller", "int", 1, 1_000_000, live=True),
    _f("limits.max_streams_per_principal", "rate_limits.max_streams_per_principal", "int", 1, 100_000, live=True),
    _f("providers.builtin.tokens_per_second", "runs.builtin_tokens_per_second", "float", 0, 100_000, live=True, presence=True),
    _f("providers.openai.base_url", "runs.openai_base_url", "url", live=True),
    _f("providers.openai.model", "runs.openai_model", "str", live=True),
    _f("providers.openai.api_key", "runs.openai_api_key", "secret", live=True),
    _f("providers.endpoints", "runs.provider_endpoints", "endpoints", live=True),
    _f("providers.retries.max_attempts", "runs.provider_max_attempts", "int", 1, 10, live=True),
    _f("providers.retries.initial_backoff", "runs.provider_retry_base_seconds", "seconds", 0.001, 60, live=True),
    _f("network.egress.allow_private", "network.egress_allow_private", "bool", live=True, presence=True),
    _f("network.egress.allowed_destinations", "network.egress_allowed_destinations", "destinations", live=True),
    _f("rate_limits.enabled", "rate_limits.enabled", "bool", live=True, presence=True),
    _f("rate_limits.tiers", "rate_limits.tiers", "tiers", live=True),
    _f("rate_limits.overrides", "rate_limits.overrides", "overrides", live=True),
    _f("sessions.sweeper_interval", "sweep_interval_seconds", "seconds", 1, DAY, live=True),
    _f("sessions.idempotency_window", "idempotency_window", "seconds", 60, 7 * DAY, live=True, timedelta=True),
    _f("redis.url", "redis_url", "secret_url"),
    _f("redis.key_prefix", "redis_key_prefix", "str"),
    _f("auth.allow_anonymous", "auth.allow_anonymous", "bool", live=True),
    _f("limits.max_upload_bytes", "files.max_upload_bytes", "int", 1, 1024 * 1024 * MIB, live=True),
    _f("files.storage_dir", "files.file_storage_dir", "str"),
    _f("files.extraction_workers", "files.file_processing_concurrency", "int", 1, 64),
    _f("files.extraction_timeout", "files.file_processing_timeout_seconds", "seconds", 1, DAY, live=True),
    _f("files.max_extracted_chars", "files.max_extracted_text_chars", "int", 1, 1_000_000_000, live=True),
    _f("files.chunk_chars", "files.file_chunk_chars", "int", 100, 100_000, live=True),
    _f("limits.max_batch_tasks", "limits.max_batch_tasks", "int", 1, 1_000_000, live=True),
    _f("limits.max_batch_concurrency", "limits.max_batch_concurrency", "int", 1, 10_000, live=True),
    _f("limits.max_subscriptions_per_connection", "events.event_max_subscriptions", "int", 1, 1_000),
    _f("events.retention", "events.event_retention", "seconds", 60, 3650 * DAY, timedelta=True),
    _f("events.heartbeat_interval", "events.event_heartbeat_seconds", "seconds", 1, 600),
    _f("events.subscription_ttl", "events.event_subscription_ttl", "seconds", 60, 3650 * DAY, timedelta=True),
)
BY_PATH = {f.path: f for f in FIELDS}
SECTIONS = tuple(dict.fromkeys(f.section for f in FIELDS))


def fields_under(path: str) -> list[ConfigField]:
    """The fields a mask path names: one field, or every field of a section or sub-section."""
    if path in BY_PATH:
        return [BY_PATH[path]]
    return [f for f in FIELDS if f.path.startswith(path + ".")]


# -- reading and writing Settings ------------------------------------------------


def get_value(settings: Settings, field: ConfigField) -> Any:
    value: Any = settings
    for part in field.attr.split("."):
        value = getattr(value, part)
    return value


def with_value(settings: Settings, field: ConfigField, value: Any) -> Settings:
    head, _, rest = field.attr.partition(".")
    if not rest:
        return dataclasses.replace(settings, **{head: value})
    return dataclasses.replace(settings, **{head: dataclasses.replace(getattr(settings, head), **{rest: value})})


DEFAULTS = Settings()


def default_of(field: ConfigField) -> Any:
    return get_value(DEFAULTS, field)


# -- parsing values ---------------------------------------------------------------


class _Problem(ValueError):
    pass


def parse_value(field: ConfigField, raw: Any, current: Any) -> Any:
    """The Settings value for `raw`; `current` is kept for a redacted secret. Raises _Problem."""
    kind = field.kind
    if kind in ("int", "float", "seconds"):
        number = _seconds(raw) if kind == "seconds" else _number(raw, whole=kind == "int")
        _check_range(field, number)
        if kind == "int":
            return int(number)
        return timedelta(seconds=number) if field.timedelta else float(number)
    if kind == "bool":
        if not isinstance(raw, bool):
            raise _Problem("must be true or false")
        return raw
    if kind == "destinations":
        return _destinations(raw)
    if kind == "endpoints":
        return _endpoints(raw, current)
    if not isinstance(raw, (str, list, dict)) or (kind not in ("tiers", "overrides") and not isinstance(raw, str)):
        raise _Problem("must be a string" if kind not in ("tiers", "overrides") else "must be a list")
    if kind in ("secret", "secret_url") and raw == REDACTED:
        return current
    if kind in ("url",) and isinstance(raw, str) and raw and not raw.startswith(("http://", "https://")):
        raise _Problem("must be an http:// or https:// URL")
    if kind == "secret_url" and field.path == "redis.url" and isinstance(raw, str) and raw and not raw.startswith(("redis://", "rediss://", "unix://")):
        raise _Problem("must be a redis://, rediss:// or unix:// URL")
    if kind == "tiers":
        return _tiers(raw)
    if kind == "overrides":
        return _overrides(raw)
    return raw


def _number(raw: Any, *, whole: bool) -> float:
    if isinstance(raw, bool):
        raise _Problem("must be a number")
    if isinstance(raw, str):  # proto JSON writes int64 as a string
        try:
            raw = int(raw) if whole else float(raw)
        except ValueError:
            raise _Problem("must be a whole number" if whole else "must be a number") from None
    if not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise _Problem("must be a number")
    if whole and raw != int(raw):
        raise _Problem("must be a whole number")
    return raw


def _seconds(raw: Any) -> float:
    if isinstance(raw, bool):
        raise _Problem("must be a duration such as 30, \"500ms\", \"30s\", \"5m\", \"2h\" or \"1d\"")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise _Problem("must be a finite duration")
        return float(raw)
    match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise _Problem("must be a duration such as 30, \"500ms\", \"30s\", \"5m\", \"2h\" or \"1d\"")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _check_range(field: ConfigField, value: float) -> None:
    lo, hi = field.minimum, field.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        unit = " seconds" if field.kind == "seconds" else ""
        raise _Problem(f"must be between {lo:g} and {hi:g}{unit}; got {value:g}")


def _tier_name(raw: Any) -> str:
    text = str(raw).lower().removeprefix("tier_")
    if text not in TIER_NAMES:
        raise _Problem(f"unknown tier {raw!r}; tiers: {', '.join(TIER_NAMES)}")
    return text


def _tiers(raw: Any) -> dict[str, dict[str, Bucket]]:
    if not isinstance(raw, list):
        raise _Problem("must be a list of tiers")
    tiers: dict[str, dict[str, Bucket]] = {}
    for index, item in enumerate(raw):
        where = f"[{index}]"
        if not isinstance(item, dict) or set(item) - {"tier", "buckets"}:
            raise _Problem(f"{where}: expected {{tier, buckets}}")
        tier = _at(where + ".tier", _tier_name, item.get("tier", ""))
        if tier in tiers:
            raise _Problem(f"{where}.tier: {tier} is listed twice")
        buckets: dict[str, Bucket] = {}
        for b_index, bucket in enumerate(item.get("buckets") or []):
            b_where = f"{where}.buckets[{b_index}]"
            if not isinstance(bucket, dict) or set(bucket) - {"method_class", "requests_per_second", "burst"}:
                raise _Problem(f"{b_where}: expected {{method_class, requests_per_second, burst}}")
            klass = _at(b_where + ".method_class", _class_name, bucket.get("method_class", ""))
            if klass in buckets:
                raise _Problem(f"{b_where}.method_class: {klass} is listed twice")
            rate = _at(b_where + ".requests_per_second", lambda v: _number(v, whole=False), bucket.get("requests_per_second", 0))
            burst = _at(b_where + ".burst", lambda v: _number(v, whole=True), bucket.get("burst", 0))
            if rate <= 0:
                raise _Problem(f"{b_where}.requests_per_second: must be greater than 0")
            if burst < 1:
                raise _Problem(f"{b_where}.burst: must be at least 1")
            buckets[klass] = Bucket(float(rate), int(burst))
        tiers[tier] = buckets
    return tiers


def _overrides(raw: Any) -> tuple[RateLimitOverride, ...]:
    if not isinstance(raw, list):
        raise _Problem("must be a list of overrides")
    overrides = []
    for index, item in enumerate(raw):
        where = f"[{index}]"
        known = {"principal", "method", "method_class", "requests_per_second", "burst"}
        if not isinstance(item, dict) or set(item) - known:
            raise _Problem(f"{where}: expected {{{', '.join(sorted(known))}}}")
        principal, method = str(item.get("principal") or ""), str(item.get("method") or "")
        klass = _at(where + ".method_class", _class_name, item["method_class"]) if item.get("method_class") else ""
        if not principal and not method:
            raise _Problem(f"{where}: set principal, method or both")
        if method and not (method.startswith("/") and method.count("/") == 2):
            raise _Problem(f"{where}.method: must be a full gRPC method name such as /runwire.v1.RunService/ExecuteAgent")
        rate = _at(where + ".requests_per_second", lambda v: _number(v, whole=False), item.get("requests_per_second", 0))
        burst = _at(where + ".burst", lambda v: _number(v, whole=True), item.get("burst", 0))
        if rate < 0:
            raise _Problem(f"{where}.requests_per_second: must be 0 (blocked) or more")
        if rate > 0 and burst < 1:
            raise _Problem(f"{where}.burst: must be at least 1")
        overrides.append(RateLimitOverride(float(rate), int(max(burst, 0)), principal, method, "" if method else klass))
    return tuple(overrides)


_ENDPOINT_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")
MAX_ENDPOINTS = 100


def _endpoints(raw: Any, current: tuple[ProviderEndpoint, ...]) -> tuple[ProviderEndpoint, ...]:
    if not isinstance(raw, list):
        raise _Problem("must be a list")
    if len(raw) > MAX_ENDPOINTS:
        raise _Problem(f"has {len(raw)} endpoints; the limit is {MAX_ENDPOINTS}")
    keys = {e.name: e.api_key for e in current}
    endpoints: list[ProviderEndpoint] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise _Problem(f"[{index}]: must be an object with name, base_url, api_key and allowed_models")
        unknown = set(item) - {"name", "base_url", "api_key", "allowed_models"}
        if unknown:
            raise _Problem(f"[{index}].{sorted(unknown)[0]}: is not a field of an endpoint")
        name, base_url, api_key = item.get("name"), item.get("base_url"), item.get("api_key", "")
        models = item.get("allowed_models", [])
        if not isinstance(name, str) or not _ENDPOINT_NAME.fullmatch(name):
            raise _Problem(f"[{index}].name: must be 1 to 63 characters of [a-z0-9-] starting with a letter")
        if name == "openai" or any(e.name == name for e in endpoints):
            raise _Problem(f"[{index}].name: {name!r} is taken (`openai` is providers.openai)")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise _Problem(f"[{index}].base_url: must be an http:// or https:// URL")
        if not isinstance(api_key, str):
            raise _Problem(f"[{index}].api_key: must be a string")
        if not isinstance(models, list) or not all(isinstance(m, str) and m.strip() for m in models):
            raise _Problem(f"[{index}].allowed_models: must be a list of model names")
        if api_key == REDACTED:
            api_key = keys.get(name, "")
        endpoints.append(ProviderEndpoint(name, base_url, api_key, tuple(m.strip() for m in models)))
    return tuple(endpoints)


def _destinations(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise _Problem("must be a list")
    for index, entry in enumerate(raw):
        if not isinstance(entry, str):
            raise _Problem(f"[{index}]: must be a string")
        try:
            parse_allowed_destinations([entry])
        except ValueError as exc:
            raise _Problem(f"[{index}]: {exc}") from None
    return tuple(entry.strip() for entry in raw)


def _class_name(raw: Any) -> str:
    try:
        return _method_class(raw, "method_class")
    except SettingsError as exc:
        raise _Problem(str(exc).removeprefix("method_class: ")) from None


def _at(where: str, parse: Callable[[Any], Any], raw: Any) -> Any:
    try:
        return parse(raw)
    except _Problem as exc:
        raise _Problem(f"{where}: {exc}") from None


def _is_zero(field: ConfigField, raw: Any) -> bool:
    """Without presence, proto3 cannot tell 0 from unset: both take the default."""
    if raw is None:
        return True
    if field.presence or field.kind in ("tiers", "overrides"):
        return False
    if field.kind in ("destinations", "endpoints"):
        return isinstance(raw, list) and not raw
    if isinstance(raw, bool):
        return raw is False
    if isinstance(raw, (int, float)):
        return raw == 0
    if isinstance(raw, str):
        return raw.strip() in ("", "0", "0s")
    return False


# -- applying a nested mapping ------------------------------------------------------


def lookup(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _zero_refused(field: ConfigField) -> str | None:
    """Why an explicit 0 is no value of a number field whose range excludes it (else None)."""
    if field.kind not in ("int", "float", "seconds") or field.minimum is None or field.minimum <= 0:
        return None
    unit = " seconds" if field.kind == "seconds" else ""
    default = _shown(field, default_of(field))
    return f"must be between {field.minimum:g} and {field.maximum:g}{unit}; got 0 (leave the field out for its default, {default})"


def apply_fields(
    base: Settings,
    values: Mapping[str, Any],
    fields: list[ConfigField],
    violations: list[tuple[str, str]],
    prefix: str = "",
    named: frozenset[str] = frozenset(),
) -> Settings:
    """`base` with each field of `fields` set from `values` (its default when absent). A zero takes the
    default only where it cannot be told from absent: a 0 written in a file, or sent for a field that
    `named` lists (an update mask naming it), is checked against the field's range like any value."""
    settings = base
    for field in fields:
        raw = lookup(values, field.path)
        if _is_zero(field, raw):
            refused = _zero_refused(field) if (raw is not None or field.path in named) else None
            if refused:
                violations.append((f"{prefix}{field.path}", refused))
                continue
            value = default_of(field)
        else:
            try:
                value = parse_value(field, raw, get_value(base, field))
            except _Problem as exc:
                text = str(exc)
                sub, sep, rest = text.partition(": ")
                if sep and sub.startswith("["):  # a problem inside a list item names its own path
                    violations.append((f"{prefix}{field.path}{sub}", rest))
                else:
                    violations.append((f"{prefix}{field.path}", text))
                continue
        settings = with_value(settings, field, value)
    return settings


def unknown_paths(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Paths in `values` that are no field of the table (a typo, or a field this server does not support)."""
    found = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in BY_PATH:
            continue
        if isinstance(value, Mapping) and any(f.path.startswith(path + ".") for f in FIELDS):
            found.extend(unknown_paths(value, path + "."))
        else:
            found.append(path)
    return found


def range_violations(
    settings: Settings, prefix: str = "", paths: Collection[str] | None = None, *, default_page_size_given: bool = True
) -> list[tuple[str, str]]:
    """Every number field (of `paths`, or all) outside its range, and limits that contradict each other, by
    field path: the same rules for a file, environment variables, flags and ConfigService."""
    found = []
    for field in FIELDS:
        if field.kind not in ("int", "float", "seconds") or (paths is not None and field.path not in paths):
            continue
        value = get_value(settings, field)
        number = value.total_seconds() if isinstance(value, timedelta) else value
        try:
            _check_range(field, number)
        except _Problem as exc:
            found.append((f"{prefix}{field.path}", str(exc)))
    limits = settings.limits
    # A default page size that is set must fit under the maximum; one left to its default is capped by it.
    if default_page_size_given and limits.default_page_size > limits.max_page_size:
        found.append(
            (
                f"{prefix}limits.default_page_size",
                f"must be at most limits.max_page_size ({limits.max_page_size}); got {limits.default_page_size}",
            )
        )
    return found


def cross_checks(
    settings: Settings,
    violations: list[tuple[str, str]],
    prefix: str = "",
    paths: Collection[str] | None = None,
    *,
    default_page_size_given: bool = True,
) -> None:
    """What holds across fields, and what Settings itself checks beyond each field's range."""
    found = range_violations(settings, prefix, paths, default_page_size_given=default_page_size_given)
    if found:
        violations.extend(found)
        return
    try:
        settings.validate()
    except SettingsError as exc:
        violations.append((f"{prefix}config", str(exc)))


def settings_from_values(values: Mapping[str, Any], base: Settings | None = None, prefix: str = "") -> tuple[Settings, list[tuple[str, str]]]:
    """A whole configuration: every field from `values` or its default, over `base` for what the table does not cover."""
    violations = [(f"{prefix}{p}", "is not a configuration field this server supports") for p in unknown_paths(values)]
    settings = apply_fields(base or Settings(), values, list(FIELDS), violations, prefix)
    if not violations:
        cross_checks(settings, violations, prefix, default_page_size_given=lookup(values, "limits.default_page_size") is not None)
    return settings, violations


def read_file(path: Path) -> dict[str, Any]:
    """The TOML file as a mapping; SettingsError when it cannot be read or parsed."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"configuration file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"cannot read configuration file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("file", f"is not valid TOML{toml_position(exc)}")], str(path)) from None


def toml_position(error: tomllib.TOMLDecodeError) -> str:
    """ " (line 3, column 7)" from the reader's message, whose own words are not repeated."""
    found = re.search(r"line (\d+), column (\d+)", str(error))
    if found:
        return f" (line {found[1]}, column {found[2]})"
    return " (at its end)" if "end of document" in str(error) else ""


def settings_from_file(path: Path) -> Settings:
    """Defaults overridden by the file. Raises ConfigError with every invalid field."""
    settings, violations = settings_from_values(read_file(path))
    if violations:
        raise ConfigError(violations, str(path))
    return settings


# -- writing -----------------------------------------------------------------------------


def to_values(settings: Settings) -> dict[str, Any]:
    """Every field as a nested mapping in the proto's JSON form, secrets redacted."""
    out: dict[str, Any] = {}
    for field in FIELDS:
        value = _shown(field, get_value(settings, field))
        target = out
        *parents, leaf = field.path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


def _shown(field: ConfigField, value: Any) -> Any:
    kind = field.kind
    if kind == "seconds":
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    if kind == "int":
        return int(value)
    if kind == "secret":
        return REDACTED if value else ""
    if kind == "destinations":
        return list(value)
    if kind == "endpoints":
        return [
            {"name": e.name, "base_url": e.base_url, "api_key": REDACTED if e.api_key else "", "allowed_models": list(e.allowed_models)}
            for e in value
        ]
    if kind == "secret_url":
        return redact_url(value)
    if kind == "tiers":
        return [
            {
                "tier": f"TIER_{tier.upper()}",
                "buckets": [
                    {"method_class": f"METHOD_CLASS_{klass.upper()}", "requests_per_second": b.rate, "burst": b.burst}
                    for klass, b in buckets.items()
                ],
            }
            for tier, buckets in value.items()
        ]
    if kind == "overrides":
        return [
            {
                "principal": o.principal,
                "method": o.method,
                **({"method_class": f"METHOD_CLASS_{o.method_class.upper()}"} if o.method_class else {}),
                "requests_per_second": o.rate,
                "burst": o.burst,
            }
            for o in value
        ]
    return value


def redact_url(url: str) -> str:
    """The URL with its password replaced by ********."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:{REDACTED}@{host}{port}", parts.path, parts.query, parts.fragment))


def changed_paths(old: Settings, new: Settings) -> list[str]:
    return [f.path for f in FIELDS if get_value(old, f) != get_value(new, f)]


__all__ = [
    "BY_PATH",
    "ConfigError",
    "ConfigField",
    "FIELDS",
    "REDACTED",
    "SECTIONS",
    "apply_fields",
    "changed_paths",
    "fields_under",
    "range_violations",
    "read_file",
    "settings_from_file",
    "settings_from_values",
    "to_values",
]
