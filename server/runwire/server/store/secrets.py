"""Queries for secrets, and their encryption at rest. Every lookup is scoped by owner."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as random
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import SecretRow
from runwire.server.store.store import Listing
from runwire.server.store.transaction import Transaction

SECRET_LISTING = Listing(
    filter_fields={
        "display_name": FieldSpec(SecretRow.display_name, "string"),
        "labels": FieldSpec(SecretRow.labels, "map"),
        "create_time": FieldSpec(SecretRow.create_time, "timestamp"),
        "update_time": FieldSpec(SecretRow.update_time, "timestamp"),
    },
    order_columns={
        "create_time": SecretRow.create_time,
        "update_time": SecretRow.update_time,
        "display_name": SecretRow.display_name,
        "name": SecretRow.id,
    },
    tiebreak=SecretRow.pk,
)

KEY_FILE_NAME = "secrets.key"


async def get_secret(db: Transaction, secret_id: str, owner: str) -> SecretRow | None:
    stmt = select(SecretRow).where(SecretRow.id == secret_id, SecretRow.owner == owner)
    return (await db.execute(stmt)).scalar_one_or_none()


async def secret_id_taken(db: Transaction, secret_id: str) -> bool:
    return (await db.execute(select(SecretRow.pk).where(SecretRow.id == secret_id))).first() is not None


class SecretKeyError(ValueError):
    """The secrets key is missing, malformed, or not the one that encrypted a value."""


class SecretBox:
    """AES-256-GCM with the server's secrets key. The owner and id of a secret are bound to its ciphertext as
    associated data, so a ciphertext copied to another row does not decrypt."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretKeyError("the secrets key must be 32 bytes (44 characters of base64)")
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"runwire-secrets-digest:" + key).digest()
        self.key_id = hashlib.sha256(b"runwire-secrets-key:" + key).hexdigest()[:16]

    @classmethod
    def load(cls, configured: str, data_dir: Path) -> SecretBox:
        """The configured key (base64), else the key file in the data directory, created (0600) on first start."""
        if configured:
            try:
                return cls(base64.b64decode(configured.strip(), validate=True))
            except (ValueError, TypeError):
                raise SecretKeyError("the secrets key must be 32 bytes of base64 (RUNWIRE_SECRETS_KEY)") from None
        path = data_dir / KEY_FILE_NAME
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            text = path.read_text().strip()
            try:
                return cls(base64.b64decode(text, validate=True))
            except (ValueError, TypeError):
                raise SecretKeyError(f"the secrets key file {KEY_FILE_NAME} in the data directory is malformed") from None
        key = random.token_bytes(32)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(key).decode() + "\n")
        return cls(key)

    def digest(self, value: str) -> str:
        """A keyed digest of a value (for idempotency fingerprints): equal values match, and it reveals nothing."""
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()

    def seal(self, owner: str, secret_id: str, value: str) -> tuple[bytes, bytes]:
        nonce = random.token_bytes(12)
        return nonce, self._aead.encrypt(nonce, value.encode(), _associated(owner, secret_id))

    def open(self, row: SecretRow) -> str:
        if row.key_id != self.key_id:
            raise SecretKeyError("the secret was encrypted with another secrets key")
        try:
            return self._aead.decrypt(row.nonce, row.ciphertext, _associated(row.owner, row.id)).decode()
        except Exception:
            raise SecretKeyError("the secret's ciphertext does not match its key or row") from None


def _associated(owner: str, secret_id: str) -> bytes:
    return f"runwire.secret\0{owner}\0{secret_id}".encode()
