"""Authentication: request metadata -> Principal, or UNAUTHENTICATED.

Credentials come as `authorization: Bearer <API key or JWT>` or `x-api-key: <API key>`.
API keys (`rw_…`) are checked against their SHA-256 in the database once, then
trusted from memory for `api_key_cache_seconds` (revocation drops them at once);
JWTs (HS256 with a shared secret, RS256 with keys from a JWKS file) are verified
once and remembered until they expire. So a call with known credentials costs a
hash and a dictionary lookup, never a database read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import jwt

from runwire.server.config import AuthSettings
from runwire.server.core.clock import utc_now
from runwire.server.core.errors import ErrorReasonName, Unauthenticated
from runwire.server.core.principal import (
    ANONYMOUS_PRINCIPAL,
    AUTH_JWT,
    KNOWN_SCOPES,
    TIER_DEFAULT,
    TIER_PREMIUM,
    Principal,
)
from runwire.server.domain.api_keys import (
    API_KEY,
    PRINCIPAL_PATTERN,
    ApiKeyService,
    KeyState,
    looks_like_secret,
    principal_of,
    state_of,
)

log = logging.getLogger("runwire.auth")

AUTHORIZATION = "authorization"
API_KEY_HEADER = "x-api-key"
# Longer credentials are refused before any parsing: no API key or sane JWT is this long.
MAX_CREDENTIAL_CHARS = 8192
_MAX_CACHED = 100_000
# Optional whitespace around an HTTP field value (RFC 9110 5.6.3): space and horizontal tab.
_OWS = " \t"
_HOW = "send `authorization: Bearer <API key or JWT>` or `x-api-key: <API key>`"


@dataclass(slots=True)
class _CachedKey:
    principal: Principal
    state: KeyState
    # Wall-clock expiry (epoch seconds) of the key itself; None when it never expires.
    expires_at: float | None
    # Monotonic time after which the database is read again.
    fresh_until: float


def unauthenticated(message: str, reason: ErrorReasonName = "UNAUTHENTICATED", **metadata: str) -> Unauthenticated:
    return Unauthenticated(message, reason=reason, metadata=metadata)


def token_invalid(message: str) -> Unauthenticated:
    """A bearer token that is not an API key and fails a JWT check (format, signature, issuer, audience,
    claims). The message is ours: the JWT library's text never reaches the caller."""
    return Unauthenticated(message, reason="TOKEN_INVALID")


