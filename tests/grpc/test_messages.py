"""MessageService through a real channel: the behaviours the contract promises."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2

from runwire.v1 import common_pb2, message_pb2, session_pb2
from tests.conftest import Client, new_request_id, rpc_error

USER = message_pb2.Message.ROLE_USER
ASSISTANT = message_pb2.Message.ROLE_ASSISTANT
SYSTEM = message_pb2.Message.ROLE_SYSTEM
TOOL = message_pb2.Message.ROLE_TOOL
MIB = 1024 * 1024


# -- helpers ----------------------------------------------------------------


def text(value: str) -> common_pb2.ContentPart:
    return common_pb2.ContentPart(text=value)


def struct(**values: object) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def create(
    client: Client,
    session: str,
    *parts: str,
    role: int = USER,
    parent_message: str = "",
    **request: object,
):  # type: ignore[no-untyped-def]
    """The CreateMessage call (not awaited), so tests can await it or hand it to rpc_error."""
    return client.messages.CreateMessage(
        message_pb2.CreateMessageRequest(
            parent=session,
            message=message_pb2.Message(
                role=role, content=[text(p) for p in parts or ("hello",)], parent_message=parent_message
            ),
            **request,
        )
    )


def create_raw(client: Client, session: str, message: message_pb2.Message, **request: object):  # type: ignore[no-untyped-def]
    return client.messages.CreateMessage(message_pb2.CreateMessageRequest(parent=session, message=message, **request))


async def get(client: Client, name: str) -> message_pb2.Message:
    return await client.messages.GetMessage(message_pb2.GetMessageRequest(name=name))


async def session_of(client: Client, name: str) -> session_pb2.Session:
    return await client.sessions.GetSession(session_pb2.GetSessionRequest(name=name))


async def listed(client: Client, parent: str, **request: object) -> list[message_pb2.Message]:
    """Every message of a listing, following next_page_token."""
    messages: list[message_pb2.Message] = []
    token = ""
    while True:
        page = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=parent, page_token=token, **request))
        messages.extend(page.messages)
        token = page.next_page_token
        if not token:
            return messages


async def texts(client: Client, parent: str, **request: object) -> list[str]:
    return [m.text for m in await listed(client, parent, **request)]


async def search(client: Client, parent: str, query: str, **request: object) -> message_pb2.SearchMessagesResponse:
    return await client.messages.SearchMessages(message_pb2.SearchMessagesRequest(parent=parent, query=query, **request))


# -- CreateMessage ------------------------------------------------------------


async def test_create_returns_the_stored_message_with_output_fields(client: Client) -> None:
    session = await client.session()
    message = await client.messages.CreateMessage(
        message_pb2.CreateMessageRequest(
            parent=session.name,
            message=message_pb2.Message(
                name="sessions/ignored/messages/ignored",
                role=USER,
                content=[text("first line"), common_pb2.ContentPart(data=struct(order=1234)), text("second line")],
                labels={"source": "web"},
            ),
            message_id="first-message",
        )
    )
    assert message.name == f"{session.name}/messages/first-message"
    assert message.role == USER
    assert message.text == "first line\nsecond line"
    assert message.content[1].data["order"] == 1234
    assert dict(message.labels) == {"source": "web"}
    assert (message.parent_message, message.run, message.reply_count) == ("", "", 0)
    assert message.etag and message.create_time.seconds > 0
    assert message.update_time == message.create_time
    assert await get(client, message.name) == message


async def test_every_kind_of_part_round_trips(client: Client) -> None:
    session = await client.session()
    content = [
        text("calling a tool"),
        common_pb2.ContentPart(data=struct(form={"name": "Ada"})),
        common_pb2.ContentPart(file="files/report-2026"),
        common_pb2.ContentPart(
            tool_call=common_pb2.ToolCall(id="call-1", tool="calculator", arguments=struct(expression="2+2"))
        ),
        common_pb2.ContentPart(
            tool_result=common_pb2.ToolResult(tool_call_id="call-1", output=struct(value=4), is_error=False)
        ),
    ]
    message = await create_raw(client, session.name, message_pb2.Message(role=TOOL, content=content))
    assert list(message.content) == content
    assert message.text == "calling a tool"
    assert list((await get(client, message.name)).content) == content


async def test_generated_message_ids_are_valid_resource_names(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name)
    prefix = f"{session.name}/messages/"
    assert message.name.startswith(prefix) and len(message.name[len(prefix) :]) == 20


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (message_pb2.Message(content=[text("no role")]), "message.role"),
        (message_pb2.Message(role=9, content=[text("unknown role")]), "message.role"),
        (message_pb2.Message(role=USER), "message.content"),
        (message_pb2.Message(role=USER, content=[common_pb2.ContentPart()]), "message.content[0]"),
        (message_pb2.Message(role=USER, content=[text("ok"), common_pb2.ContentPart()]), "message.content[1]"),
        (message_pb2.Message(role=USER, content=[text("x" * (MIB + MIB // 2))]), "message.content"),
        (message_pb2.Message(role=USER, content=[text("x" * (MIB // 2 + 1)), text("y" * (MIB // 2))]), "message.content"),
        (message_pb2.Message(role=USER, content=[text("p")] * 257), "message.content"),
        (message_pb2.Message(role=USER, content=[common_pb2.ContentPart(file="report.pdf")]), "message.content[0].file"),
        (message_pb2.Message(role=USER, content=[common_pb2.ContentPart(file="files/")]), "message.content[0].file"),
        (
            message_pb2.Message(role=ASSISTANT, content=[common_pb2.ContentPart(tool_call=common_pb2.ToolCall(id="c1"))]),
            "message.content[0].tool_call.tool",
        ),
        (message_pb2.Message(role=USER, content=[text("hi")], labels={"Bad Key": "v"}), "message.labels.Bad Key"),
        (message_pb2.Message(role=USER, content=[text("hi")], labels={"k": "v" * 64}), "message.labels.k"),
        (message_pb2.Message(role=USER, content=[text("hi")], parent_message="not-a-message"), "message.parent_message"),
    ],
)
async def test_create_rejects_invalid_messages_with_violations(
    client: Client, message: message_pb2.Message, field: str
) -> None:
    session = await client.session()
    failure = await rpc_error(create_raw(client, session.name, message))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_ARGUMENT"
    assert field in failure.field_violations
    assert (await session_of(client, session.name)).message_count == 0


async def test_create_accepts_the_limits_exactly(client: Client) -> None:
    session = await client.session()
    many = await create_raw(client, session.name, message_pb2.Message(role=USER, content=[text("p")] * 256))
    assert len(many.content) == 256
    big = await create_raw(client, session.name, message_pb2.Message(role=USER, content=[text("x" * MIB)]))
    assert len(big.text) == MIB


async def test_create_reports_every_violation_at_once(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(
        create_raw(client, session.name, message_pb2.Message(content=[common_pb2.ContentPart()]), message_id="BAD")
    )
    assert {"message.role", "message.content[0]", "message_id"} <= set(failure.field_violations)


@pytest.mark.parametrize("message_id", ["A", "abc", "has_underscore", "-lead", "trail-", "x" * 64])
async def test_create_rejects_bad_message_ids(client: Client, message_id: str) -> None:
    session = await client.session()
    failure = await rpc_error(create(client, session.name, message_id=message_id))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "message_id" in failure.field_violations


async def test_duplicate_message_id_is_already_exists(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, message_id="only-once")
    failure = await rpc_error(create(client, session.name, message_id="only-once"))
    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert (await session_of(client, session.name)).message_count == 1
    other = await client.session()
    assert (await create(client, other.name, message_id="only-once")).name == f"{other.name}/messages/only-once"


async def test_create_in_an_unknown_session_is_session_not_found(client: Client) -> None:
    failure = await rpc_error(create(client, "sessions/nowhere"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"
    assert failure.metadata["resource"] == "sessions/nowhere"


@pytest.mark.parametrize("parent", ["", "sessions/-", "sessions/BAD", "agents/abcd", "sessions/abcd/messages/efgh"])
async def test_create_rejects_malformed_parents(client: Client, parent: str) -> None:
    failure = await rpc_error(create(client, parent))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "parent" in failure.field_violations


async def test_parent_message_must_be_in_the_same_session(client: Client) -> None:
    agent = await client.agent()
    here = await client.session(agent.name)
    there = await client.session(agent.name)
    elsewhere = await create(client, there.name, "over there")
    failure = await rpc_error(create(client, here.name, "reply", parent_message=elsewhere.name))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "message.parent_message" in failure.field_violations
    assert (await get(client, elsewhere.name)).reply_count == 0
    assert (await session_of(client, here.name)).message_count == 0


async def test_unknown_parent_message_is_not_found(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(create(client, session.name, "reply", parent_message=f"{session.name}/messages/missing"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "MESSAGE_NOT_FOUND"
    assert (await session_of(client, session.name)).message_count == 0


async def test_message_count_and_update_time_follow_the_messages(client: Client) -> None:
    session = await client.session()
    first = await create(client, session.name, "one")
    await create(client, session.name, "two")
    after_create = await session_of(client, session.name)
    assert after_create.message_count == 2
    assert after_create.update_time.ToDatetime() >= first.create_time.ToDatetime() > session.update_time.ToDatetime()
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=first.name))
    after_delete = await session_of(client, session.name)
    assert after_delete.message_count == 1
    assert after_delete.update_time.ToDatetime() >= after_create.update_time.ToDatetime()


async def test_replies_form_threads_and_count_on_the_parent(client: Client) -> None:
    session = await client.session()
    question = await create(client, session.name, "question")
    answer = await create(client, session.name, "answer", role=ASSISTANT, parent_message=question.name)
    follow_up = await create(client, session.name, "follow-up", parent_message=question.name)
    nested = await create(client, session.name, "nested", parent_message=answer.name)
    assert answer.parent_message == question.name
    assert (await get(client, question.name)).reply_count == 2
    assert (await get(client, answer.name)).reply_count == 1
    assert (await get(client, follow_up.name)).reply_count == 0
    assert (await get(client, nested.name)).parent_message == answer.name
    assert (await session_of(client, session.name)).message_count == 4


async def test_request_id_makes_create_idempotent(client: Client) -> None:
    session = await client.session()
    request_id = new_request_id()
    first = await create(client, session.name, "exactly once", request_id=request_id)
    second = await create(client, session.name, "exactly once", request_id=request_id)
    assert first == second
    assert await texts(client, session.name) == ["exactly once"]
    assert (await session_of(client, session.name)).message_count == 1


async def test_a_request_id_past_the_idempotency_window_creates_again(client: Client) -> None:
    """The record of a request_id older than the window is dropped on its next use, and the request runs anew."""
    session = await client.session()
    request_id = new_request_id()
    first = await create(client, session.name, "once", request_id=request_id)
    idempotency = client.server.messages.ctx.idempotency
    real_clock = idempotency.clock
    idempotency.clock = lambda: real_clock() + idempotency.window + timedelta(minutes=1)
    try:
        again = await create(client, session.name, "once more", request_id=request_id)
    finally:
        idempotency.clock = real_clock
    assert again.name != first.name
    assert await texts(client, session.name) == ["once", "once more"]
    # The new record stands: a retry now replays the second creation.
    assert await create(client, session.name, "once more", request_id=request_id) == again


async def test_validate_only_creates_nothing(client: Client) -> None:
    session = await client.session()
    preview = await create(client, session.name, "dry", message_id="dry-run", validate_only=True)
    assert (preview.name, preview.text) == (f"{session.name}/messages/dry-run", "dry")
    assert (await rpc_error(get(client, preview.name))).reason == "MESSAGE_NOT_FOUND"
    assert (await session_of(client, session.name)).message_count == 0
    unknown = await rpc_error(create(client, "sessions/nowhere", validate_only=True))
    assert unknown.reason == "SESSION_NOT_FOUND"


# -- GetMessage ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "sessions/abcd", "sessions/abcd/messages", "sessions/-/messages/abcd", "sessions/abcd/messages/BAD", "messages/abcd"]
)
async def test_get_rejects_malformed_names(client: Client, name: str) -> None:
    failure = await rpc_error(get(client, name))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in failure.field_violations


async def test_get_unknown_message_is_not_found(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(get(client, f"{session.name}/messages/missing"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "MESSAGE_NOT_FOUND"
    assert failure.metadata["resource"] == f"{session.name}/messages/missing"


async def test_a_message_is_only_found_under_its_own_session(client: Client) -> None:
    agent = await client.agent()
    here = await client.session(agent.name)
    there = await client.session(agent.name)
    message = await create(client, here.name, message_id="moved-msg")
    assert await get(client, message.name) == message
    failure = await rpc_error(get(client, f"{there.name}/messages/moved-msg"))
    assert failure.reason == "MESSAGE_NOT_FOUND"


# -- ListMessages -------------------------------------------------------------


async def test_list_is_in_conversation_order_by_default(client: Client) -> None:
    session = await client.session()
    for word in ["one", "two", "three", "four"]:
        await create(client, session.name, word)
    page = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=session.name))
    assert [m.text for m in page.messages] == ["one", "two", "three", "four"]
    assert page.total_size == 4 and page.next_page_token == ""
    times = [m.create_time.ToDatetime() for m in page.messages]
    assert times == sorted(times)
    newest_first = await texts(client, session.name, order_by="create_time desc")
    assert newest_first == ["four", "three", "two", "one"]


async def test_list_pages_through_every_message_once_in_order(client: Client) -> None:
    session = await client.session()
    words = [f"m{i:02d}" for i in range(7)]
    for word in words:
        await create(client, session.name, word)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await client.messages.ListMessages(
            message_pb2.ListMessagesRequest(parent=session.name, page_size=3, page_token=token)
        )
        assert page.total_size == 7
        seen.extend(m.text for m in page.messages)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == words


async def test_list_page_size_defaults_to_50_and_is_capped_not_refused(client: Client) -> None:
    session = await client.session()
    for i in range(51):
        await create(client, session.name, f"m{i}")
    default = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=session.name))
    assert len(default.messages) == 50 and default.next_page_token
    huge = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=session.name, page_size=1_000_000))
    assert len(huge.messages) == 51 and huge.next_page_token == ""


async def test_list_only_shows_the_named_session(client: Client) -> None:
    agent = await client.agent()
    here = await client.session(agent.name)
    there = await client.session(agent.name)
    await create(client, here.name, "mine")
    await create(client, there.name, "theirs")
    assert await texts(client, here.name) == ["mine"]
    assert await texts(client, there.name) == ["theirs"]


async def test_list_across_sessions_with_dash(client: Client) -> None:
    agent = await client.agent()
    first = await client.session(agent.name)
    second = await client.session(agent.name)
    await create(client, first.name, "a1")
    await create(client, second.name, "b1")
    await create(client, first.name, "a2")
    everything = await listed(client, "sessions/-", page_size=2)
    assert [m.text for m in everything] == ["a1", "b1", "a2"]
    assert {m.name.rsplit("/messages/", 1)[0] for m in everything} == {first.name, second.name}
    only_a = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent="sessions/-", filter='text:"a"'))
    assert [m.text for m in only_a.messages] == ["a1", "a2"]
    assert only_a.total_size == 2


async def test_list_filters_by_role(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, "be nice", role=SYSTEM)
    await create(client, session.name, "hi", role=USER)
    await create(client, session.name, "hello, how can I help?", role=ASSISTANT)
    await create(client, session.name, "bye", role=USER)
    assert await texts(client, session.name, filter="role = USER") == ["hi", "bye"]
    assert await texts(client, session.name, filter="role = ASSISTANT") == ["hello, how can I help?"]
    assert await texts(client, session.name, filter="role != USER") == ["be nice", "hello, how can I help?"]
    page = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=session.name, filter="role = TOOL"))
    assert (list(page.messages), page.total_size) == ([], 0)


async def test_list_filters_by_content(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, "The Invoice is attached")
    await create(client, session.name, "thanks")
    await create(client, session.name, "where is my invoice?", role=USER)
    assert await texts(client, session.name, filter='text:"invoice"') == ["The Invoice is attached", "where is my invoice?"]
    assert await texts(client, session.name, filter='text:"invoice" AND role = USER') == [
        "The Invoice is attached",
        "where is my invoice?",
    ]
    assert await texts(client, session.name, filter='NOT text:"invoice"') == ["thanks"]


async def test_list_filters_threads(client: Client) -> None:
    session = await client.session()
    root = await create(client, session.name, "root")
    other_root = await create(client, session.name, "other root")
    await create(client, session.name, "reply 1", parent_message=root.name)
    reply_2 = await create(client, session.name, "reply 2", parent_message=root.name)
    await create(client, session.name, "deep", parent_message=reply_2.name)
    await create(client, session.name, "aside", parent_message=other_root.name)
    assert await texts(client, session.name, filter='parent_message = ""') == ["root", "other root"]
    assert await texts(client, session.name, filter=f'parent_message = "{root.name}"') == ["reply 1", "reply 2"]
    assert await texts(client, session.name, filter=f'parent_message = "{reply_2.name}"') == ["deep"]
    assert await texts(client, "sessions/-", filter='parent_message = ""') == ["root", "other root"]


async def test_list_filters_by_labels_and_run(client: Client) -> None:
    session = await client.session()
    await create_raw(client, session.name, message_pb2.Message(role=USER, content=[text("tagged")], labels={"topic": "billing"}))
    await create(client, session.name, "plain")
    assert await texts(client, session.name, filter='labels.topic = "billing"') == ["tagged"]
    assert await texts(client, session.name, filter='run = ""') == ["tagged", "plain"]


async def test_list_of_an_unknown_session_is_not_found(client: Client) -> None:
    failure = await rpc_error(client.messages.ListMessages(message_pb2.ListMessagesRequest(parent="sessions/nowhere")))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"parent": ""}, "parent", "INVALID_ARGUMENT"),
        ({"parent": "sessions/BAD"}, "parent", "INVALID_ARGUMENT"),
        ({"parent": "agents/abcd"}, "parent", "INVALID_ARGUMENT"),
        ({"filter": "role = OWNER"}, "filter", "INVALID_FILTER"),
        ({"filter": "role = ROLE_WHATEVER"}, "filter", "INVALID_FILTER"),
        ({"filter": "colour = red"}, "filter", "INVALID_FILTER"),
        ({"filter": 'text:"unterminated'}, "filter", "INVALID_FILTER"),
        ({"filter": "create_time > yesterday"}, "filter", "INVALID_FILTER"),
        ({"order_by": "role"}, "order_by", "INVALID_ARGUMENT"),
        ({"page_size": -1}, "page_size", "INVALID_ARGUMENT"),
        ({"page_token": "garbage"}, "page_token", "INVALID_PAGE_TOKEN"),
    ],
)
async def test_list_rejects_bad_queries(client: Client, request_fields: dict, field: str, reason: str) -> None:
    request = {"parent": "sessions/-", **request_fields}
    failure = await rpc_error(client.messages.ListMessages(message_pb2.ListMessagesRequest(**request)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == reason
    assert field in failure.field_violations


async def test_page_token_is_bound_to_its_parent_and_filter(client: Client) -> None:
    agent = await client.agent()
    here = await client.session(agent.name)
    there = await client.session(agent.name)
    for i in range(3):
        await create(client, here.name, f"m{i}")
    page = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=here.name, page_size=1))
    token = page.next_page_token
    assert token
    other_parent = await rpc_error(
        client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=there.name, page_size=1, page_token=token))
    )
    assert other_parent.reason == "INVALID_PAGE_TOKEN"
    other_filter = await rpc_error(
        client.messages.ListMessages(
            message_pb2.ListMessagesRequest(parent=here.name, page_size=1, page_token=token, filter="role = USER")
        )
    )
    assert other_filter.reason == "INVALID_PAGE_TOKEN"


# -- UpdateMessage -------------------------------------------------------------


async def test_update_content_with_a_mask(client: Client) -> None:
    session = await client.session()
    message = await create_raw(
        client, session.name, message_pb2.Message(role=USER, content=[text("typo")], labels={"keep": "me"})
    )
    updated = await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(
            message=message_pb2.Message(name=message.name, content=[text("fixed"), text("twice")], labels={"x": "y"}),
            update_mask=mask("content"),
        )
    )
    assert [p.text for p in updated.content] == ["fixed", "twice"]
    assert updated.text == "fixed\ntwice"
    assert dict(updated.labels) == {"keep": "me"}
    assert (updated.role, updated.create_time) == (USER, message.create_time)
    assert updated.etag != message.etag
    assert updated.update_time.ToDatetime() >= message.update_time.ToDatetime()
    assert await get(client, message.name) == updated
    assert await texts(client, session.name, filter='text:"fixed"') == ["fixed\ntwice"]
    assert await texts(client, session.name, filter='text:"typo"') == []


async def test_update_labels_with_a_mask(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "body")
    updated = await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(
            message=message_pb2.Message(name=message.name, content=[text("ignored")], labels={"state": "reviewed"}),
            update_mask=mask("labels"),
        )
    )
    assert dict(updated.labels) == {"state": "reviewed"}
    assert updated.text == "body"


async def test_update_without_mask_changes_the_fields_that_are_set(client: Client) -> None:
    session = await client.session()
    message = await create_raw(client, session.name, message_pb2.Message(role=USER, content=[text("a")], labels={"k": "v"}))
    updated = await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(message=message_pb2.Message(name=message.name, content=[text("b")]))
    )
    assert (updated.text, dict(updated.labels)) == ("b", {"k": "v"})


@pytest.mark.parametrize("paths", [["role"], ["parent_message"], ["run"], ["reply_count"], ["nope"], ["*", "content"]])
async def test_update_rejects_immutable_and_unknown_paths(client: Client, paths: list[str]) -> None:
    session = await client.session()
    message = await create(client, session.name, "original")
    failure = await rpc_error(
        client.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=message.name, role=ASSISTANT, content=[text("changed")]),
                update_mask=mask(*paths),
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "update_mask" in failure.field_violations
    assert await get(client, message.name) == message


@pytest.mark.parametrize(
    ("message_fields", "paths", "field"),
    [
        ({"content": []}, ["content"], "message.content"),
        ({"content": [common_pb2.ContentPart()]}, ["content"], "message.content[0]"),
        ({"content": [text("x" * (MIB + MIB // 2))]}, ["content"], "message.content"),
        ({"labels": {"Bad": "v"}}, ["labels"], "message.labels.Bad"),
    ],
)
async def test_update_validates_new_values(client: Client, message_fields: dict, paths: list[str], field: str) -> None:
    session = await client.session()
    message = await create(client, session.name, "original")
    failure = await rpc_error(
        client.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=message.name, **message_fields), update_mask=mask(*paths)
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in failure.field_violations
    assert await get(client, message.name) == message


async def test_update_with_stale_etag_is_aborted(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "v1")
    await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(message=message_pb2.Message(name=message.name, content=[text("v2")], etag=message.etag))
    )
    failure = await rpc_error(
        client.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=message.name, content=[text("v3")], etag=message.etag)
            )
        )
    )
    assert failure.code == grpc.StatusCode.ABORTED
    assert failure.reason == "ETAG_MISMATCH"
    assert (await get(client, message.name)).text == "v2"


async def test_update_unknown_message_is_not_found(client: Client) -> None:
    session = await client.session()
    failure = await rpc_error(
        client.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=f"{session.name}/messages/missing", content=[text("x")])
            )
        )
    )
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "MESSAGE_NOT_FOUND"


# -- DeleteMessage -------------------------------------------------------------


async def test_delete_a_message(client: Client) -> None:
    session = await client.session()
    keep = await create(client, session.name, "keep")
    doomed = await create(client, session.name, "doomed")
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=doomed.name, etag=doomed.etag))
    assert (await rpc_error(get(client, doomed.name))).reason == "MESSAGE_NOT_FOUND"
    assert await texts(client, session.name) == ["keep"]
    assert (await session_of(client, session.name)).message_count == 1
    again = await rpc_error(client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=doomed.name)))
    assert again.code == grpc.StatusCode.NOT_FOUND
    assert again.reason == "MESSAGE_NOT_FOUND"
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=doomed.name, allow_missing=True))
    assert await get(client, keep.name) == keep


async def test_delete_with_stale_etag_is_aborted(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name)
    failure = await rpc_error(client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=message.name, etag='"stale"')))
    assert failure.code == grpc.StatusCode.ABORTED
    assert await get(client, message.name) == message


async def test_deleting_a_reply_lowers_the_parents_reply_count(client: Client) -> None:
    session = await client.session()
    root = await create(client, session.name, "root")
    reply = await create(client, session.name, "reply", parent_message=root.name)
    await create(client, session.name, "another reply", parent_message=root.name)
    assert (await get(client, root.name)).reply_count == 2
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=reply.name))
    assert (await get(client, root.name)).reply_count == 1
    assert (await session_of(client, session.name)).message_count == 2


async def test_delete_a_message_with_replies_needs_force(client: Client) -> None:
    session = await client.session()
    root = await create(client, session.name, "root")
    middle = await create(client, session.name, "middle", parent_message=root.name)
    left = await create(client, session.name, "left", parent_message=middle.name)
    right = await create(client, session.name, "right", parent_message=middle.name)
    leaf = await create(client, session.name, "leaf", parent_message=left.name)
    sibling = await create(client, session.name, "sibling", parent_message=root.name)
    unrelated = await create(client, session.name, "unrelated")
    assert (await session_of(client, session.name)).message_count == 7

    failure = await rpc_error(client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=middle.name)))
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.reason == "MESSAGE_HAS_REPLIES"
    assert failure.metadata["reply_count"] == "2"
    assert (await session_of(client, session.name)).message_count == 7

    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=middle.name, force=True))
    for gone in (middle, left, right, leaf):
        assert (await rpc_error(get(client, gone.name))).reason == "MESSAGE_NOT_FOUND"
    assert await texts(client, session.name) == ["root", "sibling", "unrelated"]
    assert (await session_of(client, session.name)).message_count == 3
    assert (await get(client, root.name)).reply_count == 1
    assert (await get(client, sibling.name)) == sibling
    assert (await get(client, unrelated.name)) == unrelated
    orphan = await rpc_error(create(client, session.name, "late reply", parent_message=leaf.name))
    assert orphan.reason == "MESSAGE_NOT_FOUND"


async def test_force_deleting_a_root_removes_its_whole_thread(client: Client) -> None:
    session = await client.session()
    root = await create(client, session.name, "root")
    child = await create(client, session.name, "child", parent_message=root.name)
    await create(client, session.name, "grandchild", parent_message=child.name)
    await create(client, session.name, "top level")
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=root.name, force=True))
    assert await texts(client, session.name) == ["top level"]
    assert (await session_of(client, session.name)).message_count == 1
    assert (await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent="sessions/-"))).total_size == 1


async def test_delete_request_id_replays_success(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name)
    request = message_pb2.DeleteMessageRequest(name=message.name, request_id=new_request_id())
    await client.messages.DeleteMessage(request)
    await client.messages.DeleteMessage(request)  # a retry is not NOT_FOUND
    assert (await session_of(client, session.name)).message_count == 0


# -- SearchMessages -------------------------------------------------------------


async def test_search_in_one_session_needs_every_word(client: Client) -> None:
    agent = await client.agent()
    session = await client.session(agent.name)
    other = await client.session(agent.name)
    await create(client, session.name, "my order never arrived")
    await create(client, session.name, "the order is on its way", role=ASSISTANT)
    await create(client, session.name, "refund please")
    await create(client, other.name, "order arrived in the other session")
    response = await search(client, session.name, "order arrived")
    assert [r.message.text for r in response.results] == ["my order never arrived"]
    assert response.next_page_token == ""
    both = await search(client, session.name, "order")
    assert [r.message.text for r in both.results] == ["the order is on its way", "my order never arrived"]


async def test_search_is_case_insensitive_beyond_ascii(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, "Ärger über die Straße")
    assert len((await search(client, session.name, "ärger ÜBER")).results) == 1


async def test_search_is_case_insensitive_and_returns_a_snippet(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "Please RESET my Password")
    response = await search(client, session.name, "password reset")
    assert [r.message.name for r in response.results] == [message.name]
    assert response.results[0].message == message
    assert "Password" in response.results[0].snippet
    shouting = await search(client, session.name, "PLEASE")
    assert [r.message.name for r in shouting.results] == [message.name]


async def test_search_snippet_is_an_excerpt_around_the_match(client: Client) -> None:
    session = await client.session()
    long_text = "filler " * 100 + "needle in the haystack " + "padding " * 100
    await create(client, session.name, long_text)
    (result,) = (await search(client, session.name, "needle")).results
    assert "needle" in result.snippet
    assert len(result.snippet) < len(long_text) // 4
    assert result.message.text == long_text


async def test_search_across_all_sessions(client: Client) -> None:
    agent = await client.agent()
    first = await client.session(agent.name)
    second = await client.session(agent.name)
    await create(client, first.name, "shipping delay in march")
    await create(client, second.name, "no shipping to islands")
    await create(client, second.name, "unrelated")
    response = await search(client, "sessions/-", "shipping")
    assert [r.message.text for r in response.results] == ["no shipping to islands", "shipping delay in march"]
    assert all("shipping" in r.snippet for r in response.results)


async def test_search_treats_wildcards_literally(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, "a 50% discount")
    await create(client, session.name, "a 500 euro bill")
    await create(client, session.name, "snake_case name")
    await create(client, session.name, "snakeXcase name")
    assert [r.message.text for r in (await search(client, session.name, "50%")).results] == ["a 50% discount"]
    assert [r.message.text for r in (await search(client, session.name, "snake_case")).results] == ["snake_case name"]


async def test_search_pages_with_next_page_token(client: Client) -> None:
    session = await client.session()
    for i in range(5):
        await create(client, session.name, f"ticket number {i}")
    await create(client, session.name, "something else")
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        response = await search(client, session.name, "ticket", page_size=2, page_token=token)
        assert len(response.results) <= 2
        seen.extend(r.message.text for r in response.results)
        pages += 1
        token = response.next_page_token
        if not token:
            break
    assert pages == 3
    assert seen == [f"ticket number {i}" for i in reversed(range(5))]


async def test_search_page_size_defaults_to_20_and_is_capped_at_100(client: Client) -> None:
    session = await client.session()
    for i in range(101):
        await create(client, session.name, f"note {i}")
    default = await search(client, session.name, "note")
    assert len(default.results) == 20 and default.next_page_token
    capped = await search(client, session.name, "note", page_size=500)
    assert len(capped.results) == 100 and capped.next_page_token
    rest = await search(client, session.name, "note", page_size=500, page_token=capped.next_page_token)
    assert [r.message.text for r in rest.results] == ["note 0"] and rest.next_page_token == ""


async def test_search_page_token_is_bound_to_its_query(client: Client) -> None:
    session = await client.session()
    for i in range(3):
        await create(client, session.name, f"alpha beta {i}")
    first = await search(client, session.name, "alpha", page_size=1)
    assert first.next_page_token
    failure = await rpc_error(search(client, session.name, "beta", page_size=1, page_token=first.next_page_token))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_PAGE_TOKEN"
    garbage = await rpc_error(search(client, session.name, "alpha", page_token="garbage"))
    assert garbage.reason == "INVALID_PAGE_TOKEN"


async def test_search_finds_nothing_gracefully(client: Client) -> None:
    session = await client.session()
    await create(client, session.name, "hello")
    response = await search(client, session.name, "goodbye")
    assert (list(response.results), response.next_page_token) == ([], "")


async def test_search_sees_updates_and_not_deleted_messages(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "draft wording")
    await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(message=message_pb2.Message(name=message.name, content=[text("final wording")]))
    )
    assert (await search(client, session.name, "draft")).results == []
    assert len((await search(client, session.name, "final")).results) == 1
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=message.name))
    assert (await search(client, "sessions/-", "wording")).results == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 1001}, "query"),
        ({"query": "ok", "page_size": -1}, "page_size"),
        ({"query": "ok", "parent": ""}, "parent"),
        ({"query": "ok", "parent": "sessions/BAD"}, "parent"),
    ],
)
async def test_search_rejects_bad_requests(client: Client, request_fields: dict, field: str) -> None:
    request = {"parent": "sessions/-", **request_fields}
    failure = await rpc_error(client.messages.SearchMessages(message_pb2.SearchMessagesRequest(**request)))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.reason == "INVALID_ARGUMENT"
    assert field in failure.field_violations


async def test_search_of_an_unknown_session_is_not_found(client: Client) -> None:
    failure = await rpc_error(search(client, "sessions/nowhere", "hello"))
    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.reason == "SESSION_NOT_FOUND"


async def test_search_skips_expired_sessions(client: Client) -> None:
    agent = await client.agent()
    short = await client.session(agent.name, ttl=duration_pb2.Duration(seconds=1))
    lasting = await client.session(agent.name)
    await create(client, short.name, "vanishing words")
    await create(client, lasting.name, "lasting words")
    await asyncio.sleep(1.2)
    assert [r.message.text for r in (await search(client, "sessions/-", "words")).results] == ["lasting words"]


async def test_a_message_read_and_sent_back_with_new_content_updates(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "first draft")
    edited = message_pb2.Message()
    edited.CopyFrom(message)
    del edited.content[:]
    edited.content.append(text("final text"))
    updated = await client.messages.UpdateMessage(message_pb2.UpdateMessageRequest(message=edited))
    assert updated.text == "final text" and updated.role == message.role


async def test_changing_the_immutable_role_is_refused(client: Client) -> None:
    session = await client.session()
    message = await create(client, session.name, "hello")
    failure = await rpc_error(
        client.messages.UpdateMessage(
            message_pb2.UpdateMessageRequest(
                message=message_pb2.Message(name=message.name, role=message_pb2.Message.ROLE_SYSTEM, content=[text("x")])
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "message.role" in failure.field_violations


async def test_listing_shows_every_change_of_a_listed_message(client: Client) -> None:
    """Listed messages are read anew each time: an update, a reply counted on its parent, and a message
    deleted and created again under the same id all show in the next listing."""
    session = await client.session()
    first = await create(client, session.name, "first", message_id="msg-first")
    await create(client, session.name, "second")
    assert await texts(client, session.name) == ["first", "second"]
    await client.messages.UpdateMessage(
        message_pb2.UpdateMessageRequest(
            message=message_pb2.Message(name=first.name, content=[text("first, edited")]), update_mask=mask("content")
        )
    )
    assert await texts(client, session.name) == ["first, edited", "second"]
    await create(client, session.name, "reply", parent_message=first.name)
    by_text = {m.text: m for m in await listed(client, session.name)}
    assert by_text["first, edited"].reply_count == 1
    await client.messages.DeleteMessage(message_pb2.DeleteMessageRequest(name=first.name, force=True))
    assert await texts(client, session.name) == ["second"]
    again = await create(client, session.name, "first again", message_id="msg-first")
    page = await client.messages.ListMessages(message_pb2.ListMessagesRequest(parent=session.name))
    assert [m.text for m in page.messages] == ["second", "first again"] and page.total_size == 2
    assert page.messages[1].etag == again.etag != first.etag and page.messages[1].reply_count == 0
