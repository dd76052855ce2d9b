"""Etags (AIP-154) of resource revisions."""

from __future__ import annotations

import hashlib

from runwire.server.core.errors import Aborted


def etag_of(kind: str, resource_id: str, revision: int, incarnation: str | None) -> str:
    """The etag of one revision of one incarnation of a resource: a resource deleted and created again
    under the same name starts at revision 1 again, so the incarnation (drawn at creation) tells them
    apart. Rows from before incarnations ("") keep the etags they had."""
    text = f"{kind}/{resource_id}/{incarnation}/{revision}" if incarnation else f"{kind}/{resource_id}/{revision}"
    return f'"{hashlib.sha256(text.encode()).hexdigest()[:16]}"'


def check_etag(kind: str, resource_id: str, revision: int, incarnation: str | None, expected: str) -> None:
    current = etag_of(kind, resource_id, revision, incarnation)
    if expected and expected != current:
        raise Aborted(
            f"the {kind} changed since the etag was read; read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"current_etag": current},
        )
