"""Node registration: the kubelet announces its node to the API server.

Mirrors ``pkg/kubelet/kubelet_node_status.go`` (``registerWithAPIServer``, ``initialNode``): the
kubelet creates its Node with its own identity (``system:node:NAME``), the well-known labels, capacity,
allocatable, addresses, node info and conditions in one request (``initialNode`` fills in the status
before the create). If the Node already exists (a restarted kubelet) it is reused and its status posted.
Left out: the pod workers, heartbeats and status loop of a running kubelet.
"""

from __future__ import annotations

import platform

from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, Client, resource_path

KUBELET_VERSION = "v1.33.0"


def node_object(name: str, *, address: str, cpu: str = "2", memory: str = "4Gi", pods: int = 110,
                runtime: str = "labkit://sim", now: str) -> Obj:
    """The Node a kubelet registers (``initialNode`` plus the first status)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "20Gi"}
    conditions = [
        {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m, "lastHeartbeatTime": now,
         "lastTransitionTime": now}
        for t, r, m in (("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                        ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                        ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                       "lastTransitionTime": now})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "labels": {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                                "kubernetes.io/arch": arch, "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
        "status": {
            "capacity": resources, "allocatable": dict(resources), "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": platform.release(),
                         "osImage": "labkit", "containerRuntimeVersion": runtime, "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": arch},
        },
    }


async def register(client: Client, node: Obj) -> Obj:
    """Create the Node with its status (a Node may carry status on create), or take over the existing
    one and post the status to it."""
    name = node["metadata"]["name"]
    try:
        return await client.create(resource_path("v1", "nodes"), node)
    except APIStatusError as e:
        if e.reason != "AlreadyExists":
            raise
    existing = await client.get(resource_path("v1", "nodes", name=name))
    existing["status"] = node["status"]
    return await client.update(resource_path("v1", "nodes", name=name, subresource="status"), existing)
