"""What the scheduler knows about pods and nodes: ``Resource``, ``PodInfo``, ``NodeInfo``.

Mirrors ``pkg/scheduler/framework/types.go``: a ``NodeInfo`` aggregates a Node with the pods
assigned to it (their summed ``requested`` and ``non_zero_requested`` resources, the pods carrying
affinity terms) and the images it holds, so a Filter or Score plugin answers in O(1) instead of
walking every pod. ``PodInfo`` precomputes a pod's requests once per scheduling attempt. Requests
follow ``k8s.io/component-helpers/resource`` ``PodRequests``: the sum of the containers, restartable
(sidecar) init containers added to it, and the maximum of that and each init container; plus
``spec.overhead``. Left out: pod-level resources, host ports, volumes, in-place resize.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import parse_quantity

DEFAULT_MILLI_CPU_REQUEST = 100  # schedutil.DefaultMilliCPURequest: 0.1 core for a container without a request
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # schedutil.DefaultMemoryRequest: 200 MiB
_FIELDS = {"cpu": "milli_cpu", "memory": "memory", "ephemeral-storage": "ephemeral_storage",
           "pods": "allowed_pod_number"}


@dataclasses.dataclass(slots=True)
class Resource:
    """Amounts of the resources the scheduler accounts for (cpu in millicores, the rest in units)."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_list(cls, resources: Obj | None) -> Resource:
        r = cls()
        for name, value in (resources or {}).items():
            r.add_one(name, value)
        return r

    def add_one(self, name: str, value: Any) -> None:
        q = parse_quantity(value)
        if name == "cpu":
            self.milli_cpu += q.milli_value()
        elif name == "memory":
            self.memory += q.value()
        elif name == "ephemeral-storage":
            self.ephemeral_storage += q.value()
        elif name == "pods":
            self.allowed_pod_number += q.value()
        elif "/" in name or name.startswith("hugepages-"):  # extended and hugepage resources (IsScalarResourceName)
            self.scalar[name] = self.scalar.get(name, 0) + q.value()

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for name, value in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * value

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, value in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), value)

    def copy(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number, dict(self.scalar))

    @staticmethod
    def getter(name: str) -> Callable[[Resource], int]:
        """A fast reader of one resource (what :meth:`get` answers), for the per-node hot paths."""
        field = _FIELDS.get(name)
        return operator.attrgetter(field) if field else (lambda r: r.scalar.get(name, 0))

    def get(self, name: str) -> int:
        if name == "cpu":
            return self.milli_cpu
        if name == "memory":
            return self.memory
        if name == "ephemeral-storage":
            return self.ephemeral_storage
        if name == "pods":
            return self.allowed_pod_number
        return self.scalar.get(name, 0)


def pod_requests(spec: Obj, *, non_zero: bool = False) -> Resource:
    """``PodRequests`` (or, with ``non_zero``, the scoring variant that gives request-less
    containers 100m cpu and 200Mi memory)."""

    def container(c: Obj) -> Resource:
        r = Resource.from_list((c.get("resources") or {}).get("requests"))
        if non_zero:
            requests = (c.get("resources") or {}).get("requests") or {}
            if "cpu" not in requests:
                r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
            if "memory" not in requests:
                r.memory = DEFAULT_MEMORY_REQUEST
        return r

    total = Resource()
    for c in spec.get("containers") or []:
        total.add(container(c))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or []:
        r = container(c)
        if c.get("restartPolicy") == "Always":  # a sidecar keeps running beside the app containers
            total.add(r)
            sidecars.add(r)
            r = sidecars.copy()
        else:
            r.add(sidecars)
        init_max.set_max(r)
    total.set_max(init_max)
    if spec.get("overhead"):
        total.add(Resource.from_list(spec["overhead"]))
    return total


