"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector (``pkg/controller/replicaset``).

``syncReplicaSet``: list the pods the selector matches, adopt orphans (``ControllerRefManager``),
create missing pods in slow-start batches (1, 2, 4 ... as ``slowStartBatch``) or delete the surplus
preferring the least useful pods (``ActivePodsWithRanks``: unscheduled before scheduled, Pending
before Running, not-ready before ready, lower ``pod-deletion-cost`` first, then pods whose node holds
more of the owner's pods, ready for less time, more restarts of one container, newer), then write ``status``.
Expectations (``ControllerExpectations``) keep a sync from acting again before the cache has seen its own
creates and deletes. Events read as kube's: ``SuccessfulCreate`` "Created pod: web-7d9f8-abcde".
At most ``burstReplicas`` (500) pods are created or deleted per sync. Left out: the logarithmic time
buckets of ``LogarithmicScaleDown`` (times compare exactly), releasing owned pods that stop matching
the selector.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from labkit import codec
from labkit.apimachinery.labels import LabelSelector, label_selector_from_object
from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.podutil import get_pod_ready_condition, is_pod_available, is_pod_ready
from labkit.apimachinery.timeutil import rfc3339
from labkit.client import APIStatusError, Client, resource_path
from labkit.clock import REAL, Clock
from labkit.controllers.base import CONTROLLER_UID_INDEX, Controller, Result, controller_uid_index, orphans_of
from labkit.informer import Informer, key_of

BURST_REPLICAS = 500
EXPECTATIONS_TIMEOUT = 300.0  # ExpectationsTimeout: after this, a controller stops waiting for its cache


class Expectations:
    """Creates still to be seen per controller key, and pods whose deletion is still to be seen."""

    def __init__(self, clock: Clock = REAL) -> None:
        self.clock = clock
        self._adds: dict[str, int] = {}
        self._deletes: dict[str, set[str]] = {}
        self._set_at: dict[str, float] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: set[str] | None = None) -> None:
        self._adds[key] = adds
        self._deletes[key] = set(deletes or ())
        self._set_at[key] = self.clock.monotonic()

    def creation_observed(self, key: str) -> None:
        if self._adds.get(key, 0) > 0:
            self._adds[key] -= 1

    def creation_failed(self, key: str) -> None:
        self.creation_observed(key)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        self._deletes.get(key, set()).discard(pod_key)

    def satisfied(self, key: str) -> bool:
        if key not in self._set_at:
            return True
        if self._adds.get(key, 0) <= 0 and not self._deletes.get(key):
            return True
        return self.clock.monotonic() - self._set_at[key] > EXPECTATIONS_TIMEOUT

    def forget(self, key: str) -> None:
        for d in (self._adds, self._deletes, self._set_at):
            d.pop(key, None)


def is_pod_active(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") \
        and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _newest_first(timestamp: str) -> str:
    """A sort key that puts later RFC 3339 times first and an empty one before all."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in timestamp)


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((pod["metadata"].get("annotations") or {}).get(DELETION_COST, 0))
    except ValueError:
        return 0


def _max_restarts(pod: Obj) -> tuple[int, int]:
    """``maxContainerRestarts``: the most restarts of one container, then of one sidecar (an init
    container with ``restartPolicy: Always``); not their sum."""
    status = pod.get("status") or {}
    regular = max((c.get("restartCount", 0) for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in pod["spec"].get("initContainers") or [] if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount", 0) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def _deletion_rank(pod: Obj, on_same_node: int) -> tuple[Any, ...]:
    """Smaller sorts first = deleted first (``ActivePodsWithRanks.Less``)."""
    status = pod.get("status", {})
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    ready = is_pod_ready(pod)
    ready_since = (get_pod_ready_condition(pod) or {}).get("lastTransitionTime") or "" if ready else ""
    regular, sidecar = _max_restarts(pod)
    return (bool(pod["spec"].get("nodeName")), phase_rank, ready, _deletion_cost(pod), -on_same_node,
            _newest_first(ready_since), -regular, -sidecar,
            _newest_first(pod["metadata"].get("creationTimestamp") or ""))


def pods_to_delete(pods: list[Obj], n: int, related: list[Obj] | None = None) -> list[Obj]:
    """The ``n`` pods to delete first. A pod is ranked by how many ``related`` pods (its owner's pods and
    its siblings', ``getIndirectlyRelatedPods``) share its node: scaling down spreads what is left."""
    per_node: dict[str, int] = {}
    for p in related if related is not None else pods:
        node = p["spec"].get("nodeName")
        if node and is_pod_active(p):
            per_node[node] = per_node.get(node, 0) + 1
    return sorted(pods, key=lambda p: _deletion_rank(p, per_node.get(p["spec"].get("nodeName") or "", 0)))[:n]


def pod_from_template(template: Obj, *, generate_name: str, namespace: str, owner_ref: Obj) -> Obj:
    """``GetPodFromTemplate``: labels, annotations and spec of the template, owned by the controller."""
    meta = template.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": generate_name, "namespace": namespace,
                         "labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {}),
                         "ownerReferences": [owner_ref]},
            "spec": codec.clone(template.get("spec") or {})}


