"""Every kind the official client's ``utils.create_from_yaml`` can send for core, apps, batch,
storage.k8s.io, rbac, autoscaling and apiregistration, created from one multi-document YAML and read
back through the client's typed API; kubectl 1.33's tables of the kinds added for it.

A ``Binding`` in such a file fails in the client whatever the server: kube answers its create with a
Status, which the client cannot read as a Binding; it is sent with ``_preload_content=False``, as
users of a real cluster do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, utils
from kubernetes.client.exceptions import ApiException
from testkit import Kubectl, kubectl_path

from labkit import Cluster

POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}
TEMPLATE = {"metadata": {"labels": {"app": "y"}}, "spec": POD_SPEC}
SELECTOR = {"matchLabels": {"app": "y"}}
CLAIM_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}

#: (apiVersion, kind, name, body): namespaced kinds go to the test's namespace
DOCUMENTS: list[tuple[str, str, str, dict]] = [
    ("v1", "ConfigMap", "cm", {"data": {"a": "1"}}),
    ("v1", "Secret", "s", {"stringData": {"a": "1"}}),
    ("v1", "Endpoints", "ep", {"subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]}),
    ("v1", "Event", "ev", {"involvedObject": {"kind": "Pod", "name": "p", "namespace": "{ns}"}, "reason": "R", "message": "m"}),
    ("v1", "LimitRange", "lr", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}}),
    ("v1", "PersistentVolumeClaim", "pvc", {"spec": CLAIM_SPEC}),
    ("v1", "Pod", "p", {"spec": POD_SPEC}),
    ("v1", "Pod", "unscheduled", {"spec": {**POD_SPEC, "schedulerName": "nobody"}}),
    ("v1", "PodTemplate", "pt", {"template": TEMPLATE}),
    ("v1", "ReplicationController", "rc", {"spec": {"replicas": 0, "template": TEMPLATE}}),
    ("v1", "ResourceQuota", "rq", {"spec": {"hard": {"pods": "100"}}}),
    ("v1", "Service", "svc", {"spec": {"ports": [{"port": 80}]}}),
    ("v1", "ServiceAccount", "sa", {}),
    ("v1", "Namespace", "{ns}-extra", {}),
    ("v1", "Node", "{ns}-node", {}),
    ("v1", "PersistentVolume", "{ns}-pv", {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                                    "hostPath": {"path": "/tmp/pv"}, "storageClassName": "manual"}}),
    ("apps/v1", "ControllerRevision", "cr", {"revision": 1, "data": {"spec": {}}}),
    ("apps/v1", "DaemonSet", "ds", {"spec": {"selector": SELECTOR, "template": TEMPLATE}}),
    ("apps/v1", "Deployment", "deploy", {"spec": {"replicas": 0, "selector": SELECTOR, "template": TEMPLATE}}),
    ("apps/v1", "ReplicaSet", "rs", {"spec": {"replicas": 0, "selector": SELECTOR, "template": TEMPLATE}}),
    ("apps/v1", "StatefulSet", "sts", {"spec": {"replicas": 0, "serviceName": "svc", "selector": SELECTOR,
                                                "template": TEMPLATE}}),
    ("batch/v1", "Job", "job", {"spec": {"suspend": True, "template": {
        **TEMPLATE, "spec": {**POD_SPEC, "restartPolicy": "Never"}}}}),
    ("batch/v1", "CronJob", "cj", {"spec": {"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": {
        **TEMPLATE, "spec": {**POD_SPEC, "restartPolicy": "Never"}}}}}}),
    ("storage.k8s.io/v1", "StorageClass", "{ns}-sc", {"provisioner": "example.com/x"}),
    ("storage.k8s.io/v1", "CSIDriver", "{id}.csi.example.com", {"spec": {"tokenRequests": [{"audience": "vault"}]}}),
    ("storage.k8s.io/v1", "CSINode", "{ns}-node", {"spec": {"drivers": [
        {"name": "csi.example.com", "nodeID": "n1", "topologyKeys": ["topology.example.com/zone"]}]}}),
    ("storage.k8s.io/v1", "CSIStorageCapacity", "cap", {"storageClassName": "standard", "capacity": "10Gi"}),
    ("storage.k8s.io/v1", "VolumeAttachment", "{ns}-va", {"spec": {
        "attacher": "csi.example.com", "nodeName": "node-1", "source": {"persistentVolumeName": "pv-1"}}}),
    ("rbac.authorization.k8s.io/v1", "Role", "role", {"rules": []}),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rb", {"roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "role"}, "subjects": []}),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "{ns}-cr", {"rules": []}),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "{ns}-crb", {"roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}),
    ("autoscaling/v1", "HorizontalPodAutoscaler", "hpa1", {"spec": {
        "maxReplicas": 2, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "deploy"}}}),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "hpa2", {"spec": {
        "maxReplicas": 2, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "deploy"}}}),
    ("apiregistration.k8s.io/v1", "APIService", "v1.{ns}.example.com", {"spec": {
        "group": "{ns}.example.com", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10,
        "service": {"namespace": "{ns}", "name": "svc"}}}),
]


def snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind.replace("CSI", "Csi").replace("API", "Api")).lower()


def typed_api(api_client: client.ApiClient, api_version: str) -> object:
    """The client class ``create_from_yaml`` picks (``CoreV1Api``, ``StorageV1Api`` ...)."""
    group, _, version = api_version.rpartition("/")
    prefix = "".join(p.capitalize() for p in group.split(".")[0].split("-")) if group else "Core"
    if group == "rbac.authorization.k8s.io":
        prefix = "RbacAuthorization"
    return getattr(client, f"{prefix}{version.capitalize()}Api")(api_client)


def read_back(api_client: client.ApiClient, api_version: str, kind: str, name: str, ns: str) -> object:
    api = typed_api(api_client, api_version)
    namespaced = getattr(api, f"read_namespaced_{snake(kind)}", None)
    if namespaced is not None:
        return namespaced(name, ns)
    return getattr(api, f"read_{snake(kind)}")(name)


def delete_cluster_scoped(api_client: client.ApiClient, documents: list[dict]) -> None:
    """The shared cluster outlives the test's namespace: its Node, APIService, volumes and such go too."""
    for doc in documents:
        api = typed_api(api_client, doc["apiVersion"])
        delete = getattr(api, f"delete_{snake(doc['kind'])}", None)
        if delete is not None and doc["kind"] != "Namespace":
            try:
                delete(doc["metadata"]["name"])
            except ApiException as e:
                assert e.status == 404, e
        elif doc["kind"] == "Namespace":
            client.CoreV1Api(api_client).delete_namespace(doc["metadata"]["name"])


