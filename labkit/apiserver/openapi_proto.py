"""``/openapi/v2`` in protobuf (``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``), the form
kubectl asks for: its v2 explain (``--output plaintext-openapiv2``) and its client-side validation read it.

Mirrors the encoding kube-openapi gets from gnostic's ``openapiv2/OpenAPIv2.proto`` (``Document``,
``Schema``, ``NamedSchema``, ``NamedAny``; the field numbers below are that file's): a vendor
extension's value travels as YAML text in ``Any.yaml`` (JSON is YAML, so it is written as JSON). Only
what kubectl reads is encoded: ``swagger``, ``info`` and the ``definitions``; the paths are left out (a
kubectl that finds no v2 path for ``fieldValidation`` validates on the client, and every kubectl labkit
supports asks v3 first anyway).
"""

from __future__ import annotations

import json
from typing import Any

_LEN = 2  # protobuf's length-delimited wire type


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | _LEN) + _varint(len(data)) + data


def _named(name: str, value: bytes) -> bytes:
    """A ``Named*`` pair: the map key (1) and its value (2)."""
    return _field(1, name) + _field(2, value)


def _schema(s: dict[str, Any]) -> bytes:
    out = bytearray()
    for key, number in (("$ref", 1), ("format", 2), ("description", 4)):
        if key in s:
            out += _field(number, s[key])
    for name in s.get("required", ()):
        out += _field(19, name)
    if "additionalProperties" in s:
        out += _field(21, _field(1, _schema(s["additionalProperties"])))  # AdditionalPropertiesItem.schema
    if "type" in s:
        out += _field(22, _field(1, s["type"]))  # TypeItem.value
    if "items" in s:
        out += _field(23, _field(1, _schema(s["items"])))  # ItemsItem.schema
    if "properties" in s:
        out += _field(25, b"".join(_field(1, _named(k, _schema(v))) for k, v in s["properties"].items()))
    for key, value in s.items():
        if key.startswith("x-"):
            out += _field(31, _named(key, _field(2, json.dumps(value))))  # NamedAny, Any.yaml
    return bytes(out)


def encode(doc: dict[str, Any]) -> bytes:
    """A Swagger 2.0 document (as :func:`labkit.apiserver.openapi.v2` builds it) as a gnostic ``Document``."""
    info = doc["info"]
    definitions = b"".join(_field(1, _named(name, _schema(s))) for name, s in doc["definitions"].items())
    return (_field(1, doc["swagger"]) + _field(2, _field(1, info["title"]) + _field(2, info["version"]))
            + _field(9, definitions))
