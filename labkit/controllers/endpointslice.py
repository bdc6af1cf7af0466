"""The EndpointSlice controller (``pkg/controller/endpointslice``, reconciler in ``k8s.io/endpointslice``).

One IPv4 slice per Service named ``<service>-<suffix>`` (``generateName``), labelled
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by:
endpointslice-controller.k8s.io``, owned by the Service. Each selected pod with an IP is an endpoint
with ``conditions`` ready / serving / terminating, ``hostname`` (a pod whose ``subdomain`` is the
Service), ``nodeName`` and ``targetRef``; ports come from the
Service with ``targetPort`` resolved as the Endpoints controller does; a Service with no endpoints has
one placeholder slice without endpoints or ports. ``ready`` counts ``publishNotReadyAddresses``,
``serving`` is the pod's readiness alone (``podToEndpoint``). Left out: splitting at 100 endpoints per
slice, topology hints and zones, IPv6, endpoints of terminating pods.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj, get_controller_of, new_controller_ref
from labkit.apimachinery.podutil import is_pod_ready
from labkit.client import resource_path
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
        self.informer("discovery.k8s.io/v1", "endpointslices").add_handlers(
            on_delete=lambda s: self.queue.add(
                f"{s['metadata']['namespace']}/{(s['metadata'].get('labels') or {}).get(SERVICE_NAME_LABEL, '')}"))

    async def sync(self, key: str) -> None:
        ns, name = key.split("/", 1)
        service = self.services.get(key)
        slices = self._slices(key)
        if service is None or not service["spec"].get("selector"):
            for s in slices:  # the garbage collector would too (ownerReference); do not wait for it
                await self.delete_if_present(resource_path("discovery.k8s.io/v1", "endpointslices", namespace=ns,
                                                           name=s["metadata"]["name"]))
            return
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
        await self.put("discovery.k8s.io/v1", "endpointslices", ns, current["metadata"]["name"] if current else "",
                       body, current)
