"""Decode the protobuf request bodies kubectl >= 1.32 sends into the JSON-shaped dict a JSON client sends.

Mirrors ``k8s.io/apimachinery/pkg/runtime/serializer/protobuf`` (the ``k8s\\x00`` magic and the
``runtime.Unknown`` envelope) and the gogo-protobuf ``Unmarshal`` methods generated from
``k8s.io/api/<group>/<version>/generated.proto``. Instead of generated code there is a wire-format
reader (varint, length-delimited, fixed32/64) and a declarative schema: one ``Message`` per Go struct,
field number -> JSON name and type. The schema is built from :mod:`labkit.apiserver.protobuf_tables`,
which ``scripts/gen_protobuf_tables.py`` generates from the kubectl 1.33 binary (v1.33.1, so
k8s.io/api and apimachinery v0.33.1): field numbers and types from the ``generated.proto``
descriptors compiled into it, JSON names, ``omitempty`` and inlining from its Go struct tags. A test
regenerates it and compares.

Go's marshaller writes every non-pointer field even when it is zero, so the decoder drops zero values
the way JSON ``omitempty`` would, except for fields marked ``keep``: Go pointers (``replicas: 0`` is
meaningful, ``emptyDir: {}`` too) and scalars whose JSON tag lacks ``omitempty`` (``containerPort``,
``value`` of a PriorityClass). Empty non-pointer structs (``status: {}``, ``resources: {}``) and zero
``metav1.Time`` (``creationTimestamp: null``) are dropped, and so is a zero IntOrString that is not a
pointer even where its tag has no ``omitempty`` (``httpGet.port: 0``, which JSON would send).

Left out: only the kinds that kubectl writes through its typed clients are in :data:`KINDS` (what
``create <generator>``, ``create token``, ``auth can-i|whoami`` and ``drain`` send); of the fields those
kinds reach, the kind's own ``status`` and ``metadata.managedFields`` (the server owns them). Unknown
field numbers are skipped, as protobuf readers do, so such fields vanish silently. ``contentEncoding``
(never set by client-go) and protobuf responses are not supported.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from labkit.apimachinery.timeutil import rfc3339, unix
from labkit.apiserver import protobuf_tables as tables

MAGIC = b"k8s\x00"

# Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
VARINT, I64, LEN, I32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf message this decoder understands."""


# --- wire format -----------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        result |= (data[i] & 0x7F) << shift
        if data[i] < 0x80:
            return result, i + 1
        shift += 7
    raise ProtobufError(f"truncated or overlong varint at byte {pos}")


def _take(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if pos + size > len(data):
        raise ProtobufError(f"field of {size} bytes at byte {pos} runs past the end of the message")
    return data[pos:pos + size], pos + size


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)``; the value is an int for varints, else raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == LEN:
            size, pos = _varint(data, pos)
            value, pos = _take(data, pos, size)
        elif wire in (I64, I32):
            value, pos = _take(data, pos, 8 if wire == I64 else 4)
        else:  # 3 and 4 are proto2 groups, which Kubernetes never uses
            raise ProtobufError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value


# --- schema ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Scalar:
    """A value with a fixed JSON rendering; Quantity, Time and IntOrString are small messages on the wire."""

    name: str
    wire: int
    convert: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Map:
    """``map<K, V>``: on the wire a repeated entry message ``{1: key, 2: value}``."""

    key: Scalar
    value: Scalar | Message


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    name: str  # the JSON name; "" for an embedded struct whose fields JSON inlines (VolumeSource)
    type: Scalar | Map | Message
    repeated: bool = False
    keep: bool = False  # emit even when zero: a Go pointer, or a JSON tag without omitempty


Message = dict[int, Field]


