"""kubectl with the workload kinds of issue 16: DaemonSets (create -f, get, describe, rollout
status/history/undo), StatefulSets (rollout history/undo, the partition), ReplicationControllers
(scale) and CronJobs (create job --from)."""

from __future__ import annotations

import json

import pytest
import yaml

from labkit.client import resource_path

from .conftest import live_pods, wait_for

pytestmark = pytest.mark.kubectl

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd
spec:
  selector:
    matchLabels: {app: fluentd}
  updateStrategy:
    rollingUpdate: {maxUnavailable: 2}
  template:
    metadata:
      labels: {app: fluentd}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: fluentd
        image: fluentd:v1
"""


def rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_daemonset_create_get_describe_rollout(kubectl, api):
    k = kubectl
    assert k("create", "-f", "-", input=DAEMONSET) == "daemonset.apps/fluentd created\n"
    assert 'daemon set "fluentd" successfully rolled out' in k("rollout", "status", "ds/fluentd", "--timeout=30s")
    table = rows(k("get", "ds"))
    assert table[0] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]
    assert table[1][:7] == ["fluentd", "2", "2", "2", "2", "2", "kubernetes.io/os=linux"]
    assert rows(k("get", "ds", "-o", "wide"))[1][8:] == ["fluentd", "fluentd:v1", "app=fluentd"]
    assert "daemonset.apps/fluentd" in k("get", "all")
    described = k("describe", "ds", "fluentd")
    for line in ("Desired Number of Nodes Scheduled: 2", "Number of Nodes Scheduled with Available Pods: 2",
                 "Pods Status:  2 Running / 0 Waiting / 0 Succeeded / 0 Failed", "Created pod: fluentd-"):
        assert line in described
    assert {p["spec"]["nodeName"] for p in live_pods(api, k.namespace)} == {"node-1", "node-2"}

    assert k("set", "image", "ds/fluentd", "fluentd=fluentd:v2") == "daemonset.apps/fluentd image updated\n"
    status = k("rollout", "status", "ds/fluentd", "--timeout=30s")
    assert status.endswith('daemon set "fluentd" successfully rolled out\n')
    history = [line.split() for line in k("rollout", "history", "ds/fluentd").splitlines() if line[:1].isdigit()]
    assert history == [["1", "<none>"], ["2", "<none>"]]
    assert "Image:\tfluentd:v1" in k("rollout", "history", "ds/fluentd", "--revision=1")
    assert k("rollout", "undo", "ds/fluentd") == "daemonset.apps/fluentd rolled back\n"
    k("rollout", "status", "ds/fluentd", "--timeout=30s")
    wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in live_pods(api, k.namespace)} == {"fluentd:v1"},
             what="pods back on fluentd:v1")
    revisions = json.loads(k("get", "controllerrevisions", "-o", "json"))["items"]
    assert sorted(r["revision"] for r in revisions) == [2, 3]  # revision 1 came back as 3


REPLICATION_CONTROLLER = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 3
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx
"""


