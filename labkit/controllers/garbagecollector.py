"""The garbage collector: delete what lost its owners (``pkg/controller/garbagecollector``).

Kube keeps a graph of every object's ``ownerReferences``; labkit keeps a uid index over the informers
of the resources it knows. Three things happen, as in kube's ``attemptToDeleteItem`` and
``orphanDependents`` workers:

- an object whose owners are all gone is deleted (what *Background* deletion of the owner relies on);
  one that still has an owner loses only its references to the owners that are gone;
- an owner being deleted with the ``orphan`` finalizer (*Orphan*) has its ownerReferences removed
  from every dependent (a strategic merge patch deleting it by uid), then the finalizer;
- an owner with ``foregroundDeletion`` (*Foreground*) has its dependents deleted (in the foreground
  too when they have dependents of their own); once no dependent with ``blockOwnerDeletion`` is
  left, the finalizer is removed and the API server removes the owner.

Only changes of owners, finalizers or deletion are looked at (a pod's status write or a Lease's renewal
is not). The API server adds those finalizers on DELETE with ``propagationPolicy``. Left out: discovery of
every resource (labkit watches a fixed list, :data:`GC_RESOURCES`; owners of other kinds are
assumed to exist), cross-namespace owner checks, the ``absentOwnerCache``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, Client, resource_path
from labkit.controllers.base import Controller
from labkit.informer import key_of

ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"

#: (apiVersion, plural, kind) of the resources the collector watches
GC_RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("v1", "pods", "Pod"), ("v1", "services", "Service"), ("v1", "configmaps", "ConfigMap"),
    ("v1", "secrets", "Secret"), ("v1", "serviceaccounts", "ServiceAccount"), ("v1", "endpoints", "Endpoints"),
    ("v1", "nodes", "Node"), ("coordination.k8s.io/v1", "leases", "Lease"),
    ("apps/v1", "replicasets", "ReplicaSet"), ("apps/v1", "deployments", "Deployment"),
    ("batch/v1", "jobs", "Job"),
    ("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    # the workload kinds of issue 16
    ("apps/v1", "daemonsets", "DaemonSet"), ("apps/v1", "controllerrevisions", "ControllerRevision"),
    ("v1", "replicationcontrollers", "ReplicationController"), ("batch/v1", "cronjobs", "CronJob"),
    # issue 16: StatefulSets own their pods; claims and volumes may be owned too
    ("apps/v1", "statefulsets", "StatefulSet"), ("v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ("v1", "persistentvolumes", "PersistentVolume"),
)
_OWNERSHIP = ("ownerReferences", "finalizers", "deletionTimestamp")
#: the resources above that live outside namespaces (a namespaced object may name one as its owner)
CLUSTER_SCOPED = frozenset({"nodes", "persistentvolumes"})


class GarbageCollector(Controller):
    name = "garbage-collector-controller"

    def __init__(self, client: Client, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._by_uid: dict[str, tuple[str, str]] = {}  # uid -> (plural, key)
        self._dependents: dict[str, set[tuple[str, str]]] = {}  # owner uid -> dependents
        self._kinds = {kind for _, _, kind in GC_RESOURCES}
        self._informers = {plural: self.informer(api_version, plural) for api_version, plural, _ in GC_RESOURCES}
        self._api_version = {plural: api_version for api_version, plural, _ in GC_RESOURCES}

    def register(self) -> None:
        for plural, informer in self._informers.items():
            informer.add_handlers(on_add=functools.partial(self._observe, plural),
                                  on_update=functools.partial(self._updated, plural),
                                  on_delete=functools.partial(self._forget, plural))

    def _updated(self, plural: str, old: Obj, new: Obj) -> None:
        """Only a change of owners, finalizers or deletion matters (the graph builder's ``referencesDiffs``):
        a pod's status write or a Lease's renewal is not the collector's business."""
        meta = new["metadata"]
        if any(old["metadata"].get(f) != meta.get(f) for f in _OWNERSHIP) or (
                meta.get("deletionTimestamp") and {ORPHAN, FOREGROUND} & set(meta.get("finalizers") or [])):
            self._observe(plural, new)  # (an owner the collector is finalizing is looked at again each time)

    def _observe(self, plural: str, obj: Obj) -> None:
        meta, item = obj["metadata"], (plural, key_of(obj))
        self._by_uid[meta["uid"]] = item
        for ref in meta.get("ownerReferences") or []:
            self._dependents.setdefault(ref["uid"], set()).add(item)
        if meta.get("ownerReferences") or {ORPHAN, FOREGROUND} & set(meta.get("finalizers") or []):
            self.queue.add("|".join(item))

    def _forget(self, plural: str, obj: Obj) -> None:
        meta = obj["metadata"]
        self._by_uid.pop(meta["uid"], None)
        for ref in meta.get("ownerReferences") or []:
            self._dependents.get(ref["uid"], set()).discard((plural, key_of(obj)))
            owner = self._by_uid.get(ref["uid"])
            if owner is not None:  # a foreground owner may be waiting for this one
                self.queue.add("|".join(owner))
        for dependent in self._dependents.pop(meta["uid"], set()):
            self.queue.add("|".join(dependent))

    def _get(self, plural: str, key: str) -> Obj | None:
        return self._informers[plural].get(key)

    def _path(self, plural: str, key: str) -> str:
        ns, _, name = key.rpartition("/")
        return resource_path(self._api_version[plural], plural, namespace=ns, name=name)

    def _dependents_of(self, uid: str) -> list[tuple[str, str, Obj]]:
        found = []
        for plural, key in self._dependents.get(uid, set()):
            obj = self._get(plural, key)
            if obj is not None and any(r["uid"] == uid for r in obj["metadata"].get("ownerReferences") or []):
                found.append((plural, key, obj))
        return found

    async def sync(self, item: str) -> None:
        plural, key = item.split("|", 1)
        obj = self._get(plural, key)
        if obj is None:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan_dependents(plural, key, obj)
        elif meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            await self._delete_dependents(plural, key, obj)
        elif meta.get("ownerReferences") and not meta.get("deletionTimestamp"):
            await self._delete_if_orphaned(plural, key, obj)

    async def _remove_owner_references(self, plural: str, key: str, obj: Obj, owner_uids: list[str]) -> None:
        """``deleteOwnerRefStrategicMergePatch``: drop the references to ``owner_uids`` (by their uid, the
        list's merge key, so references added meanwhile stay), if ``obj`` is still the same object."""
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in owner_uids],
                              "uid": obj["metadata"]["uid"]}}
        await self._ignore_gone(self.client.patch(self._path(plural, key), patch,
                                                  patch_type="application/strategic-merge-patch+json"))

    async def _orphan_dependents(self, plural: str, key: str, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for dep_plural, dep_key, dep in self._dependents_of(uid):
            await self._remove_owner_references(dep_plural, dep_key, dep, [uid])
        await self._remove_finalizer(plural, key, owner, ORPHAN)

    async def _delete_dependents(self, plural: str, key: str, owner: Obj) -> None:
        blocking = 0
        for dep_plural, dep_key, dep in self._dependents_of(owner["metadata"]["uid"]):
            ref = next(r for r in dep["metadata"]["ownerReferences"] if r["uid"] == owner["metadata"]["uid"])
            blocking += bool(ref.get("blockOwnerDeletion"))
            if not dep["metadata"].get("deletionTimestamp"):
                policy = FOREGROUND if self._dependents.get(dep["metadata"]["uid"]) else "Background"
                await self._ignore_gone(self.client.delete(self._path(dep_plural, dep_key), {
                    "kind": "DeleteOptions", "apiVersion": "v1",
                    "propagationPolicy": "Foreground" if policy == FOREGROUND else "Background"}))
        if blocking == 0:
            await self._remove_finalizer(plural, key, owner, FOREGROUND)

    async def _delete_if_orphaned(self, plural: str, key: str, obj: Obj) -> None:
        """``attemptToDeleteItem``: delete when every owner (of a kind the collector knows) is gone; when
        some owner still exists, only drop the references to the ones that are gone. The cache may just
        not have seen a new owner yet, so absence is confirmed with a live GET (``isDangling``)."""
        ns = obj["metadata"].get("namespace", "")
        plurals = {kind: plural for _, plural, kind in GC_RESOURCES}
        solid, dangling = 0, []
        for ref in obj["metadata"]["ownerReferences"]:
            if ref.get("kind") not in self._kinds or ref["uid"] in self._by_uid:
                solid += 1
                continue
            owner_plural = plurals[ref["kind"]]
            owner_key = ref["name"] if owner_plural in CLUSTER_SCOPED else f"{ns}/{ref['name']}"
            try:
                owner = await self.client.get(self._path(owner_plural, owner_key))
            except APIStatusError as e:
                if e.code != 404:
                    raise
                dangling.append(ref["uid"])
                continue
            if owner["metadata"]["uid"] == ref["uid"]:
                solid += 1
            else:
                dangling.append(ref["uid"])
        if solid:
            if dangling:
                await self._remove_owner_references(plural, key, obj, dangling)
            return
        await self._ignore_gone(self.client.delete(self._path(plural, key), {
            "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
            "preconditions": {"uid": obj["metadata"]["uid"]}}))

    async def _remove_finalizer(self, plural: str, key: str, obj: Obj, finalizer: str) -> None:
        kept = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        body = {**obj, "metadata": {**obj["metadata"], "finalizers": kept}}
        try:
            await self.client.update(self._path(plural, key), body)
        except APIStatusError as e:
            if e.code != 404:  # a 409 (the owner changed meanwhile) is tried again
                raise

    @staticmethod
    async def _ignore_gone(request: Awaitable[Any]) -> None:
        try:
            await request
        except APIStatusError as e:
            if e.code not in (404, 409):
                raise
