"""Server messaging: services send notifications and requests to principals, to a resource's followers or
to everyone; clients receive them on Connect (and Subscribe), acknowledge them, and answer requests.

Everything is in the database: a message row, and one delivery row per recipient (for `everyone`, made when
the message first reaches a principal). Delivery is driven by the resource event log, written in the send's
transaction (`notification.created`, `server_request.created` with the recipient as the event's principal,
`*` for everyone), so every replica's Connect streams see it and a restart loses nothing; a client that
connects later gets the backlog from the table, highest priority first. A message past its expire_time is
never delivered; a request past it is expired (its state is derived, so no process has to be there to
expire it).

Who may send: admins and principals with the `messaging.send` scope. A sender addresses any principal, any
session, run or batch, and everyone; a recipient sees only its own deliveries, never who else got a message.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from google.protobuf import struct_pb2
from sqlalchemy import delete, exists, or_, select, update

from runwire.server.background import spawn
from runwire.server.config import EventSettings
from runwire.server.core import names
from runwire.server.core.errors import (
    DeadlineExceeded,
    ErrorReasonName,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from runwire.server.core.paging import Page
from runwire.server.core.principal import SCOPE_MESSAGING_SEND, Principal
from runwire.server.domain.api_keys import PRINCIPAL_PATTERN
from runwire.server.domain.common import check_text
from runwire.server.domain.context import DomainContext
from runwire.server.domain.resource_events import EventFilter
from runwire.server.domain.resources import ListQuery, WriteOptions
from runwire.server.store.filter_sql import FieldSpec
from runwire.server.store.models import BatchRow, RunRow, ServerMessageDeliveryRow, ServerMessageRow, SessionRow
from runwire.server.store.resource_event_log import EVERYONE
from runwire.server.store.store import Listing, rows_changed
from runwire.server.store.transaction import Transaction
from runwire.server.wire.json_values import JsonValueError, encoded_size, from_struct, to_struct
from runwire.server.wire.timestamps import set_timestamp
from runwire.v1 import event_pb2, messaging_pb2

log = logging.getLogger("runwire.messaging")

Message = messaging_pb2.ServerMessage
Level = event_pb2.Notification.Level
Priority = event_pb2.Notification.Priority
SERVER_MESSAGE = names.NamePattern.of("serverMessages")
KIND_NOTIFICATION = Message.KIND_NOTIFICATION
KIND_REQUEST = Message.KIND_REQUEST
TO_PRINCIPAL, TO_FOLLOWERS, TO_EVERYONE = "principal", "followers", "everyone"
MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_DATA_BYTES = 64 * 1024
MAX_ANSWER_TEXT = 100_000
# At most this many deliveries are shown on a message; and loaded as one client's backlog.
MAX_DELIVERIES_SHOWN = 1000
MAX_BACKLOG = 1000
# Resources whose followers may be addressed, with the table that knows their owner.
_FOLLOWED: dict[str, type[SessionRow] | type[RunRow] | type[BatchRow]] = {"sessions": SessionRow, "runs": RunRow, "batches": BatchRow}
_NOT_FOUND: dict[str, ErrorReasonName] = {"sessions": "SESSION_NOT_FOUND", "runs": "RUN_NOT_FOUND", "batches": "BATCH_NOT_FOUND"}
_ENUMS: dict[str, dict[str, int]] = {
    "kind": {"NOTIFICATION": KIND_NOTIFICATION, "REQUEST": KIND_REQUEST},
    "level": {n: v for n, v in Level.items() if v},
    "priority": {n: v for n, v in Priority.items() if v},
}


def principal_name(principal: str) -> str:
    return f"principals/{principal}"


def parse_principal(name: str) -> str | None:
    collection, _, principal = name.partition("/")
    return principal if collection == "principals" and PRINCIPAL_PATTERN.fullmatch(principal) else None


def may_send(caller: Principal) -> bool:
    return caller.is_admin or SCOPE_MESSAGING_SEND in caller.scopes


def require_sender(caller: Principal) -> None:
    if not may_send(caller):
        raise PermissionDenied(
            "sending messages needs an admin, or an API key with the messaging.send scope",
            reason="PERMISSION_DENIED",
            metadata={"required_scope": SCOPE_MESSAGING_SEND},
        )


def not_found(name: str) -> NotFound:
    return NotFound(f"server message {name!r} does not exist", reason="SERVER_MESSAGE_NOT_FOUND", metadata={"resource": name})


@dataclass
class MessageView:
    """A message as one caller may see it: every delivery for its sender, its own for a recipient."""

    row: ServerMessageRow
    deliveries: list[ServerMessageDeliveryRow]
    as_sender: bool
    now: datetime


def delivery_state(row: ServerMessageRow, delivery: ServerMessageDeliveryRow | None, now: datetime) -> int:
    if row.kind == KIND_REQUEST and row.answer_time is not None:
        return Message.STATE_ANSWERED
    if row.kind == KIND_NOTIFICATION and delivery is not None and delivery.read_time is not None:
        return Message.STATE_READ
    if row.expire_time <= now:
        return Message.STATE_EXPIRED
    if delivery is not None and delivery.deliver_time is not None:
        return Message.STATE_DELIVERED
    return Message.STATE_QUEUED


def overall_state(view: MessageView) -> int:
    """The furthest state any recipient reached."""
    states = {delivery_state(view.row, d, view.now) for d in view.deliveries} or {delivery_state(view.row, None, view.now)}
    for state in (Message.STATE_ANSWERED, Message.STATE_READ, Message.STATE_EXPIRED, Message.STATE_DELIVERED):
        if state in states:
            return state
    return Message.STATE_QUEUED


def notification_proto(row: ServerMessageRow) -> event_pb2.Notification:
    """What a recipient's client gets: the content, never the other recipients."""
    notification = event_pb2.Notification(
        name=SERVER_MESSAGE.format(row.id),
        level=event_pb2.Notification.Level.ValueType(row.level),
        priority=event_pb2.Notification.Priority.ValueType(row.priority),
        title=row.title,
        text=row.text,
        resource=row.resource,
        sender=row.sender,
    )
    if row.data is not None:
        to_struct(row.data, notification.data)
    set_timestamp(notification.create_time, row.create_time)
    set_timestamp(notification.expire_time, row.expire_time)
    return notification


