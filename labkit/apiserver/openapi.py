"""The OpenAPI documents: ``/openapi/v2`` (Swagger 2.0) and ``/openapi/v3`` (its index and one OpenAPI 3.0
document per group-version), what ``kubectl explain`` reads and what kubectl's validation asks before it
sends ``fieldValidation``.

Mirrors ``k8s.io/kube-openapi``: the builders (``pkg/builder``, ``pkg/builder3``: a schema per Go type
named after its package, ``io.k8s.api.apps.v1.Deployment``, a path per route with the operation's
``x-kubernetes-action`` and ``x-kubernetes-group-version-kind``) and the handlers (``pkg/handler``,
``pkg/handler3``: the v3 index lists each group-version at ``?hash=<sha512 of the document>``; a request
with that hash may be cached for a year, one with a stale hash is redirected to the current one; an
``Etag`` lets a client revalidate).

The schemas are built once, at the first request, from the models of the official Python client
(``kubernetes.client.models``, generated from Kubernetes' own OpenAPI document, read from their source by
:mod:`labkit.apiserver.clientmodels`): the type of each field comes from :mod:`labkit.apiserver.fieldtypes`
(the same reading that decodes request bodies, so a field the documents show is a field a request may
set), descriptions and required fields from each model.
What the models do not say is filled in from labkit's own facts: how lists and maps merge
(:mod:`labkit.apiserver.merge_schema`: ``x-kubernetes-patch-strategy``, ``-patch-merge-key``,
``-list-type``, ``-list-map-keys``, ``-map-type``), which integers are int64 and which strings are
quantities (:mod:`fieldtypes`). A type's Go package is the group of the kinds that reach it: a type that
only one group's kinds use is that group's, one used by a core kind or by several groups is core's (as
``k8s.io/api`` packages share only ``core/v1``), and the ``meta/v1`` types are named; so a core type that
only another group uses gets that group's name (``TopologySelectorTerm`` of StorageClass: the models do
not say where Go declares a type). Only the schema's name is wrong then.

Left out, against the upstream documents: ``enum`` lists and defaults (the models drop them), the
description of a field whose value is a struct (the models keep only the struct's own, which it shows
instead), ``MicroTime``
(every timestamp is a ``Time``), fields the client's release has that the served release lacks, the
paths of v2 in protobuf (:mod:`openapi_proto`), non-resource paths, and the documents of aggregated APIs.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import re
from typing import Any

from labkit import codec
from labkit.apiserver import clientmodels, fieldtypes, merge_schema, openapi_proto
from labkit.apiserver.resources import RESOURCES, Resource

Doc = dict[str, Any]
TITLE = "Kubernetes"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
#: the meta/v1 structs a kind can hold (every other model belongs to an API group)
_META_TYPES = {"ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
               "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions",
               "Preconditions", "APIResourceList", "APIResource", "WatchEvent", "FieldSelectorRequirement"}
#: the leaf types the models flatten into strings and objects, in kube's names
_TIME = f"{_META}.Time"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_PATCH = f"{_META}.Patch"
_LEAVES: dict[str, Doc] = {
    _TIME: {"type": "string", "format": "date-time",
            "description": "A timestamp in RFC 3339 form (seconds precision), in UTC."},
    _QUANTITY: {"type": "string", "description": "A fixed-point number with an optional suffix (100m, 1.5, 64Mi, "
                                                 "1G): an amount of CPU, memory or storage."},
    _INT_OR_STRING: {"type": "string", "format": "int-or-string",
                     "description": "Either an integer or a string (a port number or name, a count or a percentage)."},
    _PATCH: {"type": "object", "description": "The body of a PATCH request, in the form its Content-Type names."},
}
#: what every group-version's operations answer with besides its kinds
_COMMON = ("V1Status", "V1DeleteOptions")
#: the leaves a JSON value of two types may stand for (their OpenAPIV3OneOfTypes)
_ONE_OF = {_INT_OR_STRING: ("integer", "string"), _QUANTITY: ("string", "number")}
_PREFIX = re.compile(r"^([A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)(.+)$")
_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json")


def _group_package(group: str) -> str:
    """The schema-name prefix of an API group's package (``io.k8s.api.rbac`` for rbac.authorization.k8s.io)."""
    label = group.split(".")[0] or "core"
    if label == "apiregistration":
        return "io.k8s.kube-aggregator.pkg.apis.apiregistration"
    return f"io.k8s.api.{label}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Model:
    cls: str  # the client model's class name: V1Deployment, CoreV1Event
    go: str  # the Go type's name: Deployment, Event
    version: str  # v1, v2, v1beta1
    group: str  # the group the client's name gives (core for CoreV1Event), "" when it gives none


