"""`runwire files`: upload (with a progress bar), list, show, download, search and delete files."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from runwire.cli import arguments, framework, output
from runwire.cli.framework import Api, CliError
from runwire.cli.names import agent_name, file_name, session_name
from runwire.client.calls import Service
from runwire.v1 import file_pb2, file_pb2_grpc

CHUNK_BYTES = 1024 * 1024
PURPOSES = {"assistants": file_pb2.File.PURPOSE_ASSISTANTS, "batch_input": file_pb2.File.PURPOSE_BATCH_INPUT}
TERMINAL = (file_pb2.File.STATE_COMPLETED, file_pb2.File.STATE_FAILED)
_STATE_FIELD = file_pb2.File.DESCRIPTOR.fields_by_name["state"]
_NAME_HELP = "files/ID or ID"


def _files(api: Api) -> Service:
    return api.service(file_pb2_grpc.FileServiceStub)


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str, total: int, enabled: bool, in_bytes: bool = True) -> None:
        self.label, self.total, self.enabled, self.in_bytes = label, total, enabled, in_bytes
        self.done = 0
        self._drawn = 0.0

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.enabled and (time.monotonic() - self._drawn >= 0.1 or self.done >= self.total):
            self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * 30)
        sizes = f" {_size(self.done)} / {_size(self.total)}" if self.in_bytes else ""
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction * 100:5.1f}%{sizes}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def files_upload(args: argparse.Namespace, api: Api) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{args.path!r} is not a readable file")
    size = path.stat().st_size
    metadata = file_pb2.UploadFileMetadata(
        filename=path.name,
        display_name=args.display_name or "",
        content_type=args.content_type or "",
        purpose=args.purpose,
        size_bytes=size,
        sha256=_sha256_of(path),
        labels=framework.labels(args.label),
        file_id=args.id or "",
        # A retry of this command with the same key would return the first file; each run is a new upload.
        request_id=str(uuid.uuid4()),
    )
    if args.session:
        metadata.session = session_name(args.session)
    elif args.agent:
        metadata.agent = agent_name(args.agent)
    progress = Progress(f"uploading {path.name}", size, enabled=not args.no_progress)

    def requests() -> Iterator[file_pb2.UploadFileRequest]:
        yield file_pb2.UploadFileRequest(metadata=metadata)
        with path.open("rb") as handle:
            while block := handle.read(CHUNK_BYTES):
                yield file_pb2.UploadFileRequest(chunk=block)
                progress.advance(len(block))

    # No deadline: an upload takes as long as its content does.
    uploaded = _files(api).UploadFile(requests(), timeout=None)
    progress.finish()
    if args.wait and uploaded.state not in TERMINAL:
        uploaded = _wait(args, api, uploaded)
    framework.show(args, uploaded)
    return 1 if uploaded.state == file_pb2.File.STATE_FAILED else 0


def _wait(args: argparse.Namespace, api: Api, uploaded: file_pb2.File) -> file_pb2.File:
    # Processing reports a fraction, not bytes: the bar counts percent.
    progress = Progress(f"processing {uploaded.filename}", 100, enabled=not args.no_progress, in_bytes=False)
    last = uploaded
    # No deadline: extraction ends within the server's own time limit.
    for snapshot in _files(api).WatchFile(file_pb2.WatchFileRequest(name=uploaded.name), timeout=None):
        progress.advance(int(snapshot.progress * 100) - progress.done)
        last = snapshot
    if last.state == file_pb2.File.STATE_COMPLETED:  # the last snapshot may predate the final progress value
        progress.done = progress.total
    progress.finish()
    return last


def files_get(args: argparse.Namespace, api: Api) -> int:
    return framework.show(args, _files(api).GetFile(file_pb2.GetFileRequest(name=file_name(args.name))))


def _file_row(f: file_pb2.File) -> list[str]:
    return [
        f.name,
        output.cell(f.filename, framework.NAME_COLUMN_WIDTH),
        f.content_type,
        _size(f.size_bytes),
        output.enum_label(_STATE_FIELD, f.state),
        output.timestamp_text(f, "create_time"),
    ]


def files_list(args: argparse.Namespace, api: Api) -> int:
    pager = api.pager(_files(api).ListFiles, file_pb2.ListFilesRequest(**framework.list_options(args)))
    return framework.print_pages(args, pager, "files", ["NAME", "FILENAME", "CONTENT TYPE", "SIZE", "STATE", "CREATED"], _file_row)


def files_download(args: argparse.Namespace, api: Api) -> int:
    # No deadline: a download takes as long as its content does.
    call = _files(api).DownloadFile(file_pb2.DownloadFileRequest(name=file_name(args.name)), timeout=None)
    first = next(call)
    info = first.file
    if args.output == "-":
        for message in call:
            sys.stdout.buffer.write(message.chunk)
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.output or info.filename)
    if target.is_dir():
        target = target / info.filename
    progress = Progress(f"downloading {info.filename}", info.size_bytes, enabled=not args.no_progress)
    # Written beside the target and renamed at the end: an interrupted download leaves no partial file.
    handle, partial = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            for message in call:
                out.write(message.chunk)
                progress.advance(len(message.chunk))
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    progress.finish()
    if not args.json:
        print(f"saved {info.name} to {target}", file=sys.stderr)
    return 0


def files_search(args: argparse.Namespace, api: Api) -> int:
    request = file_pb2.SearchFilesRequest(query=args.query, page_size=args.page_size or 0, page_token=args.page_token or "")
    if args.session:
        request.session = session_name(args.session)
    elif args.agent:
        request.agent = agent_name(args.agent)
    return framework.print_page(
        args,
        _files(api).SearchFiles(request),
        "results",
        ["FILE", "FILENAME", "PAGE", "SNIPPET"],
        lambda r: [r.file, output.cell(r.filename, 30), str(r.page_number or ""), output.cell(r.snippet, 80)],
    )


def files_delete(args: argparse.Namespace, api: Api) -> int:
    name = file_name(args.name)
    return framework.deleted(args, name, _files(api).DeleteFile(file_pb2.DeleteFileRequest(name=name, etag=args.etag or "")))


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    group = framework.group(commands, "files", "upload, list, show, download, search and delete files", "Manage files.")

    upload = framework.leaf(
        group,
        "upload",
        "upload a file (its size and SHA-256 are checked by the server)",
        files_upload,
        common,
        epilog="example:\n  runwire files upload manual.pdf --session ticket-42 --wait",
    )
    upload.add_argument("path", metavar="PATH", help="the file to upload")
    upload.add_argument(
        "--purpose",
        type=arguments.choice(PURPOSES, "purpose"),
        default=file_pb2.File.PURPOSE_ASSISTANTS,
        metavar="assistants|batch_input",
        help="assistants (default: text is extracted and searchable) or batch_input (JSONL tasks of a batch)",
    )
    upload.add_argument("--content-type", metavar="TYPE", help="MIME type; guessed from the name and content when omitted")
    upload.add_argument("--display-name", metavar="NAME", help="human-readable name (default: the file name)")
    attach = upload.add_mutually_exclusive_group()
    attach.add_argument("--session", metavar="SESSION", help="attach to this session: its runs can search the file")
    attach.add_argument("--agent", metavar="AGENT", help="attach to this agent: all its runs can search the file")
    upload.add_argument("--id", metavar="ID", help="the file's id (files/ID); generated when omitted")
    framework.add_label_option(upload)
    upload.add_argument("--wait", action="store_true", help="wait until text extraction completes or fails (exit 1 if it fails)")
    upload.add_argument("--no-progress", action="store_true", help="print no progress bar")

    get = framework.leaf(group, "get", "show one file and its processing state", files_get, common)
    framework.add_name_argument(get, _NAME_HELP)

    listing = framework.leaf(group, "list", "list files as a table (newest first by default)", files_list, common)
    framework.add_list_options(
        listing,
        filter_help="AIP-160 filter on purpose, state, content_type, filename, display_name, session, agent, size_bytes, "
        "sha256, labels.KEY, create_time, update_time; e.g. 'state = FAILED'",
    )

    download = framework.leaf(group, "download", "download a file's content", files_download, common)
    framework.add_name_argument(download, _NAME_HELP)
    download.add_argument("-o", "--output", metavar="PATH", help="where to save it (a file or a directory; - for stdout); default: its file name")
    download.add_argument("--no-progress", action="store_true", help="print no progress bar")

    search = framework.leaf(group, "search", "search the text of your files (every word must appear), best matches first", files_search, common)
    search.add_argument("query", metavar="QUERY", help="words to look for")
    scope = search.add_mutually_exclusive_group()
    scope.add_argument("--session", metavar="SESSION", help="only files attached to this session")
    scope.add_argument("--agent", metavar="AGENT", help="only files attached to this agent")
    framework.add_page_options(search, "results per page (default 10)", "continue from the next_page_token of an earlier search")

    delete = framework.leaf(group, "delete", "delete a file and its extracted text", files_delete, common)
    framework.add_name_argument(delete, _NAME_HELP)
    framework.add_etag_option(delete, "file")
