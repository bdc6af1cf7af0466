"""The metrics-server component: scrape every node's kubelet each ``--metric-resolution``.

Mirrors metrics-server's ``pkg/server`` (``tick``: one scrape of every node, stored as one batch) and
``pkg/scraper`` (``Scrape``: the nodes from the node lister, each kubelet asked at once, a node that
fails or is slow left out of that batch; the timeout is 90% of the resolution). Its identity is the
``kube-system/metrics-server`` ServiceAccount, whose ClusterRole lets it watch nodes and pods
(:mod:`.deploy`). Left out: ``--kubelet-preferred-address-types`` and TLS (kubelets are reached
in-process), the node selector, its health checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from labkit.apiserver.streaming.kubelet_api import KubeletAPI
from labkit.client import Client
from labkit.component import Component, RepeatedFailure
from labkit.informer import Informer
from labkit.metricsserver.api import MetricsAPI
from labkit.metricsserver.decode import MetricsBatch, decode_batch
from labkit.metricsserver.storage import Storage

log = logging.getLogger(__name__)
#: metrics-server's manifest sets 15 s (its code defaults to 60 s and refuses less than 10 s)
MANIFEST_METRIC_RESOLUTION = 15.0
#: labkit's default is a third of that, below what metrics-server accepts: a pod needs two points, so
#: ``kubectl top`` shows it 5 to 10 s after it starts instead of 10 to 25 s; on a labkit cluster a
#: scrape round costs about a millisecond per ten pods (benchmarks/metrics.py)
METRIC_RESOLUTION = 5.0


class MetricsServer(Component):
    """metrics-server: ``kubelets`` maps node names to their kubelet's API; ``clock`` is unix seconds."""

    name = "metrics-server"

    def __init__(self, client: Client, kubelets: Mapping[str, KubeletAPI], *,
                 metric_resolution: float = METRIC_RESOLUTION, clock: Callable[[], float] = time.time) -> None:
        super().__init__(client)
        if metric_resolution <= 0:
            raise ValueError("metric_resolution must be > 0 seconds")
        self.kubelets = kubelets
        self.resolution = metric_resolution
        self.clock = clock
        self.storage = Storage(metric_resolution)
        self.nodes = Informer(client, "v1", "nodes")
        self.pods = Informer(client, "v1", "pods")
        self.api = MetricsAPI(self.storage, self.nodes, self.pods)
        self.scrapes = 0  # how many rounds were stored
        self._failures: dict[str, RepeatedFailure] = {}

    async def run(self) -> None:
        self.spawn(self.nodes.run(), "node-informer")
        self.spawn(self.pods.run(), "pod-informer")
        await asyncio.gather(self.nodes.synced.wait(), self.pods.synced.wait())
        self.spawn(self._loop(), "scrape")

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            await self.scrape()
            await asyncio.sleep(max(self.resolution - (time.monotonic() - started), 0))

    async def scrape(self) -> MetricsBatch:
        """One round: every node's kubelet at once, stored as one batch; returns the batch."""
        names = [n["metadata"]["name"] for n in self.nodes.list() if n["metadata"]["name"] in self.kubelets]
        results = await asyncio.gather(*(self._scrape_node(name) for name in names))
        batch = MetricsBatch()
        for result in results:
            if result is not None:
                batch.nodes.update(result.nodes)
                batch.pods.update(result.pods)
        self.storage.store(batch)
        self.scrapes += 1
        return batch

    async def _scrape_node(self, node: str) -> MetricsBatch | None:
        failures = self._failures.setdefault(node, RepeatedFailure(log, f"{self.name}: scraping node {node}"))
        at = round(self.clock() * 1000)
        try:
            text = await asyncio.wait_for(self.kubelets[node].metrics_resource(), self.resolution * 0.9)
        except Exception as e:  # noqa: BLE001 - one node's failure leaves it out of this round only
            failures.failed(e)
            return None
        failures.succeeded()
        return decode_batch(text, at, node)