def _model(cls: str) -> _Model:
    m = _PREFIX.match(cls)
    assert m, cls
    return _Model(cls, m.group(3), m.group(2).lower(), (m.group(1) or "").lower())


def _refs(t: fieldtypes.Type) -> list[str]:
    """The model classes a field's type mentions."""
    if t[0] == "model":
        return [t[1]]
    return _refs(t[1]) if t[0] in ("list", "dict") else []


def _kind_models(res: Resource) -> list[tuple[str, str]]:
    """The models a group-version's document starts from for one resource, each with the group it is
    of: its kind, its list, the kinds of its subresources (Scale, Binding, Eviction, TokenRequest)."""
    out = []
    for group, gv, kind in [(res.group, res.group_version, res.kind), (res.group, res.group_version, res.kind + "List"),
                            *((s.group or res.group, f"{s.group}/{s.version}" if s.group else res.group_version, s.kind)
                              for s in res.subresources)]:
        name = fieldtypes.model_name(gv, kind)
        if name is not None and (group, name) not in out:
            out.append((group, name))
    return out


def _served() -> list[Resource]:
    return [r for r in RESOURCES if not r.aggregated]


@functools.cache
def _names() -> dict[str, str]:
    """Model class -> its schema name, for every model a served kind reaches."""
    reached: dict[str, set[str]] = {}  # model -> the groups whose kinds reach it
    starts = [pair for res in _served() for pair in _kind_models(res)] + [("", cls) for cls in _COMMON]
    for group, start in starts:
        todo = [start]
        seen: set[str] = set()
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            reached.setdefault(cls, set()).add(group)
            todo.extend(ref for t in fieldtypes.fields(cls).values() for ref in _refs(t))
    names = {}
    for cls, groups in reached.items():
        m = _model(cls)
        if m.go in _META_TYPES and not m.group:
            package = _META.rsplit(".", 1)[0]
        elif m.group:  # CoreV1Event, DiscoveryV1EndpointPort: the client names the package
            package = _group_package("" if m.group == "core" else m.group)
        else:
            package = _group_package(next(iter(groups)) if len(groups) == 1 else "")
        names[cls] = f"{package}.{m.version}.{m.go}"
    return names


def _description(cls: str) -> str:
    """A model's own words: its docstring up to the generator's ``Attributes:``, on one line."""
    doc = clientmodels.docstring(cls).split("Attributes:")[0]
    return " ".join(line.strip() for line in doc.strip().splitlines()).strip()


