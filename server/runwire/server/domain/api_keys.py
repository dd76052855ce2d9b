"""API keys: creation (the secret shown once), listing, revocation, and the lookup authentication uses.

A secret is `rw_` followed by 40 random letters and digits (about 238 bits), so
a plain SHA-256 of it is safe to store and fast to check; the secret itself is
never stored or logged. `key_prefix` (its first 12 characters) lets people
recognise a key in a list without being able to use it.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import case, literal

from runwire.server.core import names
from runwire.server.core.errors import NotFound, PermissionDenied, Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import AUTH_API_KEY, KNOWN_SCOPES, ROLE_ADMIN, TIER_DEFAULT, TIER_PREMIUM, Principal
from runwire.server.domain.common import check_text
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.store import repositories as repo
from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import ApiKeyRow
from runwire.server.store.store import Listing
from runwire.server.store.transaction import Transaction

SECRET_PREFIX = "rw_"
SECRET_CHARS = 40
KEY_PREFIX_CHARS = 12
_ALPHABET = string.ascii_letters + string.digits
PRINCIPAL_PATTERN = re.compile(r"[A-Za-z0-9._@:-]{1,128}")
API_KEY = names.NamePattern.of("apiKeys")
BOOTSTRAP_KEY_ID = "bootstrap-admin"
MAX_SCOPES = 16


class Role(enum.IntEnum):
    """runwire.v1.ApiKey.Role values."""

    UNSPECIFIED = 0
    ADMIN = 1
    USER = 2


class Tier(enum.IntEnum):
    """runwire.v1.Tier values."""

    UNSPECIFIED = 0
    ANONYMOUS = 1
    DEFAULT = 2
    PREMIUM = 3


class KeyState(enum.IntEnum):
    """runwire.v1.ApiKey.State values."""

    UNSPECIFIED = 0
    ACTIVE = 1
    EXPIRED = 2
    REVOKED = 3


TIER_NAMES = {Tier.DEFAULT: TIER_DEFAULT, Tier.PREMIUM: TIER_PREMIUM}


def new_secret() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_CHARS))


def looks_like_secret(text: str) -> bool:
    return len(text) == len(SECRET_PREFIX) + SECRET_CHARS and text.startswith(SECRET_PREFIX)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def state_of(row: ApiKeyRow, now: datetime) -> KeyState:
    if row.revoke_time is not None:
        return KeyState.REVOKED
    if row.expire_time is not None and row.expire_time <= now:
        return KeyState.EXPIRED
    return KeyState.ACTIVE


def principal_of(row: ApiKeyRow) -> Principal:
    return Principal(
        id=row.principal,
        is_admin=row.role == Role.ADMIN,
        tier=TIER_NAMES.get(Tier(row.tier), TIER_DEFAULT),
        auth_method=AUTH_API_KEY,
        key_id=row.id,
        scopes=frozenset(row.scopes or ()),
    )


def require_admin(caller: Principal) -> None:
    """Admin-only methods. PERMISSION_DENIED is right here: it reveals nothing about another tenant's resources."""
    if not caller.is_admin:
        raise PermissionDenied(
            "this method is for admins only; call it with an admin API key or token",
            reason="PERMISSION_DENIED",
            metadata={"required_role": ROLE_ADMIN},
        )


def not_found(name: str) -> NotFound:
    return API_KEYS.not_found(name)


def _state_expression(now: datetime) -> Any:
    return case(
        (ApiKeyRow.revoke_time.is_not(None), literal(int(KeyState.REVOKED))),
        ((ApiKeyRow.expire_time.is_not(None)) & (ApiKeyRow.expire_time <= now), literal(int(KeyState.EXPIRED))),
        else_=literal(int(KeyState.ACTIVE)),
    )


def _listing(now: datetime) -> Listing:
    return Listing(
        filter_fields={
            "display_name": FieldSpec(ApiKeyRow.display_name, "string"),
            "principal": FieldSpec(ApiKeyRow.principal, "string"),
            "role": FieldSpec(ApiKeyRow.role, "enum", enum_values={"ADMIN": Role.ADMIN, "USER": Role.USER}),
            "tier": FieldSpec(ApiKeyRow.tier, "enum", enum_values={"DEFAULT": Tier.DEFAULT, "PREMIUM": Tier.PREMIUM}),
            "state": FieldSpec(
                _state_expression(now),
                "enum",
                enum_values={"ACTIVE": KeyState.ACTIVE, "EXPIRED": KeyState.EXPIRED, "REVOKED": KeyState.REVOKED},
            ),
            "key_prefix": FieldSpec(ApiKeyRow.key_prefix, "string"),
            "create_time": FieldSpec(ApiKeyRow.create_time, "timestamp"),
            "expire_time": FieldSpec(ApiKeyRow.expire_time, "timestamp"),
            "last_use_time": FieldSpec(ApiKeyRow.last_use_time, "timestamp"),
        },
        order_columns={
            "create_time": ApiKeyRow.create_time,
            "expire_time": ApiKeyRow.expire_time,
            "last_use_time": ApiKeyRow.last_use_time,
            "display_name": ApiKeyRow.display_name,
            "principal": ApiKeyRow.principal,
            "name": ApiKeyRow.id,
        },
        tiebreak=ApiKeyRow.pk,
    )


@dataclass(frozen=True)
class CreatedKey:
    row: ApiKeyRow
    # Empty on an idempotent replay and with validate_only: the secret exists only in the first response.
    secret: str


