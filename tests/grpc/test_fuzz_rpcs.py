"""Every RPC of every Runwire service, found through server reflection, fed hostile requests.

For each method: bytes that are not protobuf, known fields with the wrong wire type, invalid UTF-8 in a
string, nesting past the decoder's depth limit, a repeated field with tens of thousands of entries, and
random messages that decode but carry hostile values (empty, very long and odd resource names, negative
and huge numbers, NaN, unknown enum values, timestamps out of range...). Sent as an admin, as a plain
user and without credentials.

No answer may be INTERNAL, UNKNOWN or DATA_LOSS; no status message or detail may carry a server path, a
Python class name or a traceback; a caller without credentials learns only UNAUTHENTICATED; and the
server keeps answering SERVING on grpc.health.v1 after each service's batch and at the end.

The generator is seeded: the seed is printed, and RUNWIRE_FUZZ_SEED=<n> replays a run. Cases that trip
over a problem being fixed elsewhere are listed in KNOWN and skipped, each with its reason.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import math
import os
import random
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import grpc
import pytest
from google.protobuf import descriptor as descriptor_module
from google.protobuf import descriptor_pool, message_factory, symbol_database, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.rpc import error_details_pb2  # noqa: F401  (registers the detail types for unpacking)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from runwire.server.app import RunwireServer
from tests.grpc.leak_support import internals_in
from tests.grpc.secure_support import ADMIN_KEY, api_key, caller, create_key, running, secure_settings
from tests.grpc.wire_support import (
    WIRE_I32,
    WIRE_I64,
    WIRE_VARINT,
    deep_struct,
    deep_value,
    length_delimited,
    tag,
    varint,
)

SEED = int(os.environ.get("RUNWIRE_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
# Random valid-but-hostile messages per method and caller.
HOSTILE_MESSAGES = int(os.environ.get("RUNWIRE_FUZZ_MESSAGES", "3"))
UNARY_TIMEOUT = 10.0
STREAM_TIMEOUT = 1.0
STREAM_READS = 3
CONCURRENCY = 8
HUGE_REPEATED = 20_000
TOO_DEEP = 200  # upb stops at 100

BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}

# (method, case) -> why it is skipped: problems whose fix is under way. Remove an entry when it passes.
KNOWN: dict[tuple[str, str], str] = {}



@dataclasses.dataclass(frozen=True)
class Rpc:
    path: str
    input: descriptor_module.Descriptor
    request_class: type
    client_streaming: bool
    server_streaming: bool


@dataclasses.dataclass(frozen=True)
class Case:
    rpc: Rpc
    kind: str
    body: bytes
    metadata: tuple[tuple[str, str], ...]
    anonymous: bool = False


# -- discovery ----------------------------------------------------------------------------------------


def discover(port: int) -> list[Rpc]:
    """The Runwire RPCs the server reflects, with message classes built from the reflected descriptors."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        rpcs = []
        for service_name in sorted(database.get_services()):
            if not service_name.startswith("runwire."):
                continue
            service = pool.FindServiceByName(service_name)
            for method in service.methods:
                rpcs.append(
                    Rpc(
                        path=f"/{service.full_name}/{method.name}",
                        input=method.input_type,
                        request_class=message_factory.GetMessageClass(method.input_type),
                        client_streaming=method.client_streaming,
                        server_streaming=method.server_streaming,
                    )
                )
        return rpcs


# -- byte-level requests ---------------------------------------------------------------------------------

_LEN_TYPES = {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_MESSAGE}
_I64_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64}
_I32_TYPES = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_SFIXED32}
_NESTABLE = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def field_paths(message: descriptor_module.Descriptor, accept: Callable[[FieldDescriptor], bool], depth: int = 3) -> list[list[FieldDescriptor]]:
    """Paths of fields, from `message` down through message fields, to every field `accept` takes."""
    found: list[list[FieldDescriptor]] = []

    def walk(current: descriptor_module.Descriptor, path: list[FieldDescriptor], seen: frozenset[str]) -> None:
        for field in current.fields:
            if accept(field):
                found.append([*path, field])
            if field.type == FieldDescriptor.TYPE_MESSAGE and len(path) + 1 < depth:
                nested = field.message_type
                if nested.full_name not in seen and nested.full_name not in _NESTABLE:
                    walk(nested, [*path, field], seen | {nested.full_name})

    walk(message, [], frozenset({message.full_name}))
    return found


