"""kube-proxy in its original userspace mode: a real listener per service port, round robin per connection.

Mirrors ``pkg/proxy/userspace/proxier.go`` (``Proxier.OnServiceUpdate`` / ``OnEndpointsUpdate``,
one ``ServiceInfo`` and proxy socket per ``ServicePortName``, ``openPortal`` / ``openNodePort``)
fed by informers on Services, EndpointSlices and Nodes, as ``cmd/kube-proxy`` is. Changes are
queued per Service and synced through a :class:`~labkit.workqueue.Gate`, so ``cluster.step()``
shows one Service at a time being programmed.

labkit runs one kube-proxy per host, not per node: every node of a labkit cluster shares this
machine's network, so one listener per ClusterIP serves them all. NodePorts listen on each address
:meth:`HostNetwork.node_port_addresses` gives (the nodes' ``127.0.1.x`` in the process runtime).
A frontend that cannot be opened (no root for a docker ClusterIP, a port below 1024 for a non-root
user) is logged and kept in :attr:`KubeProxy.problems` with the reason, never dropped silently.

**Which endpoint a connection gets.** labkit's proxy takes the endpoints in turn (round robin over
the sorted list, per connection: :mod:`labkit.proxy.roundrobin`), as the userspace mode did. The
modes kube-proxy has today choose otherwise: iptables (the default on Linux) jumps to each endpoint's
chain with a ``statistic --mode random`` probability (1/n, then 1/(n-1) of the rest ...), so the
choice is random and evens out only over many connections; nftables picks with ``numgen random``
likewise; IPVS hands connections to its scheduler, round robin (``rr``) unless
``--ipvs-scheduler`` says otherwise. With ``sessionAffinity: ClientIP`` every mode keeps a client
IP on one endpoint until it has been idle ``timeoutSeconds``: iptables with the ``recent`` module,
IPVS with a persistence timeout, labkit in the balancer's table. On the process runtime pods
connect from the host's ``127.0.0.1``, as the notebook does, so they all count as one client there.
Left out: iptables/ipvs/nftables modes, UDP, ``externalIPs``, LoadBalancer ingress IPs, health
check node ports, ``--nodeport-addresses`` filtering.
"""

from __future__ import annotations

import logging

from labkit.apimachinery.meta import Obj
from labkit.client import Client
from labkit.component import Component
from labkit.informer import Informer, key_of
from labkit.network.hostnet import HostNetwork, NetworkSetupError
from labkit.network.netns import USERNS_FIX
from labkit.proxy.endpoints import SERVICE_NAME_LABEL, ServicePortName, endpoints_for, service_ports, slices_of
from labkit.proxy.trace import ConnectionTrace
from labkit.proxy.userspace import PortProxy
from labkit.workqueue import WorkQueue

log = logging.getLogger(__name__)


