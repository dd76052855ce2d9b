"""CrewService through a real channel: the crew resource and its standard methods."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from runwire.v1 import crew_pb2
from tests.conftest import Client, new_request_id, rpc_error
from tests.grpc.crew_support import HIERARCHICAL, PARALLEL, SEQUENTIAL, agents, create_crew, crews, member, task


async def test_create_get_list_update_delete_a_crew(client: Client) -> None:
    researcher, writer = await agents(client, "researcher", "writer")
    crew = await create_crew(
        client,
        "blog",
        process=SEQUENTIAL,
        members=[member("research", researcher, "Researcher"), member("write", writer, "Writer")],
        tasks=[task("facts", "List facts", "research"), task("post", "Write", "write", "facts")],
        labels={"team": "content"},
    )
    assert crew.name == "crews/blog" and crew.owner == "local" and crew.etag
    assert [t.context for t in crew.tasks] == [[], ["facts"]]
    stub = crews(client)
    assert await stub.GetCrew(crew_pb2.GetCrewRequest(name="crews/blog")) == crew

    await create_crew(client, "desk", process=HIERARCHICAL, manager=writer, members=[member("research", researcher)])
    listed = await stub.ListCrews(crew_pb2.ListCrewsRequest(filter="process = HIERARCHICAL"))
    assert [c.name for c in listed.crews] == ["crews/desk"] and listed.total_size == 1
    ordered = await stub.ListCrews(crew_pb2.ListCrewsRequest(order_by="name", page_size=1))
    assert [c.name for c in ordered.crews] == ["crews/blog"] and ordered.next_page_token
    second = await stub.ListCrews(crew_pb2.ListCrewsRequest(order_by="name", page_size=1, page_token=ordered.next_page_token))
    assert [c.name for c in second.crews] == ["crews/desk"]

    changed = await stub.UpdateCrew(
        crew_pb2.UpdateCrewRequest(
            crew=crew_pb2.Crew(name=crew.name, process=PARALLEL, etag=crew.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["process"]),
        )
    )
    assert changed.process == PARALLEL and changed.etag != crew.etag and len(changed.tasks) == 2
    stale = await rpc_error(
        stub.UpdateCrew(
            crew_pb2.UpdateCrewRequest(
                crew=crew_pb2.Crew(name=crew.name, description="x", etag=crew.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            )
        )
    )
    assert stale.code == grpc.StatusCode.ABORTED and stale.reason == "ETAG_MISMATCH"

    await stub.DeleteCrew(crew_pb2.DeleteCrewRequest(name=crew.name, etag=changed.etag))
    gone = await rpc_error(stub.GetCrew(crew_pb2.GetCrewRequest(name=crew.name)))
    assert gone.code == grpc.StatusCode.NOT_FOUND and gone.reason == "CREW_NOT_FOUND"
    await stub.DeleteCrew(crew_pb2.DeleteCrewRequest(name=crew.name, allow_missing=True))


async def test_create_is_idempotent_and_a_taken_id_already_exists(client: Client) -> None:
    (solo,) = await agents(client, "solo")
    fields = dict(display_name="One", members=[member("only", solo)], tasks=[task("t1", "Do it")])
    stub = crews(client)
    request_id = new_request_id()
    first = await stub.CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(**fields), crew_id="one-crew", request_id=request_id))
    again = await stub.CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(**fields), crew_id="one-crew", request_id=request_id))
    assert again == first
    taken = await rpc_error(stub.CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(**fields), crew_id="one-crew")))
    assert taken.code == grpc.StatusCode.ALREADY_EXISTS


async def test_invalid_crews_name_every_bad_field(client: Client) -> None:
    (solo,) = await agents(client, "solo")
    failure = await rpc_error(
        crews(client).CreateCrew(
            crew_pb2.CreateCrewRequest(
                crew=crew_pb2.Crew(
                    display_name="Bad",
                    process=SEQUENTIAL,
                    manager=solo,
                    members=[member("a", solo), member("a", solo), member("manager", solo)],
                    tasks=[task("t1", "x", "nobody", "later"), task("later", ""), task("t1", "again")],
                    limits=crew_pb2.CrewLimits(max_depth=99),
                )
            )
        )
    )
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "crew.manager",
        "crew.members[1].id",
        "crew.members[2].id",
        "crew.tasks[0].member",
        "crew.tasks[0].context[0]",
        "crew.tasks[1].description",
        "crew.tasks[2].id",
        "crew.limits.max_depth",
    } <= set(failure.field_violations)
    missing = await rpc_error(
        crews(client).CreateCrew(
            crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(display_name="X", members=[member("a", "agents/nope")], tasks=[task("t1", "x")]))
        )
    )
    assert missing.code == grpc.StatusCode.NOT_FOUND and missing.reason == "AGENT_NOT_FOUND"
    no_tasks = await rpc_error(
        crews(client).CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(display_name="X", members=[member("a", solo)])))
    )
    assert "crew.tasks" in no_tasks.field_violations


async def test_another_principal_can_neither_see_nor_use_a_crew(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from runwire.v1 import crew_pb2_grpc, run_pb2, run_pb2_grpc
    from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, fails, running, secure_settings

    async with running(secure_settings(tmp_path)) as server, caller(server, api_key(ADMIN_KEY)) as admin:
        alice_key, bob_key = await create_key(admin, "alice"), await create_key(admin, "bob")
        async with caller(server, api_key(alice_key.secret)) as alice, caller(server, api_key(bob_key.secret)) as bob:
            agent = await alice.agent("alice's agent")
            crew = await crew_pb2_grpc.CrewServiceStub(alice.channel).CreateCrew(
                crew_pb2.CreateCrewRequest(
                    crew=crew_pb2.Crew(display_name="Alice's", members=[member("a", agent.name)], tasks=[task("t1", "x")])
                )
            )
            stub = crew_pb2_grpc.CrewServiceStub(bob.channel)
            attempts = [
                stub.GetCrew(crew_pb2.GetCrewRequest(name=crew.name)),
                stub.UpdateCrew(
                    crew_pb2.UpdateCrewRequest(
                        crew=crew_pb2.Crew(name=crew.name, description="mine"), update_mask=field_mask_pb2.FieldMask(paths=["description"])
                    )
                ),
                stub.DeleteCrew(crew_pb2.DeleteCrewRequest(name=crew.name)),
                run_pb2_grpc.RunServiceStub(bob.channel).CreateRun(
                    run_pb2.CreateRunRequest(run=run_pb2.Run(crew=crew.name, input=[{"text": "go"}]))
                ),
            ]
            for attempt in attempts:
                failure = await fails(attempt)
                assert (failure.code, failure.reason) == (grpc.StatusCode.NOT_FOUND, "CREW_NOT_FOUND")
            assert not (await stub.ListCrews(crew_pb2.ListCrewsRequest())).crews
            borrowed = await fails(
                stub.CreateCrew(crew_pb2.CreateCrewRequest(crew=crew_pb2.Crew(display_name="B", members=[member("a", agent.name)], tasks=[task("t1", "x")])))
            )
            assert borrowed.reason == "AGENT_NOT_FOUND"
            seen = await crew_pb2_grpc.CrewServiceStub(admin.channel).GetCrew(crew_pb2.GetCrewRequest(name=crew.name))
            assert seen.owner == "alice" and seen.etag == crew.etag