class _Builder:
    """Schemas for one document, with ``$ref``s in ``ref_base`` (``#/definitions/``, ``#/components/schemas/``)."""

    def __init__(self, ref_base: str, v3: bool) -> None:
        self.ref_base, self.v3 = ref_base, v3
        self.schemas: dict[str, Doc] = {}
        self.names = _names()

    def ref(self, name: str) -> Doc:
        if name in _LEAVES and name not in self.schemas:
            leaf = dict(_LEAVES[name])
            if self.v3 and name in _ONE_OF:  # v3 says what a JSON value of it may be (kubectl explain names it)
                del leaf["type"]
                leaf["oneOf"] = [{"type": t} for t in _ONE_OF[name]]
            self.schemas[name] = leaf
        return {"$ref": self.ref_base + name}

    def add(self, cls: str, gvks: list[Doc] | None = None) -> str:
        name = self.names[cls]
        if name in self.schemas:
            if gvks:
                self.schemas[name]["x-kubernetes-group-version-kind"] = gvks
            return name
        go = _model(cls).go
        schema: Doc = {"description": _description(cls), "type": "object"}
        self.schemas[name] = schema  # before the fields: a type may contain itself
        props: Doc = {}
        required = []
        infos = clientmodels.fields(cls)
        for json_name, t in fieldtypes.fields(cls).items():
            info = infos[json_name]
            prop = self.field(t, json_name, info.int_or_string)
            facts = merge_schema.field(go, json_name)
            ext: Doc = {}
            if t[0] == "list":
                ext["x-kubernetes-list-type"] = facts.list_type
                if facts.list_map_keys:
                    ext["x-kubernetes-list-map-keys"] = list(facts.list_map_keys)
            elif facts.atomic:
                ext["x-kubernetes-map-type"] = "atomic"
            if facts.patch_merge_key:
                ext["x-kubernetes-patch-merge-key"] = facts.patch_merge_key
            if facts.patch_strategy:
                ext["x-kubernetes-patch-strategy"] = facts.patch_strategy
            props[json_name] = self.decorate(prop, info.description or self.described(t), ext)
            if info.required:
                required.append(json_name)
        if props:
            schema["properties"] = props
        if required:
            schema["required"] = required
        if gvks:
            schema["x-kubernetes-group-version-kind"] = gvks
        return name

    @staticmethod
    def described(t: fieldtypes.Type) -> str | None:
        """What a field holding a struct says when the models keep no words of its own: the struct's."""
        return _description(t[1]) or None if t[0] == "model" else None

    def decorate(self, prop: Doc, description: str | None, ext: Doc) -> Doc:
        """A field's schema with its description and extensions; beside a ``$ref`` OpenAPI 3.0 ignores
        them, so there the reference goes into an ``allOf`` (as kube's v3 builder writes it)."""
        extra = {**({"description": description} if description else {}), **ext}
        if not extra:
            return prop
        if "$ref" in prop and self.v3:
            leaf = prop["$ref"].removeprefix(self.ref_base) in _LEAVES
            return {"allOf": [prop], **({} if leaf else {"default": {}}), **extra}
        return {**prop, **extra}

    def field(self, t: fieldtypes.Type, name: str, int_or_string: bool = False) -> Doc:
        kind = t[0]
        if kind == "model":
            return self.ref(self.add(t[1]))
        if kind == "list":
            return {"type": "array", "items": self.field(t[1], name)}
        if kind == "dict":
            return {"type": "object", "additionalProperties": self.field(t[1], name)}
        if kind == "str":
            return self.ref(_QUANTITY) if name in fieldtypes.QUANTITY_FIELDS else {"type": "string"}
        if kind == "int":
            return {"type": "integer", "format": "int64" if name in fieldtypes.INT64 else "int32"}
        if kind == "float":
            return {"type": "number", "format": "double"}
        if kind == "bool":
            return {"type": "boolean"}
        if kind in ("datetime", "date"):
            return self.ref(_TIME)
        if int_or_string:
            return self.ref(_INT_OR_STRING)
        return {"type": "object"}


def _camel(group: str, version: str) -> str:
    words = (group.removesuffix(".k8s.io").split(".") if group else ["core"])
    return "".join(w.capitalize() for w in words) + version.capitalize()


def _gvk(res: Resource, kind: str | None = None) -> Doc:
    return {"group": res.group, "kind": kind or res.kind, "version": res.version}


