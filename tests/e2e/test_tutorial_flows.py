"""Tutorial flows run with kubectl: a learner who leaves the course's path and follows the Kubernetes
tutorials (DaemonSets, StatefulSet Basics, persistent volumes, CronJobs, ``kubectl explain``,
copying files, a throw-away pod with stdin, a pod reading its service-account files) against labkit.

Each row of :data:`FLOWS` is one short flow, as the tutorial has it, on the cheapest cluster that can
run it: simulated nodes unless it needs real processes (the process runtime) or the cluster DNS (which
answers pods on the docker runtime only: that flow skips without Docker unless ``CI=true``). Clusters
are module-scoped; each flow works in a namespace of its own. The table runs kubectl 1.33, and 1.27
for some flows (a learner's older kubectl).
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testkit import Kubectl, kubectl_path, need, wait_for

from labkit import Cluster
from labkit.cluster import docker_available
from labkit.controllers import ControllerManagerConfig
from labkit.kubelet import KubeletConfig

pytestmark = pytest.mark.kubectl

SIM_NODES = 3
FAST = KubeletConfig(backoff_base=1.0, backoff_max=4.0, pleg_period=0.2)


@pytest.fixture(scope="module")
def sim_cluster() -> Iterator[Cluster]:
    """Simulated nodes; the CronJob controller's clock runs a minute a second."""
    with Cluster(nodes=SIM_NODES, runtime="sim", seed=21, set_kubeconfig_env=False, metrics_server=False,
                 controllers=ControllerManagerConfig(cronjob_clock_speed=60)) as c:
        yield c


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[Cluster]:
    with Cluster(nodes=1, runtime="process", seed=22, set_kubeconfig_env=False, metrics_server=False,
                 kubelet=FAST) as c:
        yield c


@pytest.fixture(scope="module")
def docker_cluster() -> Iterator[Cluster]:
    need(docker_available(), "a Docker daemon")
    with Cluster(nodes=1, runtime="docker", seed=23, set_kubeconfig_env=False, metrics_server=False,
                 kubelet=FAST) as c:
        yield c


class Learner:
    """kubectl in the flow's namespace (``-n`` is harmless on cluster-scoped kinds), and a scratch folder."""

    def __init__(self, kubectl: Kubectl, namespace: str, workdir: Path) -> None:
        self.kubectl, self.namespace, self.workdir = kubectl, namespace, workdir

    def __call__(self, *args: str, **kw: object) -> str:
        return self.kubectl("-n", self.namespace, *args, **kw)

    def json(self, *args: str) -> dict:
        return json.loads(self("get", *args, "-o", "json"))

    def wait_ready(self, pod: str) -> None:
        self("wait", "--for=condition=Ready", f"pod/{pod}", "--timeout=30s")


# --- the flows --------------------------------------------------------------------------------------

DAEMONSET = """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: fluentd-elasticsearch}
spec:
  selector: {matchLabels: {name: fluentd-elasticsearch}}
  template:
    metadata: {labels: {name: fluentd-elasticsearch}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
      containers: [{name: fluentd-elasticsearch, image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2}]
"""


def daemonset_on_every_node(k: Learner) -> None:
    """"DaemonSet": one pod per node, DESIRED = the number of nodes."""
    assert k("apply", "-f", "-", input=DAEMONSET) == "daemonset.apps/fluentd-elasticsearch created\n"
    k("rollout", "status", "ds/fluentd-elasticsearch", "--timeout=30s")
    header, row = (line.split() for line in k("get", "ds").splitlines())
    assert header[:6] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert row[:6] == ["fluentd-elasticsearch", *[str(SIM_NODES)] * 5]
    nodes = [p["spec"]["nodeName"] for p in k.json("pods")["items"]]
    assert sorted(nodes) == [f"node-{i}" for i in range(1, SIM_NODES + 1)]


STATEFULSET = """\
apiVersion: v1
kind: Service
metadata: {name: nginx, labels: {app: nginx}}
spec:
  ports: [{port: 80, name: web}]
  clusterIP: None
  selector: {app: nginx}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80, name: web}]}]
"""


def statefulset_dns_name(k: Learner) -> None:
    """"StatefulSet Basics": ``web-0.nginx`` resolves, from another pod, to web-0's address. The
    tutorial's busybox:1.28 nslookup searches the pod's DNS domains; the stand-in busybox (1.35, like
    today's real one) does not, so the lookup names the full domain, and ``ping`` shows the short name
    resolving through the search path."""
    k("apply", "-f", "-", input=STATEFULSET)
    k("rollout", "status", "sts/web", "--timeout=30s")
    ip = k("get", "pod", "web-0", "-o", "jsonpath={.status.podIP}")
    fqdn = f"web-0.nginx.{k.namespace}.svc.cluster.local"
    out = k("run", "dns-test", "-i", "--rm", "--restart=Never", "--image=busybox:1.28", "--",
            "sh", "-c", f"nslookup {fqdn}; ping -c1 -W2 web-0.nginx")
    assert f"Name:\t{fqdn}\nAddress: {ip}\n" in out, out
    assert f"PING web-0.nginx ({ip})" in out, out


