"""labkit.apiserver.discovery: legacy and aggregated documents, and strict Accept negotiation."""

from __future__ import annotations

import pytest

from labkit.apiserver import discovery
from labkit.apiserver.resources import GROUPS, RESOURCES

KUBECTL_127_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
KUBECTL_133_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
#: the named groups this server serves itself (an APIService's group is listed only while served)
NAMED_GROUPS = [g for g in GROUPS if g and any(r.group == g and not r.aggregated for r in RESOURCES)]
METRICS = "metrics.k8s.io/v1beta1"


# --- negotiation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept, expected", [
    (KUBECTL_133_ACCEPT, "v2"),
    (KUBECTL_127_ACCEPT, "v2beta1"),                       # 1.27-1.29 cannot parse v2: never send it to them
    ("application/json, */*", None),                       # legacy fallback (per-group requests)
    ("application/json", None),
    ("*/*", None),
    (None, None),
    ("", None),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json", None),
    ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ("application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2"),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json", None),                            # no protobuf discovery here
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None),
    ("Application/JSON; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", "v2"),
])
def test_negotiation(accept, expected):
    assert discovery.discovery_media_type(accept) == expected


def test_content_type_names_the_version():
    for version, content_type in discovery.AGGREGATED_CONTENT_TYPE.items():
        # client-go picks its parser from exactly this header
        assert content_type == f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
        assert discovery.discovery_media_type(content_type) == version


# --- legacy documents ---------------------------------------------------------------------------------------


def test_api_versions():
    assert discovery.api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    }


def test_api_group_list_and_group():
    doc = discovery.api_group_list()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    assert [g["name"] for g in doc["groups"]] == NAMED_GROUPS
    apps = discovery.api_group("apps")
    assert apps == {"kind": "APIGroup", "apiVersion": "v1", "name": "apps",
                    "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
    assert {k: v for k, v in apps.items() if k not in ("kind", "apiVersion")} in doc["groups"]
    assert discovery.api_group("") is None
    assert discovery.api_group("policy") is None  # only pods/eviction's kind lives there


def test_unknown_group_version():
    assert discovery.api_resource_list("apps", "v2") is None
    assert discovery.api_resource_list("autoscaling", "v2beta2") is None
    assert discovery.api_resource_list("", "v2") is None


def _entries(group: str, version: str) -> dict[str, dict]:
    doc = discovery.api_resource_list(group, version, served=[METRICS])
    assert doc["kind"] == "APIResourceList" and doc["apiVersion"] == "v1"
    assert doc["groupVersion"] == (f"{group}/{version}" if group else version)
    names = [e["name"] for e in doc["resources"]]
    assert names == sorted(names) and len(set(names)) == len(names)
    return {e["name"]: e for e in doc["resources"]}


def test_core_resource_list():
    entries = _entries("", "v1")
    assert entries["pods"] == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"], "categories": ["all"],
    }
    assert entries["pods/log"] == {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                                   "verbs": ["get"]}
    assert entries["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                        "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}
    assert entries["pods/exec"]["kind"] == "PodExecOptions" and entries["pods/exec"]["verbs"] == ["create", "get"]
    assert entries["namespaces"]["namespaced"] is False and entries["namespaces"]["shortNames"] == ["ns"]
    assert "categories" not in entries["namespaces"] and "shortNames" not in entries["secrets"]


def test_scale_subresource_names_its_group():
    entries = _entries("apps", "v1")
    assert entries["deployments/scale"] == {"name": "deployments/scale", "singularName": "", "namespaced": True,
                                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                                            "verbs": ["get", "patch", "update"]}
    assert "group" not in entries["deployments/status"] and "group" not in entries["deployments"]


def test_a_group_of_two_versions_prefers_the_first():
    """autoscaling serves HorizontalPodAutoscalers in v2 (stored, preferred) and v1, as kube-apiserver does."""
    assert discovery.api_group("autoscaling")["versions"] == [
        {"groupVersion": "autoscaling/v2", "version": "v2"}, {"groupVersion": "autoscaling/v1", "version": "v1"}]
    assert discovery.api_group("autoscaling")["preferredVersion"]["version"] == "v2"
    for version in ("v2", "v1"):
        hpa = _entries("autoscaling", version)["horizontalpodautoscalers"]
        assert (hpa["shortNames"], hpa["categories"], hpa["kind"]) == (["hpa"], ["all"], "HorizontalPodAutoscaler")


