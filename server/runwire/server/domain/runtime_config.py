"""The running configuration: read it, change it, check it, reload it from the file. Admins only.

Every change is all or nothing: the candidate configuration is built and
checked in full, and only a valid one is handed to `apply`, which makes the
running server use it (app.py). Restart-only fields are never applied live:
an update that would change one is refused; a reload lists them in
`pending_restart_fields` and keeps the running values.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from runwire.server import config_fields as cf
from runwire.server.config import Settings, SettingsError
from runwire.server.core.errors import FailedPrecondition, FieldViolation, InvalidArgument
from runwire.server.core.etags import check_etag, etag_of
from runwire.server.core.principal import Principal
from runwire.server.domain.api_keys import require_admin
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import WriteOptions
from runwire.server.store.models import new_incarnation

PREFIX = "config."


@dataclass(frozen=True)
class ConfigSnapshot:
    """A configuration as ConfigService returns it: values in the proto's JSON form, secrets redacted."""

    values: dict[str, Any]
    source: str
    revision: int
    etag: str
    update_time: datetime
    updated_by: str
    pending_restart_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Validation:
    violations: list[FieldViolation]
    snapshot: ConfigSnapshot | None


def config_invalid(violations: Sequence[tuple[str, str]], summary: str = "the configuration is invalid") -> InvalidArgument:
    first = f"{violations[0][0]}: {violations[0][1]}"
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return InvalidArgument(
        f"{summary}: {first}{more}",
        reason="CONFIG_INVALID",
        field_violations=[FieldViolation(path, problem) for path, problem in violations],
    )


log = logging.getLogger("runwire.server.config")


