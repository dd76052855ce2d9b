"""Page sizes, order_by (AIP-132) and opaque, tamper-safe page tokens (AIP-158).

A page token carries the sort key of the last item returned (keyset paging,
so inserts and deletes between pages neither skip nor repeat items) and a
fingerprint of the query it belongs to. It is signed with a server key: an
altered token, or one reused with another filter, order or caller, is
refused with INVALID_PAGE_TOKEN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from runwire.server.core.errors import InvalidArgument

TOKEN_VERSION = 1


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool


def parse_order_by(text: str, allowed: Sequence[str], default: str) -> tuple[OrderKey, ...]:
    """`display_name desc, create_time` -> keys; unknown fields and bad syntax are INVALID_ARGUMENT."""
    source = text.strip() or default
    keys: list[OrderKey] = []
    seen: set[str] = set()
    for raw in source.split(","):
        words = raw.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise InvalidArgument.field("order_by", f"{raw.strip()!r} is not `FIELD` or `FIELD desc`")
        name = words[0]
        if name not in allowed:
            raise InvalidArgument.field(
                "order_by", f"cannot order by {name!r}; allowed fields: {', '.join(allowed)}"
            )
        if name in seen:
            raise InvalidArgument.field("order_by", f"{name!r} appears twice")
        seen.add(name)
        keys.append(OrderKey(name, len(words) == 2 and words[1].lower() == "desc"))
    return tuple(keys)


def resolve_page_size(requested: int, default: int, maximum: int, field: str = "page_size") -> int:
    if requested < 0:
        raise InvalidArgument.field(field, "must not be negative")
    if requested == 0:
        return min(default, maximum)  # a lowered maximum (ConfigService) bounds the default too
    return min(requested, maximum)


# Every token starts with this letter: a token that began with "-" (a quarter of base64url's alphabet's
# edge) would read as an option to a command line (`runwire agents list --page-token -x…`).
TOKEN_PREFIX = "p"


class PageTokenCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, query_fingerprint: str, last_key: Sequence[Any]) -> str:
        payload = json.dumps(
            {"v": TOKEN_VERSION, "q": query_fingerprint, "k": [_encode_value(v) for v in last_key]},
            separators=(",", ":"),
        ).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return TOKEN_PREFIX + base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")

    def decode(self, token: str, query_fingerprint: str) -> list[Any] | None:
        """The last key of the previous page, or None for an empty token."""
        if not token:
            return None
        invalid = InvalidArgument.field(
            "page_token",
            "is not a token returned by this server for this query; start again without page_token",
            reason="INVALID_PAGE_TOKEN",
        )
        if len(token) > 4096 or not token.startswith(TOKEN_PREFIX):
            raise invalid
        token = token[len(TOKEN_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        mac, payload = raw[:16], raw[16:]
        if len(mac) != 16 or not hmac.compare_digest(mac, hmac.new(self._key, payload, hashlib.sha256).digest()[:16]):
            raise invalid
        data = json.loads(payload)
        if data.get("v") != TOKEN_VERSION or data.get("q") != query_fingerprint:
            raise invalid
        return [_decode_value(v) for v in data["k"]]


def query_fingerprint(*parts: Any) -> str:
    texts = tuple(str(p) for p in parts)
    known = _fingerprints.get(texts)
    if known is None:
        if len(_fingerprints) >= 4096:
            _fingerprints.clear()
        known = _fingerprints[texts] = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:32]
    return known


# Fingerprints of recent queries by their parts' text: a list's every page (and every poll of its first) asks again.
_fingerprints: dict[tuple[str, ...], str] = {}


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    return value


@dataclass(frozen=True)
class SearchQuery:
    """The words of a Search request, with its filter and the page to read."""

    text: str
    page_size: int = 0
    page_token: str = ""
    filter: str = ""


@dataclass(frozen=True)
class PageRequest:
    size: int
    order: tuple[OrderKey, ...]
    after: list[Any] | None
    fingerprint: str


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_page_token: str
    total_size: int
