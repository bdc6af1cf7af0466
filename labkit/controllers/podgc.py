"""Pod garbage collection (``pkg/controller/podgc``, ``PodGCController``).

Every ``pod_gc_period`` one pass over the pod and node caches force-deletes (grace period 0):

- **orphaned** pods, bound to a node that does not exist: a missing node is quarantined for
  ``pod_gc_quarantine`` first, then asked for by name (a stale cache is not proof); if the API server
  says 404, its pods are marked ``Failed`` with the ``DisruptionTarget`` condition (reason
  ``DeletionByPodGC``) and deleted. Without this, the pods of a deleted node would say Running forever:
  no kubelet is left to say otherwise.
- **terminating pods on an out-of-service node**: not Ready and tainted ``node.kubernetes.io/out-of-service``;
- **unscheduled terminating** pods (a deletionTimestamp, no node);
- **terminated** pods (Succeeded, Failed) beyond ``terminated_pod_gc_threshold``: evicted ones first, then
  the oldest.

A pod not yet terminal is patched to ``Failed`` before the delete, as kube does. One pass is one work
item, so ``cluster.pause()`` / ``step()`` hold and release it. Left out: metrics.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.apimachinery.timeutil import rfc3339
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result

OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
PASS = "pods"  # the one key: a whole gc pass


def _terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _out_of_service(node: Obj | None) -> bool:
    """Not Ready and tainted ``node.kubernetes.io/out-of-service``: its pods will not be stopped by a kubelet."""
    return node is not None and (get_node_condition(node, "Ready") or {}).get("status") != "True" and any(
        t.get("key") == OUT_OF_SERVICE for t in (node.get("spec") or {}).get("taints") or [])


def _eviction_then_age(pod: Obj) -> tuple[bool, str, str]:
    """``byEvictionAndCreationTimestamp``: evicted pods first, then by creation time, then by name."""
    evicted = (pod.get("status") or {}).get("reason") == "Evicted"
    return not evicted, pod["metadata"].get("creationTimestamp", ""), pod["metadata"]["name"]


class PodGCController(Controller):
    name = "pod-garbage-collector"
    resource = "pods"

    def register(self) -> None:
        self.informer("v1", "pods")
        self.informer("v1", "nodes")
        self._quarantine: dict[str, float] = {}  # missing node -> when to ask the API server (``nodeQueue``)

    async def run(self) -> None:
        await super().run()
        self.queue.add(PASS)

    async def sync(self, key: str) -> Result:
        pods = self.informer("v1", "pods").list()
        nodes = {n["metadata"]["name"]: n for n in self.informer("v1", "nodes").list()}
        doomed: dict[str, tuple[Obj, Obj | None]] = {}  # uid -> (pod, condition to add)
        for pod in self._over_threshold(pods):
            doomed[pod["metadata"]["uid"]] = (pod, None)
        for pod in pods:
            node = nodes.get(pod["spec"].get("nodeName", ""))
            if pod["metadata"].get("deletionTimestamp") and (not pod["spec"].get("nodeName") or _out_of_service(node)):
                doomed[pod["metadata"]["uid"]] = (pod, None)
        gone = await self._deleted_nodes(pods, nodes)
        orphaned = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists", "lastTransitionTime": rfc3339(self.clock.now())}
        for pod in pods:
            if pod["spec"].get("nodeName") in gone:
                doomed[pod["metadata"]["uid"]] = (pod, orphaned)
        for pod, condition in doomed.values():
            await self._fail_and_delete(pod, condition)
        return Result(requeue_after=self.config.pod_gc_period)

    def _over_threshold(self, pods: list[Obj]) -> list[Obj]:
        threshold = self.config.terminated_pod_gc_threshold
        terminated = [p for p in pods if _terminated(p)]
        if threshold <= 0 or len(terminated) <= threshold:
            return []
        return sorted(terminated, key=_eviction_then_age)[:len(terminated) - threshold]

    async def _deleted_nodes(self, pods: list[Obj], nodes: dict[str, Obj]) -> set[str]:
        """Nodes missing from the cache for a whole quarantine that the API server does not know either."""
        now = self.clock.monotonic()
        for pod in pods:
            name = pod["spec"].get("nodeName", "")
            if name and name not in nodes:
                self._quarantine.setdefault(name, now + self.config.pod_gc_quarantine)
        gone: set[str] = set()
        for name, due in list(self._quarantine.items()):
            if due > now:
                continue
            del self._quarantine[name]  # asked once; still missing next pass means a new quarantine
            if name in nodes:
                continue
            try:
                await self.client.get(resource_path("v1", "nodes", name=name))
            except APIStatusError as e:
                if e.code != 404:
                    raise
                gone.add(name)
        return gone

    async def _fail_and_delete(self, pod: Obj, condition: Obj | None) -> None:
        """``markFailedAndDeletePodWithCondition``: phase Failed (and the condition) first, then delete now."""
        meta = pod["metadata"]
        path = resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"])
        try:
            if not _terminated(pod):
                status: Obj = {"phase": "Failed"}
                if condition is not None:
                    status["conditions"] = [condition]
                await self.client.patch(resource_path("v1", "pods", namespace=meta["namespace"], name=meta["name"],
                                                      subresource="status"),
                                        {"metadata": {"uid": meta["uid"]}, "status": status},
                                        patch_type="application/strategic-merge-patch+json")
            await self.client.delete(path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                            "preconditions": {"uid": meta["uid"]}})
        except APIStatusError as e:
            if e.code not in (404, 409):  # gone already, or a new pod of the same name
                raise
        self.decide("pods", f"{meta['namespace']}/{meta['name']}",
                    f"force-deleted pod {meta['namespace']}/{meta['name']}"
                    + (f": {condition['message']}" if condition else ""))
