"""Requests through one Service and which endpoint answered each: kube-proxy's choices, live.

Reads :class:`~labkit.proxy.KubeProxy`'s connection trace (one record per connection decision of
the userspace proxier, ``pkg/proxy/userspace``): a bar per endpoint with how many connections it got,
the failures (``dial-failed``, ``no-endpoints``, ``refused``) and the last few connections.
Endpoints are labelled with the pod their EndpointSlice entry points at (``targetRef``), as
``kubectl describe endpointslice`` shows it. :meth:`ServiceTraffic.send` sends requests to the
Service's ClusterIP from the notebook, the way ``curl`` from a pod would; ``cluster.generate_load``
(:mod:`labkit.proxy.loadgen`) sends a bounded load with latencies, and this view shows it arrive.
Left out: UDP, bytes transferred, connection durations.
"""

from __future__ import annotations

import collections
import time
from typing import Any, TypeGuard

from labkit.proxy import ConnectionRecord, ConnectionTrace, KubeProxy
from labkit.proxy.loadgen import Connect, get, pods_by_ip, split_url
from labkit.widgets.base import PHASE_COLORS, LiveWidget, esc, table

OUTCOME_COLORS = {"proxied": PHASE_COLORS["Running"], "dial-failed": PHASE_COLORS["Pending"],
                  "no-endpoints": PHASE_COLORS["Failed"], "refused": PHASE_COLORS["Failed"]}


def send_requests(url: str, n: int, *, timeout: float = 10.0,
                  connect: Connect | None = None) -> collections.Counter[str]:
    """GET ``url`` ``n`` times, one connection each; count the response bodies (or ``error: ...``).
    ``connect(host, port, timeout)`` makes each connection (kube-proxy's network: where the cluster's
    addresses are, which without root is a namespace of the cluster's own)."""
    host, port, target = split_url(url)
    answers: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        a = get(host, port, target, timeout=timeout, connect=connect)
        answers[a.body if 0 < a.status < 400 else f"error: {a.error}"] += 1
    return answers


