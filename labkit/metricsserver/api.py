"""metrics-server's ``metrics.k8s.io/v1beta1``: ``nodes`` (NodeMetrics) and ``pods`` (PodMetrics).

Mirrors metrics-server's ``pkg/api`` (``node.go``, ``pod.go``, ``table.go``): get and list over the node
and pod listers with label and ``metadata.*`` field selectors, items sorted as the API server sorts them,
a node or pod without two points left out of a list, and a get of one answered 404 with its
``nodemetrics.metrics.k8s.io`` / ``podmetrics.metrics.k8s.io`` name (a node or pod that does not exist
at all is the listers' own 404, ``node "x" not found`` / ``pods "x" not found``). The Table has a column
per resource (``cpu``, ``memory``) and ``Window``, and none at all when nothing is listed. Implements
:class:`labkit.apiserver.aggregator.APIServiceBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from labkit.apimachinery.fields import parse_field_selector
from labkit.apimachinery.labels import SelectorError, parse_label_selector
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.resource import format_quantity, parse_quantity
from labkit.apiserver import errors
from labkit.apiserver.request import RequestInfo
from labkit.informer import Informer
from labkit.metricsserver.storage import Storage

GROUP_VERSION = "metrics.k8s.io/v1beta1"
_QUANTITY_COLUMN = {"type": "string", "format": "quantity", "description": "", "priority": 0}


class MetricsAPI:
    """The REST side of metrics-server, over its node and pod informers and its storage."""

    def __init__(self, storage: Storage, nodes: Informer, pods: Informer) -> None:
        self.storage, self.nodes, self.pods = storage, nodes, pods

    def serve(self, info: RequestInfo, query: Mapping[str, str], table: bool) -> Obj:
        if info.plural == "nodes":
            items = self._items(self.nodes, "", info.name, query, self.storage.node_metrics, "node")
            not_found = "nodemetrics"
        else:
            items = self._items(self.pods, info.namespace, info.name, query, self.storage.pod_metrics, "pods")
            not_found = "podmetrics"
        if info.name and not items:
            name = f"{info.namespace}/{info.name}" if info.namespace else info.name
            raise errors.not_found(not_found, name, "metrics.k8s.io")
        kind = "NodeMetrics" if info.plural == "nodes" else "PodMetrics"
        if table:
            return _table(items)
        if info.name:
            return items[0]
        return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}

    @staticmethod
    def _items(informer: Informer, namespace: str, name: str, query: Mapping[str, str],
               metrics: Callable[[Obj], Obj | None], lister_resource: str) -> list[Obj]:
        if name:
            obj = informer.get(f"{namespace}/{name}" if namespace else name)
            if obj is None:
                raise errors.not_found(lister_resource, name)
            objs = [obj]
        else:
            try:
                labels = parse_label_selector(query.get("labelSelector", ""))
                fields = parse_field_selector(query.get("fieldSelector", ""))
            except SelectorError as e:
                raise errors.bad_request(str(e)) from None
            objs = [o for o in informer.list(namespace or None)
                    if labels.matches(o["metadata"].get("labels"))
                    and fields.matches({"metadata.name": o["metadata"]["name"],
                                        "metadata.namespace": o["metadata"].get("namespace", "")})]
            objs.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return [m for o in objs if (m := metrics(o)) is not None]


def _usage(item: Obj) -> dict[str, str]:
    """A node's usage, or a pod's summed over its containers."""
    if "usage" in item:
        return dict(item["usage"])
    total: dict[str, str] = {}
    for container in item["containers"]:
        for resource, value in container["usage"].items():
            total[resource] = format_quantity(parse_quantity(value) + parse_quantity(total[resource])) \
                if resource in total else value
    return total


def _table(items: list[Obj]) -> Obj:
    """metrics-server's Table: Name, one quantity column per resource, Window; rows carry the object."""
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "rows": []}
    names: list[str] = []
    for item in items:
        usage = _usage(item)
        if not names:
            names = sorted(usage)
            table["columnDefinitions"] = [
                {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource",
                 "priority": 0},
                *({"name": n, **_QUANTITY_COLUMN} for n in names),
                {"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0}]
        table["rows"].append({"cells": [item["metadata"]["name"], *(usage.get(n, "0") for n in names),
                                        item["window"]], "object": item})
    table.setdefault("columnDefinitions", [])
    return table
