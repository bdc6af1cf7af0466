"""The real kubectl (1.27, 1.31, 1.33) against labkit, unmodified: every verb the course uses."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import yaml

from testkit import Kubectl


def manifest(namespace: str, name: str = "web", image: str = "nginx:1.25", replicas: int = 2) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}}}})


#: a node selector no node matches: the pod stays Pending, so its printed status is deterministic
PARKED = {"labkit.dev/parked": "true"}


def pod_yaml(namespace: str, name: str, **labels: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
                           "spec": {"nodeSelector": PARKED,
                                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})


def test_get_in_every_output(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-f", "-", input=pod_yaml(namespace, "b-pod", app="b") + "---\n" + pod_yaml(namespace, "a-pod", app="a"))
    table = kubectl("get", "pods", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [line.split()[:3] for line in table[1:]] == [["a-pod", "0/1", "Pending"], ["b-pod", "0/1", "Pending"]]
    wide = kubectl("get", "pods", "-n", namespace, "-o", "wide").splitlines()[0].split()
    assert wide[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    everywhere = kubectl("get", "pods", "-A").splitlines()
    assert everywhere[0].split()[0] == "NAMESPACE"
    assert any(line.split()[:2] == [namespace, "a-pod"] for line in everywhere)
    assert kubectl("get", "pods", "-n", namespace, "-l", "app=b", "-o", "name").split() == ["pod/b-pod"]
    labels = kubectl("get", "pods", "-n", namespace, "--show-labels").splitlines()
    assert labels[0].split()[-1] == "LABELS" and labels[1].split()[-1] == "app=a"
    by_name = kubectl("get", "pods", "-n", namespace, "--sort-by=.metadata.name", "-o", "name").split()
    assert by_name == ["pod/a-pod", "pod/b-pod"]
    as_yaml = yaml.safe_load(kubectl("get", "pod", "a-pod", "-n", namespace, "-o", "yaml"))
    assert (as_yaml["kind"], as_yaml["metadata"]["name"], as_yaml["status"]["phase"]) == ("Pod", "a-pod", "Pending")
    as_json = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json"))
    assert as_json["kind"] == "List" and len(as_json["items"]) == 2
    nodes = kubectl("get", "nodes").splitlines()
    assert nodes[0].split()[:2] == ["NAME", "STATUS"] and nodes[1].split()[:2] == ["node-1", "Ready"]


def test_describe_pod(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-f", "-", input=pod_yaml(namespace, "d"))
    out = kubectl("describe", "pod", "d", "-n", namespace)
    assert "Name:" in out and f"Namespace:        {namespace}" in out and "Status:           Pending" in out
    assert "Events:" in out


def test_create_apply_twice_and_server_side(kubectl: Kubectl, namespace: str) -> None:
    assert "created" in kubectl("create", "-f", "-", input=manifest(namespace, "c"))
    assert "AlreadyExists" in kubectl.run("create", "-f", "-", input=manifest(namespace, "c"), check=False).stderr
    assert kubectl("apply", "-f", "-", input=manifest(namespace)).strip() == "deployment.apps/web created"
    assert kubectl("apply", "-f", "-", input=manifest(namespace)).strip() == "deployment.apps/web unchanged"
    assert kubectl("apply", "-f", "-", input=manifest(namespace, replicas=3)).strip() == "deployment.apps/web configured"
    assert kubectl("get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}") == "3"
    out = kubectl("apply", "--server-side", "-f", "-", input=manifest(namespace, "ssa"))
    assert out.strip() == "deployment.apps/ssa serverside-applied"
    live = json.loads(kubectl("get", "deploy", "ssa", "-n", namespace, "-o", "json", "--show-managed-fields"))
    assert any(m["manager"] == "kubectl" and m["operation"] == "Apply" for m in live["metadata"]["managedFields"])
    kubectl("apply", "--server-side", "-f", "-", input=manifest(namespace, "ssa", image="nginx:1.26"))
    assert kubectl("get", "deploy", "ssa", "-n", namespace,
                   "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1.26"


def test_diff_and_replace(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=manifest(namespace))
    spec = ["get", "deploy", "web", "-n", namespace, "-o", "jsonpath={.metadata.generation} {.spec}"]
    kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=30s")  # the controller is done with it
    before = kubectl(*spec)
    same = kubectl.run("diff", "-f", "-", input=manifest(namespace), check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    changed = kubectl.run("diff", "-f", "-", input=manifest(namespace, image="nginx:1.27"), check=False)
    assert changed.returncode == 1 and "nginx:1.27" in changed.stdout, changed.stderr
    assert kubectl(*spec) == before, "diff (a dry-run patch) must not change the live object"
    assert "replaced" in kubectl("replace", "-f", "-", input=manifest(namespace, image="nginx:1.27"))
    assert kubectl("get", "deploy", "web", "-n", namespace,
                   "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:1.27"


def test_patch_each_type(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=manifest(namespace))
    dep = ["deploy", "web", "-n", namespace]
    kubectl("patch", *dep, "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}}')
    image = kubectl("get", *dep, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    ports = kubectl("get", *dep, "-o", "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort}")
    assert (image, ports) == ("nginx:2", "80")  # strategic merge kept the port
    kubectl("patch", *dep, "--type=merge", "-p", '{"metadata":{"labels":{"tier":"web"}}}')
    assert kubectl("get", *dep, "-o", "jsonpath={.metadata.labels.tier}") == "web"
    kubectl("patch", *dep, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":5}]')
    assert kubectl("get", *dep, "-o", "jsonpath={.spec.replicas}") == "5"
    kubectl("set", "image", "deploy/web", "web=nginx:3", "-n", namespace)
    assert kubectl("get", *dep, "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx:3"
    kubectl("label", "deploy", "web", "-n", namespace, "tier-")
    assert "tier" not in kubectl("get", *dep, "-o", "jsonpath={.metadata.labels}")


def test_delete_waits_until_gone(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "configmap", "gone", "-n", namespace, "--from-literal=a=b")
    assert kubectl("delete", "configmap", "gone", "-n", namespace).strip() == 'configmap "gone" deleted'
    assert "NotFound" in kubectl.run("get", "configmap", "gone", "-n", namespace, check=False).stderr


def test_get_watch_receives_an_event(kubectl: Kubectl, namespace: str) -> None:
    cmd = [str(kubectl.binary), f"--kubeconfig={kubectl.kubeconfig}", f"--cache-dir={kubectl.cache_dir}",
           "get", "configmaps", "-n", namespace, "-w", "--no-headers"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        time.sleep(1.0)
        kubectl("create", "configmap", "watched", "-n", namespace)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("watched" in line for line in lines):
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert any(line.split()[0] == "watched" for line in lines), (lines, proc.stderr.read())  # type: ignore[union-attr]


def test_api_resources(kubectl: Kubectl) -> None:
    out = kubectl("api-resources")
    rows: dict[str, list[str]] = {}
    for line in out.splitlines()[1:]:  # the core group's first: metrics.k8s.io has nodes and pods too
        rows.setdefault(line.split()[0], line.split())
    assert rows["pods"][1:4] == ["po", "v1", "true"]
    assert rows["deployments"][1:4] == ["deploy", "apps/v1", "true"]
    assert rows["nodes"][1:4] == ["no", "v1", "false"]
    assert "leases" in rows and "endpointslices" in rows and "clusterroles" in rows


def test_auth_can_i(kubectl: Kubectl) -> None:
    assert kubectl("auth", "can-i", "create", "pods").strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "deployments.apps", "-n", "default").strip() == "yes"


def test_rbac_the_articles_pod_reader(kubectl: Kubectl, namespace: str) -> None:
    """§6.3: a Role that may read pods, bound to jane: she reads pods in its namespace and nothing more."""
    kubectl("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"namespace": namespace, "name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}]}))
    kubectl("create", "rolebinding", "read-pods", "--role=pod-reader", "--user=jane", "-n", namespace)
    kubectl("create", "-f", "-", input=pod_yaml(namespace, "p"))

    def jane(*args: str) -> subprocess.CompletedProcess[str]:
        return kubectl.run(*args, "--as=jane", check=False)

    assert jane("auth", "can-i", "list", "pods", "-n", namespace).stdout.strip() == "yes"
    assert jane("auth", "can-i", "create", "pods", "-n", namespace).stdout.strip() == "no"
    assert jane("auth", "can-i", "list", "pods", "-n", "kube-system").stdout.strip() == "no"
    assert jane("get", "pods", "-n", namespace, "-o", "name").stdout.split() == ["pod/p"]
    denied = jane("delete", "pod", "p", "-n", namespace)
    assert denied.returncode == 1 and (f'pods "p" is forbidden: User "jane" cannot delete resource "pods" in API group "" '
                                       f'in the namespace "{namespace}"') in denied.stderr
    listed = jane("auth", "can-i", "--list", "-n", namespace).stdout
    assert any(line.split()[:1] == ["pods"] and "[get watch list]" in line for line in listed.splitlines()), listed
    assert kubectl.run("get", "pods", "-n", namespace, "--as=jane", "--as-group=system:masters").returncode == 0


def test_typed_creates_send_protobuf_on_1_33(kubectl_for, namespace: str) -> None:
    k = kubectl_for("1.33")
    assert k("create", "namespace", f"{namespace}-pb").strip() == f"namespace/{namespace}-pb created"
    assert k("create", "deployment", "pb", "--image=nginx", "--replicas=2", "-n", namespace).strip() == "deployment.apps/pb created"
    dep = json.loads(k("get", "deploy", "pb", "-n", namespace, "-o", "json"))
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    k("create", "configmap", "pb", "-n", namespace, "--from-literal=greeting=hello")
    assert k("get", "cm", "pb", "-n", namespace, "-o", "jsonpath={.data.greeting}") == "hello"
    k("create", "secret", "generic", "pb", "-n", namespace, "--from-literal=password=s3cret")
    assert k("get", "secret", "pb", "-n", namespace, "-o", "jsonpath={.data.password}") == "czNjcmV0"
    k("create", "role", "pod-reader", "-n", namespace, "--verb=get,list,watch", "--resource=pods")
    rules = json.loads(k("get", "role", "pod-reader", "-n", namespace, "-o", "jsonpath={.rules}"))
    assert rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    assert k("auth", "can-i", "list", "pods").strip() == "yes"


@pytest.mark.parametrize("version", ["dispatcher"])
def test_dispatcher_picks_the_reported_minor(kubectl_for, version: str) -> None:
    k = kubectl_for(version)
    out = json.loads(k("version", "-o", "json"))
    assert out["serverVersion"]["gitVersion"] == "v1.33.0"
    assert out["clientVersion"]["minor"] == "33"


def test_get_events_table(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-f", "-", input=pod_yaml(namespace, "ev"))
    uid = kubectl("get", "pod", "ev", "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev.1", "namespace": namespace},
             "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "ev", "uid": uid, "apiVersion": "v1"},
             "reason": "Scheduled", "message": "Successfully assigned to node-1", "type": "Normal",
             "source": {"component": "default-scheduler"}, "count": 1,
             "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z"}
    kubectl("create", "-f", "-", input=json.dumps(event))
    rows = kubectl("get", "events", "-n", namespace).splitlines()
    assert rows[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[1].split()[1:4] == ["Normal", "Scheduled", "pod/ev"]
    described = kubectl("describe", "pod", "ev", "-n", namespace)
    assert "Scheduled" in described and "Successfully assigned to node-1" in described
