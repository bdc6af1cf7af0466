"""``KubeSchedulerConfiguration`` and ``Cluster.configure_scheduler``: kube's defaults, merge and error
messages (``apis/config/validation``, ``NewFit``, ``framework/runtime``), then a sim cluster whose
scheduler restarts with MostAllocated and a second profile."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from testkit import wait_for

from labkit import Cluster
from labkit.client import resource_path
from labkit.scheduler.config import DEFAULT_CONFIGURATION, InvalidConfiguration, load_configuration
from labkit.scheduler.plugins import DEFAULT_WEIGHTS

Obj = dict[str, Any]
HEAD = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"


def config(*profiles: Obj, **top: Any) -> Obj:
    return {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": list(profiles), **top}


def fit(strategy: Obj) -> Obj:
    return {"name": "NodeResourcesFit", "args": {"scoringStrategy": strategy}}


def test_yaml_defaults_and_score_merge() -> None:
    """No profile is kube's default one; ``score.enabled`` re-weights a default plugin, ``disabled``
    drops one (or all, with ``*``) from Score only."""
    assert load_configuration(HEAD) == DEFAULT_CONFIGURATION
    assert DEFAULT_CONFIGURATION.profiles[0].score_weights == DEFAULT_WEIGHTS
    c = load_configuration(HEAD + """profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      enabled: [{name: NodeResourcesFit, weight: 5}]
      disabled: [{name: ImageLocality}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 2}, {name: memory}]
""")
    [p] = c.profiles
    assert p.score_weights == {"NodeResourcesFit": 5, "TaintToleration": 3, "NodeAffinity": 2, "PodTopologySpread": 2,
                               "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1}
    assert (p.fit.type, p.fit.resources) == ("MostAllocated", (("cpu", 2), ("memory", 1)))
    fw = p.profile().framework()
    assert "ImageLocality" in [q.name for q in fw.filter_plugins + fw.score_plugins + fw.plugins]
    assert "ImageLocality" not in [q.name for q in fw.score_plugins] and fw.weights["NodeResourcesFit"] == 5
    only = load_configuration(config({"plugins": {"score": {"disabled": [{"name": "*"}],
                                                            "enabled": [{"name": "NodeResourcesFit"}]}}}))
    assert only.profiles[0].score_weights == {"NodeResourcesFit": 1}
    assert [q.name for q in only.profiles[0].profile().framework().score_plugins] == ["NodeResourcesFit"]


@pytest.mark.parametrize("cfg,message", [
    (config({"schedulerName": "a"}, {}), "profiles[1].schedulerName: Required value"),
    (config({"schedulerName": "a"}, {"schedulerName": "a"}),
     'profiles[1].schedulerName: Duplicate value: "profiles[0].schedulerName"'),
    (config({}, percentageOfNodesToScore=101),
     "percentageOfNodesToScore: Invalid value: 101: not in valid range [0-100]"),
    (config({"pluginConfig": [fit({"type": "MostAllocated"}), fit({"type": "MostAllocated"})]}),
     'profiles[0].pluginConfig[1]: Duplicate value: "NodeResourcesFit"'),
    (config({"schedulerName": ""}, percentageOfNodesToScore=-1),
     "[profiles[0].schedulerName: Required value, percentageOfNodesToScore: Invalid value: -1: "
     "not in valid range [0-100]]"),
    (config({"plugins": {"score": {"enabled": [{"name": "Nope"}]}}}),
     'initializing profiles: creating profile for scheduler name default-scheduler: ScorePlugin "Nope" does not exist'),
    (config({"plugins": {"score": {"enabled": [{"name": "NodeName"}]}}}),
     "initializing profiles: creating profile for scheduler name default-scheduler: "
     'plugin "NodeName" does not extend ScorePlugin plugin'),
    (config({"pluginConfig": [fit({"type": "Fullest"})]}),
     'initializing profiles: creating profile for scheduler name default-scheduler: initializing plugin '
     '"NodeResourcesFit": scoringStrategy.type: Unsupported value: "Fullest": supported values: '
     '"LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"'),
    (config({"pluginConfig": [fit({"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 101}]})]}),
     'initializing plugin "NodeResourcesFit": scoringStrategy.resources[0].weight: Invalid value: 101: '
     "resource weight of cpu not in valid range (0, 100]"),
    (config({"pluginConfig": [fit({"type": "RequestedToCapacityRatio"})]}),
     'initializing plugin "NodeResourcesFit": scoringStrategy.requestedToCapacityRatio: Required value: '
     "must be specified when type is RequestedToCapacityRatio"),
    (config({"pluginConfig": [fit({"type": "LeastAllocated", "requestedToCapacityRatio": {"shape": []}})]}),
     'initializing plugin "NodeResourcesFit": scoringStrategy.requestedToCapacityRatio: Forbidden: '
     "must be nil when type is not RequestedToCapacityRatio"),
    (config({"pluginConfig": [fit({"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {
        "shape": [{"utilization": 50, "score": 11}, {"utilization": 40, "score": 0}]}})]}),
     'initializing plugin "NodeResourcesFit": [scoringStrategy.requestedToCapacityRatio.shape[1].utilization: '
     "Invalid value: 40: values must be sorted in increasing order, "
     "scoringStrategy.requestedToCapacityRatio.shape[0].score: Invalid value: 11: not in valid range [0, 10]]"),
])
def test_refused_with_kubes_messages(cfg: Obj, message: str) -> None:
    with pytest.raises(InvalidConfiguration) as e:
        load_configuration(cfg)
    assert message in str(e.value)


def test_what_labkit_does_not_apply_is_refused_plainly() -> None:
    with pytest.raises(InvalidConfiguration, match="labkit applies plugins.score only, not plugins.filter"):
        load_configuration(config({"plugins": {"filter": {"disabled": [{"name": "*"}]}}}))
    with pytest.raises(InvalidConfiguration, match='no kind "KubeSchedulerConfiguration" is registered for version '
                                                   '"kubescheduler.config.k8s.io/v1beta3"'):
        load_configuration({**config(), "apiVersion": "kubescheduler.config.k8s.io/v1beta3"})


# --- on a cluster ----------------------------------------------------------------------------------

PACKING = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
- schedulerName: spread
"""


