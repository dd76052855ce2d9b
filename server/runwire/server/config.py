"""Server settings: defaults that embed everything, overridden by a TOML configuration file, then by RUNWIRE_*
environment variables, then by flags (config_fields.py maps the file's fields onto these settings)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

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
    # Batches: tasks per batch, tasks of one batch executing at once, and batch tasks executing in all.
    max_batch_tasks: int = 10_000
    max_batch_concurrency: int = 64
    max_concurrent_batch_tasks: int = 64


@dataclass(frozen=True)
class ProviderEndpoint:
    """A named OpenAI-compatible endpoint an admin configured (`providers.endpoints`)."""

    name: str
    base_url: str
    api_key: str = field(default="", repr=False)
    # Models agents may use here; empty allows any.
    allowed_models: tuple[str, ...] = ()


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
    openai_api_key: str = field(default="", repr=False)
    openai_model: str = ""
    # More named endpoints; `openai` (the fields above) is the default one.
    provider_endpoints: tuple[ProviderEndpoint, ...] = ()


# -- resource events ---------------------------------------------------------------


@dataclass(frozen=True)
class EventSettings:
    """The resource event log (EventService): retention, live delivery and Connect streams."""

    # Events older than this are deleted by the sweeper; a cursor before them gets CURSOR_EXPIRED.
    event_retention: timedelta = timedelta(days=7)
    # Named subscriptions unused (no subscribe, no acknowledgement) for this long are deleted.
    event_subscription_ttl: timedelta = timedelta(days=30)
    # Newest events kept in memory for live subscribers (all principals together). A live subscriber
    # that falls further behind is a slow consumer: told (SLOW_CONSUMER) and disconnected.
    event_live_buffer: int = 10_000
    # Quiet Subscribe streams get a heartbeat, and Connect streams a ping, this often; a Connect client
    # silent for two intervals (no pong, no message) is dropped.
    event_heartbeat_seconds: float = 15.0
    # Messages waiting to be written to one Connect stream; a stream that stays full is a slow consumer.
    event_connect_buffer: int = 256
    # Subscriptions open at once on one Connect stream.
    event_max_subscriptions: int = 16
    # How often the log is read for events written by other processes or replicas.
    event_poll_seconds: float = 1.0
    # MessagingService: messages are kept (and delivered to clients that connect later) for at most this
    # long, then deleted by the sweeper; a request without an expire_time or ttl expires after the TTL.
    message_retention: timedelta = timedelta(days=7)
    message_request_ttl: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class McpSettings:
    """How the server keeps registered MCP servers connected."""

    # After a failure, reconnect (restart the process, for stdio) after this delay, doubled per failure up to the max.
    mcp_restart_backoff_seconds: float = 0.5
    mcp_restart_backoff_max_seconds: float = 60.0
    # A connected server is pinged this often, so a dead one is noticed even when no tool is called.
    mcp_health_check_seconds: float = 15.0


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed_destinations(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """Host names and networks of an allow-list; ValueError names the first entry that is neither."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            raise ValueError("an entry is empty")
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
            continue
        except ValueError:
            pass
        name = text.lower().rstrip(".")
        if "/" in name or ":" in name or " " in name or not name:
            raise ValueError(f"{entry!r} is neither a host name nor an address or CIDR network")
        hosts.add(name)
    return frozenset(hosts), tuple(networks)



@dataclass(frozen=True)
class NetworkSettings:
    """Where outgoing requests that users aim (their agents' `model.base_url`, HTTP MCP servers) may go."""

    # Allow loopback, private (RFC 1918, fc00::/7), shared and link-local destinations, which are refused by default.
    egress_allow_private: bool = False
    # Host names and addresses or CIDR networks always allowed, e.g. ("models.internal", "10.0.8.0/24").
    egress_allowed_destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSettings:
    """Uploads, storage and text extraction of files."""

    # Largest upload accepted, in bytes.
    max_upload_bytes: int = 100 * MIB
    # Where file contents live (content-addressed); empty means {data_dir}/files.
    file_storage_dir: str = ""
    # Files whose text is extracted at once; each extraction runs in its own worker process.
    file_processing_concurrency: int = 2
    # One extraction may take this long and address this much memory before it is stopped.
    file_processing_timeout_seconds: float = 300.0
    file_processing_memory_bytes: int = 2048 * MIB
    # Refused before decoding: images over this many pixels, PDFs over this many pages.
    max_image_pixels: int = 40_000_000
    max_pdf_pages: int = 2_000
    # Zip-based formats (DOCX): the most their parts may expand to, and the largest expansion ratio.
    max_unzipped_bytes: int = 200 * MIB
    max_unzip_ratio: int = 200
    # Extracted text kept per file; the rest is cut.
    max_extracted_text_chars: int = 10_000_000
    # Size of the search chunks the text is split into.
    file_chunk_chars: int = 1_000
    # Semantic search: chunks get sentence embeddings (all-MiniLM-L6-v2, run locally) when this is on and the
    # `semantic` extra and the model package are installed.
    file_semantic_search: bool = False


