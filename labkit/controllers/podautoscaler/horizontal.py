"""The horizontal pod autoscaler controller (``pkg/controller/podautoscaler/horizontal.go``).

Every sync period (``--horizontal-pod-autoscaler-sync-period``, 15 s; a new or changed HPA waits one
period too, as kube's rate limiter makes it) each HPA is reconciled: read the target's ``/scale``,
compute a replica count per metric (``replica_calculator.py``, samples from ``metrics.py``), take the
largest, then normalize it. Without ``spec.behavior`` that is kube's legacy rule: the highest
recommendation of the downscale stabilization window (5 min) and at most ``max(2 * current, 4)``; with
it, the stabilization windows of both directions and the Pods/Percent policies of each, combined by
``selectPolicy``, over the scale events of their periods. Then min/max, a write to ``/scale`` when the
count changes (event ``SuccessfulRescale``), and the status: replicas, ``currentMetrics``,
``lastScaleTime`` and the ``AbleToScale``, ``ScalingActive`` and ``ScalingLimited`` conditions, with
kube's reasons and messages.

Left out: Pods, Object and External metrics (``FailedGet*Metric``: labkit serves no custom or external
metrics API), the check that no two HPAs select the same pods (``AmbiguousSelector``), the REST
mapper's search across versions (the target's ``apiVersion`` is looked up as written), and the alpha
per-rule ``tolerance``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

from labkit.apimachinery.labels import SelectorError, parse_label_selector
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import Quantity, format_quantity, parse_quantity
from labkit.apimachinery.timeutil import rfc3339
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result
from labkit.controllers.podautoscaler.metrics import MetricsError, MetricsSource, ResourceMetricsClient
from labkit.controllers.podautoscaler.replica_calculator import (
    ReplicaCalcError,
    Timing,
    raw_resource_replicas,
    resource_replicas,
)
from labkit.informer import Informer

HPA_VERSION = "autoscaling/v2"
SCALE_UP_LIMIT_FACTOR, SCALE_UP_LIMIT_MINIMUM = 2, 4  # the legacy rule without behavior
WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
READY = ("ReadyForNewScale", "recommended size matches current size")
UP_STABILIZED = ("ScaleUpStabilized",
                 "recent recommendations were lower than current one, applying the lowest recent recommendation")
DOWN_STABILIZED = ("ScaleDownStabilized",
                   "recent recommendations were higher than current one, applying the highest recent recommendation")


class MetricFailure(Exception):
    """A metric gave no replica count: ``reason`` and ``message`` for the event and condition, and the
    error the controller reports further up."""

    def __init__(self, reason: str, message: str, error: str) -> None:
        super().__init__(error)
        self.reason, self.message = reason, message


@dataclasses.dataclass(slots=True)
class Sample:
    """A recommendation or a scale event, and when (``clock.monotonic()``)."""

    at: float
    value: int


def set_condition(hpa: Obj, kind: str, status: str, reason: str, message: str, now: str) -> None:
    """``setCondition``: a changed status moves ``lastTransitionTime``."""
    conditions = hpa.setdefault("status", {}).setdefault("conditions", [])
    condition = next((c for c in conditions if c.get("type") == kind), None)
    if condition is None:
        condition = {"type": kind}
        conditions.append(condition)
    if condition.get("status") != status:
        condition["lastTransitionTime"] = now
    condition.update(status=status, reason=reason, message=message)


def _milli(value: int) -> str:
    return format_quantity(Quantity(value * parse_quantity("1m").amount))


class HorizontalController(Controller):
    name = "horizontal-pod-autoscaler"
    resource = "horizontalpodautoscalers"

    def __init__(self, *args: Any, metrics: MetricsSource | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics: MetricsSource = metrics or ResourceMetricsClient(self.client)
        self.recommendations: dict[str, list[Sample]] = {}
        self.scale_up_events: dict[str, list[Sample]] = {}
        self.scale_down_events: dict[str, list[Sample]] = {}
        self._plurals: dict[tuple[str, str], str] = {}  # (apiVersion, kind) -> plural, from discovery

    @property
    def hpas(self) -> Informer:
        return self.informer(HPA_VERSION, "horizontalpodautoscalers")

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    @property
    def period(self) -> float:
        return self.config.horizontal_pod_autoscaler_sync_period

    def register(self) -> None:
        def later(obj: Obj) -> None:
            self.queue.add_after(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}", self.period)

        self.hpas.add_handlers(on_add=later, on_update=lambda _old, new: later(new), on_delete=self.enqueue)
        _ = self.pods  # listed and watched, as kube's pod lister

    async def sync(self, key: str) -> Result | None:
        hpa = self.hpas.get(key)
        if hpa is None:  # deleted: forget what was recorded for it
            for recorded in (self.recommendations, self.scale_up_events, self.scale_down_events):
                recorded.pop(key, None)
            return None
        await self.reconcile_autoscaler(copy.deepcopy(hpa), key)
        return Result(requeue_after=self.period)

    # --- one reconciliation -----------------------------------------------------------------------

    def _now(self) -> str:
        return rfc3339(self.clock.now())

    def _condition(self, hpa: Obj, kind: str, status: str, reason: str, message: str) -> None:
        set_condition(hpa, kind, status, reason, message, self._now())

    async def reconcile_autoscaler(self, hpa: Obj, key: str) -> None:
        original = copy.deepcopy(hpa.get("status") or {})
        spec, ns = hpa["spec"], hpa["metadata"]["namespace"]
        ref = spec.get("scaleTargetRef") or {}
        try:
            scale_path = await self._scale_path(ns, ref)
            scale = await self.client.get(scale_path)
        except (APIStatusError, LookupError) as e:
            message = e.status.get("message", str(e)) if isinstance(e, APIStatusError) else e.args[0]
            self.recorder.event(hpa, "Warning", "FailedGetScale", message)
            self._condition(hpa, "AbleToScale", "False", "FailedGetScale",
                            f"the HPA controller was unable to get the target's current scale: {message}")
            await self._update_status_if_needed(original, hpa)
            return
        self._condition(hpa, "AbleToScale", "True", "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale")
        current = (scale.get("spec") or {}).get("replicas", 0)
        self.recommendations.setdefault(key, [Sample(self.clock.monotonic(), current)])
        min_replicas, max_replicas = spec.get("minReplicas", 1), spec["maxReplicas"]
        statuses: list[Obj] = []
        reason, rescale = "", True
        if current == 0 and min_replicas != 0:
            desired, rescale = 0, False
            self._condition(hpa, "ScalingActive", "False", "ScalingDisabled",
                            "scaling is disabled since the replica count of the target is zero")
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            computed = await self._replicas_for_metrics(hpa, scale, statuses)
            if computed is None:
                self._set_status(hpa, current, (hpa.get("status") or {}).get("desiredReplicas", 0), statuses, False)
                await self._update_status_if_needed(original, hpa)
                return
            desired, metric = computed
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            if spec.get("behavior") is None:
                desired = self._normalize(hpa, key, current, desired, min_replicas)
            else:
                desired = self._normalize_with_behaviors(hpa, key, current, desired, min_replicas)
            rescale = desired != current
        if rescale:
            try:
                await self.client.update(scale_path, {**scale, "spec": {**(scale.get("spec") or {}),
                                                                        "replicas": desired}})
            except APIStatusError as e:
                message = e.status.get("message", str(e))
                self.recorder.event(hpa, "Warning", "FailedRescale",
                                    f"New size: {desired}; reason: {reason}; error: {message}")
                self._condition(hpa, "AbleToScale", "False", "FailedUpdateScale",
                                f"the HPA controller was unable to update the target scale: {message}")
                self._set_status(hpa, current, (hpa.get("status") or {}).get("desiredReplicas", 0), statuses, False)
                await self._update_status_if_needed(original, hpa)
                return
            self._condition(hpa, "AbleToScale", "True", "SucceededRescale",
                            f"the HPA controller was able to update the target scale to {desired}")
            self.recorder.event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            self._store_scale_event(hpa, key, current, desired)
        else:
            desired = current
        self._set_status(hpa, current, desired, statuses, rescale)
        await self._update_status_if_needed(original, hpa)

    async def _scale_path(self, ns: str, ref: Obj) -> str:
        """The ``/scale`` of the target, its resource found by kind in discovery (the REST mapper)."""
        api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        plural = self._plurals.get((api_version, kind))
        if plural is None:
            group_version = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version or 'v1'}"
            try:
                listed = (await self.client.get(group_version)).get("resources") or []
            except APIStatusError:
                listed = []
            plural = next((r["name"] for r in listed if r.get("kind") == kind and "/" not in r["name"]), None)
            if plural is None:
                raise LookupError(f'no matches for kind "{kind}" in group "{api_version.rpartition("/")[0]}"')
            self._plurals[(api_version, kind)] = plural
        return resource_path(api_version, plural, namespace=ns, name=ref.get("name", ""), subresource="scale")

    # --- metrics ----------------------------------------------------------------------------------

    async def _replicas_for_metrics(self, hpa: Obj, scale: Obj, statuses: list[Obj]) -> tuple[int, str] | None:
        """``computeReplicasForMetrics``: the largest proposal and its metric's name, ``statuses`` filled
        in; None (the condition and event set) when nothing can be computed or a failure would scale down."""
        selector = (scale.get("status") or {}).get("selector") or ""
        if not selector:
            self.recorder.event(hpa, "Warning", "SelectorRequired", "selector is required")
            self._condition(hpa, "ScalingActive", "False", "InvalidSelector",
                            "the HPA target's scale is missing a selector")
            return None
        try:
            parsed = parse_label_selector(selector)
        except SelectorError as e:
            message = f"couldn't convert selector into a corresponding internal selector object: {e}"
            self.recorder.event(hpa, "Warning", "InvalidSelector", message)
            self._condition(hpa, "ScalingActive", "False", "InvalidSelector", message)
            return None
        ns = hpa["metadata"]["namespace"]
        pods = [p for p in self.pods.list(ns) if parsed.matches(p["metadata"].get("labels") or {})]
        specs = hpa["spec"].get("metrics") or []
        spec_replicas = (scale.get("spec") or {}).get("replicas", 0)
        replicas, metric, failures = 0, "", []
        for spec in specs:
            status: Obj = {"type": ""}  # a metric that failed keeps the zero status, as in kube
            try:
                proposal, name = await self._replicas_for_metric(spec, spec_replicas, ns, selector, pods, status)
            except MetricFailure as e:
                self.recorder.event(hpa, "Warning", e.reason, e.message)
                failures.append(e)
            else:
                if replicas == 0 or proposal > replicas:
                    replicas, metric = proposal, name
            statuses.append(status)
        if failures and (len(failures) >= len(specs) or replicas < spec_replicas):
            first = failures[0]
            self._condition(hpa, "ScalingActive", "False", first.reason,
                            f"the HPA was unable to compute the replica count: {first.message}")
            self.recorder.event(hpa, "Warning", "FailedComputeMetricsReplicas",
                                f"invalid metrics ({len(failures)} invalid out of {len(specs)}), first error is: "
                                f"{first}")
            return None
        self._condition(hpa, "ScalingActive", "True", "ValidMetricFound",
                        f"the HPA was able to successfully calculate a replica count from {metric}")
        return replicas, metric

    async def _replicas_for_metric(self, spec: Obj, current: int, ns: str, selector: str, pods: list[Obj],
                                   status: Obj) -> tuple[int, str]:
        """``computeReplicasForMetric`` for a Resource or ContainerResource metric."""
        kind = spec.get("type")
        if kind not in ("Resource", "ContainerResource"):
            reason = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric"}.get(
                kind or "", "FailedGetExternalMetric")
            message = f"labkit serves no custom or external metrics API for a {kind} metric"
            raise MetricFailure(reason, message, f"failed to get {kind} metric value: {message}")
        field = "resource" if kind == "Resource" else "containerResource"
        source = spec[field]
        resource, container = source["name"], source.get("container", "")
        target = source.get("target") or {}
        timing = Timing(self.clock.now(), self.config.horizontal_pod_autoscaler_cpu_initialization_period,
                        self.config.horizontal_pod_autoscaler_initial_readiness_delay,
                        self.config.horizontal_pod_autoscaler_tolerance)
        outer = f"failed to get {resource} resource metric value" if kind == "Resource" else \
            f"failed to get {container} container metric value"
        reason = "FailedGetResourceMetric" if kind == "Resource" else "FailedGetContainerResourceMetric"
        what = "usage" if target.get("averageValue") is not None else "utilization"
        try:
            try:
                samples, _when = await self.metrics.resource_metric(resource, ns, selector, container)
            except MetricsError as e:
                raise ReplicaCalcError(f"unable to get metrics for resource {resource}: {e}") from None
            if target.get("averageValue") is not None:
                proposal, usage = raw_resource_replicas(current, parse_quantity(target["averageValue"]).milli_value(),
                                                        resource, pods, samples, timing)
                current_value: Obj = {"averageValue": _milli(usage)}
                name = f"{resource} resource"
            else:
                proposal, utilization, usage = resource_replicas(current, target["averageUtilization"], resource,
                                                                 pods, samples, timing, container)
                current_value = {"averageUtilization": utilization, "averageValue": _milli(usage)}
                name = f"{resource} resource utilization (percentage of request)" if kind == "Resource" else \
                    f"{resource} container resource utilization (percentage of request)"
        except ReplicaCalcError as e:
            message = f"failed to get {resource} {what}: {e}"
            raise MetricFailure(reason, message, f"{outer}: {message}") from None
        status.clear()
        status.update(type=kind, **{field: {"name": resource, **({"container": container} if container else {}),
                                            "current": current_value}})
        return proposal, name

    # --- normalization ----------------------------------------------------------------------------

    def _limited(self, hpa: Obj, desired: int, limited: int, why: tuple[str, str]) -> int:
        self._condition(hpa, "ScalingLimited", "True" if limited != desired else "False", *why)
        return limited

    def _normalize(self, hpa: Obj, key: str, current: int, desired: int, min_replicas: int) -> int:
        """``normalizeDesiredReplicas``: the legacy rule of an HPA without ``behavior``."""
        cutoff = self.clock.monotonic() - self.config.horizontal_pod_autoscaler_downscale_stabilization
        samples = self._recommend(key, desired, cutoff, cutoff)
        stabilized = max([desired, *(s.value for s in samples if s.at > cutoff)])  # (a fake clock may not move)
        self._condition(hpa, "AbleToScale", "True", *(DOWN_STABILIZED if stabilized != desired else READY))
        max_replicas = hpa["spec"]["maxReplicas"]
        up_limit = max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM)
        maximum, above = (up_limit, UP_LIMIT) if max_replicas > up_limit else (max_replicas, TOO_MANY)
        if stabilized < min_replicas:
            return self._limited(hpa, stabilized, min_replicas, TOO_FEW)
        if stabilized > maximum:
            return self._limited(hpa, stabilized, maximum, above)
        return self._limited(hpa, stabilized, stabilized, WITHIN_RANGE)

    def _recommend(self, key: str, desired: int, up_cutoff: float, down_cutoff: float) -> list[Sample]:
        """The recommendations so far; ``desired`` is recorded in place of the last one older than both
        cutoffs, or added (``stabilizeRecommendation``'s bookkeeping)."""
        samples = self.recommendations.setdefault(key, [])
        before = list(samples)
        old = next((i for i, s in reversed(list(enumerate(samples))) if s.at < up_cutoff and s.at < down_cutoff), None)
        now = Sample(self.clock.monotonic(), desired)
        if old is not None:
            samples[old] = now
        else:
            samples.append(now)
        return before

    def _normalize_with_behaviors(self, hpa: Obj, key: str, current: int, desired: int, min_replicas: int) -> int:
        """``normalizeDesiredReplicasWithBehaviors``: stabilization windows, then the policies' rate."""
        behavior = hpa["spec"]["behavior"]
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        down_window = down.get("stabilizationWindowSeconds")
        if down_window is None:
            down_window = self.config.horizontal_pod_autoscaler_downscale_stabilization
        stabilized = self._stabilize_with_behaviors(key, current, desired, up.get("stabilizationWindowSeconds", 0),
                                                    down_window)
        stabilized_why = UP_STABILIZED if desired >= current else DOWN_STABILIZED
        self._condition(hpa, "AbleToScale", "True", *(stabilized_why if stabilized != desired else READY))
        max_replicas = hpa["spec"]["maxReplicas"]
        ups, downs = self.scale_up_events.get(key, []), self.scale_down_events.get(key, [])
        if stabilized > current:
            limit = max(self._scale_limit(current, ups, downs, up, up=True), current)
            maximum, why = (limit, UP_LIMIT) if max_replicas > limit else (max_replicas, TOO_MANY)
            if stabilized > maximum:
                return self._limited(hpa, stabilized, maximum, why)
        elif stabilized < current:
            limit = min(self._scale_limit(current, ups, downs, down, up=False), current)
            minimum, why = (limit, DOWN_LIMIT) if min_replicas < limit else (min_replicas, TOO_FEW)
            if stabilized < minimum:
                return self._limited(hpa, stabilized, minimum, why)
        return self._limited(hpa, stabilized, stabilized, WITHIN_RANGE)

    def _stabilize_with_behaviors(self, key: str, current: int, desired: int, up_window: float,
                                  down_window: float) -> int:
        """``stabilizeRecommendationWithBehaviors``: no higher than the lowest recommendation of the
        scale-up window, no lower than the highest of the scale-down window."""
        now = self.clock.monotonic()
        up_cutoff, down_cutoff = now - up_window, now - down_window
        samples = self._recommend(key, desired, up_cutoff, down_cutoff)
        up_rec = min([desired, *(s.value for s in samples if s.at > up_cutoff)])
        down_rec = max([desired, *(s.value for s in samples if s.at > down_cutoff)])
        return min(max(current, up_rec), down_rec)

    def _scale_limit(self, current: int, ups: list[Sample], downs: list[Sample], rules: Obj, *, up: bool) -> int:
        """``calculateScale{Up,Down}Limit...``: each policy's bound from the replicas at the start of its
        period, combined by ``selectPolicy`` (Max: the largest change, Min: the smallest)."""
        select = rules.get("selectPolicy", "Max")
        if select == "Disabled":
            return current
        now, proposals = self.clock.monotonic(), []
        for policy in rules.get("policies") or []:
            period = policy.get("periodSeconds", 0)
            added = sum(s.value for s in ups if s.at > now - period)
            removed = sum(s.value for s in downs if s.at > now - period)
            start = current - added + removed
            if policy.get("type") == "Pods":
                proposals.append(start + policy["value"] if up else start - policy["value"])
            elif up:
                proposals.append(math.ceil(start * (1 + policy["value"] / 100)))
            else:
                proposals.append(int(start * (1 - policy["value"] / 100)))
        if not proposals:
            return current
        largest_change = max if up else min
        smallest_change = min if up else max
        return (smallest_change if select == "Min" else largest_change)(proposals)

    def _store_scale_event(self, hpa: Obj, key: str, previous: int, new: int) -> None:
        """``storeScaleEvent``: kept only with ``behavior``, and only for its longest policy period."""
        behavior = hpa["spec"].get("behavior")
        if behavior is None:
            return
        up = new > previous
        rules = (behavior.get("scaleUp") if up else behavior.get("scaleDown")) or {}
        longest = max((p.get("periodSeconds", 0) for p in rules.get("policies") or []), default=0)
        now = self.clock.monotonic()
        events = (self.scale_up_events if up else self.scale_down_events).setdefault(key, [])
        events[:] = [e for e in events if e.at >= now - longest]
        events.append(Sample(now, abs(new - previous)))

    # --- status -----------------------------------------------------------------------------------

    def _set_status(self, hpa: Obj, current: int, desired: int, statuses: list[Obj], rescale: bool) -> None:
        """``setStatus``: the status rebuilt; ``lastScaleTime`` moves on a rescale."""
        old = hpa.get("status") or {}
        status: Obj = {"currentReplicas": current} if current else {}
        status["desiredReplicas"] = desired
        last = self._now() if rescale else old.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if statuses:
            status["currentMetrics"] = statuses
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        hpa["status"] = status

    async def _update_status_if_needed(self, original: Obj, hpa: Obj) -> None:
        if hpa.get("status") == original:
            return
        meta = hpa["metadata"]
        try:
            await self.client.update(resource_path(HPA_VERSION, "horizontalpodautoscalers", namespace=meta["namespace"],
                                                   name=meta["name"], subresource="status"), hpa)
        except APIStatusError as e:
            self.recorder.event(hpa, "Warning", "FailedUpdateStatus", e.status.get("message", str(e)))
            raise
