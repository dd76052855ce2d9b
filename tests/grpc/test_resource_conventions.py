"""The API conventions, checked on every registered resource kind through real gRPC stubs.

Each kind in domain/resources.py's registry has an entry here that says how to reach it over the wire
(its service, its request messages, a valid body); the checks are the same for every kind: names
(AIP-122), etags (AIP-154), request_id replay (AIP-155), validate_only (AIP-163), allow_missing on
delete, filters (AIP-160), order (AIP-132), pages (AIP-158) and tenancy, as the kind's descriptor
declares it. A kind registered without an entry here fails the suite.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, AsyncIterator, Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from runwire.server.domain import agents, api_keys, crews, mcp_servers, memories, messages, secrets, sessions  # noqa: F401 - they register their kinds
from runwire.server.domain.resources import RESOURCES, Tenancy
from runwire.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    crew_pb2,
    crew_pb2_grpc,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    message_pb2,
    message_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    session_pb2,
    session_pb2_grpc,
)
from tests.conftest import new_request_id, rpc_error
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, running, secure_settings

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED


@dataclasses.dataclass(frozen=True)
class Wire:
    """How one resource kind is reached over gRPC."""

    collection: str
    pb2: Any
    stub: Callable[[grpc.aio.Channel], Any]
    # The singular as the RPCs spell it ("McpServer") and the request's resource field ("mcp_server").
    method: str
    field: str
    # A valid resource whose text field (filtered and shown) is `text`; `parent` is a resource it needs.
    body: Callable[[str, str], Any]
    text_field: str = "display_name"
    # The RPC that changes a resource by its etag: Update<Kind>, or a custom method (RevokeApiKey).
    updatable: bool = True
    # A resource it refers to, made first by the same caller ("" when none).
    needs_agent: bool = False
    # The parent's collection of a collection inside another kind's resources ("sessions" for messages):
    # each resource is made in a parent of its own, and lists read every parent's (`sessions/-`).
    parent: str = ""
    # The fields that set a resource's text, and its update mask, when the text is not a field of its own.
    text_body: Callable[[str], dict[str, Any]] | None = None
    text_mask: str = ""

    def text_fields(self, text: str) -> dict[str, Any]:
        return self.text_body(text) if self.text_body is not None else {self.text_field: text}

    def text_of(self, resource: Any) -> str:
        return resource.content[0].text if self.text_body is not None else getattr(resource, self.text_field)

    def name_in(self, parent: str, resource_id: str) -> str:
        return f"{parent}/{self.collection}/{resource_id}" if parent else f"{self.collection}/{resource_id}"

    @property
    def plural(self) -> str:
        return "".join(p.title() for p in self.collection_field.split("_"))

    @property
    def collection_field(self) -> str:
        return {"mcpServers": "mcp_servers", "apiKeys": "api_keys"}.get(self.collection, self.collection)

    def request(self, verb: str, **fields: Any) -> Any:
        suffix = self.plural if verb == "List" else self.method
        return getattr(self.pb2, f"{verb}{suffix}Request")(**fields)

    def call(self, channel: grpc.aio.Channel, verb: str, **fields: Any) -> Any:
        if verb == "List" and self.parent:
            fields.setdefault("parent", f"{self.parent}/-")
        suffix = self.plural if verb == "List" else self.method
        return getattr(self.stub(channel), f"{verb}{suffix}")(self.request(verb, **fields))


WIRES = {
    w.collection: w
    for w in (
        Wire(
            "agents", agent_pb2, agent_pb2_grpc.AgentServiceStub, "Agent", "agent",
            lambda text, parent: agent_pb2.Agent(display_name=text),
        ),
        Wire(
            "sessions", session_pb2, session_pb2_grpc.SessionServiceStub, "Session", "session",
            lambda text, parent: session_pb2.Session(display_name=text, agent=parent),
            needs_agent=True,
        ),
        Wire(
            "messages", message_pb2, message_pb2_grpc.MessageServiceStub, "Message", "message",
            lambda text, parent: message_pb2.Message(role=message_pb2.Message.ROLE_USER, content=[common_pb2.ContentPart(text=text)]),
            text_field="text",
            parent="sessions",
            text_body=lambda text: {"content": [common_pb2.ContentPart(text=text)]},
            text_mask="content",
        ),
        Wire(
            "crews", crew_pb2, crew_pb2_grpc.CrewServiceStub, "Crew", "crew",
            lambda text, parent: crew_pb2.Crew(
                display_name=text,
                members=[crew_pb2.CrewMember(id="m", agent=parent)],
                tasks=[crew_pb2.CrewTask(id="t", description="Do it")],
            ),
            needs_agent=True,
        ),
        Wire(
            "memories", memory_pb2, memory_pb2_grpc.MemoryServiceStub, "Memory", "memory",
            lambda text, parent: memory_pb2.Memory(type=memory_pb2.Memory.TYPE_FACT, content=text),
            text_field="content",
        ),
        Wire(
            "mcpServers", mcp_server_pb2, mcp_server_pb2_grpc.McpServerServiceStub, "McpServer", "mcp_server",
            # Disabled: registered without being connected.
            lambda text, parent: mcp_server_pb2.McpServer(
                display_name=text, http=mcp_server_pb2.HttpTransport(url="https://mcp.example.com/mcp"), disabled=True
            ),
        ),
        Wire(
            "secrets", secret_pb2, secret_pb2_grpc.SecretServiceStub, "Secret", "secret",
            lambda text, parent: secret_pb2.Secret(display_name=text, value="s3cret"),
        ),
        Wire(
            "apiKeys", admin_pb2, admin_pb2_grpc.AdminServiceStub, "ApiKey", "api_key",
            lambda text, parent: admin_pb2.ApiKey(display_name=text, principal="someone"),
            updatable=False,
        ),
    )
}


def test_every_registered_kind_is_checked_here() -> None:
    assert set(WIRES) <= set(RESOURCES)
    assert {c for c in RESOURCES if not c.startswith("test")} == set(WIRES)


@dataclasses.dataclass
class World:
    """One secure server for the module: an admin, and two users who own resources in turn."""

    admin: Any
    alice: Any
    bob: Any


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with running(secure_settings(tmp_path_factory.mktemp("conventions"))) as server:
        async with caller(server, api_key(ADMIN_KEY)) as admin:
            alice_key = (await create_key(admin, "alice")).secret
            bob_key = (await create_key(admin, "bob")).secret
            async with caller(server, api_key(alice_key)) as alice, caller(server, api_key(bob_key)) as bob:
                yield World(admin, alice, bob)


KINDS = pytest.mark.parametrize("collection", sorted(WIRES))


def owner_of(world: World, wire: Wire) -> Any:
    return world.admin if RESOURCES[wire.collection].tenancy is Tenancy.ADMIN else world.alice


def new_id() -> str:
    return "c" + uuid.uuid4().hex[:12]


async def new_agent(who: Any) -> str:
    return (await who.agents.CreateAgent(agent_pb2.CreateAgentRequest(agent=agent_pb2.Agent(display_name="Parent")))).name


async def parent_for(who: Any, wire: Wire) -> str:
    """A parent of its own for a resource of a collection inside another kind's ("" for a top-level kind)."""
    if not wire.parent:
        return ""
    session = session_pb2.Session(display_name="Parent", agent=await new_agent(who))
    return (await who.sessions.CreateSession(session_pb2.CreateSessionRequest(session=session))).name


