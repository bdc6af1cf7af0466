"""The DaemonSet controller: one daemon pod on every eligible node (``pkg/controller/daemon``).

``syncDaemonSet``: snapshot the template in a ControllerRevision (``constructHistory``: named
``<daemonset>-<hash>``, labelled ``controller-revision-hash``, ``data`` a strategic merge patch that
replaces ``spec.template``, ``revision`` one above the others; a template seen before, as after
``kubectl rollout undo``, gets its old revision back with a new number), then ``manage``: for each
node decide ``NodeShouldRunDaemonPod`` and create or delete pods (``podsShouldBeOnNode``: failed pods
are replaced, extra pods on a node deleted, pods on a node that no longer fits deleted), then the
update strategy (``RollingUpdate``: ``rollingUpdate`` replaces old pods while at most
``maxUnavailable`` nodes lack an available daemon pod, or surges a new pod beside the old one on at
most ``maxSurge`` nodes; ``OnDelete``: nothing, a pod deleted by hand comes back new), then
``cleanupHistory`` (old revisions beyond ``revisionHistoryLimit`` that no pod uses) and ``status``.
The revision helpers shared with the StatefulSet controller are in :mod:`labkit.controllers.history`.

A node fits (``predicates``) when the pod's ``nodeName`` (if set) is the node's, its ``nodeSelector``
and required node affinity match (``nodeaffinity.GetRequiredNodeAffinity``, the scheduler's helper),
and its tolerations tolerate the node's NoSchedule and NoExecute taints; a pod keeps running on a
node whose untolerated taints are NoSchedule only. Every daemon pod tolerates what kube adds
(``AddOrUpdateDaemonPodTolerations``: not-ready and unreachable NoExecute, disk/memory/pid-pressure
and unschedulable NoSchedule, network-unavailable for host-network pods). Pods are created with
``generateName: <daemonset>-``, the labels ``controller-revision-hash`` and ``pod-template-generation``,
and a required node affinity on ``metadata.name`` (``matchFields``) in place of any other required
terms (``ReplaceDaemonSetPodNodeNameNodeAffinity``): the scheduler binds them, as since kube 1.12.
Creations go in slow-start batches; expectations (the ReplicaSet controller's) hold the next sync
until the cache has seen them. Events read as kube's: ``SuccessfulCreate`` "Created pod: fluentd-x7k2p",
``SuccessfulDelete``, ``FailedDaemonPod``.

The revision hash is the Deployment controller's (FNV-32a of the normalized template JSON), so names
differ from kube's. Left out: the back-off for failed pods, hash collisions (``collisionCount``), the
``numberMisscheduled`` clean-up of pods on nodes deleted from the API (the pod GC does that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from labkit import codec
from labkit.apimachinery.meta import Obj, new_controller_ref
from labkit.apimachinery.podutil import is_pod_available, is_pod_ready
from labkit.apimachinery.taints import find_matching_untolerated_taint
from labkit.apiserver.registry.daemonset import template_generation
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import CONTROLLER_UID_INDEX, Result
from labkit.controllers.deployment import compute_hash, resolve
from labkit.controllers.history import (
    API_VERSION,
    HASH_LABEL,
    delete_revision,
    owned_revisions,
    same_data,
    template_patch,
    update_revision,
)
from labkit.controllers.replicaset import PodOwnerController, pod_from_template, slow_start_batch
from labkit.informer import Informer, key_of
from labkit.scheduler.plugins.helper import node_selector_term_errors, term_matches

GENERATION_LABEL = "pod-template-generation"

#: the tolerations every daemon pod gets (``AddOrUpdateDaemonPodTolerations``)
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


def _same_toleration(a: Obj, b: Obj) -> bool:
    """``Toleration.MatchToleration``: the same key, operator, value and effect."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def daemon_pod_tolerations(pod_spec: Obj) -> list[Obj]:
    """The template's tolerations plus the daemon ones it lacks (``AddOrUpdateTolerationInPodSpec``)."""
    tolerations = [dict(t) for t in pod_spec.get("tolerations") or []]
    extra = [*DAEMON_TOLERATIONS, *([NETWORK_UNAVAILABLE] if pod_spec.get("hostNetwork") else [])]
    for toleration in extra:
        same = next((i for i, t in enumerate(tolerations) if _same_toleration(t, toleration)), None)
        if same is None:
            tolerations.append(dict(toleration))
        else:
            tolerations[same] = dict(toleration)
    return tolerations


