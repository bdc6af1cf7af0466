"""``kubectl top`` (1.27, 1.31, 1.33) against a sim cluster whose metrics-server scrapes every second:
the APIService and discovery it relies on, its columns and units, and its words when there is nothing
to show yet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit import Kubectl, kubectl_path, wait_for

from labkit import Cluster
from labkit.client import APIStatusError, resource_path
from labkit.kubelet.runtime.sim import ANNOTATION_CPU, ANNOTATION_MEMORY
from labkit.metricsserver.api import GROUP_VERSION

pytestmark = pytest.mark.kubectl
VERSIONS = ("1.27", "1.31", "1.33")


def pod(name: str, node: str, cpu: str, memory: str, containers: tuple[str, ...]) -> dict:
    return {"metadata": {"name": name, "annotations": {ANNOTATION_CPU: cpu, ANNOTATION_MEMORY: memory}},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "nginx"} for c in containers]}}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """node-1 runs ``top/web`` (two containers of 250m and 32Mi each), node-2 ``other/cache`` (100m,
    16Mi); ``waiting/pending`` never runs."""
    with Cluster(nodes=2, runtime="sim", seed=11, metric_resolution=1, set_kubeconfig_env=False) as c:
        admin = c.admin()
        for ns, obj in (("top", pod("web", "node-1", "250m", "32Mi", ("app", "sidecar"))),
                        ("other", pod("cache", "node-2", "100m", "16Mi", ("cache",))),
                        ("waiting", {"metadata": {"name": "pending"}, "spec": {
                            "nodeSelector": {"nowhere": "true"}, "containers": [{"name": "c", "image": "nginx"}]}})):
            c.run(admin.create(resource_path("v1", "namespaces"), {"metadata": {"name": ns}}))
            c.run(admin.create(resource_path("v1", "pods", namespace=ns), obj))

        def scraped(ns: str, name: str) -> bool:
            try:
                return bool(c.run(admin.get(f"/apis/{GROUP_VERSION}/namespaces/{ns}/pods/{name}")))
            except APIStatusError:
                return False
        wait_for(lambda: scraped("top", "web") and scraped("other", "cache"), timeout=30, every=0.2)
        yield c


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, cluster: Cluster, tmp_path: Path) -> Kubectl:
    assert cluster.kubeconfig is not None
    return Kubectl(kubectl_path(request.param), cluster.kubeconfig, tmp_path / "cache")


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


def millicores(cell: str) -> int:
    assert re.fullmatch(r"\d+m", cell), cell
    return int(cell[:-1])


def test_top_node(kubectl: Kubectl) -> None:
    header, node1, node2 = table(kubectl("top", "node"))
    percent = "(%)" if kubectl.binary.name == "kubectl.1.33" else "%"  # kubectl's own header, from 1.32
    assert header == ["NAME", "CPU(cores)", f"CPU{percent}", "MEMORY(bytes)", f"MEMORY{percent}"]
    # each node: its pods plus labkit's 50m, 256Mi baseline; percentages of 2 cores and 4Gi allocatable
    assert node1[0] == "node-1" and abs(millicores(node1[1]) - 550) <= 2 and node1[3:] == ["320Mi", "7%"]
    assert node1[2] in ("27%", "28%")
    assert node2[0] == "node-2" and abs(millicores(node2[1]) - 150) <= 2 and node2[2:] == ["7%", "272Mi", "6%"]


def test_top_pod(kubectl: Kubectl) -> None:
    header, web = table(kubectl("top", "pod", "-n", "top"))
    assert header == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert web[0] == "web" and abs(millicores(web[1]) - 500) <= 2 and web[2] == "64Mi"


def test_top_pod_all_namespaces_by_container(kubectl: Kubectl) -> None:
    header, *rows = table(kubectl("top", "pod", "-A", "--containers"))
    assert header == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("other", "cache", "cache", "16Mi"), ("top", "web", "app", "32Mi"), ("top", "web", "sidecar", "32Mi")]
    assert [abs(millicores(r[3]) - want) <= 2 for r, want in zip(rows, (100, 250, 250), strict=True)] == [True] * 3


def test_nothing_to_show_yet(kubectl: Kubectl) -> None:
    for args in (("top", "pod", "-n", "waiting"), ("top", "node", "-l", "nothing=here")):
        done = kubectl.run(*args, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", "error: metrics not available yet\n")
    done = kubectl.run("top", "pod", "pending", "-n", "waiting", check=False)
    assert done.stderr == 'Error from server (NotFound): podmetrics.metrics.k8s.io "waiting/pending" not found\n'
    done = kubectl.run("top", "pod", "nope", "-n", "top", check=False)
    assert done.stderr == 'Error from server (NotFound): pods "nope" not found\n'


def test_without_metrics_server_the_api_is_not_available(kubectl: Kubectl, cluster: Cluster) -> None:
    assert cluster.apiserver is not None
    backend = cluster.apiserver.api_services.pop(GROUP_VERSION)
    try:
        done = kubectl.run("top", "node", check=False)
        assert (done.returncode, done.stderr) == (1, "error: Metrics API not available\n")
        done = kubectl.run("get", "--raw", f"/apis/{GROUP_VERSION}/nodes", check=False)
        assert "the server could not find the requested resource" in done.stderr
    finally:
        cluster.apiserver.api_services[GROUP_VERSION] = backend


def test_apiservice_and_discovery(kubectl: Kubectl) -> None:
    header, metrics = table(kubectl("get", "apiservices"))
    assert header == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    assert metrics[:3] == ["v1beta1.metrics.k8s.io", "kube-system/metrics-server", "True"]
    rows = table(kubectl("api-resources", "--api-group=metrics.k8s.io"))
    assert rows[1:] == [["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"],
                        ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]]
    header, web = table(kubectl("get", "podmetrics", "-n", "top"))
    assert header == ["NAME", "CPU", "MEMORY", "WINDOW"] and (web[0], web[2]) == ("web", "64Mi")
    assert re.fullmatch(r"\d+[nm]?", web[1])  # nanocores, shortened when they can be
    assert re.fullmatch(r"1(\.\d+)?s|\d{3}ms", web[3])  # a window of about one resolution, as Go prints it


def test_python_client_reads_node_metrics(cluster: Cluster) -> None:
    from kubernetes import client, config

    api = client.CustomObjectsApi(config.new_client_from_config(str(cluster.kubeconfig)))
    listed = api.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")
    assert [(n["metadata"]["name"], n["usage"]["memory"]) for n in listed["items"]] == [("node-1", "320Mi"),
                                                                                         ("node-2", "272Mi")]


def test_kubelet_metrics_through_the_node_proxy(kubectl: Kubectl) -> None:
    text = kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/metrics/resource")
    assert re.search(r'^container_memory_working_set_bytes\{container="app",namespace="top",pod="web"\} '
                     r"3\.3554432e\+07 \d{13}$", text, re.M)
    assert "# TYPE node_cpu_usage_seconds_total counter" in text.splitlines()
    done = kubectl.run("get", "--raw", "/api/v1/nodes/node-9/proxy/metrics/resource", check=False)
    assert done.stderr == 'Error from server (NotFound): nodes "node-9" not found\n'


def test_metrics_are_read_only(cluster: Cluster) -> None:
    admin = cluster.admin()
    for method, verb in (("GET", "watch"), ("POST", "create"), ("DELETE", "deletecollection")):
        with pytest.raises(APIStatusError) as e:
            cluster.run(admin.request(method, f"/apis/{GROUP_VERSION}/namespaces/top/pods",
                                      params={"watch": "true"} if verb == "watch" else None,
                                      body={} if method == "POST" else None))
        assert (e.value.code, e.value.reason, e.value.status["message"]) == (
            405, "MethodNotAllowed", f'{verb} is not supported on resources of kind "pods.metrics.k8s.io"')


def test_apiservice_validation_and_table(cluster: Cluster) -> None:
    admin = cluster.admin()
    path = resource_path("apiregistration.k8s.io/v1", "apiservices")
    spec = {"group": "example.com", "version": "v1alpha1", "groupPriorityMinimum": 1000, "versionPriority": 15,
            "service": {"namespace": "default", "name": "ext"}}
    with pytest.raises(APIStatusError) as e:
        cluster.run(admin.create(path, {"metadata": {"name": "wrong"}, "spec": {**spec, "versionPriority": 0}}))
    assert (e.value.code, e.value.status["message"]) == (422, 'APIService.apiregistration.k8s.io "wrong" is invalid: '
        '[metadata.name: Invalid value: "wrong": must be `spec.version+"."+spec.group`: "v1alpha1.example.com", '
        "spec.versionPriority: Invalid value: 0: must be positive and less than 1000]")
    created = cluster.run(admin.create(path, {"metadata": {"name": "v1alpha1.example.com"}, "spec": spec}))
    try:
        assert created["spec"]["service"]["port"] == 443 and "status" not in created
        listed = cluster.run(admin.get(path))["items"]
        assert [i["metadata"]["name"] for i in listed] == ["v1alpha1.example.com", "v1beta1.metrics.k8s.io"]
    finally:
        cluster.run(admin.delete(resource_path("apiregistration.k8s.io/v1", "apiservices",
                                               name="v1alpha1.example.com")))