class Authenticator:
    def __init__(self, settings: AuthSettings, keys: ApiKeyService) -> None:
        self.settings = settings
        self.keys = keys
        self._keys_by_hash: dict[str, _CachedKey] = {}
        self._hashes_by_key_id: dict[str, set[str]] = {}
        self._tokens: dict[str, tuple[Principal, float]] = {}
        # Keys used since the last flush, for `last_use_time`.
        self.used_key_ids: set[str] = set()
        self._hs256_secret = settings.jwt_hs256_secret.encode() if settings.jwt_hs256_secret else None
        self._jwks = load_jwks(Path(settings.jwt_jwks_file)) if settings.jwt_jwks_file else {}
        self.jwt_enabled = bool(self._hs256_secret or self._jwks)
        self._decode_options: dict[str, Any] = {
            "require": ["exp"],
            "verify_aud": bool(settings.jwt_audience),
            "verify_iss": bool(settings.jwt_issuer),
        }

    # -- the per-call entry points ---------------------------------------------

    def known(self, api_key: Any) -> Principal | None:
        """The principal of an `x-api-key` value whose key is cached, fresh, active and not expired, without
        awaiting anything: the path nearly every call takes. None sends the call through authenticate(), which
        gives every other case (no header, a bearer token, an unknown, stale, revoked or expired key) its
        answer."""
        if type(api_key) is not str:
            return None
        cached = self._keys_by_hash.get(hashlib.sha256(api_key.encode()).hexdigest())
        if (
            cached is None
            or cached.state is not KeyState.ACTIVE
            or cached.fresh_until < time.monotonic()
            or (cached.expires_at is not None and cached.expires_at <= time.time())
        ):
            return None
        self.used_key_ids.add(cached.principal.key_id)
        return cached.principal

    async def authenticate(self, authorization: Any, api_key: Any) -> Principal:
        """The principal of the `authorization` and `x-api-key` metadata values (None when absent; any other
        non-string, such as a marker for a repeated header, is refused)."""
        if authorization is None and api_key is None:
            if self.settings.allow_anonymous:
                return ANONYMOUS_PRINCIPAL
            raise unauthenticated(f"this call needs credentials: {_HOW}")
        if authorization is not None and api_key is not None:
            raise unauthenticated("send either `authorization` or `x-api-key`, not both")
        if authorization is not None:
            if not isinstance(authorization, str) or len(authorization) > MAX_CREDENTIAL_CHARS:
                raise unauthenticated(f"send one `authorization: Bearer <credential>` header; {_HOW}")
            # The scheme is case-insensitive (RFC 7235 2.1) and a field value has no surrounding
            # whitespace (RFC 9110 5.5); the credential itself must match exactly.
            scheme, _, token = authorization.strip(_OWS).partition(" ")
            token = token.strip(_OWS)
            if scheme.lower() != "bearer" or not token:
                raise unauthenticated(f"the `authorization` header must be `Bearer <credential>`; {_HOW}")
            if token.startswith("rw_"):
                return await self._api_key(token)
            return self._jwt(token)
        if not isinstance(api_key, str) or len(api_key) > MAX_CREDENTIAL_CHARS:
            raise unauthenticated("send one `x-api-key` header holding an API key")
        return await self._api_key(api_key.strip(_OWS))

    # -- API keys -----------------------------------------------------------------

    async def _api_key(self, secret: str) -> Principal:
        if not looks_like_secret(secret):
            raise unauthenticated("the API key is not valid")
        digest = hashlib.sha256(secret.encode()).hexdigest()
        cached = self._keys_by_hash.get(digest)
        if cached is None or cached.fresh_until < time.monotonic():
            cached = await self._load(digest, secret)
        if cached.state is KeyState.REVOKED:
            name = API_KEY.format(cached.principal.key_id)
            raise unauthenticated(f"the API key {name} has been revoked", "API_KEY_REVOKED", api_key=name)
        if cached.state is KeyState.EXPIRED or (cached.expires_at is not None and cached.expires_at <= time.time()):
            cached.state = KeyState.EXPIRED
            name = API_KEY.format(cached.principal.key_id)
            raise unauthenticated(f"the API key {name} has expired", "API_KEY_EXPIRED", api_key=name)
        self.used_key_ids.add(cached.principal.key_id)
        return cached.principal

    async def _load(self, digest: str, secret: str) -> _CachedKey:
        row = await self.keys.find_by_secret(secret)
        if row is None:
            self._forget_hash(digest)
            raise unauthenticated("the API key is not valid")
        expires_at = None
        if row.expire_time is not None:
            expires_at = row.expire_time.replace(tzinfo=UTC).timestamp()
        entry = _CachedKey(
            principal=principal_of(row),
            state=state_of(row, utc_now()),
            expires_at=expires_at,
            fresh_until=time.monotonic() + self.settings.api_key_cache_seconds,
        )
        if len(self._keys_by_hash) >= _MAX_CACHED:
            self._keys_by_hash.clear()
            self._hashes_by_key_id.clear()
        self._keys_by_hash[digest] = entry
        self._hashes_by_key_id.setdefault(row.id, set()).add(digest)
        return entry

    def _forget_hash(self, digest: str) -> None:
        entry = self._keys_by_hash.pop(digest, None)
        if entry is not None:
            self._hashes_by_key_id.pop(entry.principal.key_id, None)

    def forget_key(self, key_id: str) -> None:
        """Drop a key from memory (it was revoked): its next use reads the database."""
        for digest in self._hashes_by_key_id.pop(key_id, ()):
            self._keys_by_hash.pop(digest, None)

    # -- JWT ----------------------------------------------------------------------

    def _jwt(self, token: str) -> Principal:
        known = self._tokens.get(token)
        if known is not None:
            principal, expires_at = known
            if expires_at > time.time():
                return principal
            del self._tokens[token]
        if not self.jwt_enabled:
            raise token_invalid("bearer tokens must be API keys (`rw_…`): this server accepts no JWTs")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise token_invalid("the bearer token is neither an API key nor a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._hs256_secret is not None:
            key: Any = self._hs256_secret
        elif algorithm == "RS256" and self._jwks:
            kid = header.get("kid")
            if kid is None and len(self._jwks) == 1:
                key = next(iter(self._jwks.values()))
            elif kid in self._jwks:
                key = self._jwks[kid]
            else:
                raise token_invalid("the token is signed with a key this server does not know")
        else:
            accepted = [a for a, on in (("HS256", self._hs256_secret is not None), ("RS256", bool(self._jwks))) if on]
            raise token_invalid(f"the token's algorithm {str(algorithm)[:20]!r} is not accepted; accepted: {', '.join(accepted)}")
        settings = self.settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=settings.jwt_audience or None,
                issuer=settings.jwt_issuer or None,
                leeway=settings.jwt_leeway_seconds,
                options=self._decode_options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired; get a new one", "TOKEN_EXPIRED") from None
        except jwt.InvalidAudienceError:
            raise token_invalid("the token is not meant for this server (audience)") from None
        except jwt.InvalidIssuerError:
            raise token_invalid("the token comes from an issuer this server does not trust") from None
        except jwt.InvalidSignatureError:
            raise token_invalid("the token's signature is not valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise token_invalid(f"the token lacks the `{exc.claim}` claim") from None
        except jwt.ImmatureSignatureError:
            raise token_invalid("the token is not valid yet") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise token_invalid("the token is not valid") from None
        principal = self._principal_from_claims(claims)
        if len(self._tokens) >= _MAX_CACHED:
            self._tokens.clear()
        self._tokens[token] = (principal, float(claims["exp"]))
        return principal

    def _principal_from_claims(self, claims: dict[str, Any]) -> Principal:
        settings = self.settings
        subject = claims.get(settings.jwt_principal_claim)
        if not isinstance(subject, str) or not PRINCIPAL_PATTERN.fullmatch(subject):
            raise token_invalid(f"the token's `{settings.jwt_principal_claim}` claim is not a valid principal")
        role = claims.get(settings.jwt_role_claim)
        roles = role if isinstance(role, list) else [role]
        tier = claims.get(settings.jwt_tier_claim)
        scope = claims.get("scope")
        return Principal(
            id=subject,
            is_admin="admin" in roles,
            tier=TIER_PREMIUM if tier == TIER_PREMIUM else TIER_DEFAULT,
            auth_method=AUTH_JWT,
            # OAuth 2.0: space-separated; only the scopes Runwire knows count.
            scopes=frozenset(scope.split()) & KNOWN_SCOPES if isinstance(scope, str) else frozenset(),
        )


def load_jwks(path: Path) -> dict[str | None, Any]:
    """RSA public keys by `kid` from a JWKS file (`{"keys": [...]}`); keys for other algorithms are skipped."""
    data = json.loads(path.read_text())
    keys: dict[str | None, Any] = {}
    for entry in data.get("keys", []):
        if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm="RS256").key
    if not keys:
        raise ValueError(f"{path} holds no RSA signing key")
    return keys
