"""A seeded generator of hostile requests: what a fuzzer, a buggy client or a careless learner sends.

There is no one Kubernetes file this mirrors: kube-apiserver is hardened by its fuzz tests
(``k8s.io/apimachinery/pkg/api/apitesting/fuzzer`` round-trips objects, ``test/integration/apiserver``
sends bad bodies, patches and options). This gathers the same kinds of input into one stream of
:class:`HostileRequest`\\ s, each reproducible from its seed and index:

- bodies that are not JSON (cut short, stray bytes, invalid UTF-8, lone surrogates, numbers JSON or
  int64 cannot hold) or not protobuf, bodies above kube's 3 MiB limit, arrays nested deeper than kube's
  decoder goes;
- objects of a few kinds (Pod, Deployment, Service, ConfigMap, Secret, Job, events.k8s.io Event) with
  one field, list or map replaced by a value of another type, created, updated or patched;
- list and watch queries with bad selectors, limits, resourceVersions, continue tokens and watch options
  (a watch that would be valid carries ``timeoutSeconds=-1``, so that it ends at once);
- patches of each type that cannot apply: JSON patch operations on missing paths or with bad ops,
  merge patches of the wrong types, strategic merge patches with bad ``$`` directives, apply patches of
  bad YAML.

Every request addresses one namespace and the objects named ``TARGET`` in it, so a test can check that
nothing else changed. Left out: well-formed protobuf bodies of wrong types, streaming subresources
(exec, attach, port-forward), cluster-scoped writes.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import random
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

TARGET = "hostile-target"
#: kube-apiserver's request body limit (``MaxRequestBodyBytes``)
MAX_BODY = 3 * 1024 * 1024

JSON = "application/json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@dataclasses.dataclass(frozen=True, slots=True)
class HostileRequest:
    """One request: ``what`` says how it was made, for a failure message."""

    method: str
    path: str  # with its query
    body: bytes
    content_type: str
    what: str
    accept: str = ""


def _container(name: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", "command": ["sh", "-c"], "args": ["sleep 3600"],
            "env": [{"name": "MODE", "value": "x"}],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5},
            "securityContext": {"runAsUser": 1000, "readOnlyRootFilesystem": True}}


def _pod_spec() -> dict[str, Any]:
    return {"containers": [_container("main")], "volumes": [{"name": "scratch", "emptyDir": {}}],
            "restartPolicy": "Always", "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 5}


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "labels": {"app": "hostile"}, "annotations": {"note": "x"}}


def templates(namespace: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """plural -> (collection path below the namespace, a valid object of its kind named :data:`TARGET`)."""
    labels = {"app": "hostile"}
    return {
        "pods": ("api/v1", {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(TARGET), "spec": _pod_spec()}),
        "deployments": ("apis/apps/v1", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(TARGET),
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": labels}, "spec": _pod_spec()}}}),
        "services": ("api/v1", {
            "apiVersion": "v1", "kind": "Service", "metadata": _meta(TARGET),
            "spec": {"type": "ClusterIP", "selector": labels, "sessionAffinity": "None",
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}),
        "configmaps": ("api/v1", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(TARGET),
                                  "data": {"a": "1"}, "binaryData": {"b": "AQI="}, "immutable": False}),
        "secrets": ("api/v1", {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(TARGET), "type": "Opaque",
                               "data": {"a": "MQ=="}, "stringData": {"b": "2"}}),
        "events": ("apis/events.k8s.io/v1", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": _meta(TARGET),
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/x",
            "reportingInstance": "x-1", "action": "Acting", "reason": "Acted", "type": "Normal", "note": "x",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "name": TARGET, "namespace": namespace},
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}}),
        "jobs": ("apis/batch/v1", {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(TARGET),
            "spec": {"backoffLimit": 1, "completions": 1, "parallelism": 1, "suspend": True,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {**_pod_spec(), "restartPolicy": "Never"}}}}),
    }


FieldPath = tuple[str | int, ...]


def _paths(value: Any, at: FieldPath = ()) -> Iterator[FieldPath]:
    """Every field, list item, list and map of ``value`` (below its root)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*at, key))
    elif isinstance(value, list):
        for n, child in enumerate(value):
            yield from _paths(child, (*at, n))


