"""``kubectl autoscale``, ``get hpa`` and ``describe hpa`` with each pinned kubectl, against a cluster
whose HPA controller syncs every second (kube: 15 s) and which serves no metrics API: the controller
says so as kube's does (ScalingActive False, FailedGetResourceMetric)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from labkit import Cluster
from labkit.client import resource_path
from labkit.controllers import ControllerManagerConfig

from .conftest import NamespacedKubectl, wait_for

NO_METRICS = ("failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from "
              "resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)")


@pytest.fixture(scope="module")
def ops_cluster() -> Iterator[Cluster]:
    """This module's cluster (the folder's ``api`` and ``kubectl`` fixtures use it): HPAs sync every second,
    and no metrics-server, as on a cluster where none was installed."""
    with Cluster(nodes=1, runtime="sim", seed=7, set_kubeconfig_env=False, metrics_server=False,
                 controllers=ControllerManagerConfig(horizontal_pod_autoscaler_sync_period=1.0)) as c:
        yield c


def test_autoscale_get_and_describe(kubectl: NamespacedKubectl, api: Callable[..., Any]) -> None:
    ns = kubectl.namespace
    kubectl("create", "deployment", "web", "--image=nginx")
    assert kubectl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=5").strip() == \
        "horizontalpodautoscaler.autoscaling/web autoscaled"
    path = resource_path("autoscaling/v2", "horizontalpodautoscalers", namespace=ns, name="web")
    stored = api("GET", path)
    sent = "autoscaling/v2" if kubectl.binary.name == "kubectl.1.33" else "autoscaling/v1"  # 1.33: v2 in protobuf
    assert stored["metadata"]["managedFields"][0]["apiVersion"] == sent
    assert stored["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
    v1 = api("GET", resource_path("autoscaling/v1", "horizontalpodautoscalers", namespace=ns, name="web"))
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50

    header, row = kubectl("get", "hpa").splitlines()
    assert header.split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert re.split(r"\s{2,}", row)[:5] == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", "5"]

    def scaling_inactive() -> bool:
        conditions = (api("GET", path).get("status") or {}).get("conditions") or []
        return any(c["type"] == "ScalingActive" and c["status"] == "False" for c in conditions)
    wait_for(scaling_inactive, timeout=20, what="the controller's first sync (every second here)")

    described = kubectl("describe", "hpa", "web")
    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in described.splitlines()
                  if re.match(r"^(Reference|Min replicas|Max replicas|Deployment pods):", line))
    assert fields == {"Reference": "Deployment/web", "Min replicas": "1", "Max replicas": "5",
                      "Deployment pods": "1 current / 0 desired"}
    assert re.search(r"resource cpu on pods  \(as a percentage of request\):\s+<unknown> / 50%", described)
    assert re.search(r"AbleToScale\s+True\s+SucceededGetScale\s+the HPA controller was able to get the target's "
                     r"current scale", described)
    assert re.search(r"ScalingActive\s+False\s+FailedGetResourceMetric\s+the HPA was unable to compute the replica "
                     r"count: " + re.escape(NO_METRICS), described)
    assert re.search(r"Warning\s+FailedGetResourceMetric\s+.*horizontal-pod-autoscaler\s+" + re.escape(NO_METRICS),
                     described)


def test_the_python_client_reads_one_hpa_in_both_versions(ops_cluster: Cluster, api: Callable[..., Any]) -> None:
    api_client = config.new_client_from_config(str(ops_cluster.kubeconfig))
    v1, v2 = client.AutoscalingV1Api(api_client), client.AutoscalingV2Api(api_client)
    ns = "python-client"
    api("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    v1.create_namespaced_horizontal_pod_autoscaler(ns, {
        "metadata": {"name": "api"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                                 "name": "api"}, "maxReplicas": 3}})
    read = v2.read_namespaced_horizontal_pod_autoscaler("api", ns)
    assert (read.spec.min_replicas, read.spec.metrics[0].resource.target.average_utilization) == (1, 80)
    assert [h.spec.target_cpu_utilization_percentage for h in v1.list_namespaced_horizontal_pod_autoscaler(ns).items] \
        == [80]
    w, seen = watch.Watch(), []
    for event in w.stream(v1.list_namespaced_horizontal_pod_autoscaler, ns, timeout_seconds=5):
        seen.append((event["type"], event["object"].spec.target_cpu_utilization_percentage))
        w.stop()
    assert seen == [("ADDED", 80)], "a v1 watch sends v1 objects"
    with pytest.raises(ApiException) as e:
        v2.patch_namespaced_horizontal_pod_autoscaler("api", ns, {"spec": {"maxReplicas": 0}})
    assert e.value.status == 422 and json.loads(e.value.body)["message"] == (
        'HorizontalPodAutoscaler.autoscaling "api" is invalid: [spec.maxReplicas: Invalid value: 0: must be greater '
        "than 0, spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`]")