def test_every_resource_and_subresource_is_listed():
    for r in RESOURCES:
        entries = _entries(r.group, r.version)
        main = entries[r.plural]
        assert (main["kind"], main["namespaced"], main["verbs"]) == (r.kind, r.namespaced, list(r.verbs))
        assert main["singularName"] == r.kind.lower()
        for sub in r.subresources:
            entry = entries[f"{r.plural}/{sub.name}"]
            assert (entry["kind"], entry["verbs"], entry["namespaced"]) == (sub.kind, list(sub.verbs), r.namespaced)
    review = _entries("authorization.k8s.io", "v1")["selfsubjectaccessreviews"]
    assert review["verbs"] == ["create"] and review["namespaced"] is False


# --- aggregated discovery -----------------------------------------------------------------------------------


def _to_legacy(resource: dict) -> list[dict]:
    """What client-go's aggregated_discovery.go makes of one APIResourceDiscovery (and drops)."""
    if resource.get("responseKind") is None or resource["scope"] not in ("Namespaced", "Cluster"):
        return []  # dropped silently by client-go
    namespaced = resource["scope"] == "Namespaced"

    def entry(name: str, singular: str, kind: dict, verbs: list[str], extra: dict) -> dict:
        e = {"name": name, "singularName": singular, "namespaced": namespaced}
        e |= {k: kind[k] for k in ("group", "version") if kind[k]}
        return e | {"kind": kind["kind"], "verbs": verbs} | extra

    extra = {k: resource[k] for k in ("shortNames", "categories") if k in resource}
    out = [entry(resource["resource"], resource["singularResource"], resource["responseKind"], resource["verbs"],
                 extra)]
    for sub in resource.get("subresources", []):
        assert sub.get("responseKind") is not None, sub
        out.append(entry(f"{resource['resource']}/{sub['subresource']}", "", sub["responseKind"], sub["verbs"], {}))
    return out


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
@pytest.mark.parametrize("core", [True, False])
def test_aggregated_matches_legacy(core, version):
    doc = discovery.aggregated_discovery(core=core, version=version)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}" and doc["metadata"] == {}
    groups = [""] if core else NAMED_GROUPS
    assert [item["metadata"].get("name", "") for item in doc["items"]] == groups
    for group, item in zip(groups, doc["items"]):
        for v in item["versions"]:
            assert v["freshness"] == "Current"
            legacy = discovery.api_resource_list(group, v["version"])["resources"]
            converted = [e for r in v["resources"] for e in _to_legacy(r)]
            assert sorted(converted, key=lambda e: e["name"]) == legacy


def test_aggregated_bodies_differ_only_in_api_version():
    v2 = discovery.aggregated_discovery(core=False, version="v2")
    v2beta1 = discovery.aggregated_discovery(core=False, version="v2beta1")
    assert v2 | {"apiVersion": None} == v2beta1 | {"apiVersion": None}


def test_aggregated_core_pods():
    (core,) = discovery.aggregated_discovery(core=True, version="v2")["items"]
    assert core["metadata"] == {}
    (v1,) = core["versions"]
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    assert (pods["scope"], pods["singularResource"], pods["shortNames"], pods["categories"]) == (
        "Namespaced", "pod", ["po"], ["all"])
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert set(subs) == {"status", "binding", "log", "exec", "attach", "portforward", "eviction"}
    assert subs["eviction"]["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    nodes = next(r for r in v1["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"


def test_unknown_aggregated_version():
    with pytest.raises(ValueError):
        discovery.aggregated_discovery(core=True, version="v3")


# --- an APIService's group ---------------------------------------------------------------------------------


def test_metrics_group_is_listed_only_while_served():
    assert "metrics.k8s.io" not in [g["name"] for g in discovery.api_group_list()["groups"]]
    assert discovery.api_group("metrics.k8s.io") is None and discovery.api_resource_list("metrics.k8s.io",
                                                                                          "v1beta1") is None
    groups = discovery.api_group_list(served=[METRICS])["groups"]
    assert groups[-1] == {"name": "metrics.k8s.io", "versions": [{"groupVersion": METRICS, "version": "v1beta1"}],
                          "preferredVersion": {"groupVersion": METRICS, "version": "v1beta1"}}
    entries = _entries("metrics.k8s.io", "v1beta1")
    assert {n: (e["kind"], e["namespaced"], e["verbs"]) for n, e in entries.items()} == {
        "nodes": ("NodeMetrics", False, ["get", "list"]), "pods": ("PodMetrics", True, ["get", "list"])}
    for version in ("v2", "v2beta1"):  # kubectl top finds the group through either document
        hidden = discovery.aggregated_discovery(core=False, version=version)["items"]
        shown = discovery.aggregated_discovery(core=False, version=version, served=[METRICS])["items"]
        assert [i["metadata"]["name"] for i in shown] == [i["metadata"]["name"] for i in hidden] + ["metrics.k8s.io"]
        assert [r["resource"] for r in shown[-1]["versions"][0]["resources"]] == ["nodes", "pods"]
