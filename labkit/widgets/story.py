"""The story of one action: what each component saw and did about one object, in order.

labkit's own. Kubernetes spreads this over audit logs (``k8s.io/apiserver/pkg/audit``), each
component's logs and Events; labkit has it all in one place, ``cluster.trace``, and this module
correlates it by object:

- a client request (who, which verb, the HTTP code) and, if it wrote, the store write and its
  revision (``apiserver → etcd``);
- each watch event the API server delivered about the object, to whom (``system:kube-scheduler``
  is the scheduler's lane, ``system:node:NAME`` the kubelet's);
- what a component decided: the scheduler's attempts (``Scheduler.explain``), and
  :class:`~labkit.trace.DecisionRecord` entries components append (reconciles, runtime calls);
- the writes that follow (the binding, status updates), which are requests again.

Objects are matched by resource, namespace and name; a Deployment's story also follows its
ReplicaSets and their Pods, a ReplicaSet's its Pods (``ownerReferences``), and a Service's its
Endpoints and EndpointSlices. Left out: the watch events delivered to the widgets' own
informers, Events (their names only hint at the object), list and watch requests (they name no
object), and objects deleted before the story is read (their owners can no longer be followed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from labkit.apiserver import resources
from labkit.trace import DecisionRecord, RequestRecord, WatchEventRecord
from labkit.widgets.base import WIDGET_USER, on_loop, stored_objects

#: the lanes in the order a sequence diagram shows them; kubelets and others go where they sort
LANES = ("client", "apiserver", "etcd", "scheduler", "controller-manager", "kubelet", "kube-proxy")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_ALIASES = {alias: r for r in resources.RESOURCES if r.stored
            for alias in (r.plural, r.singular, r.kind, r.qualified, f"{r.singular}.{r.group}", *r.short_names)}


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """One object: ``pods/default/web`` (cluster-scoped objects have an empty namespace)."""

    resource: str  # plural
    namespace: str
    name: str

    def __str__(self) -> str:
        return "/".join(p for p in (self.resource, self.namespace, self.name) if p)

    def key(self) -> str:
        """The store key (``/registry/minions/node-1`` for a node, as kube-apiserver lays them out)."""
        r = _ALIASES.get(self.resource)
        return r.key(self.namespace, self.name) if r else f"/registry/{self.resource}/{self.namespace}/{self.name}"


def ref_of(obj: Any, *, namespace: str = "default") -> ObjectRef:
    """An :class:`ObjectRef` from ``"pod/web"`` / ``"deploy/web"`` (kubectl's TYPE/NAME), an
    ``ObjectRef``, an object dict, or a ``kubernetes`` client model (anything with kind and metadata)."""
    if isinstance(obj, ObjectRef):
        return obj
    if isinstance(obj, str):
        kind, sep, name = obj.partition("/")
        if not sep or not name or "/" in name:
            raise ValueError(f"expected TYPE/NAME such as 'pod/web', got {obj!r}")
        return ObjectRef(_resource(kind), namespace if _namespaced(kind) else "", name)
    if isinstance(obj, Mapping):
        kind, meta = obj.get("kind", ""), obj.get("metadata") or {}
        name, ns = meta.get("name", ""), meta.get("namespace")
    else:  # a kubernetes client model: V1Pod(kind=..., metadata=V1ObjectMeta(...))
        kind, name, ns = getattr(obj, "kind", ""), obj.metadata.name, obj.metadata.namespace
    if not kind:
        raise ValueError("the object has no kind: pass 'TYPE/NAME' instead")
    return ObjectRef(_resource(kind), (ns or namespace) if _namespaced(kind) else "", name)


def _resource(kind: str) -> str:
    r = _ALIASES.get(kind) or _ALIASES.get(kind.lower())
    if r is None:
        raise ValueError(f"unknown resource type {kind!r}")
    return r.plural


def _namespaced(kind: str) -> bool:
    r = _ALIASES.get(kind) or _ALIASES.get(kind.lower())
    return bool(r and r.namespaced)


def lane_of_user(user: str) -> str:
    """The sequence-diagram lane of an authenticated user (a component's identity)."""
    if user == "system:kube-scheduler":
        return "scheduler"
    if user == "system:kube-controller-manager" or (
            user.startswith("system:serviceaccount:kube-system:") and user.endswith("-controller")):
        return "controller-manager"
    if user.startswith("system:node:"):
        return "kubelet-" + user.removeprefix("system:node:")
    if user == "system:kube-proxy":
        return "kube-proxy"
    if user.startswith("system:serviceaccount:"):
        return user.rsplit(":", 1)[1]
    return "client"


def lane_of_component(component: str) -> str:
    """The lane of a :class:`~labkit.trace.DecisionRecord`'s component (``Component.name``)."""
    if component.startswith("kubelet") or component in ("kube-proxy", "scheduler"):
        return component
    if component.endswith("scheduler"):
        return "scheduler"
    if component.endswith("controller") or component in ("kube-controller-manager", "controller-manager"):
        return "controller-manager"
    return component


def lane_sort_key(lane: str) -> tuple[int, str]:
    base = "kubelet" if lane.startswith("kubelet") else lane
    return (LANES.index(base) if base in LANES else len(LANES), lane)


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One arrow (or, when ``source == target``, one note) of the story."""

    seq: int  # the trace record's seq (an attempt takes the seq of the write it led to)
    t: float
    kind: str  # request, store, watch, schedule, decision
    source: str  # lane
    target: str  # lane
    object: str  # "pods/default/web"
    summary: str
    data: dict[str, Any]

    def to_dict(self, *, times: bool = False) -> dict[str, Any]:
        """Plain data; without ``times`` it leaves out seq, t and latencies (what differs between runs)."""
        d: dict[str, Any] = {"kind": self.kind, "source": self.source, "target": self.target, "object": self.object,
             "summary": self.summary, "data": dict(self.data)}
        if times:
            d.update(seq=self.seq, t=self.t)
        else:
            d["data"].pop("latency_ms", None)
        return d


@dataclasses.dataclass(frozen=True, slots=True)
class Story:
    objects: tuple[ObjectRef, ...]
    steps: tuple[Step, ...]

    @property
    def lanes(self) -> list[str]:
        """The lanes the steps use (client, apiserver and etcd always), in diagram order."""
        used = {"client", "apiserver", "etcd"} | {s.source for s in self.steps} | {s.target for s in self.steps}
        return sorted(used, key=lane_sort_key)

    def to_data(self, *, times: bool = False) -> list[dict[str, Any]]:
        return [s.to_dict(times=times) for s in self.steps]

    def to_json(self, *, times: bool = False) -> str:
        return json.dumps(self.to_data(times=times), indent=1, sort_keys=True)

    def text(self) -> str:
        """One line per step, deterministic: no seq numbers, no times."""
        width = max((len(lane) for lane in self.lanes), default=8)
        lines = [f"story of {', '.join(map(str, self.objects))}: {len(self.steps)} steps"]
        for i, s in enumerate(self.steps, 1):
            arrow = f"{s.source.rjust(width)} -> {s.target.ljust(width)}" if s.source != s.target else \
                f"{s.source.rjust(width)}    {'(decides)'.ljust(width)}"
            lines.append(f"{i:3} {arrow} {s.summary}")
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterable[Step]:
        return iter(self.steps)

    def __repr__(self) -> str:
        return f"Story({', '.join(map(str, self.objects))}, steps={len(self.steps)})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())


# --- building ------------------------------------------------------------------------------------

def build_story(records: Iterable[Any], objects: Sequence[ObjectRef], *,
                attempts: Mapping[str, Sequence[Any]] | None = None) -> Story:
    """The story of ``objects`` from trace ``records`` and, per pod key ``ns/name``, the scheduler's
    attempts (``Scheduler.explain``). Pure: the same records give the same story."""
    wanted = {(o.resource, o.namespace, o.name): o for o in objects}
    placed: list[tuple[float, tuple[Any, ...], Step]] = []  # (position, tie-break, step)
    # The API server fans one change out to all its watchers at once, in no fixed order: all the
    # deliveries of one change sit where the first one did, by lane, so the same actions give the same story.
    first_delivery: dict[tuple[str, str, int], int] = {}
    sched_writes: dict[str, list[int]] = {}  # pod key -> seqs of the scheduler's binding/status writes
    for r in records:
        base = getattr(r, "resource", "").partition("/")[0]
        ref = wanted.get((base, r.namespace, r.name)) if r.kind in ("request", "watch", "decision") else None
        if ref is None:
            continue
        if isinstance(r, RequestRecord):
            for k, step in enumerate(_request_steps(r, ref)):
                placed.append((r.seq, (k,), step))
            if lane_of_user(r.user) == "scheduler" and r.resource in ("pods/binding", "pods/status"):
                sched_writes.setdefault(f"{r.namespace}/{r.name}", []).append(r.seq)
        elif isinstance(r, WatchEventRecord):
            if r.type != "BOOKMARK" and r.user != WIDGET_USER:  # not what the widgets themselves watch
                at = first_delivery.setdefault((str(ref), r.resource, r.revision), r.seq)
                placed.append((at, (*lane_sort_key(lane_of_user(r.user)), r.user), _watch_step(r, ref)))
        elif isinstance(r, DecisionRecord):
            lane = lane_of_component(r.component)
            step = Step(r.seq, r.t, "decision", lane, lane, str(ref), r.summary, dict(r.data))
            placed.append((r.seq, (0,), step))
    end = max((p for p, _, _ in placed), default=0) + 1
    for pod_key, pod_attempts in sorted((attempts or {}).items()):
        ns, name = pod_key.split("/", 1)
        ref = wanted.get(("pods", ns, name))
        if ref is None:
            continue
        writes = iter(sched_writes.get(pod_key, []))
        for a in pod_attempts:
            # an attempt happened just before the write it led to; attempts with no write yet go last
            seq = next(writes, None)
            position = seq - 0.5 if seq is not None else end + a.cycle
            placed.append((position, (0,), _attempt_step(a, ref, seq or 0)))
    placed.sort(key=lambda p: (p[0], p[1]))
    return Story(tuple(sorted(objects)), tuple(step for _, _, step in placed))


def _request_steps(r: RequestRecord, ref: ObjectRef) -> list[Step]:
    lane = lane_of_user(r.user)
    data = {"user": r.user, "user_agent": r.user_agent, "verb": r.verb, "resource": r.resource, "code": r.code,
            "revision": r.revision, "latency_ms": round(r.latency_ms, 3)}
    sub = r.resource.partition("/")[2]
    what = f"{r.verb} {r.resource} {'/'.join(p for p in (r.namespace, r.name) if p)}"
    served = f", answered by {r.server}" if r.server else ""  # which API server, when there are several
    if r.server:
        data["server"] = r.server
    steps = [Step(r.seq, r.t, "request", lane, "apiserver", str(ref), f"{what} -> {r.code} ({r.user}{served})",
                  data)]
    if r.revision:
        key = ObjectRef(ref.resource, ref.namespace, ref.name).key()
        op = "delete" if r.verb == "delete" and not sub and r.code == 200 else "write"
        steps.append(Step(r.seq, r.t, "store", "apiserver", "etcd", str(ref), f"{op} {key} rev {r.revision}",
                          {"key": key, "revision": r.revision, "op": op}))
    return steps


def _watch_step(r: WatchEventRecord, ref: ObjectRef) -> Step:
    lane = lane_of_user(r.user)
    return Step(r.seq, r.t, "watch", "apiserver", lane, str(ref),
                f"{r.type} {r.resource} {'/'.join(p for p in (r.namespace, r.name) if p)} rev {r.revision} "
                f"-> {r.user}", {"user": r.user, "type": r.type, "revision": r.revision})


def _attempt_step(a: Any, ref: ObjectRef, seq: int) -> Step:
    feasible = f"{len(a.feasible)}/{a.num_all_nodes} nodes feasible"
    summary = (f"cycle {a.cycle}: chose {a.node} ({feasible})" if a.node
               else f"cycle {a.cycle}: unschedulable ({feasible}): {a.error}")
    data = {"cycle": a.cycle, "profile": a.profile, "node": a.node, "error": a.error,
            "nominated_node": a.nominated_node, "totals": dict(a.totals()),
            "filters": [dataclasses.asdict(f) for f in a.filters()],
            "scores": [dataclasses.asdict(s) | {"weighted": s.weighted} for s in a.plugin_scores()]}
    return Step(seq, 0.0, "schedule", "scheduler", "scheduler", str(ref), summary, data)


# --- reading a cluster ---------------------------------------------------------------------------

def related_objects(values: Iterable[Mapping[str, Any]], root: ObjectRef) -> list[ObjectRef]:
    """``root`` and what belongs to it among the stored objects ``values`` (decoded JSON):
    ReplicaSets and Pods by ``ownerReferences`` (transitively), a Service's Endpoints and EndpointSlices."""
    objs = [v for v in values if (v.get("metadata") or {}).get("namespace", "") == root.namespace]
    refs = [root]
    if root.resource == "services":
        refs.append(ObjectRef("endpoints", root.namespace, root.name))
        refs += [ObjectRef("endpointslices", root.namespace, o["metadata"]["name"]) for o in objs
                 if o.get("kind") == "EndpointSlice"
                 and (o["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == root.name]
        return refs
    owners = {o["metadata"].get("uid") for o in objs
              if o["metadata"]["name"] == root.name and _ALIASES.get(o.get("kind", "")) == _ALIASES.get(root.resource)}
    while owners:
        children = [o for o in objs if o.get("kind") in ("ReplicaSet", "Pod")
                    and any(ref.get("uid") in owners for ref in o["metadata"].get("ownerReferences") or [])]
        refs += [ObjectRef(_resource(o["kind"]), root.namespace, o["metadata"]["name"]) for o in children]
        owners = {o["metadata"].get("uid") for o in children if o["kind"] == "ReplicaSet"}
    return refs


def story(cluster: Any, obj: Any, *, namespace: str = "default") -> Story:
    """The story so far of ``obj`` (``"pod/web"``, ``"deploy/web"``, an object) in ``cluster``."""
    root = ref_of(obj, namespace=namespace)
    objects = [root]
    if root.resource in ("deployments", "replicasets", "services"):
        stored = stored_objects(cluster, "deployments", "replicasets", "pods", "endpointslices",
                                namespace=root.namespace)
        objects = related_objects([o for objs in stored.values() for o in objs], root)
    return build_story(cluster.trace.records(), objects, attempts=scheduler_attempts(cluster, objects))


def scheduler_attempts(cluster: Any, objects: Iterable[ObjectRef]) -> dict[str, list[Any]]:
    """Every scheduler's remembered attempts for the pods among ``objects``, by ``ns/name``."""
    schedulers = [c for c in cluster.components if callable(getattr(c, "explain", None))]
    pods = [f"{o.namespace}/{o.name}" for o in objects if o.resource == "pods"]
    if not schedulers or not pods:
        return {}

    def read() -> dict[str, list[Any]]:
        return {p: [a for s in schedulers for a in s.explain(p)] for p in pods}
    return {p: sorted(a, key=lambda x: x.cycle) for p, a in on_loop(cluster, read).items() if a}