class _Paths:
    """The operations of a group-version's resources, as kube-apiserver's installer registers them."""

    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.paths: dict[str, Doc] = {}

    def body(self, schema: Doc) -> Doc:
        if self.b.v3:
            return {"requestBody": {"content": {"*/*": {"schema": schema}}, "required": True}}
        return {"parameters": [{"name": "body", "in": "body", "required": True, "schema": schema}]}

    def response(self, code: str, schema: Doc) -> Doc:
        if self.b.v3:
            return {code: {"description": "OK" if code == "200" else "Created",
                           "content": {t: {"schema": schema} for t in ("application/json", "application/yaml",
                                                                       "application/vnd.kubernetes.protobuf")}}}
        return {code: {"description": "OK" if code == "200" else "Created", "schema": schema}}

    def query(self, *names: str) -> list[Doc]:
        out = []
        for n in names:
            p: Doc = {"name": n, "in": "query", "uniqueItems": True}
            if self.b.v3:
                p["schema"] = {"type": "boolean" if n == "force" else "string"}
            else:
                p["type"] = "boolean" if n == "force" else "string"
            out.append(p)
        return out

    def operation(self, res: Resource, action: str, op_id: str, model: str, *, params: list[Doc],
                  body: Doc | None = None, created: bool = False, gvk: Doc | None = None) -> Doc:
        """One operation answering with ``model``; ``body``: what it takes (:meth:`body`, :meth:`patch_body`)."""
        schema = self.b.ref(self.b.add(model))
        op: Doc = {"tags": [_camel(res.group, res.version)], "operationId": op_id,
                   "parameters": params, "x-kubernetes-action": action,
                   "x-kubernetes-group-version-kind": gvk or _gvk(res)}
        if body is not None:
            body = dict(body)
            op["parameters"] = [*params, *body.pop("parameters", [])]
            op.update(body)
        if not self.b.v3:
            op["consumes"] = list(_PATCH_TYPES) if action == "patch" else ["*/*"]
            op["produces"] = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
        op["responses"] = {**self.response("200", schema), **(self.response("201", schema) if created else {}),
                           "401": {"description": "Unauthorized"}}
        return op

    def patch_body(self) -> Doc:
        schema = self.b.ref(_PATCH)
        if self.b.v3:
            return {"requestBody": {"content": {t: {"schema": schema} for t in _PATCH_TYPES}, "required": True}}
        return {"parameters": [{"name": "body", "in": "body", "required": True, "schema": schema}]}

    def add(self, res: Resource) -> None:
        model = fieldtypes.model_name(res.group_version, res.kind)
        if model is None:
            return
        root = f"/api/{res.version}" if not res.group else f"/apis/{res.group}/{res.version}"
        scope = "/namespaces/{namespace}" if res.namespaced else ""
        collection = f"{root}{scope}/{res.plural}"
        item = collection + "/{name}"
        name = ("Namespaced" if res.namespaced else "") + res.kind
        gv = _camel(res.group, res.version)
        write = self.query("dryRun", "fieldManager", "fieldValidation")
        ops: Doc = {}
        if "list" in res.verbs:
            list_model = fieldtypes.model_name(res.group_version, res.kind + "List")
            if list_model:
                ops["get"] = self.operation(res, "list", f"list{gv}{name}", list_model,
                                            params=self.query("labelSelector", "fieldSelector", "limit", "continue",
                                                              "resourceVersion", "watch"))
        if "create" in res.verbs:
            ops["post"] = self.operation(res, "post", f"create{gv}{name}", model, params=write,
                                         body=self.body(self.b.ref(self.b.names[model])), created=True)
        if "deletecollection" in res.verbs:
            ops["delete"] = self.operation(res, "deletecollection", f"deletecollection{gv}{name}", "V1Status",
                                           params=self.query("labelSelector", "fieldSelector", "dryRun"))
        self.put(collection, ops, res.namespaced)
        ops = {}
        if "get" in res.verbs:
            ops["get"] = self.operation(res, "get", f"read{gv}{name}", model, params=[])
        if "update" in res.verbs:
            ops["put"] = self.operation(res, "put", f"replace{gv}{name}", model, params=write,
                                        body=self.body(self.b.ref(self.b.names[model])), created=True)
        if "patch" in res.verbs:
            ops["patch"] = self.operation(res, "patch", f"patch{gv}{name}", model, params=write + self.query("force"),
                                          body=self.patch_body(), created=True)
        if "delete" in res.verbs:
            ops["delete"] = self.operation(res, "delete", f"delete{gv}{name}", "V1Status",
                                           params=self.query("dryRun", "gracePeriodSeconds", "propagationPolicy"))
        self.put(item, ops, res.namespaced, named=True)
        for sub in res.subresources:
            sub_model = fieldtypes.model_name(f"{sub.group}/{sub.version}" if sub.group else res.group_version,
                                              sub.kind)
            if sub_model is None:
                continue
            suffix = sub.name.capitalize()
            gvk = {"group": sub.group or res.group, "kind": sub.kind, "version": sub.version or res.version}
            ops = {}
            if "get" in sub.verbs:
                ops["get"] = self.operation(res, "get", f"read{gv}{name}{suffix}", sub_model, params=[], gvk=gvk)
            if "update" in sub.verbs:
                ops["put"] = self.operation(res, "put", f"replace{gv}{name}{suffix}", sub_model, params=write,
                                            body=self.body(self.b.ref(self.b.names[sub_model])), created=True, gvk=gvk)
            if "patch" in sub.verbs:
                ops["patch"] = self.operation(res, "patch", f"patch{gv}{name}{suffix}", sub_model,
                                              params=write + self.query("force"), body=self.patch_body(),
                                              created=True, gvk=gvk)
            if "create" in sub.verbs:
                ops["post"] = self.operation(res, "post", f"create{gv}{name}{suffix}", sub_model, params=write,
                                             body=self.body(self.b.ref(self.b.names[sub_model])), created=True, gvk=gvk)
            self.put(f"{item}/{sub.name}", ops, res.namespaced, named=True)

    def put(self, path: str, ops: Doc, namespaced: bool, named: bool = False) -> None:
        if not ops:
            return
        common = []
        for n, present in (("name", named), ("namespace", namespaced)):
            if present:
                p: Doc = {"name": n, "in": "path", "required": True, "uniqueItems": True}
                if self.b.v3:
                    p["schema"] = {"type": "string"}
                else:
                    p["type"] = "string"
                common.append(p)
        self.paths[path] = {**ops, "parameters": [*common, *self.query("pretty")]}