# -- authentication -------------------------------------------------------------

AUTH_MODES = ("api_key_and_jwt", "insecure")


@dataclass(frozen=True)
class AuthSettings:
    """Who may call. API keys always work; JWTs when a secret or a JWKS file is configured."""

    # `api_key_and_jwt` (default) or `insecure`: no authentication, every call is the `local` principal.
    auth_mode: str = "api_key_and_jwt"
    # Shortcut for auth_mode=insecure (RUNWIRE_INSECURE_NO_AUTH=1, `runwire serve --insecure-no-auth`).
    insecure_no_auth: bool = False
    # Calls without credentials run as the `anonymous` principal (USER role, anonymous tier).
    allow_anonymous: bool = False
    # An admin key to create at start when no key with this secret exists (must look like `rw_` + 40 characters).
    # When unset and the server has no API key at all, one is generated and printed once on stderr.
    bootstrap_admin_key: str = field(default="", repr=False)
    # JWT bearer tokens: HS256 with a shared secret and/or RS256 with keys from a JWKS file.
    jwt_hs256_secret: str = field(default="", repr=False)
    jwt_jwks_file: str = ""
    # When set, tokens must carry this `iss` / include this `aud`.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # Claims naming the principal, its role (`admin` or `user`) and its tier (`default` or `premium`).
    jwt_principal_claim: str = "sub"
    jwt_role_claim: str = "role"
    jwt_tier_claim: str = "tier"
    # Clock skew tolerated on `exp`, `nbf` and `iat`.
    jwt_leeway_seconds: float = 30.0
    # How long a verified API key is trusted from memory before the database is read again. Revoking a key
    # clears it at once on the replica that revoked it (and on every replica when Redis is configured).
    api_key_cache_seconds: float = 5.0

    @property
    def insecure(self) -> bool:
        return self.insecure_no_auth or self.auth_mode == "insecure"


# -- rate limits ------------------------------------------------------------------

# Method classes of runwire.v1.RateLimitBucket.MethodClass (lower case, without the prefix).
METHOD_CLASSES = ("read", "write", "run", "stream", "file", "admin")
# Names the issue tracker uses for two of them.
METHOD_CLASS_ALIASES = {"execute": "run", "upload": "file"}


@dataclass(frozen=True)
class Bucket:
    """A token bucket: `rate` tokens per second (0 blocks every call), up to `burst` at once."""

    rate: float
    burst: int


@dataclass(frozen=True)
class RateLimitOverride:
    """runwire.v1.RateLimitOverride: a bucket for one principal, one method, or both (most specific wins)."""

    rate: float
    burst: int
    principal: str = ""
    method: str = ""
    method_class: str = ""


def _buckets(read: Bucket, write: Bucket, run: Bucket, stream: Bucket, file: Bucket, admin: Bucket | None) -> dict[str, Bucket]:
    table = {"read": read, "write": write, "run": run, "stream": stream, "file": file}
    if admin is not None:
        table["admin"] = admin
    return table


# Calls per second and burst, per tier and method class. A class missing from a tier is unlimited.
DEFAULT_RATE_LIMIT_TIERS: dict[str, dict[str, Bucket]] = {
    "anonymous": _buckets(Bucket(5, 20), Bucket(1, 5), Bucket(0.2, 2), Bucket(0.5, 4), Bucket(0.1, 2), None),
    "default": _buckets(Bucket(50, 200), Bucket(20, 100), Bucket(5, 20), Bucket(5, 20), Bucket(2, 10), Bucket(10, 50)),
    "premium": _buckets(Bucket(500, 2000), Bucket(200, 1000), Bucket(50, 200), Bucket(50, 200), Bucket(20, 100), Bucket(50, 200)),
}


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool = True
    tiers: dict[str, dict[str, Bucket]] = field(default_factory=lambda: {t: dict(b) for t, b in DEFAULT_RATE_LIMIT_TIERS.items()})
    overrides: tuple[RateLimitOverride, ...] = ()
    # Server-streaming and bidirectional calls one principal may have open at once, per replica.
    max_streams_per_principal: int = 32