class PodInfo:
    """A pod plus what scheduling needs of it, computed once."""

    __slots__ = ("pod", "key", "name", "namespace", "uid", "labels", "spec", "priority", "requests",
                 "non_zero_requests", "tolerations", "affinity", "has_required_anti_affinity", "has_affinity")

    def __init__(self, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        self.pod = pod
        self.name: str = meta["name"]
        self.namespace: str = meta.get("namespace", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid", "")
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.spec: Obj = spec
        self.priority: int = spec.get("priority") or 0
        self.requests = pod_requests(spec)
        self.non_zero_requests = pod_requests(spec, non_zero=True)
        self.tolerations: list[Obj] = spec.get("tolerations") or []
        self.affinity: Obj = spec.get("affinity") or {}
        pa, paa = self.affinity.get("podAffinity") or {}, self.affinity.get("podAntiAffinity") or {}
        self.has_affinity = bool(pa or paa)
        self.has_required_anti_affinity = bool(paa.get("requiredDuringSchedulingIgnoredDuringExecution"))

    def __repr__(self) -> str:
        return f"<PodInfo {self.key} priority={self.priority}>"


@dataclasses.dataclass(slots=True)
class ImageState:
    """``ImageStateSummary``: an image's size and on how many nodes it is present."""

    size: int
    num_nodes: int = 0


def normalized_image_name(name: str) -> str:
    """Images without a tag or digest mean ``:latest`` (``normalizedImageName``)."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


class NodeInfo:
    """A Node and the pods assigned to it, with their resources summed."""

    __slots__ = ("name", "node", "labels", "taints", "unschedulable", "allocatable", "requested",
                 "non_zero_requested", "pods", "pods_with_affinity", "pods_with_required_anti_affinity",
                 "images", "generation")

    def __init__(self, node: Obj | None = None, pods: list[PodInfo] | tuple[PodInfo, ...] = ()) -> None:
        self.name = ""
        self.node: Obj = {}
        self.labels: dict[str, str] = {}
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.images: dict[str, ImageState] = {}  # the cache shares ImageState objects between nodes
        self.generation = 0
        if node is not None:
            self.set_node(node)
        for p in pods:
            self.add_pod(p)

    def set_node(self, node: Obj) -> None:
        spec, status = node.get("spec") or {}, node.get("status") or {}
        self.node = node
        self.name = node["metadata"]["name"]
        self.labels = node["metadata"].get("labels") or {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.from_list(status.get("allocatable"))
        self.generation += 1

    def add_pod(self, pod: PodInfo) -> None:
        self.pods.append(pod)
        self.requested.add(pod.requests)
        self.non_zero_requested.add(pod.non_zero_requests)
        if pod.has_affinity:
            self.pods_with_affinity.append(pod)
        if pod.has_required_anti_affinity:
            self.pods_with_required_anti_affinity.append(pod)
        self.generation += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        for i, p in enumerate(self.pods):
            if p.key == key:
                del self.pods[i]
                self.requested.add(p.requests, -1)
                self.non_zero_requested.add(p.non_zero_requests, -1)
                if p.has_affinity:
                    self.pods_with_affinity.remove(p)
                if p.has_required_anti_affinity:
                    self.pods_with_required_anti_affinity.remove(p)
                self.generation += 1
                return p
        return None

    def clone(self) -> NodeInfo:
        """A copy whose pod lists and sums can change without touching this one (preemption's what-if)."""
        c = NodeInfo.__new__(NodeInfo)
        c.name, c.node, c.labels, c.taints, c.unschedulable = (self.name, self.node, self.labels, self.taints,
                                                                self.unschedulable)
        c.allocatable, c.images, c.generation = self.allocatable, self.images, self.generation
        c.requested, c.non_zero_requested = self.requested.copy(), self.non_zero_requested.copy()
        c.pods, c.pods_with_affinity = list(self.pods), list(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        return c

    def __repr__(self) -> str:
        a, r = self.allocatable, self.requested
        return (f"<NodeInfo {self.name} cpu {r.milli_cpu}m/{a.milli_cpu}m memory {r.memory}/{a.memory} "
                f"pods {len(self.pods)}/{a.allowed_pod_number}>")

