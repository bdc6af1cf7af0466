"""The Endpoints controller: a Service's ready and not-ready pod addresses (``pkg/controller/endpoint``).

For a Service with a selector, every pod it matches that has an IP becomes an address: under
``addresses`` when Ready (or when the Service sets ``publishNotReadyAddresses``), else under
``notReadyAddresses``; terminating and finished (Succeeded, Failed) pods are left out. Addresses are
sorted by IP, as ``RepackSubsets`` does. Each Service port resolves its ``targetPort``
(a number, or a container port name looked up per pod, ``podutil.FindPort``). Pods are grouped into
subsets by their resolved ports. An address has the pod's ``hostname`` when the pod's ``subdomain`` is
the Service. Left out: the ``endpoints.kubernetes.io/over-capacity`` truncation
at 1000 addresses, and the ``last-change-trigger-time`` annotation.
"""

from __future__ import annotations

from typing import Any

from labkit.apimachinery.labels import selector_from_validated_set
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.podutil import is_pod_ready
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller
from labkit.informer import Informer


def find_port(pod: Obj, target: Any, protocol: str) -> int | None:
    """``podutil.FindPort``: a number as is; a name from the pod's container ports."""
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return p["containerPort"]
    return None


def service_pods(service: Obj, pods: Informer) -> list[Obj]:
    """Pods the Service selects that have an IP, are not terminating and have not finished
    (``ShouldPodBeInEndpoints``: a Succeeded or Failed pod is never an endpoint)."""
    selector = service["spec"].get("selector")
    if not selector:
        return []
    match = selector_from_validated_set(selector)
    return [p for p in pods.list(service["metadata"]["namespace"])
            if match.matches(p["metadata"].get("labels") or {}) and p.get("status", {}).get("podIP")
            and not p["metadata"].get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The pod's resolved ports for every Service port (ports that do not resolve are skipped)."""
    ports = []
    for sp in service["spec"].get("ports") or []:
        protocol = sp.get("protocol", "TCP")
        number = find_port(pod, sp.get("targetPort", sp.get("port")), protocol)
        if number is not None:
            ports.append({**({"name": sp["name"]} if sp.get("name") else {}), "port": number, "protocol": protocol})
    return ports


def pod_hostname(service: Obj, pod: Obj) -> str:
    """The endpoint's ``hostname``: the pod's, when its ``subdomain`` is this Service (a StatefulSet's pods
    and their headless Service), so the cluster DNS answers ``<hostname>.<service>.<namespace>.svc``."""
    spec = pod.get("spec", {})
    return spec.get("hostname", "") if spec.get("subdomain") == service["metadata"]["name"] else ""


def is_serving(service: Obj, pod: Obj) -> bool:
    return service["spec"].get("publishNotReadyAddresses", False) or is_pod_ready(pod)


class ServiceBackedController(Controller):
    """Shared wiring: a Service key is synced on Service changes and on changes of pods it selects."""

    @property
    def services(self) -> Informer:
        return self.informer("v1", "services")

    @property
    def pods(self) -> Informer:
        return self.informer("v1", "pods")

    def register(self) -> None:
        self.services.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(old)
        self._pod_changed(new)

    def _pod_changed(self, pod: Obj) -> None:
        labels = pod["metadata"].get("labels") or {}
        for svc in self.services.list(pod["metadata"]["namespace"]):
            selector = svc["spec"].get("selector")
            if selector and selector_from_validated_set(selector).matches(labels):
                self.enqueue(svc)

    async def put(self, api_version: str, plural: str, namespace: str, name: str, body: Obj,
                  current: Obj | None) -> Obj | None:
        """Create, or update when the content changed; the object written (None: nothing to write)."""
        if current is None:
            return await self.client.create(resource_path(api_version, plural, namespace=namespace), body)
        merged = {**current, **{k: v for k, v in body.items() if k != "metadata"},
                  "metadata": {**current["metadata"], "labels": body["metadata"].get("labels", {})}}
        if merged != current:
            return await self.client.update(resource_path(api_version, plural, namespace=namespace, name=name), merged)
        return None

    async def delete_if_present(self, path: str) -> None:
        try:
            await self.client.delete(path)
        except APIStatusError as e:
            if e.code != 404:
                raise


class EndpointsController(ServiceBackedController):
    name = "endpoint-controller"
    resource = "services"

    async def sync(self, key: str) -> None:
        ns, name = key.split("/", 1)
        service = self.services.get(key)
        current = self.informer("v1", "endpoints").get(key)
        if service is None:
            if current is not None:
                await self.delete_if_present(resource_path("v1", "endpoints", namespace=ns, name=name))
            return
        if not service["spec"].get("selector"):
            return  # a Service without selector: its Endpoints are the user's
        subsets: dict[str, Obj] = {}
        for pod in sorted(service_pods(service, self.pods), key=lambda p: p["metadata"]["name"]):
            ports = endpoint_ports(service, pod)
            address = {"ip": pod["status"]["podIP"], "hostname": pod_hostname(service, pod),
                       "nodeName": pod["spec"].get("nodeName"),
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                     "uid": pod["metadata"]["uid"]}}
            for unset in [k for k in ("hostname", "nodeName") if not address[k]]:
                del address[unset]
            subset = subsets.setdefault(repr(ports), {"ports": ports})
            subset.setdefault("addresses" if is_serving(service, pod) else "notReadyAddresses", []).append(address)
        for subset in subsets.values():  # RepackSubsets: addresses by IP (compared as strings), then pod uid
            for field in ("addresses", "notReadyAddresses"):
                if field in subset:
                    subset[field].sort(key=lambda a: (a["ip"], a["targetRef"]["uid"]))
        body = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": name, "namespace": ns, "labels": dict(service["metadata"].get("labels") or {})},
                "subsets": [s for s in subsets.values() if s["ports"]]}
        await self.put("v1", "endpoints", ns, name, body, current)

    def register(self) -> None:
        super().register()
        self.informer("v1", "endpoints")
