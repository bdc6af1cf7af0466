"""NetworkView: the pod network graph drawn per node, each pod with its IP; a text repr; fits any width."""

from __future__ import annotations

import re

from labkit.network.graph import graph
from labkit.widgets import NetworkView


def node(name: str, ip: str, cidr: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def pod(name: str, node_name: str, ip: str, phase: str = "Running") -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node_name},
            "status": {"podIP": ip, "phase": phase}}


def test_each_node_shows_its_podcidr_route_and_its_pods_with_their_ips() -> None:
    g = graph(nodes=[node("node-1", "172.18.0.2", "10.244.0.0/24"), node("node-2", "172.18.0.3", "10.244.1.0/24")],
              pods=[pod("web-a", "node-1", "10.244.0.5"), pod("web-b", "node-2", "10.244.1.7", "Pending"),
                    pod("new", "node-2", "", "Pending")])
    view = NetworkView(g)
    assert repr(view) == "NetworkView(nodes=2, pods=3, services=0)"
    assert view.text().splitlines()[1:] == [
        "node-1 (172.18.0.2): 10.244.0.0/24 via 172.18.0.2: default/web-a 10.244.0.5",
        "node-2 (172.18.0.3): 10.244.1.0/24 via 172.18.0.3: default/web-b 10.244.1.7",
        "no pod IP in a podCIDR: default/new"]
    html = view.render()
    for ip in ("10.244.0.5", "10.244.1.7"):  # every pod's IP is on the picture, in its own box
        assert f'data-ip="{ip}"' in html and f'font-weight="bold">{ip}</text>' in html
    assert "podCIDR <tspan font-weight=\"bold\">10.244.1.0/24</tspan>" in html and "route via 172.18.0.3" in html
    assert html.count('class="labkit-net-column"') == 3 and "flex-wrap:wrap" in html  # columns wrap
    # each column is as wide as its longest label (11px monospace: 6.65 px a character, plus margins)
    widths = [int(w) for w in re.findall(r'width="(\d+)" height="\d+" class="labkit-net-column"', html)]
    assert widths[0] >= len("InternalIP 172.18.0.2") * 6.65 and not view.live and "<b>snapshot</b>" in view.view.value
    view.close()
