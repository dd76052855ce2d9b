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

from runwire.server.core import names
from runwire.server.core.errors import FailedPrecondition, NotFound, Violations
from runwire.server.core.paging import Page
from runwire.server.core.principal import Principal
from runwire.server.domain.common import check_labels, check_text, plan_update
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resources import ListQuery, ResourceKind, ResourceWriter, Tenancy, WriteOptions, register
from runwire.server.store import secrets as secret_repo
from runwire.server.store.models import SecretRow
from runwire.server.store.secrets import SecretBox, SecretKeyError
from runwire.server.store.transaction import Transaction

SECRET = names.NamePattern.of("secrets")
MAX_VALUE_BYTES = 8192
MAX_DISPLAY_NAME_CHARS = 200
UPDATABLE = ("display_name", "labels", "value")


def not_found(name: str) -> NotFound:
    return SECRETS.not_found(name)


# No `to_proto`: secrets have no resource events, so no stream carries one.
SECRETS = register(
    ResourceKind(
        field="secret",
        pattern=SECRET,
        row=SecretRow,
        tenancy=Tenancy.OWNER,
        listing=secret_repo.SECRET_LISTING,
        title="secret",
        not_found_reason="SECRET_NOT_FOUND",
        method="Secret",
    )
)


class SecretService:
    def __init__(self, ctx: DomainContext, box: SecretBox) -> None:
        self.ctx = ctx
        self.writer: ResourceWriter[SecretRow] = ResourceWriter(ctx, SECRETS)
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
        self, caller: Principal, fields: Mapping[str, Any], options: WriteOptions, *, secret_id: str = ""
    ) -> SecretRow:
        v = Violations()
        if secret_id and not names.ID_PATTERN.match(secret_id):
            v.add("secret_id", names.ID_RULE)
        self._validate(v, fields)
        v.raise_if_any()
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
        return await self.writer.create(caller, row, options)

    async def get(self, caller: Principal, name: str) -> SecretRow:
        return await self.writer.get(caller, name)

    async def list(self, caller: Principal, query: ListQuery) -> Page:
        return await self.writer.list(caller, query)

    async def update(self, caller: Principal, name: str, values: Mapping[str, Any], options: WriteOptions) -> SecretRow:
        SECRET.parse(name, "secret.name")
        if not options.update_mask:
            v = Violations()
            v.add("update_mask", "is required: display_name, labels or value")
            v.raise_if_any()
        plan = plan_update(options.update_mask, values, UPDATABLE)
        v = Violations()
        self._validate(v, plan.changes, partial=True)
        v.raise_if_any()

        async def change(db: Transaction, row: SecretRow, target: SecretRow) -> None:
            for path, value in plan.changes.items():
                if path == "display_name":
                    target.display_name = value or ""
                elif path == "labels":
                    target.labels = dict(value or {})
                elif path == "value":
                    target.nonce, target.ciphertext = self.box.seal(row.owner, row.id, value)
                    target.key_id, target.value_time = self.box.key_id, self.ctx.clock()

        return await self.writer.update(caller, name, options, change)

    async def delete(self, caller: Principal, name: str, options: WriteOptions) -> None:
        await self.writer.delete(caller, name, options)

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
