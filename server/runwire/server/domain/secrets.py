"""Secrets: values such as a model server's key that a principal stores for its own agents.

A secret belongs to the principal that created it and is visible and usable only
by it; admins included (a secret is personal: an admin who could read or use
another principal's key could spend it). The value is write-only: it is
encrypted at rest (store/secrets.py) and decrypted only to be sent where the
owner's agent says (`model.base_url`). No response or error carries it, and
secrets have no resource events (EventService), so no stream carries it either.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import select

from runwire.server.core import names
from runwire.server.core.etags import check_etag
from runwire.server.domain.common import check_labels, check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.core.errors import AlreadyExists, FailedPrecondition, NotFound, Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.store import secrets as secret_repo
from runwire.server.store.models import SecretRow
from runwire.server.store.secrets import SecretBox, SecretKeyError

SECRET = names.NamePattern.of("secrets")
MAX_VALUE_BYTES = 8192
MAX_DISPLAY_NAME_CHARS = 200
UPDATABLE = ("display_name", "labels", "value")


def not_found(name: str) -> NotFound:
    return NotFound(f"secret {name!r} does not exist", reason="SECRET_NOT_FOUND", metadata={"resource": name})


class SecretService:
    def __init__(self, ctx: DomainContext, box: SecretBox) -> None:
        self.ctx = ctx
        self.box = box

    def _validate(self, v: Violations, fields: Mapping[str, Any], *, partial: bool = False) -> None:
        if not partial or "value" in fields:
            value = fields.get("value") or ""
            if not value:
                v.add("secret.value", "is required")
            elif len(value.encode()) > MAX_VALUE_BYTES or "\0" in value:
                # The description never quotes the value.
                v.add("secret.value", f"must be at most {MAX_VALUE_BYTES} bytes, without NUL")
        check_text(v, "secret.display_name", fields.get("display_name") or "", MAX_DISPLAY_NAME_CHARS)
        check_labels(v, "secret.labels", fields.get("labels") or {}, self.ctx.limits.max_labels)

    async def create(
        self,
        caller: Principal,
        fields: Mapping[str, Any],
        *,
        secret_id: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> SecretRow:
        v = Violations()
        if secret_id and not names.ID_PATTERN.match(secret_id):
            v.add("secret_id", names.ID_RULE)
        self._validate(v, fields)
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        now = self.ctx.clock()
        secret_id = secret_id or names.new_id()
        nonce, ciphertext = self.box.seal(caller.id, secret_id, fields["value"])
        row = SecretRow(
            id=secret_id,
            owner=caller.id,
            display_name=fields.get("display_name") or "",
            labels=dict(fields.get("labels") or {}),
            key_id=self.box.key_id,
            nonce=nonce,
            ciphertext=ciphertext,
            value_time=now,
            create_time=now,
            update_time=now,
            revision=1,
        )
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "CreateSecret", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            if validate_only:
                return row
            if await secret_repo.secret_id_taken(db, secret_id):
                raise AlreadyExists(f"secret {SECRET.format(secret_id)!r} already exists", reason="ALREADY_EXISTS")
            db.add(row)
            self.ctx.idempotency.remember(db, caller, request_id, "CreateSecret", fingerprint, [SECRET.format(secret_id)])
        return row

    async def get(self, caller: Principal, name: str) -> SecretRow:
        async with self.ctx.store.read() as db:
            return await self._get_in(db, caller, name)

    async def _get_in(self, db: Any, caller: Principal, name: str, field: str = "name") -> SecretRow:
        (secret_id,) = SECRET.parse(name, field)
        row = await secret_repo.get_secret(db, secret_id, caller.id)
        if row is None:
            raise not_found(name)
        return row

    async def list(self, caller: Principal, *, page_size: int, page_token: str, filter_text: str, order_by: str) -> Page:
        return await self.ctx.list(
            caller,
            "secrets",
            select(SecretRow).where(SecretRow.owner == caller.id),
            secret_repo.SECRET_LISTING,
            page_size=page_size,
            page_token=page_token,
            filter_text=filter_text,
            order_by=order_by,
            default_order="create_time desc",
        )

    async def update(
        self,
        caller: Principal,
        name: str,
        values: Mapping[str, Any],
        mask_paths: list[str],
        *,
        etag: str = "",
        request_id: str = "",
        fingerprint: str = "",
        validate_only: bool = False,
    ) -> SecretRow:
        SECRET.parse(name, "secret.name")
        if not mask_paths:
            v = Violations()
            v.add("update_mask", "is required: display_name, labels or value")
            v.raise_if_any()
        plan = plan_update(mask_paths, values, UPDATABLE)
        v = Violations()
        self._validate(v, plan.changes, partial=True)
        v.raise_if_any()
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, request_id, "UpdateSecret", fingerprint)
            if replayed is not None:
                return await self._get_in(db, caller, replayed[0])
            row = await self._get_in(db, caller, name, "secret.name")
            check_etag("secret", row.id, row.revision, row.incarnation, etag)
            if validate_only:
                return row
            now = self.ctx.clock()
            for path, value in plan.changes.items():
                if path == "display_name":
                    row.display_name = value or ""
                elif path == "labels":
                    row.labels = dict(value or {})
                elif path == "value":
                    row.nonce, row.ciphertext = self.box.seal(row.owner, row.id, value)
                    row.key_id, row.value_time = self.box.key_id, now
            row.update_time = now
            row.revision += 1
            self.ctx.idempotency.remember(db, caller, request_id, "UpdateSecret", fingerprint, [name])
        return row

    async def delete(
        self,
        caller: Principal,
        name: str,
        *,
        etag: str = "",
        allow_missing: bool = False,
        request_id: str = "",
        fingerprint: str = "",
    ) -> None:
        (secret_id,) = SECRET.parse(name, "name")
        self.ctx.idempotency.validate(request_id)
        async with self.ctx.store.write() as db:
            if await self.ctx.idempotency.replay(db, caller, request_id, "DeleteSecret", fingerprint) is not None:
                return
            row = await secret_repo.get_secret(db, secret_id, caller.id)
            if row is None:
                if allow_missing:
                    return
                raise not_found(name)
            check_etag("secret", row.id, row.revision, row.incarnation, etag)
            await db.delete(row)
            self.ctx.idempotency.remember(db, caller, request_id, "DeleteSecret", fingerprint, [])

    async def value_for(self, owner: str, name: str) -> str:
        """The value of `owner`'s secret `name`, for a run of one of its agents. NotFound when it is gone."""
        (secret_id,) = SECRET.parse(name, "model.api_key_secret")
        async with self.ctx.store.read() as db:
            row = await secret_repo.get_secret(db, secret_id, owner)
        if row is None:
            raise not_found(name)
        try:
            return self.box.open(row)
        except SecretKeyError as exc:
            raise FailedPrecondition(
                f"secret {name!r} cannot be read with the server's secrets key: {exc}", reason="SECRET_NOT_FOUND"
            ) from None
