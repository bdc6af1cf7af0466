"""The exercises of notebook 6.2 (labkit.labs.tuning) on a sim cluster set up as the notebook sets it up:
each check says exactly what is still wrong before it is solved, and passes once its solution ran."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from testkit import wait_for

from labkit import Cluster
from labkit.controllers.config import ControllerManagerConfig
from labkit.labs import tuning

WORKER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: team-b}
spec:
  replicas: 5
  selector: {matchLabels: {app: worker}}
  template:
    metadata:
      labels: {app: worker}
      annotations: {labkit.dev/sim-cpu: 180m, labkit.dev/sim-memory: 150Mi}
    spec:
      containers:
      - {name: worker, image: nginx, resources: {requests: {cpu: 300m, memory: 256Mi}}}
"""
API = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: nginx, resources: {requests: {cpu: 200m, memory: 64Mi}}}
"""


@pytest.fixture(scope="module")
def perf() -> Iterator[Cluster]:
    with Cluster(nodes=4, runtime="sim", seed=0, metric_resolution=0.5, set_kubeconfig_env=False,
                 controllers=ControllerManagerConfig(horizontal_pod_autoscaler_sync_period=0.5,
                                                     horizontal_pod_autoscaler_downscale_stabilization=3)) as c:
        yield c


def kubectl(c: Cluster, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(c.kubeconfig), *args], input=stdin, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_fit_quota_says_what_is_wrong_then_passes_solved(perf: Cluster) -> None:
    kubectl(perf, "create", "namespace", "team-b")
    kubectl(perf, "create", "quota", "compute", "-n", "team-b", "--hard=requests.cpu=1,requests.memory=1Gi")
    kubectl(perf, "apply", "-f", "-", stdin=WORKER)
    ex = tuning.fit_quota(perf)
    assert ex.check().problems == (
        "5 replicas of 300m request requests.cpu=1500m in all, over the quota's 1",
        "5 replicas of 256Mi request requests.memory=1280Mi in all, over the quota's 1Gi")

    # two slips: requests below what the pods use, and a quota raised instead
    kubectl(perf, "patch", "quota", "compute", "-n", "team-b", "-p", '{"spec": {"hard": {"requests.cpu": "2"}}}')
    kubectl(perf, "set", "resources", "deployment", "worker", "-n", "team-b", "--requests=cpu=100m,memory=100Mi")
    assert ex.check().problems == (
        "the quota's requests.cpu is 2, not 1: fit the workload to the quota, not the other way",
        "container worker requests cpu=100m but uses about 180m (kubectl top): the scheduler would count less "
        "than it takes",
        "container worker requests memory=100Mi but uses about 150Mi (kubectl top): the scheduler would count "
        "less than it takes")
    kubectl(perf, "patch", "quota", "compute", "-n", "team-b", "-p", '{"spec": {"hard": {"requests.cpu": "1"}}}')
    kubectl(perf, "scale", "deployment", "worker", "-n", "team-b", "--replicas=4")
    assert ex.check().problems[0] == "worker has 4 replicas: it needs 5"
    kubectl(perf, "scale", "deployment", "worker", "-n", "team-b", "--replicas=5")
    kubectl(perf, "set", "resources", "deployment", "worker", "-n", "team-b", "--requests=cpu=300m,memory=256Mi")

    assert ex.solve({"perf": perf}).ok, ex.check()
    assert kubectl(perf, "get", "pods", "-n", "team-b", "-o", "name").count("pod/") == 5


def test_hold_target_says_what_is_wrong_then_passes_solved(perf: Cluster) -> None:
    ex = tuning.hold_target(perf)
    assert ex.check().problems == ("there is no HorizontalPodAutoscaler api in default",)
    kubectl(perf, "apply", "-f", "-", stdin=API)
    kubectl(perf, "autoscale", "deployment", "api", "--cpu-percent=50", "--min=1", "--max=3")
    perf.set_sim_load("clients", selector="app=api", cpu="1")

    def held_at_three() -> bool:
        hpa = json.loads(kubectl(perf, "get", "hpa", "api", "-o", "json"))
        used = [m.get("resource", {}).get("current", {}).get("averageUtilization")
                for m in hpa["status"].get("currentMetrics") or []]
        return hpa["status"].get("currentReplicas") == 3 and used == [167]
    wait_for(held_at_three, timeout=30, what="the HPA at its maximum of 3, at 1000m / 600m")
    assert ex.check().problems == (
        "the autoscaler is held back: ScalingLimited TooManyReplicas (the desired replica count is more than the "
        "maximum replica count); spec.maxReplicas is 3",
        "the pods use 167 % of their CPU requests on average (3 replicas): it should settle between 40 and 60 % "
        "(wait a few seconds if it is still moving)")

    # raising the request instead of the replicas, or moving the target, is not the exercise
    kubectl(perf, "patch", "hpa", "api", "-p", '{"spec": {"metrics": [{"type": "Resource", "resource": {"name": '
            '"cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}')
    kubectl(perf, "set", "resources", "deployment", "api", "--requests=cpu=400m")
    assert ex.check().problems == (
        "HPA api targets a CPU utilization of 80: keep the target at 50 %",
        "container api of api requests cpu=400m: leave it at 200m, and let the autoscaler add replicas")
    kubectl(perf, "patch", "hpa", "api", "-p", '{"spec": {"metrics": [{"type": "Resource", "resource": {"name": '
            '"cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}')
    kubectl(perf, "set", "resources", "deployment", "api", "--requests=cpu=200m")

    assert ex.solve({"perf": perf}).ok, ex.check()
    perf.set_sim_load("clients", selector="app=api", cpu=None)