async def create_fields(who: Any, wire: Wire, text: str, parent: str = "") -> dict[str, Any]:
    """The fields of a Create request of a valid resource whose text is `text` (in `parent`, or in a parent
    of its own)."""
    fields: dict[str, Any] = {wire.field: wire.body(text, await new_agent(who) if wire.needs_agent else "")}
    if wire.parent:
        fields["parent"] = parent or await parent_for(who, wire)
    return fields


async def create(who: Any, wire: Wire, text: str = "Thing", parent: str = "", **fields: Any) -> Any:
    response = await wire.call(who.channel, "Create", **await create_fields(who, wire, text, parent), **fields)
    return response.api_key if wire.collection == "apiKeys" else response


async def change(who: Any, wire: Wire, resource: Any, text: str, **fields: Any) -> Any:
    """Change `resource` under its etag: Update<Kind> of its text, or RevokeApiKey."""
    if not wire.updatable:
        return await wire.call(who.channel, "Revoke", name=resource.name, etag=resource.etag, **fields)
    body = type(resource)(name=resource.name, etag=resource.etag, **wire.text_fields(text))
    mask = field_mask_pb2.FieldMask(paths=[wire.text_mask or wire.text_field])
    return await wire.call(who.channel, "Update", **{wire.field: body}, update_mask=mask, **fields)


async def get(who: Any, wire: Wire, name: str) -> Any:
    return await wire.call(who.channel, "Get", name=name)


