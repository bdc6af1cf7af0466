"""Services on the wire: kube-proxy (userspace mode) and the cluster DNS.

Layout:

- ``proxier``: :class:`KubeProxy`, the component: informers on Services, EndpointSlices and Nodes,
  one :class:`~labkit.proxy.userspace.PortProxy` per service port.
- ``userspace``: a service port's listeners and the per-connection choice and byte copying.
- ``roundrobin``: the load balancer (round robin, ClientIP affinity until its timeout).
- ``endpoints``: service ports and their usable endpoints, read from the API objects.
- ``trace``: :class:`ConnectionTrace`, every connection decision for the widgets.
- ``loadgen``: a bounded load on a Service, each request with the pod that answered and its latency
  (``Cluster.generate_load``), or from a Pod (``load_pod``).
- ``dns``: :class:`ClusterDNS`, CoreDNS's part: Service names to ClusterIPs, and a tiny ``query``.

How a ClusterIP is made reachable per runtime is :mod:`labkit.network.hostnet`'s job.
"""

from labkit.proxy.dns import ClusterDNS, query
from labkit.proxy.endpoints import ServicePortName
from labkit.proxy.proxier import KubeProxy
from labkit.proxy.trace import ConnectionRecord, ConnectionTrace

__all__ = ["ClusterDNS", "ConnectionRecord", "ConnectionTrace", "KubeProxy", "ServicePortName", "query"]
