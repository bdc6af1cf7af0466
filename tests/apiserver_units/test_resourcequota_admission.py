"""The ResourceQuota admission plugin: kube-apiserver's 403s word for word, and the charge written to
``status.used`` with compare-and-swap (a lost race reads the quotas again; a dry run charges nothing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from labkit.apiserver import errors
from labkit.apiserver.admission import Attributes
from labkit.apiserver.admission_resourcequota import ResourceQuota
from labkit.apiserver.registry.resourcequota import STRATEGY
from labkit.apiserver.resources import lookup

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def quota(name: str, hard: dict[str, str], used: dict[str, str] | None = None, *, rv: str = "1",
          scopes: list[str] | None = None) -> dict[str, Any]:
    status = {"hard": hard, "used": used if used is not None else dict.fromkeys(hard, "0")}
    spec: dict[str, Any] = {"hard": hard, **({"scopes": scopes} if scopes else {})}
    return {"apiVersion": "v1", "kind": "ResourceQuota", "spec": spec, "status": status,
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def pod(name: str = "p", **resources: dict[str, str]) -> dict[str, Any]:
    containers = [{"name": c, "image": "nginx", "resources": r} for c, r in resources.items()] or \
        [{"name": "app", "image": "nginx"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": containers}}


class Quotas:
    """The namespace's quotas, and a status write that fails with a 409 ``conflicts`` times."""

    def __init__(self, *quotas: dict[str, Any], conflicts: int = 0) -> None:
        self.items = {q["metadata"]["name"]: q for q in quotas}
        self.conflicts = conflicts
        self.written: list[tuple[str, dict[str, str]]] = []

    def list(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.items.values()) if namespace == "ns" else []

    def update_status(self, q: dict[str, Any]) -> None:
        current = self.items[q["metadata"]["name"]]
        if self.conflicts or q["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"]:
            self.conflicts = max(self.conflicts - 1, 0)
            # another API server charged a pod meanwhile: a new resourceVersion, one more pod used
            used = {**current["status"]["used"], "pods": str(int(current["status"]["used"].get("pods", "0")) + 1)}
            self.items[current["metadata"]["name"]] = {
                **current, "status": {**current["status"], "used": used},
                "metadata": {**current["metadata"], "resourceVersion": str(int(current["metadata"]["resourceVersion"])
                                                                           + 1)}}
            raise errors.conflict("resourcequotas", q["metadata"]["name"])
        self.written.append((q["metadata"]["name"], q["status"]["used"]))
        self.items[q["metadata"]["name"]] = q


def check(quotas: Quotas, obj: dict[str, Any], *, plural: str = "pods", operation: str = "CREATE",
          old: dict[str, Any] | None = None, dry_run: bool = False) -> None:
    resource = lookup("", "v1", plural)
    assert resource is not None
    attrs = Attributes(operation, resource, "", "ns", obj["metadata"]["name"], None, dry_run)
    ResourceQuota(quotas.list, quotas.update_status, lambda: NOW).validate(attrs, obj, old)


def refused(quotas: Quotas, obj: dict[str, Any], **kw: Any) -> str:
    with pytest.raises(errors.ApiError) as e:
        check(quotas, obj, **kw)
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert quotas.written == [], "a refused request charges nothing"
    return e.value.message


MEM = {"requests": {"memory": "700Mi", "cpu": "200m"}, "limits": {"memory": "700Mi", "cpu": "200m"}}


def test_a_pod_over_the_hard_limit_is_refused_with_requested_used_and_limited():
    q = Quotas(quota("mem", {"requests.memory": "1Gi", "pods": "10"}, {"requests.memory": "600Mi", "pods": "1"}))
    assert refused(q, pod(app=MEM)) == ('pods "p" is forbidden: exceeded quota: mem, requested: requests.memory=700Mi, '
                                        "used: requests.memory=600Mi, limited: requests.memory=1Gi")


def test_every_exceeded_resource_is_listed_sorted():
    q = Quotas(quota("q", {"pods": "1", "limits.cpu": "100m", "requests.cpu": "1"}, {"pods": "1", "limits.cpu": "0",
                                                                                      "requests.cpu": "0"}))
    assert refused(q, pod(app=MEM)) == ('pods "p" is forbidden: exceeded quota: q, requested: limits.cpu=200m,pods=1, '
                                        "used: limits.cpu=0,pods=1, limited: limits.cpu=100m,pods=1")


def test_quota_on_cpu_or_memory_makes_every_container_state_it():
    q = Quotas(quota("compute", {"limits.cpu": "4", "limits.memory": "4Gi", "requests.cpu": "4"}))
    message = refused(q, pod(a={}, b={"limits": {"memory": "1Gi"}}))
    assert message == ('pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: a,b; '
                       "limits.memory for: a; requests.cpu for: a,b")


