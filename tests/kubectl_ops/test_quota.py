"""ResourceQuota and LimitRange through each pinned kubectl: ``create quota``, a pod the quota refuses
with kube-apiserver's message, ``get quota``, ``describe quota``, ``describe limitrange`` and
``describe namespace``, the requests and limits a LimitRange fills into a pod, and the usage the
resource quota controller gives back when the pod is deleted."""

import json
import re

import pytest

from .conftest import wait_for

pytestmark = pytest.mark.kubectl

LIMIT_RANGE = """
apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 250m}
    max: {memory: 1Gi}
"""


def used(k) -> dict[str, str]:
    return json.loads(k("get", "quota", "compute", "-o", "json")).get("status", {}).get("used", {})


def test_quota_and_limit_range(kubectl):
    k = kubectl
    assert k("create", "quota", "compute", "--hard=pods=2,requests.cpu=1,limits.memory=600Mi") == \
        "resourcequota/compute created\n"
    assert k("apply", "-f", "-", input=LIMIT_RANGE) == "limitrange/defaults created\n"
    wait_for(lambda: used(k), what="the resource quota controller's first count")

    k("run", "web", "--image=nginx")
    pod = json.loads(k("get", "pod", "web", "-o", "json"))
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == \
        "LimitRanger plugin set: cpu, memory request for container web; cpu, memory limit for container web"
    assert pod["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                         "limits": {"cpu": "500m", "memory": "256Mi"}}

    charged = json.loads(k("get", "quota", "compute", "-o", "json", "--show-managed-fields"))
    assert charged["status"]["used"] == {"limits.memory": "256Mi", "pods": "1", "requests.cpu": "250m"}
    managers = {(m["manager"], m.get("subresource")) for m in charged["metadata"]["managedFields"]}
    assert managers >= {("kube-apiserver", "status"), ("kube-controller-manager", "status")}, \
        "admission charged the pod, the controller counted first"

    big = k.run("run", "big", "--image=nginx", "--overrides", json.dumps({"spec": {"containers": [
        {"name": "big", "image": "nginx", "resources": {"limits": {"memory": "512Mi"}}}]}}), check=False)
    assert big.returncode == 1
    assert big.stderr == ('Error from server (Forbidden): pods "big" is forbidden: exceeded quota: compute, '
                          "requested: limits.memory=512Mi, used: limits.memory=256Mi, limited: limits.memory=600Mi\n")

    lines = k("get", "quota").splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert re.fullmatch(r"compute\s+\d+s\s+pods: 1/2, requests.cpu: 250m/1\s+limits.memory: 256Mi/600Mi", lines[1])

    assert k("describe", "quota", "compute") == (
        f"Name:          compute\nNamespace:     {k.namespace}\n"
        "Resource       Used   Hard\n"
        "--------       ----   ----\n"
        "limits.memory  256Mi  600Mi\n"
        "pods           1      2\n"
        "requests.cpu   250m   1\n")
    described = k("describe", "limitrange", "defaults").splitlines()
    assert described[:4] == [
        "Name:       defaults", f"Namespace:  {k.namespace}",
        "Type        Resource  Min  Max  Default Request  Default Limit  Max Limit/Request Ratio",
        "----        --------  ---  ---  ---------------  -------------  -----------------------"]
    assert sorted(described[4:]) == [  # kubectl walks a Go map here: the rows come in any order
        "Container   cpu       -    -    250m             500m           -",
        "Container   memory    -    1Gi  256Mi            256Mi          -"]
    assert re.fullmatch(r"NAME\s+CREATED AT\ndefaults\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", k("get", "limitrange"))

    quotas, limits = k("describe", "namespace", k.namespace).split("\n\n")[1:3]  # kubectl lists both itself
    assert quotas == ("Resource Quotas\n  Name:          compute\n  Resource       Used   Hard\n"
                      "  --------       ---    ---\n  limits.memory  256Mi  600Mi\n  pods           1      2\n"
                      "  requests.cpu   250m   1")
    assert limits.splitlines()[:3] == [
        "Resource Limits", " Type       Resource  Min  Max  Default Request  Default Limit  Max Limit/Request Ratio",
        " ----       --------  ---  ---  ---------------  -------------  -----------------------"]
    assert sorted(limits.splitlines()[3:]) == [" Container  cpu       -    -    250m             500m           -",
                                               " Container  memory    -    1Gi  256Mi            256Mi          -"]

    k("delete", "pod", "web", "--wait=false")
    wait_for(lambda: used(k).get("pods") == "0", what="the controller giving the deleted pod's usage back")


def test_reset_removes_quotas_and_limit_ranges_from_default(ops_cluster, api):
    """Between labs, cluster.reset() leaves no quota or limit range behind in ``default``."""
    api("POST", "/api/v1/namespaces/default/resourcequotas", {"metadata": {"name": "q"},
                                                              "spec": {"hard": {"pods": "0"}}})
    api("POST", "/api/v1/namespaces/default/limitranges", {"metadata": {"name": "lr"}, "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1m"}}]}})
    ops_cluster.reset()
    for plural in ("resourcequotas", "limitranges"):
        assert api("GET", f"/api/v1/namespaces/default/{plural}")["items"] == []
