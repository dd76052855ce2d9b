"""Resource names (AIP-122): parsing, validation and id generation."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field

from runwire.server.core.errors import InvalidArgument

# RFC 1034 style, as AIP-122 recommends for user-chosen ids.
ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{2,61}[a-z0-9]")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A random 20-character id that satisfies ID_PATTERN: a letter, then 19 of base32 (a-z, 2-7); ~100 bits.

    One read of the system's randomness for the whole id: ids are made on every run and message, and each
    read is a system call. (The letter's draw favours a-v over w-z by 10 to 9; the other 95 bits are even.)"""
    raw = os.urandom(13)
    return _LETTERS[raw[0] % 26] + base64.b32encode(raw[1:]).decode("ascii")[:19].lower()


ID_RULE = "must be 4 to 63 characters of lower-case letters, digits and '-', start with a letter and not end with '-'"


@dataclass(frozen=True)
class NamePattern:
    """A pattern such as `sessions/{session}/messages/{message}`."""

    collections: tuple[str, ...]
    # Exactly the valid names (no wildcard), each id a group.
    _whole: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        whole = "/".join(f"{re.escape(c)}/({ID_PATTERN.pattern})" for c in self.collections)
        object.__setattr__(self, "_whole", re.compile(whole))

    @classmethod
    def of(cls, *collections: str) -> NamePattern:
        return cls(tuple(collections))

    @property
    def example(self) -> str:
        return "/".join(f"{c}/{{{c[:-1]}}}" for c in self.collections)

    def format(self, *ids: str) -> str:
        return "/".join(f"{c}/{i}" for c, i in zip(self.collections, ids, strict=True))

    def problem(self, name: str, *, allow_wildcard_parent: bool = False) -> str | None:
        """What is wrong with `name`, or None when it matches the pattern."""
        if not name:
            return f"is required, in the form {self.example}"
        parts = name.split("/")
        if len(parts) != 2 * len(self.collections) or any(
            parts[2 * i] != c for i, c in enumerate(self.collections)
        ):
            return f"{name[:300]!r} is not a resource name of the form {self.example}"
        for index, value in enumerate(parts[1::2]):
            if allow_wildcard_parent and value == "-" and index == 0:
                continue
            if not ID_PATTERN.fullmatch(value):
                return f"{name[:300]!r} has an invalid id {value[:100]!r}"
        return None

    def parse(self, name: str, field: str, *, allow_wildcard_parent: bool = False) -> tuple[str, ...]:
        """The ids in `name`, or INVALID_ARGUMENT naming `field` when it does not match."""
        matched = self._whole.fullmatch(name)  # a valid name, as on nearly every call: one regex
        if matched is not None:
            return matched.groups()
        problem = self.problem(name, allow_wildcard_parent=allow_wildcard_parent)
        if problem:
            raise InvalidArgument.field(field, problem)
        return tuple(name.split("/")[1::2])


AGENT = NamePattern.of("agents")
CREW = NamePattern.of("crews")
SESSION = NamePattern.of("sessions")
MESSAGE = NamePattern.of("sessions", "messages")
MCP_SERVER = NamePattern.of("mcpServers")
FILE = NamePattern.of("files")
