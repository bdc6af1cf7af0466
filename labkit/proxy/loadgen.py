"""A load generator for a Service: bounded HTTP requests, each with the endpoint that answered it.

labkit's own, in the spirit of the ``hey``/``ab`` runs the Kubernetes docs use to load a Service (the
HPA walkthrough's ``while wget`` loop): ``requests`` GETs over ``concurrency`` connections at a time,
one connection per request (so kube-proxy chooses an endpoint for each), ending at the count or
at ``duration`` seconds, whichever comes first; neither may be left open. Which endpoint answered is
kube-proxy's own record of the connection (:class:`~labkit.proxy.trace.ConnectionRecord`, matched
by the client's address and port), and its pod is the EndpointSlice's ``targetRef``; the latency is
from the connect to the last byte of the answer. :class:`LoadReport` sums it up: requests per pod,
errors, p50 and p99. :func:`load_pod` is the same run from inside the cluster, as a busybox Pod (a
``wget`` loop, as in the HPA walkthrough, bounded by a count and by ``timeout``): each answer's first
line goes to its log, and kube-proxy's trace (``cluster.widgets.traffic``) shows which endpoint took
each of its connections; busybox has no clock fine enough for latencies. Left out: keep-alive
connections, request rates, other methods than GET.
"""

from __future__ import annotations

import collections
import dataclasses
import http.client
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable

from labkit.proxy.endpoints import SERVICE_NAME_LABEL
from labkit.proxy.proxier import KubeProxy
from labkit.proxy.trace import ConnectionRecord, ConnectionTrace

MAX_REQUESTS = 100_000
MAX_DURATION = 600.0  # seconds: a load run is a lesson's step, not a soak test
MAX_CONCURRENCY = 64
Connect = Callable[[str, int, float], socket.socket]


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """One request: what came back (``status`` 0 and ``error`` when nothing did), the connection's
    local address (``client``), and how long it took in seconds."""

    client: str
    status: int
    body: str
    error: str
    latency: float
    started: float  # seconds since the run began


@dataclasses.dataclass(frozen=True, slots=True)
class RequestResult:
    """An :class:`Answer` with the endpoint kube-proxy chose for it and that endpoint's pod."""

    answer: Answer
    endpoint: str = ""  # "ip:port"; "" when kube-proxy recorded none (no endpoint, or not through it)
    pod: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.answer.status < 400

    @property
    def answered_by(self) -> str:
        """The pod, else the endpoint, else the error."""
        if not self.ok:
            return f"error: {self.answer.error or self.answer.status}"
        return self.pod or self.endpoint or "(unknown endpoint)"