def _replace(obj: Any, path: FieldPath, value: Any) -> Any:
    out = json.loads(json.dumps(obj))
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return out


def _without(obj: Any, path: FieldPath) -> Any:
    out = json.loads(json.dumps(obj))
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return out


def _wrong_values(current: Any) -> list[Any]:
    """Values of other JSON types than ``current`` (and a few of the same type kube refuses)."""
    values: list[Any] = [True, 7, -1, 1.5, 2**63, -(2**63) - 1, "x", "", [], [1, "a"], {}, {"k": [1]}]
    kept = [v for v in values if type(v) is not type(current)]
    if isinstance(current, str):
        kept += ["\u0000", "a" * 300, "\u2028<&>", "-" * 64]
    if isinstance(current, int) and not isinstance(current, bool):
        kept += [-(2**31), 2**31, 10**30]
    return kept


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class Generator:
    """Hostile requests for ``namespace``; the same ``seed`` gives the same requests."""

    def __init__(self, namespace: str, seed: int = 0) -> None:
        self.namespace = namespace
        self.random = random.Random(seed)
        self.kinds = templates(namespace)
        self._families: list[tuple[int, Callable[[], HostileRequest]]] = [
            (3, self.broken_json), (8, self.wrong_type), (1, self.huge_body), (1, self.deep_nesting),
            (4, self.bad_query), (6, self.bad_patch), (1, self.odd_method), (3, self.bad_metadata),
            (3, self.subresource), (1, self.odd_accept)]

    # --- helpers ---

    def collection(self, plural: str) -> str:
        return f"/{self.kinds[plural][0]}/namespaces/{self.namespace}/{plural}"

    def item(self, plural: str, name: str = TARGET) -> str:
        return f"{self.collection(plural)}/{name}"

    def valid(self, plural: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.kinds[plural][1]))

    def plural(self) -> str:
        return self.random.choice(list(self.kinds))

    def write(self, plural: str, body: bytes, content_type: str, what: str) -> HostileRequest:
        """``body`` sent as a create, an update or a patch of the target."""
        verb = self.random.choice(("POST", "PUT", "PATCH"))
        if verb == "POST":
            return HostileRequest("POST", self.collection(plural), body, content_type, f"create {plural}: {what}")
        if verb == "PUT":
            return HostileRequest("PUT", self.item(plural), body, content_type, f"update {plural}: {what}")
        patch_type = self.random.choice((MERGE, STRATEGIC, APPLY))
        query = "?fieldManager=hostile&force=true" if patch_type == APPLY else ""
        return HostileRequest("PATCH", self.item(plural) + query, body, patch_type, f"patch {plural}: {what}")

    # --- families ---

    def broken_json(self) -> HostileRequest:
        plural = self.plural()
        good = json.dumps(self.valid(plural)).encode()
        r = self.random
        choice = r.randrange(9)
        if choice == 0:
            body, what = good[:r.randrange(1, len(good))], "cut short"
        elif choice == 1:
            at = r.randrange(len(good))
            body, what = good[:at] + bytes([r.randrange(256)]) + good[at:], "a stray byte"
        elif choice == 2:
            body, what = good.replace(b'"x"', b'"\xff\xfe"', 1), "invalid UTF-8"
        elif choice == 3:
            body, what = good.replace(b'"x"', b'"\\ud800"', 1), "a lone surrogate"
        elif choice == 4:
            body, what = good.replace(b"8080", b"1e999", 1), "a number beyond float64"
        elif choice == 5:
            body, what = good.replace(b"8080", b"123456789012345678901234567890", 1), "a number beyond int64"
        elif choice == 6:
            body, what = bytes(r.randrange(256) for _ in range(r.randrange(1, 64))), "random bytes"
        elif choice == 7:
            body = r.choice((b"null", b"[]", b"1", b'"s"', b"{}", b"", b"{,}", b"NaN", b"{'a': 1}"))
            what = "not an object"
        else:  # kube's protobuf envelope (magic k8s\0) around bytes that are not one, or no envelope at all
            junk = bytes(r.randrange(256) for _ in range(r.randrange(0, 80)))
            body = r.choice((b"k8s\x00" + junk, junk, b"k8s\x00\x0a\x02v1\x12\x03Pod\x1a\xff\xff\xff\xff\x0f"))
            return HostileRequest("POST", self.collection(plural), body, PROTOBUF,
                                  f"create {plural}: protobuf {body[:40]!r}")
        return self.write(plural, body, JSON, what)

    def wrong_type(self) -> HostileRequest:
        plural = self.plural()
        obj = self.valid(plural)
        paths = [p for p in _paths(obj) if p[0] not in ("apiVersion", "kind")]
        path = self.random.choice(paths)
        current: Any = obj
        for step in path:
            current = current[step]
        if self.random.random() < 0.15:
            changed, what = _without(obj, path), f"{_dotted(path)} left out"
        else:
            value = self.random.choice(_wrong_values(current))
            changed, what = _replace(obj, path, value), f"{_dotted(path)} = {json.dumps(value)[:40]}"
        return self.write(plural, json.dumps(changed).encode(), JSON, what)

    def huge_body(self) -> HostileRequest:
        plural = "configmaps"
        obj = self.valid(plural)
        obj["data"] = {"big": "x" * (MAX_BODY + self.random.randrange(1, 4096))}
        return self.write(plural, json.dumps(obj).encode(), JSON, "a body above 3 MiB")

    def deep_nesting(self) -> HostileRequest:
        plural = self.plural()
        depth = self.random.choice((100, 2000, 10_001, 20_000))
        obj = json.dumps(self.valid(plural))
        body = obj[:-1] + f', "spec2": {_nested(depth)}}}'
        if self.random.random() < 0.5:
            body = obj.replace('"x"', _nested(depth), 1)
        return self.write(plural, body.encode(), JSON, f"arrays nested {depth} deep")

    def bad_query(self) -> HostileRequest:
        r = self.random
        plural = self.plural()
        params: dict[str, str] = {}
        key, values = r.choice(list(_BAD_QUERY.items()))
        params[key] = r.choice(values)
        if r.random() < 0.3:
            key, values = r.choice(list(_BAD_QUERY.items()))
            params[key] = r.choice(values)
        watch = r.random() < 0.4
        if watch:
            params["watch"] = "true"
            if "timeoutSeconds" not in params or params["timeoutSeconds"].lstrip("-").isdigit():
                params["timeoutSeconds"] = "-1"  # a watch that is valid after all ends at once
        if r.random() < 0.2:  # list options sent with a write or a delete
            method = r.choice(("DELETE", "POST", "PATCH"))
            path = self.collection(plural) if method != "PATCH" else self.item(plural)
            if method == "DELETE":
                params.setdefault("dryRun", "All")  # a delete of the collection must not delete it
            return HostileRequest(method, path + "?" + _query(params), b"{}", MERGE if method == "PATCH" else JSON,
                                  f"{method} {plural} with {params}")
        path = self.item(plural) if r.random() < 0.2 else self.collection(plural)
        return HostileRequest("GET", path + "?" + _query(params), b"", "", f"{'watch' if watch else 'list'} "
                              f"{plural} with {params}")

    def bad_patch(self) -> HostileRequest:
        r = self.random
        plural = self.plural()
        kind = r.randrange(4)
        if kind == 0:
            ops = [r.choice(_BAD_JSON_PATCH_OPS) for _ in range(r.randrange(1, 3))]
            return HostileRequest("PATCH", self.item(plural), json.dumps(ops).encode(), JSON_PATCH,
                                  f"json patch {plural}: {ops}")
        if kind == 1:
            doc = r.choice(_BAD_MERGE_PATCHES)
            return HostileRequest("PATCH", self.item(plural), json.dumps(doc).encode(), MERGE,
                                  f"merge patch {plural}: {doc}")
        if kind == 2:
            doc = r.choice(_BAD_STRATEGIC_PATCHES)
            return HostileRequest("PATCH", self.item(plural), json.dumps(doc).encode(), STRATEGIC,
                                  f"strategic merge patch {plural}: {doc}")
        text = r.choice(_BAD_APPLY)
        manager = r.choice(("?fieldManager=hostile", "", "?fieldManager=" + "m" * 200, "?fieldManager=hostile&force=x"))
        return HostileRequest("PATCH", self.item(plural) + manager, text.encode(), APPLY,
                              f"apply {plural}{manager}: {text[:60]!r}")

    def odd_method(self) -> HostileRequest:
        r = self.random
        plural = self.plural()
        method, path, body, content_type = r.choice((
            ("PUT", self.collection(plural), b"{}", JSON), ("PATCH", self.collection(plural), b"{}", MERGE),
            ("POST", self.item(plural), b"{}", JSON), ("DELETE", self.item(plural, "missing"), b"{", JSON),
            ("DELETE", self.item(plural, "missing"), b'{"gracePeriodSeconds": "x"}', JSON),
            ("DELETE", self.item(plural, "missing"), b'{"propagationPolicy": "Sideways"}', JSON),
            ("POST", self.collection(plural), b"{}", "text/plain"),
            ("POST", self.collection(plural), b"{}", PROTOBUF),
            ("GET", self.item(plural) + "/nosuchsubresource", b"", ""),
            ("GET", self.item(plural, "a%2Fb"), b"", ""), ("GET", self.item(plural, "x%0Ay%00"), b"", ""),
            ("DELETE", self.item(plural, "%ff" * 300), b"", ""), ("PUT", self.item(plural, ".."), b"{}", JSON),
            ("GET", f"/api/v1/namespaces/{self.namespace}%0A/{plural}", b"", ""),
            ("GET", f"/api/v1/namespaces/{self.namespace}/{plural}x", b"", ""),
            ("OPTIONS", self.collection(plural), b"", ""),
        ))
        return HostileRequest(method, path, body, content_type, f"{method} {path} ({content_type or 'no body'})")

    def bad_metadata(self) -> HostileRequest:
        plural = self.plural()
        obj = self.valid(plural)
        field, value = self.random.choice(_BAD_METADATA)
        obj["metadata"][field] = value
        return self.write(plural, json.dumps(obj).encode(), JSON, f"metadata.{field} = {json.dumps(value)[:60]}")

    def subresource(self) -> HostileRequest:
        r = self.random
        plural = r.choice(("pods", "deployments", "jobs", "services"))
        wrong = r.choice(_wrong_values({}))
        if plural == "pods" and r.random() < 0.5:
            sub, method, body = r.choice((
                ("binding", "POST", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": TARGET},
                                     "target": wrong}),
                ("binding", "POST", {"target": {"kind": "Node", "name": "no-such-node"}, "metadata": wrong}),
                ("eviction", "POST", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}),
                ("eviction", "POST", {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": TARGET},
                                      "deleteOptions": {"gracePeriodSeconds": wrong, "dryRun": ["All"]}}),
                ("log", "GET", None), ("ephemeralcontainers", "PATCH", {"spec": {"ephemeralContainers": wrong}}),
            ))
            query = r.choice(("", "?tailLines=x", "?sinceSeconds=-1", "?container=nope", "?limitBytes=0",
                              "?sinceTime=yesterday", "?follow=maybe"))
            return HostileRequest(method, f"{self.item(plural)}/{sub}{query if method == 'GET' else ''}",
                                  b"" if body is None else json.dumps(body).encode(),
                                  MERGE if method == "PATCH" else JSON, f"{method} {plural}/{sub}: {body}")
        if plural == "deployments" and r.random() < 0.5:
            body = r.choice(({"spec": {"replicas": wrong}}, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                                             "metadata": {"name": TARGET}, "spec": {"replicas": -3}},
                             {"kind": "Deployment"}, wrong))
            method = r.choice(("PUT", "PATCH"))
            return HostileRequest(method, f"{self.item(plural)}/scale", json.dumps(body).encode(),
                                  MERGE if method == "PATCH" else JSON, f"{method} {plural}/scale: {body}")
        obj = self.valid(plural)
        obj["status"] = r.choice(({"phase": wrong}, {"conditions": wrong}, {"conditions": [{"type": wrong}]},
                                  {"replicas": wrong}, {"loadBalancer": {"ingress": wrong}}, wrong))
        method = r.choice(("PUT", "PATCH"))
        body = obj if method == "PUT" else {"status": obj["status"]}
        return HostileRequest(method, f"{self.item(plural)}/status", json.dumps(body).encode(),
                              MERGE if method == "PATCH" else JSON, f"{method} {plural}/status: {obj['status']}")

    def odd_accept(self) -> HostileRequest:
        r = self.random
        plural = self.plural()
        accept = r.choice(("application/vnd.kubernetes.protobuf", "text/html", "application/json;as=Table",
                           "application/json;as=Table;g=meta.k8s.io;v=v2", "application/json;as=Table;v=v1;g=x",
                           "*/*;q=x", ";;;", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                           "application/json;as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2"))
        path = self.item(plural) if r.random() < 0.5 else self.collection(plural)
        return HostileRequest("GET", path, b"", "", f"GET {path} accepting {accept}", accept)

    # --- the stream ---

    def requests(self, count: int) -> Iterator[HostileRequest]:
        families = [f for weight, f in self._families for _ in range(weight)]
        huge = 0
        for _ in range(count):
            family = self.random.choice(families)
            if family == self.huge_body:  # 3 MiB each: a few are enough to show the limit holds
                huge += 1
                if huge > 5:
                    family = self.wrong_type
            yield family()


