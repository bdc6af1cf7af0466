"""``kubectl rollout`` (status, history, undo, restart, pause, resume), ``scale`` and ``describe
deployment`` read what the Deployment controller writes."""

import json
import re

import pytest

from .conftest import live_pods, wait_for

pytestmark = pytest.mark.kubectl

DONE = 'deployment "web" successfully rolled out'


def rollout(k, image: str, *, replicas: int = 2) -> None:
    """``kubectl create deployment`` (or ``set image``), then ``rollout status`` until it is done."""
    if image.endswith("1.25"):
        k("create", "deployment", "web", f"--image={image}", f"--replicas={replicas}")
    else:
        assert k("set", "image", "deployment/web", f"nginx={image}") == "deployment.apps/web image updated\n"
    assert DONE in k("rollout", "status", "deployment/web", "--timeout=30s")


def replicasets(k) -> dict[str, dict]:
    """The Deployment's ReplicaSets by revision."""
    items = json.loads(k("get", "replicasets", "-o", "json"))["items"]
    return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in items}


def history(k) -> list[list[str]]:
    """``rollout history`` rows: [revision, change-cause]."""
    return [line.split(None, 1) for line in k("rollout", "history", "deployment/web").splitlines()
            if line[:1].isdigit()]


def image_of(k, kind: str = "deployment/web") -> str:
    return k("get", kind, "-o", "jsonpath={.spec.template.spec.containers[0].image}")


def test_history_and_undo(kubectl, api):
    k = kubectl
    rollout(k, "nginx:1.25")
    k("annotate", "deployment/web", "kubernetes.io/change-cause=first")
    rollout(k, "nginx:1.26")
    k("annotate", "deployment/web", "kubernetes.io/change-cause=to 1.26", "--overwrite")
    wait_for(lambda: history(k) == [["1", "first"], ["2", "to 1.26"]], what=f"history, got {history(k)}")
    assert "    Image:\tnginx:1.25\n" in k("rollout", "history", "deployment/web", "--revision=1")
    first = replicasets(k)["1"]["metadata"]["name"]

    assert k("rollout", "undo", "deployment/web") == "deployment.apps/web rolled back\n"
    assert DONE in k("rollout", "status", "deployment/web", "--timeout=30s")
    assert image_of(k) == "nginx:1.25"
    by_revision = replicasets(k)
    assert sorted(by_revision) == ["2", "3"]  # revision 1 became 3: the same ReplicaSet, reused
    assert by_revision["3"]["metadata"]["name"] == first and by_revision["3"]["spec"]["replicas"] == 2
    assert by_revision["2"]["spec"]["replicas"] == 0
    assert history(k) == [["2", "to 1.26"], ["3", "first"]]
    pods = wait_for(lambda: len(p := live_pods(api, k.namespace)) == 2 and p, what="2 pods")
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {first}


def test_restart_rolls_a_new_replicaset(kubectl, api):
    k = kubectl
    rollout(k, "nginx:1.25")
    before = {p["metadata"]["name"] for p in live_pods(api, k.namespace)}
    assert k("rollout", "restart", "deployment/web") == "deployment.apps/web restarted\n"
    assert DONE in k("rollout", "status", "deployment/web", "--timeout=30s")
    by_revision = replicasets(k)
    assert sorted(by_revision) == ["1", "2"]
    assert "kubectl.kubernetes.io/restartedAt" in by_revision["2"]["spec"]["template"]["metadata"]["annotations"]
    assert image_of(k, f"rs/{by_revision['2']['metadata']['name']}") == "nginx:1.25"
    after = wait_for(lambda: len(p := live_pods(api, k.namespace)) == 2 and p, what="2 new pods")
    assert not before & {p["metadata"]["name"] for p in after}


def test_pause_holds_the_rollout_until_resume(kubectl, api):
    k = kubectl
    rollout(k, "nginx:1.25")
    assert k("rollout", "pause", "deployment/web") == "deployment.apps/web paused\n"
    k("set", "image", "deployment/web", "nginx=nginx:1.26")
    deployment = wait_for(lambda: (d := json.loads(k("get", "deployment/web", "-o", "json")))["status"].get(
        "observedGeneration") == d["metadata"]["generation"] and d, what="the paused spec observed")
    progressing = {c["type"]: c for c in deployment["status"]["conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert sorted(replicasets(k)) == ["1"]
    assert {p["spec"]["containers"][0]["image"] for p in live_pods(api, k.namespace)} == {"nginx:1.25"}

    assert k("rollout", "resume", "deployment/web") == "deployment.apps/web resumed\n"
    assert DONE in k("rollout", "status", "deployment/web", "--timeout=30s")
    assert sorted(replicasets(k)) == ["1", "2"]
    wait_for(lambda: {p["spec"]["containers"][0]["image"] for p in live_pods(api, k.namespace)} == {"nginx:1.26"},
             what="pods on nginx:1.26")


def test_scale_and_describe(kubectl, api):
    k = kubectl
    rollout(k, "nginx:1.25")
    rollout(k, "nginx:1.26")
    assert k("scale", "deployment/web", "--replicas=4") == "deployment.apps/web scaled\n"
    assert DONE in k("rollout", "status", "deployment/web", "--timeout=30s")
    wait_for(lambda: len(live_pods(api, k.namespace)) == 4, what="4 pods")
    assert k("get", "deployment", "web", "--no-headers").split()[:4] == ["web", "4/4", "4", "4"]
    k("scale", "deployment/web", "--replicas=1")
    wait_for(lambda: len(live_pods(api, k.namespace)) == 1, what="pods to go away")  # the kubelet finished them

    by_revision = replicasets(k)
    old, new = by_revision["1"]["metadata"]["name"], by_revision["2"]["metadata"]["name"]
    described = wait_for(lambda: "from 4 to 1" in (out := k("describe", "deployment", "web")) and out,
                         what="the scale-down event")
    for needle in ("Replicas:               1 desired | 1 updated | 1 total | 1 available | 0 unavailable",
                   "StrategyType:           RollingUpdate",
                   f"OldReplicaSets:  {old} (0/0 replicas created)", f"NewReplicaSet:   {new} (1/1 replicas created)",
                   "  Progressing    True    NewReplicaSetAvailable"):
        assert needle in described, f"{needle!r} not in\n{described}"
    assert re.search(r"^ +Image: +nginx:1\.26$", described, re.M), described
    events = described[described.index("Events:"):].splitlines()[3:]
    messages = [line.split("deployment-controller", 1)[1].strip() for line in events]
    assert all(line.split()[:2] == ["Normal", "ScalingReplicaSet"] for line in events), events
    for message in (f"Scaled up replica set {old} from 0 to 2", f"Scaled up replica set {new} from 0 to 1",
                    f"Scaled down replica set {old} from 2 to 1", f"Scaled up replica set {new} from 2 to 4",
                    f"Scaled down replica set {new} from 4 to 1"):
        assert message in messages, f"{message!r} not in {messages}"