class KubeProxy(Component):
    """Run with a client of identity ``system:kube-proxy`` (or ``system:node:NAME``)."""

    name = "kube-proxy"

    def __init__(self, client: Client, *, network: HostNetwork, trace: ConnectionTrace | None = None,
                 dial_timeout: float = 1.0) -> None:
        super().__init__(client)
        self.network = network
        self.trace = trace or ConnectionTrace()
        self.dial_timeout = dial_timeout
        self.services = Informer(client, "v1", "services")
        self.slices = Informer(client, "discovery.k8s.io/v1", "endpointslices")
        self.nodes = Informer(client, "v1", "nodes")
        self.queue: WorkQueue[str] = WorkQueue(self.name, gate=self.gate(self.name))
        self.proxies: dict[ServicePortName, PortProxy] = {}
        self.problems: dict[str, str] = {}  # "ns/name" -> why a frontend is not served
        self._service_ips: dict[str, str] = {}  # "ns/name" -> ClusterIP made local for it

    async def run(self) -> None:
        self.services.add_handlers(on_add=self._enqueue, on_update=lambda _, new: self._enqueue(new),
                                   on_delete=self._enqueue)
        self.slices.add_handlers(on_add=self._enqueue_slice, on_update=lambda _, new: self._enqueue_slice(new),
                                 on_delete=self._enqueue_slice)
        self.nodes.add_handlers(on_add=self._enqueue_all, on_update=lambda old, new: self._enqueue_all(new),
                                on_delete=self._enqueue_all)
        for informer in (self.services, self.slices, self.nodes):
            self.spawn(informer.run(), f"informer:{informer.plural}")
        for informer in (self.services, self.slices, self.nodes):
            await informer.synced.wait()
        self.spawn(self._worker(), "sync")

    def _enqueue(self, svc: Obj) -> None:
        self.queue.add(key_of(svc))

    def _enqueue_slice(self, eps: Obj) -> None:
        if service := eps["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL):
            self.queue.add(f"{eps['metadata']['namespace']}/{service}")

    def _enqueue_all(self, _node: Obj) -> None:
        for svc in self.services.list():
            self._enqueue(svc)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.sync_service(key)
                self.queue.forget(key)
            except Exception:  # retried with back-off, as a controller would
                log.exception("kube-proxy: syncing %s", key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def sync_service(self, key: str) -> None:
        """Make the listeners and endpoints of Service ``key`` match the caches."""
        namespace, name = key.split("/", 1)
        svc = self.services.get(key)
        ports = service_ports(svc) if svc else {}
        for gone in [p for p in self.proxies if (p.namespace, p.name) == (namespace, name) and p not in ports]:
            await self.proxies.pop(gone).close()
        problems: list[str] = []
        cluster_ip = await self._service_ip(key, next(iter(ports.values())).cluster_ip if ports else "", problems)
        slices = slices_of(self.slices.list(namespace), namespace, name)
        node_addresses = self.network.node_port_addresses(self.nodes.list())
        for port_name, info in ports.items():
            proxy = self.proxies.get(port_name)
            if proxy is None:
                proxy = self.proxies[port_name] = PortProxy(port_name, network=self.network, trace=self.trace,
                                                            dial_timeout=self.dial_timeout)
            proxy.balancer.update(endpoints_for(slices, port_name.port), client_ip_affinity=info.client_ip_affinity,
                                  timeout=info.affinity_timeout)
            node_ports = {(address, info.node_port) for address in node_addresses} if info.node_port else set()
            frontends = ({(cluster_ip, info.port)} if cluster_ip else set()) | node_ports
            for (host, port), error in (await proxy.listen(frontends, outside=node_ports)).items():
                hint = f" (ports below 1024 need root, or a network namespace of the cluster's own: {USERNS_FIX})" \
                    if port < 1024 and isinstance(error, PermissionError) else ""
                problems.append(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}")
        if problems:
            self.problems[key] = "; ".join(problems)
            log.warning("kube-proxy: Service %s: %s", key, self.problems[key])
        else:
            self.problems.pop(key, None)

    async def _service_ip(self, key: str, ip: str, problems: list[str]) -> str:
        """Make the Service's ClusterIP local (releasing an old one); "" if it cannot be."""
        old = self._service_ips.get(key)
        if old and old != ip:
            del self._service_ips[key]
            await self.network.remove_service_ip(old)
        if not ip:
            return ""
        try:
            await self.network.add_service_ip(ip)
        except NetworkSetupError as e:
            problems.append(str(e))
            return ""
        self._service_ips[key] = ip
        return ip

    def url(self, name: str, namespace: str = "default", *, port: int | str | None = None, scheme: str = "http") -> str:
        """``http://ClusterIP:port`` of a Service (its first port unless ``port`` names or numbers one)."""
        svc = self.services.get(f"{namespace}/{name}")
        if svc is None:
            raise KeyError(f'services "{name}" not found in namespace "{namespace}"')
        for p in svc["spec"].get("ports") or []:
            if port is None or port in (p.get("name"), p.get("port")):
                return f"{scheme}://{svc['spec']['clusterIP']}:{p['port']}"
        raise KeyError(f'service "{namespace}/{name}" has no port {port!r}')

    async def stop(self) -> None:
        self.queue.shut_down()
        await super().stop()
        for proxy in self.proxies.values():
            await proxy.close()
        self.proxies.clear()
        for ip in self._service_ips.values():
            await self.network.remove_service_ip(ip)
        self._service_ips.clear()
