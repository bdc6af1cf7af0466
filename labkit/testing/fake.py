"""A fake API client: objects kept in memory, every request recorded, errors injected on demand.

Mirrors client-go's ``kubernetes/fake`` clientset and the ``k8s.io/client-go/testing`` package it is
built on: an ``ObjectTracker`` (:class:`ObjectTracker`) answers get, list, create, update, patch and
delete from memory; every request is first recorded as an ``Action`` (:class:`Action`: verb, resource,
namespace, name, body); ``PrependReactor`` (:meth:`FakeClient.prepend_reactor`) puts a reaction in
front of the tracker, e.g. to answer one create with a 409 (:func:`fail`). :class:`FakeClient` has the
methods of :class:`labkit.client.Client` that components call (``get``, ``create``, ``update``,
``patch``, ``delete``, ``request``), so a controller takes it in place of the real one; an
:class:`~labkit.events.EventRecorder` on it writes its Events into the tracker, where
:meth:`FakeClient.events` reads them back as client-go's ``FakeRecorder`` strings
(``"Normal SuccessfulCreate Created pod: web-x7k2p"``).

An action's ``resource`` is the plural, with the subresource after a slash (``pods/status``,
``replicasets/scale``, ``namespaces/finalize``); a list or delete of a collection has no name
(verbs ``list``, ``deletecollection``); the patch type is on the action (``patch_type``), outside the
five fields a test compares with a tuple. Discovery answers come from the API server's own resource
table and are recorded as client-go's ``FakeDiscovery`` records them (verb ``get``, resource
``group`` or ``resource``).

Closer to the API server than client-go's tracker, because controllers depend on it: ``generateName``
gets a suffix and every new object a uid, ``creationTimestamp`` (from the fake clock) and
``generation`` (for kinds whose strategy tracks it); each write bumps one ``resourceVersion``, and an
update that names a stale one is a 409; an update of the main resource keeps ``status`` and one of
``/status`` changes only ``status``; an unchanged object is not written again; label and field
selectors filter lists; ``preconditions`` and ``propagationPolicy`` on delete, finalizers (an object
with finalizers, or a namespace with ``spec.finalizers``, is only marked with ``deletionTimestamp``
and goes when the last is removed); ``/scale`` reads and writes ``spec.replicas``; a patch that
changes ``metadata.uid`` is a 422 and an update naming another uid a 409; a cluster-scoped resource
asked for inside a namespace is a 404, as that path does not exist. Status errors carry the API
server's reasons and messages (``labkit.apiserver.errors``); patches are applied by the API server's
own code (``labkit.apiserver.patch``).

Left out: validation, defaulting and admission (an object is stored as given), graceful deletion
(a pod goes at once), server-side apply, watch (informers are filled by
:class:`labkit.testing.FakeInformers`, and changes reach them when a test delivers them), the
``binding``, ``eviction``, ``log``, ``exec`` and ``token`` subresources, paging. An Event's name and
timestamps are the recorder's own, from the system clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from labkit import codec
from labkit.apimachinery.fields import parse_field_selector
from labkit.apimachinery.labels import SelectorError, parse_label_selector
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apiserver import discovery, errors, resources
from labkit.apiserver.patch import PatchError, apply_json_patch, apply_merge_patch, apply_strategic_merge_patch
from labkit.client import APIStatusError
from labkit.clock import Clock
from labkit.ids import IdSource
from labkit.testing.clock import FakeClock

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

#: resources that name discovery documents in actions (client-go's ``FakeDiscovery``)
DISCOVERY = ("group", "resource")


@dataclasses.dataclass(frozen=True, eq=False)
class Action:
    """One request, as client-go's ``testing.Action`` records it. Compares equal to the tuple
    ``(verb, resource, namespace, name, body)``, or to another action field by field."""

    verb: str  # get list create update patch delete deletecollection
    resource: str  # plural, or plural/subresource
    namespace: str = ""
    name: str = ""
    body: Any = None  # the object, patch or DeleteOptions as sent
    patch_type: str = ""
    api_version: str = ""
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def plural(self) -> str:
        return self.resource.partition("/")[0]

    @property
    def subresource(self) -> str:
        return self.resource.partition("/")[2]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.verb, self.resource, self.namespace, self.name, self.body))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Action):
            return dataclasses.astuple(self) == dataclasses.astuple(other)
        if isinstance(other, tuple):
            return tuple(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a tuple by value, so not hashable

    def __repr__(self) -> str:
        extra = f", patch_type={self.patch_type!r}" if self.patch_type else ""
        return f"Action{tuple(self)!r}"[:-1] + extra + ")"


#: a reaction answers an action with an object (handled), None (not handled: ask the next one) or raises
Reaction = Callable[[Action], Obj | None]


@dataclasses.dataclass
class Reactor:
    """``SimpleReactor``: a reaction for one verb and resource; ``*`` matches any. A resource without a
    subresource does not match actions on its subresources (``pods`` is not ``pods/status``)."""

    verb: str
    resource: str
    reaction: Reaction

    def handles(self, action: Action) -> bool:
        return self.verb in ("*", action.verb) and self.resource in ("*", action.resource)


def status_error(code: int, action: Action, message: str = "") -> APIStatusError:
    """The error the API server would answer ``action`` with for ``code``, worded as it does."""
    res = resources.lookup(*_split_gv(action.api_version), action.plural)
    group = res.group if res is not None else ""
    name = action.name
    if not name and isinstance(action.body, dict):  # a create names its object in the body
        meta = action.body.get("metadata") or {}
        name = meta.get("name") or meta.get("generateName", "")
    if code == 404:
        error = errors.not_found(action.plural, name, group)
    elif code == 409 and action.verb == "create":
        error = errors.already_exists(action.plural, name, group)
    elif code == 409:
        error = errors.conflict(action.plural, name, message or errors.CONFLICT_MODIFIED, group)
    elif code == 403:
        error = errors.forbidden(message or f'{action.plural} "{name}" is forbidden', action.plural, name, group)
    elif code == 422:
        error = errors.unprocessable(message or f'{action.plural} "{name}" is invalid')
    elif code == 500:
        error = errors.internal(message or "an error on the server")
    else:
        error = errors.ApiError(code, "", message or f"error {code}")
    return APIStatusError(code, error.status())


def fail(code: int, message: str = "", *, times: int | None = None) -> Reaction:
    """A reaction that answers with the API server's error for ``code`` (``times`` times, then lets the
    request through to the next reactor)."""
    left = [times]

    def react(action: Action) -> Obj | None:
        if left[0] is not None:
            if left[0] <= 0:
                return None
            left[0] -= 1
        raise status_error(code, action, message)
    return react


def _split_gv(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What the tracker needs to know of a resource (from the API server's table when it is there)."""

    api_version: str
    plural: str
    kind: str
    namespaced: bool
    has_status: bool
    tracks_generation: bool
    field_labels: Callable[[Obj], dict[str, str]]

    @classmethod
    def of(cls, api_version: str, plural: str, *, namespaced: bool | None = None, kind: str = "") -> _Kind:
        res = resources.lookup(*_split_gv(api_version), plural)
        if res is None:  # a resource the API server does not serve (a learner's own): plain storage
            return cls(api_version, plural, kind or plural.capitalize().rstrip("s"), bool(namespaced), False, False,
                       lambda _o: {})
        return cls(api_version, plural, res.kind, res.namespaced, res.subresource("status") is not None,
                   res.strategy.tracks_generation, res.strategy.field_labels)


