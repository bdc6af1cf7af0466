"""The cluster at a glance: control-plane components, and each node with its pods coloured by phase.

labkit's own (the picture every Kubernetes architecture diagram draws). The model is the networkx
graph of :mod:`labkit.network.graph` (``view.graph``, for the learner's own analysis) built from the
stored Nodes, Pods, Services and EndpointSlices, read at one store revision.

By default the view is a snapshot: the cluster at the revision the cell ran, which later cells do not
change. Its *live* button makes it follow every write to those resources; its *revision* slider
replays the cluster at each earlier write the trace recorded (read from the store's history, as
``etcdctl get --rev``; gone once compacted). Laid out as wrapping HTML boxes, so that every name and
phase stays whole at any output width. Left out: namespaces as boxes, containers inside pods, volumes.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets
import networkx as nx

from labkit.network.graph import graph
from labkit.store import Compacted
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, stored_at
from labkit.widgets.pod_lifecycle import InformerFeed

WATCHED = frozenset({"nodes", "pods", "services", "endpointslices"})
REPLAY_STEPS = 300  # the replay slider's reach, in writes
#: labkit's own plumbing that runs as a component but is no part of the cluster a learner looks at
NOT_SHOWN = frozenset({"widget-feed"})
# Boxes wrap in rows and grow with their text; names break anywhere rather than being cut.
STYLE = ("<style>.labkit-cv{font-family:monospace;font-size:12px}"
         ".labkit-cv .lk-row{display:flex;flex-wrap:wrap;gap:6px 8px;align-items:flex-start;margin:4px 0}"
         ".labkit-cv .lk-component{background:#dde7f3;border:1px solid #557;border-radius:4px;padding:3px 8px}"
         ".labkit-cv .labkit-node{flex:0 1 300px;min-width:150px;background:#fafafa;border:2px solid #999;"
         "border-radius:6px;padding:4px 6px;box-sizing:border-box}"
         ".labkit-cv .labkit-node.lk-unscheduled{border-style:dashed}"
         ".labkit-cv .lk-title{font-weight:bold;overflow-wrap:anywhere;margin-bottom:3px}"
         ".labkit-cv .labkit-pod{display:flex;flex-wrap:wrap;justify-content:space-between;gap:0 6px;"
         "border-radius:3px;padding:2px 5px;margin-top:3px}"
         ".labkit-cv .lk-name{overflow-wrap:anywhere;min-width:0}.labkit-cv .lk-phase{font-weight:bold}"
         ".labkit-cv .lk-empty{color:#888}</style>")


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


def _watched(record: Any) -> bool:
    return record.kind == "request" and record.revision > 0 and record.resource.partition("/")[0] in WATCHED


class ClusterView(LiveWidget):
    """``ClusterView(cluster)``: the control plane and every node with its pods, as they are now (a
    snapshot); ``live=True`` (or the *live* button) follows the cluster; the *revision* slider replays it."""

    css_name = "cluster-view"

    def __init__(self, cluster: Any, *, live: bool = False, **kwargs: Any) -> None:
        self.replay = ipywidgets.SelectionSlider(
            options=[("-", 0)], description="revision", continuous_update=False, readout=True,
            layout=ipywidgets.Layout(width="min(100%, 420px)"),
            tooltip="replay: the cluster at each earlier write the trace recorded")
        super().__init__(controls=[self.replay], live=live, toggle=True, **kwargs)
        self.cluster = cluster
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self.components: list[str] = []
        self.nodes: dict[str, str] = {}  # name -> Ready / NotReady / Unknown
        self.pods: dict[str, list[tuple[str, str]]] = {}  # node name ("" = unscheduled) -> [(ns/name, phase)]
        self.revision = 0  # the store revision shown
        self.latest = 0  # the store revision of the last collect (the newest the slider offers)
        self.problem = ""  # why the revision asked for cannot be shown
        self._replaying = False
        self.replayed = False  # showing an earlier revision than the one collected
        self.replay.observe(self._on_replay, names="value")
        if live:
            self.sources()
        self.refresh()

    def sources(self) -> None:
        self.follow(self.cluster.trace, _watched)
        # no write comes when the cluster stops: a feed without informers tells the view instead
        feed = InformerFeed.attach(self, self.cluster, lambda _client: [], on_stop=self.cluster_stopped)
        self._following.append(lambda: None if self.stopped else feed.detach(self.cluster))

    def moment(self) -> str:
        return f"store revision {self.revision}" + (", replayed from the store's history" if self.replayed else "")

    def revisions(self) -> list[int]:
        """The store revisions of the last ``REPLAY_STEPS`` writes to nodes, pods, Services and
        EndpointSlices in the trace, up to the snapshot's (what the replay slider steps through)."""
        return sorted({r.revision for r in self.cluster.trace.records() if _watched(r) and r.revision <= self.latest}
                      | {self.latest})[-REPLAY_STEPS:]

    def show_revision(self, revision: int) -> ClusterView:
        """Show the cluster as it was at ``revision`` (a snapshot; what moving the slider does)."""
        self.set_live(False)
        with self._lock:
            written = next((r.t for r in self.cluster.trace.records() if _watched(r) and r.revision == revision), None)
            self._read(revision)
            if not self.problem:
                self.replayed = True
                if written is not None:  # the trace's clock is monotonic
                    self.taken = time.time() - (time.monotonic() - written)
            if self.replay.value != self.revision and self.revision in [v for _, v in self.replay.options]:
                self._replaying = True
                try:
                    self.replay.value = self.revision
                finally:
                    self._replaying = False
            self._show()
        return self

    def _on_replay(self, change: dict[str, Any]) -> None:
        if not self._replaying and change["new"] and change["new"] != self.revision:
            self.show_revision(change["new"])

    def collect(self) -> None:
        self._read(0)
        self.latest, self.replayed = self.revision, False
        revisions = self.revisions()
        self._replaying = True  # the slider follows the newest revision without replaying it
        try:
            options = [(str(r), r) for r in revisions]
            if list(self.replay.options) != options:
                self.replay.options = options
            self.replay.value = self.revision
        finally:
            self._replaying = False

    def _read(self, revision: int) -> None:
        try:
            self.revision, objs = stored_at(self.cluster, "nodes", "pods", "services", "endpointslices",
                                            revision=revision)
        except Compacted as e:
            self.problem = f"revision {revision} is no longer in the store's history ({e})"
            return
        except RuntimeError:  # stopped: its store is gone
            self.problem = f"the cluster has stopped: revision {revision} can no longer be read"
            return
        self.problem = ""
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
        out = [f'{STYLE}<div class="labkit-cv">']
        if self.problem:
            out.append(f'<div class="labkit-problem">{esc(self.problem)}</div>')
        out.append('<div class="lk-row lk-control-plane">')
        out += [f'<span class="lk-component">{esc(name)}</span>' for name in self.components]
        out.append('</div><div class="lk-row lk-nodes">')
        for node, items in self.pods.items():
            state = self.nodes.get(node, "")
            color = PHASE_COLORS.get(state, "#999")
            cls, title = ("", f"{node} · {state}") if node else (" lk-unscheduled", "unscheduled")
            style = f' style="border-color:{color}"' if node else ""
            out.append(f'<div class="labkit-node{cls}" data-node="{esc(node)}"{style}>'
                       f'<div class="lk-title">{esc(title)}</div>')
            out += [f'<div class="labkit-pod" data-phase="{esc(phase)}" title="{esc(pod)}: {esc(phase)}" '
                    f'style="background:{PHASE_COLORS.get(phase, "#ccc")}"><span class="lk-name">{esc(pod)}</span>'
                    f'<span class="lk-phase">{esc(phase)}</span></div>' for pod, phase in items]
            if not items:
                out.append('<div class="lk-empty">no pods</div>')
            out.append("</div>")
        out.append("</div></div>")
        return "".join(out)
