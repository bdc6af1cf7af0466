"""Reading the resource metrics API (``pkg/controller/podautoscaler/metrics``: ``resource_client.go``).

The controller lists ``PodMetrics`` of ``metrics.k8s.io/v1beta1`` through the API server, as kube's
does, with the target's selector, and sums each pod's containers (or takes the one container of a
ContainerResource metric). A pod with a container that has no sample for the resource has no sample.
When the API server serves no metrics API, the error reads as client-go's for a plain 404 or 503.
:class:`MetricsSource` is what the controller needs; unit tests give it a fake one.

Left out: the custom and external metrics APIs (``custom.metrics.k8s.io``, ``external.metrics.k8s.io``).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from labkit.apimachinery.resource import QuantityError, parse_quantity
from labkit.apimachinery.timeutil import parse_duration, parse_time
from labkit.client import APIStatusError, Client
from labkit.controllers.podautoscaler.replica_calculator import PodMetric

PODMETRICS_PATH = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
#: client-go's words for an error response that is not a Status (kube-apiserver's 404 and 503 for an
#: API group nobody serves are plain text)
_PLAIN_ERRORS = {404: "the server could not find the requested resource",
                 503: "the server is currently unable to handle the request"}


class MetricsError(Exception):
    """The metrics could not be read; the message is the controller's."""


class MetricsSource(Protocol):
    async def resource_metric(self, resource: str, namespace: str, selector: str,
                              container: str = "") -> tuple[dict[str, PodMetric], dt.datetime]:
        """Each pod's usage of ``resource`` (milli-units) and the time of the samples."""
        ...


def pod_metrics(items: list[dict], resource: str, container: str = "") -> dict[str, PodMetric]:
    """``getPodMetrics``: one sample per pod whose containers all have one."""
    out = {}
    for item in items:
        containers = [c for c in item.get("containers") or [] if not container or c.get("name") == container]
        try:
            values = [parse_quantity(c["usage"][resource]).milli_value() for c in containers]
        except (KeyError, TypeError, QuantityError):
            continue
        if not containers:
            continue
        when = parse_time(item.get("timestamp")) or dt.datetime.min.replace(tzinfo=dt.UTC)
        out[item["metadata"]["name"]] = PodMetric(sum(values), when, parse_duration(item.get("window", "")))
    return out


class ResourceMetricsClient:
    """``resourceMetricsClient`` over the API server."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def resource_metric(self, resource: str, namespace: str, selector: str,
                              container: str = "") -> tuple[dict[str, PodMetric], dt.datetime]:
        try:
            listed = await self.client.get(PODMETRICS_PATH.format(namespace=namespace), labelSelector=selector)
        except APIStatusError as e:
            message = e.status.get("message") if e.status.get("kind") == "Status" and e.code not in _PLAIN_ERRORS \
                else f"{_PLAIN_ERRORS.get(e.code, e.status.get('message', ''))} (get pods.metrics.k8s.io)"
            raise MetricsError(f"unable to fetch metrics from resource metrics API: {message}") from None
        items = listed.get("items") or []
        if not items:
            raise MetricsError("no metrics returned from resource metrics API")
        timestamp = parse_time(items[0].get("timestamp")) or dt.datetime.min.replace(tzinfo=dt.UTC)
        return pod_metrics(items, resource, container), timestamp