class ObjectTracker:
    """The objects, by ``(apiVersion, plural)`` and ``(namespace, name)``, and what changed since a
    test last looked (:meth:`take_changes`, what a watch would have sent)."""

    def __init__(self, *, clock: Clock | None = None, seed: int = 0) -> None:
        self.clock = clock or FakeClock()
        self.ids = IdSource(seed)
        self.resource_version = 0
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._kinds: dict[tuple[str, str], _Kind] = {}
        self._changes: list[tuple[str, str, str, Obj]] = []  # (ADDED|MODIFIED|DELETED, apiVersion, plural, object)

    # --- bookkeeping ------------------------------------------------------------------------------

    def kind_of(self, api_version: str, plural: str, *, namespaced: bool | None = None) -> _Kind:
        key = (api_version, plural)
        if key not in self._kinds:
            self._kinds[key] = _Kind.of(api_version, plural, namespaced=namespaced)
        return self._kinds[key]

    def _bucket(self, api_version: str, plural: str) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault((api_version, plural), {})

    def _write(self, change: str, kind: _Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        bucket = self._bucket(kind.api_version, kind.plural)
        key = (meta.get("namespace", ""), meta["name"])
        self.resource_version += 1
        meta["resourceVersion"] = str(self.resource_version)
        if change == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = obj
        self._changes.append((change, kind.api_version, kind.plural, codec.clone(obj)))
        return codec.clone(obj)

    def take_changes(self) -> list[tuple[str, str, str, Obj]]:
        """Every write since the last call, in order: ``(type, apiVersion, plural, object)``."""
        changes, self._changes = self._changes, []
        return changes

    def _typed(self, kind: _Kind, obj: Obj) -> Obj:
        return {"apiVersion": kind.api_version, "kind": kind.kind, **obj}

    def _stored(self, kind: _Kind, namespace: str, name: str) -> Obj:
        obj = self._bucket(kind.api_version, kind.plural).get((namespace if kind.namespaced else "", name))
        if obj is None:
            raise _error(errors.not_found(kind.plural, name, _split_gv(kind.api_version)[0]))
        return obj

    # --- seeding ------------------------------------------------------------------------------------

    def add(self, obj: Obj, *, plural: str = "") -> Obj:
        """Put ``obj`` in as a test's starting state (``Tracker.Add``): its resource from its apiVersion
        and kind; a missing uid, creationTimestamp or resourceVersion is filled in. Replaces an object
        of the same name."""
        api_version, kind_name = obj.get("apiVersion", ""), obj.get("kind", "")
        res = resources.by_kind(_split_gv(api_version)[0], kind_name)
        plural = plural or (res.plural if res is not None else kind_name.lower() + "s")
        kind = self.kind_of(api_version, plural, namespaced=bool(obj["metadata"].get("namespace")))
        obj = self._typed(kind, codec.clone(obj))
        meta = obj["metadata"]
        if not kind.namespaced:
            meta.pop("namespace", None)
        meta.setdefault("uid", self.ids.uid(f"{plural}/{meta.get('namespace', '')}/{meta['name']}"))
        meta.setdefault("creationTimestamp", rfc3339(self.clock.now()))
        if kind.tracks_generation:
            meta.setdefault("generation", 1)
        existing = self._bucket(kind.api_version, kind.plural).get((meta.get("namespace", ""), meta["name"]))
        return self._write("MODIFIED" if existing is not None else "ADDED", kind, obj)

    def objects(self, api_version: str, plural: str) -> list[Obj]:
        """Every stored object of one resource, by namespace and name."""
        return [codec.clone(o) for _, o in sorted(self._bucket(api_version, plural).items())]

    # --- the verbs ----------------------------------------------------------------------------------

    def get(self, kind: _Kind, namespace: str, name: str, subresource: str = "") -> Obj:
        obj = self._stored(kind, namespace, name)
        return _scale_of(obj) if subresource == "scale" else codec.clone(obj)

    def list(self, kind: _Kind, namespace: str, *, label_selector: str = "", field_selector: str = "") -> Obj:
        try:
            labels, fields = parse_label_selector(label_selector), parse_field_selector(field_selector)
        except SelectorError as e:
            raise _error(errors.bad_request(str(e))) from None
        items = []
        for (ns, _), obj in sorted(self._bucket(kind.api_version, kind.plural).items()):
            meta = obj["metadata"]
            if namespace and ns != namespace:
                continue
            selectable = {"metadata.name": meta["name"], **({"metadata.namespace": ns} if kind.namespaced else {}),
                          **kind.field_labels(obj)}
            if labels.matches(meta.get("labels") or {}) and fields.matches(selectable):
                items.append(codec.clone(obj))
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
                "metadata": {"resourceVersion": str(self.resource_version)}, "items": items}

    def create(self, kind: _Kind, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise _error(errors.bad_request("the body of the request is not an object"))
        obj = self._typed(kind, codec.clone(body))
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise _error(errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"))
            meta["namespace"] = meta.get("namespace") or namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            scope = f"{kind.plural}/{meta.get('namespace', '')}/{meta['generateName']}"
            meta["name"] = meta["generateName"] + self.ids.suffix(scope)
        if not meta.get("name"):
            raise _error(errors.invalid(kind.kind, "", [errors.Cause("FieldValueRequired",
                                                                    "name or generateName is required",
                                                                    "metadata.name")]))
        if (meta.get("namespace", ""), meta["name"]) in self._bucket(kind.api_version, kind.plural):
            raise _error(errors.already_exists(kind.plural, meta["name"], _split_gv(kind.api_version)[0]))
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(field, None)
        meta["uid"] = self.ids.uid(f"{kind.plural}/{meta.get('namespace', '')}/{meta['name']}")
        meta["creationTimestamp"] = rfc3339(self.clock.now())
        if kind.tracks_generation:
            meta["generation"] = 1
        if kind.plural == "namespaces":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        return self._write("ADDED", kind, obj)

    def update(self, kind: _Kind, namespace: str, name: str, body: Any, subresource: str = "", *,
               patched: bool = False) -> Obj:
        """PUT (or the result of a PATCH, ``patched``): a stale ``resourceVersion`` is a conflict."""
        if not isinstance(body, dict):
            raise _error(errors.bad_request("the body of the request is not an object"))
        old = self._stored(kind, namespace, name)
        group = _split_gv(kind.api_version)[0]
        new = codec.clone(body)
        meta = new.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise _error(errors.name_mismatch(meta.get("name"), name))
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise _error(errors.conflict(kind.plural, name, group=group))
        if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
            if patched:  # the patched object changes an immutable field
                raise _error(errors.invalid(kind.kind, name, [errors.Cause("FieldValueInvalid", "field is immutable",
                                                                           "metadata.uid")], group))
            raise _error(errors.conflict(kind.plural, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                         f"UID in object meta: {old['metadata']['uid']}", group))
        if subresource == "scale":
            replicas = (new.get("spec") or {}).get("replicas", 0)
            new = {**codec.clone(old), "spec": {**(old.get("spec") or {}), "replicas": replicas}}
        elif subresource == "status":
            new = {**codec.clone(old), "status": new.get("status")} if "status" in new else \
                {k: v for k, v in old.items() if k != "status"}
        elif subresource == "finalize":
            finalizers = (new.get("spec") or {}).get("finalizers") or []
            new = {**codec.clone(old), "spec": {**(old.get("spec") or {}), "finalizers": finalizers}}
        else:
            new = self._typed(kind, new)
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                          "namespace"):
                if field in old["metadata"]:
                    new["metadata"][field] = old["metadata"][field]
                else:
                    new["metadata"].pop(field, None)
            if kind.has_status:
                if "status" in old:
                    new["status"] = codec.clone(old["status"])
                else:
                    new.pop("status", None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if kind.tracks_generation and _body(new) != _body(old):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        if new == old:  # nothing to write: no new resourceVersion, no watch event
            return codec.clone(old)
        if new["metadata"].get("deletionTimestamp") and not _finalizers(new):
            self._write("DELETED", kind, new)
            return codec.clone(new)
        return self._write("MODIFIED", kind, new)

    def patch(self, kind: _Kind, namespace: str, name: str, patch: Any, patch_type: str, subresource: str = "") -> Obj:
        old = self.get(kind, namespace, name, subresource if subresource == "scale" else "")
        try:
            if patch_type == MERGE:
                patched = apply_merge_patch(old, patch)
            elif patch_type == STRATEGIC:
                patched = apply_strategic_merge_patch(old, patch, kind="Scale" if subresource == "scale" else kind.kind)
            elif patch_type == JSON_PATCH:
                patched = apply_json_patch(old, patch)
            else:
                raise _error(errors.unsupported_media_type(patch_type, (JSON_PATCH, MERGE, STRATEGIC)))
        except PatchError as e:
            raise _error(errors.ApiError(e.code, "BadRequest" if e.code == 400 else "Invalid", e.message)) from None
        return self.update(kind, namespace, name, patched, subresource, patched=True)

    def delete(self, kind: _Kind, namespace: str, name: str, options: Obj | None = None) -> Obj:
        old = self._stored(kind, namespace, name)
        options = options or {}
        meta = old["metadata"]
        group = _split_gv(kind.api_version)[0]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise _error(errors.conflict(kind.plural, name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                                         f"UID in object meta: {meta.get('uid')}", group))
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
            raise _error(errors.conflict(kind.plural, name, "Precondition failed: ResourceVersion in precondition: "
                                         f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                         f"{meta.get('resourceVersion')}", group))
        policy = "Orphan" if options.get("orphanDependents") is True else options.get("propagationPolicy")
        new = codec.clone(old)
        finalizers = list(new["metadata"].get("finalizers") or [])
        wanted = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy or "")
        if wanted and wanted not in finalizers and not meta.get("deletionTimestamp"):
            new["metadata"]["finalizers"] = [*finalizers, wanted]
        if not _finalizers(new):
            self._write("DELETED", kind, new)
            return new
        if not new["metadata"].get("deletionTimestamp"):
            new["metadata"]["deletionTimestamp"] = rfc3339(self.clock.now())
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if kind.plural == "namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
        return new if new == old else self._write("MODIFIED", kind, new)

    def delete_collection(self, kind: _Kind, namespace: str, options: Obj | None = None, *,
                          label_selector: str = "", field_selector: str = "") -> Obj:
        listed = self.list(kind, namespace, label_selector=label_selector, field_selector=field_selector)
        listed["items"] = [self.delete(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"], options)
                           for o in listed["items"]]
        return listed


def _finalizers(obj: Obj) -> list[str]:
    """What holds an object marked for deletion: its finalizers (and a namespace's ``spec.finalizers``)."""
    spec_finalizers = (obj.get("spec") or {}).get("finalizers") or [] if obj.get("kind") == "Namespace" else []
    return [*(obj["metadata"].get("finalizers") or []), *spec_finalizers]


def _body(obj: Obj) -> Obj:
    """What a generation counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    match = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": match}}


def _error(error: errors.ApiError) -> APIStatusError:
    return APIStatusError(error.code, error.status())


@dataclasses.dataclass(frozen=True)
class _Target:
    api_version: str
    plural: str
    namespace: str
    name: str
    subresource: str


def parse_path(path: str) -> _Target | tuple[str, str]:
    """A request path as (apiVersion, plural, namespace, name, subresource), or for a discovery
    document ``("group" | "resource", groupVersion)``."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts == ["api"]:
        return ("group", "api")
    if parts[:1] == ["api"]:
        prefix, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
    elif parts[:1] == ["apis"]:
        prefix, rest = ("/".join(parts[1:3]) if len(parts) > 2 else ""), parts[3:]
        if len(parts) == 2:
            return ("group", parts[1])
    else:
        raise _error(errors.not_found_path())
    if not prefix:
        return ("group", "")
    if not rest:
        return ("resource", prefix)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    return _Target(prefix, rest[0], namespace, rest[1] if len(rest) > 1 else "", "/".join(rest[2:]))


class FakeClient:
    """A :class:`labkit.client.Client` answered by an :class:`ObjectTracker` (client-go's
    ``fake.NewSimpleClientset(objects...)``). ``objects`` are the starting state."""

    def __init__(self, objects: Iterable[Obj] = (), *, clock: Clock | None = None, seed: int = 0) -> None:
        self.tracker = ObjectTracker(clock=clock, seed=seed)
        for obj in objects:
            self.tracker.add(obj)
        self.tracker.take_changes()  # the starting state is what informers list, not news
        self.reactors: list[Reactor] = []
        self._actions: list[Action] = []
        self.server = "https://fake"
        self.closed = False

    # --- what tests use ---------------------------------------------------------------------------

    def prepend_reactor(self, verb: str, resource: str, reaction: Reaction) -> None:
        """``PrependReactor``: ``reaction`` sees matching actions before the reactors added earlier and the tracker."""
        self.reactors.insert(0, Reactor(verb, resource, reaction))

    def actions(self, *, events: bool = True, discovery: bool = True, reads: bool = True) -> list[Action]:
        """Every action so far, in order (``Actions()``); leave out what an EventRecorder sends (creates and
        patches of Events), discovery, or get and list."""
        return [a for a in self._actions if (events or not _recorded_event(a))
                and (discovery or a.resource not in DISCOVERY) and (reads or a.verb not in ("get", "list"))]

    def clear_actions(self) -> None:
        self._actions.clear()

    def events(self) -> list[str]:
        """The Events written so far as ``"<type> <reason> <message>"`` (client-go's ``FakeRecorder``);
        an Event written again (its count bumped by a patch) appears again, with its new message."""
        seen: dict[tuple[str, str], Obj] = {}
        out = []
        for a in self._actions:
            if a.plural != "events" or not isinstance(a.body, dict):
                continue
            if a.verb == "create":
                seen[(a.namespace, a.body["metadata"]["name"])] = a.body
                out.append(f"{a.body['type']} {a.body['reason']} {a.body['message']}")
            elif a.verb == "patch" and (first := seen.get((a.namespace, a.name))) is not None:
                out.append(f"{first['type']} {first['reason']} {a.body.get('message', first['message'])}")
        return out

    # --- the Client API ---------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Obj:
        return self._invoke(self._action(method, path, body, params or {}, content_type))

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def update(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, *, patch_type: str = MERGE) -> Obj:
        return await self.request("PATCH", path, body=body, content_type=patch_type)

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body=body)

    async def watch(self, path: str, *, resource_version: str = "", **params: str) -> Any:
        raise NotImplementedError("the fake client has no watch: FakeInformers are filled from its tracker, and "
                                  "a test delivers changes to them (FakeInformers.deliver)")

    async def close(self) -> None:
        self.closed = True

    # --- how a request is answered ------------------------------------------------------------------

    def _action(self, method: str, path: str, body: Any, params: Mapping[str, str], content_type: str) -> Action:
        target = parse_path(path)
        body = codec.clone(body) if body is not None else None
        if isinstance(target, tuple):
            if method != "GET":
                raise _error(errors.method_not_supported(target[0], method.lower()))
            return Action("get", target[0], "", target[1], None, params=dict(params))
        resource = target.plural + (f"/{target.subresource}" if target.subresource else "")
        verb = {"GET": "get" if target.name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if target.name else "deletecollection"}.get(method)
        if verb is None:
            raise _error(errors.method_not_supported(target.plural, method.lower()))
        return Action(verb, resource, target.namespace, target.name, body,
                      patch_type=content_type if verb == "patch" else "", api_version=target.api_version,
                      params=dict(params))

    def _invoke(self, action: Action) -> Obj:
        """``Fake.Invokes``: record, then the first reactor that answers, else the tracker."""
        self._actions.append(action)
        for reactor in self.reactors:
            if reactor.handles(action):
                answer = reactor.reaction(action)
                if answer is not None:
                    return codec.clone(answer)
        return self._react(action)

    def _react(self, action: Action) -> Obj:
        """``ObjectReaction``: the tracker's answer."""
        if action.resource in DISCOVERY:
            return _discovery(action.resource, action.name)
        t = self.tracker
        kind = t.kind_of(action.api_version, action.plural, namespaced=bool(action.namespace))
        if action.namespace and not kind.namespaced:  # /namespaces/x/nodes/y: no such path
            raise _error(errors.not_found_path())
        sub = action.subresource
        if sub not in ("", "status", "scale", "finalize"):
            raise _error(errors.method_not_supported(action.resource, action.verb))
        if action.verb == "get":
            return t.get(kind, action.namespace, action.name, sub)
        if action.verb == "list":
            return t.list(kind, action.namespace, label_selector=action.params.get("labelSelector", ""),
                          field_selector=action.params.get("fieldSelector", ""))
        if action.verb == "create":
            return t.create(kind, action.namespace, action.body)
        if action.verb == "update":
            return t.update(kind, action.namespace, action.name, action.body, sub)
        if action.verb == "patch":
            return t.patch(kind, action.namespace, action.name, action.body, action.patch_type, sub)
        if action.verb == "delete":
            return t.delete(kind, action.namespace, action.name, action.body)
        return t.delete_collection(kind, action.namespace, action.body,
                                   label_selector=action.params.get("labelSelector", ""),
                                   field_selector=action.params.get("fieldSelector", ""))


def _recorded_event(action: Action) -> bool:
    return action.resource == "events" and action.verb in ("create", "patch")


def _discovery(what: str, group_version: str) -> Obj:
    if what == "group" and group_version == "api":
        return discovery.api_versions("127.0.0.1:443")
    if what == "group" and not group_version:
        return discovery.api_group_list()
    if what == "group":
        doc = discovery.api_group(group_version)
    elif "/" not in group_version:
        doc = discovery.api_resource_list("", group_version)
    else:
        doc = discovery.api_resource_list(*_split_gv(group_version))
    if doc is None:
        raise _error(errors.not_found_path())
    return doc
