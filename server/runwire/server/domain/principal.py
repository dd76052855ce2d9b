"""Who is calling. Every domain call takes the caller; every query is scoped by its id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    id: str
    is_admin: bool = False

    def can_see(self, owner: str) -> bool:
        return self.is_admin or owner == self.id


# Calls run as this principal until authentication is configured.
LOCAL_PRINCIPAL = Principal(id="local")
