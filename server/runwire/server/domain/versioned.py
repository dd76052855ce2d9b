"""Read-only records kept by version, for point reads that ask the database only whether a row changed.

A version is what a resource's etag is made of: its revision, which every change bumps, and its
incarnation, drawn when it is created, so a resource deleted and created again under the same name is
never taken for the old one. A reader still reads the row's version on every call, so a change made on
another replica is seen at once; only the rest of the row (and what is made from it) is reused.
"""

from __future__ import annotations

from typing import Any, Hashable

# Records kept at most; past it the oldest half is forgotten (a miss only costs the full read).
MAX_RECORDS = 4096


class VersionedRecords:
    """The last record read of each resource, with its version."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._limit = limit
        self._records: dict[Hashable, tuple[Hashable, Any]] = {}

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        """The record kept for `key` if it is of `version`, else None."""
        entry = self._records.get(key)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def put(self, key: Hashable, version: Hashable, record: Any) -> None:
        records = self._records
        if key not in records and len(records) >= self._limit:
            for old in list(records)[: self._limit // 2]:  # dicts keep insertion order: the oldest first
                del records[old]
        records[key] = (version, record)
