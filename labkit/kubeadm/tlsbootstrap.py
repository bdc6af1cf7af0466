"""The RBAC of the kubelet's TLS bootstrap, as ``kubeadm init``'s ``bootstrap-token`` phase sets it up.

Mirrors ``cmd/kubeadm/app/phases/bootstraptoken/node/tlsbootstrap.go``: four grants, each printed
as kubeadm prints it, to the group of kubeadm's node tokens
(``system:bootstrappers:kubeadm:default-node-token``) and to ``system:nodes``:

- ``kubeadm:get-nodes`` (a ClusterRole of its own and its binding): a joining node may look up
  whether a Node of its name exists;
- ``kubeadm:kubelet-bootstrap`` -> ``system:node-bootstrapper``: post a CSR;
- ``kubeadm:node-autoapprove-bootstrap`` ->
  ``system:certificates.k8s.io:certificatesigningrequests:nodeclient``: the csrapproving controller
  approves that CSR;
- ``kubeadm:node-autoapprove-certificate-rotation`` -> ``...:selfnodeclient`` for ``system:nodes``: a
  node's renewal of its own certificate is approved too (labkit's kubelet does not rotate).

A plain :class:`labkit.Cluster` does not make them: its kubelets run in its process with
certificates it issues itself, and nothing joins it; ``labkit init`` (a cluster others join) does.
The ClusterRoles named are the API server's own (``labkit/apiserver/bootstrappolicy.py``).
"""

from __future__ import annotations

from labkit import bootstrap
from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.client import Client, resource_path

RBAC = "rbac.authorization.k8s.io/v1"
GET_NODES = "kubeadm:get-nodes"
#: binding -> (ClusterRole, the group it is granted to, what kubeadm prints)
BINDINGS: dict[str, tuple[str, str, str]] = {
    GET_NODES: (GET_NODES, bt.KUBEADM_NODE_GROUP, "allow Node Bootstrap tokens to get nodes"),
    "kubeadm:kubelet-bootstrap": ("system:node-bootstrapper", bt.KUBEADM_NODE_GROUP,
                                  "allow Node Bootstrap tokens to post CSRs in order for nodes to get long term "
                                  "certificate credentials"),
    "kubeadm:node-autoapprove-bootstrap": ("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                                           bt.KUBEADM_NODE_GROUP, "allow the csrapprover controller automatically "
                                                                  "approve CSRs from a Node Bootstrap Token"),
    "kubeadm:node-autoapprove-certificate-rotation": (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes",
        "allow certificate rotation for all node client certificates in the cluster"),
}


def _binding(name: str, role: str, group: str) -> Obj:
    return {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}


async def allow_node_tls_bootstrap(client: Client) -> list[str]:
    """Create (or update) the four grants; returns kubeadm's lines, one per grant."""
    await bootstrap.create_or_update(client, resource_path(RBAC, "clusterroles"), {
        "apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": GET_NODES},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]})
    lines = []
    for name, (role, group, what) in BINDINGS.items():
        await bootstrap.create_or_update(client, resource_path(RBAC, "clusterrolebindings"),
                                         _binding(name, role, group))
        lines.append(f"[bootstrap-token] Configured RBAC rules to {what}")
    return lines