def json_field_paths(message: descriptor_module.Descriptor) -> list[list[FieldDescriptor]]:
    """Paths to Struct, Value and ListValue fields that go through no map (a message class can build them)."""
    paths = field_paths(message, lambda f: f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name in _NESTABLE)
    return [path for path in paths if not any(_is_map(field) for field in path)]


def nest(path: list[FieldDescriptor], leaf: bytes) -> bytes:
    """`leaf` (the encoded last field of `path`) wrapped in the messages of the path above it."""
    for field in reversed(path[:-1]):
        leaf = length_delimited(field.number, leaf)
    return leaf


def wrong_wire_types(message: descriptor_module.Descriptor) -> bytes:
    """Every field of the message, sent with a wire type that is not its own."""
    body = b""
    for field in message.fields:
        if field.type in _LEN_TYPES:
            body += tag(field.number, WIRE_VARINT) + varint(7)
        elif field.type in _I64_TYPES or field.type in _I32_TYPES:
            body += tag(field.number, WIRE_VARINT) + varint(1)
        else:
            body += length_delimited(field.number, b"\x07junk")
    return body


def huge_repeated(path: list[FieldDescriptor]) -> bytes:
    field = path[-1]
    if field.type in _LEN_TYPES:
        element = b"x" if field.type != FieldDescriptor.TYPE_MESSAGE else b""
        return nest(path, length_delimited(field.number, element) * HUGE_REPEATED)
    if field.type in _I64_TYPES:
        return nest(path, (tag(field.number, WIRE_I64) + bytes(8)) * HUGE_REPEATED)
    if field.type in _I32_TYPES:
        return nest(path, (tag(field.number, WIRE_I32) + bytes(4)) * HUGE_REPEATED)
    return nest(path, (tag(field.number, WIRE_VARINT) + varint(1)) * HUGE_REPEATED)


