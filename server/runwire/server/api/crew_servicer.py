"""CrewService: proto in, domain call, proto out."""

from __future__ import annotations

from google.protobuf import empty_pb2

from runwire.server.wire import convert
from runwire.server.api.calls import caller
from runwire.server.domain.crews import CrewService
from runwire.v1 import crew_pb2, crew_pb2_grpc

EMPTY = empty_pb2.Empty()


class CrewServicer(crew_pb2_grpc.CrewServiceServicer):
    def __init__(self, crews: CrewService) -> None:
        self.crews = crews

    async def CreateCrew(self, request: crew_pb2.CreateCrewRequest, context) -> crew_pb2.Crew:  # type: ignore[no-untyped-def]
        row = await self.crews.create(
            caller(),
            convert.crew_fields(request.crew),
            crew_id=request.crew_id,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.crew_proto(row)

    async def GetCrew(self, request: crew_pb2.GetCrewRequest, context) -> crew_pb2.Crew:  # type: ignore[no-untyped-def]
        return convert.crew_proto(await self.crews.get(caller(), request.name))

    async def ListCrews(self, request: crew_pb2.ListCrewsRequest, context) -> crew_pb2.ListCrewsResponse:  # type: ignore[no-untyped-def]
        page = await self.crews.list(
            caller(),
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
            order_by=request.order_by,
        )
        return crew_pb2.ListCrewsResponse(
            crews=[convert.crew_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateCrew(self, request: crew_pb2.UpdateCrewRequest, context) -> crew_pb2.Crew:  # type: ignore[no-untyped-def]
        row = await self.crews.update(
            caller(),
            request.crew.name,
            convert.crew_fields(request.crew),
            convert.mask_paths(request.update_mask, request.crew),
            etag=request.crew.etag,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
            validate_only=request.validate_only,
        )
        return convert.crew_proto(row)

    async def DeleteCrew(self, request: crew_pb2.DeleteCrewRequest, context) -> empty_pb2.Empty:  # type: ignore[no-untyped-def]
        await self.crews.delete(
            caller(),
            request.name,
            etag=request.etag,
            allow_missing=request.allow_missing,
            request_id=request.request_id,
            fingerprint=convert.fingerprint(request),
        )
        return EMPTY
