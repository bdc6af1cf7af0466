"""Typed decoding of request objects: what kube-apiserver's decoder does by unmarshalling JSON into Go
structs (``k8s.io/apimachinery/pkg/runtime/serializer/json``, ``fieldValidation``).

labkit keeps objects as JSON, so it checks them against the API's field types instead. The types come
from the models of the official Python client (``kubernetes.client.models``: each field's JSON name
and type, generated from Kubernetes' OpenAPI document), read from their source once per kind
(:mod:`labkit.apiserver.clientmodels`). A value of the wrong type is a 400 in the decoder's words
(``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32``); a
field the kind does not have is dropped with a warning (``fieldValidation=Warn``, the default), dropped
silently (``Ignore``), or refused (``Strict``, what kubectl sends): ``strict decoding error: unknown field
"spec.bogus"``. Quantities are typed as strings
in the models but Kubernetes also reads numbers (``cpu: 1``); resource lists and ``sizeLimit`` accept
both. Integers are int32 unless named in :data:`INT64` (the models do not say). A field written twice in
a JSON body is a ``duplicate field "spec.paused"`` (warned about or refused as an unknown one is); the
errors come in the order of the body, and a create's or update's are worded as kube's decoder words
them (``Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: ...``); a
patch's are its own duplicates, then the patched object's unknown fields in sorted order, as kube's.
In a YAML body go-yaml names them by line (``line 12: key "paused" already set in map``). The same reading
of the models gives the OpenAPI documents (:mod:`labkit.apiserver.openapi`). Left out: the key of a map in
a path.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apiserver import clientmodels, errors, request
from labkit.apiserver.request import json_type

Type = tuple[Any, ...]  # ("str",), ("list", Type), ("dict", Type), ("model", class name), ...
VALIDATION = ("Ignore", "Warn", "Strict")
QUANTITY_FIELDS = {"limits", "requests", "capacity", "allocatable", "hard", "used", "overhead", "sizeLimit"}
_GO = {"str": "string", "int": "int32", "bool": "bool", "float": "float64", "datetime": "Time", "date": "Time",
       "bytes": "[]uint8"}
#: the integer fields that are int64 in Go (the models say only ``int``); every other one is int32
INT64 = {"activeDeadlineSeconds", "terminationGracePeriodSeconds", "deletionGracePeriodSeconds", "generation",
          "observedGeneration", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups", "tolerationSeconds",
          "gracePeriodSeconds", "expirationSeconds", "startingDeadlineSeconds", "sizeBytes", "remainingItemCount"}
_COMPOSITE = ("model", "list", "dict")
_INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def model_name(group_version: str, kind: str) -> str | None:
    """The Python client's model class for a kind (``V1Deployment``; ``CoreV1Event``, ``EventsV1Event``
    where the client tells a name two groups share by its group's), if it has one."""
    group, _, version = group_version.rpartition("/")
    name = f"V{version[1:]}{kind}"
    for candidate in (f"{(group.split('.')[0] or 'core').capitalize()}{name}", name):
        if clientmodels.exists(candidate):
            return candidate
    return None


def _parse(spec: str) -> Type:
    m = re.fullmatch(r"List\[(.+)\]", spec)
    if m:
        return ("list", _parse(m.group(1)))
    m = re.fullmatch(r"Dict\[str, (.+)\]", spec)
    if m:
        return ("dict", _parse(m.group(1)))
    if spec == "bytes":  # []byte: base64 in JSON
        return ("bytes",)
    return (spec,) if spec in ("str", "int", "bool", "float", "object", "datetime", "date") else ("model", spec)


_PRERELEASE = re.compile(r"V\d+(alpha|beta)\d+")


@functools.cache
def fields(model: str) -> dict[str, Type]:
    """JSON field name -> type, for one model class. A field of a GA struct whose type is an alpha or
    beta struct is left out: a feature-gated field of a later release than the one served."""
    source = clientmodels.read(model)
    prerelease = bool(_PRERELEASE.search(model))
    out = {}
    for attr, spec in source.openapi_types.items():
        if prerelease or not _PRERELEASE.search(spec):
            out[source.attribute_map[attr]] = _parse(spec)
    return out


