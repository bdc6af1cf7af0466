"""The EndpointSlice controller (``pkg/controller/endpointslice``, reconciler in ``k8s.io/endpointslice``).

One IPv4 slice per Service named ``<service>-<suffix>`` (``generateName``), labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
endpointslice-controller.k8s.io``, owned by the Service. Each selected pod with an IP is an endpoint
with ``conditions`` ready / serving / terminating, ``hostname`` (a pod whose ``subdomain`` is the
Service), ``nodeName`` and ``targetRef``; ports come from the
Service with ``targetPort`` resolved as the Endpoints controller does; a Service with no endpoints has
one placeholder slice without endpoints or ports. ``ready`` counts ``publishNotReadyAddresses``,
``serving`` is the pod's readiness alone (``podToEndpoint``). As the controller's
``endpointSliceTracker`` does, it remembers the last slice it wrote per Service and does not act on a
cache that has not seen that write yet (it looks again shortly), so a quick second sync never
creates a second slice; a managed slice of the Service other than the one it keeps (a stray
placeholder) is deleted. Left out: splitting at 100 endpoints per slice, topology hints and zones,
IPv6, endpoints of terminating pods.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.podutil import is_pod_ready
from labkit.client import resource_path
from labkit.controllers.base import Result
from labkit.controllers.endpoints import (
    ServiceBackedController,
    endpoint_ports,
    is_serving,
    pod_hostname,
    service_pods,
)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
#: how soon a sync that met a cache behind its own last write looks again (seconds)
STALE_CACHE_RETRY = 0.05


class EndpointSliceController(ServiceBackedController):
    name = "endpointslice-controller"
    resource = "services"

    def _slices(self, service_key: str) -> list[Obj]:
        ns, name = service_key.split("/", 1)
        return [s for s in self.informer("discovery.k8s.io/v1", "endpointslices").list(ns)
                if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
                and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY]

    def register(self) -> None:
        super().register()
        #: Service key -> (name, resourceVersion) of the slice this controller wrote last (the tracker)
        self._written: dict[str, tuple[str, int]] = {}
        self.informer("discovery.k8s.io/v1", "endpointslices").add_handlers(on_delete=self._slice_deleted)

    def _slice_deleted(self, s: Obj) -> None:
        key = f"{s['metadata']['namespace']}/{(s['metadata'].get('labels') or {}).get(SERVICE_NAME_LABEL, '')}"
        if self._written.get(key, ("",))[0] == s["metadata"]["name"]:
            del self._written[key]
        self.queue.add(key)

    def _stale(self, key: str, slices: list[Obj]) -> bool:
        """``StaleSlices``: the cache lacks the slice last written for this Service, or has an older version."""
        if key not in self._written:
            return False
        name, version = self._written[key]
        cached = next((s for s in slices if s["metadata"]["name"] == name), None)
        return cached is None or int(cached["metadata"].get("resourceVersion") or 0) < version

    async def sync(self, key: str) -> Result | None:
        ns, name = key.split("/", 1)
        service = self.services.get(key)
        slices = self._slices(key)
        if self._stale(key, slices):
            return Result(requeue_after=STALE_CACHE_RETRY)
        if service is None or not service["spec"].get("selector"):
            self._written.pop(key, None)
            for s in slices:  # the garbage collector would too (ownerReference); do not wait for it
                await self.delete_if_present(resource_path("discovery.k8s.io/v1", "endpointslices", namespace=ns,
                                                           name=s["metadata"]["name"]))
            return None
        endpoints, ports = [], None
        for pod in sorted(service_pods(service, self.pods), key=lambda p: p["metadata"]["name"]):
            ports = ports or endpoint_ports(service, pod)
            # podToEndpoint: serving is the pod's readiness; ready also counts publishNotReadyAddresses
            endpoint = {"addresses": [pod["status"]["podIP"]],
                        "conditions": {"ready": is_serving(service, pod), "serving": is_pod_ready(pod),
                                       "terminating": False},
                        **({"hostname": hostname} if (hostname := pod_hostname(service, pod)) else {}),
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                      "uid": pod["metadata"]["uid"]}}
            if pod["spec"].get("nodeName"):
                endpoint["nodeName"] = pod["spec"]["nodeName"]
            endpoints.append(endpoint)
        if ports is None:  # no pods: the reconciler's placeholder slice, with no endpoints and no ports
            ports = []
        labels = {**(service["metadata"].get("labels") or {}), SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
        body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{name}-", "namespace": ns, "labels": labels,
                             "ownerReferences": [new_controller_ref(service, kind="Service", api_version="v1")]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
        uid = service["metadata"]["uid"]
        current = next((s for s in slices if (get_controller_of(s) or {}).get("uid") == uid), None)
        for stray in [s for s in slices if s is not current]:
            await self.delete_if_present(resource_path("discovery.k8s.io/v1", "endpointslices", namespace=ns,
                                                       name=stray["metadata"]["name"]))
        written = await self.put("discovery.k8s.io/v1", "endpointslices", ns,
                                 current["metadata"]["name"] if current else "", body, current)
        if written is not None:
            self._written[key] = (written["metadata"]["name"], int(written["metadata"]["resourceVersion"]))
        return None