PVC_AND_WRITER = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: task-pv-claim}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: data, persistentVolumeClaim: {claimName: task-pv-claim}}]
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, "echo 'Hello from Kubernetes storage' > /data/index.html && sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data}]
"""


def pvc_data_survives_its_pod(k: Learner) -> None:
    """"Configure a Pod to Use a PersistentVolume for Storage": the claim is Bound, a file written by
    one pod is read by the next one after the first is deleted."""
    k("apply", "-f", "-", input=PVC_AND_WRITER)
    k.wait_ready("writer")
    assert k("get", "pvc", "task-pv-claim", "-o", "jsonpath={.status.phase}") == "Bound"
    k("delete", "pod", "writer", "--wait=true")
    reader = PVC_AND_WRITER.split("---\n")[1].replace("writer", "reader").replace(
        "echo 'Hello from Kubernetes storage' > /data/index.html && sleep 3600", "cat /data/index.html")
    k("apply", "-f", "-", input=reader.replace("  volumes:", "  restartPolicy: Never\n  volumes:"))
    k("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/reader", "--timeout=30s")
    assert k("logs", "reader") == "Hello from Kubernetes storage\n"


def cronjob_makes_a_job(k: Learner) -> None:
    """"Running Automated Tasks with a CronJob": a Job named after the CronJob appears on schedule."""
    assert k("create", "cronjob", "hello", "--image=busybox:1.28", "--schedule=* * * * *", "--",
             "sh", "-c", "date; echo Hello from the Kubernetes cluster") == "cronjob.batch/hello created\n"
    jobs = wait_for(lambda: k.json("jobs")["items"], timeout=15, what="the CronJob's first Job")
    assert re.fullmatch(r"hello-\d+", jobs[0]["metadata"]["name"])
    assert [(r["kind"], r["name"]) for r in jobs[0]["metadata"]["ownerReferences"]] == [("CronJob", "hello")]
    assert k("get", "cronjob", "hello", "-o", "jsonpath={.status.lastScheduleTime}")


def explain_deployment_strategy(k: Learner) -> None:
    """``kubectl explain deployment.spec.strategy``, from the server's OpenAPI v3: the field, its type
    and the two fields under it."""
    out = k("explain", "deployment.spec.strategy")
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\n"
                          "FIELD: strategy <DeploymentStrategy>\n"), out
    assert "DeploymentStrategy describes how to replace existing pods with new ones." in out
    fields = out[out.index("FIELDS:\n"):]
    assert re.findall(r"^  (\w+)\t<(\w+)>$", fields, re.M) == [("rollingUpdate", "RollingUpdateDeployment"),
                                                             ("type", "string")], out
    assert 'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is\n    RollingUpdate.' in fields


def copy_to_and_from_a_pod(k: Learner) -> None:
    """``kubectl cp`` both ways (tar over exec)."""
    k("run", "box", "--image=busybox", "--", "sleep", "3600")
    k.wait_ready("box")
    local = k.workdir / "notes.txt"
    local.write_text("copied in and out\n")
    k("cp", str(local), "box:/tmp/notes.txt")
    assert k("exec", "box", "--", "cat", "/tmp/notes.txt") == "copied in and out\n"
    k("cp", "box:/tmp/notes.txt", str(k.workdir / "back.txt"))
    assert (k.workdir / "back.txt").read_text() == "copied in and out\n"


def run_with_stdin_and_remove(k: Learner) -> None:
    """``kubectl run -i --rm``: the pod reads the learner's stdin, and is gone afterwards."""
    out = k("run", "stdin-test", "-i", "--rm", "--restart=Never", "--image=busybox", "--",
            "sh", "-c", "tr a-z A-Z", input="hello from stdin\n")
    assert "HELLO FROM STDIN\n" in out and 'pod "stdin-test" deleted' in out, out
    assert k("get", "pods", "-o", "name") == ""


def service_account_namespace_file(k: Learner) -> None:
    """A pod reads its namespace from the service-account volume (kube-api-access)."""
    k("run", "sa", "--image=busybox", "--", "sleep", "3600")
    k.wait_ready("sa")
    path = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert k("exec", "sa", "--", "cat", f"{path}/namespace") == k.namespace
    assert k("exec", "sa", "--", "ls", path).split() == ["ca.crt", "namespace", "token"]


@dataclasses.dataclass(frozen=True)
class Flow:
    name: str
    cluster: str  # "sim", "process" or "docker"
    kubectl: str
    steps: Callable[[Learner], None]


FLOWS = (
    Flow("daemonset-on-every-node", "sim", "1.33", daemonset_on_every_node),
    Flow("cronjob-makes-a-job", "sim", "1.27", cronjob_makes_a_job),
    Flow("explain-deployment-strategy", "sim", "1.33", explain_deployment_strategy),
    Flow("explain-deployment-strategy-1.27", "sim", "1.27", explain_deployment_strategy),
    Flow("pvc-data-survives-its-pod", "process", "1.33", pvc_data_survives_its_pod),
    Flow("copy-to-and-from-a-pod", "process", "1.33", copy_to_and_from_a_pod),
    Flow("run-with-stdin-and-remove", "process", "1.27", run_with_stdin_and_remove),
    Flow("service-account-namespace-file", "process", "1.33", service_account_namespace_file),
    Flow("statefulset-dns-name", "docker", "1.33", statefulset_dns_name),
)


@pytest.mark.parametrize("flow", FLOWS, ids=[f.name for f in FLOWS])
def test_tutorial_flow(flow: Flow, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cluster: Cluster = request.getfixturevalue(f"{flow.cluster}_cluster")
    assert cluster.kubeconfig is not None
    kubectl = Kubectl(kubectl_path(flow.kubectl), cluster.kubeconfig, tmp_path / "cache")
    namespace = f"{flow.name[:40]}-{zlib.crc32(flow.name.encode()):08x}".replace(".", "-")
    kubectl("create", "namespace", namespace)
    wait_for(lambda: kubectl.run("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0,
             what="the namespace's default service account")
    flow.steps(Learner(kubectl, namespace, tmp_path))
