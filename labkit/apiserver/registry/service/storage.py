"""The Service's REST storage (``pkg/registry/core/service/storage``): ClusterIP and NodePort allocation.

Mirrors ``storage.go`` and ``alloc.go`` with ``pkg/registry/core/service/ipallocator`` and
``portallocator``: a new Service gets the first free address of the service CIDR (kube-apiserver's
``--service-cluster-ip-range``) unless it asks for one, and each port of a NodePort or LoadBalancer
Service the first free node port; an address or port already taken is a 422. What the strategy
keeps on update (the allocated values) is in ``strategy.py``.

Left out: dual-stack, random allocation (labkit takes the first free value where kube picks one at
random), and allocation bitmaps persisted in the store (labkit rebuilds the allocation from the
existing Services). So two creates must not interleave: a lock of the cluster's serialises them
across its API servers in this process (the members of an HA control plane); API servers in two
processes over one etcd (``labkit join --control-plane``) could still hand out one address twice.
"""

from __future__ import annotations

import ipaddress
import threading

from labkit.apimachinery.meta import Obj
from labkit.apimachinery.validation import Cause
from labkit.apiserver import errors
from labkit.apiserver.authn import UserInfo
from labkit.apiserver.storage import Registry

#: kube-apiserver's default --service-cluster-ip-range
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
NODE_PORT_RANGE = range(30000, 32768)


class ServiceRegistry(Registry):
    """Allocates ``spec.clusterIP`` from :attr:`service_cidr` and node ports from :data:`NODE_PORT_RANGE`."""

    service_cidr = ipaddress.ip_network(DEFAULT_SERVICE_CIDR)
    #: held from reading what is allocated until the new Service is stored (the API server sets it)
    allocating = threading.Lock()

    def create(self, ns: str, obj: Obj, *, user: UserInfo | None = None, dry_run: bool = False) -> tuple[Obj, int]:
        with self.allocating:
            return self._allocate_and_create(ns, obj, user, dry_run)

    def _allocate_and_create(self, ns: str, obj: Obj, user: UserInfo | None, dry_run: bool) -> tuple[Obj, int]:
        spec = obj.setdefault("spec", {})
        used_ips, used_ports = self._allocated()
        name = obj.get("metadata", {}).get("name", "")
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            if ip in used_ips:
                raise self._invalid(name, [Cause("FieldValueInvalid",
                                                 f'Invalid value: "{ip}": provided IP is already allocated',
                                                 "spec.clusterIPs")])
        elif not ip and spec.get("type") != "ExternalName":
            ip = next((str(a) for a in self.service_cidr.hosts() if str(a) not in used_ips), None)
            if ip is None:
                raise errors.ApiError(500, "InternalError",
                                      "Internal error occurred: failed to allocate a serviceIP: range is full")
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
                        raise errors.ApiError(500, "InternalError",
                                              "Internal error occurred: failed to allocate a nodePort: range is full")
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
