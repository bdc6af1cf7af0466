"""The last two points of every node and container, and the usage they give.

Mirrors metrics-server's ``pkg/storage`` (``node.go``, ``pod.go``, ``types.go`` ``resourceUsage``): CPU is
the rate between a point and the one before it, in nanocores (``...n``, scale -9); memory is the last
working set, in bytes printed binary-SI (``...Ki``); ``timestamp`` and ``window`` say which interval the
rate covers (a pod's are its earliest container's). A point replaces the last one only if newer, and a
restarted container (a later start time) starts over. A container that started less than one
resolution ago, but at least 10 s ago, gets a point at its start with no CPU used, so that it shows
after one scrape. Nothing is known of a node or pod until it has two points: ``kubectl top`` then
says ``metrics not available yet``.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import BINARY_SI, DECIMAL_SI, Quantity, format_quantity
from labkit.apimachinery.timeutil import go_duration, rfc3339
from labkit.metricsserver.decode import MetricsBatch, MetricsPoint

#: a container younger than this gets no synthetic first point: its rate would be too rough
FRESH_CONTAINER_MIN_RESOLUTION = 10.0


def _usage(last: MetricsPoint, prev: MetricsPoint) -> tuple[dict[str, str], int, int] | None:
    """``resourceUsage``: {cpu, memory}, the timestamp and the window (ms); None when the counters went back."""
    if last.start_time < prev.start_time or last.cpu_ns < prev.cpu_ns:
        return None
    window = last.timestamp_ms - prev.timestamp_ms
    nanocores = int((last.cpu_ns - prev.cpu_ns) / (window / 1000))
    return ({"cpu": format_quantity(Quantity(Fraction(nanocores, 10**9), DECIMAL_SI)),
             "memory": format_quantity(Quantity(Fraction(last.memory), BINARY_SI))}, last.timestamp_ms, window)


def _time(milliseconds: int) -> str:
    return rfc3339(dt.datetime.fromtimestamp(milliseconds / 1000, dt.UTC))


class Storage:
    """Node and pod points; ``resolution`` is the scrape interval in seconds."""

    def __init__(self, resolution: float) -> None:
        self.resolution = resolution
        self.nodes: tuple[dict[str, MetricsPoint], dict[str, MetricsPoint]] = ({}, {})  # last, prev
        self.pods: tuple[dict[tuple[str, str], dict[str, MetricsPoint]],
                         dict[tuple[str, str], dict[str, MetricsPoint]]] = ({}, {})

    def store(self, batch: MetricsBatch) -> None:
        last_nodes, prev_nodes = self.nodes
        prev: dict[str, MetricsPoint] = {}
        for name, point in batch.nodes.items():
            older = _previous(point, last_nodes.get(name), prev_nodes.get(name))
            if older is not None:
                prev[name] = older
        self.nodes = (dict(batch.nodes), prev)
        last_pods, prev_pods = self.pods
        pods_prev: dict[tuple[str, str], dict[str, MetricsPoint]] = {}
        for ref, containers in batch.pods.items():
            kept: dict[str, MetricsPoint] = {}
            for name, point in containers.items():
                age = point.timestamp_ms / 1000 - point.start_time
                if point.start_time and FRESH_CONTAINER_MIN_RESOLUTION <= age < self.resolution:
                    kept[name] = MetricsPoint(point.start_time, round(point.start_time * 1000), 0, point.memory)
                    continue
                last = last_pods.get(ref, {}).get(name)
                if last is not None and point.start_time < last.timestamp_ms / 1000:  # not restarted since
                    older = _previous(point, last, prev_pods.get(ref, {}).get(name))
                    if older is not None:
                        kept[name] = older
            if kept:
                pods_prev[ref] = kept
        self.pods = ({ref: dict(c) for ref, c in batch.pods.items()}, pods_prev)

    def node_metrics(self, node: Obj) -> Obj | None:
        """The ``NodeMetrics`` of ``node``, or None while it has fewer than two points."""
        name = node["metadata"]["name"]
        last, prev = self.nodes[0].get(name), self.nodes[1].get(name)
        usage = _usage(last, prev) if last is not None and prev is not None else None
        if usage is None:
            return None
        resources, timestamp, window = usage
        return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": _metadata(node), "timestamp": _time(timestamp), "window": go_duration(window / 1000),
                "usage": resources}

    def pod_metrics(self, pod: Obj) -> Obj | None:
        """The ``PodMetrics`` of ``pod``, or None unless every container has two points."""
        meta = pod["metadata"]
        ref = (meta["namespace"], meta["name"])
        last, prev = self.pods[0].get(ref), self.pods[1].get(ref)
        if not last or prev is None or any(name not in prev for name in last):
            return None
        containers, earliest = [], None
        for name, point in last.items():
            usage = _usage(point, prev[name])
            if usage is None:  # metrics-server skips that container, and keeps the pod
                continue
            containers.append({"name": name, "usage": usage[0]})
            if earliest is None or usage[1] < earliest[0]:
                earliest = usage[1:]
        timestamp, window = earliest or (0, 0)
        return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": _metadata(pod),
                "timestamp": _time(timestamp), "window": go_duration(window / 1000), "containers": containers}


def _previous(point: MetricsPoint, last: MetricsPoint | None, prev: MetricsPoint | None) -> MetricsPoint | None:
    """The point to keep before ``point``: the last one if ``point`` is newer, else the one before it if older."""
    if last is not None and point.timestamp_ms > last.timestamp_ms:
        return last
    if prev is not None and prev.timestamp_ms < point.timestamp_ms:
        return prev
    return None


def _metadata(obj: Obj) -> Obj:
    """What metrics-server copies from the node or pod: name, namespace, labels; created now."""
    meta = obj["metadata"]
    out: Obj = {"name": meta["name"]}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["creationTimestamp"] = rfc3339(dt.datetime.now(dt.UTC))
    if meta.get("labels"):
        out["labels"] = meta["labels"]
    return out