def byte_cases(rpc: Rpc, rng: random.Random) -> list[tuple[str, bytes]]:
    message = rpc.input
    cases = [
        ("corrupt", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
        ("random-bytes", rng.randbytes(rng.randrange(1, 256))),
        ("wrong-wire-type", wrong_wire_types(message)),
        # Unknown groups are parsed, so nesting them is deep nesting for every message.
        ("deep-groups", tag(1999, 3) * TOO_DEEP + tag(1999, 4) * TOO_DEEP),
    ]
    strings = field_paths(message, lambda f: f.type == FieldDescriptor.TYPE_STRING)
    if strings:
        path = rng.choice(strings)
        cases.append(("bad-utf8", nest(path, length_delimited(path[-1].number, b"ok\xc3\x28\xff\xfe"))))
    nestable = field_paths(message, lambda f: f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name in _NESTABLE)
    if nestable:
        path = rng.choice(nestable)
        deep = deep_struct(TOO_DEEP) if path[-1].message_type.full_name == "google.protobuf.Struct" else deep_value(TOO_DEEP)
        cases.append(("deep-struct", nest(path, length_delimited(path[-1].number, deep))))
    repeated = field_paths(message, lambda f: _is_repeated(f) and not _is_map(f), depth=2)
    if repeated:
        cases.append(("huge-repeated", huge_repeated(rng.choice(repeated))))
    return cases


# -- valid but hostile messages ----------------------------------------------------------------------

COLLECTIONS = ("agents", "sessions", "runs", "files", "batches", "memories", "mcpServers", "apiKeys", "tools", "crews")
ODD_IDS = (
    "", " ", ".", "..", "../..", "a/../b", "/", "//", "-", "*", "~", "%2e%2e", "%00", "\n", "a\nb", "\t", "\x00",
    "\u202e", "\ufeff", "名前", "🦀", "é" * 3, "A" * 64, "x" * 300, "UPPER", "a b", "a;b", "'", '"', "\\", "${x}",
)
ODD_FILTERS = (
    "", "(((((", ")", 'a = "', "name = ", "AND", "NOT NOT NOT", "labels.x = 1 OR", 'create_time > "not a time"',
    "x" * 5000, "a.b.c.d.e.f = 1", '"\\', "status = STATUS_NOPE", "display_name:*", "-", "1 = 1", "name != name",
)
_RESOURCE_FIELDS = {"agent", "session", "run", "file", "batch", "parent_message", "message"}
INT_EDGES = (0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**53 + 1, 2**63 - 1, -(2**63))
FLOAT_EDGES = (0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 2.0**53)
TIMESTAMP_SECONDS = (0, -1, -62135596801, 253402300800, 2**40, -(2**40), 1_700_000_000)
DURATION_SECONDS = (0, -1, 315576000001, -315576000001, 2**40, 1)
NANOS = (0, 999_999_999, -1, 1_000_000_000, 2**31 - 1, -(2**31))

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


class Hostile:
    """Random messages of any type, with values chosen to break conversions and validation."""

    def __init__(self, rng: random.Random, existing: tuple[str, ...] = ()) -> None:
        self.rng = rng
        # Names of resources that exist, so hostile values get past the lookup and into the deeper code.
        self.existing = existing
        # Chance that a field is set; varied per message, since sparse messages get further past validation.
        self.density = 0.5

    def string(self, field: FieldDescriptor) -> str:
        rng, name = self.rng, field.name
        roll = rng.random()
        if name in ("filter", "order_by", "query") and roll < 0.7:
            return rng.choice(ODD_FILTERS)
        if self.existing and (name in ("name", "parent") or name in _RESOURCE_FIELDS) and roll < 0.5:
            return rng.choice(self.existing)
        if roll < 0.15:
            return rng.choice(["hello", "x", "a-b", "Helper", "user", "text/plain", "notes.txt"])
        if roll < 0.4:  # a resource name, of the right collection or not, with an odd id
            collection = rng.choice(COLLECTIONS)
            odd = rng.choice(ODD_IDS)
            return rng.choice([f"{collection}/{odd}", f"{collection}/{odd}/messages/{rng.choice(ODD_IDS)}", odd, f"{collection}/"])
        if roll < 0.7:
            return rng.choice(ODD_IDS)
        if roll < 0.8:
            return rng.choice(["x" * 100_000, "é" * 20_000, "\n" * 5_000])
        code_points = [rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0xD7FF), rng.randrange(0xE000, 0x10FFFF)])
                       for _ in range(rng.randrange(0, 40))]
        return "".join(chr(c) for c in code_points)

    def scalar(self, field: FieldDescriptor) -> Any:
        rng, kind = self.rng, field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.string(field)
        if kind == FieldDescriptor.TYPE_BYTES:
            return rng.randbytes(rng.choice([0, 1, 16, 4096]))
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = rng.choice([*FLOAT_EDGES, rng.uniform(-1e6, 1e6)])
            if kind == FieldDescriptor.TYPE_FLOAT and math.isfinite(value) and abs(value) > 3.4e38:
                return math.copysign(math.inf, value)
            return value
        if kind == FieldDescriptor.TYPE_ENUM:
            known = [v.number for v in field.enum_type.values]
            return rng.choice([*known, 9999, -7, 2**31 - 1])
        low, high = _INT_RANGES[kind]
        candidates = [v for v in INT_EDGES if low <= v <= high] + [high, low, rng.randint(low, high)]
        return rng.choice(candidates)

    def fill(self, message: Any, depth: int = 0) -> Any:
        rng = self.rng
        full_name = message.DESCRIPTOR.full_name
        if self.well_known(message, full_name, depth):
            return message
        for field in message.DESCRIPTOR.fields:
            if rng.random() > self.density:
                continue
            try:
                self.set_field(message, field, depth)
            except (ValueError, TypeError, OverflowError):
                pass  # a value this field's type refuses on the client (a closed enum, a float out of range)
        return message

    def set_field(self, message: Any, field: FieldDescriptor, depth: int) -> None:
        rng = self.rng
        if _is_map(field):
            key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            target = getattr(message, field.name)
            for _ in range(rng.randrange(0, 3)):
                key = self.scalar(key_field)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    if depth < 3:
                        self.fill(target[key], depth + 1)
                else:
                    target[key] = self.scalar(value_field)
            return
        if _is_repeated(field):
            target = getattr(message, field.name)
            for _ in range(rng.choice([0, 1, 2, 3, 50])):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    if depth < 3:
                        self.fill(target.add(), depth + 1)
                else:
                    target.append(self.scalar(field))
            return
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 3:
                self.fill(getattr(message, field.name), depth + 1)
                if not message.HasField(field.name):
                    getattr(message, field.name).SetInParent()
            return
        setattr(message, field.name, self.scalar(field))

    def well_known(self, message: Any, full_name: str, depth: int) -> bool:
        rng = self.rng
        if full_name == "google.protobuf.Timestamp":
            message.seconds, message.nanos = rng.choice(TIMESTAMP_SECONDS), rng.choice(NANOS)
        elif full_name == "google.protobuf.Duration":
            message.seconds, message.nanos = rng.choice(DURATION_SECONDS), rng.choice(NANOS)
        elif full_name == "google.protobuf.FieldMask":
            message.paths.extend(rng.choice([*ODD_IDS[:12], "display_name", "labels", "name", "a.b.c", "*"]) for _ in range(rng.randrange(0, 4)))
        elif full_name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
            self.json_like(message, full_name, depth)
        elif full_name == "google.protobuf.Any":
            message.type_url = rng.choice(["", "type.googleapis.com/runwire.v1.Nope", "x", "type.googleapis.com/google.protobuf.Struct"])
            message.value = rng.randbytes(rng.randrange(0, 32))
        else:
            return False
        return True

    def json_value(self, depth: int) -> Any:
        rng = self.rng
        kinds = ["null", "number", "string", "bool"] + (["list", "object"] if depth < 4 else [])
        kind = rng.choice(kinds)
        if kind == "null":
            return None
        if kind == "number":
            return rng.choice([*(v for v in FLOAT_EDGES if math.isfinite(v)), 2.0**64, -(2.0**63), 1.5, 3.0])
        if kind == "string":
            return rng.choice(ODD_IDS)
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "list":
            return [self.json_value(depth + 1) for _ in range(rng.randrange(0, 4))]
        return {rng.choice(ODD_IDS): self.json_value(depth + 1) for _ in range(rng.randrange(0, 4))}

    def json_like(self, message: Any, full_name: str, depth: int) -> None:
        if full_name == "google.protobuf.Struct":
            message.update({self.rng.choice(ODD_IDS): self.json_value(depth) for _ in range(self.rng.randrange(0, 4))})
        elif full_name == "google.protobuf.ListValue":
            message.extend([self.json_value(depth) for _ in range(self.rng.randrange(0, 4))])
        else:
            wrapper = symbol_database.Default().GetSymbol("google.protobuf.Struct")()
            wrapper.update({"v": self.json_value(depth)})
            message.CopyFrom(wrapper.fields["v"])

    def message(self, rpc: Rpc) -> bytes:
        self.density = self.rng.choice([0.15, 0.3, 0.6])
        return self.fill(rpc.request_class()).SerializeToString()

    def non_finite_json(self, rpc: Rpc, path: list[FieldDescriptor]) -> bytes:
        """A hostile message whose Struct or Value at `path` holds NaN or an infinity (JSON has no such number)."""
        self.density = 0.15
        message = self.fill(rpc.request_class())
        target = message
        for field in path[:-1]:
            target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
        last = path[-1]
        holder = getattr(target, last.name).add() if last.is_repeated else getattr(target, last.name)
        number = self.rng.choice([math.nan, math.inf, -math.inf])
        if last.message_type.full_name == "google.protobuf.Struct":
            holder.update({"x": number})
        elif last.message_type.full_name == "google.protobuf.ListValue":
            holder.extend([number])
        else:
            holder.number_value = number
        return message.SerializeToString()


