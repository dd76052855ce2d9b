"""SessionService through a real channel: the behaviours the contract promises."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2
from sqlalchemy import func, select

from runwire.server.app import RunwireServer
from runwire.server.config import Limits
from runwire.server.store.models import MessageRow, SessionRow
from runwire.v1 import agent_pb2_grpc, common_pb2, message_pb2, message_pb2_grpc, session_pb2, session_pb2_grpc
from tests.conftest import Client, make_settings, new_request_id, rpc_error

# -- helpers ----------------------------------------------------------------


def ttl(seconds: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds)


def at(moment: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def struct(**values: object) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


async def get(client: Client, name: str) -> session_pb2.Session:
    return await client.sessions.GetSession(session_pb2.GetSessionRequest(name=name))


async def say(client: Client, session: str, text: str = "hello") -> message_pb2.Message:
    return await client.messages.CreateMessage(
        message_pb2.CreateMessageRequest(
            parent=session,
            message=message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=text)]),
        )
    )


async def all_session_names(client: Client, **request: object) -> list[str]:
    names: list[str] = []
    token = ""
    while True:
        page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(page_token=token, **request))
        names.extend(s.name for s in page.sessions)
        token = page.next_page_token
        if not token:
            return names


async def rows_in_database(client: Client, model: type, session_id: str) -> int:
    column = SessionRow.id if model is SessionRow else MessageRow.session_id
    async with client.server.sessions.ctx.store.read() as db:
        return (await db.execute(select(func.count()).select_from(model).where(column == session_id))).scalar_one()


async def start_client(tmp_path: Path, limits: Limits) -> AsyncIterator[Client]:
    server = RunwireServer(make_settings(tmp_path, limits=limits))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Client(
                channel=channel,
                server=server,
                agents=agent_pb2_grpc.AgentServiceStub(channel),
                sessions=session_pb2_grpc.SessionServiceStub(channel),
                messages=message_pb2_grpc.MessageServiceStub(channel),
            )
    finally:
        await server.stop(grace=0.5)


@pytest.fixture
async def capped_client(tmp_path: Path) -> AsyncIterator[Client]:
    """A server that allows each owner at most three sessions."""
    async for client in start_client(tmp_path, Limits(max_sessions_per_owner=3)):
        yield client


# -- CreateSession ------------------------------------------------------------


async def test_create_returns_the_stored_session_with_output_fields(client: Client) -> None:
    agent = await client.agent()
    session = await client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(
            session=session_pb2.Session(
                name="sessions/ignored",
                agent=agent.name,
                display_name="Order 1234",
                labels={"channel": "web"},
                metadata=struct(customer="c-9", tier=2),
            ),
            session_id="order-1234",
        )
    )
    assert session.name == "sessions/order-1234"
    assert session.agent == agent.name
    assert (session.display_name, dict(session.labels)) == ("Order 1234", {"channel": "web"})
    assert session.metadata["customer"] == "c-9" and session.metadata["tier"] == 2
    assert session.owner == "local"
    assert session.message_count == 0
    assert session.etag and session.create_time.seconds > 0
    assert session.update_time == session.create_time
    assert not session.HasField("expire_time")
    assert await get(client, session.name) == session


async def test_generated_session_ids_are_valid_resource_names(client: Client) -> None:
    session = await client.session()
    assert session.name.startswith("sessions/") and len(session.name.split("/")[1]) == 20
    assert (await get(client, session.name)).name == session.name


async def test_create_requires_an_agent(client: Client) -> None:
    failure = await rpc_error(client.sessions.CreateSession(session_pb2.CreateSessionRequest(session=session_pb2.Session())))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_ARGUMENT"
    assert "session.agent" in failure.field_violations


@pytest.mark.parametrize("agent", ["support", "agents/", "agents/BAD", "sessions/abcd", "agents/abcd/extra"])
async def test_create_rejects_a_malformed_agent_name(client: Client, agent: str) -> None:
    failure = await rpc_error(client.session(agent))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "session.agent" in failure.field_violations


async def test_create_for_an_unknown_agent_is_not_found(client: Client) -> None:
    failure = await rpc_error(client.session("agents/nobody-here"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "AGENT_NOT_FOUND"
    assert failure.metadata["resource"] == "agents/nobody-here"
    listed = await client.sessions.ListSessions(session_pb2.ListSessionsRequest())
    assert listed.total_size == 0


@pytest.mark.parametrize("session_id", ["A", "abc", "has_underscore", "-lead", "trail-", "9digit", "x" * 64, "with/slash"])
async def test_create_rejects_bad_session_ids(client: Client, session_id: str) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name), session_id=session_id)
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "session_id" in failure.field_violations


async def test_duplicate_session_id_is_already_exists(client: Client) -> None:
    agent = await client.agent()
    request = session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name), session_id="dup-session")
    first = await client.sessions.CreateSession(request)
    failure = await rpc_error(client.sessions.CreateSession(request))
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert failure.reason == "ALREADY_EXISTS"
    assert await get(client, first.name) == first


async def test_ttl_is_returned_as_an_expire_time(client: Client) -> None:
    before = datetime.now(UTC)
    session = await client.session(ttl=ttl(3600))
    assert session.HasField("expire_time")
    assert not session.HasField("ttl")
    expires = session.expire_time.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=3590) <= expires <= datetime.now(UTC) + timedelta(seconds=3610)
    assert (await get(client, session.name)).expire_time == session.expire_time


async def test_absolute_expire_time_is_kept(client: Client) -> None:
    moment = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    session = await client.session(expire_time=at(moment))
    assert session.expire_time.ToDatetime(tzinfo=UTC) == moment


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"expire_time": at(datetime.now(UTC) - timedelta(minutes=1))}, "session.expire_time"),
        ({"ttl": ttl(0)}, "session.ttl"),
        ({"ttl": ttl(-5)}, "session.ttl"),
        ({"ttl": ttl(3651 * 86400)}, "session.ttl"),
        ({"display_name": "x" * 201}, "session.display_name"),
        ({"labels": {"Bad Key": "v"}}, "session.labels.Bad Key"),
        ({"labels": {"9lives": "v"}}, "session.labels.9lives"),
        ({"labels": {"k": "v" * 64}}, "session.labels.k"),
        ({"labels": {f"k{i}": "v" for i in range(65)}}, "session.labels"),
        ({"metadata": struct(blob="x" * (64 * 1024))}, "session.metadata"),
    ],
)
async def test_create_rejects_invalid_fields_with_violations(client: Client, fields: dict, field: str) -> None:
    agent = await client.agent()
    failure = await rpc_error(client.session(agent.name, **fields))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_ARGUMENT"
    assert field in failure.field_violations
    assert (await client.sessions.ListSessions(session_pb2.ListSessionsRequest())).total_size == 0


async def test_create_accepts_labels_and_metadata_at_their_limits(client: Client) -> None:
    labels = {f"k{i}": "v" * 63 for i in range(64)}
    session = await client.session(labels=labels, metadata=struct(blob="x" * (60 * 1024)))
    assert dict(session.labels) == labels
    assert len(session.metadata["blob"]) == 60 * 1024


async def test_metadata_limit_counts_serialized_bytes_not_escapes(client: Client) -> None:
    # 30,000 two-byte characters: about 60 KB serialized, under the 64 KiB limit.
    metadata = struct(note="é" * 30_000)
    assert len(metadata.SerializeToString()) < 64 * 1024
    session = await client.session(metadata=metadata)
    assert session.metadata["note"] == "é" * 30_000
    failure = await rpc_error(client.session(metadata=struct(note="é" * 33_000)))
    assert "session.metadata" in failure.field_violations


async def test_create_reports_every_violation_at_once(client: Client) -> None:
    failure = await rpc_error(
        client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                session=session_pb2.Session(display_name="x" * 201, labels={"Bad": "v"}), session_id="A"
            )
        )
    )
    assert {"session.agent", "session.display_name", "session.labels.Bad", "session_id"} <= set(failure.field_violations)


async def test_request_id_makes_create_idempotent(client: Client) -> None:
    agent = await client.agent()
    request = session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name), request_id=new_request_id())
    first = await client.sessions.CreateSession(request)
    second = await client.sessions.CreateSession(request)
    assert first == second
    assert await all_session_names(client) == [first.name]


async def test_request_id_reused_for_another_request_is_refused(client: Client) -> None:
    agent = await client.agent()
    request_id = new_request_id()
    await client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name, display_name="a"), request_id=request_id)
    )
    failure = await rpc_error(
        client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(
                session=session_pb2.Session(agent=agent.name, display_name="b"), request_id=request_id
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "REQUEST_ID_REUSED"
    assert "request_id" in failure.field_violations
    assert len(await all_session_names(client)) == 1


async def test_validate_only_creates_nothing(client: Client) -> None:
    agent = await client.agent()
    preview = await client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(
            session=session_pb2.Session(agent=agent.name, display_name="dry", ttl=ttl(60)),
            session_id="dry-run",
            validate_only=True,
        )
    )
    assert (preview.name, preview.display_name, preview.agent) == ("sessions/dry-run", "dry", agent.name)
    assert preview.HasField("expire_time")
    failure = await rpc_error(get(client, "sessions/dry-run"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    # The id is still free.
    created = await client.sessions.CreateSession(
        session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent.name), session_id="dry-run")
    )
    assert created.name == "sessions/dry-run"


async def test_validate_only_still_checks_the_agent_exists(client: Client) -> None:
    failure = await rpc_error(
        client.sessions.CreateSession(
            session_pb2.CreateSessionRequest(session=session_pb2.Session(agent="agents/ghost"), validate_only=True)
        )
    )
    assert failure.reason == "AGENT_NOT_FOUND"


# -- GetSession ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "sessions", "sessions/", "agents/abcd", "sessions/ABCD", "sessions/abcd/messages/efgh", "sessions/-"])
async def test_get_rejects_malformed_names(client: Client, name: str) -> None:
    failure = await rpc_error(get(client, name))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in failure.field_violations


async def test_get_unknown_session_is_not_found_with_reason(client: Client) -> None:
    failure = await rpc_error(get(client, "sessions/missing"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"
    assert failure.metadata["resource"] == "sessions/missing"
    assert failure.metadata["request_id"]


# -- ListSessions -------------------------------------------------------------


async def test_list_pages_through_every_session_once(client: Client) -> None:
    agent = await client.agent()
    created = {(await client.session(agent.name, display_name=f"s{i}")).name for i in range(7)}
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(page_size=3, page_token=token))
        assert page.total_size == 7
        assert len(page.sessions) <= 3
        seen.extend(s.name for s in page.sessions)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert len(seen) == 7 and set(seen) == created


async def test_list_default_order_is_newest_first(client: Client) -> None:
    agent = await client.agent()
    for name in ["first", "second", "third"]:
        await client.session(agent.name, display_name=name)
    page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest())
    assert [s.display_name for s in page.sessions] == ["third", "second", "first"]
    by_name = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(order_by="display_name"))
    assert [s.display_name for s in by_name.sessions] == ["first", "second", "third"]


async def test_list_filters_by_agent(client: Client) -> None:
    support = await client.agent("Support")
    sales = await client.agent("Sales")
    mine = {(await client.session(support.name)).name for _ in range(2)}
    await client.session(sales.name)
    page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=f'agent = "{support.name}"'))
    assert {s.name for s in page.sessions} == mine
    assert page.total_size == 2
    assert all(s.agent == support.name for s in page.sessions)


async def test_list_filters_by_labels(client: Client) -> None:
    agent = await client.agent()
    await client.session(agent.name, display_name="web", labels={"channel": "web", "vip": "yes"})
    await client.session(agent.name, display_name="mail", labels={"channel": "email"})
    await client.session(agent.name, display_name="plain")

    async def names(filter_text: str) -> list[str]:
        page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=filter_text, order_by="display_name"))
        assert page.total_size == len(page.sessions)
        return [s.display_name for s in page.sessions]

    assert await names('labels.channel = "web"') == ["web"]
    assert await names("labels:channel") == ["mail", "web"]
    assert await names("NOT labels:channel") == ["plain"]
    assert await names('labels.channel = "email" OR labels.vip = "yes"') == ["mail", "web"]


async def test_list_filters_by_message_count_and_orders_by_it(client: Client) -> None:
    agent = await client.agent()
    counts = {"none": 0, "one": 1, "three": 3, "two": 2}
    for display_name, count in counts.items():
        session = await client.session(agent.name, display_name=display_name)
        for i in range(count):
            await say(client, session.name, f"message {i}")
    busy = await client.sessions.ListSessions(
        session_pb2.ListSessionsRequest(filter="message_count >= 2", order_by="message_count desc")
    )
    assert [(s.display_name, s.message_count) for s in busy.sessions] == [("three", 3), ("two", 2)]
    assert busy.total_size == 2
    empty = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter="message_count = 0"))
    assert [s.display_name for s in empty.sessions] == ["none"]
    ordered = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(order_by="message_count desc"))
    assert [s.message_count for s in ordered.sessions] == [3, 2, 1, 0]


async def test_list_orders_by_message_count_across_pages(client: Client) -> None:
    agent = await client.agent()
    for count in [2, 0, 1, 2, 1, 0]:
        session = await client.session(agent.name)
        for _ in range(count):
            await say(client, session.name)
    seen: list[tuple[str, int]] = []
    token = ""
    while True:
        page = await client.sessions.ListSessions(
            session_pb2.ListSessionsRequest(order_by="message_count desc", page_size=4, page_token=token)
        )
        seen.extend((s.name, s.message_count) for s in page.sessions)
        token = page.next_page_token
        if not token:
            break
    assert [count for _, count in seen] == [2, 2, 1, 1, 0, 0]
    assert len({name for name, _ in seen}) == 6


async def test_list_filters_by_create_time(client: Client) -> None:
    agent = await client.agent()
    old = await client.session(agent.name, display_name="old")
    await asyncio.sleep(0.01)
    new = await client.session(agent.name, display_name="new")
    cutoff = old.create_time.ToJsonString()
    after = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=f'create_time > "{cutoff}"'))
    assert [s.name for s in after.sessions] == [new.name]
    upto = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=f'create_time <= "{cutoff}"'))
    assert [s.name for s in upto.sessions] == [old.name]
    everything = await client.sessions.ListSessions(
        session_pb2.ListSessionsRequest(filter='create_time > "2000-01-01T00:00:00Z" AND display_name:"ew"')
    )
    assert [s.name for s in everything.sessions] == [new.name]


async def test_list_filters_by_expire_time(client: Client) -> None:
    agent = await client.agent()
    soon = await client.session(agent.name, ttl=ttl(60))
    later = await client.session(agent.name, ttl=ttl(86400))
    forever = await client.session(agent.name)
    cutoff = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter=f'expire_time < "{cutoff}"'))
    assert [s.name for s in page.sessions] == [soon.name]
    expiring = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter="expire_time != null"))
    assert {s.name for s in expiring.sessions} == {soon.name, later.name}
    never = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(filter="expire_time = null"))
    assert [s.name for s in never.sessions] == [forever.name]


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"filter": "agent = "}, "filter", "INVALID_FILTER"),
        ({"filter": "owner = local"}, "filter", "INVALID_FILTER"),
        ({"filter": "message_count = many"}, "filter", "INVALID_FILTER"),
        ({"filter": "create_time > yesterday"}, "filter", "INVALID_FILTER"),
        ({"filter": "(agent = x"}, "filter", "INVALID_FILTER"),
        ({"order_by": "owner"}, "order_by", "INVALID_ARGUMENT"),
        ({"order_by": "message_count upward"}, "order_by", "INVALID_ARGUMENT"),
        ({"page_size": -1}, "page_size", "INVALID_ARGUMENT"),
        ({"page_token": "garbage"}, "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_list_rejects_bad_queries(client: Client, request_fields: dict, field: str, reason: str) -> None:
    failure = await rpc_error(client.sessions.ListSessions(session_pb2.ListSessionsRequest(**request_fields)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == reason
    assert field in failure.field_violations


async def test_page_token_is_bound_to_its_query(client: Client) -> None:
    agent = await client.agent()
    for _ in range(3):
        await client.session(agent.name)
    page = await client.sessions.ListSessions(session_pb2.ListSessionsRequest(page_size=1))
    assert page.next_page_token
    other_filter = await rpc_error(
        client.sessions.ListSessions(
            session_pb2.ListSessionsRequest(page_size=1, page_token=page.next_page_token, filter="message_count = 0")
        )
    )
    assert other_filter.code == grpc.StatusCode.INVALID_ARGUMENT
    assert other_filter.reason == "INVALID_PAGE_TOKEN"
    other_order = await rpc_error(
        client.sessions.ListSessions(
            session_pb2.ListSessionsRequest(page_size=1, page_token=page.next_page_token, order_by="name")
        )
    )
    assert other_order.reason == "INVALID_PAGE_TOKEN"


# -- UpdateSession -------------------------------------------------------------


async def test_update_with_mask_changes_only_masked_fields(client: Client) -> None:
    session = await client.session(display_name="Before", labels={"a": "1"}, metadata=struct(keep=True))
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, display_name="After", labels={"ignored": "x"}),
            update_mask=mask("display_name"),
        )
    )
    assert updated.display_name == "After"
    assert dict(updated.labels) == {"a": "1"}
    assert updated.metadata["keep"] is True
    assert updated.etag != session.etag
    assert updated.update_time.ToDatetime() >= session.update_time.ToDatetime()
    assert updated.create_time == session.create_time
    assert await get(client, session.name) == updated


async def test_update_replaces_labels_and_metadata(client: Client) -> None:
    session = await client.session(labels={"a": "1", "b": "2"}, metadata=struct(old=1))
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, labels={"c": "3"}, metadata=struct(new="yes")),
            update_mask=mask("labels", "metadata"),
        )
    )
    assert dict(updated.labels) == {"c": "3"}
    assert dict(updated.metadata) == {"new": "yes"}
    cleared = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(session=session_pb2.Session(name=session.name), update_mask=mask("labels"))
    )
    assert dict(cleared.labels) == {}
    assert dict(cleared.metadata) == {"new": "yes"}


async def test_update_without_mask_changes_the_fields_that_are_set(client: Client) -> None:
    session = await client.session(display_name="Before", labels={"keep": "me"})
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(session=session_pb2.Session(name=session.name, display_name="After"))
    )
    assert (updated.display_name, dict(updated.labels)) == ("After", {"keep": "me"})


async def test_update_star_replaces_every_updatable_field(client: Client) -> None:
    session = await client.session(display_name="Before", labels={"a": "1"}, ttl=ttl(600))
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, display_name="After"), update_mask=mask("*")
        )
    )
    assert (updated.display_name, dict(updated.labels)) == ("After", {})
    assert not updated.HasField("expire_time")
    assert updated.agent == session.agent


async def test_update_star_with_a_ttl_sets_the_expiry_from_it(client: Client) -> None:
    session = await client.session(display_name="Before", labels={"a": "1"})
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, display_name="After", ttl=ttl(600)), update_mask=mask("*")
        )
    )
    assert (updated.display_name, dict(updated.labels)) == ("After", {})
    expires = updated.expire_time.ToDatetime(tzinfo=UTC)
    assert datetime.now(UTC) + timedelta(seconds=590) <= expires <= datetime.now(UTC) + timedelta(seconds=610)


async def test_update_ttl_sets_a_new_expire_time(client: Client) -> None:
    session = await client.session(ttl=ttl(60))
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, ttl=ttl(7200)), update_mask=mask("ttl")
        )
    )
    expires = updated.expire_time.ToDatetime(tzinfo=UTC)
    assert datetime.now(UTC) + timedelta(seconds=7100) <= expires <= datetime.now(UTC) + timedelta(seconds=7300)
    moment = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    absolute = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, expire_time=at(moment)), update_mask=mask("expire_time")
        )
    )
    assert absolute.expire_time.ToDatetime(tzinfo=UTC) == moment


async def test_update_can_remove_the_expiry(client: Client) -> None:
    session = await client.session(ttl=ttl(60))
    updated = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(session=session_pb2.Session(name=session.name), update_mask=mask("expire_time"))
    )
    assert not updated.HasField("expire_time")


async def test_update_with_ttl_and_expire_time_together_is_rejected(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=session.name, ttl=ttl(60)), update_mask=mask("ttl", "expire_time")
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in failure.field_violations
    assert not (await get(client, session.name)).HasField("expire_time")


@pytest.mark.parametrize(
    ("session_fields", "paths", "field"),
    [
        ({"display_name": "x" * 201}, ["display_name"], "session.display_name"),
        ({"labels": {"Bad": "v"}}, ["labels"], "session.labels.Bad"),
        ({"metadata": struct(blob="x" * (64 * 1024))}, ["metadata"], "session.metadata"),
        ({"ttl": ttl(0)}, ["ttl"], "session.ttl"),
        ({"expire_time": at(datetime.now(UTC) - timedelta(seconds=5))}, ["expire_time"], "session.expire_time"),
    ],
)
async def test_update_validates_new_values(client: Client, session_fields: dict, paths: list[str], field: str) -> None:
    session = await client.session(display_name="keep")
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=session.name, **session_fields), update_mask=mask(*paths)
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.field_violations
    assert await get(client, session.name) == session


@pytest.mark.parametrize("paths", [["agent"], ["owner"], ["message_count"], ["nope"], ["*", "labels"]])
async def test_update_rejects_bad_masks(client: Client, paths: list[str]) -> None:
    session = await client.session()
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=session.name, agent="agents/other", display_name="x"),
                update_mask=mask(*paths),
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in failure.field_violations
    assert await get(client, session.name) == session


async def test_update_with_stale_etag_is_aborted(client: Client) -> None:
    session = await client.session()
    await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(session=session_pb2.Session(name=session.name, display_name="v2", etag=session.etag))
    )
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(
                session=session_pb2.Session(name=session.name, display_name="v3", etag=session.etag)
            )
        )
    )
    assert failure.code == grpc.StatusCode.ABORTED
    assert failure.reason == "ETAG_MISMATCH"
    current = await get(client, session.name)
    assert current.display_name == "v2"
    assert failure.metadata["current_etag"] == current.etag


async def test_update_unknown_session_is_not_found(client: Client) -> None:
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(session=session_pb2.Session(name="sessions/nobody", display_name="x"))
        )
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"


async def test_update_rejects_a_malformed_name(client: Client) -> None:
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(session=session_pb2.Session(name="agents/abcd", display_name="x"))
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "session.name" in failure.field_violations


async def test_update_validate_only_changes_nothing(client: Client) -> None:
    session = await client.session(display_name="Before")
    preview = await client.sessions.UpdateSession(
        session_pb2.UpdateSessionRequest(
            session=session_pb2.Session(name=session.name, display_name="After"), validate_only=True
        )
    )
    assert preview.display_name == "After"
    assert await get(client, session.name) == session


async def test_update_request_id_is_idempotent(client: Client) -> None:
    session = await client.session()
    request = session_pb2.UpdateSessionRequest(
        session=session_pb2.Session(name=session.name, display_name="once", etag=session.etag), request_id=new_request_id()
    )
    first = await client.sessions.UpdateSession(request)
    second = await client.sessions.UpdateSession(request)  # the stale etag is not checked again
    assert first == second


# -- DeleteSession -------------------------------------------------------------


async def test_delete_an_empty_session(client: Client) -> None:
    session = await client.session()
    await client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name, etag=session.etag))
    failure = await rpc_error(get(client, session.name))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    again = await rpc_error(client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name)))
    assert again.code == grpc.StatusCode.NOT_FOUND
    assert again.reason == "SESSION_NOT_FOUND"
    await client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name, allow_missing=True))


async def test_delete_with_stale_etag_is_aborted(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(
        client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name, etag='"stale"'))
    )
    assert failure.code == grpc.StatusCode.ABORTED
    assert await get(client, session.name) == session


async def test_delete_a_session_with_messages_needs_force(client: Client) -> None:
    session = await client.session()
    first = await say(client, session.name, "one")
    await say(client, session.name, "two")
    failure = await rpc_error(client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name)))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "SESSION_NOT_EMPTY"
    assert failure.metadata["message_count"] == "2"
    assert (await get(client, session.name)).message_count == 2

    await client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=session.name, force=True))
    assert (await rpc_error(get(client, session.name))).reason == "SESSION_NOT_FOUND"
    gone = await rpc_error(client.messages.GetMessage(message_pb2.GetMessageRequest(name=first.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND
    everywhere = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent="sessions/-"))
    assert everywhere.total_size == 0
    session_id = session.name.split("/")[1]
    assert await rows_in_database(client, MessageRow, session_id) == 0


@pytest.mark.parametrize("name", ["", "sessions/ABC", "agents/abcd"])
async def test_delete_rejects_malformed_names(client: Client, name: str) -> None:
    failure = await rpc_error(client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=name, allow_missing=True)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in failure.field_violations


# -- BatchCreateSessions -------------------------------------------------------


def create_request(agent: str, session_id: str = "", **fields: object) -> session_pb2.CreateSessionRequest:
    return session_pb2.CreateSessionRequest(session=session_pb2.Session(agent=agent, **fields), session_id=session_id)


async def test_batch_create_returns_sessions_in_request_order(client: Client) -> None:
    agent = await client.agent()
    response = await client.sessions.BatchCreateSessions(
        session_pb2.BatchCreateSessionsRequest(
            requests=[
                create_request(agent.name, "batch-b", display_name="b"),
                create_request(agent.name, display_name="generated"),
                create_request(agent.name, "batch-a", display_name="a", ttl=ttl(300)),
            ]
        )
    )
    assert [s.display_name for s in response.sessions] == ["b", "generated", "a"]
    assert response.sessions[0].name == "sessions/batch-b"
    assert response.sessions[2].name == "sessions/batch-a"
    assert response.sessions[2].HasField("expire_time")
    for session in response.sessions:
        assert await get(client, session.name) == session


async def test_batch_create_is_atomic(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[
                    create_request(agent.name, "good-one"),
                    create_request(agent.name, "good-two"),
                    create_request(agent.name, "bad-one", labels={"Bad": "v"}),
                ]
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[2].session.labels.Bad" in failure.field_violations
    assert await all_session_names(client) == []


async def test_batch_create_names_each_bad_entry(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[
                    create_request(""),
                    create_request(agent.name, "OK"),
                    create_request(agent.name, display_name="x" * 201),
                    create_request(agent.name, expire_time=at(datetime.now(UTC) - timedelta(hours=1))),
                ]
            )
        )
    )
    assert {
        "requests[0].session.agent",
        "requests[1].session_id",
        "requests[2].session.display_name",
        "requests[3].session.expire_time",
    } <= set(failure.field_violations)


async def test_batch_create_names_an_unreadable_timestamp_by_its_entry(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[
                    create_request(agent.name),
                    create_request(agent.name, expire_time=timestamp_pb2.Timestamp(seconds=253402300800)),
                ]
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[1].session.expire_time" in failure.field_violations
    assert await all_session_names(client) == []


async def test_batch_create_with_an_unknown_agent_creates_nothing(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[create_request(agent.name, "fine-one"), create_request("agents/ghost", "ghost-one")]
            )
        )
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "AGENT_NOT_FOUND"
    assert "requests[1].session.agent" in failure.field_violations
    assert await all_session_names(client) == []


async def test_batch_create_with_an_existing_id_creates_nothing(client: Client) -> None:
    agent = await client.agent()
    existing = await client.sessions.CreateSession(create_request(agent.name, "taken-id"))
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[create_request(agent.name, "fresh-id"), create_request(agent.name, "taken-id")]
            )
        )
    )
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert await all_session_names(client) == [existing.name]


async def test_batch_create_rejects_duplicate_ids_inside_the_batch(client: Client) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(
                requests=[create_request(agent.name, "twin"), create_request(agent.name, "solo"), create_request(agent.name, "twin")]
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[2].session_id" in failure.field_violations
    assert await all_session_names(client) == []


@pytest.mark.parametrize("count", [0, 101])
async def test_batch_create_size_is_1_to_100(client: Client, count: int) -> None:
    agent = await client.agent()
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(requests=[create_request(agent.name) for _ in range(count)])
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests" in failure.field_violations
    assert await all_session_names(client) == []


async def test_batch_create_of_100_is_allowed(client: Client) -> None:
    agent = await client.agent()
    response = await client.sessions.BatchCreateSessions(
        session_pb2.BatchCreateSessionsRequest(requests=[create_request(agent.name) for _ in range(100)])
    )
    assert len({s.name for s in response.sessions}) == 100
    assert (await client.sessions.ListSessions(session_pb2.ListSessionsRequest(page_size=1))).total_size == 100


async def test_batch_create_request_id_replays_the_same_sessions(client: Client) -> None:
    agent = await client.agent()
    request = session_pb2.BatchCreateSessionsRequest(
        requests=[create_request(agent.name, display_name="x"), create_request(agent.name, display_name="y")],
        request_id=new_request_id(),
    )
    first = await client.sessions.BatchCreateSessions(request)
    second = await client.sessions.BatchCreateSessions(request)
    assert first == second
    assert sorted(await all_session_names(client)) == sorted(s.name for s in first.sessions)
    other = session_pb2.BatchCreateSessionsRequest(requests=[create_request(agent.name)], request_id=request.request_id)
    failure = await rpc_error(client.sessions.BatchCreateSessions(other))
    assert failure.reason == "REQUEST_ID_REUSED"


# -- BatchDeleteSessions -------------------------------------------------------


async def test_batch_delete_deletes_every_named_session(client: Client) -> None:
    agent = await client.agent()
    doomed = [(await client.session(agent.name)).name for _ in range(3)]
    survivor = await client.session(agent.name)
    await client.sessions.BatchDeleteSessions(session_pb2.BatchDeleteSessionsRequest(names=doomed))
    assert await all_session_names(client) == [survivor.name]


async def test_batch_delete_is_atomic_when_a_name_is_unknown(client: Client) -> None:
    agent = await client.agent()
    existing = [(await client.session(agent.name)).name for _ in range(2)]
    failure = await rpc_error(
        client.sessions.BatchDeleteSessions(
            session_pb2.BatchDeleteSessionsRequest(names=[existing[0], "sessions/unknown", existing[1]])
        )
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"
    assert failure.metadata["resource"] == "sessions/unknown"
    assert sorted(await all_session_names(client)) == sorted(existing)


async def test_batch_delete_rejects_duplicates_and_bad_names(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(
        client.sessions.BatchDeleteSessions(
            session_pb2.BatchDeleteSessionsRequest(names=[session.name, "sessions/BAD", session.name])
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"names[1]", "names[2]"} <= set(failure.field_violations)
    assert await get(client, session.name) == session


@pytest.mark.parametrize("count", [0, 101])
async def test_batch_delete_size_is_1_to_100(client: Client, count: int) -> None:
    failure = await rpc_error(
        client.sessions.BatchDeleteSessions(
            session_pb2.BatchDeleteSessionsRequest(names=[f"sessions/s{i:04d}" for i in range(count)])
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "names" in failure.field_violations


async def test_batch_delete_refuses_non_empty_sessions_without_force(client: Client) -> None:
    agent = await client.agent()
    empty = await client.session(agent.name)
    busy = await client.session(agent.name)
    message = await say(client, busy.name)
    failure = await rpc_error(
        client.sessions.BatchDeleteSessions(session_pb2.BatchDeleteSessionsRequest(names=[empty.name, busy.name]))
    )
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "SESSION_NOT_EMPTY"
    assert failure.metadata["resource"] == busy.name
    assert sorted(await all_session_names(client)) == sorted([empty.name, busy.name])

    await client.sessions.BatchDeleteSessions(
        session_pb2.BatchDeleteSessionsRequest(names=[empty.name, busy.name], force=True)
    )
    assert await all_session_names(client) == []
    gone = await rpc_error(client.messages.GetMessage(message_pb2.GetMessageRequest(name=message.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND
    assert await rows_in_database(client, MessageRow, busy.name.split("/")[1]) == 0


async def test_batch_delete_request_id_replays_success(client: Client) -> None:
    session = await client.session()
    request = session_pb2.BatchDeleteSessionsRequest(names=[session.name], request_id=new_request_id())
    await client.sessions.BatchDeleteSessions(request)
    await client.sessions.BatchDeleteSessions(request)  # a retry is not NOT_FOUND
    assert await all_session_names(client) == []


# -- Per-owner cap -------------------------------------------------------------


async def test_session_cap_is_resource_exhausted_with_quota_failure(capped_client: Client) -> None:
    client = capped_client
    agent = await client.agent()
    for _ in range(3):
        await client.session(agent.name)
    failure = await rpc_error(client.session(agent.name))
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.reason == "SESSION_QUOTA_EXCEEDED"
    assert failure.quota_violations == ["principal:local"]
    assert failure.metadata["limit"] == "3"
    assert len(await all_session_names(client)) == 3


async def test_session_cap_applies_to_a_whole_batch(capped_client: Client) -> None:
    client = capped_client
    agent = await client.agent()
    await client.session(agent.name)
    failure = await rpc_error(
        client.sessions.BatchCreateSessions(
            session_pb2.BatchCreateSessionsRequest(requests=[create_request(agent.name) for _ in range(3)])
        )
    )
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.reason == "SESSION_QUOTA_EXCEEDED"
    assert len(await all_session_names(client)) == 1
    both = await client.sessions.BatchCreateSessions(
        session_pb2.BatchCreateSessionsRequest(requests=[create_request(agent.name) for _ in range(2)])
    )
    assert len(both.sessions) == 2


async def test_deleting_a_session_frees_room_under_the_cap(capped_client: Client) -> None:
    client = capped_client
    agent = await client.agent()
    sessions = [await client.session(agent.name) for _ in range(3)]
    await client.sessions.DeleteSession(session_pb2.DeleteSessionRequest(name=sessions[0].name))
    assert (await client.session(agent.name)).name


# -- Expiry --------------------------------------------------------------------


async def test_an_expired_session_disappears_and_the_sweeper_deletes_it(client: Client) -> None:
    agent = await client.agent()
    short = await client.session(agent.name, ttl=ttl(1))
    lasting = await client.session(agent.name)
    message = await say(client, short.name, "soon gone")
    await say(client, lasting.name, "still here")
    assert (await get(client, short.name)).message_count == 1

    await asyncio.sleep(1.2)

    assert (await rpc_error(get(client, short.name))).reason == "SESSION_NOT_FOUND"
    assert await all_session_names(client) == [lasting.name]
    assert (await client.sessions.ListSessions(session_pb2.ListSessionsRequest())).total_size == 1
    assert (await rpc_error(client.messages.GetMessage(message_pb2.GetMessageRequest(name=message.name)))).code == (
        grpc.StatusCode.NOT_FOUND
    )
    everywhere = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent="sessions/-"))
    assert [m.text for m in everywhere.messages] == ["still here"]
    write = await rpc_error(say(client, short.name))
    assert write.reason == "SESSION_NOT_FOUND"

    short_id = short.name.split("/")[1]
    assert await rows_in_database(client, SessionRow, short_id) == 1  # hidden, not yet deleted
    assert await rows_in_database(client, MessageRow, short_id) == 1
    await client.server.sweeper.sweep_once()
    assert await rows_in_database(client, SessionRow, short_id) == 0
    assert await rows_in_database(client, MessageRow, short_id) == 0
    assert await get(client, lasting.name)
    assert (await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=lasting.name))).total_size == 1


async def test_expired_sessions_do_not_count_toward_the_cap(capped_client: Client) -> None:
    client = capped_client
    agent = await client.agent()
    await client.session(agent.name, ttl=ttl(1))
    await client.session(agent.name)
    await client.session(agent.name)
    await asyncio.sleep(1.2)
    assert (await client.session(agent.name)).name


async def test_a_session_read_and_sent_back_with_one_change_updates(client: Client) -> None:
    session = await client.session(display_name="before")
    edited = session_pb2.Session()
    edited.CopyFrom(session)
    edited.display_name = "after"
    updated = await client.sessions.UpdateSession(session_pb2.UpdateSessionRequest(session=edited))
    assert updated.display_name == "after" and updated.agent == session.agent


async def test_changing_the_immutable_agent_is_refused(client: Client) -> None:
    session = await client.session()
    other = await client.agent("other")
    failure = await rpc_error(
        client.sessions.UpdateSession(
            session_pb2.UpdateSessionRequest(session=session_pb2.Session(name=session.name, agent=other.name, display_name="x"))
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "session.agent" in failure.field_violations