def _dotted(path: FieldPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())


_BAD_QUERY: dict[str, list[str]] = {
    "labelSelector": ["a in (", "a=b,,", "!", "a notin b", "=x", "a==b==c", "x" * 70 + "=y", "a in ()", "a,b in (c",
                      "a=b c", "key/with/slashes=1", "a=(b)", "a!=", "a>b", "a>1.5.5", "a<x"],
    "fieldSelector": ["metadata.name==", "spec.nodeName", "a=b", "metadata.name=a=b", "status.phase!~x", ",",
                      "metadata.namespace=a,metadata.uid=1", "x" * 300 + "=1"],
    "limit": ["-1", "abc", "1.5", "99999999999999999999", "", "0x10", "1_000"],
    "resourceVersion": ["abc", "-1", "1.5", "99999999999999999999", "0x1", " 1", "999999999"],
    "resourceVersionMatch": ["Exact", "NotOlderThan", "Sometimes", ""],
    "continue": ["abc", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoiYSJ9", "e30=", "%%%", "bnVsbA=="],
    "timeoutSeconds": ["abc", "-5", "99999999999999999999", "1.5", "", "+-1"],
    "allowWatchBookmarks": ["maybe", "", "2"],
    "sendInitialEvents": ["true", "false", "perhaps"],
    "fieldValidation": ["Loose", "", "strict"],
    "dryRun": ["Some", "", "all"],
    "propagationPolicy": ["Sideways"],
    "gracePeriodSeconds": ["soon", "-1", "99999999999999999999"],
    "includeObject": ["Everything"],
}

_BAD_METADATA: list[tuple[str, Any]] = [
    ("creationTimestamp", "yesterday"), ("creationTimestamp", 5), ("deletionTimestamp", "2020-01-01T00:00:00Z"),
    ("deletionTimestamp", "soon"), ("deletionGracePeriodSeconds", -5), ("resourceVersion", "abc"),
    ("resourceVersion", "-1"), ("resourceVersion", "1"), ("resourceVersion", 5), ("uid", 5), ("uid", "other"),
    ("generation", "one"), ("generation", -1), ("generateName", "x" * 300), ("generateName", "Bad_"),
    ("name", ""), ("name", "a/b"), ("name", ".."), ("name", "x" * 300), ("namespace", "elsewhere"),
    ("namespace", 5), ("labels", {"bad key!": "v"}), ("labels", {"k": "bad value!"}), ("labels", {"k": 5}),
    ("annotations", {"k": "v" * (300 * 1024)}), ("annotations", {"": "v"}), ("finalizers", ["bad finalizer!"]),
    ("finalizers", [1]), ("finalizers", ["kubernetes"]), ("ownerReferences", [{"name": "x"}]),
    ("ownerReferences", [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "u", "controller": "yes"}]),
    ("ownerReferences", [{"apiVersion": "v1", "kind": "Pod", "name": "x", "uid": "u", "controller": True}] * 2),
    ("ownerReferences", "x"), ("managedFields", [{"manager": 1}]), ("managedFields", "x"),
    ("managedFields", [{"manager": "m", "operation": "Sideways", "fieldsType": "FieldsV1", "fieldsV1": {"f:x": {}}}]),
    ("managedFields", [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV2", "fieldsV1": []}]),
    ("managedFields", [{"manager": "m", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"x": 1}}]),
    ("selfLink", 5), ("unknownField", {"a": 1}),
]

_BAD_JSON_PATCH_OPS: list[Any] = [
    {"op": "replace", "path": "/spec/nosuch/field", "value": 1},
    {"op": "remove", "path": "/metadata/labels/missing"},
    {"op": "add", "path": "/spec/containers/99", "value": {}},
    {"op": "move", "from": "/nowhere", "path": "/metadata/labels/x"},
    {"op": "copy", "from": "/metadata/name", "path": "/metadata/name/inner"},
    {"op": "test", "path": "/metadata/name", "value": "other"},
    {"op": "frobnicate", "path": "/metadata"},
    {"op": "add", "path": "metadata/labels/x", "value": "y"},
    {"op": "add", "path": "/metadata/labels/x"},
    {"op": "replace", "value": 1},
    {"path": "/metadata/labels"},
    {"op": "add", "path": "/metadata/labels/~2", "value": "y"},
    {"op": "remove", "path": "/metadata"},
    {"op": "replace", "path": "/metadata/name", "value": 5},
    {"op": "add", "path": "/spec/containers/-", "value": "not an object"},
    {"op": "replace", "path": "/spec/containers/0", "value": {"image": "x"}},
    {"op": "add", "path": "/spec/containers/-1", "value": {}},
    {"op": "replace", "path": "", "value": []},
    "not an op", 7, None, [],
]

_BAD_MERGE_PATCHES: list[Any] = [
    {"metadata": "x"}, {"metadata": {"labels": [1]}}, {"metadata": {"name": 5}}, {"spec": []}, {"spec": "x"},
    {"spec": {"containers": {"name": "x"}}}, {"spec": {"replicas": "three"}}, {"spec": {"containers": [1]}},
    {"data": {"a": 1}}, {"data": [1]}, {"spec": {"ports": [{"port": "http"}]}}, {"apiVersion": "v2"},
    {"kind": "Other"}, {"metadata": {"resourceVersion": "1"}}, {"metadata": {"uid": "other"}},
    {"metadata": None}, {"spec": {"containers": None}}, {"spec": {"template": {"spec": {"containers": [{}]}}}},
    {"metadata": {"managedFields": [{"manager": 1}]}}, {"metadata": {"managedFields": "x"}},
    {"metadata": {"managedFields": [{"fieldsV1": {"f:a": "x"}, "fieldsType": "FieldsV1", "manager": "m",
                                      "operation": "Apply"}]}},
    {"metadata": {"ownerReferences": [{"name": "x"}]}}, {"metadata": {"finalizers": ["a/b/c", 1]}},
]

_BAD_STRATEGIC_PATCHES: list[Any] = [
    {"$patch": "explode"}, {"spec": {"$patch": "replace", "containers": 1}},
    {"spec": {"containers": [{"$patch": "delete"}]}}, {"spec": {"containers": [{"name": "main", "$patch": "bogus"}]}},
    {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}, {"spec": {"$setElementOrder/containers": "x"}},
    {"spec": {"$retainKeys": "x"}}, {"spec": {"$retainKeys": [1, 2]}},
    {"spec": {"$deleteFromPrimitiveList/finalizers": "x"}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": [1]}},
    {"spec": {"containers": [{"name": "main", "ports": [{"protocol": "TCP"}]}]}},
    {"spec": {"containers": [{"image": "no-name"}]}}, {"spec": {"volumes": [{"$patch": "replace"}]}},
    {"metadata": {"labels": {"$patch": "delete"}}}, {"spec": {"template": {"spec": {"containers": [[]]}}}},
    {"data": {"$patch": "merge", "a": 1}}, {"spec": {"ports": [{"targetPort": 1}]}},
]

_BAD_APPLY: list[str] = [
    "apiVersion: v1\nkind: Pod\nmetadata: [unclosed",
    "{{{",
    "- a\n- b\n",
    "just a string",
    "apiVersion: v1\nkind: ConfigMap\n",
    "kind: ConfigMap\nmetadata: {name: hostile-target}\n",
    "apiVersion: v1\nkind: Secret\nmetadata: {name: other-name}\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile-target}\ndata: {a: [1, 2]}\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hostile-target}\nspec: {replicas: many}\n",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: hostile-target}\nspec: {containers: [{image: x}]}\n",
    "a: &a [*a]\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile-target}\n---\nkind: Other\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile-target}\ndata: {? [a, b] : c}\n",
    "\t- bad indentation",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hostile-target, labels: {a: {b: c}}}\n",
    "\xff\xfe",
]


