"""``labkit init``: what ``kubeadm init --control-plane-endpoint`` does once the first control plane runs.

Mirrors the phases of ``cmd/kubeadm/app/cmd/init.go`` that follow the control plane's start:
``upload-config`` (:mod:`.uploadconfig`), ``upload-certs`` with ``--upload-certs`` (:mod:`.copycerts`),
``bootstrap-token`` (the RBAC of the kubelet's TLS bootstrap, :mod:`.tlsbootstrap`, and a 24 h token;
``cluster-info`` was published when the cluster started) and the
closing message with both join commands (``cmd/phases/init/...`` and ``util/join.go``). The cluster
itself is :class:`labkit.Cluster` with ``control_plane_endpoint``: one member, its etcd, and the load
balancer at the endpoint with a backend for each member to come. Left out: the kubeconfig files of
``/etc/kubernetes`` (one, ``--kubeconfig``, is written), the addon phases (labkit's DNS and proxy are
the cluster's), marking the node, and ``--skip-phases``.
"""

from __future__ import annotations

from labkit import bootstrap
from labkit.client import resource_path
from labkit.cluster import CONFIG_MAP, Cluster
from labkit.kubeadm import copycerts, tlsbootstrap
from labkit.kubeadm.uploadconfig import ClusterConfiguration, upload_config


def init_phases(cluster: Cluster, endpoint: str, *, upload_certs: bool) -> str:
    """Run the phases on a started cluster; returns kubeadm's closing message, the join commands in it."""
    admin = cluster.admin()
    saved = cluster.run(admin.get(resource_path("v1", "configmaps", namespace="kube-system", name=CONFIG_MAP)))
    assert cluster.etcd is not None
    cluster.run(upload_config(admin, ClusterConfiguration(
        control_plane_endpoint=endpoint, service_subnet=saved["data"]["serviceCIDR"],
        pod_subnet=saved["data"]["clusterCIDR"], etcd_endpoints=(cluster.etcd.client_url,))))
    lines = ['[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" '
             'Namespace']
    key = ""
    if upload_certs:
        key = copycerts.create_certificate_key()
        lines.append('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
        cluster.run(copycerts.upload_certs(admin, cluster.pki.directory, key))
        lines.append(f"[upload-certs] Using certificate key:\n{key}")
    lines += cluster.run(tlsbootstrap.allow_node_tls_bootstrap(admin))
    token = cluster.create_token()
    lines.append(f"[bootstrap-token] Using token: {token}")
    ca = cluster.pki.ca_cert_pem
    control_plane = bootstrap.join_command(endpoint, token, ca, control_plane=True, certificate_key=key or None)
    worker = bootstrap.join_command(endpoint, token, ca)
    lines += ["", "Your Kubernetes control-plane has initialized successfully!", "",
              "To start using your cluster, you need to run the following as a regular user:", "",
              f"  export KUBECONFIG={cluster.kubeconfig}", ""]
    if key:
        lines += ["You can now join any number of control-plane nodes running the following command on each:", "",
                  f"  {control_plane}", "",
                  "Please note that the certificate-key gives access to cluster sensitive data, keep it secret!",
                  "As a safeguard, uploaded-certs will be deleted in two hours.", ""]
    else:
        lines += ["To join control-plane nodes, run labkit init with --upload-certs: labkit has no "
                  "/etc/kubernetes/pki to copy the certificate authorities to.", ""]
    lines += ["Then you can join any number of worker nodes by running the following on each:", "", worker]
    return "\n".join(lines)