@pytest.fixture
def documents(cluster: Cluster, namespace: str):
    """DOCUMENTS for the test's namespace; the cluster-scoped ones are deleted after the test."""
    docs = [yaml.safe_load(yaml.safe_dump({"apiVersion": api_version, "kind": kind, "metadata": {"name": name},
                                           **body}).replace("{ns}", namespace).replace("{id}", namespace[-8:]))
            for api_version, kind, name, body in DOCUMENTS]
    yield docs
    delete_cluster_scoped(config.new_client_from_config(str(cluster.kubeconfig)), docs)


def test_create_from_yaml_creates_and_reads_back_every_kind(cluster: Cluster, namespace: str, tmp_path: Path,
                                                            documents: list[dict]):
    api_client = config.new_client_from_config(str(cluster.kubeconfig))
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    created = utils.create_from_yaml(api_client, str(path), namespace=namespace)
    assert len(created) == len(DOCUMENTS)
    for doc in documents:
        obj = read_back(api_client, doc["apiVersion"], doc["kind"], doc["metadata"]["name"], namespace)
        assert obj.metadata.name == doc["metadata"]["name"], doc["kind"]
        assert obj.kind == doc["kind"] and obj.api_version == doc["apiVersion"]
    driver = client.StorageV1Api(api_client).read_csi_driver(f"{namespace[-8:]}.csi.example.com")
    assert (driver.spec.attach_required, driver.spec.fs_group_policy, driver.spec.volume_lifecycle_modes) \
        == (True, "ReadWriteOnceWithFSType", ["Persistent"])
    template = client.CoreV1Api(api_client).read_namespaced_pod_template("pt", namespace)
    assert template.template.spec.restart_policy == "Always"  # the pod spec's defaults


