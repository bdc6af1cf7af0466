"""JSON on the hot paths: stored objects, responses, watch events and the client's reads.

orjson (compact, UTF-8, key order kept) is several times faster than the standard library, which
matters when one event loop serves the whole cluster. What orjson refuses to encode (integers beyond
64 bits, non-string keys) falls back to the standard library, so it is never an error. Request
bodies are parsed with it too (``apiserver/request.py``); what it refuses (malformed JSON, integers
beyond 64 bits, NaN) goes to the standard library, whose errors and exact integers are what
Kubernetes' decoder gives.

:func:`go_dumps` writes JSON byte for byte as Go's ``encoding/json`` does (kube-apiserver's
serializer, ``k8s.io/apimachinery/pkg/runtime/serializer/json``): the API server's Status bodies go
through it. Other responses keep orjson's encoding, which differs from Go's only in leaving ``<``,
``>``, ``&``, U+2028 and U+2029 unescaped.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, TypeVar

import orjson

T = TypeVar("T")
loads = orjson.loads


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(obj, separators=(",", ":")).encode()


# Go's encoder escapes these even inside strings (``HTMLEscape``, and the two JavaScript line separators);
# they can appear nowhere else in JSON text
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def go_dumps(obj: Any) -> bytes:
    """Compact JSON as Go's ``json.Encoder`` writes it, without the newline ``Encode`` adds: keys in the
    order given, UTF-8, ``\\n`` ``\\t`` ``\\b`` ``\\f`` ``\\r`` and ``\\u00XX`` for the other control characters,
    ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, a lone surrogate written as U+FFFD (Go's replacement of
    what is not UTF-8). Floats are written as Python writes them (Go differs for exponents)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text)
    return _SURROGATE.sub("\\\\ufffd", text).encode()


# what is not plain JSON (a datetime, a dataclass, a subclass of dict or str) is not turned into JSON
_CLONE_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def clone(obj: T) -> T:
    """A deep copy of JSON data, several times faster than ``copy.deepcopy`` (no memo to keep); anything
    else is deep-copied as it is."""
    try:
        return orjson.loads(orjson.dumps(obj, option=_CLONE_STRICT))
    except TypeError:  # not plain JSON
        return copy.deepcopy(obj)
