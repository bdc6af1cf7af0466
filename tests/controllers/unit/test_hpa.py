"""The horizontal pod autoscaler alone (``pkg/controller/podautoscaler``): the replica count from CPU
utilization, tolerance, min/max, missing metrics and unready pods, the legacy scale-down stabilization,
``behavior`` policies and ``selectPolicy``, on a fake clock with a fake metrics source."""

from __future__ import annotations

import datetime as dt

import pytest

from labkit.apimachinery.meta import Obj
from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.podautoscaler import HorizontalController
from labkit.controllers.podautoscaler.metrics import MetricsError
from labkit.controllers.podautoscaler.replica_calculator import PodMetric, Timing, resource_replicas
from labkit.testing.clock import EPOCH
from labkit.testing.fake import status_error

from .objects import NS, T0, deployment, meta, pod

KEY = f"{NS}/web"
PERIOD = 15.0
#: --horizontal-pod-autoscaler-downscale-stabilization=0: a scale-down at once (kube waits 5 minutes)
NO_STABILIZATION = ControllerManagerConfig(horizontal_pod_autoscaler_downscale_stabilization=0)


class FakeMetrics:
    """The resource metrics API: each pod's CPU in millicores, sampled now over a 15 s window."""

    def __init__(self, clock, usage: dict[str, int], error: str = "") -> None:
        self.clock, self.usage, self.error = clock, usage, error

    async def resource_metric(self, resource: str, namespace: str, selector: str,
                              container: str = "") -> tuple[dict[str, PodMetric], dt.datetime]:
        if self.error:
            raise MetricsError(self.error)
        now = self.clock.now()
        return {name: PodMetric(value, now, 15.0) for name, value in self.usage.items()}, now


def web_pod(name: str, *, phase: str = "Running", ready: bool | None = None, started: str = T0,
            deleting: bool = False) -> Obj:
    """A pod of the Deployment with a 100m CPU request, started an hour before the fake clock."""
    p = pod(name, phase=phase, ready=ready, deleting=deleting)
    p["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "100m"}}
    p["status"]["startTime"] = started
    return p


def hpa(min_replicas: int = 1, max_replicas: int = 10, target: int = 50, behavior: Obj | None = None) -> Obj:
    spec: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": min_replicas, "maxReplicas": max_replicas,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": target}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta("web"),
            "spec": spec, "status": {"desiredReplicas": 0}}


def cluster(harness, usage: dict[str, int], *, replicas: int | None = None, pods: list[Obj] | None = None,
            autoscaler: Obj | None = None, error: str = "", config: ControllerManagerConfig | None = None):
    """A harness with the Deployment (``replicas``: one per pod), its pods and the HPA; the fake
    metrics report ``usage`` (millicores per pod)."""
    pods = pods if pods is not None else [web_pod(name) for name in usage]
    replicas = len(pods) if replicas is None else replicas
    h = harness(HorizontalController, [deployment(replicas=replicas, status={"replicas": replicas}), *pods,
                                       autoscaler or hpa()], config=config)
    h.controller.metrics = FakeMetrics(h.clock, usage, error)
    return h


def scaled_to(h) -> int:
    (d,) = h.objects("apps/v1", "deployments")
    return d["spec"]["replicas"]


def stored(h) -> Obj:
    (a,) = h.objects("autoscaling/v2", "horizontalpodautoscalers")
    return a


def conditions(h) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in stored(h)["status"]["conditions"]}


def set_usage(h, usage: dict[str, int]) -> None:
    h.controller.metrics.usage = usage


def resync(h) -> list[str]:
    """Let one sync period pass: the HPA is reconciled once more."""
    return h.drain(watch=True, advance=PERIOD)


# --- the algorithm ------------------------------------------------------------------------------------