@functools.cache
def struct_name(model: str) -> str:
    return _go_name(("model", model)).removeprefix("v1.")


def _go_name(t: Type) -> str:
    if t[0] == "list":
        return "[]" + _go_name(t[1])
    if t[0] == "dict":
        return "map[string]" + _go_name(t[1])
    if t[0] == "model":
        return "v1." + re.sub(r"^(Core|Events)?V\d+((alpha|beta)\d+)?", "", t[1])
    return _GO.get(t[0], "interface {}")


class _Pairs(list):
    """A JSON object as its (key, value) pairs in the order written, duplicates kept."""


def _pairs(raw: bytes) -> Any:
    """The body as the standard library reads it, each object kept as its :class:`_Pairs`, or None when it
    is not JSON (YAML and protobuf bodies are not searched for duplicates)."""
    try:
        return json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None


def check(obj: Obj, model: str, *, validation: str, patch: bool = False, body: bytes | None = None,
          patched_by: bytes | None = None, yaml: bool = False) -> list[str]:
    """Check ``obj`` against ``model``; drop unknown fields, returning what the decoder would say about
    them and about fields written twice in ``body`` (the JSON ``obj`` was decoded from, if any), in the
    order they come (the warnings of ``Warn``); with ``Strict`` refuse them instead. Raises the decoder's
    400 for a value of the wrong type. ``patch``: a merge or strategic merge patch, checked for types only
    (its ``$`` directives and the fields it names are judged on the patched object). ``patched_by``: the
    JSON patch ``obj`` is the result of; kube names every field written twice in it first, then the
    unknown fields of ``obj`` in the order of their sorted keys (it reads the merged object back from a
    map). ``yaml``: ``body`` is YAML, whose keys set twice go-yaml names by line (grouped into one error
    under ``Strict``), and whose unknown fields come in sorted order (it is converted through a map)."""
    found: list[str] = []
    checked = validation != "Ignore"
    if patched_by is not None and checked:
        _duplicates(_pairs(patched_by) if patched_by.lstrip()[:1] == b"{" else None, "", found)
    repeated = request.yaml_duplicates(body) if yaml and body is not None and checked else []
    written = _pairs(body) if body is not None and checked and not yaml and body.lstrip()[:1] == b"{" else None
    _walk(obj, ("model", model), "", "", "", "", None if patch else found, written, patched_by is not None or yaml)
    if (found or repeated) and validation == "Strict":
        said = (["yaml: unmarshal errors:\n" + "\n".join(f"  {r}" for r in repeated)] if repeated else []) + found
        raise errors.bad_request(f"strict decoding error: {', '.join(said)}")
    return repeated + found


def _duplicates(written: Any, at: str, found: list[str]) -> None:
    """Every field written twice in ``written`` (:func:`_pairs`), known or not, in the order written."""
    if isinstance(written, _Pairs):
        seen: set[str] = set()
        for key, child in written:
            sub = f"{at}.{key}" if at else key
            if key in seen:
                found.append(f'duplicate field "{sub}"')
            else:
                seen.add(key)
                _duplicates(child, sub, found)
    elif isinstance(written, list):
        for i, item in enumerate(written):
            _duplicates(item, f"{at}[{i}]", found)