#: the codes kube-apiserver answers bad input with, and the reasons it gives each
SENSIBLE: dict[int, set[str]] = {
    400: {"BadRequest"}, 401: {"Unauthorized"}, 403: {"Forbidden"}, 404: {"NotFound"},
    405: {"MethodNotAllowed"}, 406: {"NotAcceptable"}, 409: {"AlreadyExists", "Conflict"}, 410: {"Expired", "Gone"},
    413: {"RequestEntityTooLarge"}, 415: {"UnsupportedMediaType"}, 422: {"Invalid"}, 429: {"TooManyRequests"},
}


def problem(code: int, content_type: str, body: bytes) -> str:
    """What is wrong with an answer to a hostile request ("" when nothing): a 5xx, or an error that is
    not a kube ``Status`` with a sensible code and reason."""
    if code >= 500:
        return f"answered {code}: {body[:300]!r}"
    if code < 400:
        return ""
    if code not in SENSIBLE:
        return f"answered {code}, which kube does not answer bad input with: {body[:300]!r}"
    if not content_type.startswith("application/json"):
        return f"answered {code} as {content_type!r}, not a JSON Status: {body[:300]!r}"
    try:
        status = json.loads(body)
    except ValueError:
        return f"answered {code} with a body that is not JSON: {body[:300]!r}"
    expected = ("Status", "v1", "Failure", code)
    got = tuple(status.get(k) for k in ("kind", "apiVersion", "status", "code")) if isinstance(status, dict) else ()
    if got != expected or status.get("reason") not in SENSIBLE[code] or not status.get("message"):
        return f"answered {code} with {status!r}, not a Status with a reason for {code}"
    return ""