class ServiceTraffic(LiveWidget):
    """``ServiceTraffic(proxy, "web")``: connections to Service ``default/web`` per endpoint, live.

    ``source`` is a running :class:`KubeProxy` (or just its :class:`ConnectionTrace`, without pod names
    or :meth:`send`). ``port`` names one service port (default: all of them). Counting starts at the
    beginning of the trace; :meth:`reset` starts it again from now."""

    css_name = "service-traffic"

    def __init__(self, source: KubeProxy | ConnectionTrace, name: str, *, namespace: str = "default",
                 port: str = "", last: int = 8) -> None:
        super().__init__()
        self.proxy = source if isinstance(source, KubeProxy) else None
        self.trace: ConnectionTrace = source.trace if isinstance(source, KubeProxy) else source
        self.service, self.namespace, self.port, self.last = name, namespace, port, last
        self._since = 0
        self.counts: dict[str, collections.Counter[str]] = {}  # endpoint ("" = none) -> outcome -> connections
        self.recent: list[ConnectionRecord] = []
        self.pods: dict[str, str] = {}  # endpoint IP -> "pod" from the EndpointSlices
        self.follow(self.trace, self._mine)
        self.refresh()

    def _mine(self, record: Any) -> TypeGuard[ConnectionRecord]:
        key = f"{self.namespace}/{self.service}"
        return isinstance(record, ConnectionRecord) and (
            record.service == (f"{key}:{self.port}" if self.port else key)
            or (not self.port and record.service.startswith(key + ":")))

    def reset(self) -> ServiceTraffic:
        """Count only connections from now on."""
        records = self.trace.records()
        self._since = records[-1].seq if records else 0
        return self.refresh()

    def endpoints(self) -> list[str]:
        """The endpoints kube-proxy balances this Service's connections over now (``ip:port``)."""
        if self.proxy is None:
            return []
        return sorted({e for name, p in list(self.proxy.proxies.items())
                       if (name.namespace, name.name) == (self.namespace, self.service)
                       and (not self.port or self.port == name.port)
                       for e in p.balancer.endpoints})

    def wait_for_endpoints(self, n: int, *, timeout: float = 60.0) -> ServiceTraffic:
        """Wait until kube-proxy balances over ``n`` endpoints: it learns them from its own watch of the
        EndpointSlices, a moment after the pods are ready (a moment that grows on a busy machine)."""
        deadline = time.monotonic() + timeout
        while len(self.endpoints()) != n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"kube-proxy balances {self.service} over {len(self.endpoints())} endpoints, "
                                   f"not {n}, after {timeout:.0f} s: see the Service's EndpointSlices")
            time.sleep(0.05)
        return self

    def send(self, n: int = 10, *, path: str = "/", timeout: float = 10.0) -> collections.Counter[str]:
        """Send ``n`` HTTP requests to the Service's ClusterIP (through kube-proxy); returns the answers. A
        request may take ``timeout`` seconds: on a server shared by a room, answers can be slow."""
        if self.proxy is None:
            raise TypeError("send() needs the widget to be built from a KubeProxy, not a bare trace")
        answers = send_requests(self.proxy.url(self.service, self.namespace, port=self.port or None) + path, n,
                                timeout=timeout, connect=self.proxy.network.connect)
        self.refresh()
        return answers

    def collect(self) -> None:
        mine = [r for r in self.trace.records(since=self._since) if self._mine(r)]
        counts: dict[str, collections.Counter[str]] = {}
        for r in mine:
            counts.setdefault(r.endpoint, collections.Counter())[r.outcome] += 1
        self.counts = dict(sorted(counts.items()))
        self.recent = mine[-self.last:] if self.last else []
        if self.proxy is not None:
            self.pods = pods_by_ip(self.proxy, self.namespace, self.service)

    def _label(self, endpoint: str) -> str:
        if not endpoint:
            return "(no endpoint)"
        pod = self.pods.get(endpoint.rsplit(":", 1)[0])
        return f"{endpoint} ({pod})" if pod else endpoint

    @property
    def problem(self) -> str:
        """Why kube-proxy cannot serve this Service (a frontend it cannot bind), or ""."""
        return self.proxy.problems.get(f"{self.namespace}/{self.service}", "") if self.proxy else ""

    def summary(self) -> str:
        total = sum(sum(c.values()) for c in self.counts.values())
        answered = sum(1 for c in self.counts.values() if c["proxied"])
        return f"ServiceTraffic({self.namespace}/{self.service}: {total} connections, {answered} endpoints answered)"

    def text(self) -> str:
        lines = [self.summary()] + ([f"  kube-proxy: {self.problem}"] if self.problem else [])
        for endpoint, outcomes in self.counts.items():
            lines.append(f"  {self._label(endpoint)}: " + " ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
        if self.recent:
            lines.append("  last: " + ", ".join(f"{r.endpoint or '-'} {r.outcome}" for r in self.recent))
        return "\n".join(lines)

    def render(self) -> str:
        port = f":{esc(self.port)}" if self.port else ""
        title = f"<div><b>service {esc(self.namespace)}/{esc(self.service)}{port}</b></div>"
        if self.problem:
            title += f'<div class="labkit-problem">kube-proxy: {esc(self.problem)}</div>'
        if not self.counts:
            return f"{title}<div>no connections yet</div>"
        rows = [(r.seq, r.client, r.frontend, self._label(r.endpoint), r.outcome, r.error) for r in self.recent]
        return (f"{title}{self._bars()}<div>last {len(rows)} connections</div>"
                + table(("seq", "client", "frontend", "endpoint", "outcome", "error"), rows))

    def _bars(self) -> str:
        """One horizontal bar per endpoint, split by outcome, scaled to the busiest endpoint."""
        label_w, bar_w, h = 260, 300, 18
        most = max(sum(c.values()) for c in self.counts.values())
        parts = []
        for i, (endpoint, outcomes) in enumerate(self.counts.items()):
            y, x = i * (h + 4), label_w
            parts.append(f'<text x="0" y="{y + 13}">{esc(self._label(endpoint))}</text>')
            for outcome, count in sorted(outcomes.items()):
                w = round(count / most * bar_w)
                fill = OUTCOME_COLORS.get(outcome, "#999")
                parts.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}">'
                             f"<title>{esc(outcome)}: {count}</title></rect>")
                x += w
            parts.append(f'<text x="{x + 4}" y="{y + 13}">{sum(outcomes.values())}</text>')
        height = len(self.counts) * (h + 4)
        return (f'<svg width="{label_w + bar_w + 40}" height="{height}" class="labkit-traffic-bars">'
                f'{"".join(parts)}</svg>')
