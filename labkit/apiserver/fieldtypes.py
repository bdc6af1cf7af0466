"""Typed decoding of request objects: what kube-apiserver's decoder does by unmarshalling JSON into Go
structs (``k8s.io/apimachinery/pkg/runtime/serializer/json``, ``fieldValidation``).

labkit keeps objects as JSON, so it checks them against the API's field types instead. The types come
from the models of the official Python client (``kubernetes.client.models``: each field's JSON name
and type, generated from Kubernetes' OpenAPI document), read once per kind. A value of the wrong type
is a 400 in the decoder's words (``json: cannot unmarshal string into Go struct field
DeploymentSpec.spec.replicas of type int32``); a field the kind does not have is dropped with a warning
(``fieldValidation=Warn``, the default), dropped silently (``Ignore``), or refused (``Strict``, what
kubectl sends): ``strict decoding error: unknown field "spec.bogus"``. Quantities are typed as strings
in the models but Kubernetes also reads numbers (``cpu: 1``); resource lists and ``sizeLimit`` accept
both. Integers are int32 unless named in :data:`_INT64` (the models do not say). Left out:
duplicate-field errors.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kubernetes.client import models

from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.request import json_type

Type = tuple[Any, ...]  # ("str",), ("list", Type), ("dict", Type), ("model", class name), ...
VALIDATION = ("Ignore", "Warn", "Strict")
_QUANTITY_FIELDS = {"limits", "requests", "capacity", "allocatable", "hard", "used", "overhead", "sizeLimit"}
_GO = {"str": "string", "int": "int32", "bool": "bool", "float": "float64", "datetime": "Time", "date": "Time"}
#: the integer fields that are int64 in Go (the models say only ``int``); every other one is int32
_INT64 = {"activeDeadlineSeconds", "terminationGracePeriodSeconds", "deletionGracePeriodSeconds", "generation",
          "observedGeneration", "runAsUser", "runAsGroup", "fsGroup", "supplementalGroups", "tolerationSeconds",
          "gracePeriodSeconds", "expirationSeconds", "startingDeadlineSeconds", "sizeBytes", "remainingItemCount"}
_COMPOSITE = ("model", "list", "dict")
_INT_RANGE = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def model_name(group_version: str, kind: str) -> str | None:
    """The Python client's model class for a kind (``V1Deployment``, ``CoreV1Event``, ``EventsV1Event``),
    if it has one: a kind that two groups define is prefixed with its group's first word."""
    group, _, version = group_version.rpartition("/")
    name = f"V{version[1:]}{kind}"
    for candidate in (f"Core{name}", name) if not group else (name, group.split(".")[0].capitalize() + name):
        if hasattr(models, candidate):
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
        return ("str",)
    return (spec,) if spec in ("str", "int", "bool", "float", "object", "datetime", "date") else ("model", spec)


@functools.cache
def _fields(model: str) -> dict[str, Type]:
    """JSON field name -> type, for one model class."""
    cls = getattr(models, model)
    return {cls.attribute_map[attr]: _parse(spec) for attr, spec in cls.openapi_types.items()}


@functools.cache
def _struct_name(model: str) -> str:
    return _go_name(("model", model)).removeprefix("v1.")


def _go_name(t: Type) -> str:
    if t[0] == "list":
        return "[]" + _go_name(t[1])
    if t[0] == "dict":
        return "map[string]" + _go_name(t[1])
    if t[0] == "model":
        return "v1." + re.sub(r"^(Core|Events)?V\d+((alpha|beta)\d+)?", "", t[1])
    return _GO.get(t[0], "interface {}")


def check(obj: Obj, model: str, *, validation: str, patch: bool = False) -> list[str]:
    """Check ``obj`` against ``model``; drop unknown fields (returning their paths, for warnings) or,
    with ``Strict``, refuse them. Raises the decoder's 400 for a value of the wrong type. ``patch``: a
    merge or strategic merge patch, checked for types only (its ``$`` directives and the fields it
    names are judged on the patched object)."""
    unknown: list[str] = []
    _walk(obj, ("model", model), "", "", "", None if patch else unknown)
    if unknown and validation == "Strict":
        listed = ", ".join(f'unknown field "{p}"' for p in unknown)
        raise errors.bad_request(f"strict decoding error: {listed}")
    return unknown


def _walk(value: Any, t: Type, path: str, struct: str, name: str, unknown: list[str] | None) -> None:
    """``struct``/``name``: the Go struct and JSON field ``value`` sits in (for error messages);
    ``unknown``: where to note (and drop) unknown fields, None to leave them."""
    if value is None:
        return  # null is a zero value for any field
    kind = t[0]
    if kind == "str":
        ok = isinstance(value, str) or (name in _QUANTITY_FIELDS and _is_number(value))
    else:
        ok = _FITS[kind](value)
    if not ok:
        go_type = ("int64" if name in _INT64 else "int32") if kind == "int" else _go_name(t)
        raise errors.bad_request(f"json: cannot unmarshal {json_type(value)} into {_where(struct, path)} "
                                 f"of type {go_type}")
    if kind == "int":
        go_type = "int64" if name in _INT64 else "int32"
        low, high = _INT_RANGE[go_type]
        if not low <= value <= high:
            raise errors.bad_request(f"json: cannot unmarshal number {value} into {_where(struct, path)} "
                                     f"of type {go_type}")
    if kind == "list":
        for item in value:
            _walk(item, t[1], path, struct, name, unknown)
    elif kind == "dict":
        for item in value.values():
            _walk(item, t[1], path, struct, name, unknown)
    elif kind == "model":
        fields = _fields(t[1])
        go_struct = _struct_name(t[1])
        for key in list(value):
            sub = f"{path}.{key}" if path else key
            if value[key] is None and unknown is not None and fields.get(key, ("",))[0] in _COMPOSITE:
                del value[key]  # a null struct, list or map is its zero value: what leaving it out gives
                continue
            if key not in fields:
                if unknown is not None and key not in ("apiVersion", "kind"):
                    unknown.append(sub)
                    del value[key]
                continue
            _walk(value[key], fields[key], sub, go_struct, key, unknown)


def _where(struct: str, path: str) -> str:
    return f"Go struct field {struct}.{path}" if struct else "Go value"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FITS = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool), "float": _is_number,
         "bool": lambda v: isinstance(v, bool), "datetime": lambda v: isinstance(v, str),
         "date": lambda v: isinstance(v, str), "object": lambda v: True, "list": lambda v: isinstance(v, list),
         "dict": lambda v: isinstance(v, dict), "model": lambda v: isinstance(v, dict)}