def test_a_quota_not_counted_yet_refuses_what_it_limits():
    q = Quotas(quota("new", {"pods": "5", "configmaps": "2"}, {}))
    assert refused(q, pod()) == 'pods "p" is forbidden: status unknown for quota: new, resources: pods'


def test_what_passes_is_charged_to_every_quota_that_limits_it():
    q = Quotas(quota("pods", {"pods": "2"}, {"pods": "1"}), quota("mem", {"requests.memory": "2Gi"}),
               quota("cm", {"configmaps": "1"}))
    check(q, pod(app=MEM))
    assert q.written == [("pods", {"pods": "2"}), ("mem", {"requests.memory": "700Mi"})]


def test_a_lost_race_reads_the_quota_again_and_checks_against_the_new_usage():
    q = Quotas(quota("pods", {"pods": "3"}, {"pods": "1"}), conflicts=1)
    check(q, pod())
    assert q.written == [("pods", {"pods": "3"})], "the other writer's pod and this one"
    q = Quotas(quota("pods", {"pods": "2"}, {"pods": "1"}), conflicts=1)
    assert refused(q, pod()) == ('pods "p" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, '
                                 "limited: pods=2")


def test_endless_conflicts_end_in_the_conflict():
    q = Quotas(quota("pods", {"pods": "100"}), conflicts=10)
    with pytest.raises(errors.ApiError) as e:
        check(q, pod())
    assert e.value.code == 409 and q.written == []


def test_a_dry_run_is_checked_and_not_charged():
    q = Quotas(quota("pods", {"pods": "1"}))
    check(q, pod(), dry_run=True)
    assert q.written == []
    q = Quotas(quota("pods", {"pods": "1"}, {"pods": "1"}))
    refused(q, pod(), dry_run=True)


def test_scopes_choose_the_pods_a_quota_sees():
    q = Quotas(quota("be", {"pods": "0"}, scopes=["BestEffort"]))
    check(q, pod(app=MEM))  # Burstable: not this quota's
    assert refused(q, pod()).startswith('pods "p" is forbidden: exceeded quota: be, requested: pods=1')


def test_object_counts_and_service_node_ports():
    q = Quotas(quota("objs", {"count/configmaps": "1", "services.nodeports": "2", "services": "5"},
                     {"count/configmaps": "1", "services.nodeports": "1", "services": "1"}))
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}
    assert refused(q, cm, plural="configmaps") == (
        'configmaps "c" is forbidden: exceeded quota: objs, requested: count/configmaps=1, used: count/configmaps=1, '
        "limited: count/configmaps=1")
    old = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ns"},
           "spec": {"type": "ClusterIP", "ports": [{"port": 80}, {"port": 81}]}}
    new = {**old, "spec": {**old["spec"], "type": "NodePort"}}
    assert refused(q, new, plural="services", operation="UPDATE", old=old) == (
        'services "s" is forbidden: exceeded quota: objs, requested: services.nodeports=2, '
        "used: services.nodeports=1, limited: services.nodeports=2")


def test_events_are_never_charged():
    q = Quotas(quota("objs", {"count/events": "0"}))
    check(q, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"}}, plural="events")
    assert q.written == []


def test_quota_strategy_prints_request_and_limit_columns_and_validates_names():
    q = quota("q", {"pods": "4", "limits.cpu": "2", "requests.memory": "1Gi", "count/deployments.apps": "2"},
              {"pods": "1", "limits.cpu": "500m"})
    assert STRATEGY.cells(q, NOW)[1:] == ["count/deployments.apps: 0/2, pods: 1/4, requests.memory: 0/1Gi",
                                          "limits.cpu: 500m/2"]
    bad = quota("q", {"pods": "-1", "gpus": "1"})
    assert [str(c) for c in STRATEGY.validate(bad)][:2] == [
        'spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.hard[gpus]: Invalid value: "gpus": must be a standard resource for quota']


def test_scopes_limit_only_what_they_can_and_each_message_is_said_once():
    q = quota("q", {"cpu": "1", "memory": "1Gi", "pods": "2"}, scopes=["BestEffort", "NotBestEffort"])
    causes = STRATEGY.validate(q)
    assert len(causes) == 3, "cpu and memory each, then the conflict"
    assert errors.invalid("ResourceQuota", "q", causes).message == (
        'ResourceQuota "q" is invalid: [spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort", '
        '"NotBestEffort"}: unsupported scope applied to resource, spec.scopes: Invalid value: '
        '[]core.ResourceQuotaScope{"BestEffort", "NotBestEffort"}: conflicting scopes]')


def test_the_scopes_of_a_quota_never_change():
    old = quota("q", {"pods": "2"}, scopes=["BestEffort"])
    new = quota("q", {"pods": "2"})
    assert [str(c) for c in STRATEGY.validate_update(new, old)] == [
        "spec.scopes: Invalid value: []core.ResourceQuotaScope(nil): field is immutable"]
    assert STRATEGY.validate_update(quota("q", {"pods": "3"}, scopes=["BestEffort"]), old) == []
