"""metrics-server's storage and API on the sim model and a fake clock: the CPU rate between two scrapes
to the nanocore, memory in binary units, the window, what is shown before two scrapes, and the Status
of a get that has no metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from labkit.apiserver import errors
from labkit.apiserver.request import parse
from labkit.informer import Informer
from labkit.kubelet.resourcemetrics import ResourceMetrics
from labkit.kubelet.runtime import ContainerConfig, PodSandboxConfig
from labkit.kubelet.runtime.sim import ANNOTATION_CPU, ANNOTATION_MEMORY, SimRuntime
from labkit.metricsserver.api import MetricsAPI
from labkit.metricsserver.decode import decode_batch
from labkit.metricsserver.storage import Storage

T0 = 1_700_000_000.0
NODE = {"metadata": {"name": "node-1", "labels": {"zone": "a"}}}
POD = {"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}}


class Setup:
    """One sim node and a metrics-server that scrapes it when told, all on one fake clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution: float = 15.0) -> None:
        self.loop, self.now = loop, T0
        self.runtime = SimRuntime(node="node-1", start_delay=0, clock=lambda: self.now)
        self.kubelet = ResourceMetrics(self.runtime, clock=lambda: self.now)
        self.storage = Storage(resolution)
        nodes, pods = Informer(None, "v1", "nodes"), Informer(None, "v1", "pods")  # type: ignore[arg-type]
        nodes.cache["node-1"], pods.cache["shop/web"] = NODE, POD
        pods.cache["shop/idle"] = {"metadata": {"name": "idle", "namespace": "shop"}}  # never scraped
        self.api = MetricsAPI(self.storage, nodes, pods)

    def start(self, **annotations: str) -> None:
        async def run() -> None:
            sandbox = PodSandboxConfig(name="web", namespace="shop", uid="u1", node="node-1", ip="10.0.0.2",
                                       hostname="web", annotations=annotations)
            sid = await self.runtime.run_pod_sandbox(sandbox)
            for name in ("app", "proxy"):
                await self.runtime.start_container(
                    await self.runtime.create_container(sid, ContainerConfig(name=name, image="x"), sandbox))
            await asyncio.sleep(0)
        self.loop.run_until_complete(run())

    def scrape(self, after: float) -> None:
        self.now += after
        text = self.loop.run_until_complete(self.kubelet.collect())
        self.storage.store(decode_batch(text, round(self.now * 1000), "node-1"))

    def get(self, path: str, **query: str) -> Any:
        return self.api.serve(parse("GET", path, query), query, table=query.pop("table", "") == "yes")


@pytest.fixture
def setup() -> Iterator[Setup]:
    loop = asyncio.new_event_loop()
    yield Setup(loop)
    loop.close()


def test_rate_between_two_scrapes(setup: Setup) -> None:
    setup.start(**{ANNOTATION_CPU: "250m", ANNOTATION_MEMORY: "64Mi"})
    setup.scrape(after=1)
    assert setup.storage.node_metrics(NODE) is None and setup.storage.pod_metrics(POD) is None  # one point only
    setup.runtime.set_usage("shop", "web", container="app", cpu="1")  # from the first scrape on
    setup.scrape(after=15)
    setup.scrape(after=0)  # not newer: the stored points stay
    pod = setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web")
    assert pod["kind"] == "PodMetrics" and pod["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert pod["metadata"]["name"] == "web" and pod["metadata"]["labels"] == {"app": "web"}
    assert (pod["timestamp"], pod["window"]) == ("2023-11-14T22:13:36Z", "15s")
    assert pod["containers"] == [{"name": "app", "usage": {"cpu": "1", "memory": "64Mi"}},
                                 {"name": "proxy", "usage": {"cpu": "250m", "memory": "64Mi"}}]
    node = setup.get("/apis/metrics.k8s.io/v1beta1/nodes/node-1")
    assert node["usage"] == {"cpu": "1300m", "memory": "384Mi"} and node["window"] == "15s"  # 50m, 256Mi baseline


def test_rate_is_in_nanocores(setup: Setup) -> None:
    setup.start()
    setup.scrape(after=1)
    setup.scrape(after=3)
    setup.runtime.set_usage("shop", "web", cpu="2")
    setup.now += 1
    setup.runtime.set_usage("shop", "web", cpu="1")
    setup.scrape(after=2)  # 2 core-s, then 2 core-s, over the last 3 s
    pod = setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web")
    assert pod["containers"][0]["usage"]["cpu"] == "1333333333n" and pod["window"] == "3s"


def test_list_selectors_and_table(setup: Setup) -> None:
    setup.start(**{ANNOTATION_MEMORY: "1000Ki"})
    setup.scrape(after=1)
    setup.scrape(after=15)
    listed = setup.get("/apis/metrics.k8s.io/v1beta1/pods", labelSelector="app=web")
    assert listed["kind"] == "PodMetricsList" and [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    assert setup.get("/apis/metrics.k8s.io/v1beta1/pods", labelSelector="app=db")["items"] == []
    assert setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods")["items"] == []
    assert [n["metadata"]["name"] for n in setup.get("/apis/metrics.k8s.io/v1beta1/nodes",
                                                     fieldSelector="metadata.name=node-1")["items"]] == ["node-1"]
    table = setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods", table="yes")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    assert table["rows"][0]["cells"] == ["web", "2m", "2000Ki", "15s"]  # the two containers summed
    assert table["rows"][0]["object"]["kind"] == "PodMetrics"


def test_fresh_container_shows_after_one_scrape(setup: Setup) -> None:
    setup.start(**{ANNOTATION_CPU: "100m"})
    setup.scrape(after=12)  # started 12 s ago: at least 10 s, less than one resolution
    pod = setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web")
    assert pod["containers"][0]["usage"]["cpu"] == "100m" and pod["window"] == "12s"
    assert setup.storage.node_metrics(NODE) is None  # a node always needs two scrapes


def test_get_without_metrics_is_not_found(setup: Setup) -> None:
    setup.start()
    setup.scrape(after=1)
    with pytest.raises(errors.ApiError) as e:
        setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web")
    assert (e.value.code, e.value.message) == (404, 'podmetrics.metrics.k8s.io "shop/web" not found')
    with pytest.raises(errors.ApiError) as e:
        setup.get("/apis/metrics.k8s.io/v1beta1/nodes/node-1")
    assert e.value.message == 'nodemetrics.metrics.k8s.io "node-1" not found'
    with pytest.raises(errors.ApiError) as e:
        setup.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/gone")
    assert e.value.message == 'pods "gone" not found'  # the pod lister's own answer
    assert setup.get("/apis/metrics.k8s.io/v1beta1/pods")["items"] == []  # kubectl: metrics not available yet
    assert setup.get("/apis/metrics.k8s.io/v1beta1/nodes", table="yes")["rows"] == []