# -- calling and judging ------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    code: grpc.StatusCode
    texts: list[str]  # the status message and every detail, as text


def _detail_texts(error: grpc.aio.AioRpcError) -> list[str]:
    texts = [error.details() or ""]
    try:
        status = rpc_status.from_call(error)
    except ValueError as mismatch:  # the status trailer disagrees with the call's code
        return [*texts, f"mismatched status trailer: {mismatch}"]
    if status is None:
        return texts
    texts.append(status.message)
    for detail in status.details:
        type_name = detail.type_url.rsplit("/", 1)[-1]
        try:
            unpacked = symbol_database.Default().GetSymbol(type_name)()
            detail.Unpack(unpacked)
            texts.append(text_format.MessageToString(unpacked, as_utf8=True))
        except KeyError:
            texts.append(f"unknown detail type {type_name}")
    return texts


async def invoke(channel: grpc.aio.Channel, case: Case) -> Outcome:
    rpc, metadata = case.rpc, case.metadata
    try:
        if not rpc.client_streaming and not rpc.server_streaming:
            await channel.unary_unary(rpc.path)(case.body, metadata=metadata, timeout=UNARY_TIMEOUT)
            return Outcome(grpc.StatusCode.OK, [])
        if rpc.client_streaming and not rpc.server_streaming:
            await channel.stream_unary(rpc.path)(iter([case.body]), metadata=metadata, timeout=UNARY_TIMEOUT)
            return Outcome(grpc.StatusCode.OK, [])
        if rpc.client_streaming:
            call = channel.stream_stream(rpc.path)(iter([case.body]), metadata=metadata, timeout=STREAM_TIMEOUT)
        else:
            call = channel.unary_stream(rpc.path)(case.body, metadata=metadata, timeout=STREAM_TIMEOUT)
        for _ in range(STREAM_READS):
            if await call.read() is grpc.aio.EOF:
                break
        else:
            call.cancel()  # read enough: hang up
        return Outcome(grpc.StatusCode.OK, [])
    except grpc.aio.AioRpcError as error:
        return Outcome(error.code(), _detail_texts(error))


