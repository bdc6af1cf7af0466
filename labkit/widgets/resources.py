"""Resources at a glance: what nodes can give, what pods ask for and use, and how the autoscaler answers.

Per node, its ``allocatable`` CPU and memory against what its pods request (the sum the scheduler's
``NodeResourcesFit`` counts, ``pod_requests``) and what metrics-server last measured (``NodeMetrics``,
what ``kubectl top node`` shows); per pod of ``namespace``, its usage (``PodMetrics``) against its
request and limit; per HorizontalPodAutoscaler, its replicas over time against the utilization it
measured and its target, as ``kubectl get hpa -w`` would stream them. Objects are read from the store
and metrics from the cluster's metrics-server in this process (looking adds no request to the trace).

A widget under a cell shows what that cell did: the autoscalers' history starts when the widget is
created. Left out: ephemeral storage and extended resources, per-container rows, HPA metrics other
than Resource and ContainerResource.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import parse_quantity
from labkit.scheduler.types import Resource, pod_requests
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, on_loop, stored_objects
from labkit.widgets.pod_lifecycle import InformerFeed

WATCHED = frozenset({"nodes", "pods", "horizontalpodautoscalers"})
REQUESTED, USED, LIMIT, OVER = "#9ecae1", "#3182bd", PHASE_COLORS["Failed"], PHASE_COLORS["Pending"]
BAR_W = 120


@dataclasses.dataclass(frozen=True, slots=True)
class Amounts:
    """One resource of a node or pod: millicores for ``cpu``, bytes for ``memory``; ``capacity`` is a
    node's allocatable or a pod's limit; None when not known or not set."""

    resource: str
    node: bool
    capacity: int | None
    requested: int
    used: int | None

    def fmt(self, value: int) -> str:
        return f"{value}m" if self.resource == "cpu" else f"{value / 2**20:.0f}Mi"

    def text(self) -> str:
        parts = [f"used {self.fmt(self.used) if self.used is not None else '-'}", f"req {self.fmt(self.requested)}"]
        if self.capacity is not None:
            parts.append(f"{'alloc' if self.node else 'lim'} {self.fmt(self.capacity)}")
        return " / ".join(parts)


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """A node (capacity: allocatable) or a pod (capacity: limit) with its CPU and memory."""

    name: str
    cpu: Amounts
    memory: Amounts
    note: str = ""  # a pod's node, a node's pod count

    def text(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.name}{note}: cpu {self.cpu.text()} | memory {self.memory.text()}"


@dataclasses.dataclass(frozen=True, slots=True)
class HPAPoint:
    at: float  # seconds since the widget was created
    replicas: int
    desired: int
    utilization: int | None  # the first Resource metric's averageUtilization


@dataclasses.dataclass
class HPAState:
    name: str
    target: str  # "Deployment/web"
    metric: str  # "cpu"
    goal: int | None  # averageUtilization target
    min_replicas: int
    max_replicas: int
    history: list[HPAPoint]

    def text(self) -> str:
        last = self.history[-1] if self.history else None
        now = f"{last.utilization}%" if last and last.utilization is not None else "<unknown>"
        goal = f"{self.goal}%" if self.goal is not None else "-"
        counts = [p.replicas for p in self.history]
        steps = [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]
        return (f"hpa {self.name} -> {self.target}: {self.metric} {now}/{goal}, replicas "
                f"{' -> '.join(map(str, steps)) or '-'} (min {self.min_replicas}, max {self.max_replicas})")


def _milli(quantity: str | None) -> int | None:
    return parse_quantity(quantity).milli_value() if quantity else None


def _bytes(quantity: str | None) -> int | None:
    return parse_quantity(quantity).value() if quantity else None


def _limits(pod: Obj) -> tuple[int | None, int | None]:
    """The pod's CPU and memory limits: the sum over its containers, None if one of them sets none."""
    limits = [(c.get("resources") or {}).get("limits") or {} for c in pod["spec"].get("containers") or []]
    if not limits:
        return None, None
    cpu = None if any("cpu" not in lim for lim in limits) else sum(parse_quantity(lim["cpu"]).milli_value()
                                                                   for lim in limits)
    memory = None if any("memory" not in lim for lim in limits) else sum(parse_quantity(lim["memory"]).value()
                                                                         for lim in limits)
    return cpu, memory


