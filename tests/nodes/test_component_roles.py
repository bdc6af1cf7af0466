"""Under RBAC every component works with its bootstrap role alone, and a user gets what is bound to them."""

from __future__ import annotations

import pytest

from labkit import Cluster
from labkit.client import APIStatusError, resource_path

from testkit import wait_for
from .conftest import FAST

DEPLOYMENT = {"metadata": {"name": "web"}, "spec": {
    "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}},
                 "spec": {"containers": [{"name": "c", "image": "labkit/hello:1"}]}}}}


def test_components_are_never_forbidden_and_a_user_is_until_bound() -> None:
    with Cluster(nodes=2, runtime="process", seed=3, set_kubeconfig_env=False, kubelet=FAST) as c:
        admin, jane = c.admin(), c.client_for("jane")
        pods = resource_path("v1", "pods", namespace="team")

        async def work() -> None:
            await admin.create(resource_path("v1", "namespaces"), {"metadata": {"name": "team"}})
            await admin.create(resource_path("apps/v1", "deployments", namespace="team"), DEPLOYMENT)
            await admin.create(resource_path("v1", "services", namespace="team"), {"metadata": {"name": "web"}, "spec": {
                "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
            await admin.create(resource_path("batch/v1", "jobs", namespace="team"), {"metadata": {"name": "once"}, "spec": {
                "template": {"spec": {"restartPolicy": "Never",
                                      "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}})

        c.run(work())

        def settled() -> bool:
            listed = c.run(admin.get(pods))["items"]
            job = c.run(admin.get(resource_path("batch/v1", "jobs", namespace="team", name="once")))
            slices = c.run(admin.get(resource_path("discovery.k8s.io/v1", "endpointslices", namespace="team")))["items"]
            return (sum(p["status"].get("phase") == "Running" for p in listed) == 2
                    and job.get("status", {}).get("succeeded") == 1
                    and any(len(s.get("endpoints") or []) == 2 for s in slices))
        wait_for(settled, timeout=60, what="the deployment running, the job done, the service's endpoints")

        with pytest.raises(APIStatusError) as denied:
            c.run(jane.get(pods))
        assert denied.value.code == 403 and denied.value.reason == "Forbidden"
        assert 'User "jane" cannot list resource "pods" in API group "" in the namespace "team"' in denied.value.status["message"]
        c.run(admin.create(resource_path("rbac.authorization.k8s.io/v1", "rolebindings", namespace="team"), {
            "metadata": {"name": "jane-views"}, "subjects": [{"kind": "User", "name": "jane"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}))
        assert len(c.run(jane.get(pods))["items"]) == 3  # two web pods and the job's

        refused = [(r.user, r.verb, r.resource, r.namespace) for r in c.trace.records()
                   if r.kind == "request" and r.code == 403 and r.user != "jane"]
        assert refused == []
        # the namespace controller empties a deleted namespace (creates in it are refused meanwhile,
        # by admission, as in Kubernetes): it goes only if every delete was allowed
        c.run(admin.delete(resource_path("v1", "namespaces", name="team")))
        wait_for(lambda: "team" not in {n["metadata"]["name"] for n in c.run(admin.get(resource_path("v1", "namespaces")))["items"]},
                 timeout=60, what="namespace team gone")
