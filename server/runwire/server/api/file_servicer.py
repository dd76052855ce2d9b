"""FileService servicer: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any, AsyncIterator

from google.protobuf import empty_pb2

from runwire.server.api.calls import ServicerContext, caller, current_call
from runwire.server.api.options import list_query, search_query, write_options
from runwire.server.domain.files.analysis import FileAnalysisService
from runwire.server.domain.files.records import Analysis, SearchHit, UploadMetadata
from runwire.server.domain.files.search import FileSearchService
from runwire.server.domain.files.service import FileService
from runwire.server.wire import convert
from runwire.server.wire.convert import file_proto
from runwire.v1 import common_pb2, file_pb2, file_pb2_grpc

EMPTY = empty_pb2.Empty()


def upload_metadata(metadata: file_pb2.UploadFileMetadata) -> UploadMetadata:
    return UploadMetadata(
        filename=metadata.filename,
        purpose=metadata.purpose,
        display_name=metadata.display_name,
        content_type=metadata.content_type,
        size_bytes=metadata.size_bytes,
        sha256=metadata.sha256,
        session=metadata.session,
        agent=metadata.agent,
        labels=dict(metadata.labels),
        file_id=metadata.file_id,
        request_id=metadata.request_id,
    )


def _search_result(hit: SearchHit) -> file_pb2.FileSearchResult:
    return file_pb2.FileSearchResult(
        file=hit.file,
        filename=hit.filename,
        chunk_index=hit.chunk_index,
        snippet=hit.snippet,
        score=hit.score,
        text_offset=hit.text_offset,
        text_chars=hit.text_chars,
        page_number=hit.page_number,
    )


class FileServicer(file_pb2_grpc.FileServiceServicer):
    def __init__(self, files: FileService, search: FileSearchService, analysis: FileAnalysisService) -> None:
        self.files = files
        self.search = search
        self.analysis = analysis

    async def UploadFile(self, request_iterator: AsyncIterator[file_pb2.UploadFileRequest], context: ServicerContext) -> file_pb2.File:
        async def parts() -> AsyncIterator[UploadMetadata | bytes]:
            async for message in request_iterator:
                if message.WhichOneof("data") == "metadata":
                    yield upload_metadata(message.metadata)
                else:
                    yield message.chunk

        return file_proto(await self.files.upload(caller(), parts()))

    async def DownloadFile(self, request: file_pb2.DownloadFileRequest, context: ServicerContext) -> AsyncIterator[file_pb2.DownloadFileResponse]:
        row, chunks = await self.files.download(caller(), request.name, offset=request.offset, limit=request.limit)
        yield file_pb2.DownloadFileResponse(file=file_proto(row))
        async for chunk in chunks:
            yield file_pb2.DownloadFileResponse(chunk=chunk)

    async def GetFile(self, request: file_pb2.GetFileRequest, context: ServicerContext) -> file_pb2.File:
        return file_proto(await self.files.get(caller(), request.name))

    async def ListFiles(self, request: file_pb2.ListFilesRequest, context: ServicerContext) -> file_pb2.ListFilesResponse:
        page = await self.files.list(caller(), list_query(request))
        return file_pb2.ListFilesResponse(
            files=[file_proto(r) for r in page.items], next_page_token=page.next_page_token, total_size=page.total_size
        )

    async def DeleteFile(self, request: file_pb2.DeleteFileRequest, context: ServicerContext) -> empty_pb2.Empty:
        await self.files.delete(caller(), request.name, write_options(request))
        return EMPTY

    async def WatchFile(self, request: file_pb2.WatchFileRequest, context: ServicerContext) -> AsyncIterator[file_pb2.File]:
        async for row in self.files.watch(caller(), request.name):
            # Watching again starts with the file as it is then: its name is all a client needs to resume.
            current_call().resume_point = lambda last: {"resource": request.name}
            yield file_proto(row)

    async def GetFileText(self, request: file_pb2.GetFileTextRequest, context: ServicerContext) -> file_pb2.GetFileTextResponse:
        part = await self.files.get_text(caller(), request.name, offset=request.offset, max_chars=request.max_chars)
        return file_pb2.GetFileTextResponse(
            text=part.text, offset=part.offset, next_offset=part.next_offset, total_chars=part.total_chars
        )

    async def AnalyzeFile(self, request: file_pb2.AnalyzeFileRequest, context: Any) -> file_pb2.AnalyzeFileResponse:
        result: Analysis = await self.analysis.analyze(
            caller(),
            request.name,
            mode=request.mode,
            agent=request.agent,
            instructions=request.instructions,
            max_chars=request.max_chars,
            options=write_options(request),
        )
        response = file_pb2.AnalyzeFileResponse(
            file=file_proto(result.file),
            mode=file_pb2.AnalyzeFileRequest.Mode.ValueType(result.mode),
            text=result.text,
            truncated=result.truncated,
            duration=convert.duration(result.seconds),
        )
        if result.input_tokens is not None and result.output_tokens is not None:
            response.usage.CopyFrom(
                common_pb2.Usage(
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                    total_tokens=result.input_tokens + result.output_tokens,
                )
            )
        return response

    async def SearchFiles(self, request: file_pb2.SearchFilesRequest, context: Any) -> file_pb2.SearchFilesResponse:
        hits, token = await self.search.search(
            caller(), search_query(request), session=request.session, agent=request.agent, mode=request.mode
        )
        return file_pb2.SearchFilesResponse(results=[_search_result(h) for h in hits], next_page_token=token)