def _active(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class ResourcesView(LiveWidget):
    """``ResourcesView(cluster)`` (``cluster.widgets.resources()``): nodes' allocatable against requested
    and used, the pods of ``namespace`` against their requests and limits, and the autoscalers there, live.
    The view redraws on every write to nodes, pods and HPAs, and every ``tick`` seconds (the
    cluster's metric resolution by default) for new measurements."""

    css_name = "resources"

    def __init__(self, cluster: Any, *, namespace: str = "default", tick: float | None = None,
                 live: bool = True) -> None:
        super().__init__(live=live)
        self.cluster, self.namespace = cluster, namespace
        self._started = time.monotonic()
        self.nodes: list[Row] = []
        self.pods: list[Row] = []
        self.hpas: dict[str, HPAState] = {}
        self.measured = False  # whether the cluster runs metrics-server
        if live:
            self.follow(cluster.trace, lambda r: r.kind == "request" and r.revision > 0
                        and r.resource.partition("/")[0] in WATCHED)
            InformerFeed.attach(self, cluster, lambda _client: [], tick=tick or cluster.metric_resolution,
                                on_tick=self.invalidate)
        self.refresh()

    def collect(self) -> None:
        objs = stored_objects(self.cluster, "nodes", "pods", "horizontalpodautoscalers")
        pods = [p for p in objs["pods"] if _active(p)]
        server = self.cluster.metrics_server
        self.measured = server is not None
        node_usage, pod_usage = on_loop(self.cluster, lambda: (
            {n["metadata"]["name"]: m for n in objs["nodes"] if server and (m := server.storage.node_metrics(n))},
            {p["metadata"]["name"]: m for p in pods if server and p["metadata"]["namespace"] == self.namespace
             and (m := server.storage.pod_metrics(p))}))
        self.nodes = [self._node_row(n, [p for p in pods if p["spec"].get("nodeName") == n["metadata"]["name"]],
                                     node_usage.get(n["metadata"]["name"])) for n in objs["nodes"]]
        self.pods = [self._pod_row(p, pod_usage.get(p["metadata"]["name"])) for p in pods
                     if p["metadata"]["namespace"] == self.namespace]
        for hpa in objs["horizontalpodautoscalers"]:
            if hpa["metadata"]["namespace"] == self.namespace:
                self._record_hpa(hpa)

    @staticmethod
    def _node_row(node: Obj, pods: list[Obj], usage: Obj | None) -> Row:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        requested = Resource()
        for p in pods:
            requested.add(pod_requests(p["spec"]))
        used = (usage or {}).get("usage") or {}
        return Row(node["metadata"]["name"],
                   Amounts("cpu", True, _milli(allocatable.get("cpu")), requested.milli_cpu, _milli(used.get("cpu"))),
                   Amounts("memory", True, _bytes(allocatable.get("memory")), requested.memory,
                           _bytes(used.get("memory"))),
                   f"{len(pods)} pod{'' if len(pods) == 1 else 's'}")

    @staticmethod
    def _pod_row(pod: Obj, usage: Obj | None) -> Row:
        requested = pod_requests(pod["spec"])
        cpu_limit, memory_limit = _limits(pod)
        used_cpu = used_memory = None
        if usage is not None:
            containers = [c.get("usage") or {} for c in usage.get("containers") or []]
            used_cpu = sum(_milli(c.get("cpu")) or 0 for c in containers)
            used_memory = sum(_bytes(c.get("memory")) or 0 for c in containers)
        return Row(pod["metadata"]["name"], Amounts("cpu", False, cpu_limit, requested.milli_cpu, used_cpu),
                   Amounts("memory", False, memory_limit, requested.memory, used_memory),
                   pod["spec"].get("nodeName") or "unscheduled")

    def _record_hpa(self, hpa: Obj) -> None:
        spec, status = hpa["spec"], hpa.get("status") or {}
        metric = next((m for m in spec.get("metrics") or [] if m.get("type") in ("Resource", "ContainerResource")),
                      None)
        source = (metric or {}).get("resource") or (metric or {}).get("containerResource") or {}
        current = next((((m.get("resource") or m.get("containerResource") or {}).get("current") or {})
                        for m in status.get("currentMetrics") or [] if m.get("type") == (metric or {}).get("type")),
                       {})
        ref = spec.get("scaleTargetRef") or {}
        name = hpa["metadata"]["name"]
        state = self.hpas.setdefault(name, HPAState(name, "", "", None, 0, 0, []))
        state.target = f"{ref.get('kind', '')}/{ref.get('name', '')}"
        state.metric = source.get("name", "-")
        state.goal = (source.get("target") or {}).get("averageUtilization")
        state.min_replicas, state.max_replicas = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if not status.get("conditions"):  # not reconciled yet: nothing measured, no replica count
            return
        point = HPAPoint(round(time.monotonic() - self._started, 1), status.get("currentReplicas", 0),
                         status.get("desiredReplicas", 0), current.get("averageUtilization"))
        last = state.history[-1] if state.history else None
        if last is None or (last.replicas, last.desired, last.utilization) != (point.replicas, point.desired,
                                                                              point.utilization):
            state.history.append(point)

    # --- text -------------------------------------------------------------------------------------

    def summary(self) -> str:
        s = "" if len(self.nodes) == 1 else "s"
        return (f"ResourcesView({len(self.nodes)} node{s}, {len(self.pods)} pod{'' if len(self.pods) == 1 else 's'} "
                f"in {self.namespace}, {len(self.hpas)} hpa{'' if len(self.hpas) == 1 else 's'}"
                f"{'' if self.measured else ', no metrics-server'})")

    def text(self) -> str:
        return "\n".join([self.summary(), *(f"  node {n.text()}" for n in self.nodes),
                          *(f"  pod {p.text()}" for p in self.pods),
                          *(f"  {h.text()}" for _, h in sorted(self.hpas.items()))])

    # --- HTML -------------------------------------------------------------------------------------

    def render(self) -> str:
        parts = [] if self.measured else ['<div class="labkit-problem">this cluster runs no metrics-server '
                                          "(<code>Cluster(metrics_server=False)</code>): nothing is measured</div>"]
        parts += [f"<div><b>nodes</b> (allocatable, <span style='color:{USED}'>used</span>, "
                 f"<span style='color:{REQUESTED}'>requested</span>)</div>"]
        parts.append(self._table("node", self.nodes) if self.nodes else "<div>no node yet</div>")
        parts.append(f"<div><b>pods in {esc(self.namespace)}</b> (<span style='color:{USED}'>used</span>, "
                     f"<span style='color:{REQUESTED}'>request</span>, <span style='color:{LIMIT}'>limit</span>)</div>")
        parts.append(self._table("pod", self.pods) if self.pods else "<div>no pod</div>")
        for _, hpa in sorted(self.hpas.items()):
            parts.append(self._hpa(hpa))
        return "".join(parts)

    def _table(self, kind: str, rows: list[Row]) -> str:
        header = "".join(f"<th>{h}</th>" for h in (kind, "cpu", "memory"))
        body = "".join(f'<tr><td style="white-space:nowrap">{esc(r.name)}<br><small>{esc(r.note)}</small></td>'
                       f"<td>{_bar(r.cpu)}</td><td>{_bar(r.memory)}</td></tr>" for r in rows)
        return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"

    def _hpa(self, hpa: HPAState) -> str:
        """Replicas over time (a step line, min and max dashed) and utilization against the target."""
        w, h, pad = 360, 90, 24
        end = max([p.at for p in hpa.history] + [time.monotonic() - self._started, 1.0])
        top = max([hpa.max_replicas, *(p.replicas for p in hpa.history), 1])
        top_util = max([hpa.goal or 0, *(p.utilization or 0 for p in hpa.history), 100])

        def x(t: float) -> float:
            return round(pad + t / end * (w - 2 * pad), 1)

        def y(v: float, scale: float) -> float:
            return round(h - 12 - v / scale * (h - 24), 1)
        steps, util = [], []
        for i, p in enumerate(hpa.history):
            if i:
                steps.append(f"{x(p.at)},{y(hpa.history[i - 1].replicas, top)}")
            steps.append(f"{x(p.at)},{y(p.replicas, top)}")
            if p.utilization is not None:
                util.append(f"{x(p.at)},{y(p.utilization, top_util)}")
        if hpa.history:
            steps.append(f"{x(end)},{y(hpa.history[-1].replicas, top)}")
        lines = [f'<line x1="{pad}" y1="{y(v, top)}" x2="{w - pad}" y2="{y(v, top)}" stroke="#bbb" '
                 f'stroke-dasharray="3,3"><title>{label} {v}</title></line>'
                 for v, label in ((hpa.min_replicas, "minReplicas"), (hpa.max_replicas, "maxReplicas"))]
        if hpa.goal is not None:
            lines.append(f'<line x1="{pad}" y1="{y(hpa.goal, top_util)}" x2="{w - pad}" y2="{y(hpa.goal, top_util)}" '
                         f'stroke="{OVER}" stroke-dasharray="6,3"><title>target {hpa.goal}%</title></line>'
                         f'<text x="{w - pad + 2}" y="{y(hpa.goal, top_util) + 4}" fill="{OVER}">{hpa.goal}%</text>')
        svg = (f'<svg width="{w}" height="{h}" class="labkit-hpa-chart">{"".join(lines)}'
               f'<polyline points="{" ".join(util)}" fill="none" stroke="{OVER}"/>'
               f'<polyline points="{" ".join(steps)}" fill="none" stroke="{USED}" stroke-width="2"/>'
               f'<text x="2" y="{y(top, top) + 4}">{top}</text><text x="2" y="{h - 8}">0</text>'
               f'<text x="{w - pad + 2}" y="{h - 8}">{end:.0f}s</text></svg>')
        last = hpa.history[-1] if hpa.history else None
        now = f"{last.utilization}%" if last and last.utilization is not None else "&lt;unknown&gt;"
        replicas = f"{last.replicas} replicas (desired {last.desired})" if last else "no status yet"
        return (f"<div><b>hpa {esc(hpa.name)}</b> &rarr; {esc(hpa.target)}: {esc(hpa.metric)} {now} / "
                f"{hpa.goal if hpa.goal is not None else '-'}% target, {replicas}</div>"
                f'<div><span style="color:{USED}">replicas</span>, <span style="color:{OVER}">utilization '
                f"vs target</span></div>{svg}")


def _bar(a: Amounts) -> str:
    """A bar scaled to the largest of capacity, request and usage: the request filled light, the usage
    dark inside it, the capacity (a node's allocatable, a pod's limit) as the end or a red mark."""
    scale = max(a.capacity or 0, a.requested, a.used or 0, 1)

    def px(v: int) -> int:
        return round(v / scale * BAR_W)
    parts = [f'<rect width="{BAR_W}" height="12" fill="#f4f4f4"/>',
             f'<rect width="{px(a.requested)}" height="12" fill="{REQUESTED}"/>']
    if a.used is not None:
        fill = OVER if not a.node and a.used > a.requested else USED  # a pod beyond its request
        parts.append(f'<rect y="3" width="{px(a.used)}" height="6" fill="{fill}"/>')
    if a.capacity is not None and not a.node:
        parts.append(f'<line x1="{px(a.capacity) - 1}" y1="0" x2="{px(a.capacity) - 1}" y2="12" stroke="{LIMIT}" '
                     f'stroke-width="2"/>')
    return (f'<svg width="{BAR_W}" height="12"><title>{esc(a.text())}</title>{"".join(parts)}</svg>'
            f'<br><small style="white-space:nowrap">{esc(a.text())}</small>')