def get(host: str, port: int, target: str, *, timeout: float, connect: Connect | None = None,
        started: float = 0.0) -> Answer:
    """One GET on a connection of its own."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    client = ""
    try:
        conn.sock = connect(host, port, timeout) if connect is not None else socket.create_connection(
            (host, port), timeout)
        address = conn.sock.getsockname()
        client = f"{address[0]}:{address[1]}"
        conn.request("GET", target)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return Answer(client, resp.status, body, "" if resp.status < 400 else str(resp.reason),
                      time.perf_counter() - t0, started)
    except (OSError, http.client.HTTPException) as e:
        return Answer(client, 0, "", str(e) or type(e).__name__, time.perf_counter() - t0, started)
    finally:
        conn.close()


def split_url(url: str) -> tuple[str, int, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or 80, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def check_bounds(requests: int | None, duration: float | None, concurrency: int) -> None:
    """A run must end: ValueError, saying the limits, for an open or oversized one."""
    if requests is None or duration is None:
        raise ValueError("a load run needs both a request count and a time limit (requests=, duration=): "
                         "it ends at whichever comes first")
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be between 1 and {MAX_REQUESTS}, not {requests}")
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be more than 0 and at most {MAX_DURATION:g} seconds, not {duration}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")


def send(url: str, *, requests: int, duration: float, concurrency: int = 1, timeout: float = 2.0,
         connect: Connect | None = None) -> tuple[list[Answer], float]:
    """GET ``url`` ``requests`` times, ``concurrency`` at once, until done or ``duration`` seconds have
    passed; the answers in the order they were sent, and how long the run took."""
    check_bounds(requests, duration, concurrency)
    host, port, target = split_url(url)
    answers: list[Answer | None] = [None] * requests
    lock = threading.Lock()
    sent = 0
    t0 = time.monotonic()
    deadline = t0 + duration

    def worker() -> None:
        nonlocal sent
        while True:
            with lock:
                if sent >= requests or time.monotonic() >= deadline:
                    return
                i, sent = sent, sent + 1
            started = time.monotonic() - t0
            answers[i] = get(host, port, target, timeout=min(timeout, max(deadline - time.monotonic(), 0.01)),
                             connect=connect, started=started)

    threads = [threading.Thread(target=worker, name=f"labkit-load-{i}", daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [a for a in answers if a is not None], time.monotonic() - t0


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``, 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


@dataclasses.dataclass
class LoadReport:
    """What one run did. ``summary()`` is a few lines; ``by_pod()`` the requests each pod answered."""

    service: str
    results: list[RequestResult]
    duration: float
    requested: int

    def by_pod(self) -> collections.Counter[str]:
        """Requests per answering pod (``error: ...`` for those that failed)."""
        return collections.Counter(r.answered_by for r in self.results)

    def latencies(self, *, ok_only: bool = True) -> list[float]:
        return [r.answer.latency for r in self.results if r.ok or not ok_only]

    @property
    def p50(self) -> float:
        return percentile(self.latencies(), 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies(), 99)

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.results)

    def summary(self) -> str:
        sent = len(self.results)
        ended = "all sent" if sent == self.requested else f"stopped at the time limit, {self.requested - sent} not sent"
        lines = [f"{sent} requests to {self.service} in {self.duration:.2f}s ({ended}); {self.errors} failed; "
                 f"latency p50 {self.p50 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms"]
        width = max((len(k) for k in self.by_pod()), default=0)
        for who, n in sorted(self.by_pod().items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {who:<{width}}  {n:>6}  {n / sent:6.1%}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


class ConnectionsSeen:
    """kube-proxy's records of one Service's connections while a run lasts, by client address."""

    def __init__(self, trace: ConnectionTrace, service: str) -> None:
        self.service = service
        self.by_client: dict[str, collections.deque[ConnectionRecord]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._unsubscribe = trace.subscribe(self._record)

    def _record(self, record: object) -> None:
        if isinstance(record, ConnectionRecord) and record.outcome == "proxied" and (
                record.service == self.service or record.service.startswith(self.service + ":")):
            with self._lock:
                self.by_client[record.client].append(record)

    def close(self) -> None:
        self._unsubscribe()

    def endpoint_of(self, answer: Answer) -> str:
        """The endpoint of the earliest unclaimed connection from the answer's client address (a
        client port can come back in a long run: runs claim in order)."""
        with self._lock:
            seen = self.by_client.get(answer.client)
            return seen.popleft().endpoint if seen else ""


def pods_by_ip(proxy: KubeProxy, namespace: str, service: str) -> dict[str, str]:
    """Endpoint IP -> pod name from the proxy's EndpointSlice cache."""
    pods: dict[str, str] = {}
    for eps in proxy.slices.list():  # the loop mutates the cache: copy it in one C-level step first
        meta = eps["metadata"]
        if (meta.get("namespace"), meta.get("labels", {}).get(SERVICE_NAME_LABEL)) != (namespace, service):
            continue
        for ep in eps.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            if ref.get("kind") == "Pod":
                pods.update({address: ref["name"] for address in ep.get("addresses") or []})
    return pods


def load_pod(name: str, service: str, *, requests: int, duration: float, port: int = 80, path: str = "/",
             image: str = "busybox") -> dict[str, object]:
    """A Pod that GETs Service ``service`` (of its own namespace) ``requests`` times, one after another,
    for at most ``duration`` seconds, and logs each answer's first line (``error`` when none came).
    It finds the Service by the ``<NAME>_SERVICE_HOST`` variable the kubelet sets (created after the
    Service, as the variables require), so it needs no DNS."""
    check_bounds(requests, duration, 1)
    host = "$" + service.upper().replace("-", "_") + "_SERVICE_HOST"
    loop = (f"i=0; while [ $i -lt {requests} ]; do i=$((i+1)); "
            f"wget -qO- http://{host}:{port}{path} 2>/dev/null | head -n 1 | grep . || echo error; done")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "load-generator"}},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "load", "image": image, "command": ["timeout", f"{duration:g}", "sh", "-c", loop]}]}}


def generate_load(proxy: KubeProxy, service: str, *, namespace: str = "default", requests: int, duration: float,
                  concurrency: int = 1, path: str = "/", port: int | str | None = None,
                  timeout: float = 2.0) -> LoadReport:
    """Load Service ``namespace/service`` through ``proxy`` (its ClusterIP, from where the cluster's
    pods are); see the module's docstring."""
    check_bounds(requests, duration, concurrency)
    url = proxy.url(service, namespace, port=port) + path
    seen = ConnectionsSeen(proxy.trace, f"{namespace}/{service}")
    try:
        answers, took = send(url, requests=requests, duration=duration, concurrency=concurrency, timeout=timeout,
                             connect=proxy.network.connect)
    finally:
        seen.close()
    pods = pods_by_ip(proxy, namespace, service)
    results = []
    for answer in sorted(answers, key=lambda a: a.started):
        endpoint = seen.endpoint_of(answer) if answer.client else ""
        results.append(RequestResult(answer, endpoint, pods.get(endpoint.rsplit(":", 1)[0], "") if endpoint else ""))
    return LoadReport(f"{namespace}/{service}", results, took, requests)