def server_request_proto(row: ServerMessageRow) -> event_pb2.ServerRequest:
    request = event_pb2.ServerRequest(id=SERVER_MESSAGE.format(row.id), message_request=notification_proto(row))
    set_timestamp(request.create_time, row.create_time)
    set_timestamp(request.expire_time, row.expire_time)
    return request


def message_proto(view: MessageView) -> messaging_pb2.ServerMessage:
    row = view.row
    message = Message(
        name=SERVER_MESSAGE.format(row.id),
        kind=Message.Kind.ValueType(row.kind),
        level=event_pb2.Notification.Level.ValueType(row.level),
        priority=event_pb2.Notification.Priority.ValueType(row.priority),
        title=row.title,
        text=row.text,
        sender=row.sender,
        resource=row.resource,
        connection=row.connection_id,
        state=Message.State.ValueType(overall_state(view)),
    )
    if row.recipient_kind == TO_PRINCIPAL:
        message.recipient.principal = principal_name(row.recipient)
    elif row.recipient_kind == TO_FOLLOWERS:
        message.recipient.followers_of = row.recipient
    else:
        message.recipient.everyone = True
    if row.data is not None:
        to_struct(row.data, message.data)
    set_timestamp(message.create_time, row.create_time)
    set_timestamp(message.expire_time, row.expire_time)
    for delivery in view.deliveries:
        shown = message.deliveries.add(
            principal=principal_name(delivery.principal), state=delivery_state(row, delivery, view.now)
        )
        if delivery.deliver_time is not None:
            set_timestamp(shown.deliver_time, delivery.deliver_time)
        if delivery.read_time is not None:
            set_timestamp(shown.read_time, delivery.read_time)
    if row.answer is not None:
        message.answer.ParseFromString(row.answer)
        message.answered_by = principal_name(row.answered_by)
        if row.answer_time is not None:
            set_timestamp(message.answer_time, row.answer_time)
    return message