def clipped_value(raw: str) -> str:
    """A value someone wrote, quoted for a message about it: at most 80 characters."""
    return repr(raw if len(raw) <= 80 else raw[:79] + "…")


def parse_rate_limit_tiers(text: str, base: dict[str, dict[str, Bucket]] | None = None) -> dict[str, dict[str, Bucket]]:
    """RUNWIRE_RATE_LIMIT_TIERS: JSON `{"default": {"read": {"requests_per_second": 50, "burst": 200}, "run": null}}`.

    Each entry replaces that tier's bucket for that class; `null` makes the class unlimited for the tier.
    """
    tiers = {t: dict(b) for t, b in (base if base is not None else DEFAULT_RATE_LIMIT_TIERS).items()}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"RUNWIRE_RATE_LIMIT_TIERS is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise SettingsError("RUNWIRE_RATE_LIMIT_TIERS must be a JSON object of tiers")
    for tier, classes in data.items():
        if tier not in tiers:
            raise SettingsError(f"RUNWIRE_RATE_LIMIT_TIERS: unknown tier {tier!r}; tiers: {', '.join(tiers)}")
        if not isinstance(classes, dict):
            raise SettingsError(f"RUNWIRE_RATE_LIMIT_TIERS: {tier} must be an object of method classes")
        for name, spec in classes.items():
            method_class = _method_class(name, f"RUNWIRE_RATE_LIMIT_TIERS: {tier}")
            if spec is None:
                tiers[tier].pop(method_class, None)
                continue
            rate, burst = _rate_and_burst(spec, f"RUNWIRE_RATE_LIMIT_TIERS: {tier}.{name}")
            if rate <= 0:
                raise SettingsError(f"RUNWIRE_RATE_LIMIT_TIERS: {tier}.{name}: requests_per_second must be > 0")
            tiers[tier][method_class] = Bucket(rate, burst)
    return tiers


