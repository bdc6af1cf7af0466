"""The resource quota controller alone (``pkg/controller/resourcequota``), on a fake clock:
``status.hard`` follows ``spec.hard``, ``status.used`` is counted from the namespace's objects, usage
comes back when objects go or pods finish, and every quota is counted again after the sync period."""

from __future__ import annotations

from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.resourcequota import ResourceQuotaController

from .objects import NS, deployment, meta, pod, service

KEY = f"{NS}/q"
HARD = {"pods": "3", "count/pods": "10", "requests.cpu": "2", "limits.memory": "1Gi", "services": "2",
        "services.nodeports": "4", "configmaps": "5", "count/deployments.apps": "1", "secrets": "9"}


def quota(hard: dict[str, str] = HARD, status: dict | None = None, scopes: list[str] | None = None) -> dict:
    spec: dict = {"hard": hard, **({"scopes": scopes} if scopes else {})}
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("q"), "spec": spec,
            **({"status": status} if status is not None else {})}


def sized(name: str, cpu: str, memory: str, **kw) -> dict:
    p = pod(name, **kw)
    p["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}, "limits": {"memory": memory}}
    return p


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name)}


def status_writes(h) -> list[dict]:
    return [a.body["status"] for a in h.writes() if a.resource == "resourcequotas/status"]


def test_a_new_quota_gets_its_hard_limits_and_what_the_namespace_uses_now(harness):
    nodeport = service("np")
    nodeport["spec"].update(type="NodePort", ports=[{"port": 80}, {"port": 443}])
    h = harness(ResourceQuotaController, [
        quota(), sized("a", "500m", "256Mi"), sized("b", "1", "512Mi"),
        sized("done", "4", "4Gi", phase="Succeeded"),  # finished: counted by count/pods only
        service("web"), nodeport, configmap("one"), deployment("web"),
        sized("elsewhere", "8", "8Gi", namespace="other")])
    assert h.drain() == [KEY]
    assert status_writes(h) == [{
        "hard": HARD,
        "used": {"configmaps": "1", "count/deployments.apps": "1", "count/pods": "3", "limits.memory": "768Mi",
                 "pods": "2", "requests.cpu": "1500m", "secrets": "0", "services": "2", "services.nodeports": "2"}}]
    assert h.waiting() == [(KEY, 300.0)], "counted again after --resource-quota-sync-period"


def test_a_quota_whose_status_is_right_is_not_written(harness):
    h = harness(ResourceQuotaController, [quota({"pods": "2"}, {"hard": {"pods": "2"}, "used": {"pods": "1"}}),
                                          pod("a")])
    h.drain()
    assert h.writes() == []


def test_deleting_a_pod_or_a_pod_finishing_gives_its_usage_back(harness):
    h = harness(ResourceQuotaController, [quota({"pods": "5", "requests.cpu": "4"}), sized("a", "1", "1Gi"),
                                          sized("b", "2", "1Gi")])
    h.drain(watch=True)
    h.clear()
    h.run(h.client.delete(f"/api/v1/namespaces/{NS}/pods/a"))
    h.deliver()
    h.drain(watch=True)
    assert status_writes(h)[-1]["used"] == {"pods": "1", "requests.cpu": "2"}
    h.clear()
    done = h.objects("v1", "pods")[0]
    h.run(h.client.update(f"/api/v1/namespaces/{NS}/pods/b/status", {**done, "status": {"phase": "Failed"}}))
    h.deliver()
    h.drain(watch=True)
    assert status_writes(h)[-1]["used"] == {"pods": "0", "requests.cpu": "0"}


def test_a_new_object_is_not_counted_before_the_resync(harness):
    """Admission charges creates; the controller only corrects on its next periodic count."""
    h = harness(ResourceQuotaController, [quota({"configmaps": "5"})])
    h.drain(watch=True)
    h.clear()
    h.run(h.client.create(f"/api/v1/namespaces/{NS}/configmaps", configmap("new")))
    h.deliver()
    assert h.drain(watch=True) == []
    assert h.drain(watch=True, advance=300) == [KEY]
    assert status_writes(h) == [{"hard": {"configmaps": "5"}, "used": {"configmaps": "1"}}]


def test_scopes_choose_the_pods_counted(harness):
    best_effort = pod("be")
    bounded = sized("burstable", "100m", "64Mi")
    bounded["spec"]["activeDeadlineSeconds"] = 60
    h = harness(ResourceQuotaController, [quota({"pods": "9"}, scopes=["BestEffort"]), best_effort, bounded])
    h.drain()
    assert status_writes(h)[-1]["used"] == {"pods": "1"}
    h = harness(ResourceQuotaController, [quota({"pods": "9"}, scopes=["NotBestEffort", "Terminating"]),
                                          best_effort, bounded])
    h.drain()
    assert status_writes(h)[-1]["used"] == {"pods": "1"}


def test_changing_spec_hard_counts_again(harness):
    h = harness(ResourceQuotaController, [quota({"pods": "1"}), pod("a")],
                config=ControllerManagerConfig(resource_quota_sync_period=300.0))
    h.drain(watch=True)
    h.clear()
    q = h.objects("v1", "resourcequotas")[0]
    h.run(h.client.update(f"/api/v1/namespaces/{NS}/resourcequotas/q", {**q, "spec": {"hard": {"pods": "1",
                                                                                                 "count/pods": "4"}}}))
    h.deliver()
    assert h.drain(watch=True) == [KEY]
    assert status_writes(h)[-1] == {"hard": {"count/pods": "4", "pods": "1"}, "used": {"count/pods": "1", "pods": "1"}}