class RuntimeConfigService:
    def __init__(self, ctx: DomainContext, settings: Settings, apply: Callable[[Settings], None]) -> None:
        self.ctx = ctx
        self.settings = settings
        self._apply = apply
        self.revision = 1
        # Revisions start at 1 in every process: the incarnation keeps an etag of an earlier process's
        # configuration from matching this one's.
        self.incarnation = new_incarnation()
        self.update_time = ctx.clock()
        self.updated_by = ""
        self.pending_restart_fields: list[str] = []
        # One change at a time: each is checked against the configuration it replaces.
        self._lock = asyncio.Lock()

    @property
    def etag(self) -> str:
        return etag_of("config", "runtime", self.revision, self.incarnation)

    def _snapshot(self, settings: Settings, revision: int | None = None, pending: list[str] | None = None) -> ConfigSnapshot:
        revision = self.revision if revision is None else revision
        return ConfigSnapshot(
            values=cf.to_values(settings),
            source=settings.config_file,
            revision=revision,
            etag=etag_of("config", "runtime", revision, self.incarnation),
            update_time=self.update_time,
            updated_by=self.updated_by,
            pending_restart_fields=list(self.pending_restart_fields if pending is None else pending),
        )

    def authorize(self, caller: Principal) -> None:
        """Admins only; checked before a request's values are even converted, so nobody else learns about them."""
        require_admin(caller)

    def get(self, caller: Principal) -> ConfigSnapshot:
        require_admin(caller)
        return self._snapshot(self.settings)

    # -- building candidates -----------------------------------------------------

    def _masked(self, values: Mapping[str, Any], mask: Sequence[str]) -> tuple[Settings, list[tuple[str, str]]]:
        """The running configuration with the masked fields replaced, and every problem."""
        violations: list[tuple[str, str]] = []
        if not mask:
            violations.append(("update_mask", "is required: name the sections or fields to change, such as limits.max_page_size"))
        chosen: list[cf.ConfigField] = []
        for path in mask:
            if path == "*":
                violations.append(("update_mask", "`*` is not accepted; name the sections or fields to change"))
                continue
            fields = cf.fields_under(path)
            if not fields:
                violations.append(("update_mask", f"{path!r} is not a configuration field this server supports"))
            chosen.extend(f for f in fields if f not in chosen)
        named = frozenset(path for path in mask if path in cf.BY_PATH)
        candidate = cf.apply_fields(self.settings, values, chosen, violations, PREFIX, named)
        for config_field in chosen:
            if not config_field.live and cf.get_value(candidate, config_field) != cf.get_value(self.settings, config_field):
                violations.append(
                    (PREFIX + config_field.path, "is read only at start: change it in the configuration file and restart")
                )
        if not violations:
            given = "limits.default_page_size" in named or cf.lookup(values, "limits.default_page_size") is not None
            cf.cross_checks(candidate, violations, PREFIX, {f.path for f in chosen}, default_page_size_given=given)
        return candidate, violations

    def _whole(self, values: Mapping[str, Any]) -> tuple[Settings, list[tuple[str, str]]]:
        """`values` as a complete configuration (unset fields take their defaults), as if read from a file."""
        return cf.settings_from_values(values, base=self.settings, prefix=PREFIX)

    # -- commands -------------------------------------------------------------------

    def validate(self, caller: Principal, values: Mapping[str, Any], mask: Sequence[str]) -> Validation:
        require_admin(caller)
        candidate, violations = self._masked(values, mask) if mask else self._whole(values)
        if violations:
            return Validation([FieldViolation(p, d) for p, d in violations], None)
        return Validation([], self._snapshot(candidate))

    async def update(
        self,
        caller: Principal,
        values: Mapping[str, Any],
        mask: Sequence[str],
        options: WriteOptions,
    ) -> ConfigSnapshot:
        require_admin(caller)
        self.ctx.idempotency.validate(options.request_id)
        async with self._lock:
            if options.request_id and not options.validate_only and await self._replayed(caller, options.request_id, "UpdateConfig", options.fingerprint):
                return self._snapshot(self.settings)
            check_etag("config", "runtime", self.revision, self.incarnation, options.etag)
            candidate, violations = self._masked(values, mask)
            if violations:
                raise config_invalid(violations)
            if options.validate_only:
                return self._snapshot(candidate, self.revision + 1)
            self._install(caller, candidate, self.pending_restart_fields)
            await self._remember(caller, options.request_id, "UpdateConfig", options.fingerprint)
            return self._snapshot(self.settings)

    async def reload(self, caller: Principal, options: WriteOptions) -> ConfigSnapshot:
        """Reads the file again (with environment variables and flags on top) and applies its live fields."""
        require_admin(caller)
        self.ctx.idempotency.validate(options.request_id)
        source = self.settings.config_file
        if not source:
            raise FailedPrecondition(
                "the server was started without a configuration file (--config or RUNWIRE_CONFIG_FILE); there is nothing to reload",
                reason="CONFIG_SOURCE_MISSING",
            )
        async with self._lock:
            if options.request_id and not options.validate_only and await self._replayed(caller, options.request_id, "ReloadConfig", options.fingerprint):
                return self._snapshot(self.settings)
            try:
                loaded = await asyncio.to_thread(
                    Settings.load, None, source, **dict(self.settings.flag_overrides)
                )
            except cf.ConfigError as exc:
                raise config_invalid(exc.violations, "the configuration file is invalid") from None
            except SettingsError as exc:
                # The server's paths and the reader's own words stay in the log; GetConfig names the source to admins.
                log.warning("reloading the configuration from %s failed: %s", source, exc)
                if not Path(source).is_file():
                    raise FailedPrecondition(
                        "the configuration file cannot be read any more (moved or deleted)",
                        reason="CONFIG_SOURCE_MISSING",
                    ) from None
                raise config_invalid([("config", "cannot be read or holds a value of the wrong kind (the server's log has the detail)")],
                                     "the configuration file is invalid") from None
            candidate, pending = self.settings, []
            for config_field in cf.FIELDS:
                value = cf.get_value(loaded, config_field)
                if config_field.live:
                    candidate = cf.with_value(candidate, config_field, value)
                elif value != cf.get_value(self.settings, config_field):
                    pending.append(config_field.path)
            if options.validate_only:
                return self._snapshot(candidate, self.revision + 1, pending)
            self._install(caller, candidate, pending)
            await self._remember(caller, options.request_id, "ReloadConfig", options.fingerprint)
            return self._snapshot(self.settings)

    def _install(self, caller: Principal, candidate: Settings, pending: list[str]) -> None:
        self._apply(candidate)
        self.settings = candidate
        self.revision += 1
        self.update_time = self.ctx.clock()
        self.updated_by = caller.id
        self.pending_restart_fields = list(pending)

    async def _replayed(self, caller: Principal, request_id: str, method: str, fingerprint: str) -> bool:
        async with self.ctx.store.write() as db:
            return await self.ctx.idempotency.replay(db, caller, request_id, method, fingerprint) is not None

    async def _remember(self, caller: Principal, request_id: str, method: str, fingerprint: str) -> None:
        if request_id:
            async with self.ctx.store.write() as db:
                self.ctx.idempotency.remember(db, caller, request_id, method, fingerprint, [f"config@{self.revision}"])
