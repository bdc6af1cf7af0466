"""Storage and StatefulSets end to end on sim nodes: a claim Bound through the local-path provisioner,
a static volume kept or released by its reclaim policy, a StatefulSet of three Ready in order with a
claim each, and kubectl 1.27 / 1.31 / 1.33 on them (get, describe, rollout status, scale)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit import KUBECTL_VERSIONS, Kubectl, kubectl_path, wait_for

from labkit import Cluster
from labkit.client import APIStatusError, resource_path

NS = "default"
STS = """
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{port: 80, name: web}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers: [{name: nginx, image: nginx}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(nodes=2, runtime="sim", seed=16, set_kubeconfig_env=False, metrics_server=False) as c:
        yield c


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Any:
    admin = cluster.admin()

    def call(method: str, path: str, body: Any = None) -> Any:
        return cluster.run(admin.request(method, path, body=body))
    return call


def get(api: Any, plural: str, name: str, namespace: str = NS) -> dict | None:
    try:
        return api("GET", resource_path("v1", plural, namespace=namespace, name=name))
    except APIStatusError as e:
        if e.code == 404:
            return None
        raise


def claim(name: str, **spec: Any) -> dict:
    return {"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def phase(api: Any, plural: str, name: str, namespace: str = NS) -> str:
    obj = get(api, plural, name, "" if plural == "persistentvolumes" else namespace)
    return (obj or {}).get("status", {}).get("phase", "")


def test_a_claim_is_bound_through_the_default_class_and_deleted_with_its_directory(cluster, api):
    api("POST", resource_path("v1", "persistentvolumeclaims", namespace=NS), claim("data"))
    bound = wait_for(lambda: phase(api, "persistentvolumeclaims", "data") == "Bound"
                     and get(api, "persistentvolumeclaims", "data"), what="claim data Bound")
    assert bound["spec"]["storageClassName"] == "standard", "the DefaultStorageClass admission filled it in"
    pv = get(api, "persistentvolumes", bound["spec"]["volumeName"], "")
    assert pv["metadata"]["name"] == f"pvc-{bound['metadata']['uid']}"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"
    assert (pv["spec"]["persistentVolumeReclaimPolicy"], pv["status"]["phase"]) == ("Delete", "Bound")
    directory = Path(pv["spec"]["hostPath"]["path"])
    assert directory.is_dir() and directory.name == f"{pv['metadata']['name']}_{NS}_data"
    api("DELETE", resource_path("v1", "persistentvolumeclaims", namespace=NS, name="data"))
    wait_for(lambda: get(api, "persistentvolumes", pv["metadata"]["name"], "") is None, what="volume deleted")
    assert not directory.exists()


def test_a_claim_in_use_is_only_marked_for_deletion_until_its_pod_goes(cluster, api):
    api("POST", resource_path("v1", "persistentvolumeclaims", namespace=NS), claim("used"))
    api("POST", resource_path("v1", "pods", namespace=NS), {"metadata": {"name": "user"}, "spec": {
        "terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "nginx"}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "used"}}]}})
    wait_for(lambda: (get(api, "pods", "user") or {}).get("status", {}).get("phase") == "Running", what="user runs")
    volume = get(api, "persistentvolumeclaims", "used")["spec"]["volumeName"]
    assert get(api, "persistentvolumes", volume, "")["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    api("DELETE", resource_path("v1", "persistentvolumeclaims", namespace=NS, name="used"))
    marked = get(api, "persistentvolumeclaims", "used")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["finalizers"] == [
        "kubernetes.io/pvc-protection"], "kept while the pod uses it"
    api("DELETE", resource_path("v1", "pods", namespace=NS, name="user"))
    wait_for(lambda: get(api, "persistentvolumeclaims", "used") is None, what="claim gone after its pod")
    wait_for(lambda: get(api, "persistentvolumes", volume, "") is None, what="its volume deleted (Delete policy)")


def test_a_static_volume_binds_by_size_and_is_retained_when_released(cluster, api, tmp_path):
    for name, size in (("small", "1Gi"), ("big", "5Gi")):
        api("POST", resource_path("v1", "persistentvolumes"), {
            "metadata": {"name": name}, "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                                                 "hostPath": {"path": str(tmp_path / name)}}})
    wait_for(lambda: phase(api, "persistentvolumes", "small") == "Available", what="small Available")
    body = claim("static", storageClassName="", resources={"requests": {"storage": "2Gi"}})  # "": no class
    api("POST", resource_path("v1", "persistentvolumeclaims", namespace=NS), body)
    wait_for(lambda: phase(api, "persistentvolumeclaims", "static") == "Bound", what="claim static Bound")
    assert get(api, "persistentvolumeclaims", "static")["status"]["capacity"] == {"storage": "5Gi"}
    assert phase(api, "persistentvolumes", "small") == "Available"
    api("DELETE", resource_path("v1", "persistentvolumeclaims", namespace=NS, name="static"))
    wait_for(lambda: phase(api, "persistentvolumes", "big") == "Released", what="big Released")
    assert get(api, "persistentvolumes", "big", "")["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


@pytest.fixture(scope="module")
def web(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The StatefulSet ``web`` of three and its headless Service ``nginx``, applied and rolled out."""
    k = Kubectl(kubectl_path("1.33"), cluster.kubeconfig, tmp_path_factory.mktemp("cache"))
    k("apply", "-f", "-", input=STS)
    k("rollout", "status", "statefulset/web", "--timeout=30s")


def test_a_statefulset_of_three_is_ready_in_order_with_a_claim_each(cluster, api, web):
    pods = {p["metadata"]["name"]: p for p in api("GET", resource_path("v1", "pods", namespace=NS))["items"]
            if p["metadata"]["name"].startswith("web-")}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    events = [e["message"] for e in sorted(api("GET", resource_path("v1", "events", namespace=NS))["items"],
                                           key=lambda e: (e["metadata"]["creationTimestamp"], e["metadata"]["name"]))
              if e["involvedObject"]["name"] == "web" and e["reason"] == "SuccessfulCreate"]
    assert [m for m in events if m.startswith("create Pod")] == [
        f"create Pod web-{i} in StatefulSet web successful" for i in range(3)]
    for i in range(3):
        assert phase(api, "persistentvolumeclaims", f"www-web-{i}") == "Bound"
        assert pods[f"web-{i}"]["spec"]["volumes"][0] == {"name": "www",
                                                          "persistentVolumeClaim": {"claimName": f"www-web-{i}"}}
    # the endpoints carry the pods' hostnames: what the cluster DNS answers web-0.nginx.default.svc by
    slices = api("GET", resource_path("discovery.k8s.io/v1", "endpointslices", namespace=NS))["items"]
    hostnames = {ep.get("hostname") for s in slices if s["metadata"]["labels"]["kubernetes.io/service-name"] == "nginx"
                 for ep in s["endpoints"]}
    assert hostnames == {"web-0", "web-1", "web-2"}


@pytest.mark.kubectl
@pytest.mark.parametrize("version", [v for v in KUBECTL_VERSIONS if v != "dispatcher"])
def test_kubectl_on_storage_and_statefulsets(cluster, api, web, version, tmp_path):
    k = Kubectl(kubectl_path(version), cluster.kubeconfig, tmp_path / "cache")
    header, *rows = k("get", "sc").splitlines()
    assert header.split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION",
                              "AGE"]
    assert rows[0].split()[:6] == ["standard", "(default)", "rancher.io/local-path", "Delete", "Immediate", "false"]
    header, *rows = k("get", "pvc", "www-web-0").splitlines()
    assert header.split() == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS", "MODES", "STORAGECLASS",
                              "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert rows[0].split()[:2] == ["www-web-0", "Bound"] and rows[0].split()[3:6] == ["1Gi", "RWO", "standard"]
    header = k("get", "pv").splitlines()[0]
    assert header.split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
                              "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    described = k("describe", "pvc", "www-web-0")
    for line in ("StorageClass:  standard", "Status:        Bound", "Used By:       web-0", "ProvisioningSucceeded"):
        assert line in described, described
    assert k("get", "sts").splitlines()[1].split()[:2] == ["web", "3/3"]
    assert k("rollout", "status", "sts/web").strip() == "partitioned roll out complete: 3 new pods have been updated..."
    assert k("scale", "sts", "web", "--replicas=3").strip() == "statefulset.apps/web scaled"
    assert k("get", "pvc,pv", "-o", "name").count("persistentvolume") >= 6


def test_deleting_a_statefulset_takes_its_pods_and_with_whendeleted_delete_its_claims(cluster, api):
    labels = {"app": "db"}
    api("POST", resource_path("apps/v1", "statefulsets", namespace=NS), {
        "metadata": {"name": "db"}, "spec": {
            "replicas": 2, "podManagementPolicy": "Parallel", "selector": {"matchLabels": labels},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
            "template": {"metadata": {"labels": labels}, "spec": {"terminationGracePeriodSeconds": 0,
                                                                   "containers": [{"name": "c", "image": "nginx"}]}},
            "volumeClaimTemplates": [claim("data")]}})
    path = resource_path("apps/v1", "statefulsets", namespace=NS, name="db")
    wait_for(lambda: api("GET", path)["status"].get("readyReplicas") == 2, what="db ready")
    api("DELETE", path)
    for name in ("db-0", "db-1"):
        wait_for(lambda name=name: get(api, "pods", name) is None, what=f"pod {name} collected")
        wait_for(lambda name=name: get(api, "persistentvolumeclaims", f"data-{name}") is None,
                 what=f"claim data-{name} collected")


def test_reset_removes_statefulsets_and_claims_and_so_their_provisioned_volumes(cluster, api, web):
    cluster.reset()
    assert api("GET", resource_path("apps/v1", "statefulsets", namespace=NS))["items"] == []
    wait_for(lambda: api("GET", resource_path("v1", "persistentvolumeclaims", namespace=NS))["items"] == [],
             what="claims gone")
    wait_for(lambda: all("pv.kubernetes.io/provisioned-by" not in (v["metadata"].get("annotations") or {})
                         for v in api("GET", resource_path("v1", "persistentvolumes"))["items"]),
             what="provisioned volumes deleted")
