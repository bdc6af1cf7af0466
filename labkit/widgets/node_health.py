"""Node heartbeats and what the node lifecycle controller concludes from them, live.

Per node: its Lease in ``kube-node-lease`` (``holderIdentity``, how old ``renewTime`` is against
``leaseDurationSeconds``; the kubelet's ``nodelease`` controller renews it), every renewal seen
(the heartbeats, drawn on a time axis), the Ready condition's transitions (True → Unknown with
reason ``NodeStatusUnknown`` when ``pkg/controller/nodelifecycle`` stops hearing from the node) and
the node's taints (``node.kubernetes.io/unreachable`` / ``not-ready``). The widget keeps its own
list+watch of Nodes and of the Leases, and redraws every second so the lease age keeps growing
while a node is silent. Left out: the pressure conditions, ``lastHeartbeatTime`` of NodeStatus
(labkit's kubelet posts status less often than it renews its lease, as kubelet does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import deque
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.nodeutil import get_node_condition
from labkit.apimachinery.timeutil import now_utc, parse_time
from labkit.informer import Informer
from labkit.kubelet.nodelease import NAMESPACE as LEASE_NAMESPACE
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, esc_wrap
from labkit.widgets.pod_lifecycle import InformerFeed

STATUS_COLORS = {"True": PHASE_COLORS["Ready"], "False": PHASE_COLORS["NotReady"], "Unknown": PHASE_COLORS["Unknown"]}


@dataclasses.dataclass(frozen=True, slots=True)
class ReadyTransition:
    at: dt.datetime  # the condition's lastTransitionTime (when the widget saw it if unset)
    status: str  # "True", "False", "Unknown"
    reason: str

    def text(self) -> str:
        return f"{self.status}({self.reason})" if self.reason else self.status


@dataclasses.dataclass
class NodeState:
    """What the widget knows about one node (a Node, a Lease, or both)."""

    name: str
    holder: str = ""
    duration: int = 0  # leaseDurationSeconds
    renew_time: dt.datetime | None = None
    heartbeats: deque[dt.datetime] = dataclasses.field(default_factory=lambda: deque(maxlen=200))
    ready: list[ReadyTransition] = dataclasses.field(default_factory=list)
    taints: tuple[str, ...] = ()  # "key:effect"
    has_node: bool = False

    def age(self, now: dt.datetime) -> float | None:
        return (now - self.renew_time).total_seconds() if self.renew_time else None

    def text(self) -> str:
        ready = " -> ".join(t.text() for t in self.ready) or "-"
        lease = f"lease holder={self.holder or '-'} duration={self.duration}s" if self.renew_time else "no lease"
        return f"{self.name}: Ready {ready} | {lease} | taints: {', '.join(self.taints) or '-'}"


class NodeHealth(LiveWidget):
    """``NodeHealth(cluster)``: every node's lease, heartbeats, Ready transitions and taints, live.

    Without a cluster (``cluster=None``) it shows what :meth:`record_node` / :meth:`record_lease` get."""

    css_name = "node-health"
    window = 120.0  # seconds of heartbeats the time axis shows

    def __init__(self, cluster: Any, *, tick: float = 1.0) -> None:
        super().__init__()
        self._states: dict[str, NodeState] = {}
        self._states_lock = threading.Lock()
        self.nodes: list[NodeState] = []  # the model the view shows, sorted by name
        self.now = now_utc()  # when the model was collected (ages count to it)
        if cluster is not None:
            InformerFeed.attach(self, cluster, self._informers, tick=tick, on_tick=self.invalidate)
        self.refresh()

    def _informers(self, client: Any) -> list[Informer]:
        nodes = Informer(client, "v1", "nodes")
        nodes.add_handlers(on_add=self.record_node, on_update=lambda _old, node: self.record_node(node))
        leases = Informer(client, "coordination.k8s.io/v1", "leases", namespace=LEASE_NAMESPACE)
        leases.add_handlers(on_add=self.record_lease, on_update=lambda _old, lease: self.record_lease(lease))
        return [nodes, leases]

    def _state(self, name: str) -> NodeState:
        return self._states.setdefault(name, NodeState(name))

    def record_node(self, node: Obj) -> None:
        """Take in one version of a Node (any thread): its Ready condition and taints."""
        ready = get_node_condition(node, "Ready")
        with self._states_lock:
            state = self._state(node["metadata"]["name"])
            state.has_node = True
            state.taints = tuple(f"{t['key']}:{t['effect']}" for t in (node.get("spec") or {}).get("taints") or [])
            if ready is not None and (not state.ready or state.ready[-1].status != ready.get("status")):
                at = parse_time(ready.get("lastTransitionTime")) or now_utc()
                state.ready.append(ReadyTransition(at, ready.get("status", ""), ready.get("reason", "")))
        self.invalidate()

    def record_lease(self, lease: Obj) -> None:
        """Take in one version of a node Lease (any thread): a new ``renewTime`` is a heartbeat."""
        spec = lease.get("spec") or {}
        renew = parse_time(spec.get("renewTime"))
        with self._states_lock:
            state = self._state(lease["metadata"]["name"])
            state.holder, state.duration = spec.get("holderIdentity", ""), int(spec.get("leaseDurationSeconds") or 0)
            if renew is not None and renew != state.renew_time:
                state.renew_time = renew
                state.heartbeats.append(renew)
        self.invalidate()

    def collect(self) -> None:
        with self._states_lock:
            self.nodes = [dataclasses.replace(s, heartbeats=deque(s.heartbeats, maxlen=s.heartbeats.maxlen),
                                              ready=list(s.ready)) for _, s in sorted(self._states.items())]
        self.now = now_utc()

    def summary(self) -> str:
        ready = sum(1 for n in self.nodes if n.ready and n.ready[-1].status == "True")
        return f"NodeHealth({len(self.nodes)} node{'' if len(self.nodes) == 1 else 's'}, {ready} Ready)"

    def text(self) -> str:
        return "\n".join([self.summary(), *(f"  {n.text()}" for n in self.nodes)])

    def render(self) -> str:
        if not self.nodes:
            return "<div><b>nodes</b></div><div>no node and no lease yet</div>"
        header = "".join(f"<th>{h}</th>" for h in ("node", "Ready", f"heartbeats (last {self.window:.0f}s)",
                                                   "lease holder", "renewed", "taints"))
        rows = "".join(self._row(n) for n in self.nodes)
        return f"<div><b>nodes</b></div><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"

    def _row(self, n: NodeState) -> str:
        status = n.ready[-1] if n.ready else None
        ready = (f'<td style="background:{STATUS_COLORS.get(status.status, "")}">{esc_wrap(status.text())}</td>'
                 if status else "<td>-</td>")
        return (f'<tr><td style="white-space:nowrap">{esc(n.name)}</td>{ready}<td>{self._timeline(n)}</td>'
                f'<td>{esc(n.holder or "-")}</td><td>{self._age(n)}</td>'
                f"<td>{'<br>'.join(esc_wrap(t, after='/_,.:') for t in n.taints) or '-'}</td></tr>")

    def _age(self, n: NodeState) -> str:
        """``renewTime`` age against ``leaseDurationSeconds``, as a bar that turns red once the lease expired."""
        age = n.age(self.now)
        if age is None:
            return "no lease"
        limit = n.duration or 1
        expired = age > limit
        w = round(min(max(age, 0) / limit, 1) * 80)
        color = PHASE_COLORS["Failed"] if expired else PHASE_COLORS["Running"]
        return (f'<svg width="84" height="10"><rect width="80" height="10" fill="#eee"/>'
                f'<rect width="{w}" height="10" fill="{color}"/></svg> '
                f"{age:.0f}s / {n.duration}s{' expired' if expired else ''}")

    def _timeline(self, n: NodeState) -> str:
        """The last ``window`` seconds: a tick per heartbeat, a coloured dot per Ready transition."""
        width, pad = 220, 5  # "now" is at width - pad, so the newest tick stays visible
        def x(t: dt.datetime) -> float | None:
            ago = max((self.now - t).total_seconds(), 0)  # a renewTime a little ahead of our clock is "now"
            return round(width - pad - ago / self.window * (width - 2 * pad), 1) if ago <= self.window else None
        parts = [f'<line x1="{pad}" y1="10" x2="{width - pad}" y2="10" stroke="#ccc"/>']
        parts += [f'<line x1="{px}" y1="3" x2="{px}" y2="17" stroke="#337ab7" stroke-width="2"/>'
                  for t in n.heartbeats if (px := x(t)) is not None]
        parts += [f'<circle cx="{px}" cy="10" r="4" fill="{STATUS_COLORS.get(r.status, "#999")}">'
                  f"<title>Ready={esc(r.text())}</title></circle>" for r in n.ready if (px := x(r.at)) is not None]
        return f'<svg width="{width}" height="20" class="labkit-heartbeats">{"".join(parts)}</svg>'