def node_name_affinity(affinity: Obj | None, node_name: str) -> Obj:
    """``ReplaceDaemonSetPodNodeNameNodeAffinity``: the required node terms become one ``matchFields``
    term on ``metadata.name``; preferred terms and pod (anti-)affinity stay."""
    affinity = codec.clone(affinity or {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return affinity


def target_node_name(pod: Obj) -> str | None:
    """``GetTargetNodeName``: the pod's node, or the one its ``matchFields`` affinity names."""
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    required = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" \
                    and len(field.get("values") or []) == 1:
                return str(field["values"][0])
    return None


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """``NodeShouldRunDaemonPod``: (should a daemon pod be created here, may an existing one stay)."""
    pod_spec = ds["spec"]["template"].get("spec") or {}
    name, labels = node["metadata"]["name"], node["metadata"].get("labels") or {}
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != name:
        return False, False
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False, False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
    if required is not None and not any(term_matches(t, labels, name) for t in required
                                        if not node_selector_term_errors(t)):
        return False, False
    tolerations = daemon_pod_tolerations(pod_spec)
    taints = node.get("spec", {}).get("taints") or []
    if find_matching_untolerated_taint(taints, tolerations, ("NoSchedule", "NoExecute")) is not None:
        return False, find_matching_untolerated_taint(taints, tolerations, ("NoExecute",)) is None
    return True, True


def is_pod_updated(pod: Obj, hash_: str, generation: int) -> bool:
    """``IsPodUpdated``: the pod carries the current revision's hash or template generation."""
    labels = pod["metadata"].get("labels") or {}
    return bool(hash_) and labels.get(HASH_LABEL) == hash_ \
        or bool(generation) and labels.get(GENERATION_LABEL) == str(generation)


def _oldest_first(pods: Iterable[Obj]) -> list[Obj]:
    """``podByCreationTimestampAndPhase``: running pods before others, then the oldest first."""
    return sorted(pods, key=lambda p: (p.get("status", {}).get("phase") != "Running",
                                       p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


class DaemonSetsController(PodOwnerController):
    name = "daemonset-controller"
    resource = "daemonsets"
    kind = "DaemonSet"
    api_version = API_VERSION
    workers = 2  # ConcurrentDaemonSetSyncs

    @property
    def nodes(self) -> Informer:
        return self.informer("v1", "nodes")

    @property
    def revisions(self) -> Informer:
        return self.informer(API_VERSION, "controllerrevisions")

    # --- event handlers (the pods' are PodOwnerController's) ------------------------------------------

    def register(self) -> None:
        super().register()
        self.nodes.add_handlers(on_add=lambda _n: self._enqueue_all(), on_update=self._node_updated)
        self.revisions.add_handlers(on_add=self._owner_changed, on_update=lambda _o, n: self._owner_changed(n),
                                    on_delete=self._owner_changed)

    def _enqueue_all(self) -> None:
        for ds in self.owners.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, node: Obj) -> None:
        """``updateNode``: only a change that can change where daemons run (``shouldIgnoreNodeUpdate``)."""
        def facts(n: Obj) -> Any:
            conditions = sorted((c.get("type"), c.get("status")) for c in n.get("status", {}).get("conditions") or [])
            return n["metadata"].get("labels"), n.get("spec"), conditions
        if facts(old) != facts(node):
            self._enqueue_all()

    def _owner_changed(self, revision: Obj) -> None:
        key = self._owner_key(revision)
        if key is not None:
            self.queue.add(key)

    # --- sync -----------------------------------------------------------------------------------------

    async def sync(self, key: str) -> Result | None:
        ds = self.owners.get(key)
        if ds is None:
            self.expectations.forget(key)
            return None
        if ds["metadata"].get("deletionTimestamp"):
            return None
        nodes = self.nodes.list()
        current, old = await self._construct_history(ds)
        hash_ = (current["metadata"].get("labels") or {}).get(HASH_LABEL, "")
        if self.expectations.satisfied(key):
            node_pods = await self._node_to_daemon_pods(ds)
            await self._manage(key, ds, nodes, node_pods, hash_)
            if self.expectations.satisfied(key) and ds["spec"]["updateStrategy"].get("type") == "RollingUpdate":
                await self._rolling_update(key, ds, nodes, await self._node_to_daemon_pods(ds), hash_)
            await self._cleanup_history(ds, old)
        return await self._update_status(ds, nodes, hash_)

    async def _node_to_daemon_pods(self, ds: Obj) -> dict[str, list[Obj]]:
        """``getNodesToDaemonPods``: the claimed pods by the node they run on or are meant for."""
        pods = await self._claim_pods(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            phase = pod.get("status", {}).get("phase")
            if pod["metadata"].get("deletionTimestamp") and phase in ("Succeeded", "Failed"):
                continue
            node = target_node_name(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node

    async def _manage(self, key: str, ds: Obj, nodes: list[Obj], node_pods: dict[str, list[Obj]],
                      hash_: str) -> None:
        """``manage`` + ``podsShouldBeOnNode``."""
        surge = self._allows_surge(ds)
        create: list[str] = []
        delete: list[Obj] = []
        for node in nodes:
            name = node["metadata"]["name"]
            run, keep = should_run(ds, node)
            pods = node_pods.get(name, [])
            if run and not pods:
                create.append(name)
            elif keep:
                running = []
                for pod in pods:
                    if pod["metadata"].get("deletionTimestamp"):
                        continue
                    if pod.get("status", {}).get("phase") == "Failed":
                        self.recorder.event(ds, "Warning", "FailedDaemonPod",
                                            f"Found failed daemon pod {pod['metadata']['namespace']}/"
                                            f"{pod['metadata']['name']} on node {name}, will try to kill it")
                        delete.append(pod)
                        continue
                    running.append(pod)
                delete += self._extra_pods(_oldest_first(running), hash_ if surge else None)
            else:
                delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        await self._sync_nodes(key, ds, delete, create, hash_)

    @staticmethod
    def _extra_pods(running: list[Obj], hash_: str | None) -> list[Obj]:
        """All but the oldest running pod; when surging, all but the oldest new and the oldest old one."""
        if hash_ is None:
            return running[1:]
        kept: set[bool] = set()
        extra = []
        for pod in running:
            new = (pod["metadata"].get("labels") or {}).get(HASH_LABEL) == hash_
            if new in kept:
                extra.append(pod)
            kept.add(new)
        return extra

    @staticmethod
    def _allows_surge(ds: Obj) -> bool:
        strategy = ds["spec"].get("updateStrategy") or {}
        surge = (strategy.get("rollingUpdate") or {}).get("maxSurge")
        return strategy.get("type") == "RollingUpdate" and surge not in (None, 0, "0%")

    def _counts(self, ds: Obj, nodes: list[Obj]) -> tuple[int, int]:
        """``updatedDesiredNodeCounts``: (maxSurge, maxUnavailable) against the nodes that should run one."""
        desired = sum(1 for n in nodes if should_run(ds, n)[0])
        rolling = ds["spec"]["updateStrategy"].get("rollingUpdate") or {}
        surge = resolve(rolling.get("maxSurge"), desired, round_up=True)
        unavailable = resolve(rolling.get("maxUnavailable"), desired, round_up=True)
        if desired > 0 and surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _updated_and_old(self, ds: Obj, pods: list[Obj], hash_: str) -> tuple[Obj | None, Obj | None, bool]:
        """``findUpdatedPodsOnNode``: the node's new and old daemon pod; False if it has two of one kind."""
        new = old = None
        generation = template_generation(ds)
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if is_pod_updated(pod, hash_, generation):
                if new is not None:
                    return None, None, False
                new = pod
            else:
                if old is not None:
                    return None, None, False
                old = pod
        return new, old, True

    async def _rolling_update(self, key: str, ds: Obj, nodes: list[Obj], node_pods: dict[str, list[Obj]],
                              hash_: str) -> None:
        """``rollingUpdate``: delete old pods within maxUnavailable, or surge new ones within maxSurge."""
        max_surge, max_unavailable = self._counts(ds, nodes)
        min_ready, now = ds["spec"].get("minReadySeconds", 0), self.clock.now()
        by_name = {n["metadata"]["name"]: n for n in nodes}
        if max_surge == 0:
            unavailable, replace, candidates = 0, [], []
            for pods in node_pods.values():
                new, old, ok = self._updated_and_old(ds, pods, hash_)
                if not ok or (old is None) == (new is None):
                    unavailable += 1  # manage() creates or prunes here
                elif new is not None:
                    unavailable += not is_pod_available(new, min_ready, now)
                elif old is None:
                    continue
                elif not is_pod_available(old, min_ready, now):
                    replace.append(old)
                elif unavailable < max_unavailable:
                    candidates.append(old)
            room = min(max(max_unavailable - unavailable, 0), len(candidates))
            await self._sync_nodes(key, ds, replace + candidates[:room], [], hash_)
            return
        surged, to_delete, allowed, candidate_nodes = 0, [], [], []
        for name, pods in node_pods.items():
            new, old, ok = self._updated_and_old(ds, pods, hash_)
            if not ok:
                surged += 1
            elif old is None:
                continue
            elif new is None:
                if not is_pod_available(old, min_ready, now):
                    node = by_name.get(name)
                    if node is None or not should_run(ds, node)[0]:
                        to_delete.append(old)
                    else:
                        allowed.append(name)
                elif surged < max_surge:
                    candidate_nodes.append(name)
            elif not is_pod_available(new, min_ready, now):
                surged += 1
            else:
                to_delete.append(old)
        room = min(max(max_surge - surged, 0), len(candidate_nodes))
        await self._sync_nodes(key, ds, to_delete, allowed + candidate_nodes[:room], hash_)

    async def _sync_nodes(self, key: str, ds: Obj, delete: list[Obj], create: list[str], hash_: str) -> None:
        """``syncNodes``: create daemon pods on ``create`` in slow-start batches, delete ``delete``."""
        if not create and not delete:
            return
        self.expectations.expect(key, adds=len(create), deletes={key_of(p) for p in delete})
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        template = codec.clone(ds["spec"]["template"])
        meta = template.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), HASH_LABEL: hash_}
        generation = template_generation(ds)
        if generation:
            meta["labels"][GENERATION_LABEL] = str(generation)
        spec = template.setdefault("spec", {})
        spec["tolerations"] = daemon_pod_tolerations(spec)
        owner = new_controller_ref(ds, kind="DaemonSet", api_version=API_VERSION)
        targets = iter(create)

        async def create_one() -> None:
            node = next(targets)
            body = pod_from_template(template, generate_name=f"{name}-", namespace=ns, owner_ref=owner)
            body["spec"]["affinity"] = node_name_affinity(spec.get("affinity"), node)
            try:
                pod = await self.client.create(resource_path("v1", "pods", namespace=ns), body)
            except APIStatusError as e:
                self.expectations.creation_failed(key)
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {e.status.get('message', e)}")
                raise
            self.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

        results: list[Any] = list(await asyncio.gather(*(self.delete_pod(ds, key, p) for p in delete),
                                                       return_exceptions=True))
        if create:
            try:
                await slow_start_batch(len(create), create_one)
            except APIStatusError as e:
                self.expectations.expect(key)  # skipped creations will not be observed
                results.append(e)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    # --- history --------------------------------------------------------------------------------------

    async def _construct_history(self, ds: Obj) -> tuple[Obj, list[Obj]]:
        """``constructHistory``: (the current revision, created or renumbered; the others)."""
        owned = owned_revisions(self.revisions, ds)
        data: Obj = {"data": template_patch(ds)}
        current = [r for r in owned if same_data(r, data)]
        old = [r for r in owned if r not in current]
        next_revision = max((r.get("revision", 0) for r in old), default=0) + 1
        if not current:
            return await self._snapshot(ds, next_revision), old
        cur = current[-1]
        if cur.get("revision", 0) < next_revision:
            cur = await update_revision(self.client, cur, next_revision)
        return cur, old

    async def _snapshot(self, ds: Obj, revision: int) -> Obj:
        """A new ControllerRevision of the template (``snapshot``); one of that name already there is
        taken if it holds the same template (a cache that lags)."""
        hash_ = compute_hash(ds["spec"]["template"])
        ns, name = ds["metadata"]["namespace"], f"{ds['metadata']['name']}-{hash_}"
        labels = {**((ds["spec"]["template"].get("metadata") or {}).get("labels") or {}), HASH_LABEL: hash_}
        body = {"apiVersion": API_VERSION, "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "annotations": dict(ds["metadata"].get("annotations") or {}),
                             "ownerReferences": [new_controller_ref(ds, kind="DaemonSet", api_version=API_VERSION)]},
                "data": template_patch(ds), "revision": revision}
        path = resource_path(API_VERSION, "controllerrevisions", namespace=ns)
        try:
            return await self.client.create(path, body)
        except APIStatusError as e:
            if e.code != 409:
                raise
            existing = await self.client.get(resource_path(API_VERSION, "controllerrevisions", namespace=ns,
                                                           name=name))
            if not same_data(existing, body):
                raise
            return existing

    async def _cleanup_history(self, ds: Obj, old: list[Obj]) -> None:
        """``cleanupHistory``: delete the oldest revisions beyond the limit that no pod runs."""
        excess = len(old) - ds["spec"].get("revisionHistoryLimit", 10)
        if excess <= 0:
            return
        live = {(p["metadata"].get("labels") or {}).get(HASH_LABEL)
                for p in self.pods.by_index(CONTROLLER_UID_INDEX, ds["metadata"]["uid"])}
        for revision in sorted(old, key=lambda r: r.get("revision", 0)):
            if excess <= 0:
                break
            if (revision["metadata"].get("labels") or {}).get(HASH_LABEL) in live:
                continue
            await delete_revision(self.client, revision)
            excess -= 1

    # --- status ---------------------------------------------------------------------------------------

    async def _update_status(self, ds: Obj, nodes: list[Obj], hash_: str) -> Result | None:
        """``updateDaemonSetStatus``: count from the cache; look again when pods wait for minReadySeconds."""
        node_pods: dict[str, list[Obj]] = {}
        for pod in self.pods.by_index(CONTROLLER_UID_INDEX, ds["metadata"]["uid"]):
            target = target_node_name(pod)
            if target is not None and not (pod["metadata"].get("deletionTimestamp")
                                           and pod.get("status", {}).get("phase") in ("Succeeded", "Failed")):
                node_pods.setdefault(target, []).append(pod)
        min_ready, now, generation = ds["spec"].get("minReadySeconds", 0), self.clock.now(), template_generation(ds)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            run, _ = should_run(ds, node)
            on_node = node_pods.get(node["metadata"]["name"])
            if run:
                desired += 1
                if on_node:
                    current += 1
                    pod = _oldest_first(on_node)[0]
                    if is_pod_ready(pod):
                        ready += 1
                        available += is_pod_available(pod, min_ready, now)
                    updated += is_pod_updated(pod, hash_, generation)
            elif on_node:
                misscheduled += 1
        status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                       "desiredNumberScheduled": desired, "numberReady": ready,
                       "observedGeneration": ds["metadata"].get("generation", 1)}
        for field, value in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                             ("numberUnavailable", desired - available)):
            if value:  # omitempty
                status[field] = value
        old = ds.get("status") or {}
        if {k: v for k, v in old.items() if k not in ("collisionCount", "conditions")} != status:
            body = {**ds, "status": {**{k: old[k] for k in ("collisionCount", "conditions") if k in old}, **status}}
            await self.client.update(resource_path(API_VERSION, "daemonsets", namespace=ds["metadata"]["namespace"],
                                                   name=ds["metadata"]["name"], subresource="status"), body)
        if min_ready > 0 and ready != available:
            return Result(requeue_after=min_ready)
        return None
