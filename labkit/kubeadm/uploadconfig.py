"""``kube-system/kubeadm-config``: the cluster's configuration as ``kubeadm init`` records it for joining nodes.

Mirrors ``cmd/kubeadm/app/phases/uploadconfig``: the ConfigMap's ``ClusterConfiguration`` key holds the
YAML of ``kubeadm.k8s.io/v1beta4`` ``ClusterConfiguration`` (here ``controlPlaneEndpoint``, ``networking``
and the stacked ``etcd.local``), and the Role and RoleBinding ``kubeadm:nodes-kubeadm-config`` let the
bootstrap tokens' group and ``system:nodes`` get it. ``kubeadm join`` reads it first, and refuses a
control-plane join without a ``controlPlaneEndpoint`` (``phases/join/preflight.go``).

Where kubeadm finds the etcd members: since 1.22, in the annotation
``kubeadm.kubernetes.io/etcd.advertise-client-urls`` of each etcd static Pod. labkit runs no static
Pods, so ``labkit init`` puts that annotation (the first member's client URL) on this ConfigMap; a
joining node asks that member for the others (``member list``), as kubeadm's etcd client ``Sync`` does.
Left out: ``InitConfiguration``'s node registration, the kubelet's ConfigMap, and the fields of
``ClusterConfiguration`` labkit does not use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import yaml

from labkit import bootstrap
from labkit.apimachinery import bootstraptoken as bt
from labkit.client import APIStatusError, Client, resource_path

CONFIG_MAP = "kubeadm-config"  # constants.KubeadmConfigConfigMap
CLUSTER_CONFIGURATION = "ClusterConfiguration"  # constants.ClusterConfigurationConfigMapKey
ROLE = "kubeadm:nodes-kubeadm-config"  # constants.NodesKubeadmConfigClusterRoleName
ETCD_URLS = "kubeadm.kubernetes.io/etcd.advertise-client-urls"  # constants.EtcdAdvertiseClientUrlsAnnotationKey
NOT_HA = ("unable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint "
          "address")


class ConfigError(Exception):
    """The configuration could not be read; the message is kubeadm's."""


@dataclasses.dataclass(frozen=True)
class ClusterConfiguration:
    """What a joining control-plane node needs of the cluster's configuration."""

    control_plane_endpoint: str
    service_subnet: str
    pod_subnet: str
    etcd_endpoints: tuple[str, ...]


async def upload_config(client: Client, config: ClusterConfiguration) -> None:
    """``UploadConfiguration``: the ConfigMap, and the RBAC that lets joining nodes read it."""
    document = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration", "clusterName": "kubernetes",
                "controlPlaneEndpoint": config.control_plane_endpoint,
                "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
                "networking": {"dnsDomain": "cluster.local", "podSubnet": config.pod_subnet,
                               "serviceSubnet": config.service_subnet}}
    await bootstrap.create_or_update(client, resource_path("v1", "configmaps", namespace="kube-system"), {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": "kube-system",
                     "annotations": {ETCD_URLS: ",".join(config.etcd_endpoints)}},
        "data": {CLUSTER_CONFIGURATION: yaml.safe_dump(document, sort_keys=False)}})
    await bootstrap.grant_get(client, "kube-system", ROLE, "configmaps", CONFIG_MAP,
                              {"kind": "Group", "name": bt.KUBEADM_NODE_GROUP},
                              {"kind": "Group", "name": "system:nodes"})


async def fetch_config(client: Client) -> ClusterConfiguration:
    """``FetchInitConfigurationFromCluster``, for what :class:`ClusterConfiguration` holds."""
    try:
        cm = await client.get(resource_path("v1", "configmaps", namespace="kube-system", name=CONFIG_MAP))
        document = yaml.safe_load((cm.get("data") or {})[CLUSTER_CONFIGURATION])
        networking = document.get("networking") or {}
    except APIStatusError as e:
        raise ConfigError(f"unable to fetch the kubeadm-config ConfigMap: {e.status.get('message', e)}") from None
    except (KeyError, AttributeError, yaml.YAMLError) as e:
        raise ConfigError(f"unable to fetch the kubeadm-config ConfigMap: unexpected error when reading "
                          f"kubeadm-config ConfigMap: {e}") from None
    urls: Sequence[str] = ((cm["metadata"].get("annotations") or {}).get(ETCD_URLS) or "").split(",")
    return ClusterConfiguration(control_plane_endpoint=document.get("controlPlaneEndpoint") or "",
                                service_subnet=networking.get("serviceSubnet", ""),
                                pod_subnet=networking.get("podSubnet", ""), etcd_endpoints=tuple(u for u in urls if u))