async def slow_start_batch(count: int, fn: Any, *, initial: int = 1) -> int:
    """Run ``fn()`` ``count`` times in doubling batches; stop after a batch with a failure.
    Returns how many succeeded (``slowStartBatch``)."""
    done, batch = 0, min(count, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        done += ok
        if ok < batch:
            raise next(r for r in results if isinstance(r, BaseException))
        batch = min(2 * batch, count - done)
    return done


async def claim_pods(client: Client, pods: Informer, owner: Obj, selector: LabelSelector, *, kind: str,
                     api_version: str) -> list[Obj]:
    """The pods ``owner`` controls, after adopting the orphans its selector matches (``ClaimPods`` of
    ``PodControllerRefManager``; an owner being deleted adopts nothing). The pods informer must have
    the ``controllerUID`` index."""
    uid, ns = owner["metadata"]["uid"], owner["metadata"]["namespace"]
    owned = pods.by_index(CONTROLLER_UID_INDEX, uid)
    if owner["metadata"].get("deletionTimestamp"):
        return owned
    for pod in pods.by_index(CONTROLLER_UID_INDEX, orphans_of(ns)):
        if pod["metadata"].get("deletionTimestamp") or not selector.matches(pod["metadata"].get("labels") or {}):
            continue
        refs = [*(pod["metadata"].get("ownerReferences") or []),
                new_controller_ref(owner, kind=kind, api_version=api_version)]
        try:
            owned.append(await client.patch(
                resource_path("v1", "pods", namespace=ns, name=pod["metadata"]["name"]),
                {"metadata": {"ownerReferences": refs, "uid": pod["metadata"]["uid"]}}))
        except APIStatusError as e:
            if e.code not in (404, 409, 422):
                raise
    return owned


class PodOwnerController(Controller):
    """What the controllers that own pods through a selector share (the ReplicaSet, replication and
    DaemonSet controllers' ``addPod``/``updatePod``/``deletePod`` and expectations): an owner's own
    changes queue it; a pod queues its controller and marks the create or delete the owner's
    expectations wait for; an orphan queues every owner whose selector matches it. Subclasses name the
    owner's ``kind``, ``api_version`` and ``resource``, and may read its selector differently."""

    kind: ClassVar[str] = ""
    api_version: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expectations = Expectations(self.clock)

    @property
    def owners(self) -> Informer:
        """The informer of the owning kind."""
        return self.informer(self.api_version, self.resource)

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    def selector_of(self, owner: Obj) -> LabelSelector:
        """The pods ``owner`` selects (``spec.selector`` is a ``metav1.LabelSelector``)."""
        return label_selector_from_object(owner["spec"].get("selector"))

    def register(self) -> None:
        self.owners.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                 on_delete=self._owner_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.pods.add_indexer(CONTROLLER_UID_INDEX, controller_uid_index)

    def _owner_deleted(self, owner: Obj) -> None:
        self.expectations.forget(key_of(owner))
        self.enqueue(owner)

    def _owner_key(self, obj: Obj) -> str | None:
        """The key of ``obj``'s controller, if it is one of ours and still the same object."""
        ref = get_controller_of(obj)
        if ref is None or ref.get("kind") != self.kind:
            return None
        key = f"{obj['metadata']['namespace']}/{ref['name']}"
        owner = self.owners.get(key)
        return key if owner is not None and owner["metadata"]["uid"] == ref["uid"] else None

    def _enqueue_matching(self, pod: Obj) -> None:
        """An orphan: every owner whose selector matches may want to adopt it."""
        for owner in self.owners.list(pod["metadata"]["namespace"]):
            if self.selector_of(owner).matches(pod["metadata"].get("labels") or {}):
                self.enqueue(owner)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)
        elif get_controller_of(pod) is None:
            self._enqueue_matching(pod)

    def _pod_updated(self, old: Obj, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            if pod["metadata"].get("deletionTimestamp"):
                self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)
        elif get_controller_of(pod) is None:
            self._enqueue_matching(pod)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    async def delete_pod(self, owner: Obj, key: str, pod: Obj) -> None:
        """Delete one of ``owner``'s pods (its deletion already expected), with kube's events; a pod already
        gone is no failure (``podControl.DeletePod``)."""
        pod_name = pod["metadata"]["name"]
        try:
            await self.client.delete(resource_path("v1", "pods", namespace=pod["metadata"]["namespace"], name=pod_name))
        except APIStatusError as e:
            self.expectations.deletion_observed(key, key_of(pod))
            if e.code == 404:
                return
            self.recorder.event(owner, "Warning", "FailedDelete", f"Error deleting: {e.status.get('message', e)}")
            raise
        self.recorder.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}")

    async def _claim_pods(self, owner: Obj) -> list[Obj]:
        """Pods ``owner`` controls, adopting matching orphans (``ClaimPods``)."""
        return await claim_pods(self.client, self.pods, owner, self.selector_of(owner), kind=self.kind,
                                api_version=self.api_version)