def test_a_new_hpa_waits_one_sync_period_then_scales_up_to_the_ratio(harness):
    h = cluster(harness, {"a": 90, "b": 90, "c": 90})  # 90% of the request each, target 50%
    assert h.drain() == [] and h.waiting() == [(KEY, PERIOD)], "kube's rate limiter delays even a new HPA"
    assert resync(h) == [KEY]
    assert scaled_to(h) == 6, "ceil(3 * 90 / 50)"
    status = stored(h)["status"]
    assert (status["currentReplicas"], status["desiredReplicas"], status["lastScaleTime"]) == (
        3, 6, "2026-01-01T12:00:15Z")
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 90, "averageValue": "90m"}}}]
    assert conditions(h) == {
        "AbleToScale": ("True", "SucceededRescale", "the HPA controller was able to update the target scale to 6"),
        "ScalingActive": ("True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count "
                                                      "from cpu resource utilization (percentage of request)"),
        "ScalingLimited": ("False", "DesiredWithinRange", "the desired count is within the acceptable range")}
    assert h.events() == ["Normal SuccessfulRescale New size: 6; reason: cpu resource utilization (percentage of "
                          "request) above target"]
    assert h.waiting() == [(KEY, PERIOD)], "and is looked at again every sync period"


def test_within_tolerance_nothing_changes(harness):
    h = cluster(harness, {"a": 54, "b": 55})  # 109% of the target: inside the 10% tolerance
    resync(h)
    assert scaled_to(h) == 2 and h.events() == []
    assert stored(h)["status"]["desiredReplicas"] == 2
    assert conditions(h)["AbleToScale"][1] == "ReadyForNewScale"