def _walk(value: Any, t: Type, path: str, at: str, struct: str, name: str, found: list[str] | None,
          written: Any = None, sort_keys: bool = False) -> None:
    """``path``: where ``value`` is, as Go's type errors name it (``spec.containers.image``), ``at`` as
    strict decoding names it (``spec.containers[0].image``); ``struct``/``name``: the Go struct and JSON
    field ``value`` sits in (for error messages);
    ``found``: where to note unknown (and dropped) and duplicate fields, None to leave them; ``written``:
    ``value`` as the body wrote it (:func:`_pairs`), to find duplicates in, or None; ``sort_keys``: visit
    an object's fields in the order of their names rather than as they come."""
    if value is None:
        return  # null is a zero value for any field
    kind = t[0]
    if kind == "str":
        ok = isinstance(value, str) or (name in QUANTITY_FIELDS and _is_number(value))
    else:
        ok = _FITS[kind](value)
    if not ok:
        go_type = ("int64" if name in INT64 else "int32") if kind == "int" else _go_name(t)
        raise errors.bad_request(f"json: cannot unmarshal {json_type(value)} into {_where(struct, path)} "
                                 f"of type {go_type}")
    if kind == "bytes":
        _check_base64(value)
    if kind == "int":
        go_type = "int64" if name in INT64 else "int32"
        low, high = _INT_RANGE[go_type]
        if not low <= value <= high:
            raise errors.bad_request(f"json: cannot unmarshal number {value} into {_where(struct, path)} "
                                     f"of type {go_type}")
    if kind == "list":
        as_written = written if isinstance(written, list) and len(written) == len(value) else None
        for i, item in enumerate(value):
            _walk(item, t[1], path, f"{at}[{i}]", struct, name, found, as_written[i] if as_written else None,
                  sort_keys)
    elif kind == "dict":
        for item in value.values():
            _walk(item, t[1], path, at, struct, name, found, None, sort_keys)
    elif kind == "model":
        known = fields(t[1])
        go_struct = struct_name(t[1])
        last = dict(written) if isinstance(written, _Pairs) else {}
        seen: set[str] = set()
        order = [k for k, _ in written] if isinstance(written, _Pairs) else sorted(value) if sort_keys else list(value)
        for key in order:
            if key not in value:
                continue  # dropped: a null known field, or an unknown one already noted
            sub = f"{path}.{key}" if path else key
            sub_at = f"{at}.{key}" if at else key
            if key in seen:  # written twice: the decoder keeps the last, and says so for a known field
                if found is not None and key in known:
                    found.append(f'duplicate field "{sub_at}"')
                continue
            seen.add(key)
            if value[key] is None and found is not None and known.get(key, ("",))[0] in _COMPOSITE:
                del value[key]  # a null struct, list or map is its zero value: what leaving it out gives
                continue
            if key not in known:
                if found is not None and key not in ("apiVersion", "kind"):
                    found.append(f'unknown field "{sub_at}"')
                    del value[key]
                continue
            _walk(value[key], known[key], sub, sub_at, go_struct, key, found, last.get(key), sort_keys)


_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def base64_error(text: str) -> int | None:
    """Where Go's ``base64.StdEncoding`` (what ``encoding/json`` decodes a ``[]byte`` with) finds ``text``
    corrupt (``CorruptInputError``), or None when it decodes: a port of its ``decodeQuantum``."""
    si = 0
    while si < len(text):
        j = 0
        while j < 4:
            if si == len(text):
                return None if j == 0 else si - j
            ch = text[si]
            si += 1
            if ch in _BASE64:
                j += 1
                continue
            if ch in "\r\n":
                continue
            if ch != "=" or j < 2:
                return si - 1
            if j == 2:  # "==" expected: the first is read
                while si < len(text) and text[si] in "\r\n":
                    si += 1
                if si == len(text):
                    return len(text)
                if text[si] != "=":
                    return si - 1
                si += 1
            while si < len(text) and text[si] in "\r\n":
                si += 1
            return si if si < len(text) else None
    return None


def _check_base64(value: str) -> None:
    at = base64_error(value)
    if at is not None:
        raise errors.bad_request(f"illegal base64 data at input byte {at}")


def _where(struct: str, path: str) -> str:
    return f"Go struct field {struct}.{path}" if struct else "Go value"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FITS = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool), "float": _is_number,
         "bool": lambda v: isinstance(v, bool), "datetime": lambda v: isinstance(v, str),
         "date": lambda v: isinstance(v, str), "object": lambda v: True, "list": lambda v: isinstance(v, list),
         "dict": lambda v: isinstance(v, dict), "model": lambda v: isinstance(v, dict),
         "bytes": lambda v: isinstance(v, str)}
