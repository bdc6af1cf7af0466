"""Reading a kubelet's ``/metrics/resource`` into points.

Mirrors metrics-server's ``pkg/scraper/client/resource/decode.go``: the five series it reads
(``node_cpu_usage_seconds_total``, ``node_memory_working_set_bytes``, ``container_cpu_usage_seconds_total``,
``container_memory_working_set_bytes``, ``container_start_time_seconds``), a sample without a timestamp
taken at the scrape time, a node or container whose CPU or memory is missing or zero dropped (a
container so takes its whole pod with it). Left out: Prometheus' exemplars and escapes in label values.
"""

from __future__ import annotations

import dataclasses
import re

#: the families read; a line naming another is skipped before it is parsed
_READ = ("node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "container_cpu_usage_seconds_total",
         "container_memory_working_set_bytes", "container_start_time_seconds")
_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


@dataclasses.dataclass
class MetricsPoint:
    """One node's or container's sample (``storage.MetricsPoint``): when it was started (unix seconds,
    0 for a node), when sampled (milliseconds, as the exposition gives it), CPU nanoseconds since it
    started, working set bytes."""

    start_time: float = 0.0
    timestamp_ms: int = 0
    cpu_ns: int = 0
    memory: int = 0


@dataclasses.dataclass
class MetricsBatch:
    """What one scrape (or several, merged) found: node name -> point, (namespace, pod) -> container -> point."""

    nodes: dict[str, MetricsPoint] = dataclasses.field(default_factory=dict)
    pods: dict[tuple[str, str], dict[str, MetricsPoint]] = dataclasses.field(default_factory=dict)


def decode_batch(text: str, default_time_ms: int, node: str) -> MetricsBatch:
    """The points in one kubelet's answer; ``default_time_ms`` is the scrape's time."""
    batch = MetricsBatch()
    node_point = MetricsPoint()
    containers: dict[tuple[str, str], dict[str, MetricsPoint]] = {}
    for line in text.splitlines():
        if not line.startswith(_READ) or (m := _SAMPLE.match(line)) is None:
            continue
        name, labels, value, stamp = m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3)), m.group(4)
        at = int(stamp) if stamp is not None else default_time_ms
        if name == "node_cpu_usage_seconds_total":
            node_point.cpu_ns, node_point.timestamp_ms = int(value * 1e9), at
        elif name == "node_memory_working_set_bytes":
            node_point.memory, node_point.timestamp_ms = int(value), at
        elif name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                      "container_start_time_seconds"):
            pod = containers.setdefault((labels.get("namespace", ""), labels.get("pod", "")), {})
            point = pod.setdefault(labels.get("container", ""), MetricsPoint())
            if name == "container_start_time_seconds":
                point.start_time = value
            elif name == "container_cpu_usage_seconds_total":
                point.cpu_ns, point.timestamp_ms = int(value * 1e9), at
            else:
                point.memory, point.timestamp_ms = int(value), at
    if node_point.timestamp_ms and node_point.cpu_ns and node_point.memory:
        batch.nodes[node] = node_point
    for ref, points in containers.items():
        if all(p.cpu_ns and p.memory for p in points.values()):
            batch.pods[ref] = points
    return batch