# No `to_proto`: API keys have no resource events.
API_KEYS = register(
    ResourceKind(
        field="api_key",
        pattern=API_KEY,
        row=ApiKeyRow,
        tenancy=Tenancy.ADMIN,
        listing=_listing,
        title="API key",
        not_found_reason="API_KEY_NOT_FOUND",
        method="ApiKey",
        etag_kind="apiKey",
    )
)


class ApiKeyService:
    def __init__(self, ctx: DomainContext) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[ApiKeyRow] = ResourceWriter(ctx, API_KEYS)

    # -- authentication -------------------------------------------------------

    async def find_by_secret(self, secret: str) -> ApiKeyRow | None:
        async with self.ctx.store.read() as db:
            return await repo.get_api_key_by_hash(db, hash_secret(secret))

    async def record_use(self, key_ids: set[str], when: datetime) -> None:
        """`last_use_time`, to within a minute: authentication collects the ids, a background task writes them."""
        if not key_ids:
            return
        async with self.ctx.store.write() as db:
            await repo.record_api_key_use(db, sorted(key_ids), when)

    async def ensure_bootstrap(self, configured_secret: str) -> str | None:
        """At start: make sure an admin can get in.

        With a configured secret, create its key unless a key with that secret already exists (a revoked one stays
        revoked). Without one, generate a key only when the server has no API key at all, and return its secret
        so the caller can show it once.
        """
        now = self.ctx.clock()
        async with self.ctx.store.write() as db:
            if configured_secret:
                if await repo.get_api_key_by_hash(db, hash_secret(configured_secret)) is not None:
                    return None
                secret = configured_secret
            else:
                if await repo.any_api_key(db):
                    return None
                secret = new_secret()
            key_id = BOOTSTRAP_KEY_ID
            if await repo.api_key_id_taken(db, key_id):
                key_id = f"{BOOTSTRAP_KEY_ID}-{names.new_id()[:8]}"
            db.add(
                ApiKeyRow(
                    id=key_id,
                    display_name="Bootstrap admin key",
                    principal="admin",
                    role=Role.ADMIN,
                    tier=Tier.PREMIUM,
                    key_prefix=secret[:KEY_PREFIX_CHARS],
                    secret_hash=hash_secret(secret),
                    create_time=now,
                    update_time=now,
                    created_by="runwire",
                    revoked_by="",
                    revision=1,
                )
            )
        return None if configured_secret else secret

    # -- AdminService -----------------------------------------------------------

    async def create(
        self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, api_key_id: str = ""
    ) -> CreatedKey:
        require_admin(caller)
        now = self.ctx.clock()
        v = Violations()
        if api_key_id and not names.ID_PATTERN.fullmatch(api_key_id):
            v.add("api_key_id", names.ID_RULE)
        check_text(v, "api_key.display_name", fields.get("display_name", ""), self.ctx.limits.max_display_name_chars, required=True)
        principal = fields.get("principal", "")
        if not principal:
            v.add("api_key.principal", "is required")
        elif not PRINCIPAL_PATTERN.fullmatch(principal):
            v.add("api_key.principal", "must be 1 to 128 characters of letters, digits and ._@:-")
        role = fields.get("role") or Role.USER
        if role not in (Role.ADMIN, Role.USER):
            v.add("api_key.role", f"unknown role {role}")
        tier = fields.get("tier") or Tier.DEFAULT
        if tier == Tier.ANONYMOUS:
            v.add("api_key.tier", "TIER_ANONYMOUS is for callers without credentials; use TIER_DEFAULT or TIER_PREMIUM")
        elif tier not in (Tier.DEFAULT, Tier.PREMIUM):
            v.add("api_key.tier", f"unknown tier {tier}")
        scopes = list(fields.get("scopes") or ())
        if len(scopes) > MAX_SCOPES:
            v.add("api_key.scopes", f"has {len(scopes)} scopes; the limit is {MAX_SCOPES}")
        for index, scope in enumerate(scopes):
            if scope not in KNOWN_SCOPES:
                v.add(f"api_key.scopes[{index}]", f"unknown scope; known: {', '.join(sorted(KNOWN_SCOPES))}")
        expire_time = fields.get("expire_time")
        if expire_time is not None and expire_time <= now:
            v.add("api_key.expire_time", "must be in the future")
        v.raise_if_any()
        secret = new_secret()
        row = ApiKeyRow(
            id=api_key_id or names.new_id(),
            display_name=fields["display_name"],
            principal=principal,
            role=int(role),
            tier=int(tier),
            key_prefix=secret[:KEY_PREFIX_CHARS],
            secret_hash=hash_secret(secret),
            expire_time=expire_time,
            scopes=sorted(set(scopes)),
            create_time=now,
            update_time=now,
            created_by=caller.id,
            revoked_by="",
            revision=1,
        )
        created = await self.writer.create(caller, row, options)
        # A replay answers with the key, not its secret: the secret exists only in the first response.
        return CreatedKey(created, secret if created is row and not options.validate_only else "")

    async def get(self, caller: Principal, name: str) -> ApiKeyRow:
        require_admin(caller)
        return await self.writer.get(caller, name)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        require_admin(caller)
        return await self.writer.list(caller, query)

    async def revoke(self, caller: Principal, name: str, options: WriteOptions) -> tuple[ApiKeyRow, bool]:
        """The key, and whether this call revoked it (False when it already was)."""
        require_admin(caller)
        revoked = False

        async def change(db: Transaction, row: ApiKeyRow, target: ApiKeyRow) -> bool:
            nonlocal revoked
            revoked = row.revoke_time is None
            if revoked:
                target.revoke_time = self.ctx.clock()
                target.revoked_by = caller.id
            return revoked

        row = await self.writer.update(caller, name, options, change, method="RevokeApiKey", field="name")
        return row, revoked
