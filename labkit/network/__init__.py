"""labkit's pod network model: who gets which address, and how traffic finds its way.

In Kubernetes this is split between ``kube-controller-manager``'s node IPAM (a podCIDR per node),
the CNI plugin (a pod IP from its node's podCIDR, the routes between nodes) and kube-proxy (Service
virtual IPs). labkit keeps the bookkeeping here and the data path in :mod:`labkit.proxy`.

Layout:

- ``cidr``: the address plan per runtime (cluster and Service CIDRs, the DNS address) and the
  routes podCIDRs imply. Allocation lives with its owners: podCIDRs in the node IPAM controller,
  pod IPs in the kubelet's ``host-local`` IPAM.
- ``hostnet``: how a runtime's Service addresses become reachable on this machine (loopback for the
  process runtime, labkit's Docker bridge for the docker runtime) and which addresses labkit may
  send traffic to.
- ``cni``: the ``bridge`` CNI plugin's data path for the docker runtime: a veth pair from the
  cluster bridge into a pod's network namespace, ``eth0`` with the pod's IP.
- ``netns``: where the process runtime's sockets and pods live: this machine's loopback as root, a
  network namespace of the cluster's own (in an unprivileged user namespace) otherwise.
- ``agent``: for a docker-group account that is not root, the privileged container that does what
  needs CAP_NET_ADMIN (wiring, ClusterIPs on the bridge, ports below 1024), as kube-proxy's and the
  CNI plugin's privileges do on a node.
- ``slots``: which address ranges a running cluster holds, machine-wide.
- ``loadbalancer``: the control-plane endpoint of an HA cluster, haproxy as kubeadm's HA guide
  configures it or a built-in stand-in, in front of the API servers.
- ``graph``: a ``networkx`` graph of nodes, pods, IPs, Services and routes, read from the API.
"""

from labkit.network.cidr import AddressPlan, Route, address_plan, cluster_dns_ip, docker_subnet, route_for, routes
from labkit.network.graph import graph, snapshot
from labkit.network.hostnet import BridgeNetwork, HostNetwork, LoopbackNetwork, NetworkSetupError

__all__ = ["AddressPlan", "address_plan", "docker_subnet", "BridgeNetwork", "HostNetwork", "LoopbackNetwork",
           "NetworkSetupError", "Route", "cluster_dns_ip", "graph", "route_for", "routes", "snapshot"]