def pod(name: str, scheduler: str = "") -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "nginx",
                                 "resources": {"requests": {"cpu": "200m", "memory": "400Mi"}}}]}
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_configure_scheduler_spread_then_pack_and_a_second_profile() -> None:
    """The same 30 pods (200m of a node's 2 cpus) spread evenly over 5 nodes with the default
    LeastAllocated, and fill 3 nodes with MostAllocated after the scheduler restarts with it; the
    second profile, picked by ``schedulerName``, spreads; a pod naming no profile stays Pending, unseen."""
    with Cluster(nodes=5, runtime="sim", seed=3, metrics_server=False) as c:
        client = c.admin()
        pods_path = resource_path("v1", "pods", namespace="default")

        def run_30(prefix: str) -> list[int]:
            for i in range(30):
                c.run(client.create(pods_path, pod(f"{prefix}-{i}")))
            return wait_for(lambda: distribution(prefix), what=f"30 {prefix} pods bound")

        def nodes_of(prefix: str) -> list[str]:
            return [p["spec"].get("nodeName") for p in c.run(client.get(pods_path))["items"]
                    if p["metadata"]["name"].startswith(prefix + "-")]

        def distribution(prefix: str) -> list[int] | None:
            nodes = nodes_of(prefix)
            if len(nodes) < 30 or not all(nodes):
                return None
            counts = collections.Counter(nodes)
            return sorted((counts[n] for n in c.node_names), reverse=True)

        assert run_30("spread") == [6, 6, 6, 6, 6]
        c.run(client.delete(pods_path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}))
        wait_for(lambda: not c.run(client.get(pods_path))["items"], what="the pods gone")
        before = c.scheduler
        c.pause()
        applied = c.configure_scheduler(PACKING)
        assert c.scheduler is not before and set(c.scheduler.profiles) == {"default-scheduler", "spread"}
        assert all(g.paused for g in c.scheduler.gates)  # a restart while paused starts held
        c.resume()
        assert "default-scheduler: NodeResourcesFit MostAllocated (cpu 1, memory 1)" in applied.describe()
        c.run(client.create(pods_path, pod("orphan", scheduler="nobody")))
        assert run_30("packed") == [10, 10, 10, 0, 0]
        for i in range(2):
            c.run(client.create(pods_path, pod(f"second-{i}", scheduler="spread")))
        full = set(nodes_of("packed"))
        second = wait_for(lambda: all(nodes_of("second")) and nodes_of("second"))
        assert len(set(second)) == 2 and not set(second) & full  # LeastAllocated: one on each empty node
        orphan = c.run(client.get(resource_path("v1", "pods", namespace="default", name="orphan")))
        assert orphan["status"]["phase"] == "Pending" and not orphan["spec"].get("nodeName")
        events = c.run(client.get(resource_path("v1", "events", namespace="default")))["items"]
        assert not [e for e in events if e["involvedObject"]["name"] == "orphan"]
        assert "restarted with a new configuration" in c.story("lease/kube-scheduler", namespace="kube-system").text()
        with pytest.raises(InvalidConfiguration):
            c.configure_scheduler(config({"schedulerName": ""}))
        assert c.scheduler_configuration is applied
