"""The StatefulSet controller: pods with stable names, storage and order (``pkg/controller/statefulset``).

Mirrors ``StatefulSetControl.UpdateStatefulSet`` (``stateful_set_control.go``) and its helpers
(``stateful_set_utils.go``, ``stateful_pod_control.go``):

- pod ``<set>-<ordinal>`` for each ordinal below ``replicas``, labelled
  ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and
  ``controller-revision-hash``, with ``hostname`` its name and ``subdomain`` the set's ``serviceName``
  (so a headless Service gives it the DNS name ``web-0.nginx.<ns>.svc.cluster.local``), and one claim
  ``<template>-<set>-<ordinal>`` per ``volumeClaimTemplates`` entry, created before the pod and kept
  after it (``persistentVolumeClaimRetentionPolicy`` ``Retain``); with ``whenDeleted: Delete`` a claim
  is made owned by the set, with ``whenScaled: Delete`` a condemned pod's claims are given to the pod,
  and the garbage collector removes them with their owner;
- ``OrderedReady``: pods are created one at a time in ordinal order, each Running and Ready before the
  next; a failed pod is deleted and made again; scaling down deletes the highest ordinal first and waits
  for it to be gone. ``Parallel``: every missing pod at once, every extra pod at once;
- ``RollingUpdate``: once every replica is Running and Ready, the pod with the highest ordinal not at
  the update revision (and not below ``partition``) is deleted, and made again from the new template;
  ``OnDelete`` leaves that to the user;
- status: ``replicas``, ``readyReplicas``, ``availableReplicas``, ``currentReplicas``,
  ``updatedReplicas``, ``currentRevision`` / ``updateRevision`` (which becomes current once every pod is
  updated and ready), ``observedGeneration``;
- a status write that conflicts with a newer set is made again on the set read afresh
  (``updateStatefulSetStatus``'s ``RetryOnConflict``);
- events as kube words them ("create Pod web-0 in StatefulSet web successful").

Revisions (``getStatefulSetRevisions``, ``truncateHistory``) are ControllerRevisions (the helpers of
:mod:`labkit.controllers.history`): the update revision is the one whose data is the set's template
patch (the newest such, or an older one given the next number as after ``kubectl rollout undo``, or a
new one: ``<set>-<hash>``, labelled ``controller-revision-hash`` with its own name, hash collisions
counted in ``status.collisionCount``); the current revision is the one ``status.currentRevision``
names. A pod made again below ``partition`` (or, with no ``rollingUpdate``, below ``currentReplicas``)
gets the current revision's template (``newVersionedStatefulSetPod``). Revisions beyond
``revisionHistoryLimit`` that neither revision nor any pod uses are deleted, oldest first, so
``kubectl rollout history/undo statefulset`` work. Left out: orphan adoption, ``minReadySeconds`` re-checks,
``spec.ordinals``, ``maxUnavailable``, retention owner references on claims made before the policy
changed (kube updates every claim's on each sync).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.podutil import is_pod_available, is_pod_ready
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import CONTROLLER_UID_INDEX, Controller, Result, controller_uid_index
from labkit.controllers.history import (
    apply_revision,
    create_revision,
    delete_revision,
    equal_revision,
    new_revision,
    next_revision,
    owned_revisions,
    template_patch,
    update_revision,
)
from labkit.informer import Informer

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
STATUS_UPDATE_TRIES = 5  # retry.DefaultBackoff's steps
_ORDINAL = re.compile(r"^(.*)-(\d+)$")


def ordinal_of(pod: Obj, set_name: str) -> int | None:
    """``getParentNameAndOrdinal``: the ordinal of ``<set>-<n>``, None for a pod of another name."""
    m = _ORDINAL.match(pod["metadata"]["name"])
    return int(m.group(2)) if m and m.group(1) == set_name else None


def claim_name(template: Obj, set_name: str, ordinal: int) -> str:
    return f"{template['metadata']['name']}-{set_name}-{ordinal}"


def running_and_ready(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and is_pod_ready(pod)


def revision_of(pod: Obj) -> str:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL, "")


def new_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    """``newVersionedStatefulSetPod``: the template's pod with its identity and its claims."""
    meta, spec = sts["metadata"], sts["spec"]
    template = spec["template"]
    name = f"{meta['name']}-{ordinal}"
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
              REVISION_LABEL: revision}
    pod_spec = codec.clone(template.get("spec") or {})
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    claims = {t["metadata"]["name"]: claim_name(t, meta["name"], ordinal)
              for t in spec.get("volumeClaimTemplates") or []}
    volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claims]
    volumes += [{"name": vol, "persistentVolumeClaim": {"claimName": claim}} for vol, claim in claims.items()]
    if volumes:
        pod_spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "annotations": dict(tmeta.get("annotations") or {}),
                         "ownerReferences": [new_controller_ref(sts, kind="StatefulSet", api_version="apps/v1")]},
            "spec": pod_spec}


