"""The cluster at a glance: control-plane components, and each node with its pods coloured by phase.

labkit's own (the picture every Kubernetes architecture diagram draws, kept live). The model is the
networkx graph of :mod:`labkit.network.graph` (``view.graph``, for the learner's own analysis) built
from the stored Nodes, Pods, Services and EndpointSlices; the view refreshes on every write to
those resources. Left out: namespaces as boxes, containers inside pods, volumes.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from labkit.network.graph import graph
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, stored_objects

WATCHED = frozenset({"nodes", "pods", "services", "endpointslices"})
NODE_W, POD_H, GAP = 190, 20, 12
CHAR_W = 6.65  # px per character of the widgets' 11px monospace labels (DejaVu Sans Mono: 0.6 em)
#: labkit's own plumbing that runs as a component but is no part of the cluster a learner looks at
NOT_SHOWN = frozenset({"widget-feed"})


def fit(label: str, chars: int) -> str:
    """``label`` cut to ``chars`` characters, an ellipsis saying so (the full text is the tooltip)."""
    return label if len(label) <= chars else label[:max(chars - 1, 1)] + "…"


def pod_phase(pod: dict[str, Any]) -> str:
    """The phase a learner sees in ``kubectl get pods`` terms: Terminating once deletion started."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return (pod.get("status") or {}).get("phase") or "Pending"


def node_ready(node: dict[str, Any]) -> str:
    cond = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if cond is None:
        return "Unknown"
    return "Ready" if cond.get("status") == "True" else "NotReady"


class ClusterView(LiveWidget):
    """``ClusterView(cluster)``: the control plane and every node with its pods, live."""

    css_name = "cluster-view"

    def __init__(self, cluster: Any, *, live: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.components: list[str] = []
        self.nodes: dict[str, str] = {}  # name -> Ready / NotReady / Unknown
        self.pods: dict[str, list[tuple[str, str]]] = {}  # node name ("" = unscheduled) -> [(ns/name, phase)]
        if live:
            self.follow(cluster.trace, lambda r: r.kind == "request" and r.revision > 0
                        and r.resource.partition("/")[0] in WATCHED)
        self.refresh()

    def collect(self) -> None:
        objs = stored_objects(self.cluster, "nodes", "pods", "services", "endpointslices")
        self.graph = graph(nodes=objs["nodes"], pods=objs["pods"], services=objs["services"],
                           endpoint_slices=objs["endpointslices"])
        shown = (c.name for c in self.cluster.components  # the kubelets are drawn on their nodes
                 if not c.name.startswith("kubelet") and c.name not in NOT_SHOWN)
        self.components = ["apiserver", "etcd", *sorted(shown)]
        self.nodes = {n["metadata"]["name"]: node_ready(n) for n in objs["nodes"]}
        pods: dict[str, list[tuple[str, str]]] = {name: [] for name in self.nodes}
        for p in objs["pods"]:
            meta = p["metadata"]
            pods.setdefault((p.get("spec") or {}).get("nodeName", ""), []).append(
                (f"{meta['namespace']}/{meta['name']}", pod_phase(p)))
        # nodes by name, the unscheduled ("") last
        self.pods = {node: sorted(pods[node]) for node in sorted(pods, key=lambda n: (not n, n))}

    def _all_pods(self) -> list[tuple[str, str]]:
        return [p for items in self.pods.values() for p in items]

    def summary(self) -> str:
        phases: dict[str, int] = {}
        for _, phase in self._all_pods():
            phases[phase] = phases.get(phase, 0) + 1
        counts = "".join(f", {phase.lower()}={n}" for phase, n in sorted(phases.items()))
        return f"ClusterView(nodes={len(self.nodes)}, pods={len(self._all_pods())}{counts})"

    def text(self) -> str:
        lines = [self.summary(), "control plane: " + ", ".join(self.components)]
        for node, items in self.pods.items():
            title = f"{node} ({self.nodes.get(node, 'Unknown')})" if node else "unscheduled"
            lines.append(f"{title}: " + (", ".join(f"{name} {phase}" for name, phase in items) or "-"))
        return "\n".join(lines)

    def render(self) -> str:
        cols = list(self.pods)
        boxes = [len(name) * CHAR_W + 12 for name in self.components]  # each as wide as its whole name
        width = max(max(len(cols), 1) * (NODE_W + GAP) + GAP, sum(boxes) + GAP * (len(boxes) + 1))
        rows = max((len(items) for items in self.pods.values()), default=0)
        height = 40 + GAP + 30 + rows * (POD_H + 4) + 2 * GAP
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
               f'class="labkit-cluster-svg">']
        x: float = GAP
        for name, box in zip(self.components, boxes, strict=True):  # the control plane, one box each
            out.append(f'<rect x="{x:.0f}" y="{GAP}" width="{box:.0f}" height="26" rx="4" fill="#dde7f3" '
                       f'stroke="#557"/><text x="{x + box / 2:.0f}" y="{GAP + 17}" text-anchor="middle">'
                       f'{esc(name)}</text>')
            x += box + GAP
        top = 40 + GAP
        for i, node in enumerate(cols):
            x = GAP + i * (NODE_W + GAP)
            state = self.nodes.get(node, "")
            stroke = PHASE_COLORS.get(state, "#999") if node else "#bbb"
            h = 30 + len(self.pods[node]) * (POD_H + 4) + 4
            dash = "" if node else ' stroke-dasharray="4 3"'
            out.append(f'<g class="labkit-node" data-node="{esc(node)}">'
                       f'<rect x="{x}" y="{top}" width="{NODE_W}" height="{h}" rx="6" fill="#fafafa" '
                       f'stroke="{stroke}" stroke-width="2"{dash}/>'
                       f'<text x="{x + 8}" y="{top + 18}" font-weight="bold">'
                       f'{esc(node + " · " + state if node else "unscheduled")}</text>')
            for j, (pod, phase) in enumerate(self.pods[node]):
                y = top + 28 + j * (POD_H + 4)
                out.append(f'<g class="labkit-pod" data-phase="{esc(phase)}"><title>{esc(pod)}: {esc(phase)}</title>'
                           f'<rect x="{x + 6}" y="{y}" width="{NODE_W - 12}" height="{POD_H}" rx="3" '
                           f'fill="{PHASE_COLORS.get(phase, "#ccc")}"/>'
                           f'<text x="{x + 12}" y="{y + 14}">'
                           f'{esc(fit(pod, int((NODE_W - 22) / CHAR_W) - len(phase) - 1))} {esc(phase)}</text></g>')
            out.append("</g>")
        out.append("</svg>")
        return "".join(out)