def test_max_and_min_replicas_bound_the_count(harness):
    h = cluster(harness, {"a": 500, "b": 500}, autoscaler=hpa(max_replicas=4))
    resync(h)
    assert scaled_to(h) == 4
    assert conditions(h)["ScalingLimited"] == (
        "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
    h2 = cluster(harness, {"a": 1, "b": 1, "c": 1}, autoscaler=hpa(min_replicas=2), config=NO_STABILIZATION)
    resync(h2)
    assert scaled_to(h2) == 2
    assert conditions(h2)["ScalingLimited"] == (
        "True", "TooFewReplicas", "the desired replica count is less than the minimum replica count")
    assert h2.events() == ["Normal SuccessfulRescale New size: 2; reason: All metrics below target"]


def test_a_target_outside_the_bounds_is_brought_back_without_asking_the_metrics(harness):
    h = cluster(harness, {}, replicas=8, pods=[], autoscaler=hpa(max_replicas=5), error="never asked")
    resync(h)
    assert scaled_to(h) == 5
    assert h.events() == ["Normal SuccessfulRescale New size: 5; reason: Current number of replicas above "
                          "Spec.MaxReplicas"]


def test_without_behavior_a_scale_up_is_at_most_double_or_four(harness):
    h = cluster(harness, {"a": 500}, autoscaler=hpa(max_replicas=20))
    resync(h)
    assert scaled_to(h) == 4, "max(2 * 1, 4): ceil(1 * 500 / 50) = 10 is too fast"
    assert conditions(h)["ScalingLimited"] == (
        "True", "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")


def test_deleting_and_failed_pods_are_ignored(harness):
    pods = [web_pod("a"), web_pod("b"), web_pod("gone", deleting=True), web_pod("dead", phase="Failed")]
    h = cluster(harness, {"a": 100, "b": 100, "gone": 1000, "dead": 1000}, pods=pods, replicas=2)
    resync(h)
    assert scaled_to(h) == 4, "ceil(2 * 100 / 50): the deleting and failed pods' samples do not count"


def test_missing_metrics_count_as_full_request_on_scale_down(harness):
    pods = [web_pod(n) for n in ("a", "b", "c", "d")]  # c and d have no sample
    h = cluster(harness, {"a": 10, "b": 10}, pods=pods, autoscaler=hpa(target=80), config=NO_STABILIZATION)
    resync(h)
    assert scaled_to(h) == 3, "c and d at 100%: (10+10+100+100)/400 = 55% -> ceil(4 * 55/80); a and b alone say 1"


def test_missing_metrics_count_as_zero_on_scale_up_and_never_reverse_the_direction(harness):
    pods = [web_pod(n) for n in ("a", "b", "c", "d")]
    h = cluster(harness, {"a": 60, "b": 60}, pods=pods, config=NO_STABILIZATION)
    resync(h)
    assert scaled_to(h) == 4 and h.events() == [], (
        "a and b at 60% (target 50%) ask for a scale-up; with c and d at 0% it is 30%, a scale-down: the direction "
        "flips, so nothing changes (a and b alone, ceil(2 * 60/50) = 3, would have scaled down)")


def test_unready_pods_count_as_zero_on_a_scale_up(harness):
    fresh = EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")  # started just now, not Ready yet
    pods = [web_pod("a"), web_pod("b"), web_pod("new", ready=False, started=fresh)]
    h = cluster(harness, {"a": 100, "b": 100, "new": 100}, pods=pods)
    resync(h)
    assert scaled_to(h) == 4, "200% over a and b, with new at 0%: (100+100+0) / 300 = 66% -> ceil(3 * 66/50)"
    pending = cluster(harness, {"a": 70, "b": 70}, pods=[web_pod("a"), web_pod("b"),
                                                         web_pod("p", phase="Pending", ready=False)])
    resync(pending)
    assert scaled_to(pending) == 3, "a and b at 70% ask for more; with the Pending pod at 0% it is 46%: no change"


# --- the readiness rules, directly -----------------------------------------------------------------


@pytest.mark.parametrize(("condition_status", "since_start", "expected_ready"), [
    ("True", 3600, 1),   # Ready long ago, past the CPU initialization period: counted
    ("False", 3600, 1),  # not Ready now, but was Ready after starting: its sample counts
    ("False", 10, 0),    # never Ready since it started (within the initial readiness delay): unready
])
def test_cpu_samples_of_pods_that_never_became_ready_are_not_trusted(condition_status, since_start, expected_ready):
    now = EPOCH
    started = now - dt.timedelta(seconds=7200)
    p = web_pod("a")
    p["status"]["startTime"] = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    p["status"]["conditions"] = [{"type": "Ready", "status": condition_status, "lastTransitionTime": (
        started + dt.timedelta(seconds=since_start)).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    sample = {"a": PodMetric(100, now, 15.0)}
    if expected_ready:
        assert resource_replicas(1, 50, "cpu", [p], sample, Timing(now))[0] == 2
    else:
        with pytest.raises(Exception, match=r"did not receive metrics for targeted pods \(pods might be unready\)"):
            resource_replicas(1, 50, "cpu", [p], sample, Timing(now))


# --- stabilization and behavior -----------------------------------------------------------------------


def test_scale_down_waits_for_the_stabilization_window(harness):
    h = cluster(harness, {n: 50 for n in "abcd"})
    resync(h)
    set_usage(h, {n: 10 for n in "abcd"})  # 20%: 2 pods would do
    h.drain(watch=True, advance=200)
    assert scaled_to(h) == 4, "the recommendation of 4 made 200 s ago is still in the 5 minute window"
    assert conditions(h)["AbleToScale"] == (
        "True", "ScaleDownStabilized",
        "recent recommendations were higher than current one, applying the highest recent recommendation")
    h.drain(watch=True, advance=120)
    assert scaled_to(h) == 1, "once the old recommendations have left the window: ceil(4 * 10/50)"


def test_a_shorter_downscale_stabilization_flag_scales_down_sooner(harness):
    h = cluster(harness, {n: 20 for n in "abcd"}, config=NO_STABILIZATION)
    resync(h)
    assert scaled_to(h) == 2, "ceil(4 * 20/50), in the first sync"


def test_scale_up_policies_limit_the_step_per_period(harness):
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    h = cluster(harness, {"a": 500, "b": 500}, autoscaler=hpa(max_replicas=20, behavior=behavior))
    resync(h)
    assert scaled_to(h) == 3, "one pod per minute"
    assert conditions(h)["ScalingLimited"] == (
        "True", "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    resync(h)
    assert scaled_to(h) == 3, "the pod added 15 s ago used up this minute's budget"
    h.drain(watch=True, advance=45)
    assert scaled_to(h) == 4


@pytest.mark.parametrize(("select", "expected"), [("Max", 8), ("Min", 5), ("Disabled", 4)])
def test_select_policy_picks_the_largest_or_smallest_change_or_none(harness, select, expected):
    behavior = {"scaleUp": {"selectPolicy": select, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15},
                                                                 {"type": "Percent", "value": 100,
                                                                  "periodSeconds": 15}]}}
    h = cluster(harness, {n: 500 for n in "abcd"}, autoscaler=hpa(max_replicas=50, behavior=behavior))
    resync(h)
    assert scaled_to(h) == expected, "4 pods: +1 pod is 5, +100% is 8"


# --- failures -----------------------------------------------------------------------------------------


def test_no_metrics_api_is_scaling_active_false_with_kubes_messages(harness):
    error = ("unable to fetch metrics from resource metrics API: the server could not find the requested resource "
             "(get pods.metrics.k8s.io)")
    h = cluster(harness, {"a": 0}, error=error)
    resync(h)
    assert scaled_to(h) == 1
    inner = f"failed to get cpu utilization: unable to get metrics for resource cpu: {error}"
    assert conditions(h)["ScalingActive"] == (
        "False", "FailedGetResourceMetric", f"the HPA was unable to compute the replica count: {inner}")
    assert h.events() == [f"Warning FailedGetResourceMetric {inner}",
                          "Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1), first error is: "
                          f"failed to get cpu resource metric value: {inner}"]
    assert stored(h)["status"]["currentMetrics"] == [{"type": ""}]


def test_a_missing_target_is_failed_get_scale(harness):
    h = harness(HorizontalController, [hpa()])
    h.controller.metrics = FakeMetrics(h.clock, {})
    resync(h)
    assert conditions(h)["AbleToScale"] == (
        "False", "FailedGetScale",
        'the HPA controller was unable to get the target\'s current scale: deployments.apps "web" not found')
    assert h.events() == ['Warning FailedGetScale deployments.apps "web" not found']


def test_the_metrics_client_reads_podmetrics_through_the_api_server(harness):
    """The controller's own client (no fake source): PodMetrics listed with the target's selector."""
    objects = [deployment(replicas=2, status={"replicas": 2}), web_pod("a"), web_pod("b"), hpa()]
    h = harness(HorizontalController, objects)
    for name in ("a", "b"):
        h.client.tracker.add(podmetrics(name, "60m"), plural="pods")
    resync(h)
    assert scaled_to(h) == 3, "ceil(2 * 60 / 50)"
    (listed,) = [a for a in h.actions() if a.api_version == "metrics.k8s.io/v1beta1"]
    assert (listed.verb, listed.plural, listed.namespace) == ("list", "pods", NS)


def test_no_metrics_api_reads_as_client_gos_404(harness):
    def no_metrics_api(action):
        if action.api_version == "metrics.k8s.io/v1beta1":
            raise status_error(404, action)
        return None

    h = harness(HorizontalController, [deployment(replicas=1, status={"replicas": 1}), web_pod("a"), hpa()])
    h.client.prepend_reactor("list", "pods", no_metrics_api)
    resync(h)
    assert conditions(h)["ScalingActive"][2].endswith(
        "unable to fetch metrics from resource metrics API: the server could not find the requested resource "
        "(get pods.metrics.k8s.io)")


def podmetrics(name: str, cpu: str) -> Obj:
    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
            "timestamp": "2026-01-01T11:59:50Z", "window": "15.5s",
            "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "10Mi"}}]}
