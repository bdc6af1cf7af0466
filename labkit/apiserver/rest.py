"""Storage of the resources whose REST behaviour is more than their strategy.

Mirrors ``pkg/registry/core/pod/storage`` (graceful deletion: a pod on a node gets a grace period
its kubelet honours), ``pkg/registry/core/service/storage`` with ``ipallocator`` and
``portallocator`` (ClusterIP and NodePort allocation), and ``pkg/registry/core/namespace/storage``
(deleting a namespace makes it Terminating until its finalizers are done). Left out: dual-stack,
allocation bitmaps persisted in the store (labkit rebuilds the allocation from existing Services).
"""

from __future__ import annotations

import ipaddress

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.apimachinery.validation import Cause
from labkit.apiserver import errors
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.storage import Registry

#: kube-apiserver's default --service-cluster-ip-range
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = range(30000, 32768)


class PodRegistry(Registry):
    def grace_period(self, obj: Obj, options: Obj) -> int:
        """A pod never scheduled is deleted at once; otherwise the request's grace period or the
        pod's ``terminationGracePeriodSeconds`` (``pod.Strategy.CheckGracefulDelete``)."""
        spec = obj.get("spec", {})
        if not spec.get("nodeName") or obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(grace), 0)


class ServiceRegistry(Registry):
    """Allocates ``spec.clusterIP`` from :attr:`service_cidr` and node ports from :data:`NODE_PORT_RANGE`."""

    service_cidr = ipaddress.ip_network(DEFAULT_SERVICE_CIDR)

    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
        spec = obj.setdefault("spec", {})
        used_ips, used_ports = self._allocated()
        name = obj.get("metadata", {}).get("name", "")
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            if ip in used_ips:
                raise self._invalid(name, [Cause("FieldValueInvalid", f'Invalid value: "{ip}": provided IP is already allocated',
                                                 "spec.clusterIPs")])
        elif not ip and spec.get("type") != "ExternalName":
            ip = next((str(a) for a in self.service_cidr.hosts() if str(a) not in used_ips), None)
            if ip is None:
                raise errors.ApiError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full")
            spec["clusterIP"] = ip
        if ip:
            spec["clusterIPs"] = [ip]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for i, port in enumerate(spec.get("ports") or []):
                wanted = port.get("nodePort")
                if wanted:
                    if wanted in used_ports:
                        raise self._invalid(name, [Cause("FieldValueInvalid",
                                                         f"Invalid value: {wanted}: provided port is already allocated",
                                                         f"spec.ports[{i}].nodePort")])
                else:
                    wanted = next((p for p in NODE_PORT_RANGE if p not in used_ports), None)
                    if wanted is None:
                        raise errors.ApiError(500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full")
                    port["nodePort"] = wanted
                used_ports.add(wanted)
        return super().create(ns, obj, user=user, dry_run=dry_run)

    def _allocated(self) -> tuple[set[str], set[int]]:
        ips: set[str] = set()
        ports: set[int] = set()
        for svc in self.list("")["items"]:
            spec = svc.get("spec", {})
            ips.update(spec.get("clusterIPs") or [spec.get("clusterIP", "")])
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
        return ips, ports


class NamespaceRegistry(Registry):
    def _mark_for_deletion(self, obj: Obj, options: Obj) -> bool:
        """With ``spec.finalizers`` left, a namespace only turns Terminating; the namespace
        controller empties it and calls ``/finalize``."""
        if not obj.get("spec", {}).get("finalizers"):
            return super()._mark_for_deletion(obj, options)
        meta = obj["metadata"]
        meta.setdefault("deletionTimestamp", rfc3339(self.clock()))
        meta.setdefault("deletionGracePeriodSeconds", 0)
        obj.setdefault("status", {})["phase"] = "Terminating"
        return True

    def should_delete_during_update(self, obj: Obj) -> bool:
        """Only once ``/finalize`` has emptied ``spec.finalizers``."""
        return super().should_delete_during_update(obj) and not obj.get("spec", {}).get("finalizers")


REGISTRY_CLASSES: dict[str, type[Registry]] = {"pods": PodRegistry, "services": ServiceRegistry,
                                                "namespaces": NamespaceRegistry}
