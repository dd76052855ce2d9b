"""Who is calling. Every domain call takes the caller; every query is scoped by its id."""

from __future__ import annotations

from dataclasses import dataclass

# Rate-limit tiers (runwire.v1.Tier without the TIER_ prefix, lower case).
TIER_ANONYMOUS = "anonymous"
TIER_DEFAULT = "default"
TIER_PREMIUM = "premium"
TIERS = (TIER_ANONYMOUS, TIER_DEFAULT, TIER_PREMIUM)

# Roles (runwire.v1.ApiKey.Role without the ROLE_ prefix, lower case).
ROLE_ADMIN = "admin"
ROLE_USER = "user"

# How a principal was established.
AUTH_NONE = "none"  # tests and embedded use
AUTH_INSECURE = "insecure"  # --insecure-no-auth: every call is the local principal
AUTH_ANONYMOUS = "anonymous"  # no credentials, allowed by RUNWIRE_ALLOW_ANONYMOUS
AUTH_API_KEY = "api_key"
AUTH_JWT = "jwt"

# Scopes: what a principal may do beyond its role (runwire.v1.ApiKey.scopes; a JWT's `scope` claim).
SCOPE_MESSAGING_SEND = "messaging.send"  # send with MessagingService
KNOWN_SCOPES = frozenset({SCOPE_MESSAGING_SEND})


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    is_admin: bool = False
    tier: str = TIER_DEFAULT
    auth_method: str = AUTH_NONE
    # The API key (its id, `apiKeys/{key_id}`) the call authenticated with; empty otherwise.
    key_id: str = ""
    scopes: frozenset[str] = frozenset()

    @property
    def role(self) -> str:
        return ROLE_ADMIN if self.is_admin else ROLE_USER


# Calls run as this principal when authentication is off (--insecure-no-auth) and in embedded use.
LOCAL_PRINCIPAL = Principal(id="local")
INSECURE_PRINCIPAL = Principal(id="local", auth_method=AUTH_INSECURE)
ANONYMOUS_PRINCIPAL = Principal(id="anonymous", tier=TIER_ANONYMOUS, auth_method=AUTH_ANONYMOUS)
