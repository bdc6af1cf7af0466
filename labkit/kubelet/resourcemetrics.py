"""The kubelet's ``/metrics/resource``: node and container CPU and memory, what metrics-server scrapes.

Mirrors ``pkg/kubelet/metrics/collectors/resource_metrics.go`` (metric names, help texts, labels
``container``/``pod``/``namespace``, sample timestamps in milliseconds, ``resource_scrape_error``) fed as
the CRI stats provider feeds it (``pkg/kubelet/stats/cri_stats_provider.go``: the runtime's
``ListContainerStats`` joined with its sandboxes for each container's pod), written in the Prometheus
text format as ``expfmt`` writes it (families sorted by name, floats as Go's ``%g`` prints them).

The node's usage is the sum of its containers plus a baseline (:data:`NODE_BASELINE_CPU`,
:data:`NODE_BASELINE_MEMORY`: the system daemons, kubelet and runtime of a real node, which a labkit
node does not have), on every runtime. A kubelet reads the root cgroup, the whole machine; but the
nodes of a labkit cluster share one machine with the notebook and everything else on it, so each
node would show the same, unrelated figure and ``kubectl top node``'s CPU(%) against the node's
declared 2 cores would mean nothing. As in a parent cgroup, the CPU time of containers that have
gone stays in the node's total, so its counter never goes back.

Left out: swap metrics, the pod-level cgroup (a pod's figures are the sum of its containers), the
deprecated ``scrape_error``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from labkit.kubelet.runtime import Runtime

NODE_BASELINE_CPU = Fraction(50, 1000)  # cores
NODE_BASELINE_MEMORY = 256 * 1024 * 1024  # bytes
_CONTAINER_LABELS = ("container", "namespace", "pod")

#: name -> (type, help); every help text carries the metric's stability, as component-base prints it
METRICS = {
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the container in core-seconds"),
    "container_memory_working_set_bytes": ("gauge", "Current working set of the container in bytes"),
    "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch in seconds"),
    "node_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the node in core-seconds"),
    "node_memory_working_set_bytes": ("gauge", "Current working set of the node in bytes"),
    "pod_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the pod in core-seconds"),
    "pod_memory_working_set_bytes": ("gauge", "Current working set of the pod in bytes"),
    "resource_scrape_error": ("gauge", "1 if there was an error while getting container metrics, 0 otherwise"),
}

Sample = tuple[dict[str, str], float, float | None]  # labels, value, timestamp (unix seconds) or None


def go_float(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 64)``: the shortest digits, exponent form from 1e+06 or below 1e-04."""
    value = float(value)
    size = -value if value < 0 else value
    if size == 0:
        return "0"
    if 1e-4 <= size < 1e6:  # repr is positional here, and as short: only its ".0" goes
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if size < 2**53 and value.is_integer():  # an exact integer's digits are its shortest
        whole = str(int(size))
        shortest = whole.rstrip("0")
        mantissa = shortest[0] + ("." + shortest[1:] if len(shortest) > 1 else "")
        return f"{'-' if value < 0 else ''}{mantissa}e+{len(whole) - 1:02d}"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point goes
    magnitude = point - 1
    if magnitude < -4 or magnitude >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = f"{mantissa}e{'-' if magnitude < 0 else '+'}{abs(magnitude):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + text
    elif point >= len(text):
        out = text + "0" * (point - len(text))
    else:
        out = text[:point] + "." + text[point:]
    return ("-" if sign else "") + out


def exposition(families: dict[str, list[Sample]], metrics: dict[str, tuple[str, str]] = METRICS, *,
               stability: str = "[STABLE] ") -> str:
    """The Prometheus text format of ``families`` (each a list of samples), sorted as a registry gathers;
    ``metrics`` gives each family's type and help, which ``stability`` precedes (component-base's; cAdvisor
    prints none)."""
    lines = []
    for name in sorted(families):
        kind, help_text = metrics[name]
        lines += [f"# HELP {name} {stability}{help_text}", f"# TYPE {name} {kind}"]
        samples = []
        for labels, value, timestamp in families[name]:
            items = sorted(labels.items())
            series = name + ("{" + ",".join(f'{k}="{v}"' for k, v in items) + "}" if items else "")
            stamp = "" if timestamp is None else f" {round(timestamp * 1000)}"
            samples.append((items, f"{series} {go_float(value)}{stamp}"))
        samples.sort(key=lambda sample: sample[0])
        lines += [line for _, line in samples]
    return "\n".join(lines) + "\n"


class ResourceMetrics:
    """One node's ``/metrics/resource``; ``clock`` gives the node's sample time (unix seconds)."""

    def __init__(self, runtime: Runtime, *, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.clock = clock
        self.booted = clock()
        self._last: dict[str, int] = {}  # container id -> its CPU nanoseconds at the last scrape
        self._gone_cpu = 0  # CPU nanoseconds of containers no longer running

    async def collect(self) -> str:
        stats = await self.runtime.list_container_stats()
        pods = {s.id: s for s in await self.runtime.list_pod_sandboxes()}
        now = self.clock()
        current = {s.id: s.cpu_usage_core_nanoseconds for s in stats}
        self._gone_cpu += sum(cpu for cid, cpu in self._last.items() if cid not in current)
        self._last = current
        families: dict[str, list[Sample]] = {name: [] for name in METRICS}
        pod_totals: dict[tuple[str, str], list[float]] = {}
        for s in stats:
            pod = pods.get(s.sandbox_id)
            if pod is None:
                continue
            labels = {"container": s.name, "namespace": pod.namespace, "pod": pod.name}
            cpu = s.cpu_usage_core_nanoseconds / 1e9
            families["container_cpu_usage_seconds_total"].append((labels, cpu, s.timestamp))
            families["container_memory_working_set_bytes"].append((labels, s.memory_working_set_bytes, s.timestamp))
            if s.started_at > 0:
                families["container_start_time_seconds"].append((labels, s.started_at, None))
            totals = pod_totals.setdefault((pod.namespace, pod.name), [0.0, 0.0, s.timestamp])
            totals[0] += cpu
            totals[1] += s.memory_working_set_bytes
        for (namespace, name), (cpu, memory, timestamp) in pod_totals.items():
            labels = {"namespace": namespace, "pod": name}
            families["pod_cpu_usage_seconds_total"].append((labels, cpu, timestamp))
            families["pod_memory_working_set_bytes"].append((labels, memory, timestamp))
        node_cpu = NODE_BASELINE_CPU * Fraction(now - self.booted) * 10**9 + self._gone_cpu + sum(current.values())
        families["node_cpu_usage_seconds_total"].append(({}, float(node_cpu) / 1e9, now))
        families["node_memory_working_set_bytes"].append(
            ({}, NODE_BASELINE_MEMORY + sum(s.memory_working_set_bytes for s in stats), now))
        families["resource_scrape_error"].append(({}, 0, None))
        return exposition(families)