def _listing(inbox_of: str | None) -> Listing:
    fields = {
        "kind": FieldSpec(ServerMessageRow.kind, "enum", enum_values=_ENUMS["kind"]),
        "level": FieldSpec(ServerMessageRow.level, "enum", enum_values=_ENUMS["level"]),
        "priority": FieldSpec(ServerMessageRow.priority, "enum", enum_values=_ENUMS["priority"]),
        "create_time": FieldSpec(ServerMessageRow.create_time, "timestamp"),
        "expire_time": FieldSpec(ServerMessageRow.expire_time, "timestamp"),
    }
    if inbox_of is not None:
        fields["read"] = FieldSpec(
            exists().where(
                ServerMessageDeliveryRow.message_id == ServerMessageRow.id,
                ServerMessageDeliveryRow.principal == inbox_of,
                ServerMessageDeliveryRow.read_time.is_not(None),
            ),
            "bool",
        )
    return Listing(filter_fields=fields, order_columns={"create_time": ServerMessageRow.create_time}, tiebreak=ServerMessageRow.pk)


class MessagingService:
    def __init__(self, ctx: DomainContext, settings: EventSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        # Deliveries to record, (message id, principal): written together, off the delivery path.
        self._delivered: set[tuple[str, str]] = set()
        self._flushing: asyncio.Task[None] | None = None

    # -- sending ----------------------------------------------------------------------

    async def send(
        self,
        caller: Principal,
        kind: int,
        message: messaging_pb2.ServerMessage,
        *,
        ttl_seconds: float | None,
        options: WriteOptions,
        field: str = "notification",
    ) -> MessageView:
        require_sender(caller)
        now = self.ctx.clock()
        v = Violations()
        target = message.recipient.WhichOneof("target")
        recipient = ""
        if target is None:
            v.add(f"{field}.recipient", "set one of principal, followers_of, everyone")
        elif target == "principal":
            recipient = self._principal_id(v, message.recipient.principal, f"{field}.recipient.principal")
        elif target == "followers_of":
            recipient = message.recipient.followers_of
            if kind == KIND_REQUEST:
                v.add(f"{field}.recipient.followers_of", "a request goes to one principal: set recipient.principal")
            elif recipient.partition("/")[0] not in _FOLLOWED or recipient.count("/") != 1:
                v.add(f"{field}.recipient.followers_of", "must be a session, run or batch, such as `sessions/s1`")
        else:
            if not message.recipient.everyone:
                v.add(f"{field}.recipient.everyone", "must be true")
            if kind == KIND_REQUEST:
                v.add(f"{field}.recipient.everyone", "a request goes to one principal: set recipient.principal")
        check_text(v, f"{field}.title", message.title, MAX_TITLE)
        check_text(v, f"{field}.text", message.text, MAX_TEXT, required=True)
        if message.level not in _ENUMS["level"].values() and message.level:
            v.add(f"{field}.level", f"unknown level {message.level}")
        if message.priority not in _ENUMS["priority"].values() and message.priority:
            v.add(f"{field}.priority", f"unknown priority {message.priority}")
        data = self._data(v, message.data, f"{field}.data") if message.HasField("data") else None
        if message.connection and kind != KIND_REQUEST:
            v.add(f"{field}.connection", "is for requests only")
        elif len(message.connection) > 64:
            v.add(f"{field}.connection", "is not a connection id")
        expire_time = self._expire_time(v, message, ttl_seconds, kind, now, field)
        self.ctx.idempotency.validate(options.request_id)
        v.raise_if_any()
        method = "SendRequest" if kind == KIND_REQUEST else "SendNotification"
        async with self.ctx.store.write() as db:
            replayed = await self.ctx.idempotency.replay(db, caller, options.request_id, method, options.fingerprint)
            if replayed is not None:
                return await self._view_in(db, caller, replayed[0])
            recipients: list[str] = []
            if target == "principal":
                recipients = [recipient]
            elif target == "followers_of":
                recipients = [await self._owner_of(db, recipient, f"{field}.recipient.followers_of")]
            row = ServerMessageRow(
                id=names.new_id(),
                sender=caller.id,
                kind=kind,
                recipient_kind={"principal": TO_PRINCIPAL, "followers_of": TO_FOLLOWERS}.get(target or "", TO_EVERYONE),
                recipient=recipient,
                resource=recipient if target == "followers_of" else "",
                connection_id=message.connection,
                level=message.level or Level.LEVEL_INFO,
                priority=message.priority or Priority.PRIORITY_NORMAL,
                title=message.title,
                text=message.text,
                data=data,
                create_time=now,
                expire_time=expire_time,
                answered_by="",
            )
            db.add(row)
            deliveries = [ServerMessageDeliveryRow(message_id=row.id, principal=p) for p in recipients]
            db.add_all(deliveries)
            name = SERVER_MESSAGE.format(row.id)
            if kind == KIND_REQUEST:
                await self.ctx.events.record(db, "server_request.created", name, recipient, server_request_proto(row))
            else:
                payload = notification_proto(row)
                for principal in recipients or [EVERYONE]:
                    await self.ctx.events.record(db, "notification.created", name, principal, payload)
            self.ctx.idempotency.remember(db, caller, options.request_id, method, options.fingerprint, [name])
        return MessageView(row, deliveries, True, now)

    def _principal_id(self, v: Violations, name: str, field: str) -> str:
        principal = parse_principal(name)
        if principal is None:
            v.add(field, "must be `principals/{principal}`, the principal 1 to 128 characters of letters, digits and ._@:-")
            return ""
        return principal

    def _data(self, v: Violations, data: struct_pb2.Struct, field: str) -> dict[str, Any] | None:
        try:
            value = from_struct(data)
        except JsonValueError as exc:
            v.add(field, str(exc))
            return None
        if encoded_size(value) > MAX_DATA_BYTES:
            v.add(field, f"is larger than {MAX_DATA_BYTES} bytes")
        return value

    def _expire_time(
        self, v: Violations, message: messaging_pb2.ServerMessage, ttl: float | None, kind: int, now: datetime, field: str
    ) -> datetime:
        retention = self.settings.message_retention
        within = f"({int(retention.total_seconds())}s)"
        if message.HasField("expire_time") and ttl is not None:
            v.add("ttl", f"set {field}.expire_time or ttl, not both")
            return now
        if ttl is not None:
            if not 0 < ttl <= retention.total_seconds():
                v.add("ttl", f"must be positive and at most the retention {within}")
                return now
            return now + timedelta(seconds=ttl)
        if message.HasField("expire_time"):
            try:
                expire = message.expire_time.ToDatetime()
            except (ValueError, OverflowError):
                expire = now
            if expire <= now or expire > now + retention:
                v.add(f"{field}.expire_time", f"must be in the future and within the retention {within}")
            return expire
        return now + (self.settings.message_request_ttl if kind == KIND_REQUEST else retention)

    async def _owner_of(self, db: Transaction, resource: str, field: str) -> str:
        collection, _, resource_id = resource.partition("/")
        table = _FOLLOWED[collection]
        owner = (await db.execute(select(table.owner).where(table.id == resource_id))).scalar_one_or_none()
        if owner is None:
            raise NotFound(f"{resource!r} does not exist", reason=_NOT_FOUND[collection], metadata={"resource": resource, "field": field})
        return str(owner)

    # -- reading ----------------------------------------------------------------------

    async def get(self, caller: Principal, name: str) -> MessageView:
        SERVER_MESSAGE.parse(name, "name")
        async with self.ctx.store.read() as db:
            return await self._view_in(db, caller, name)

    async def _view_in(self, db: Transaction, caller: Principal, name: str) -> MessageView:
        (message_id,) = SERVER_MESSAGE.parse(name, "name")
        row = (await db.execute(select(ServerMessageRow).where(ServerMessageRow.id == message_id))).scalar_one_or_none()
        if row is None:
            raise not_found(name)
        views = await self._views(db, caller, [row])
        if not views:
            raise not_found(name)
        return views[0]

    async def _views(self, db: Transaction, caller: Principal, rows: Sequence[ServerMessageRow]) -> list[MessageView]:
        """The rows the caller may see, each with the deliveries it may see."""
        now = self.ctx.clock()
        if not rows:
            return []
        stmt = select(ServerMessageDeliveryRow).where(ServerMessageDeliveryRow.message_id.in_([r.id for r in rows]))
        deliveries: dict[str, list[ServerMessageDeliveryRow]] = {}
        for delivery in (await db.execute(stmt.order_by(ServerMessageDeliveryRow.pk))).scalars():
            deliveries.setdefault(delivery.message_id, []).append(delivery)
        views = []
        for row in rows:
            mine = [d for d in deliveries.get(row.id, []) if d.principal == caller.id]
            if row.sender == caller.id:
                views.append(MessageView(row, deliveries.get(row.id, [])[:MAX_DELIVERIES_SHOWN], True, now))
            elif mine or row.recipient_kind == TO_EVERYONE:
                views.append(MessageView(row, mine, False, now))
        return views

    async def list(self, caller: Principal, query: ListQuery, *, sent: bool) -> Page:
        if sent:
            base = select(ServerMessageRow).where(ServerMessageRow.sender == caller.id)
        else:
            base = select(ServerMessageRow).where(
                or_(
                    ServerMessageRow.recipient_kind == TO_EVERYONE,
                    ServerMessageRow.id.in_(
                        select(ServerMessageDeliveryRow.message_id).where(ServerMessageDeliveryRow.principal == caller.id)
                    ),
                )
            )
        page = await self.ctx.list(
            caller,
            "serverMessages",
            base,
            _listing(None if sent else caller.id),
            page_size=query.page_size,
            page_token=query.page_token,
            filter_text=query.filter,
            order_by=query.order_by,
            default_order="create_time desc",
            scope=("sent" if sent else "inbox",),
        )
        async with self.ctx.store.read() as db:
            views = await self._views(db, caller, page.items)
        if sent:
            for view in views:
                view.as_sender = True
        return Page(items=views, next_page_token=page.next_page_token, total_size=page.total_size)

    # -- what recipients do -------------------------------------------------------------

    async def acknowledge(
        self, caller: Principal, name: str, options: WriteOptions = WriteOptions(), *, field: str = "name"
    ) -> MessageView:
        """The caller read the message: recorded once; acknowledging again changes nothing."""
        self.ctx.idempotency.validate(options.request_id)
        (message_id,) = SERVER_MESSAGE.parse(name, field)
        async with self.ctx.store.write() as db:
            row = await self._received_in(db, caller, message_id, name)
            delivery = await self._delivery_in(db, row, caller.id)
            now = self.ctx.clock()
            if delivery.read_time is None:
                delivery.read_time = now
                delivery.deliver_time = delivery.deliver_time or now
                if row.kind == KIND_NOTIFICATION:
                    await self.ctx.events.record(db, "notification.read", name, caller.id, notification_proto(row))
            return MessageView(row, [delivery], row.sender == caller.id, now)

    async def answer(
        self, caller: Principal, name: str, answer: event_pb2.ServerRequestAnswer, field: str = "response"
    ) -> MessageView:
        """The first answer of the recipient resolves the request; a later one, or one after it expired, fails."""
        (message_id,) = SERVER_MESSAGE.parse(name, f"{field}.server_request_id")
        which = answer.WhichOneof("answer")
        v = Violations()
        if which == "approval":
            v.add(f"{field}.approval", "answers a run's approval; answer this request with text or data")
        elif which is None:
            v.add(f"{field}.answer", "set text or data")
        elif which == "text":
            check_text(v, f"{field}.text", answer.text, MAX_ANSWER_TEXT, required=True)
        else:
            self._data(v, answer.data, f"{field}.data")
        self.ctx.idempotency.validate(answer.request_id, f"{field}.request_id")
        v.raise_if_any()
        async with self.ctx.store.write() as db:
            row = await self._received_in(db, caller, message_id, name)
            if row.kind != KIND_REQUEST:
                raise InvalidArgument.field(f"{field}.server_request_id", "names a notification; acknowledge it instead")
            now = self.ctx.clock()
            if row.answer_time is not None:
                if row.answered_by == caller.id and answer.request_id and row.answer == _stored(answer):
                    return MessageView(row, [], False, now)  # the same answer again: a retry
                raise FailedPrecondition(
                    f"{name} was already answered", reason="SERVER_MESSAGE_ANSWERED", metadata={"resource": name}
                )
            if row.expire_time <= now:
                raise FailedPrecondition(f"{name} expired unanswered", reason="SERVER_MESSAGE_EXPIRED", metadata={"resource": name})
            result = await db.execute(
                update(ServerMessageRow)
                .where(ServerMessageRow.id == row.id, ServerMessageRow.answer_time.is_(None))
                .values(answer=_stored(answer), answered_by=caller.id, answer_time=now)
                .execution_options(synchronize_session=False)
            )
            if not rows_changed(result):  # another answer committed first
                raise FailedPrecondition(f"{name} was already answered", reason="SERVER_MESSAGE_ANSWERED", metadata={"resource": name})
            row.answer, row.answered_by, row.answer_time = _stored(answer), caller.id, now
            delivery = await self._delivery_in(db, row, caller.id)
            delivery.deliver_time = delivery.deliver_time or now
            await self.ctx.events.record(db, "server_request.answered", name, caller.id, server_request_proto(row))
            return MessageView(row, [delivery], False, now)

    async def _received_in(self, db: Transaction, caller: Principal, message_id: str, name: str) -> ServerMessageRow:
        row = (await db.execute(select(ServerMessageRow).where(ServerMessageRow.id == message_id))).scalar_one_or_none()
        if row is None:
            raise not_found(name)
        if row.recipient_kind != TO_EVERYONE:
            mine = await db.execute(
                select(ServerMessageDeliveryRow.pk).where(
                    ServerMessageDeliveryRow.message_id == message_id, ServerMessageDeliveryRow.principal == caller.id
                )
            )
            if mine.scalar_one_or_none() is None:
                raise not_found(name)
        return row

    async def _delivery_in(self, db: Transaction, row: ServerMessageRow, principal: str) -> ServerMessageDeliveryRow:
        delivery = (
            await db.execute(
                select(ServerMessageDeliveryRow).where(
                    ServerMessageDeliveryRow.message_id == row.id, ServerMessageDeliveryRow.principal == principal
                )
            )
        ).scalar_one_or_none()
        if delivery is None:  # a message to everyone reaches this principal for the first time
            delivery = ServerMessageDeliveryRow(message_id=row.id, principal=principal)
            db.add(delivery)
        return delivery

    async def wait_for_answer(self, caller: Principal, name: str, wait_seconds: float | None = None) -> MessageView:
        """Until the request is answered or expires. When `wait_seconds` (what the call's deadline leaves) runs
        out first: DEADLINE_EXCEEDED naming the request, which stays pending."""
        events = self.ctx.events
        flt = EventFilter(principal=None, resources=(name,), exact_types=frozenset({"server_request.answered"}))
        after = await events.start_position(caller)
        view = await self.get(caller, name)
        remaining = (view.row.expire_time - self.ctx.clock()).total_seconds()
        by_deadline = wait_seconds is not None and wait_seconds < remaining
        if by_deadline:
            remaining = wait_seconds or 0.0
        if view.row.answer_time is None and remaining > 0:

            async def answered() -> None:
                async for item in events.follow(flt, after):
                    if item.kind == "event":
                        return

            try:
                await asyncio.wait_for(answered(), remaining)
            except TimeoutError:
                pass
        view = await self.get(caller, name)
        if by_deadline and view.row.answer_time is None:
            raise DeadlineExceeded(
                f"{name} was not answered before the call's deadline; it stays pending: read it later with GetServerMessage",
                reason="DEADLINE_EXCEEDED",
                metadata={"resource": name},
            )
        return view

    # -- delivery on Connect ----------------------------------------------------------------

    async def backlog(self, principal: str, *, requests: bool) -> builtins.list[ServerMessageRow]:
        """What a client that connects now should get: unread notifications and, if it takes them, unanswered
        requests, not expired, highest priority first, then oldest first."""
        now = self.ctx.clock()
        mine = select(ServerMessageDeliveryRow).where(ServerMessageDeliveryRow.principal == principal).subquery()
        kinds = [KIND_NOTIFICATION, KIND_REQUEST] if requests else [KIND_NOTIFICATION]
        stmt = (
            select(ServerMessageRow)
            .outerjoin(mine, mine.c.message_id == ServerMessageRow.id)
            .where(
                ServerMessageRow.expire_time > now,
                ServerMessageRow.kind.in_(kinds),
                ServerMessageRow.answer_time.is_(None),
                mine.c.read_time.is_(None),
                or_(mine.c.pk.is_not(None), ServerMessageRow.recipient_kind == TO_EVERYONE),
            )
            .order_by(ServerMessageRow.priority.desc(), ServerMessageRow.create_time, ServerMessageRow.pk)
            .limit(MAX_BACKLOG)
        )
        async with self.ctx.store.read() as db:
            return list((await db.execute(stmt)).scalars().all())

    async def connection_of(self, name: str) -> str:
        """The connection a request is addressed to; empty for every connection of its recipient."""
        (message_id,) = SERVER_MESSAGE.parse(name, "name")
        async with self.ctx.store.read() as db:
            found = await db.execute(select(ServerMessageRow.connection_id).where(ServerMessageRow.id == message_id))
            return str(found.scalar_one_or_none() or "")

    def delivered(self, message_name: str, principal: str) -> None:
        """A client of `principal` was sent the message; recorded shortly, with others, in one write."""
        self._delivered.add((SERVER_MESSAGE.parse(message_name, "name")[0], principal))
        if self._flushing is None or self._flushing.done():
            self._flushing = spawn(self._flush_delivered(), name="runwire-message-deliveries")

    async def _flush_delivered(self) -> None:
        await asyncio.sleep(0.05)  # gather the deliveries of one fan-out
        while self._delivered:
            batch, self._delivered = self._delivered, set()
            try:
                await self._record_delivered(batch)
            except Exception:  # the delivery happened; only its record is late
                log.exception("recording %d message deliveries failed; retrying", len(batch))
                self._delivered |= batch
                await asyncio.sleep(1.0)

    async def _record_delivered(self, batch: Iterable[tuple[str, str]]) -> None:
        now = self.ctx.clock()
        pairs = sorted(batch)
        async with self.ctx.store.write() as db:
            ids = sorted({m for m, _ in pairs})
            existing = {
                (d.message_id, d.principal): d
                for d in (
                    await db.execute(select(ServerMessageDeliveryRow).where(ServerMessageDeliveryRow.message_id.in_(ids)))
                ).scalars()
            }
            for pair in pairs:
                delivery = existing.get(pair)
                if delivery is None:
                    db.add(ServerMessageDeliveryRow(message_id=pair[0], principal=pair[1], deliver_time=now))
                elif delivery.deliver_time is None:
                    delivery.deliver_time = now

    async def flush(self) -> None:
        """Write the pending delivery records now (shutdown)."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)

    # -- retention ------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete messages that expired longer ago than the retention, with their deliveries."""
        cutoff = self.ctx.clock() - self.settings.message_retention
        async with self.ctx.store.write() as db:
            old = select(ServerMessageRow.id).where(ServerMessageRow.expire_time < cutoff)
            await db.execute(delete(ServerMessageDeliveryRow).where(ServerMessageDeliveryRow.message_id.in_(old)))
            result = await db.execute(delete(ServerMessageRow).where(ServerMessageRow.expire_time < cutoff))
            return rows_changed(result)


def _stored(answer: event_pb2.ServerRequestAnswer) -> bytes:
    kept = event_pb2.ServerRequestAnswer()
    kept.CopyFrom(answer)
    kept.request_id = ""
    return kept.SerializeToString(deterministic=True)