@KINDS
async def test_names_that_do_not_match_the_pattern_are_invalid(world: World, collection: str) -> None:
    wire = WIRES[collection]
    who = owner_of(world, wire)
    parent = await parent_for(who, wire)
    bad_names = ["", "nope/abcd", wire.name_in(parent, "Bad_Id"), wire.name_in(parent, "abcd") + "/extra"]
    if parent:  # a child's name without its parent's
        bad_names.append(f"{collection}/abcd")
    for bad in bad_names:
        failure = await rpc_error(get(who, wire, bad))
        assert failure.code == INVALID and "name" in failure.field_violations, (bad, failure)
    failure = await rpc_error(wire.call(who.channel, "Create", **await create_fields(who, wire, "x"), **{f"{wire.field}_id": "Bad_Id"}))
    assert failure.code == INVALID and f"{wire.field}_id" in failure.field_violations
    missing = await rpc_error(get(who, wire, wire.name_in(parent, new_id())))
    assert missing.code == NOT_FOUND and missing.reason == RESOURCES[collection].not_found_reason


@KINDS
async def test_a_stale_etag_is_refused_and_a_fresh_one_accepted(world: World, collection: str) -> None:
    wire = WIRES[collection]
    who = owner_of(world, wire)
    created = await create(who, wire, "Before")
    changed = await change(who, wire, created, "After")
    assert changed.etag != created.etag
    stale = await rpc_error(change(who, wire, created, "Again"))
    assert (stale.code, stale.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    assert stale.metadata["current_etag"] == changed.etag
    if wire.collection != "apiKeys":  # RevokeApiKey has no delete to refuse
        refused = await rpc_error(wire.call(who.channel, "Delete", name=created.name, etag=created.etag))
        assert refused.reason == "ETAG_MISMATCH"
        await wire.call(who.channel, "Delete", name=created.name, etag=changed.etag)
        assert (await rpc_error(get(who, wire, created.name))).code == NOT_FOUND


@KINDS
async def test_a_request_id_replays_its_first_outcome(world: World, collection: str) -> None:
    wire = WIRES[collection]
    who = owner_of(world, wire)
    fields = await create_fields(who, wire, "Once")
    request_id = new_request_id()
    first = await wire.call(who.channel, "Create", **fields, request_id=request_id)
    again = await wire.call(who.channel, "Create", **fields, request_id=request_id)
    first, again = (first.api_key, again.api_key) if collection == "apiKeys" else (first, again)
    assert again.name == first.name and again.etag == first.etag
    listed = await wire.call(who.channel, "List", filter=f'{wire.text_field} = "Once"')
    assert [r.name for r in getattr(listed, wire.collection_field)].count(first.name) == 1
    other = await rpc_error(wire.call(who.channel, "Create", **await create_fields(who, wire, "Other"), request_id=request_id))
    assert (other.code, other.reason) == (INVALID, "REQUEST_ID_REUSED")
    not_uuid = await rpc_error(wire.call(who.channel, "Create", **fields, request_id="not-a-uuid"))
    assert not_uuid.code == INVALID and "request_id" in not_uuid.field_violations
    # A change replayed answers with the resource, changed once.
    request_id = new_request_id()
    changed = await change(who, wire, first, "Changed", request_id=request_id)
    replayed = await change(who, wire, first, "Changed", request_id=request_id)
    assert replayed.etag == changed.etag


@KINDS
async def test_validate_only_writes_nothing(world: World, collection: str) -> None:
    wire = WIRES[collection]
    who = owner_of(world, wire)
    resource_id = new_id()
    fields = await create_fields(who, wire, "Dry")
    preview = await wire.call(who.channel, "Create", **fields, **{f"{wire.field}_id": resource_id}, validate_only=True)
    preview = preview.api_key if collection == "apiKeys" else preview
    assert preview.name == wire.name_in(fields.get("parent", ""), resource_id)
    assert (await rpc_error(get(who, wire, preview.name))).code == NOT_FOUND
    if wire.updatable:
        created = await create(who, wire, "Stored")
        shown = await change(who, wire, created, "Previewed", validate_only=True)
        assert wire.text_of(shown) == "Previewed"
        stored = await get(who, wire, created.name)
        assert wire.text_of(stored) == "Stored" and stored.etag == created.etag


@KINDS
async def test_delete_with_allow_missing_succeeds_on_nothing(world: World, collection: str) -> None:
    wire = WIRES[collection]
    if collection == "apiKeys":
        pytest.skip("API keys are revoked, not deleted")
    who = owner_of(world, wire)
    name = wire.name_in(await parent_for(who, wire), new_id())
    assert (await rpc_error(wire.call(who.channel, "Delete", name=name))).code == NOT_FOUND
    await wire.call(who.channel, "Delete", name=name, allow_missing=True)


@KINDS
async def test_lists_filter_order_and_page(world: World, collection: str) -> None:
    wire = WIRES[collection]
    who = owner_of(world, wire)
    tag = uuid.uuid4().hex[:8]
    # A child kind's resources are ordered by name within one parent.
    parent = await parent_for(who, wire)
    in_parent = {"parent": parent} if parent else {}
    made = [await create(who, wire, f"{tag}-{i}", parent=parent) for i in range(5)]
    query = f'{wire.text_field}:"{tag}"'
    for order, expected in (("name", sorted(r.name for r in made)), ("name desc", sorted((r.name for r in made), reverse=True))):
        assert await listed_names(who, wire, query, order, **in_parent) == expected
    if parent:
        # Across parents (`sessions/-`) the whole name orders: the parent's id first, then the resource's.
        # The ids run against the parents' order, so ordering by the resource's id alone shows.
        across_tag = uuid.uuid4().hex[:8]
        first, second = sorted([await parent_for(who, wire) for _ in range(2)])
        across = [
            await create(who, wire, f"{across_tag}-{i}", parent=p, **{f"{wire.field}_id": f"{letter}{across_tag}"})
            for i, (p, letter) in enumerate(((first, "z"), (first, "y"), (second, "b"), (second, "a")))
        ]
        across_query = f'{wire.text_field}:"{across_tag}"'
        names = sorted(r.name for r in across)
        assert await listed_names(who, wire, across_query, "name") == names
        assert await listed_names(who, wire, across_query, "name desc") == names[::-1]
    bad = await rpc_error(wire.call(who.channel, "List", filter="no_such_field = 1"))
    assert (bad.code, bad.reason) == (INVALID, "INVALID_FILTER")
    bad_order = await rpc_error(wire.call(who.channel, "List", order_by="no_such_field"))
    assert bad_order.code == INVALID and "order_by" in bad_order.field_violations
    first = await wire.call(who.channel, "List", **in_parent, filter=query, page_size=2)
    other_query = await rpc_error(
        wire.call(who.channel, "List", **in_parent, filter=f'{wire.text_field} = "x"', page_token=first.next_page_token)
    )
    assert other_query.code == INVALID and "page_token" in other_query.field_violations


async def listed_names(who: Any, wire: Wire, query: str, order: str, **fields: Any) -> list[str]:
    """The names `List` gives page by page, two at a time."""
    seen: list[str] = []
    token = ""
    while True:
        page = await wire.call(who.channel, "List", **fields, filter=query, order_by=order, page_size=2, page_token=token)
        items = getattr(page, wire.collection_field)
        assert len(items) <= 2
        seen += [r.name for r in items]
        token = page.next_page_token
        if not token:
            return seen


@KINDS
async def test_tenancy_is_the_one_the_kind_declares(world: World, collection: str) -> None:
    wire = WIRES[collection]
    tenancy = RESOURCES[collection].tenancy
    owner = owner_of(world, wire)
    created = await create(owner, wire, "Mine")
    stranger = world.bob
    attempts = {"get": get(stranger, wire, created.name)}
    if wire.updatable:
        attempts["update"] = change(stranger, wire, created, "Theirs")
        attempts["delete"] = wire.call(stranger.channel, "Delete", name=created.name)
    else:
        attempts["revoke"] = change(stranger, wire, created, "Theirs")
    for what, attempt in attempts.items():
        if tenancy is Tenancy.SHARED and what == "get":
            assert (await attempt).name == created.name
            continue
        failure = await rpc_error(attempt)
        expected = NOT_FOUND if tenancy in (Tenancy.OWNER, Tenancy.OWNER_OR_ADMIN) else DENIED
        assert failure.code == expected, (what, failure)
    if tenancy in (Tenancy.OWNER, Tenancy.OWNER_OR_ADMIN):
        listed = await wire.call(stranger.channel, "List")
        assert created.name not in [r.name for r in getattr(listed, wire.collection_field)]
        # Admins see every owner's resource, except personal ones.
        admin_get = get(world.admin, wire, created.name)
        if tenancy is Tenancy.OWNER:
            assert (await rpc_error(admin_get)).code == NOT_FOUND
        else:
            assert (await admin_get).name == created.name
    stored = await get(owner, wire, created.name)
    assert stored.etag == created.etag
