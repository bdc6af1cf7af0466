"""Server-side printing: ``meta.k8s.io/v1`` Table responses for ``kubectl get``.

Mirrors ``k8s.io/apiserver/pkg/registry/rest/table.go`` and the ``TableConvertor`` kube-apiserver
builds from ``pkg/printers/internalversion/printers.go``. kubectl adds NAMESPACE (for ``-A``),
labels and sorting client-side from each row's ``object``, so every row carries one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.resources import Resource
from labkit.apiserver.strategy import NAME_COLUMN

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def row(resource: Resource, obj: Obj, *, include_object: str, now: dt.datetime) -> Obj:
    cells = resource.strategy.cells(obj, now)
    if resource.strategy.name_column:
        cells.insert(0, obj["metadata"].get("name", ""))
    out: Obj = {"cells": cells}
    if include_object == "Object":
        out["object"] = obj
    elif include_object == "Metadata":
        # managedFields are left out: kubectl hides them anyway, and they are most of the metadata's bytes
        meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return out


def table(resource: Resource, objs: Iterable[Obj], *, include_object: str = "Metadata", now: dt.datetime,
          list_meta: Obj | None = None, with_columns: bool = True) -> Obj:
    if include_object not in INCLUDE_OBJECT:
        raise errors.bad_request(f"includeObject: Unsupported value: {include_object!r}: supported values: "
                                 '"None", "Metadata", "Object"')
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {}}
    if with_columns:
        columns = ((NAME_COLUMN,) if resource.strategy.name_column else ()) + tuple(resource.strategy.columns)
        out["columnDefinitions"] = [c.as_dict() for c in columns]
    out["rows"] = [row(resource, o, include_object=include_object, now=now) for o in objs]
    return out