def problems_of(case: Case, outcome: Outcome, data_dir: str) -> list[str]:
    found = []
    label = f"{case.rpc.path} [{case.kind}{' anonymous' if case.anonymous else ''}]"
    if outcome.code in BAD_CODES:
        found.append(f"{label}: answered {outcome.code.name}: {outcome.texts[:1]!r}")
    if case.anonymous and outcome.code != grpc.StatusCode.UNAUTHENTICATED:
        found.append(f"{label}: a caller without credentials got {outcome.code.name}, not UNAUTHENTICATED")
    for text in outcome.texts:
        if internals_in(text, paths=[data_dir]) is not None:
            found.append(f"{label}: {outcome.code.name} leaks internals: {text[:300]!r}")
    return found


async def check_health(channel: grpc.aio.Channel, expected: dict[str, int]) -> list[str]:
    health = health_pb2_grpc.HealthStub(channel)
    found = []
    for service, status in expected.items():
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=UNARY_TIMEOUT)
        if answer.status != status:
            found.append(f"health of {service or 'the server'} is {answer.status}, was {status}")
    return found


# -- the test -----------------------------------------------------------------------------------------


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunwireServer]:
    async with running(secure_settings(tmp_path)) as server:
        yield server


async def test_no_rpc_answers_internal_or_leaks_internals_on_hostile_input(server: RunwireServer, tmp_path: Path) -> None:
    print(f"fuzz seed {SEED} (replay with RUNWIRE_FUZZ_SEED={SEED})")
    rng = random.Random(SEED)
    rpcs = await asyncio.to_thread(discover, server.port)
    services = sorted({rpc.path.split("/")[1] for rpc in rpcs})
    assert {"runwire.v1.AgentService", "runwire.v1.FileService", "runwire.v1.EventService"} <= set(services), services
    data_dir = str(server.settings.data_dir)

    async with caller(server, api_key(ADMIN_KEY)) as admin_caller:
        user_key = (await create_key(admin_caller, "mallory")).secret
        session = await admin_caller.session()
        message = await admin_caller.message(session.name, "hello")
        run = await admin_caller.waiting_run(session.name)
    hostile = Hostile(rng, (session.agent, session.name, message.name, run))
    admin, user, nobody = (api_key(ADMIN_KEY),), (api_key(user_key),), ()

    problems: list[str] = []
    skipped: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        expected = {
            name: (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=UNARY_TIMEOUT)).status
            for name in ["", *services]
        }
        assert expected[""] == health_pb2.HealthCheckResponse.SERVING

        answers: collections.Counter[str] = collections.Counter()

        async def run(case: Case) -> None:
            async with gate:
                outcome = await invoke(channel, case)
            answers[outcome.code.name] += 1
            problems.extend(problems_of(case, outcome, data_dir))

        for service in services:
            cases: list[Case] = []
            for rpc in (r for r in rpcs if r.path.split("/")[1] == service):
                for kind, body in byte_cases(rpc, rng):
                    cases.append(Case(rpc, kind, body, admin))
                for index in range(HOSTILE_MESSAGES):
                    cases.append(Case(rpc, "hostile", hostile.message(rpc), admin if index % 2 == 0 else user))
                json_paths = json_field_paths(rpc.input)
                if json_paths:
                    cases.append(Case(rpc, "non-finite-json", hostile.non_finite_json(rpc, rng.choice(json_paths)), admin))
                cases.append(Case(rpc, "corrupt", b"\xff\xff\xff", nobody, anonymous=True))
                cases.append(Case(rpc, "hostile", hostile.message(rpc), nobody, anonymous=True))
            for case in cases:
                if (case.rpc.path, case.kind) in KNOWN:
                    skipped.append(f"{case.rpc.path} [{case.kind}]: {KNOWN[(case.rpc.path, case.kind)]}")
            await asyncio.gather(*(run(case) for case in cases if (case.rpc.path, case.kind) not in KNOWN))
            problems.extend(f"after {service}: {p}" for p in await check_health(channel, expected))
        problems.extend(await check_health(channel, expected))

    print("answers:", ", ".join(f"{code} {count}" for code, count in answers.most_common()))
    for line in sorted(set(skipped)):
        print(f"skipped, known: {line}")
    assert not problems, f"seed {SEED}: {len(problems)} problems:\n" + "\n".join(sorted(set(problems)))