def versioned_pod(current_set: Obj, update_set: Obj, current: str, update: str, ordinal: int) -> Obj:
    """``newVersionedStatefulSetPod``: below the partition (or below ``currentReplicas`` when a
    RollingUpdate has no ``rollingUpdate``) a pod is made from the current revision, else the update one."""
    strategy = current_set["spec"].get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    if (strategy.get("type") == "RollingUpdate" and rolling is None
            and ordinal < (current_set.get("status") or {}).get("currentReplicas", 0)) \
            or (rolling is not None and ordinal < rolling.get("partition", 0)):
        return new_pod(current_set, ordinal, current)
    return new_pod(update_set, ordinal, update)


def retention(sts: Obj, when: str) -> str:
    """``persistentVolumeClaimRetentionPolicy.<when>``: ``Retain`` or ``Delete``."""
    return (sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}).get(when) or "Retain"


def owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    """A plain (not controller) ownerReference that holds a foreground deletion of ``owner``."""
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}


def new_claim(sts: Obj, template: Obj, ordinal: int) -> Obj:
    """``getPersistentVolumeClaims``: the template, named for the ordinal, with the set's selector labels;
    owned by the set when ``whenDeleted`` is ``Delete`` (the garbage collector removes it with the set)."""
    labels = {**(template["metadata"].get("labels") or {}), **(sts["spec"]["selector"].get("matchLabels") or {})}
    meta: Obj = {**{k: v for k, v in template["metadata"].items() if k in ("annotations",)},
                 "name": claim_name(template, sts["metadata"]["name"], ordinal),
                 "namespace": sts["metadata"]["namespace"], "labels": labels}
    if retention(sts, "whenDeleted") == "Delete":
        meta["ownerReferences"] = [owner_ref(sts, "StatefulSet", "apps/v1")]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": codec.clone(template.get("spec") or {})}


