"""Builders for the per-plugin tables, and one plugin run the way the framework runs it.

The tables mirror kube's own plugin tests (``pkg/scheduler/framework/plugins/<plugin>/*_test.go``):
``node()`` and ``pod()`` play ``st.MakeNode()`` and ``st.MakePod()`` (a pod has no containers unless
it asks for resources or images, as there), ``place()`` puts existing pods on a node, and
``filter_statuses()`` / ``scores()`` run PreFilter+Filter or PreScore+Score+NormalizeScore through a
one-plugin :class:`~labkit.scheduler.framework.Framework`, so Skip and the Protocol declarations count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from labkit.scheduler.cache import Cache
from labkit.scheduler.framework import Code, CycleState, Framework
from labkit.scheduler.types import NodeInfo, PodInfo

Obj = dict[str, Any]
OK = (Code.Success, "")
UNSCHEDULABLE = Code.Unschedulable
UNRESOLVABLE = Code.UnschedulableAndUnresolvable
MB = 1024 * 1024


def node_obj(name: str, *, labels: Obj | None = None, taints: list[Obj] | None = None, unschedulable: bool = False,
             allocatable: Obj | None = None, images: Iterable[tuple[list[str], int]] = ()) -> Obj:
    """A Node: ``allocatable`` as a resource list (``pods`` defaults to 110), ``images`` as (names, bytes)."""
    return {"metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"taints": list(taints or []), "unschedulable": unschedulable},
            "status": {"allocatable": {"pods": "110", **(allocatable or {})},
                       "images": [{"names": names, "sizeBytes": size} for names, size in images]}}


def node(name: str, **kw: Any) -> NodeInfo:
    return NodeInfo(node_obj(name, **kw))


def nodes_in_cache(*objs: Obj) -> list[NodeInfo]:
    """NodeInfos from the scheduler's cache, which counts on how many nodes each image is."""
    cache = Cache()
    return [cache.add_node(o) for o in objs]


def pod(name: str = "p", *, namespace: str = "default", uid: str = "", labels: Obj | None = None,
        requests: Obj | list[Obj] | None = None, init: list[Obj] | None = None, images: Sequence[str] = (),
        init_images: Sequence[str] = (), priority: int = 0, start_time: str = "", terminating: bool = False,
        **spec: Any) -> PodInfo:
    """``requests``: one container's requests, or a list (one container each); other keywords go into
    ``spec`` as they are (``tolerations``, ``nodeSelector``, ``affinity``, ``nodeName`` ...)."""
    per_container = [requests] if isinstance(requests, dict) else list(requests or [])
    containers = [{"name": f"c{i}", "resources": {"requests": r}} for i, r in enumerate(per_container)]
    containers += [{"name": f"i{i}", "image": image} for i, image in enumerate(images)]
    inits = [{"name": f"init{i}", "resources": {"requests": r}} for i, r in enumerate(init or [])]
    inits += [{"name": f"initi{i}", "image": image} for i, image in enumerate(init_images)]
    meta: Obj = {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}", "labels": dict(labels or {})}
    if terminating:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    body: Obj = {"metadata": meta, "spec": {"containers": containers, "priority": priority, **spec}}
    if inits:
        body["spec"]["initContainers"] = inits
    if start_time:
        body["status"] = {"startTime": start_time}
    return PodInfo(body)


def place(n: NodeInfo, *pods: PodInfo) -> NodeInfo:
    for p in pods:
        n.add_pod(p)
    return n


def filter_statuses(plugin: Any, p: PodInfo, nodes: Sequence[NodeInfo], *,
                    all_nodes: Sequence[NodeInfo] | None = None) -> dict[str, tuple[Code, str]]:
    """Each node's (code, message) after PreFilter (over ``all_nodes``, default ``nodes``) and Filter."""
    fw = Framework([plugin], {})
    state = CycleState()
    state.all_nodes = all_nodes if all_nodes is not None else nodes
    s = fw.run_pre_filter_plugins(state, p, state.all_nodes)
    if not s.is_success():
        return {n.name: (s.code, s.message) for n in nodes}
    return {n.name: (r.code, r.message) for n in nodes for r in [fw.run_filter_plugins(state, p, n)]}


def scores(plugin: Any, p: PodInfo, nodes: Sequence[NodeInfo], *, all_nodes: Sequence[NodeInfo] | None = None,
           raw: bool = False) -> list[int] | None:
    """PreScore, Score and NormalizeScore over the feasible ``nodes``: the normalized (or ``raw``) scores,
    None when PreScore skipped the plugin."""
    fw = Framework([plugin], {})
    state = CycleState()
    state.all_nodes = all_nodes if all_nodes is not None else nodes
    s = fw.run_pre_score_plugins(state, p, nodes)
    assert s.is_success(), s
    out = fw.run_score_plugins(state, p, nodes)
    if plugin.name not in out:
        return None
    return out[plugin.name][0 if raw else 1]