def _group_versions() -> dict[str, list[Resource]]:
    """URL path (``api/v1``, ``apis/apps/v1``) -> the served resources of that group-version."""
    out: dict[str, list[Resource]] = {}
    for res in _served():
        out.setdefault(f"apis/{res.group}/{res.version}" if res.group else f"api/{res.version}", []).append(res)
    return out


def _document(resources: list[Resource], *, v3: bool, version: str) -> Doc:
    builder = _Builder("#/components/schemas/" if v3 else "#/definitions/", v3)
    paths = _Paths(builder)
    for res in resources:
        for _, cls in _kind_models(res):
            kind = _model(cls).go
            gvks = [_gvk(res, kind)] if kind in (res.kind, res.kind + "List") else None
            builder.add(cls, gvks)
        paths.add(res)
    info = {"title": TITLE, "version": version}
    ordered = dict(sorted(builder.schemas.items()))
    if v3:
        return {"openapi": "3.0.0", "info": info, "paths": dict(sorted(paths.paths.items())),
                "components": {"schemas": ordered, "securitySchemes": {
                    "BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                    "name": "authorization", "in": "header"}}}}
    return {"swagger": "2.0", "info": info, "paths": dict(sorted(paths.paths.items())), "definitions": ordered,
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                                    "description": "Bearer Token authentication"}},
            "security": [{"BearerToken": []}]}


@dataclasses.dataclass(frozen=True, slots=True)
class Served:
    """One document, encoded once: its JSON, that JSON gzipped, and its hash (the ETag)."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, doc: Doc | bytes) -> Served:
        body = doc if isinstance(doc, bytes) else codec.dumps(doc)
        return cls(body, gzip.compress(body, compresslevel=6, mtime=0), hashlib.sha512(body).hexdigest().upper())


@functools.cache
def _v2(version: str) -> Doc:
    return _document(_served(), v3=False, version=version)


@functools.cache
def v2(version: str) -> Served:
    """``/openapi/v2``: every served group-version in one Swagger 2.0 document."""
    return Served.of(_v2(version))


@functools.cache
def v2_protobuf(version: str) -> Served:
    """The same document in protobuf (:mod:`labkit.apiserver.openapi_proto`)."""
    return Served.of(openapi_proto.encode(_v2(version)))


@functools.cache
def v3(version: str) -> dict[str, Served]:
    """URL path of a group-version -> its OpenAPI 3.0 document."""
    return {path: Served.of(_document(resources, v3=True, version=version))
            for path, resources in _group_versions().items()}


@functools.cache
def v3_index(version: str) -> Served:
    """``/openapi/v3``: where each group-version's document is, at its current hash."""
    return Served.of({"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={doc.etag}"}
                                for path, doc in v3(version).items()}})