def test_replication_controller_get_scale_describe(kubectl, api):
    k = kubectl
    assert k("create", "-f", "-", input=REPLICATION_CONTROLLER) == "replicationcontroller/nginx created\n"
    wait_for(lambda: rows(k("get", "rc"))[1][:4] == ["nginx", "3", "3", "3"], what="3 ready replicas")
    assert rows(k("get", "rc"))[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rows(k("get", "rc", "-o", "wide"))[1][5:] == ["nginx", "nginx", "app=nginx"]
    assert k("scale", "rc", "nginx", "--replicas=1") == "replicationcontroller/nginx scaled\n"
    wait_for(lambda: len(live_pods(api, k.namespace)) == 1, what="scaled down to 1")
    described = k("describe", "rc", "nginx")
    for line in ("Selector:     app=nginx", "Replicas:     1 current / 1 desired", "Deleted pod: nginx-"):
        assert line in described
    assert "replicationcontroller/nginx" in k("get", "all")


def test_cronjob_create_get_describe_and_job_from_it(kubectl, api):
    k = kubectl
    assert k("create", "cronjob", "hello", "--image=busybox", "--schedule=*/5 * * * *", "--", "echo", "hi") \
        == "cronjob.batch/hello created\n"  # a protobuf body from kubectl 1.32 on
    table = rows(k("get", "cj"))
    assert table[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert table[1][:9] == ["hello", "*/5", "*", "*", "*", "*", "<none>", "False", "0"]
    described = k("describe", "cronjob", "hello")
    for line in ("Schedule:                      */5 * * * *", "Concurrency Policy:            Allow",
                 "Successful Job History Limit:  3", "Failed Job History Limit:      1"):
        assert line in described
    assert k("create", "job", "manual", "--from=cronjob/hello") == "job.batch/manual created\n"
    job = json.loads(k("get", "job", "manual", "-o", "json"))
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    assert "cronjob.batch/hello" in k("get", "all")


STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: nginx
        image: nginx:1.25
"""


def images(api, ns: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in live_pods(api, ns)}


def test_statefulset_rollout_history_and_undo(kubectl, api):
    k = kubectl
    k("create", "-f", "-", input=STATEFULSET.replace("replicas: 2", "replicas: 1"))
    k("rollout", "status", "sts/web", "--timeout=30s")
    assert k("set", "image", "sts/web", "nginx=nginx:1.26") == "statefulset.apps/web image updated\n"
    k("rollout", "status", "sts/web", "--timeout=30s")
    wait_for(lambda: images(api, k.namespace) == {"web-0": "nginx:1.26"}, what="updated")
    history = [line.split() for line in k("rollout", "history", "sts/web").splitlines() if line[:1].isdigit()]
    assert history == [["1", "<none>"], ["2", "<none>"]]
    assert "Image:\tnginx:1.25" in k("rollout", "history", "sts/web", "--revision=1")
    assert k("rollout", "undo", "sts/web") == "statefulset.apps/web rolled back\n"
    wait_for(lambda: images(api, k.namespace) == {"web-0": "nginx:1.25"},
             what="pods back on nginx:1.25")
    k("rollout", "status", "sts/web", "--timeout=30s")
    revisions = json.loads(k("get", "controllerrevisions", "-o", "json"))["items"]
    assert sorted(r["revision"] for r in revisions) == [2, 3]  # revision 1 came back as 3
    sts = json.loads(k("get", "sts", "web", "-o", "json"))
    back = next(r for r in revisions if r["revision"] == 3)
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"] == back["metadata"]["name"]
    assert back["metadata"]["labels"]["controller-revision-hash"] == back["metadata"]["name"]
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in live_pods(api, k.namespace)} \
        == {back["metadata"]["name"]}


def test_a_statefulset_pod_below_the_partition_comes_back_at_the_current_revision(api):
    ns = "sts-partition"
    api("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    path = resource_path("apps/v1", "statefulsets", namespace=ns, name="web")
    api("POST", resource_path("apps/v1", "statefulsets", namespace=ns), yaml.safe_load(STATEFULSET))
    wait_for(lambda: api("GET", path)["status"].get("readyReplicas") == 2, what="web ready")
    api("PATCH", path, {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 1}}, "template": {"spec": {
        "containers": [{"name": "nginx", "image": "nginx:1.26"}]}}}},
        content_type="application/strategic-merge-patch+json")
    wait_for(lambda: images(api, ns) == {"web-0": "nginx:1.25", "web-1": "nginx:1.26"},
             what="web-1 updated, web-0 held by the partition")
    status = api("GET", path)["status"]
    assert status["currentRevision"] != status["updateRevision"]
    old = next(p for p in live_pods(api, ns) if p["metadata"]["name"] == "web-0")
    api("DELETE", resource_path("v1", "pods", namespace=ns, name="web-0"))
    wait_for(lambda: any(p["metadata"]["name"] == "web-0" and p["metadata"]["uid"] != old["metadata"]["uid"]
                         for p in live_pods(api, ns)), what="web-0 made again")
    web0 = next(p for p in live_pods(api, ns) if p["metadata"]["name"] == "web-0")
    assert web0["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert web0["metadata"]["labels"]["controller-revision-hash"] == status["currentRevision"]
