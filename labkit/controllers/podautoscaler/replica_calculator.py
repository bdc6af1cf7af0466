"""How many replicas a metric asks for (``pkg/controller/podautoscaler/replica_calculator.go`` and
``metrics/utilization.go``).

``desired = ceil(ready pods * current / target)``, or no change while ``current / target`` is within
the tolerance (0.1: between 0.9 and 1.1). The pods the target's selector matches are grouped first
(``groupPods``): deleting and failed pods are dropped, Pending pods are unready, so are (for CPU)
pods not Ready yet, or Ready for less than one metric window during the CPU initialization period,
or not Ready and never Ready since they started; pods the metrics API has no sample for are missing.
The ratio is taken over the ready pods with samples. Then, if pods were missing or unready, it is
taken again more cautiously: a missing pod counts as using 100% of its request (or the target, if
higher) on a scale-down and 0% on a scale-up, an unready pod as 0% on a scale-up. If that second
ratio is within tolerance or points the other way, nothing changes.

Left out: pod-level resource requests (KEP-2837), the per-direction tolerances of 1.33's alpha
``tolerance`` field, and the Pods, Object and External metric calculations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import get_pod_ready_condition
from labkit.apimachinery.resource import parse_quantity
from labkit.apimachinery.timeutil import parse_time

TOLERANCE = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class PodMetric:
    """One pod's sample (``PodMetric``): the sum over its containers in milli-units, when it was
    taken and over how long a window."""

    value: int
    timestamp: dt.datetime
    window: float


class ReplicaCalcError(Exception):
    """No replica count could be computed; the message is the controller's."""


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    """The controller manager's readiness settings (``--horizontal-pod-autoscaler-*``) and the time now."""

    now: dt.datetime
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0
    tolerance: float = TOLERANCE


def _unready_cpu(pod: Obj, metric: PodMetric, timing: Timing) -> bool:
    """Whether a CPU sample of this pod is not to be trusted yet."""
    condition = get_pod_ready_condition(pod)
    started = parse_time((pod.get("status") or {}).get("startTime"))
    if condition is None or started is None:
        return True
    changed = parse_time(condition.get("lastTransitionTime")) or started
    if started + dt.timedelta(seconds=timing.cpu_initialization_period) > timing.now:
        return condition.get("status") == "False" or metric.timestamp < changed + dt.timedelta(seconds=metric.window)
    delay = dt.timedelta(seconds=timing.initial_readiness_delay)
    return condition.get("status") == "False" and started + delay > changed


def group_pods(pods: list[Obj], metrics: dict[str, PodMetric], resource: str,
               timing: Timing) -> tuple[int, set[str], set[str], set[str]]:
    """``groupPods``: (ready pods with samples, unready, missing, ignored) pod names."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        name, phase = pod["metadata"]["name"], (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
        elif phase == "Pending":
            unready.add(name)
        elif name not in metrics:
            missing.add(name)
        elif resource == "cpu" and _unready_cpu(pod, metrics[name], timing):
            unready.add(name)
        else:
            ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: list[Obj], resource: str, container: str = "") -> dict[str, int]:
    """``calculateRequests``: each pod's request (milli-units) over its containers, or ``container``'s."""
    requests = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or []) + [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        total, found = 0, False
        for c in containers:
            if container and c.get("name") != container:
                continue
            found = True
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise ReplicaCalcError(f"missing request for {resource} in container {c.get('name')} of Pod "
                                       f"{pod['metadata']['name']}")
            total += parse_quantity(request).milli_value()
        if container and not found:
            raise ReplicaCalcError(f"container {container} not found in Pod {pod['metadata']['name']}")
        requests[pod["metadata"]["name"]] = total
    return requests


def utilization_ratio(metrics: dict[str, int], requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio``: (usage / target, utilization % (rounded down), average usage)."""
    used = [(value, requests[name]) for name, value in metrics.items() if name in requests]
    requested = sum(r for _, r in used)
    if requested == 0:
        raise ReplicaCalcError("no metrics returned matched known pods")
    utilization = sum(v for v, _ in used) * 100 // requested
    return utilization / target, utilization, sum(v for v, _ in used) // len(used)


def _within(ratio: float, tolerance: float) -> bool:
    return 1.0 - tolerance <= ratio <= 1.0 + tolerance


@dataclasses.dataclass(slots=True)
class _Samples:
    """The pods grouped, and the samples the first ratio is taken over (ready pods only)."""

    ready: int
    unready: set[str]
    missing: set[str]
    values: dict[str, int]


def _samples(pods: list[Obj], metrics: dict[str, PodMetric], resource: str, timing: Timing) -> _Samples:
    if not pods:
        raise ReplicaCalcError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, metrics, resource, timing)
    values = {name: m.value for name, m in metrics.items() if name not in unready and name not in ignored}
    if not values:
        raise ReplicaCalcError("did not receive metrics for targeted pods (pods might be unready)")
    return _Samples(ready, unready, missing, values)


def _proposal(current_replicas: int, samples: _Samples, timing: Timing, ratio_of: Callable[[dict[str, int]], float],
              fallback: Callable[[str], int]) -> int:
    """What ``GetResourceReplicas`` and ``calcPlainMetricReplicas`` share: ``ratio_of`` the samples,
    and ``fallback``, a missing pod's usage on a scale-down."""
    ratio = ratio_of(samples.values)
    scale_up_with_unready = bool(samples.unready) and ratio > 1.0
    if not scale_up_with_unready and not samples.missing:
        return current_replicas if _within(ratio, timing.tolerance) else math.ceil(ratio * samples.ready)
    values = dict(samples.values)
    for name in samples.missing:
        if ratio < 1.0:
            values[name] = fallback(name)
        elif ratio > 1.0:
            values[name] = 0
    if scale_up_with_unready:
        values.update(dict.fromkeys(samples.unready, 0))
    new_ratio = ratio_of(values)
    if _within(new_ratio, timing.tolerance) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current_replicas
    replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and replicas > current_replicas) or (new_ratio > 1.0 and replicas < current_replicas):
        return current_replicas
    return replicas


def resource_replicas(current_replicas: int, target_utilization: int, resource: str, pods: list[Obj],
                      metrics: dict[str, PodMetric], timing: Timing, container: str = "") -> tuple[int, int, int]:
    """``GetResourceReplicas``: (replicas, utilization %, average usage in milli-units) for a
    utilization target."""
    samples = _samples(pods, metrics, resource, timing)
    requests = pod_requests(pods, resource, container)
    _ratio, utilization, raw = utilization_ratio(samples.values, requests, target_utilization)
    replicas = _proposal(current_replicas, samples, timing,
                         lambda values: utilization_ratio(values, requests, target_utilization)[0],
                         lambda name: requests[name] * max(100, target_utilization) // 100)
    return replicas, utilization, raw


def average_usage(values: dict[str, int]) -> int:
    """``GetMetricUsageRatio``'s current usage: the mean, rounded down."""
    return sum(values.values()) // len(values)


def raw_resource_replicas(current_replicas: int, target_usage: int, resource: str, pods: list[Obj],
                          metrics: dict[str, PodMetric], timing: Timing) -> tuple[int, int]:
    """``GetRawResourceReplicas``: (replicas, average usage in milli-units) for an average value target."""
    samples = _samples(pods, metrics, resource, timing)
    replicas = _proposal(current_replicas, samples, timing, lambda values: average_usage(values) / target_usage,
                         lambda _name: target_usage)
    return replicas, average_usage(samples.values)
