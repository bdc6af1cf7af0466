"""An HA control plane, live: each member's API server as the load balancer sees it, its etcd
member's Raft state, the Leases its scheduler and controller manager hold, and the requests it served.

What an engineer reads from ``haproxy``'s stats page, ``etcdctl endpoint status --cluster`` and
``kubectl get lease -n kube-system`` side by side, in one table. The Leases come from a Lease informer
(its own list+watch through the load balancer); the etcd and load-balancer columns are asked at each
redraw, every ``tick`` seconds; the requests are counted from the trace (each names the member whose API
server answered). The view is live (it says so) until the cluster stops; then it redraws once and
keeps its last rows, saying when they were read: a read still under way when the stop began (the
cluster stops its views first) is dropped, as it saw members going down, not the cluster it shows.
Nothing in Kubernetes draws this.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.controlplane import EtcdMemberStatus
from labkit.informer import Informer
from labkit.network.loadbalancer import LoadBalancerError
from labkit.trace import RequestRecord
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc
from labkit.widgets.pod_lifecycle import InformerFeed

#: the Leases of kube-system this view names a holder for
LEASES = ("kube-scheduler", "kube-controller-manager")
STATE_COLORS = {"UP": PHASE_COLORS["Running"], "DOWN": PHASE_COLORS["Failed"], "leader": PHASE_COLORS["Running"],
                "follower": "#dff0d8", "down": PHASE_COLORS["Failed"], "paused": PHASE_COLORS["Pending"]}


@dataclasses.dataclass(frozen=True)
class MemberRow:
    """One member as the view shows it."""

    name: str
    api: str  # UP / DOWN (the load balancer's view), or "-" without one
    check: str  # the load balancer's last health check
    requests: int  # answered in the last ``window`` seconds
    etcd: EtcdMemberStatus
    leases: tuple[str, ...]  # the Leases its components hold

    def text(self) -> str:
        e = self.etcd
        raft = f" term={e.raft_term} applied={e.applied_index}" if e.raft_term else ""
        return (f"{self.name}: apiserver {self.api} ({self.check}) {self.requests} req | etcd {e.state}{raft} | "
                f"leases: {', '.join(self.leases) or '-'}")


class ControlPlaneView(LiveWidget):
    """``ControlPlaneView(cluster)``: the members of an HA cluster (``control_planes`` > 1), live."""

    css_name = "control-plane"
    window = 10.0  # seconds of requests counted per member

    def __init__(self, cluster: Any, *, tick: float = 1.0) -> None:
        super().__init__()
        self._cluster = cluster
        self._control_plane = cluster.control_plane
        self._endpoint = cluster.url
        self._holders: dict[str, str] = {}
        self._rows_lock = threading.Lock()
        self._served: collections.deque[tuple[float, str]] = collections.deque(maxlen=50_000)
        self.rows: list[MemberRow] = []
        self.follow(cluster.trace, self._count)
        InformerFeed.attach(self, cluster, self._informers, tick=tick, on_tick=self.invalidate,
                            on_stop=self.cluster_stopped)
        self.refresh()

    def _informers(self, client: Any) -> list[Informer]:
        leases = Informer(client, "coordination.k8s.io/v1", "leases", namespace="kube-system")
        leases.add_handlers(on_add=self._record_lease, on_update=lambda _old, lease: self._record_lease(lease))
        return [leases]

    def _record_lease(self, lease: Obj) -> None:
        name = lease["metadata"]["name"]
        if name in LEASES:
            with self._rows_lock:
                self._holders[name] = str((lease.get("spec") or {}).get("holderIdentity") or "").rsplit("_", 1)[0]
            self.invalidate()

    def _count(self, record: Any) -> bool:
        if isinstance(record, RequestRecord) and record.server:
            with self._rows_lock:
                self._served.append((record.t, record.server))
        return False  # counted, not a reason to redraw at once (the tick redraws)

    def collect(self) -> None:
        if self.stopped or not self._cluster.members:  # stopped: its members are gone, not down
            self.stopped = True
            return
        etcd = {s.name: s for s in self._control_plane.etcd()}
        balancer: dict[str, Any] = {}
        lb = self._cluster.load_balancer
        if lb is not None:
            try:
                balancer = {b.name: b for b in self._cluster.run(lb.status(), timeout=2)}
            except (TimeoutError, RuntimeError, LoadBalancerError):  # shown as "-" until it answers again
                balancer = {}
        since = time.monotonic() - self.window
        with self._rows_lock:
            served = collections.Counter(server for t, server in self._served if t >= since)
            holders = dict(self._holders)
        rows = []
        for member in self._control_plane.members:
            backend = balancer.get(member.name)
            rows.append(MemberRow(
                name=member.name, api=backend.state if backend else "-", check=backend.check if backend else "-",
                requests=served[member.name], etcd=etcd[member.name],
                leases=tuple(lease for lease in LEASES if holders.get(lease) == member.name)))
        if not self.stopped:  # else this read raced the stop: the rows before it are the last view
            self.rows = rows

    def summary(self) -> str:
        return f"ControlPlaneView({len(self._control_plane.members)} members)"

    def text(self) -> str:
        return "\n".join([self.summary(), *(f"  {r.text()}" for r in self.rows)])

    def render(self) -> str:
        header = "".join(f"<th>{h}</th>" for h in (
            "member", "API server (load balancer)", f"requests ({self.window:.0f}s)", "etcd", "Raft term",
            "applied index", "Leases held"))
        body = "".join(self._row(r) for r in self.rows)
        stopped = " &mdash; the cluster has stopped: its last view" if self.stopped else ""
        return (f"<div><b>control plane</b> (endpoint {esc(self._endpoint)}){stopped}</div>"
                f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")

    @staticmethod
    def _cell(value: str, title: str = "") -> str:
        color = STATE_COLORS.get(value, "")
        style = f' style="background:{color}"' if color else ""
        return f'<td{style} title="{esc(title)}">{esc(value)}</td>'

    def _row(self, r: MemberRow) -> str:
        e = r.etcd
        state = e.state if e.state in STATE_COLORS or e.state == "no leader" else "no answer"
        return (f'<tr><td style="white-space:nowrap">{esc(r.name)}</td>{self._cell(r.api, r.check)}'
                f"<td>{r.requests}</td>{self._cell(state, e.state)}<td>{e.raft_term or '-'}</td>"
                f"<td>{e.applied_index or '-'}</td><td>{esc(', '.join(r.leases) or '-')}</td></tr>")
