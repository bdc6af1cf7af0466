"""The kubelet's ``/metrics/cadvisor``: CPU throttling of each container with a CPU limit.

Mirrors cAdvisor's Prometheus collector (``metrics/prometheus.go``: ``container_cpu_cfs_periods_total``,
``container_cpu_cfs_throttled_periods_total``, ``container_cpu_cfs_throttled_seconds_total``, shown
only for containers with a CFS quota, each sample timestamped) with the labels the kubelet gives it
(``pkg/kubelet/server/server.go``, ``containerPrometheusLabelsFunc``: ``container``, ``id`` the cgroup
path, ``image``, ``name`` the runtime's container name, ``namespace``, ``pod``). The figures come from
each container's cgroup (:mod:`labkit.kubelet.runtime.cgroups`) through the runtime's
``ListContainerStats``; a runtime without cgroups (sim, process without root) shows none.

Left out: every other cAdvisor family (usage, memory, network, filesystem, spec), the pod and
sandbox cgroups, ``machine_*`` and ``container_scrape_error``.
"""

from __future__ import annotations

from labkit.kubelet.resourcemetrics import Sample, exposition
from labkit.kubelet.runtime import CRIError, Runtime

#: name -> (type, help), as cAdvisor registers them
METRICS = {
    "container_cpu_cfs_periods_total": ("counter", "Number of elapsed enforcement period intervals."),
    "container_cpu_cfs_throttled_periods_total": ("counter", "Number of throttled period intervals."),
    "container_cpu_cfs_throttled_seconds_total": ("counter", "Total time duration the container has been throttled."),
}


async def collect(runtime: Runtime) -> str:
    """The node's ``/metrics/cadvisor`` text, from ``runtime``'s containers now."""
    pods = {s.id: s for s in await runtime.list_pod_sandboxes()}
    families: dict[str, list[Sample]] = {}
    for s in await runtime.list_container_stats():
        pod = pods.get(s.sandbox_id)
        if pod is None:
            continue
        try:
            cgroup = await runtime.container_cgroup(s.id)
        except CRIError:  # no cgroup of its own, or it stopped since the list
            continue
        if cgroup.cpu_quota_us is None:
            continue
        labels = {"container": s.name, "id": cgroup.name, "image": s.image, "name": s.alias,
                  "namespace": pod.namespace, "pod": pod.name}
        for name, value in (("container_cpu_cfs_periods_total", cgroup.nr_periods),
                            ("container_cpu_cfs_throttled_periods_total", cgroup.nr_throttled),
                            ("container_cpu_cfs_throttled_seconds_total", cgroup.throttled_seconds)):
            families.setdefault(name, []).append((labels, value, s.timestamp))
    return exposition(families, METRICS, stability="")