class StatefulSetController(Controller):
    name = "statefulset-controller"
    resource = "statefulsets"

    @property
    def sets(self) -> Informer:
        return self.informer("apps/v1", "statefulsets")

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    @property
    def claims(self) -> Informer:
        return self.informer("v1", "persistentvolumeclaims")

    @property
    def revisions(self) -> Informer:
        return self.informer("apps/v1", "controllerrevisions")

    def register(self) -> None:
        self.sets.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handlers(on_add=self._pod_event, on_update=lambda _o, p: self._pod_event(p),
                               on_delete=self._pod_event)
        self.pods.add_indexer(CONTROLLER_UID_INDEX, controller_uid_index)
        self.claims.add_handlers()
        self.revisions.add_handlers()

    def _pod_event(self, pod: Obj) -> None:
        ref = get_controller_of(pod)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    async def sync(self, key: str) -> Result | None:
        sts = self.sets.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        name, spec = sts["metadata"]["name"], sts["spec"]
        revisions = owned_revisions(self.revisions, sts)
        current, update, collisions = await self._revisions(sts, revisions)
        current_name, update_name = current["metadata"]["name"], update["metadata"]["name"]
        current_set = sts if current_name == update_name else apply_revision(sts, "StatefulSet", current)

        def versioned(ordinal: int) -> Obj:
            return versioned_pod(current_set, sts, current_name, update_name, ordinal)
        replicas: dict[int, Obj] = {}
        condemned: list[Obj] = []
        for pod in self.pods.by_index(CONTROLLER_UID_INDEX, sts["metadata"]["uid"]):
            ordinal = ordinal_of(pod, name)
            if ordinal is None:
                continue
            if ordinal < spec.get("replicas", 1):
                replicas[ordinal] = pod
            else:
                condemned.append(pod)
        pods = [*replicas.values(), *condemned]
        try:
            await self._update(sts, replicas, condemned, versioned, update_name)
        finally:
            await self._update_status(sts, pods, current_name, update_name, collisions)
            await self._truncate_history(sts, pods, revisions, current_name, update_name)
        return None

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """``getStatefulSetRevisions``: (current revision, update revision, collision count)."""
        collisions = (sts.get("status") or {}).get("collisionCount") or 0
        update = new_revision(sts, "StatefulSet", template_patch(sts), next_revision(revisions), collisions)
        equal = [r for r in revisions if equal_revision(r, update)]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]  # the template has not changed
        elif equal:
            update = await update_revision(self.client, equal[-1], update["revision"])  # rolled back to it
        else:
            update, collisions = await create_revision(self.client, sts, update, collisions)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collisions

    async def _truncate_history(self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: str,
                                update: str) -> None:
        """``truncateHistory``: delete the oldest revisions beyond the limit that nothing uses."""
        live = {current, update, *(revision_of(p) for p in pods)}
        history = [r for r in revisions if r["metadata"]["name"] not in live]
        for revision in history[:max(len(history) - sts["spec"].get("revisionHistoryLimit", 10), 0)]:
            await delete_revision(self.client, revision)

    async def _update(self, sts: Obj, replicas: dict[int, Obj], condemned: list[Obj],
                      versioned: Callable[[int], Obj], revision: str) -> None:
        """One pass of ``updateStatefulSet``: create or replace, then condemn, then roll."""
        spec = sts["spec"]
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal in range(spec.get("replicas", 1)):
            pod = replicas.get(ordinal)
            if pod is None:
                await self._create(sts, versioned(ordinal))
                if ordered:
                    return
                continue
            if pod.get("status", {}).get("phase") in ("Failed", "Succeeded") and \
                    not pod["metadata"].get("deletionTimestamp"):
                await self._delete(sts, pod)  # made again on the next pass
                if ordered:
                    return
                continue
            if ordered and (pod["metadata"].get("deletionTimestamp") or not running_and_ready(pod)):
                return  # wait for this one before the next
        condemned.sort(key=lambda p: ordinal_of(p, sts["metadata"]["name"]) or 0, reverse=True)
        for pod in condemned:
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    return  # wait until it is gone
                continue
            if retention(sts, "whenScaled") == "Delete":
                await self._give_claims_to(sts, pod)
            await self._delete(sts, pod)
            if ordered:
                return
        if condemned:
            return
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
        if not all(running_and_ready(p) and not p["metadata"].get("deletionTimestamp") for p in replicas.values()):
            return
        for ordinal in sorted(replicas, reverse=True):
            if ordinal < partition:
                break
            if revision_of(replicas[ordinal]) != revision:
                await self._delete(sts, replicas[ordinal])
                return

    async def _create(self, sts: Obj, pod: Obj) -> None:
        """``createPersistentVolumeClaims`` then ``CreateStatefulPod``."""
        ns, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        ordinal = ordinal_of(pod, set_name) or 0
        pod_name = pod["metadata"]["name"]
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            claim = new_claim(sts, template, ordinal)
            claim_key = f"{ns}/{claim['metadata']['name']}"
            if self.claims.get(claim_key) is not None:
                continue
            try:
                await self.client.create(resource_path("v1", "persistentvolumeclaims", namespace=ns), claim)
            except APIStatusError as e:
                if e.code == 409:
                    continue
                self.recorder.event(sts, "Warning", "FailedCreate",
                                    f"create Claim {claim['metadata']['name']} for Pod {pod_name} in StatefulSet "
                                    f"{set_name} failed error: {e.status.get('message', e)}")
                raise
            self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {claim['metadata']['name']} Pod {pod_name} in StatefulSet {set_name} "
                                "success")
        try:
            await self.client.create(resource_path("v1", "pods", namespace=ns), pod)
        except APIStatusError as e:
            if e.code == 409:  # made already: our cache has not seen it yet
                return
            self.recorder.event(sts, "Warning", "FailedCreate", f"create Pod {pod_name} in StatefulSet {set_name} "
                                                                 f"failed error: {e.status.get('message', e)}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {set_name} "
                                                               "successful")

    async def _give_claims_to(self, sts: Obj, pod: Obj) -> None:
        """``whenScaled: Delete``: a condemned pod owns its claims, so they go with it."""
        ordinal = ordinal_of(pod, sts["metadata"]["name"])
        ns = pod["metadata"]["namespace"]
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            claim = self.claims.get(f"{ns}/{claim_name(template, sts['metadata']['name'], ordinal or 0)}")
            if claim is None or any(r.get("uid") == pod["metadata"]["uid"]
                                    for r in claim["metadata"].get("ownerReferences") or []):
                continue
            refs = [*(claim["metadata"].get("ownerReferences") or []), owner_ref(pod, "Pod", "v1")]
            await self.client.patch(resource_path("v1", "persistentvolumeclaims", namespace=ns,
                                                  name=claim["metadata"]["name"]),
                                    {"metadata": {"ownerReferences": refs, "uid": claim["metadata"]["uid"]}})

    async def _delete(self, sts: Obj, pod: Obj) -> None:
        """``DeleteStatefulPod``, on the uid the cache saw (a stale cache never deletes the pod's successor)."""
        meta = pod["metadata"]
        try:
            await self.client.delete(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"]),
                                     {"kind": "DeleteOptions", "apiVersion": "v1",
                                      "preconditions": {"uid": meta["uid"]}})
        except APIStatusError as e:
            if e.code in (404, 409):
                return
            self.recorder.event(sts, "Warning", "FailedDelete", f"delete Pod {meta['name']} in StatefulSet "
                                                                 f"{sts['metadata']['name']} failed error: "
                                                                 f"{e.status.get('message', e)}")
            raise
        self.recorder.event(sts, "Normal", "SuccessfulDelete",
                            f"delete Pod {meta['name']} in StatefulSet {sts['metadata']['name']} successful")

    async def _update_status(self, sts: Obj, pods: list[Obj], current: str, update: str, collisions: int) -> None:
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        min_ready = sts["spec"].get("minReadySeconds", 0)
        now = self.clock.now()
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(live),
            "readyReplicas": sum(running_and_ready(p) for p in live),
            "availableReplicas": sum(running_and_ready(p) and is_pod_available(p, min_ready, now) for p in live),
            "currentReplicas": sum(revision_of(p) == current for p in live),
            "updatedReplicas": sum(revision_of(p) == update for p in live),
            "currentRevision": current, "updateRevision": update, "collisionCount": collisions}
        if (sts["spec"].get("updateStrategy") or {}).get("type") == "RollingUpdate" and \
                status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]:
            # completeRollingUpdate
            status["currentReplicas"], status["currentRevision"] = status["updatedReplicas"], update
        if all((sts.get("status") or {}).get(k) == v for k, v in status.items()):
            return
        meta = sts["metadata"]
        path = resource_path("apps/v1", "statefulsets", namespace=meta["namespace"], name=meta["name"])
        for attempt in range(STATUS_UPDATE_TRIES):  # retry.RetryOnConflict: a cache behind our last write
            try:
                await self.client.update(f"{path}/status", {**sts, "status": {**(sts.get("status") or {}), **status}})
                return
            except APIStatusError as e:
                if e.code != 409 or attempt == STATUS_UPDATE_TRIES - 1:
                    raise
            sts = await self.client.get(path)