def test_a_legacy_binding_binds_the_pod_it_names(cluster: Cluster, namespace: str):
    v1 = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    v1.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {**POD_SPEC, "schedulerName": "nobody"}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    answer = v1.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert (answer.status, json.loads(answer.data)["status"]) == (201, "Success")
    assert v1.read_namespaced_pod("p", namespace).spec.node_name == "node-1"
    with pytest.raises(ApiException) as again:
        v1.create_namespaced_binding(namespace, binding, _preload_content=False)
    assert again.value.status == 409
    with pytest.raises(ApiException) as unnamed:
        v1.create_namespaced_binding(namespace, {**binding, "metadata": {}}, _preload_content=False)
    assert (unnamed.value.status, json.loads(unnamed.value.body)["message"]) == (400, "Name parameter required.")


@pytest.mark.kubectl
def test_kubectl_tables_of_the_added_kinds(cluster: Cluster, namespace: str, tmp_path: Path):
    k = Kubectl(kubectl_path("1.33"), cluster.kubeconfig, tmp_path / "cache")
    k("apply", "-n", namespace, "-f", "-", input=f"""
apiVersion: v1
kind: PodTemplate
metadata: {{name: pt}}
template:
  metadata: {{labels: {{app: web, tier: db}}}}
  spec: {{containers: [{{name: a, image: busybox}}, {{name: b, image: nginx}}]}}
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {{name: {namespace[-8:]}.example.com}}
spec: {{podInfoOnMount: true}}
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata: {{name: {namespace}-n}}
spec: {{drivers: [{{name: a.example.com, nodeID: n1}}, {{name: b.example.com, nodeID: n2}}]}}
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata: {{name: {namespace}-va}}
spec: {{attacher: a.example.com, nodeName: node-1, source: {{persistentVolumeName: pv-1}}}}
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata: {{name: cap}}
storageClassName: standard
capacity: 10Gi
""")

    def table(*args: str) -> list[list[str]]:
        return [line.split() for line in k("get", "-n", namespace, *args).splitlines()]
    assert table("podtemplates") == [["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"],
                                     ["pt", "a,b", "busybox,nginx", "app=web,tier=db"]]
    header, row = table("csidriver", f"{namespace[-8:]}.example.com")
    assert header == ["NAME", "ATTACHREQUIRED", "PODINFOONMOUNT", "STORAGECAPACITY", "TOKENREQUESTS",
                      "REQUIRESREPUBLISH", "MODES", "AGE"]
    assert row[1:7] == ["true", "true", "false", "<unset>", "false", "Persistent"]
    assert table("csinode", f"{namespace}-n")[0] == ["NAME", "DRIVERS", "AGE"]
    assert table("csinode", f"{namespace}-n")[1][:2] == [f"{namespace}-n", "2"]
    header, row = table("volumeattachment", f"{namespace}-va")
    assert header == ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    assert row[:5] == [f"{namespace}-va", "a.example.com", "pv-1", "node-1", "false"]
    assert table("csistoragecapacities") == [["NAME", "STORAGECLASSNAME", "CAPACITY"], ["cap", "standard", "10Gi"]]
    invalid = k.run("patch", "volumeattachment", f"{namespace}-va", "-p", '{"spec":{"nodeName":"node-2"}}',
                    check=False)
    assert 'spec: Invalid value: "object": field is immutable' in invalid.stderr
    k("delete", "csidriver", f"{namespace[-8:]}.example.com")  # the shared cluster outlives the namespace
    k("delete", "csinode", f"{namespace}-n")
    k("delete", "volumeattachment", f"{namespace}-va")