def parse_rate_limit_overrides(text: str) -> tuple[RateLimitOverride, ...]:
    """RUNWIRE_RATE_LIMIT_OVERRIDES: a JSON list of runwire.v1.RateLimitOverride objects, for example
    `[{"method": "/runwire.v1.RunService/ExecuteAgent", "requests_per_second": 1, "burst": 2},
      {"principal": "svc:batch", "method_class": "run", "requests_per_second": 100, "burst": 100}]`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"RUNWIRE_RATE_LIMIT_OVERRIDES is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, list):
        raise SettingsError("RUNWIRE_RATE_LIMIT_OVERRIDES must be a JSON list")
    overrides = []
    for index, item in enumerate(data):
        where = f"RUNWIRE_RATE_LIMIT_OVERRIDES[{index}]"
        if not isinstance(item, dict):
            raise SettingsError(f"{where} must be an object")
        unknown = set(item) - {"principal", "method", "method_class", "requests_per_second", "burst"}
        if unknown:
            raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        principal, method = str(item.get("principal") or ""), str(item.get("method") or "")
        method_class = _method_class(item["method_class"], where) if item.get("method_class") else ""
        if not principal and not method:
            raise SettingsError(f"{where}: set principal, method or both")
        if method and not (method.startswith("/") and method.count("/") == 2):
            raise SettingsError(f"{where}: method must be a full gRPC method name such as /runwire.v1.RunService/ExecuteAgent")
        if not method and not method_class and not principal:
            raise SettingsError(f"{where}: set method or method_class")
        rate, burst = _rate_and_burst(item, where, allow_zero=True)
        overrides.append(RateLimitOverride(rate, burst, principal, method, "" if method else method_class))
    return tuple(overrides)


def _method_class(name: Any, where: str) -> str:
    text = str(name).lower().removeprefix("method_class_")
    text = METHOD_CLASS_ALIASES.get(text, text)
    if text not in METHOD_CLASSES:
        raise SettingsError(f"{where}: unknown method class {name!r}; classes: {', '.join(METHOD_CLASSES)}")
    return text


def _rate_and_burst(spec: Any, where: str, *, allow_zero: bool = False) -> tuple[float, int]:
    if not isinstance(spec, dict) or "requests_per_second" not in spec:
        raise SettingsError(f"{where}: expected {{\"requests_per_second\": N, \"burst\": N}}")
    try:
        rate = float(spec["requests_per_second"])
        burst = int(spec.get("burst") or 0)
    except (TypeError, ValueError, OverflowError):
        raise SettingsError(f"{where}: requests_per_second must be a number and burst a whole number") from None
    if rate < 0 or rate != rate or rate == float("inf"):
        raise SettingsError(f"{where}: requests_per_second must be >= 0")
    if rate > 0 and burst < 1:
        raise SettingsError(f"{where}: burst must be at least 1")
    if rate == 0 and not allow_zero:
        raise SettingsError(f"{where}: requests_per_second must be > 0")
    return rate, max(burst, 0)


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
    # Leases on runs and batches (see docs/deployment.md, "Leases and takeover"): how long one lasts
    # unless renewed, how often a process renews what it holds, and how often it claims expired ones.
    lease_ttl_seconds: float = 15.0
    lease_heartbeat_seconds: float = 5.0
    lease_claim_interval_seconds: float = 5.0
    # How often a process with room looks for queued work that no process owns (docs/deployment.md).
    queue_poll_seconds: float = 0.5
    # `api` (serves the API, executes nothing), `worker` (executes and claims work, serves only health)
    # or `both`.
    role: str = "both"
    # Processes `runwire serve` runs on one port (SO_REUSEPORT), under a supervisor; PostgreSQL only.
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    runs: RunSettings = field(default_factory=lambda: RunSettings())
    files: FileSettings = field(default_factory=FileSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    events: EventSettings = field(default_factory=EventSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    # Key of secrets at rest (SecretService): 32 bytes, base64. Empty: {data_dir}/secrets.key, created at first start.
    secrets_key: str = field(default="", repr=False)
    # `json` (one object per line: time, level, logger, message, request_id, method, principal...) or `text`.
    log_format: str = "json"
    # Prometheus metrics over HTTP at http://{metrics_host}:{metrics_port}/metrics; 0 turns them off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Redis shared by replicas (rate limits, API key revocations); empty keeps everything in-process.
    redis_url: str = field(default="", repr=False)  # may hold a password
    redis_key_prefix: str = "runwire:"
    # Unary calls that arrive without a deadline get this one; 0 leaves them unbounded. Streams are exempt.
    default_deadline_seconds: float = 60.0
    # Largest request metadata (headers) accepted, in bytes; larger calls are refused by the transport.
    max_metadata_bytes: int = 16 * 1024
    # Concurrent calls on one HTTP/2 connection.
    max_concurrent_streams: int = 1000
    # HTTP/2 keepalive and connection age (seconds; 0 = never for idle and age).
    keepalive_time_seconds: float = 60.0
    keepalive_timeout_seconds: float = 20.0
    keepalive_min_ping_interval_seconds: float = 10.0
    keepalive_permit_without_calls: bool = True
    max_connection_idle_seconds: float = 0.0
    max_connection_age_seconds: float = 0.0
    max_connection_age_grace_seconds: float = 30.0
    # The TOML configuration file read at start (--config, RUNWIRE_CONFIG_FILE); empty without one.
    config_file: str = ""
    # The flags given at start, applied again over the file when the configuration is reloaded.
    flag_overrides: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'runwire.db').resolve()}"

    def database_description(self) -> str:
        """The database for messages to whoever runs the server: the SQLite file, or the URL without its password."""
        from sqlalchemy.engine import make_url

        url = make_url(self.effective_database_url)
        if url.get_backend_name() == "sqlite":
            return f"database {url.database}"
        return f"database {url.render_as_string(hide_password=True)}"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Defaults, then the configuration file, then RUNWIRE_* variables, then explicit overrides (flags); None
        overrides are skipped. The file is `config_file`, or RUNWIRE_CONFIG_FILE when that is None."""
        env = os.environ if env is None else env
        flags = {k: v for k, v in overrides.items() if v is not None}
        if config_file is None:
            config_file = env.get("RUNWIRE_CONFIG_FILE") or ""
        base = cls()
        if config_file:
            from runwire.server.config_fields import settings_from_file

            base = settings_from_file(Path(config_file))
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in _NESTED or f.name in ("config_file", "flag_overrides"):
                continue
            raw = env.get(f"RUNWIRE_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw, f.type)
        nested: dict[str, dict[str, Any]] = {name: {} for name in _NESTED}
        for name, kind in _NESTED.items():
            for f in dataclasses.fields(kind):
                if f.name in ("tiers", "overrides") and kind is RateLimitSettings:
                    continue
                if f.name == "provider_endpoints":  # the file and ConfigService only
                    continue
                env_name = "RUNWIRE_RATE_LIMITS_ENABLED" if (kind is RateLimitSettings and f.name == "enabled") else f"RUNWIRE_{f.name.upper()}"
                raw = env.get(env_name)
                if raw is not None and raw != "":
                    nested[name][f.name] = _convert(f.name, raw, "int" if kind is Limits else f.type)
        if env.get("RUNWIRE_RATE_LIMIT_TIERS"):
            nested["rate_limits"]["tiers"] = parse_rate_limit_tiers(env["RUNWIRE_RATE_LIMIT_TIERS"], base.rate_limits.tiers)
        if env.get("RUNWIRE_RATE_LIMIT_OVERRIDES"):
            nested["rate_limits"]["overrides"] = parse_rate_limit_overrides(env["RUNWIRE_RATE_LIMIT_OVERRIDES"])
        # Flags for nested settings arrive as overrides named after their field.
        for name, kind in _NESTED.items():
            names = {f.name for f in dataclasses.fields(kind)}
            for key in list(overrides):
                if key in names and overrides[key] is not None:
                    nested[name][key] = overrides.pop(key)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("data_dir"), str):
            values["data_dir"] = Path(values["data_dir"])
        for name in _NESTED:
            if name not in values:
                values[name] = dataclasses.replace(getattr(base, name), **nested[name])
        settings = dataclasses.replace(base, **values, config_file=str(config_file), flag_overrides=flags)
        from runwire.server.config_fields import ConfigError, range_violations

        # The ranges ConfigService enforces hold for environment variables and flags too.
        violations = range_violations(settings, default_page_size_given="default_page_size" in nested["limits"])
        if violations:
            raise ConfigError(violations, "the environment and flags" if not config_file else str(config_file))
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            parse_allowed_destinations(self.network.egress_allowed_destinations)
        except ValueError as exc:
            raise SettingsError(f"egress_allowed_destinations: {exc}") from None
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0..65535, got {self.port}")
        if self.shutdown_grace_seconds < 0:
            raise SettingsError("shutdown_grace_seconds must be >= 0")
        if self.sweep_interval_seconds <= 0:
            raise SettingsError("sweep_interval_seconds must be > 0")
        if min(self.lease_ttl_seconds, self.lease_heartbeat_seconds, self.lease_claim_interval_seconds) <= 0:
            raise SettingsError("lease_ttl_seconds, lease_heartbeat_seconds and lease_claim_interval_seconds must be > 0")
        if self.queue_poll_seconds <= 0:
            raise SettingsError("queue_poll_seconds must be > 0")
        if self.role not in ROLES:
            raise SettingsError(f"role must be one of {', '.join(ROLES)}; got {clipped_value(self.role)}")
        sqlite = self.effective_database_url.startswith("sqlite")
        if self.role == "api" and sqlite:
            raise SettingsError(
                "an API-only process (role api) executes no runs, and a SQLite data dir serves one process "
                "group, so no worker could run them: use PostgreSQL (--database-url postgresql+asyncpg://...) "
                "with worker processes (--role worker), or role both"
            )
        if not 1 <= self.workers <= 256:
            raise SettingsError(f"workers must be 1..256, got {self.workers}")
        if self.workers > 1 and self.port == 0:
            raise SettingsError("--workers above 1 needs a fixed port: workers share it, and port 0 gives each its own")
        if self.workers > 1 and sqlite:
            raise SettingsError(
                "--workers above 1 needs PostgreSQL (--database-url postgresql+asyncpg://...): a SQLite "
                "database takes one writer at a time, which one process already keeps busy"
            )
        if self.lease_heartbeat_seconds >= self.lease_ttl_seconds:
            raise SettingsError("lease_heartbeat_seconds must be below lease_ttl_seconds, or every lease expires between beats")
        for f in dataclasses.fields(Limits):
            if getattr(self.limits, f.name) <= 0:
                raise SettingsError(f"{f.name} must be > 0")
        for f in dataclasses.fields(RunSettings):
            value = getattr(self.runs, f.name)
            if isinstance(value, (int, float)) and value < 0:
                raise SettingsError(f"{f.name} must be >= 0")
        for f in dataclasses.fields(McpSettings):
            if getattr(self.mcp, f.name) <= 0:
                raise SettingsError(f"{f.name} must be > 0")
        auth = self.auth
        if auth.auth_mode not in AUTH_MODES:
            raise SettingsError(f"auth_mode must be one of {', '.join(AUTH_MODES)}, got {auth.auth_mode!r}")
        if auth.bootstrap_admin_key and not _looks_like_api_key(auth.bootstrap_admin_key):
            raise SettingsError("RUNWIRE_BOOTSTRAP_ADMIN_KEY must be `rw_` followed by 40 letters and digits")
        if auth.jwt_jwks_file and not Path(auth.jwt_jwks_file).is_file():
            raise SettingsError(f"RUNWIRE_JWT_JWKS_FILE {auth.jwt_jwks_file!r} is not a readable file")
        if auth.jwt_hs256_secret and len(auth.jwt_hs256_secret.encode()) < 32:
            raise SettingsError("RUNWIRE_JWT_HS256_SECRET must be at least 32 bytes")
        if auth.api_key_cache_seconds < 0 or auth.jwt_leeway_seconds < 0:
            raise SettingsError("api_key_cache_seconds and jwt_leeway_seconds must be >= 0")
        for f in dataclasses.fields(FileSettings):
            value = getattr(self.files, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise SettingsError(f"{f.name} must be > 0")
        if self.rate_limits.max_streams_per_principal < 1:
            raise SettingsError("max_streams_per_principal must be >= 1")
        events = self.events
        if events.event_retention.total_seconds() <= 0 or events.event_subscription_ttl.total_seconds() <= 0:
            raise SettingsError("event_retention and event_subscription_ttl must be > 0")
        if events.message_retention.total_seconds() <= 0 or events.message_request_ttl.total_seconds() <= 0:
            raise SettingsError("message_retention and message_request_ttl must be > 0")
        for name in ("event_live_buffer", "event_heartbeat_seconds", "event_connect_buffer", "event_max_subscriptions", "event_poll_seconds"):
            if getattr(events, name) <= 0:
                raise SettingsError(f"{name} must be > 0")
        if self.log_format not in ("json", "text"):
            raise SettingsError(f"log_format must be json or text, got {self.log_format!r}")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError(f"metrics_port must be 0..65535, got {self.metrics_port}")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("redis_url must be a redis://, rediss:// or unix:// URL")
        for name in (
            "default_deadline_seconds",
            "max_connection_idle_seconds",
            "max_connection_age_seconds",
            "max_connection_age_grace_seconds",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be >= 0")
        for name in ("keepalive_time_seconds", "keepalive_timeout_seconds", "max_metadata_bytes", "max_concurrent_streams"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be > 0")


_NESTED: dict[str, type] = {
    "limits": Limits,
    "runs": RunSettings,
    "auth": AuthSettings,
    "rate_limits": RateLimitSettings,
    "events": EventSettings,
}
_NESTED["files"] = FileSettings
_NESTED["mcp"] = McpSettings
_NESTED["network"] = NetworkSettings
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _looks_like_api_key(text: str) -> bool:
    return len(text) == 43 and text.startswith("rw_") and text[3:].isalnum() and text[3:].isascii()


ROLES = ("both", "api", "worker")


def _convert(name: str, raw: str, type_name: Any) -> Any:
    type_name = str(type_name)
    if type_name == "bool":
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise SettingsError(f"RUNWIRE_{name.upper()}={raw!r}: expected 1/0, true/false, yes/no or on/off")
    if "tuple" in type_name:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    try:
        if "timedelta" in type_name:
            return timedelta(seconds=float(raw))
        if "Path" in type_name:
            return Path(raw)
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except (ValueError, OverflowError):
        kind = "an integer" if type_name == "int" else "a number of seconds" if "timedelta" in type_name else "a number"
        raise SettingsError(f"RUNWIRE_{name.upper()} must be {kind}; got {clipped_value(raw)}") from None
    return raw
