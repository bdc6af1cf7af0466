#!/usr/bin/env python3
"""Generate ``labkit/apiserver/protobuf_tables.py``, the protobuf field tables, from a kubectl binary.

usage: python scripts/gen_protobuf_tables.py [--kubectl PATH] [--output PATH]

The defaults are the pinned ``kubectl.1.33`` and the committed module; ``tests/protobuf`` checks
that a fresh run gives the committed file byte for byte. Nothing upstream is copied into the repo:
both sources are read out of the installed kubectl executable, and only the facts the decoder needs
(field numbers, JSON names, types, which zeros to keep) are written out.

Two sources in the binary:

- **Descriptors.** gogo-protobuf's generated code registers every ``generated.proto`` of
  k8s.io/api and k8s.io/apimachinery as a gzipped ``FileDescriptorProto``
  (``proto.RegisterFile(..., fileDescriptor_...)``). They are found by scanning the file for gzip
  streams. They give each message's field numbers, proto types, repeated/map, and whether the Go
  field is a pointer: go-to-protobuf writes ``(gogoproto.nullable) = false`` on every non-pointer
  field, so a singular field without it is a Go pointer (checked against the Go type of each field).
- **Go type metadata.** The descriptors do not say whether the JSON tag has ``omitempty`` nor
  whether a field is inlined (``json:",inline"``): go-to-protobuf drops neither fact into them. The
  Go struct tags do, and encoding/json needs them at run time, so the linker keeps them: every named
  struct's ``abi.StructType`` lists its fields with their full tags (``json:"name,omitempty"
  protobuf:"bytes,1,opt,name=name"``). The script reads them through ``moduledata`` (found by the
  address of the ``.typelink`` section) with the Go >= 1.19 layout of ``internal/abi`` on amd64
  (the kubectl 1.27 to 1.33 here are go1.22 to go1.24). A proto field is matched to its Go field by the number in
  the ``protobuf`` tag; the pointer fact is taken from the descriptor and checked against the Go kind.

What labkit chooses rather than reads is below: :data:`ROOTS` (the kinds kubectl's typed clients
send), :data:`SCALARS` (the apimachinery messages decoded to one JSON value) and :data:`SKIP`.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.33")
OUTPUT = Path(__file__).resolve().parent.parent / "labkit" / "apiserver" / "protobuf_tables.py"

ROOTS: dict[tuple[str, str], str] = {
    # (apiVersion, kind) of the runtime.Unknown envelope -> proto message: what kubectl's typed
    # clients send (create <generator>, create token, auth can-i|whoami, drain, autoscale).
    ("v1", "Namespace"): "k8s.io.api.core.v1.Namespace",
    ("v1", "ConfigMap"): "k8s.io.api.core.v1.ConfigMap",
    ("v1", "Secret"): "k8s.io.api.core.v1.Secret",
    ("v1", "ServiceAccount"): "k8s.io.api.core.v1.ServiceAccount",
    ("v1", "Service"): "k8s.io.api.core.v1.Service",
    ("v1", "ResourceQuota"): "k8s.io.api.core.v1.ResourceQuota",
    ("v1", "DeleteOptions"): "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    ("apps/v1", "Deployment"): "k8s.io.api.apps.v1.Deployment",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "k8s.io.api.autoscaling.v1.HorizontalPodAutoscaler",
    ("batch/v1", "Job"): "k8s.io.api.batch.v1.Job",
    ("batch/v1", "CronJob"): "k8s.io.api.batch.v1.CronJob",
    ("policy/v1", "Eviction"): "k8s.io.api.policy.v1.Eviction",
    ("rbac.authorization.k8s.io/v1", "Role"): "k8s.io.api.rbac.v1.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "k8s.io.api.rbac.v1.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "k8s.io.api.rbac.v1.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "k8s.io.api.rbac.v1.ClusterRoleBinding",
    ("scheduling.k8s.io/v1", "PriorityClass"): "k8s.io.api.scheduling.v1.PriorityClass",
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): "k8s.io.api.certificates.v1.CertificateSigningRequest",
    ("authentication.k8s.io/v1", "TokenRequest"): "k8s.io.api.authentication.v1.TokenRequest",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "k8s.io.api.authentication.v1.SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"):
        "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"):
        "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
}

SCALARS: dict[str, str] = {
    # Messages with their own JSON form (a custom MarshalJSON), decoded to one value by protobuf.py.
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
}

WIRE: dict[str, str] = {
    # The messages protobuf.py reads by their proto field names: the envelope, and the wire form of
    # the SCALARS (their Go structs are not what goes on the wire).
    "Unknown": "k8s.io.apimachinery.pkg.runtime.Unknown",
    "TypeMeta": "k8s.io.apimachinery.pkg.runtime.TypeMeta",
    "Quantity": "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "Time": "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "IntOrString": "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
}

SKIP: dict[str, str] = {
    # Fields left out of the tables (their numbers are then skipped as unknown), each with why.
    "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.managedFields":
        "the server writes managed fields; FieldsV1 is raw JSON in a bytes field (json:\"-\"), a type of its own",
    "k8s.io.api.certificates.v1.CertificateSigningRequestSpec.extra":
        "the server sets it from the requester on create and keeps it after; ExtraValue is a named []string",
}

SKIP_ROOT_STATUS = True  # and the `status` of every root but these, each with why its status is read
KEEP_ROOT_STATUS: dict[str, str] = {
    "k8s.io.api.certificates.v1.CertificateSigningRequest":
        "kubectl certificate approve|deny sends the conditions in the status, to /approval",
}


# --- protobuf wire format ---------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


class Pb:
    """A parsed message: its fields by number, each a list of values (ints for varints, else bytes).
    Only varint and length-delimited fields, all a descriptor has."""

    def __init__(self, data: bytes) -> None:
        self.fields: dict[int, list[int | bytes]] = {}
        pos = 0
        while pos < len(data):
            key, pos = _varint(data, pos)
            value: int | bytes
            if key & 7 == 0:
                value, pos = _varint(data, pos)
            elif key & 7 == 2:
                size, pos = _varint(data, pos)
                if pos + size > len(data):
                    raise ValueError("truncated")
                value, pos = data[pos:pos + size], pos + size
            else:
                raise ValueError(f"wire type {key & 7}")
            self.fields.setdefault(key >> 3, []).append(value)

    def varint(self, number: int, default: int = 0) -> int:
        value = self.fields.get(number, [default])[-1]
        assert isinstance(value, int)
        return value

    def raw(self, number: int) -> bytes:
        value = self.fields.get(number, [b""])[-1]
        assert isinstance(value, bytes)
        return value

    def text(self, number: int) -> str:
        return self.raw(number).decode()

    def messages(self, number: int) -> list[Pb]:
        return [Pb(value) for value in self.fields.get(number, []) if isinstance(value, bytes)]


# --- descriptors ------------------------------------------------------------------------------------
# Field numbers of google/protobuf/descriptor.proto and gogoproto/gogo.proto.

FILE_NAME, FILE_PACKAGE, FILE_MESSAGE_TYPE, FILE_OPTIONS = 1, 2, 4, 8
FILE_OPTIONS_GO_PACKAGE = 11
MESSAGE_NAME, MESSAGE_FIELD, MESSAGE_NESTED_TYPE, MESSAGE_OPTIONS = 1, 2, 3, 7
MESSAGE_OPTIONS_MAP_ENTRY = 7
FIELD_NAME, FIELD_NUMBER, FIELD_LABEL, FIELD_TYPE, FIELD_TYPE_NAME, FIELD_OPTIONS = 1, 3, 4, 5, 6, 8
LABEL_REPEATED = 3
GOGOPROTO_NULLABLE = 65001

TYPE_MESSAGE = 11
TYPE_BYTES = 12  # a Go []byte: a slice, never a pointer, whatever the descriptor's nullable says
PROTO_SCALARS = {3: "int", 5: "int", 8: "bool", 9: "string", 12: "bytes"}  # int64, int32, bool, string, bytes


@dataclass
class ProtoField:
    name: str
    number: int
    repeated: bool
    type: int
    type_name: str  # a message's full name without the leading dot
    nullable: bool  # no (gogoproto.nullable) = false: a Go pointer if singular


@dataclass
class ProtoMessage:
    name: str  # full name, k8s.io.api.core.v1.Container
    go_package: str
    fields: list[ProtoField]
    map_entry: bool


def _gzip_streams(data: bytes) -> Iterator[bytes]:
    for match in re.finditer(b"\x1f\x8b\x08", data):
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = stream.decompress(data[match.start():match.start() + (1 << 22)])
        except zlib.error:
            continue
        if stream.eof:
            yield out


def read_descriptors(data: bytes) -> tuple[dict[str, ProtoMessage], list[str]]:
    """The messages of every k8s.io ``generated.proto`` registered in the binary, and the file names."""
    messages: dict[str, ProtoMessage] = {}
    files = []
    for blob in _gzip_streams(data):
        try:
            fdp = Pb(blob)
            name = fdp.text(FILE_NAME)
        except (ValueError, IndexError, AssertionError, UnicodeDecodeError):
            continue  # some other gzip stream
        name = name.removeprefix("k8s.io/kubernetes/vendor/")  # how kubectl <= 1.29 registered them
        if not re.fullmatch(r"k8s\.io/(api|apimachinery)/.+/generated\.proto", name):
            continue
        files.append(name)
        go_package = Pb(fdp.raw(FILE_OPTIONS)).text(FILE_OPTIONS_GO_PACKAGE)
        for message in fdp.messages(FILE_MESSAGE_TYPE):
            _add_message(messages, fdp.text(FILE_PACKAGE), go_package, message)
    return messages, sorted(files)


def _add_message(messages: dict[str, ProtoMessage], scope: str, go_package: str, msg: Pb) -> None:
    name = f"{scope}.{msg.text(MESSAGE_NAME)}"
    fields = [
        ProtoField(name=f.text(FIELD_NAME), number=f.varint(FIELD_NUMBER),
                   repeated=f.varint(FIELD_LABEL) == LABEL_REPEATED,
                   type=f.varint(FIELD_TYPE), type_name=f.text(FIELD_TYPE_NAME).lstrip("."),
                   nullable=bool(Pb(f.raw(FIELD_OPTIONS)).varint(GOGOPROTO_NULLABLE, 1)))
        for f in msg.messages(MESSAGE_FIELD)
    ]
    map_entry = bool(Pb(msg.raw(MESSAGE_OPTIONS)).varint(MESSAGE_OPTIONS_MAP_ENTRY))
    if name in messages:
        raise SystemExit(f"message {name} registered twice")
    messages[name] = ProtoMessage(name, go_package, sorted(fields, key=lambda f: f.number), map_entry)
    for nested in msg.messages(MESSAGE_NESTED_TYPE):
        _add_message(messages, name, go_package, nested)


# --- Go type metadata -------------------------------------------------------------------------------
# internal/abi on amd64: Type is 48 bytes (Str NameOff at 40, PtrToThis TypeOff at 44, TFlag at 20,
# Kind at 23); PtrType/SliceType/ArrayType/ChanType have Elem at 48; MapType Key at 48, Elem at 56;
# StructType has PkgPath at 48, Fields []StructField at 56 and its UncommonType (PkgPath NameOff) at
# 80; a StructField is {Name, Typ, Offset}, 24 bytes. A Name is a flags byte (1 exported, 2 has tag,
# 8 embedded), a varint length and the bytes, then the tag likewise.

KIND_ARRAY, KIND_CHAN, KIND_MAP, KIND_PTR, KIND_SLICE, KIND_STRUCT = 17, 18, 21, 22, 23, 25
TFLAG_UNCOMMON, TFLAG_EXTRA_STAR, TFLAG_NAMED = 1, 2, 4
GO_SCALAR_KINDS = set(range(1, 17)) | {24}  # bool, ints, uints, floats, complexes, string


@dataclass
class GoField:
    name: str
    tag: str
    embedded: bool
    type: str  # the Go type's string, *v1.Probe
    kind: int


@dataclass
class GoStruct:
    fields: list[GoField] = field(default_factory=list)


class Elf:
    def __init__(self, data: bytes) -> None:
        self.data = data
        if data[:6] != b"\x7fELF\x02\x01" or struct.unpack_from("<H", data, 0x12)[0] != 0x3E:
            raise SystemExit("not a little-endian 64-bit x86-64 ELF executable")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx][4]
        self.sections = {data[names + h[0]:data.index(b"\0", names + h[0])].decode(): h for h in headers}
        self.loaded = [(h[3], h[3] + h[5], h[4]) for h in headers if h[1] == 1]  # PROGBITS: addr, end, offset

    def offset(self, addr: int) -> int:
        for start, end, offset in self.loaded:
            if start <= addr < end:
                return addr - start + offset
        raise ValueError(f"address {addr:#x} is in no section of the file")

    def u64(self, addr: int) -> int:
        return struct.unpack_from("<Q", self.data, self.offset(addr))[0]

    def i32(self, addr: int) -> int:
        return struct.unpack_from("<i", self.data, self.offset(addr))[0]

    def section(self, name: str) -> tuple[int, int, int]:
        _, _, _, addr, offset, size = self.sections[name]
        return addr, offset, size


def read_go_structs(data: bytes) -> dict[tuple[str, str], GoStruct]:
    """Every named struct type reachable from the typelinks and itabs, by (package path, name)."""
    elf = Elf(data)
    typelink, typelink_offset, typelink_size = elf.section(".typelink")
    count = typelink_size // 4
    needle = struct.pack("<QQQ", typelink, count, count)  # moduledata.typelinks, a []int32
    for name in (".noptrdata", ".data"):
        _, offset, size = elf.section(name)
        at = data.find(needle, offset, offset + size)
        if at >= 0:
            break
    else:
        raise SystemExit("no runtime.moduledata found (not a Go >= 1.18 binary?)")
    # moduledata: ..., types, etypes, rodata, gofunc uintptr, textsectmap []textsect, typelinks []int32
    moduledata_typelinks = elf.section(name)[0] + at - elf.section(name)[1]
    types, etypes = elf.u64(moduledata_typelinks - 56), elf.u64(moduledata_typelinks - 48)
    rodata, _, rodata_size = elf.section(".rodata")
    if not rodata <= types < etypes <= rodata + rodata_size:
        raise SystemExit("moduledata.types is not in .rodata: an unknown moduledata layout")

    def name_at(addr: int) -> tuple[str, str, int]:
        pos = elf.offset(addr)
        flags = data[pos]
        size, pos = _varint(data, pos + 1)
        text, pos = data[pos:pos + size].decode(), pos + size
        tag = ""
        if flags & 2:
            size, pos = _varint(data, pos)
            tag = data[pos:pos + size].decode()
        return text, tag, flags

    def type_string(addr: int) -> tuple[str, int, int]:
        tflag, kind = data[elf.offset(addr) + 20], data[elf.offset(addr) + 23] & 0x1F
        text = name_at(types + elf.i32(addr + 40))[0]
        return (text[1:] if tflag & TFLAG_EXTRA_STAR else text), tflag, kind

    structs: dict[tuple[str, str], GoStruct] = {}
    seen: set[int] = set()
    todo = [types + struct.unpack_from("<i", data, typelink_offset + 4 * i)[0] for i in range(count)]
    _, itab_offset, itab_size = elf.section(".itablink")
    for i in range(itab_size // 8):
        itab, = struct.unpack_from("<Q", data, itab_offset + 8 * i)
        todo += [elf.u64(itab), elf.u64(itab + 8)]  # itab.inter, itab.Type
    while todo:
        addr = todo.pop()
        if addr in seen or not addr:
            continue
        seen.add(addr)
        text, tflag, kind = type_string(addr)
        ptr_to_this = elf.i32(addr + 44)
        if ptr_to_this:
            todo.append(types + ptr_to_this)
        if kind in (KIND_PTR, KIND_SLICE, KIND_ARRAY, KIND_CHAN):
            todo.append(elf.u64(addr + 48))
        elif kind == KIND_MAP:
            todo += [elf.u64(addr + 48), elf.u64(addr + 56)]
        elif kind == KIND_STRUCT:
            go = GoStruct()
            fields, length = elf.u64(addr + 56), elf.u64(addr + 64)
            for i in range(length):
                name, tag, flags = name_at(elf.u64(fields + 24 * i))
                field_type = elf.u64(fields + 24 * i + 8)
                todo.append(field_type)
                field_text, _, field_kind = type_string(field_type)
                go.fields.append(GoField(name, tag, bool(flags & 8), field_text, field_kind))
            if tflag & TFLAG_NAMED and tflag & TFLAG_UNCOMMON:
                package = name_at(types + elf.i32(addr + 80))[0]
                structs[(package, text.split(".", 1)[1])] = go
    return structs


# --- the tables -------------------------------------------------------------------------------------

PROTOBUF_TAG = re.compile(r'protobuf:"[a-z0-9]+,(\d+)((?:,[^,"]*)*)"')  # "bytes,2,opt,name=spec,casttype=..."
JSON_TAG = re.compile(r'json:"([^"]*)"')


@dataclass
class Row:
    number: int
    json: str  # "" when inlined
    type: str
    flag: str  # "keep", "repeated" or ""
    comment: str


class Generator:
    def __init__(self, messages: dict[str, ProtoMessage], structs: dict[tuple[str, str], GoStruct]) -> None:
        self.messages, self.structs = messages, structs
        self.tables: dict[str, list[Row]] = {}
        self.skipped: dict[str, str] = {}  # field -> why

    def message(self, name: str) -> str:
        """Add the table of a message and of every message it reaches; return its type name."""
        if name in SCALARS:
            return SCALARS[name]
        if name in self.tables:
            return name
        proto = self.messages.get(name)
        if proto is None:
            raise SystemExit(f"no message {name} in the binary's descriptors")
        short = name.rsplit(".", 1)[1]
        go = self.structs.get((proto.go_package, short))
        if go is None:
            raise SystemExit(f"no Go struct {proto.go_package}.{short} for {name}")
        by_number: dict[int, tuple[GoField, str]] = {}  # by the number in the protobuf tag
        for go_field in go.fields:
            tag = PROTOBUF_TAG.search(go_field.tag)
            if tag:
                by_number[int(tag[1])] = go_field, tag[2]
        rows: list[Row] = []
        self.tables[name] = rows
        for f in proto.fields:
            path = f"{name}.{f.name}"
            if path in SKIP:
                self.skipped[path] = SKIP[path]
                continue
            if (SKIP_ROOT_STATUS and name in ROOTS.values() and f.name == "status"
                    and name not in KEEP_ROOT_STATUS):
                self.skipped[path] = "a kind's status: clients leave it zero and the server owns it"
                continue
            if f.number not in by_number:
                raise SystemExit(f"{path} = {f.number}: no Go field with that protobuf tag")
            go_field, tag_rest = by_number[f.number]
            tag_name = re.search(r",name=(\w+)", tag_rest)
            if tag_name and tag_name[1] != f.name:
                raise SystemExit(f"{path} = {f.number}: the Go field's protobuf tag names {tag_name[1]}")
            json_tag = JSON_TAG.search(go_field.tag)
            if json_tag is None or json_tag[1] == "-":
                raise SystemExit(f"{path}: Go field {go_field.name} has no JSON name ({go_field.tag!r})")
            json_name, *options = json_tag[1].split(",")
            inline = "inline" in options
            if inline != (not json_name) or (inline and not go_field.embedded):
                raise SystemExit(f"{path}: unexpected JSON tag {json_tag[0]} on {go_field.name}")
            if not inline and json_name != f.name:
                print(f"note: {path} is {json_name!r} in JSON", file=sys.stderr)
            pointer = f.nullable and not f.repeated and f.type != TYPE_BYTES
            if pointer != (go_field.kind == KIND_PTR):
                raise SystemExit(f"{path}: descriptor says pointer={pointer}, Go says {go_field.type}")
            type_ = self.field_type(f, path)
            if f.repeated and not type_.startswith("map["):
                flag = "repeated"
            elif pointer or (go_field.kind in GO_SCALAR_KINDS and "omitempty" not in options):
                flag = "keep"
            else:
                flag = ""
            if inline and not (type_ in self.tables and flag == ""):
                raise SystemExit(f"{path}: an inlined field that is not a non-pointer struct")
            rows.append(Row(f.number, "" if inline else json_name, type_, flag,
                            f"{go_field.type} {json_tag[0]}"))
        return name

    def field_type(self, f: ProtoField, path: str) -> str:
        if f.type == TYPE_MESSAGE:
            entry = self.messages[f.type_name]
            if entry.map_entry:
                key, value = entry.fields
                return f"map[{self.field_type(key, path)}]{self.field_type(value, path)}"
            return self.message(f.type_name)
        if f.type not in PROTO_SCALARS:
            raise SystemExit(f"{path}: proto type {f.type} is not supported")
        return PROTO_SCALARS[f.type]

    def wire(self, name: str) -> list[tuple[int, str, str]]:
        """A message by its proto field names and types, for the messages protobuf.py reads itself."""
        rows = []
        for f in self.messages[name].fields:
            if f.type == TYPE_MESSAGE:
                type_ = next(short for short, full in WIRE.items() if full == f.type_name)
            else:
                type_ = PROTO_SCALARS[f.type]
            rows.append((f.number, f.name, type_))
        return rows


def kubectl_version(kubectl: Path) -> dict[str, str]:
    out = subprocess.run([str(kubectl), "version", "--client", "-o", "json"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)["clientVersion"]


def generate(kubectl: Path) -> str:
    data = kubectl.read_bytes()
    messages, files = read_descriptors(data)
    if not messages:
        raise SystemExit(f"{kubectl}: no k8s.io generated.proto descriptors found")
    gen = Generator(messages, read_go_structs(data))
    kinds = {key: gen.message(name) for key, name in ROOTS.items()}
    unused = set(SKIP) - set(gen.skipped)
    if unused:
        raise SystemExit(f"SKIP entries that match no field: {sorted(unused)}")
    version = kubectl_version(kubectl)
    used_files = sorted({m.go_package for name, m in messages.items() if name in gen.tables})
    return render(gen, kinds, version, len(files), used_files)


def _q(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text)


def render(gen: Generator, kinds: dict[tuple[str, str], str], version: dict[str, str], n_files: int,
           packages: list[str]) -> str:
    lines = [
        '"""The protobuf field tables of :mod:`labkit.apiserver.protobuf`. GENERATED: do not edit.',
        "",
        (f"Generated by scripts/gen_protobuf_tables.py from kubectl {version['gitVersion']} "
         f"(gitCommit {version['gitCommit']}, {version['goVersion']}):"),
        f"the gzipped descriptors of the {n_files} k8s.io/api and k8s.io/apimachinery generated.proto files",
        "compiled into it, and its Go struct tags. To regenerate (a test in tests/protobuf compares):",
        "",
        f"    python scripts/gen_protobuf_tables.py --kubectl {KUBECTL}",
        "",
        *textwrap.wrap("Packages: " + ", ".join(packages) + ".", 100),
        "",
        "KINDS: (apiVersion, kind) -> message. MESSAGES: message -> {field number: (JSON name, type, flag)}.",
        'The JSON name is "" for an inlined struct (json:",inline"). The type is a scalar (string, bytes, int,',
        "bool, Quantity, Time, IntOrString), a message, or map[K]V. The flag is \"repeated\", \"keep\" (a Go",
        "pointer, or a scalar whose JSON tag has no omitempty: its zero value is sent) or \"\". Each comment",
        "is the Go field's type and JSON tag. WIRE: what the envelope and the scalars are on the wire, by proto",
        "field name.",
        "",
        "Left out:",
    ]
    for why in sorted(set(gen.skipped.values())):
        paths = ", ".join(sorted(path for path, reason in gen.skipped.items() if reason == why))
        lines += textwrap.wrap(f"- {paths}: {why}.", 100, subsequent_indent="  ", break_on_hyphens=False)
    lines += [
        '"""',
        "",
        f"KUBECTL = {_q(version['gitVersion'])}",
        "",
        "KINDS: dict[tuple[str, str], str] = {",
    ]
    lines += [f"    ({_q(api_version)}, {_q(kind)}): {_q(name)}," for (api_version, kind), name in kinds.items()]
    lines += ["}", "", "WIRE: dict[str, dict[int, tuple[str, str]]] = {"]
    for short, full in WIRE.items():
        lines.append(f"    {_q(short)}: {{  # {full}")
        lines += [f"        {number}: ({_q(name)}, {_q(type_)})," for number, name, type_ in gen.wire(full)]
        lines.append("    },")
    lines += ["}", "", "MESSAGES: dict[str, dict[int, tuple[str, str, str]]] = {"]
    for name in sorted(gen.tables):
        lines.append(f"    {_q(name)}: {{")
        for row in gen.tables[name]:
            lines.append(f"        {row.number}: ({_q(row.json)}, {_q(row.type)}, {_q(row.flag)}),  # {row.comment}")
        lines.append("    },")
    lines += ["}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubectl", type=Path, default=KUBECTL, help=f"the kubectl binary (default {KUBECTL})")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the module to write (default: the committed one)")
    args = parser.parse_args(argv)
    args.output.write_text(generate(args.kubectl))
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