def _int64(value: int) -> int:
    """int32 and int64 are both sent as 64-bit two's complement varints."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as err:
        raise ProtobufError(f"string field is not UTF-8: {err}") from None


def _quantity(raw: bytes) -> str:
    return _message(raw, _QUANTITY).get("string", "0")  # resource.Quantity marshals its String()


def _time(raw: bytes) -> str | None:
    """metav1.Time: an empty message is the zero time (JSON null); nanoseconds are ignored, as in Go."""
    if not raw:
        return None
    seconds = _message(raw, _TIMESTAMP).get("seconds", 0)
    try:
        return rfc3339(unix(seconds))
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"timestamp out of range: {seconds}") from None


def _int_or_string(raw: bytes) -> int | str:
    value = _message(raw, _INT_OR_STRING)
    return value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)


STRING = Scalar("string", LEN, _utf8)
BYTES = Scalar("bytes", LEN, lambda raw: base64.b64encode(raw).decode())  # []byte is base64 in JSON
INT = Scalar("int", VARINT, _int64)
BOOL = Scalar("bool", VARINT, bool)
QUANTITY = Scalar("Quantity", LEN, _quantity)
TIME = Scalar("Time", LEN, _time)
INT_OR_STRING = Scalar("IntOrString", LEN, _int_or_string)
RAW = Scalar("raw", LEN, bytes)


# --- decoding --------------------------------------------------------------------------------------

_ZEROS: tuple[Any, ...] = ("", 0, {}, [])  # False == 0, so this covers bools too


def _value(kind: Scalar | Message, wire: int, value: int | bytes) -> Any:
    expected = kind.wire if isinstance(kind, Scalar) else LEN
    if wire != expected:
        raise ProtobufError(f"wire type {wire} where {expected} was expected")
    if isinstance(kind, Scalar):
        return kind.convert(value)
    assert isinstance(value, bytes)  # wire type LEN
    return _message(value, kind)


def _repeated(kind: Scalar | Message, wire: int, value: int | bytes) -> list[Any]:
    if isinstance(kind, Scalar) and kind.wire == VARINT and wire == LEN:  # a packed list of varints
        assert isinstance(value, bytes)
        pos, items = 0, []
        while pos < len(value):
            item, pos = _varint(value, pos)
            items.append(kind.convert(item))
        return items
    return [_value(kind, wire, value)]


def _default(kind: Scalar | Message) -> Any:
    """The value of a map key or value that the entry leaves out."""
    return kind.convert(0 if kind.wire == VARINT else b"") if isinstance(kind, Scalar) else {}


def _map_entry(kind: Map, wire: int, value: int | bytes) -> tuple[Any, Any]:
    key, item = _default(kind.key), _default(kind.value)
    for number, entry_wire, entry_value in _fields(_value(RAW, wire, value)):
        if number == 1:
            key = _value(kind.key, entry_wire, entry_value)
        elif number == 2:
            item = _value(kind.value, entry_wire, entry_value)
    return key, item


def _message(data: bytes, schema: Message) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        field = schema.get(number)
        if field is None:
            continue  # a field this table does not know: skip it, as any protobuf reader does
        if isinstance(field.type, Map):
            key, item = _map_entry(field.type, wire, value)
            obj.setdefault(field.name, {})[key] = item
        elif field.repeated:
            obj.setdefault(field.name, []).extend(_repeated(field.type, wire, value))
        elif not field.name:
            obj.update(_value(field.type, wire, value))
        else:
            decoded = _value(field.type, wire, value)
            if decoded is None or (not field.keep and decoded in _ZEROS):
                obj.pop(field.name, None)
            else:
                obj[field.name] = decoded
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``application/vnd.kubernetes.protobuf`` request body into its JSON object.

    Raises :class:`ProtobufError` for a body without the magic prefix, malformed bytes, or a kind
    that is not in :data:`KINDS`.
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("body does not start with the k8s protobuf magic")
    unknown = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = unknown.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"unsupported contentEncoding {unknown['contentEncoding']!r}")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    return {"kind": kind, "apiVersion": api_version, **_message(unknown.get("raw", b""), schema)}


# --- schema tables ---------------------------------------------------------------------------------


Rows = dict[str, dict[int, tuple[str, str, str]]]  # message -> {number: (JSON name, type, flag)}


def _messages(rows: Rows, scalars: dict[str, Scalar]) -> dict[str, Message]:
    """Turn generated rows into Messages; each exists before any is filled, so recursion resolves."""
    messages: dict[str, Message] = {name: {} for name in rows}

    def kind(name: str) -> Scalar | Map | Message:
        if name.startswith("map["):
            key, value = name[len("map["):].split("]", 1)
            item = kind(value)
            assert not isinstance(item, Map)
            return Map(scalars[key], item)
        return scalars[name] if name in scalars else messages[name]

    for name, fields in rows.items():
        messages[name].update({
            number: Field(json_name, kind(type_name), repeated=flag == "repeated", keep=flag == "keep")
            for number, (json_name, type_name, flag) in fields.items()
        })
    return messages


SCALARS: dict[str, Scalar] = {s.name: s for s in (STRING, BYTES, INT, BOOL, QUANTITY, TIME, INT_OR_STRING)}

_WIRE = _messages(  # by proto field name, no flags; the envelope's raw object stays bytes
    {name: {number: (*row, "") for number, row in fields.items()} for name, fields in tables.WIRE.items()},
    {**SCALARS, "bytes": RAW},
)
_UNKNOWN, _QUANTITY, _TIMESTAMP, _INT_OR_STRING = (_WIRE[n] for n in ("Unknown", "Quantity", "Time", "IntOrString"))

MESSAGES: dict[str, Message] = _messages(tables.MESSAGES, SCALARS)
"""Every message of the generated tables, by proto name (``k8s.io.api.core.v1.PodSpec``)."""

KINDS: dict[tuple[str, str], Message] = {key: MESSAGES[name] for key, name in tables.KINDS.items()}
"""The kinds :func:`decode` understands, by ``(apiVersion, kind)`` of the envelope's TypeMeta."""