class ReplicaSetController(PodOwnerController):
    """Keeps ReplicaSets' pods; :class:`labkit.controllers.replication.ReplicationManager` runs the same
    loop for ReplicationControllers by changing the kind and how its selector reads."""

    name = "replicaset-controller"
    resource = "replicasets"
    kind = "ReplicaSet"
    api_version = "apps/v1"
    workers = 2

    def _related_pods(self, rs: Obj, active: list[Obj]) -> list[Obj]:
        """The pods of every ReplicaSet with this one's owner (a Deployment's old and new ones)."""
        owner = get_controller_of(rs)
        if owner is None:
            return active
        ns = rs["metadata"]["namespace"]
        siblings = {r["metadata"]["uid"] for r in self.owners.list(ns)
                    if (get_controller_of(r) or {}).get("uid") == owner.get("uid")}
        return [p for uid in siblings for p in self.pods.by_index(CONTROLLER_UID_INDEX, uid)]

    async def sync(self, key: str) -> Result | None:
        rs = self.owners.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        pods = await self._claim_pods(rs)
        active = [p for p in pods if is_pod_active(p)]
        failure: APIStatusError | None = None
        if self.expectations.satisfied(key) and not rs["metadata"].get("deletionTimestamp"):
            try:
                await self._manage_replicas(key, rs, active)
            except APIStatusError as e:  # kube writes the status anyway, then returns the error (back-off)
                failure = e
        result = await self._update_status(rs, active, failure)
        if failure is not None:
            raise failure
        return result

    async def _manage_replicas(self, key: str, rs: Obj, active: list[Obj]) -> None:
        diff = len(active) - rs["spec"].get("replicas", 1)
        ns, name = rs["metadata"]["namespace"], rs["metadata"]["name"]
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect(key, adds=count)
            body = pod_from_template(rs["spec"]["template"], generate_name=f"{name}-", namespace=ns,
                                     owner_ref=new_controller_ref(rs, kind=self.kind, api_version=self.api_version))

            async def create() -> None:
                try:
                    pod = await self.client.create(resource_path("v1", "pods", namespace=ns), body)
                except APIStatusError as e:
                    self.expectations.creation_failed(key)
                    self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {e.status.get('message', e)}")
                    raise
                self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")

            try:
                await slow_start_batch(count, create)
            except BaseException:
                self.expectations.expect(key)  # skipped creations will not be observed
                raise
        elif diff > 0:
            victims = pods_to_delete(active, min(diff, BURST_REPLICAS), self._related_pods(rs, active))
            self.expectations.expect(key, deletes={key_of(p) for p in victims})
            results = await asyncio.gather(*(self.delete_pod(rs, key, p) for p in victims), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]

    async def _update_status(self, rs: Obj, active: list[Obj], failure: APIStatusError | None = None) -> Result | None:
        """``calculateStatus`` + ``updateReplicaSetStatus``; a pod not yet available re-checks later. A
        create or delete that failed (``failure``: a quota's 403, say) sets the ``ReplicaFailure``
        condition with its message, as kube does; a sync that succeeds removes it."""
        spec = rs["spec"]
        template_labels = (spec["template"].get("metadata") or {}).get("labels") or {}
        min_ready = spec.get("minReadySeconds", 0)
        labeled = ready = available = 0
        now = self.clock.now()
        for pod in active:  # one pass: a large ReplicaSet syncs after nearly every change of its pods
            labeled += template_labels.items() <= (pod["metadata"].get("labels") or {}).items()
            if is_pod_ready(pod):
                ready += 1
                available += is_pod_available(pod, min_ready, now)
        status = {"replicas": len(active), "fullyLabeledReplicas": labeled, "readyReplicas": ready,
                  "availableReplicas": available, "observedGeneration": rs["metadata"].get("generation", 1)}
        old = rs.get("status") or {}
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        had_failure = len(conditions) != len(old.get("conditions") or [])
        if failure is not None and not had_failure:
            reason = "FailedCreate" if len(active) < spec.get("replicas", 1) else "FailedDelete"
            conditions.append({"type": "ReplicaFailure", "status": "True", "lastTransitionTime": rfc3339(now),
                               "reason": reason, "message": failure.status.get("message", str(failure))})
        elif failure is not None:
            conditions = old["conditions"]  # kube keeps the first failure's condition as it is
        if conditions or "conditions" in old:
            status["conditions"] = conditions
        if any(old.get(k, 0) != v for k, v in status.items()):
            body = {**rs, "status": {**{k: v for k, v in old.items() if k != "conditions"}, **status}}
            await self.client.update(resource_path(self.api_version, self.resource,
                                                   namespace=rs["metadata"]["namespace"], name=rs["metadata"]["name"],
                                                   subresource="status"), body)
        if min_ready > 0 and status["readyReplicas"] > status["availableReplicas"]:
            return Result(requeue_after=min_ready)
        return None
