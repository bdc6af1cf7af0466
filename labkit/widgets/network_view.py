"""The pod network as a picture: each node, the podCIDR routed to it, and the pods in it with their IPs.

Draws the networkx graph of :mod:`labkit.network.graph` (``labkit.network.snapshot``): per node a
column (a node's ``InternalIP``; the ``route`` to its podCIDR via that IP, what a CNI plugin such as
Flannel's host-gw programs on every node; the pods whose IP lies in that podCIDR, coloured by phase),
then the Services with the endpoints their EndpointSlices name. Columns are separate SVGs in a
wrapping row, so the picture fits any output width. Left out: what the graph does not hold (the
bridge and veth pairs of the docker runtime, NetworkPolicies, host-network pods).
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc

CHAR_W = 6.65  # px per character of the widgets' 11px monospace labels (DejaVu Sans Mono: 0.6 em)
BOX_H, POD_H, GAP = 38, 36, 8


class NetworkView(LiveWidget):
    """``NetworkView(graph)``: the graph of ``labkit.network.snapshot`` drawn (a snapshot of when it was read)."""

    css_name = "network-view"

    def __init__(self, graph: nx.MultiDiGraph, **kwargs: Any) -> None:
        super().__init__(live=False, **kwargs)
        self.graph = graph
        self.refresh()

    def _kind(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return sorted((k, d) for k, d in self.graph.nodes(data=True) if d.get("kind") == kind)

    def _out(self, key: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return sorted((b, d) for _, b, d in self.graph.out_edges(key, data=True) if d.get("kind") == kind)

    def columns(self) -> list[tuple[str, str, list[tuple[str, str]], list[str]]]:
        """Per node: its name, InternalIP, its routes as (podCIDR, via) and the pods in them (``pod/ns/name``)."""
        cols = []
        for key, node in self._kind("node"):
            routes = [(self.graph.nodes[cidr]["cidr"], d.get("via", "")) for cidr, d in self._out(key, "route")]
            pods = [pod for cidr, _ in self._out(key, "route") for pod, _ in self._out(cidr, "contains")]
            cols.append((node["name"], node.get("ip", ""), routes, pods))
        return cols

    def _pod(self, key: str) -> str:
        return key.removeprefix("pod/")

    def summary(self) -> str:
        n = {kind: len(self._kind(kind)) for kind in ("node", "pod", "service")}
        return f"NetworkView(nodes={n['node']}, pods={n['pod']}, services={n['service']})"

    def text(self) -> str:
        lines = [self.summary()]
        for name, ip, routes, pods in self.columns():
            cidrs = ", ".join(f"{cidr} via {via}" for cidr, via in routes) or "no podCIDR"
            lines.append(f"{name} ({ip or '-'}): {cidrs}: "
                         + (", ".join(f"{self._pod(p)} {self.graph.nodes[p]['ip']}" for p in pods) or "no pods"))
        placed = {p for *_, pods in self.columns() for p in pods}
        if loose := [k for k, _ in self._kind("pod") if k not in placed]:
            lines.append("no pod IP in a podCIDR: " + ", ".join(self._pod(p) for p in loose))
        for key, svc in self._kind("service"):
            lines.append(f"service {key.removeprefix('service/')} {svc.get('ip') or '-'} -> "
                         + (", ".join(self._endpoint(t) for t, _ in self._out(key, "endpoint")) or "no endpoints"))
        return "\n".join(lines)

    def _endpoint(self, key: str) -> str:
        d = self.graph.nodes[key]
        return f"{self._pod(key)} {d.get('ip', '')}" if d.get("kind") == "pod" else d.get("ip", key)

    # --- drawing ----------------------------------------------------------------------------------

    def render(self) -> str:
        cols = [self._column(*col) for col in self.columns()]
        placed = {p for *_, pods in self.columns() for p in pods}
        loose = [k for k, _ in self._kind("pod") if k not in placed]
        if loose:
            cols.append(self._column("", "", [], loose))
        services = "".join(
            f'<div class="labkit-service" style="border:1px solid #557;border-radius:4px;padding:2px 6px;'
            f'background:#eef;overflow-wrap:anywhere"><b>service {esc(key.removeprefix("service/"))}</b> '
            f'{esc(svc.get("ip") or "-")} &rarr; '
            f'{esc(", ".join(self._endpoint(t) for t, _ in self._out(key, "endpoint")) or "no endpoints")}</div>'
            for key, svc in self._kind("service"))
        return (f'<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">{"".join(cols)}</div>'
                + (f'<div style="display:flex;flex-wrap:wrap;gap:6px;margin-top:8px;font-family:monospace;'
                   f'font-size:12px">{services}</div>' if services else ""))

    def _column(self, name: str, ip: str, routes: list[tuple[str, str]], pods: list[str]) -> str:
        """One node: its box, the route to its podCIDR, the pods in it, each with its IP."""
        labels = [name, f"InternalIP {ip}", *(f"podCIDR {c}" for c, _ in routes),
                  *(f"route via {v}" for _, v in routes), *(self._pod(p) for p in pods), "pods with no IP in a podCIDR"]
        width = round(max(len(s) for s in labels) * CHAR_W) + 44
        out, y = [], 0
        if name:
            out.append(f'<g class="labkit-net-node"><rect x="1" y="1" width="{width - 2}" height="{BOX_H}" rx="6" '
                       f'fill="#fafafa" stroke="#557" stroke-width="2"/><text x="10" y="16" font-weight="bold">'
                       f'{esc(name)}</text><text x="10" y="31">InternalIP {esc(ip or "-")}</text></g>')
            y = BOX_H + 2
            for cidr, via in routes:
                out.append(f'<line x1="20" y1="{y}" x2="20" y2="{y + 14}" stroke="#557" stroke-width="2"/>'
                           f'<g class="labkit-net-cidr"><title>route {esc(cidr)} via {esc(via)}</title>'
                           f'<rect x="1" y="{y + 14}" width="{width - 2}" height="{BOX_H}" rx="4" fill="#dde7f3" '
                           f'stroke="#557"/><text x="10" y="{y + 29}">podCIDR <tspan font-weight="bold">{esc(cidr)}'
                           f'</tspan></text><text x="10" y="{y + 44}">route via {esc(via)}</text></g>')
                y += BOX_H + 14
        else:
            out.append('<text x="2" y="14" font-weight="bold">pods with no IP in a podCIDR</text>')
            y = 16
        top = y
        for i, pod in enumerate(pods):
            d = self.graph.nodes[pod]
            py = top + GAP + i * (POD_H + GAP)
            out.append(f'<g class="labkit-net-pod" data-ip="{esc(d.get("ip", ""))}"><title>{esc(self._pod(pod))}: '
                       f'{esc(d.get("phase") or "-")}</title>'
                       f'<line x1="20" y1="{py + POD_H // 2}" x2="28" y2="{py + POD_H // 2}" stroke="#557"/>'
                       f'<rect x="28" y="{py}" width="{width - 30}" height="{POD_H}" rx="3" '
                       f'fill="{PHASE_COLORS.get(d.get("phase", ""), "#ccc")}"/>'
                       f'<text x="34" y="{py + 14}">{esc(self._pod(pod))}</text>'
                       f'<text x="34" y="{py + 29}" font-weight="bold">{esc(d.get("ip") or "no IP")}</text></g>')
        height = top + GAP + len(pods) * (POD_H + GAP)
        if name and pods:  # the trunk from the podCIDR down to the last pod
            out.insert(0, f'<line x1="20" y1="{top}" x2="20" y2="{height - GAP - POD_H // 2}" stroke="#557"/>')
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'class="labkit-net-column">{"".join(out)}</svg>')