class Connection:
    """One keep-alive HTTPS connection to an API server, with a client certificate (a cluster's admin:
    ``pki / "admin.crt"``); reopened when the server closes it."""

    def __init__(self, url: str, ca: Path, cert: Path, key: Path, timeout: float = 10) -> None:
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 443, timeout
        self.conn = self._open()

    def _open(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)

    def send(self, method: str, path: str, body: bytes = b"", content_type: str = "application/json",
             accept: str = "", headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        """(code, Content-Type, body); an OSError or HTTPException when there is no answer in time."""
        headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        if accept:
            headers["Accept"] = accept
        try:
            self.conn.request(method, path, body=body or None, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.reopen()
            raise
        if resp.will_close:
            self.reopen()
        return resp.status, resp.getheader("Content-Type", ""), data

    def reopen(self) -> None:
        self.conn.close()
        self.conn = self._open()

    def close(self) -> None:
        self.conn.close()


@dataclasses.dataclass
class Report:
    """What :func:`run` saw: how many requests were answered with each code, and every problem."""

    sent: int = 0
    elapsed: float = 0.0
    codes: Counter[int] = dataclasses.field(default_factory=Counter)
    problems: list[str] = dataclasses.field(default_factory=list)


def run(conn: Connection, generator: Generator, count: int) -> Report:
    """Send ``count`` of ``generator``'s requests and judge each answer with :func:`problem`; a request
    with no answer in the connection's timeout is a problem (a hang)."""
    report = Report()
    started = time.monotonic()
    for n, req in enumerate(generator.requests(count)):
        report.sent += 1
        try:
            code, content_type, body = conn.send(req.method, req.path, req.body, req.content_type, req.accept)
        except (OSError, http.client.HTTPException) as e:
            report.problems.append(f"#{n} {req.what}: no answer: {type(e).__name__}: {e}")
            continue
        report.codes[code] += 1
        wrong = problem(code, content_type, body)
        if wrong:
            report.problems.append(f"#{n} {req.what}: {wrong}")
    report.elapsed = time.monotonic() - started
    return report
